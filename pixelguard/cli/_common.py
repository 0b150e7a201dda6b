"""Options shared by several command groups."""
from __future__ import annotations

import argparse
from pathlib import Path

from pixelguard.settings import Settings


def key_file(args: argparse.Namespace) -> Path:
    return (args.key_file or Settings.from_env().key_file).expanduser()
