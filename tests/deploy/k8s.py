"""Building the Kubernetes manifests (deploy/k8s) with the cached kustomize, for the tests beside this file.

deploy/local/test.sh installs kustomize (deploy/local/install-kustomize.sh) before pytest starts; a run
without it fails with the command that installs it rather than skipping, so the check cannot go missing.
"""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import yaml

from pixelguard.services.paths import REPO_ROOT, cache_root

K8S = REPO_ROOT / "deploy" / "k8s"
KUSTOMIZE_VERSION = "5.8.1"
OVERLAYS = ("dev", "gpu")


def kustomize() -> Path:
    path = cache_root() / f"kustomize-{KUSTOMIZE_VERSION}" / "bin" / "kustomize"
    if not path.is_file():
        raise AssertionError(f"kustomize {KUSTOMIZE_VERSION} is not in the cache ({path}); run "
                             "`bash deploy/local/install-kustomize.sh` (deploy/local/test.sh does)")
    return path


def _run(folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run([str(kustomize()), "build", str(folder)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"kustomize build {folder} failed:\n{result.stderr[-3000:]}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def build(name: str) -> tuple[dict[str, Any], ...]:
    """The objects of overlay ``name``, built once per test session."""
    return tuple(_run(K8S / "overlays" / name))


def of_kind(objects: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def config(objects: tuple[dict[str, Any], ...]) -> dict[str, str]:
    data: dict[str, str] = named(objects, "ConfigMap", "pixelguard-config")["data"]
    return data
