"""``pixelguard`` command line. Exit codes: 0 all clean, 1 any review or error, 2 usage errors."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from .core import profile as profiles
from .keyservice.local import KeyFileError, default_key_file

SERVICES = ("kafka", "openbao", "triton")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except (profiles.ProfileError, KeyFileError, ValueError) as exc:
        print(f"pixelguard: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelguard", description="De-identify medical images.")
    sub = parser.add_subparsers()

    deid = sub.add_parser("deid", help="de-identify files and folders in-process (no servers)")
    deid.add_argument("inputs", nargs="+", metavar="INPUT")
    deid.add_argument("--out", required=True, type=Path, metavar="DIR")
    deid.add_argument("--profile", default="basic", metavar="NAME")
    deid.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N")
    deid.add_argument("--key-file", type=Path, default=None, help="local key file (default: %(default)s)")
    deid.add_argument("--job", default=None, metavar="ID", help="job id recorded in the manifest")
    deid.set_defaults(handler=_deid)

    crosswalk = sub.add_parser("crosswalk", help="the encrypted crosswalk (embedded mode)").add_subparsers()
    export = crosswalk.add_parser("export", help="decrypt the crosswalk to FILE (created 0600)")
    export.add_argument("--out", required=True, type=Path, metavar="FILE")
    export.add_argument("--key-file", type=Path, default=None)
    export.add_argument("--job", default=None, metavar="ID")
    export.set_defaults(handler=_crosswalk_export)

    prof = sub.add_parser("profiles", help="de-identification profiles").add_subparsers()
    prof.add_parser("list").set_defaults(handler=_profiles_list)
    show = prof.add_parser("show")
    show.add_argument("name")
    show.set_defaults(handler=_profiles_show)

    services = sub.add_parser("services", help="local Kafka, OpenBao and Triton servers (127.0.0.1)")
    services.add_argument("action", choices=("install", "start", "stop", "status"))
    services.add_argument("names", nargs="*", metavar="NAME",
                          help=f"any of {', '.join(SERVICES)} (default: all)")
    services.set_defaults(handler=_services)
    return parser


def _key_file(args: argparse.Namespace) -> Path:
    return (args.key_file or default_key_file()).expanduser()


def _deid(args: argparse.Namespace) -> int:
    from .embedded import EmbeddedRunner

    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    runner = EmbeddedRunner(args.out, _key_file(args), args.profile, args.jobs, args.job)
    summary = runner.run(args.inputs)
    counts = summary.counts
    rate = summary.total / summary.seconds if summary.seconds else 0.0
    print(f"job {runner.job_id}: {summary.total} inputs: clean={counts['clean']} review={counts['review']} "
          f"error={counts['error']} in {summary.seconds:.1f}s ({rate:.1f} files/s); "
          f"manifest: {runner.out_dir / 'manifest.jsonl'}", file=sys.stderr)
    return summary.exit_code


def _crosswalk_export(args: argparse.Namespace) -> int:
    from .crosswalk.local import LocalCrosswalk, crosswalk_path
    from .keyservice.local import LocalKeyService

    keys = LocalKeyService.open(_key_file(args), create=False)
    store = LocalCrosswalk(crosswalk_path(keys.path), keys)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open: force it
    count = 0
    with os.fdopen(fd, "w") as handle:
        for entry in store.entries(args.job):
            handle.write(json.dumps(asdict(entry), sort_keys=True) + "\n")
            count += 1
    print(f"exported {count} crosswalk entries to {out}", file=sys.stderr)
    return 0


def _profiles_list(args: argparse.Namespace) -> int:
    for name in profiles.available():
        print(f"{name}\t{profiles.load(name).description}")
    return 0


def _profiles_show(args: argparse.Namespace) -> int:
    p = profiles.load(args.name)
    print(json.dumps({"name": p.name, "description": p.description, "options": list(p.options),
                      "table_rows": p.table_rows, "redaction": p.redaction,
                      "review_threshold": p.review_threshold, "public_not_in_table": p.public_not_in_table},
                     indent=2))
    return 0


def _services(args: argparse.Namespace) -> int:
    from .services.registry import get

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


if __name__ == "__main__":
    raise SystemExit(main())
