"""``pixelguard review list|show|approve|reject`` over the review topic.

approve publishes the object to clean (its output moves to ``clean/``), reject publishes to errors with the
reviewer's reason; both are audited first, and go to the partition the review event is on, so the route
hop's dedupe sees the decision too.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("review", help="objects waiting for a reviewer")
    inner = parser.add_subparsers()
    listing = inner.add_parser("list", help="pending reviews")
    listing.add_argument("--job", default=None)
    add_arguments(listing)
    listing.set_defaults(handler=run_list)
    for name, helptext in (("show", "one pending review"), ("approve", "publish to clean"),
                           ("reject", "publish to errors with a reason")):
        cmd = inner.add_parser(name, help=helptext)
        cmd.add_argument("ident", metavar="OUTPUT_ID")
        if name == "reject":
            cmd.add_argument("--reason", required=True)
        if name == "show":
            cmd.add_argument("--save", type=Path, default=None, metavar="FILE",
                             help="copy the object under review to FILE (0600) to look at it; audited")
        cmd.add_argument("--reviewer", default=None)
        add_arguments(cmd)
        cmd.set_defaults(handler=run_decision if name != "show" else run_show, approve=name == "approve")


def _pending(cfg, ident: str):
    from streams.status import pending_reviews

    for read in pending_reviews(cfg.bootstrap, cfg.prefix):
        if read.event is not None and ident in (read.event.output_id, read.event.input_id):
            return read
    return None


def run_list(args: argparse.Namespace) -> int:
    from streams.status import pending_reviews

    cfg = from_args(args)
    for read in pending_reviews(cfg.bootstrap, cfg.prefix, args.job):
        e = read.event
        if e is None:
            continue  # not an event of ours: nothing to review
        print(f"{e.output_id}\t{e.input_id}\t{e.job_id}\t{e.format}\t{e.confidence}\t{e.reason}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from agents import wiring

    cfg = from_args(args)
    read = _pending(cfg, args.ident)
    if read is None:
        print(f"pixelguard: no pending review for {args.ident}", file=sys.stderr)
        return 1
    print(json.dumps(json.loads(read.event.to_bytes()), indent=2))
    if args.save:
        from pixelguard.audit import AuditLog, JsonlAuditSink, KafkaAuditSink, default_audit_file, record_audit
        from streams.topics import topic_name

        event = read.event
        audit = AuditLog([JsonlAuditSink(default_audit_file()),
                          KafkaAuditSink(cfg.bootstrap, topic_name("audit", cfg.prefix))])
        # Recorded before the bytes are handed over: a read that cannot be audited does not happen.
        record_audit("output.read", "ok", actor=args.reviewer, job_id=event.job_id, log=audit,
                     targets={"input_id": event.input_id, "output_id": event.output_id})
        data = wiring.output_store(cfg).get(event.object_uri)
        fd = os.open(args.save, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        print(f"saved {len(data)} bytes to {args.save}", file=sys.stderr)
    return 0


def run_decision(args: argparse.Namespace) -> int:
    from agents import wiring
    from pixelguard.audit import AuditLog, JsonlAuditSink, KafkaAuditSink, default_audit_file, local_actor, record_audit
    from streams.status import check_reason, decision_event
    from streams.submit import idempotent_producer
    from streams.topics import topic_name

    cfg = from_args(args)
    reason = check_reason(args.reason) if not args.approve else ""
    read = _pending(cfg, args.ident)
    if read is None:
        print(f"pixelguard: no pending review for {args.ident}", file=sys.stderr)
        return 1
    actor = args.reviewer or local_actor()
    event = read.event
    if args.approve and "conflict:" in event.reason:
        # Publishing it would replace the clean object another input already owns under these identifiers.
        print(f"pixelguard: {event.output_id} conflicts with a published output of the same identifiers; "
              "it cannot be approved: reject it, and resubmit the right input if the published one is wrong",
              file=sys.stderr)
        return 2
    audit = AuditLog(
        [JsonlAuditSink(default_audit_file()), KafkaAuditSink(cfg.bootstrap, topic_name("audit", cfg.prefix))]
    )
    record_audit("review.decision", "ok", actor=actor, job_id=event.job_id, log=audit,
                 targets={"input_id": event.input_id, "output_id": event.output_id},
                 detail={"decision": "approve" if args.approve else "reject"})
    uri = ""
    if args.approve:
        uri = wiring.output_store(cfg).copy(event.object_uri, f"clean/{event.output_id}{event.extension}")
    decided = decision_event(event, args.approve, actor.replace(" ", "_"), reason, uri)
    producer = idempotent_producer(cfg.bootstrap)
    producer.produce(topic_name(decided.stage, cfg.prefix), key=(decided.key or decided.input_id).encode(),
                     value=decided.to_bytes(), partition=read.partition,
                     headers=[(k, v.encode()) for k, v in event.trace.items()])
    if producer.flush(30):
        print("pixelguard: the decision was not acknowledged by Kafka; run it again", file=sys.stderr)
        return 1
    print(f"{event.output_id}: {'approved -> clean' if args.approve else 'rejected -> errors'}")
    return 0
