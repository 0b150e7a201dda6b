"""Fault: the file object store goes away mid-run the way a shared mount does (its bind mount is
unmounted: the mount point stays, empty) and comes back. Reads and writes in that window must be
"storage unavailable" (retried with backoff, then an error naming what to do), never "not found", and
nothing may be written under the bare mount point, where the remounted store would hide it."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .run import FaultRun

MIN_DOWN_S, MAX_DOWN_S = 4.0, 45.0


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True)  # lazy: workers hold files open


def _mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/self/mounts").read_text().splitlines())


def test_object_store_unavailable_mid_run(kafka, tmp_path: Path) -> None:
    disk, store = tmp_path / "store-disk", tmp_path / "store"
    disk.mkdir()
    store.mkdir()
    _mount("--bind", str(disk), str(store))
    run = FaultRun("object store unmounted until a worker met it (4-45 s), remounted", tmp_path, kafka.bootstrap, store,
                   env_extra={"PIXELGUARD_BACKOFF_S": "0.5"})
    try:
        run.start()
        run.submit()

        def fault() -> None:
            # Down until a worker has met the outage (its retry counter says so), at least MIN_DOWN_S: on a
            # loaded machine both workers can spend a short outage inside OCR without touching the store.
            _umount(store)
            down_at = time.monotonic()
            while time.monotonic() - down_at < MAX_DOWN_S and (
                    time.monotonic() - down_at < MIN_DOWN_S or not run.retries()["storage-unavailable"]):
                time.sleep(0.5)
            _mount("--bind", str(disk), str(store))

        fired_at = run.wait(fault)
    finally:
        run.stop()
        if _mounted(store):
            _umount(store)
    # What a worker wrote while the store was away would sit here, under the mount point, hidden.
    assert sorted(p.name for p in store.rglob("*")) == [], "objects were written under the bare mount point"
    _mount("--bind", str(disk), str(store))
    try:
        row, finals = run.account()
    finally:
        _umount(store)
    run.outage_handled("storage-unavailable", fired_at, row, finals, "mounted", "resubmit")
