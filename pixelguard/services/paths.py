"""Where local installs and server state live.

The cache folder is ``$PIXELGUARD_CACHE`` or ``<repo>/.cache`` (ignored by git), so a second run needs no
network and a fresh clone starts from nothing.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Maven 3.8 does not lock its local repository: two `mvn` runs filling ``<cache>/m2`` at once (installs run in
# parallel, see cli/services.py) could each leave the other a half-written plugin jar.
MAVEN_LOCK = threading.Lock()


def cache_root() -> Path:
    root = Path(os.environ.get("PIXELGUARD_CACHE", REPO_ROOT / ".cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_root() -> Path:
    """Per-server state (pid files, logs, data dirs) for servers started by the CLI."""
    path = cache_root() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path
