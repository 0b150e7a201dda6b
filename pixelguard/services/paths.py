"""Where local installs and server state live.

The cache folder is ``$PIXELGUARD_CACHE``, else ``$XDG_CACHE_HOME/pixelguard`` (``~/.cache/pixelguard``):
per user and outside the clone, so a second run needs no network and a fresh clone reuses the jars, wheels,
server venvs and Go builds instead of fetching them again. Deleting it starts from nothing.
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
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = Path(os.environ.get("PIXELGUARD_CACHE") or user_cache / "pixelguard")
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_root() -> Path:
    """Per-server state (pid files, logs, data dirs) for servers started by the CLI."""
    path = cache_root() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path
