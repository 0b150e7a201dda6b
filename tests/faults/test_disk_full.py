"""Fault: the output location fills up. ``clean/`` of the store is its own small file system (a tmpfs of
a few hundred KiB, as a nearly full output volume); outputs that do not fit must end in errors with a reason
that says the disk is full and what to do (never vanish, never a half-written clean object); once the
operator grows the volume (remount with a larger size), the rest are published."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .run import FaultRun

SMALL_KIB = 256


def _mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/self/mounts").read_text().splitlines())


def test_output_disk_full_mid_run(kafka, tmp_path: Path) -> None:
    store = tmp_path / "store"
    outputs = store / "clean"
    outputs.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_KIB}k", "pixelguard-fault", str(outputs)],
                   check=True, capture_output=True)
    run = FaultRun(f"output file system full ({SMALL_KIB} KiB), then grown", tmp_path, kafka.bootstrap, store)
    try:
        run.start()
        run.submit()

        def fault() -> None:  # the operator grows the volume
            subprocess.run(["mount", "-o", "remount,size=64m", str(outputs)], check=True, capture_output=True)

        # Grow it once at least one output failed for want of space (more errors than bad inputs).
        fired_at = run.wait(fault, when=lambda st: st.counts["error"] > run.corpus.bad)
        row, finals = run.account()  # includes: every clean object complete, no partial file left
    finally:
        run.stop()
        if _mounted(outputs):
            subprocess.run(["umount", "-l", str(outputs)], check=True, capture_output=True)
    errors = [r.event for r in finals if r.topic.endswith(".errors")]
    full = [e for e in errors if e.error_code == "storage-full"]
    assert full, f"no output failed for want of space: {row}"
    assert all("free space" in e.reason and "resubmit" in e.reason for e in full), full[0].reason
    assert fired_at < row.objects and row.clean > 0, row
    assert run.retries()["storage-full"] > 0
    print(f"\n{row.markdown()}  (volume grown at {fired_at} decided)")
