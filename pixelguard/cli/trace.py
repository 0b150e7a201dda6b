"""``pixelguard trace OUTPUT_ID``: the object's trace id (from its events in Kafka), then its waterfall from Jaeger.

The trace id is printed first, on its own line (what an SRE pastes into another tracing backend); then the
spans Jaeger holds for it, as an indented tree with start offset, duration and a bar. ``--id-only`` stops
after the id (no Jaeger needed).
"""
from __future__ import annotations

import argparse
import os
import sys

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    from pixelguard.services.jaeger import DEFAULT_QUERY_URL
    from pixelguard.telemetry.jaeger_query import URL_ENV

    parser = sub.add_parser("trace", help="print an output's (or input's) trace id and its waterfall from Jaeger")
    parser.add_argument("ident", metavar="OUTPUT_ID")
    parser.add_argument("--jaeger-url", default=None,
                        help=f"Jaeger's query API ({URL_ENV}; default {DEFAULT_QUERY_URL}, "
                             "`pixelguard services start jaeger`)")
    parser.add_argument("--id-only", action="store_true", help="print the trace id only; do not ask Jaeger")
    parser.add_argument("--width", type=int, default=40, help="width of the waterfall's bars (40)")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.services.jaeger import DEFAULT_QUERY_URL
    from pixelguard.telemetry.jaeger_query import URL_ENV, JaegerError, fetch_trace
    from pixelguard.telemetry.traceview import waterfall
    from streams.status import find, trace_id

    cfg = from_args(args)
    read = find(cfg.bootstrap, cfg.prefix, args.ident)
    if read is None or not trace_id(read):
        print(f"pixelguard: no event names {args.ident}", file=sys.stderr)
        return 1
    ident = trace_id(read)
    print(ident)
    event = read.event
    if event is None:  # a message that is not an event of ours, carrying a trace header
        print(f"topic={read.topic} (not a PixelGuard event)", file=sys.stderr)
    else:
        print(f"topic={read.topic} input_id={event.input_id} job_id={event.job_id} status={event.status or '-'}",
              file=sys.stderr)
    if args.id_only:
        return 0
    url = args.jaeger_url or os.environ.get(URL_ENV) or DEFAULT_QUERY_URL
    try:
        spans = fetch_trace(url, ident)
    except JaegerError as exc:
        print(f"pixelguard: {exc}", file=sys.stderr)
        return 3
    print("\n".join(waterfall(spans, width=max(10, args.width))))
    return 0
