"""The built wheel works on its own: installed into a fresh venv outside the checkout, it finds its profiles,
reference tables and pixel rules, and de-identifies a sample.

The fresh venv gets only the wheel; its dependencies come from the test venv's site-packages, named in a
``.pth`` file (a plain path, so the test venv's editable install of this checkout is not loaded), so nothing
is downloaded beyond the build requirements pip already fetches from its index.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from pixelguard.samples import pydicom_test_files

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("pixelguard-*.whl")
    fresh = root / "venv"
    venv.create(fresh, with_pip=False)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([str(fresh / "bin" / "python"), "-c", purelib],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "test-venv-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(fresh / "bin" / "python"), "install",
                              "--no-deps", "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    return fresh


def _run(fresh: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXELGUARD_", "PYTHON"))}
    env["XDG_DATA_HOME"] = str(cwd / "xdg")  # the key file, crosswalk and audit trail land here
    return subprocess.run([str(fresh / "bin" / "pixelguard"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_wheel_runs_from_a_fresh_venv_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "bin" / "python"), "-c", "import pixelguard; print(pixelguard.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(installed) and not Path(where).is_relative_to(REPO)

    # The event contracts ship: an installed worker reads a good event and refuses a bad one by its schema.
    contracts = subprocess.run([str(installed / "bin" / "python"), "-c", (
        "from streams.events import ObjectEvent, PoisonEvent, now_iso\n"
        "good = ObjectEvent('job', 'in-1', 'basic', now_iso(), 'ingest')\n"
        "assert ObjectEvent.from_bytes(good.to_bytes()) == good\n"
        "try:\n"
        "    ObjectEvent.from_bytes(good.to_bytes().replace(b'\"status\":\"\"', b'\"status\":7'))\n"
        "except PoisonEvent as exc:\n"
        "    print(exc)\n")], cwd=tmp_path, capture_output=True, text=True)
    assert contracts.returncode == 0, contracts.stderr
    assert "object-event.v2.json: " in contracts.stdout
    assert "field 'status' must be string, not integer" in contracts.stdout

    listed = _run(installed, tmp_path, "profiles", "list")
    assert listed.returncode == 0, listed.stderr
    for name in ("basic", "research", "hipaa-safe-harbor", "retain-safe-private"):
        assert f"{name}\t" in listed.stdout

    sample = tmp_path / "in" / "ct.dcm"
    sample.parent.mkdir()
    sample.write_bytes((pydicom_test_files() / "CT_small.dcm").read_bytes())
    done = _run(installed, tmp_path, "deid", str(sample.parent), "--out", str(tmp_path / "out"), "--jobs", "1")
    assert done.returncode in (0, 1), done.stderr  # 1: held for review, which is an outcome too
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert row["status"] in ("clean", "review") and row["output"], row
