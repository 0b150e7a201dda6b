"""``pixelguard profiles``: list and show de-identification profiles."""
from __future__ import annotations

import argparse
import json

from pixelguard.core import profile as profiles


def register(sub: argparse._SubParsersAction) -> None:
    prof = sub.add_parser("profiles", help="de-identification profiles").add_subparsers()
    prof.add_parser("list").set_defaults(handler=list_profiles)
    show = prof.add_parser("show")
    show.add_argument("name")
    show.set_defaults(handler=show_profile)


def list_profiles(args: argparse.Namespace) -> int:
    for name in profiles.available():
        print(f"{name}\t{profiles.load(name).description}")
    return 0


def show_profile(args: argparse.Namespace) -> int:
    p = profiles.load(args.name)
    print(json.dumps({"name": p.name, "description": p.description, "options": list(p.options),
                      "table_rows": p.table_rows, "redaction": p.redaction,
                      "review_threshold": p.review_threshold, "public_not_in_table": p.public_not_in_table},
                     indent=2))
    return 0
