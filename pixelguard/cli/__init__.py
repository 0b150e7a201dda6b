"""``pixelguard`` command line. Exit codes: 0 all clean, 1 any review or error, 2 usage errors.

Each command group lives in its own module with a ``register(subparsers)`` function; adding a group is
adding a module to ``COMMAND_MODULES``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from pixelguard.core.profile import ProfileError
from pixelguard.keyservice.local import KeyFileError
from streams.objectstore.base import StorageUnavailable

COMMAND_MODULES = [
    "pixelguard.cli.deid",
    "pixelguard.cli.crosswalk",
    "pixelguard.cli.profiles",
    "pixelguard.cli.services",
    "pixelguard.cli.submit",
    "pixelguard.cli.worker",
    "pixelguard.cli.review",
    "pixelguard.cli.job",
    "pixelguard.cli.trace",
    "pixelguard.cli.api",
    "pixelguard.cli.feed",
    "pixelguard.cli.deliver",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelguard", description="De-identify medical images.")
    sub = parser.add_subparsers()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except (ProfileError, KeyFileError, ValueError) as exc:
        print(f"pixelguard: {exc}", file=sys.stderr)
        return 2
    except StorageUnavailable as exc:  # our message: the operation and what to fix, never a key or credential
        print(f"pixelguard: {exc}", file=sys.stderr)
        return 1
