"""``pixelguard job status ID``: counts per final status.

Jobs the job store knows (``deid``, the API on either runner) are read from it; any other id from the topics
(read_committed). A Kafka-runner job the store still shows in flight is also read from the topics, which are
the record of truth: the route hop writes the store after its transaction, and a write lost to a store outage
(a worker stopped while the store was down) must not leave the job looking unfinished.
"""
from __future__ import annotations

import argparse
import json

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("job", help="job status (job store, else the topics)")
    inner = parser.add_subparsers()
    status = inner.add_parser("status", help="counts per status of one job")
    status.add_argument("job_id", metavar="ID")
    status.add_argument("--json", action="store_true")
    add_arguments(status)
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    from streams.status import job_status

    cfg = from_args(args)
    doc = _from_store(cfg.store_url, args.job_id)
    if doc is not None and doc.pop("runner") == "kafka" and doc["in_flight"]:
        topics = job_status(cfg.bootstrap, cfg.prefix, args.job_id)
        if topics.submitted >= int(str(doc["submitted"])) and topics.in_flight == 0:
            doc.update(clean=topics.counts["clean"], review=topics.counts["review"], error=topics.counts["error"],
                       in_flight=0)
    if doc is None:
        st = job_status(cfg.bootstrap, cfg.prefix, args.job_id)
        doc = {"job_id": st.job_id, "submitted": st.submitted, "clean": st.counts["clean"],
               "review": st.counts["review"], "error": st.counts["error"], "in_flight": st.in_flight}
    if args.json:
        print(json.dumps(doc))
    else:
        print("  ".join(f"{k}={v}" for k, v in doc.items()))
    return 0 if doc["in_flight"] == 0 and doc["clean"] == doc["submitted"] else 1


def _from_store(url: str, job_id: str) -> dict[str, object] | None:
    """The job as the store has it, or None when the store does not know it (a streaming job)."""
    from pixelguard.jobstore import JobNotFound, JobStore
    from pixelguard.jobstore.store import sqlite_file

    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None  # no embedded job ever ran here: do not create a store just to look
    store = JobStore.open(url)
    try:
        view = store.job(job_id)
    except JobNotFound:
        return None
    finally:
        store.close()
    return {"runner": view.runner, "job_id": view.job_id, "state": view.state, "profile": view.profile_name,
            "submitted": view.total,
            "clean": view.counts["clean"], "review": view.counts["review"], "error": view.counts["error"],
            "in_flight": view.counts["pending"]}
