"""Where local installs and server state live.

The cache folder is ``$PIXELGUARD_CACHE`` or ``<repo>/.cache`` (ignored by git), so a second run needs no
network and a fresh clone starts from nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    root = Path(os.environ.get("PIXELGUARD_CACHE", REPO_ROOT / ".cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_root() -> Path:
    """Per-server state (pid files, logs, data dirs) for servers started by the CLI."""
    path = cache_root() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path
