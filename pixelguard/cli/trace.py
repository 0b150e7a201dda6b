"""``pixelguard trace OUTPUT_ID``: the trace id an SRE searches for in the tracing backend."""
from __future__ import annotations

import argparse
import sys

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("trace", help="print the trace id of an output (or input) id")
    parser.add_argument("ident", metavar="OUTPUT_ID")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from streams.status import find, trace_id

    cfg = from_args(args)
    read = find(cfg.bootstrap, cfg.prefix, args.ident)
    if read is None or not trace_id(read):
        print(f"pixelguard: no event names {args.ident}", file=sys.stderr)
        return 1
    print(trace_id(read))
    event = read.event
    if event is None:  # a message that is not an event of ours, carrying a trace header
        print(f"topic={read.topic} (not a PixelGuard event)", file=sys.stderr)
        return 0
    print(f"topic={read.topic} input_id={event.input_id} job_id={event.job_id} status={event.status or '-'}",
          file=sys.stderr)
    return 0
