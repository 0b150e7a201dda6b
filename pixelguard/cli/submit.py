"""``pixelguard submit``: publish objects to the ingest topic (idempotent producer) for the workers."""
from __future__ import annotations

import argparse
import sys

from pixelguard.cli._common import add_output_format
from pixelguard.core.vocabulary import RedactionMode
from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("submit", help="submit files, folders, s3:// prefixes and dicomweb:// studies "
                                           "to the streaming workers (Kafka)")
    parser.add_argument("inputs", nargs="+", metavar="PATH",
                        help="a file, a folder, s3://BUCKET/PREFIX (every object under it), or "
                        "dicomweb://HOST:PORT/ROOT/studies/UID[/series/UID[/instances/UID]] (each instance, WADO-RS)")
    parser.add_argument("--job", default=None, metavar="ID")
    parser.add_argument("--profile", default="basic", metavar="NAME")
    parser.add_argument("--redaction", type=RedactionMode, choices=list(RedactionMode), default=None)
    add_output_format(parser)
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import wiring
    from pixelguard import telemetry
    from pixelguard.audit import (
        AuditLog,
        JsonlAuditSink,
        KafkaAuditSink,
        default_audit_file,
        record_audit,
        record_profile_use,
    )
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from streams.submit import submit
    from streams.topics import ensure_topics, topic_name

    cfg = from_args(args)
    profile = profiles.load(args.profile)  # fail early on an unknown profile
    telemetry.setup("pixelguard-submit")
    ensure_topics(cfg.bootstrap, cfg.prefix, cfg.partitions)
    keys = wiring.key_service(cfg)
    options = {"redaction": args.redaction} if args.redaction else {}
    job = args.job
    audit = AuditLog(
        [JsonlAuditSink(default_audit_file()), KafkaAuditSink(cfg.bootstrap, topic_name("audit", cfg.prefix))]
    )
    record_profile_use(profile, audit)  # a feed choosing an edited profile leaves a trace before anything runs
    result = submit(args.inputs, bootstrap=cfg.bootstrap, prefix=cfg.prefix, store=wiring.object_store(cfg),
                    derive=Derivations(keys.hmac), profile=args.profile, job_id=job, options=options,
                    output_format=args.output_format.value,
                    store_options=wiring.store_options(cfg), max_object_bytes=cfg.limits.max_object_bytes)
    record_audit("submit", "ok" if not result.failed else "error", job_id=result.job_id, log=audit,
                 detail={"objects": result.submitted, "flagged": result.flagged, "failed": result.failed})
    telemetry.shutdown()
    print(f"job {result.job_id}: submitted {result.submitted} objects ({result.flagged} flagged at submit, "
          f"{result.failed} not acknowledged)", file=sys.stderr)
    print(result.job_id)
    return 1 if result.failed else 0
