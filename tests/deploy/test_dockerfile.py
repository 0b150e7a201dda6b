"""deploy/docker/worker.Dockerfile, read as text: no container engine runs here, so it is not built.

What can be checked without building: every base image pinned (no `latest`, no bare name), the final stage
runs as the numeric non-root user the pod specs name, and the apt packages are the Tesseract and font
entries of deploy/local/apt-packages.txt.
"""
from __future__ import annotations

import re
import subprocess

from pixelguard.services.paths import REPO_ROOT

from .k8s import OVERLAYS, build, of_kind

DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "worker.Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())  # join continuation lines
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            rows.append((op.upper(), rest.strip()))
    return rows


def test_every_base_image_is_pinned() -> None:
    rows = _instructions()
    args = dict(re.match(r"(\w+)=(\S+)", rest).groups() for op, rest in rows if op == "ARG" and "=" in rest)  # type: ignore[union-attr]
    for op, rest in rows:
        if op != "FROM":
            continue
        image = rest.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image), image
    assert "latest" not in DOCKERFILE.read_text()


def test_the_final_stage_runs_as_the_non_root_user_the_pods_name() -> None:
    rows = _instructions()
    last_from = max(i for i, (op, _) in enumerate(rows) if op == "FROM")
    users = [rest for op, rest in rows[last_from:] if op == "USER"]
    assert users == ["10001:10001"]
    for overlay in OVERLAYS:
        worker = next(d for d in of_kind(build(overlay), "Deployment") if d["metadata"]["name"] == "pixelguard-worker")
        pod = worker["spec"]["template"]["spec"]["securityContext"]
        assert (pod["runAsUser"], pod["runAsGroup"]) == (10001, 10001)


def test_the_apt_packages_are_the_lists_tesseract_and_fonts() -> None:
    listed = [line.strip() for line in (REPO_ROOT / "deploy" / "local" / "apt-packages.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    pattern = re.search(r"grep -E '([^']+)' /tmp/apt-packages.txt", DOCKERFILE.read_text())
    assert pattern is not None
    chosen = subprocess.run(["grep", "-E", pattern.group(1)], input="\n".join(listed) + "\n",
                            capture_output=True, text=True, check=True).stdout.split()
    assert chosen == [p for p in listed if p.startswith(("tesseract-ocr", "fonts-"))]
    assert "tesseract-ocr-eng" in chosen and "fonts-noto-core" in chosen and "prometheus" not in chosen


def test_it_installs_the_projects_wheel_and_starts_the_worker() -> None:
    rows = _instructions()
    assert any(op == "RUN" and "pip wheel" in rest and "--wheel-dir /wheels ." in rest for op, rest in rows)
    assert any(op == "RUN" and "--no-index --find-links /wheels pixelguard" in rest for op, rest in rows)
    assert ("ENTRYPOINT", '["pixelguard"]') in rows and ("CMD", '["worker"]') in rows
