"""``python -m streams.schemas [--write]``: check (default) or rewrite the generated schemas and docs tables."""
from __future__ import annotations

import argparse
import sys

from .generate import stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.schemas", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite what differs from the event classes")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            print(f"wrote {path}")
        return 0
    behind = stale()
    for path in behind:
        print(f"out of date: {path} (run python -m streams.schemas --write)", file=sys.stderr)
    return 1 if behind else 0


if __name__ == "__main__":
    sys.exit(main())
