"""Fault: a worker SIGKILLed under load and started again (the small version of tests/streaming/test_e2e.py,
accounted the same way as the other faults so it has its row in the matrix)."""
from __future__ import annotations

import time
from pathlib import Path

from .run import FaultRun


def test_worker_sigkill_mid_run(kafka, tmp_path: Path) -> None:
    run = FaultRun("worker SIGKILLed, restarted after 1 s", tmp_path, kafka.bootstrap, tmp_path / "store")
    run.start()
    try:
        run.submit()

        def fault() -> None:
            run.workers[0].kill()  # in-flight events, an open transaction, uncommitted offsets
            time.sleep(1)
            run.workers[0].start()

        fired_at = run.wait(fault)
    finally:
        run.stop()
    row, _ = run.account()
    assert fired_at < row.objects and row.clean > 0, row
    print(f"\n{row.markdown()}  (fault at {fired_at} decided)")
