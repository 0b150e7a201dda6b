"""``pixelguard crosswalk``: the encrypted crosswalk (embedded mode: the local key file)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from ._common import key_file


def register(sub: argparse._SubParsersAction) -> None:
    crosswalk = sub.add_parser("crosswalk", help="the encrypted crosswalk").add_subparsers()
    export = crosswalk.add_parser("export", help="decrypt the crosswalk to FILE (created 0600)")
    export.add_argument("--out", required=True, type=Path, metavar="FILE")
    export.add_argument("--key-file", type=Path, default=None)
    export.add_argument("--job", default=None, metavar="ID")
    export.set_defaults(handler=export_local)


def export_local(args: argparse.Namespace) -> int:
    from pixelguard.crosswalk.local import LocalCrosswalk, crosswalk_path
    from pixelguard.keyservice.local import LocalKeyService

    keys = LocalKeyService.open(key_file(args), create=False)
    store = LocalCrosswalk(crosswalk_path(keys.path), keys)
    count = write_private_jsonl(args.out, (asdict(entry) for entry in store.entries(args.job)))
    print(f"exported {count} crosswalk entries to {args.out}", file=sys.stderr)
    return 0


def write_private_jsonl(out: Path, rows) -> int:  # noqa: ANN001 - any iterable of JSON-able dicts
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open: force it
    count = 0
    with os.fdopen(fd, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            count += 1
    return count
