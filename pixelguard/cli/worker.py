"""``pixelguard worker``: a Faust worker running the parse, scrub and redact agents and the route hop."""
from __future__ import annotations

import argparse
from pathlib import Path

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("worker", help="run a streaming worker (Faust; health port on 127.0.0.1 unless --web-host)")
    add_arguments(parser)
    parser.add_argument("--name", dest="worker_name", default=None,
                        help="stable worker name (its route transactions are fenced by it on restart)")
    parser.add_argument("--triton-url", default=None, help="Triton gRPC host:port (else the in-process engine)")
    parser.add_argument("--vault-addr", default=None, help="Vault/OpenBao address (else the local key file)")
    parser.add_argument("--concurrency", type=int, default=None, help="concurrent events per agent")
    parser.add_argument("--threads", type=int, default=None, help="threads running stage code")
    parser.add_argument("--web-port", type=int, default=None, help="health port: /live, /ready (PIXELGUARD_WEB_PORT)")
    parser.add_argument("--web-host", default=None,
                        help="address the health port binds to (PIXELGUARD_WEB_HOST, 127.0.0.1; a pod: 0.0.0.0)")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus /metrics on this port (PIXELGUARD_METRICS_PORT; 0: none)")
    parser.add_argument("--metrics-host", default=None,
                        help="address /metrics binds to (PIXELGUARD_METRICS_HOST, 127.0.0.1)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--crosswalk", choices=("kafka", "none"), default=None)
    parser.add_argument("--loglevel", default="warning")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents.app import run_worker

    run_worker(from_args(args), loglevel=args.loglevel)
    return 0
