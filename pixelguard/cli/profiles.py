"""``pixelguard profiles``: list, show and validate de-identification profiles."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixelguard.core import profile as profiles


def register(sub: argparse._SubParsersAction) -> None:
    prof = sub.add_parser("profiles", help="de-identification profiles").add_subparsers()
    prof.add_parser("list", help="stored profiles").set_defaults(handler=list_profiles)
    show = prof.add_parser("show", help="a stored profile (or a profile file) as resolved")
    show.add_argument("name")
    show.add_argument("--fields", action="store_true",
                      help="add the resolved field table: each attribute, its action and why")
    show.set_defaults(handler=show_profile)
    validate = prof.add_parser("validate", help="check a profile file; exit 0 if valid, 2 with the reason if not")
    validate.add_argument("file", type=Path)
    validate.set_defaults(handler=validate_profile)


def list_profiles(args: argparse.Namespace) -> int:
    for name in profiles.available():
        print(f"{name}\t{profiles.load(name).description}")
    return 0


def show_profile(args: argparse.Namespace) -> int:
    profile = profiles.load(args.name)
    doc = profiles.describe(profile)
    if args.fields:
        doc["fields"] = profiles.field_table(profile)
    print(json.dumps(doc, indent=2))
    return 0


def validate_profile(args: argparse.Namespace) -> int:
    # ProfileError propagates to the CLI's handler, which prints it and exits 2 (a usage error).
    p = profiles.load_file(args.file)
    print(f"ok: {args.file.name}: profile {p.name!r} ({' <- '.join(p.lineage)}), "
          f"{len(p.options)} option(s), {len(p.overrides)} override(s)")
    return 0
