"""``pixelguard job status ID``: counts per final status, read from the topics (read_committed)."""
from __future__ import annotations

import argparse
import json

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("job", help="streaming job status")
    inner = parser.add_subparsers()
    status = inner.add_parser("status", help="counts per status of one job")
    status.add_argument("job_id", metavar="ID")
    status.add_argument("--json", action="store_true")
    add_arguments(status)
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    from streams.status import job_status

    cfg = from_args(args)
    st = job_status(cfg.bootstrap, cfg.prefix, args.job_id)
    doc = {"job_id": st.job_id, "submitted": st.submitted, "clean": st.counts["clean"],
           "review": st.counts["review"], "error": st.counts["error"], "in_flight": st.in_flight}
    if args.json:
        print(json.dumps(doc))
    else:
        print("  ".join(f"{k}={v}" for k, v in doc.items()))
    return 0 if st.in_flight == 0 and st.counts["clean"] == st.submitted else 1
