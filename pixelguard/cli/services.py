"""``pixelguard services``: the real local servers (Kafka, OpenBao, Triton, Prometheus) on 127.0.0.1."""
from __future__ import annotations

import argparse

SERVICES = ("kafka", "openbao", "triton", "prometheus")


def register(sub: argparse._SubParsersAction) -> None:
    services = sub.add_parser("services", help="local Kafka, OpenBao, Triton and Prometheus servers (127.0.0.1)")
    services.add_argument("action", choices=("install", "start", "stop", "status"))
    services.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(SERVICES)} (default: all)")
    services.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.services.registry import get

    names = args.names or list(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(SERVICES)}")
    failed = 0
    for name in names:
        service = get(name)
        if args.action == "install":
            service.install()
            print(f"{name}: installed")
        elif args.action == "start":
            service.install()
            service.start()
            print(service.status())
        elif args.action == "stop":
            service.stop()
            print(f"{name}: stopped")
        else:
            line = service.status()
            print(line)
            failed += "NOT healthy" in line
    return 1 if failed else 0
