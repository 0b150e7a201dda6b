"""``pixelguard services``: the real local servers (``SERVICES``), each on 127.0.0.1.

``install`` with several names installs them at once (each is network- or pip-bound on a fresh machine); the
two that run Maven (Kafka, s3proxy) take turns on its shared local repository (``paths.MAVEN_LOCK``).
"""
from __future__ import annotations

import argparse

SERVICES = ("kafka", "openbao", "triton", "prometheus", "s3proxy", "jaeger", "orthanc", "keycloak", "postgres")


def register(sub: argparse._SubParsersAction) -> None:
    services = sub.add_parser("services",
                              help="the local servers on 127.0.0.1: " + ", ".join(SERVICES))
    services.add_argument("action", choices=("install", "start", "stop", "status"))
    services.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(SERVICES)} (default: all)")
    services.add_argument("--skip", action="append", default=[], metavar="NAME",
                          help="leave this one out (repeatable); the test command builds Jaeger beside the suite")
    services.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.services.jaeger import JaegerService
    from pixelguard.services.registry import get
    from pixelguard.services.s3proxy import S3ProxyService

    unknown = set(args.names) | set(args.skip)
    unknown -= set(SERVICES)
    names = [name for name in (args.names or SERVICES) if name not in args.skip]
    if unknown:
        raise ValueError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(SERVICES)}")
    if args.action == "install":
        return install_all(names)
    failed = 0
    for name in names:
        service = get(name)
        if args.action == "start":
            service.install()
            service.start()
            print(service.status())
            if isinstance(service, JaegerService):
                print(f"jaeger: query API {service.query_url}; send spans with "
                      + " ".join(f"{k}={v}" for k, v in service.otel_env().items()))
            if isinstance(service, S3ProxyService):
                env = service.write_env_file()
                print(f"s3proxy: clients take its endpoint and key pair from the AWS variables in {env} "
                      f"(set -a; . {env}; set +a)")
        elif args.action == "stop":
            service.stop()
            print(f"{name}: stopped")
        else:
            line = service.status()
            print(line)
            failed += "NOT healthy" in line
    return 1 if failed else 0


def install_all(names: list[str]) -> int:
    """Install every named server at once; report each, fail if any failed (after all have finished)."""
    from concurrent.futures import ThreadPoolExecutor

    from pixelguard.services.registry import get

    def one(name: str) -> str:
        get(name).install()
        return f"{name}: installed"

    failed = 0
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {name: pool.submit(one, name) for name in names}
        for name, future in futures.items():
            try:
                print(future.result())
            except Exception as exc:  # noqa: BLE001 - every server is reported, then the command fails
                print(f"{name}: install failed: {exc}")
                failed += 1
    return 1 if failed else 0
