"""Options shared by several command groups."""
from __future__ import annotations

import argparse
from pathlib import Path

from pixelguard.keyservice.local import default_key_file


def key_file(args: argparse.Namespace) -> Path:
    return (args.key_file or default_key_file()).expanduser()
