"""One artifact from Maven Central into a folder, through the cache's shared Maven repository (``<cache>/m2``)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .base import ServiceError
from .kafka import java_binary
from .paths import MAVEN_LOCK, cache_root


def maven_copy(what: str, artifact: str, scratch: Path, pattern: str) -> Path:
    """``mvn dependency:copy`` of ``artifact`` into ``scratch`` (emptied first); the one file matching ``pattern``.

    On failure ``scratch`` is removed and the error names ``what`` and Maven's last lines.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError(f"{what}: `mvn` is not on PATH; it is needed once to fetch {artifact} "
                           "(e.g. `apt-get install maven`)")
    java_binary()
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    cmd = [mvn, "-B", "-q", f"-Dmaven.repo.local={cache_root() / 'm2'}",
           "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy", f"-Dartifact={artifact}",
           f"-DoutputDirectory={scratch}"]
    with MAVEN_LOCK:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cache_root())
    fetched = list(scratch.glob(pattern))
    if result.returncode != 0 or len(fetched) != 1:
        shutil.rmtree(scratch, ignore_errors=True)
        output = (result.stdout + result.stderr).strip().splitlines()[-30:]
        raise ServiceError(f"{what}: `{' '.join(cmd)}` failed (rc={result.returncode}):\n" + "\n".join(output))
    return fetched[0]
