"""deploy/docker/*.Dockerfile, read as text: no container engine runs here, so neither image is built.

What can be checked without building: every base image pinned (no `latest`, no bare name), the final stage
runs as the numeric non-root user the pod specs name, the apt packages come from
deploy/local/apt-packages.txt, and the Triton image installs the server packages the local Triton runs.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pixelguard.services.paths import REPO_ROOT
from pixelguard.services.triton import PY_MINOR, SERVER_REQUIREMENTS

from .k8s import OVERLAYS, build, named

DOCKER = REPO_ROOT / "deploy" / "docker"
IMAGES = {"worker.Dockerfile": "pixelguard-worker", "triton.Dockerfile": "pixelguard-triton"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            rows.append((op.upper(), rest.strip()))
    return rows


def _run_text(path: Path) -> str:
    return " ".join(rest for op, rest in _instructions(path) if op == "RUN")


@pytest.mark.parametrize("name", IMAGES)
def test_every_base_image_is_pinned(name: str) -> None:
    rows = _instructions(DOCKER / name)
    args = dict(rest.split("=", 1) for op, rest in rows if op == "ARG" and "=" in rest)
    froms = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest.split()[0]) for op, rest in rows if op == "FROM"]
    assert froms and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image) for image in froms), froms
    assert "latest" not in (DOCKER / name).read_text()


@pytest.mark.parametrize("name", IMAGES)
def test_the_final_stage_runs_as_the_non_root_user_the_pods_name(name: str) -> None:
    rows = _instructions(DOCKER / name)
    last_from = max(i for i, (op, _) in enumerate(rows) if op == "FROM")
    assert [rest for op, rest in rows[last_from:] if op == "USER"] == ["10001:10001"]
    for overlay in OVERLAYS:
        deployment = named(build(overlay), "Deployment", IMAGES[name])
        pod = deployment["spec"]["template"]["spec"]["securityContext"]
        assert (pod["runAsUser"], pod["runAsGroup"]) == (10001, 10001)


@pytest.mark.parametrize(("name", "prefixes"), [("worker.Dockerfile", ("tesseract-ocr", "fonts-")),
                                                ("triton.Dockerfile", ("tesseract-ocr",))])
def test_the_apt_packages_come_from_the_list(name: str, prefixes: tuple[str, ...]) -> None:
    listed = [line.strip() for line in (REPO_ROOT / "deploy" / "local" / "apt-packages.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    pattern = re.search(r"grep -E '([^']+)' /tmp/apt-packages.txt", (DOCKER / name).read_text())
    assert pattern is not None
    chosen = subprocess.run(["grep", "-E", pattern.group(1)], input="\n".join(listed) + "\n",
                            capture_output=True, text=True, check=True).stdout.split()
    assert chosen == [p for p in listed if p.startswith(prefixes)]
    assert "tesseract-ocr-eng" in chosen and "prometheus" not in chosen


def test_the_worker_image_installs_the_projects_wheel_and_starts_the_worker() -> None:
    rows = _instructions(DOCKER / "worker.Dockerfile")
    assert "pip wheel --no-cache-dir --wheel-dir /wheels ." in _run_text(DOCKER / "worker.Dockerfile")
    assert "--no-index --find-links /wheels pixelguard" in _run_text(DOCKER / "worker.Dockerfile")
    assert ("ENTRYPOINT", '["pixelguard"]') in rows and ("CMD", '["worker"]') in rows


def test_the_triton_image_runs_the_server_the_local_tests_run() -> None:
    path = DOCKER / "triton.Dockerfile"
    run = _run_text(path)
    args = dict(rest.split("=", 1) for op, rest in _instructions(path) if op == "ARG" and "=" in rest)
    installed = set(re.sub(r'"\$\{ONNXRUNTIME\}"', args["ONNXRUNTIME"], run).split())
    assert set(SERVER_REQUIREMENTS) <= installed  # same pins as pixelguard/services/triton.py
    assert f"python_backend_stubs/{PY_MINOR}/triton_python_backend_stub" in run
    # The repository path and backend folder the image lays out are the ones the Deployment passes.
    for overlay in OVERLAYS:
        triton = named(build(overlay), "Deployment", "pixelguard-triton")
        container = triton["spec"]["template"]["spec"]["containers"][0]
        assert "--model-repository=/opt/pixelguard/deploy/triton/models" in container["args"]
        assert "--backend-directory=/opt/tritonserver/backends" in container["args"]
    assert "COPY --from=models /src/deploy/triton/models /opt/pixelguard/deploy/triton/models" in path.read_text()
