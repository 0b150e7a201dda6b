"""Fault: the Kafka broker stops (SIGTERM by pid, a clean shutdown) mid-run and comes back on the same port
and data dir. Workers' agents and the transactional route hop must reconnect and finish the job: nothing
lost, nothing decided twice, every object in exactly one final state."""
from __future__ import annotations

import time
from pathlib import Path

from .run import FaultRun

DOWN_S = 5.0


def test_broker_restart_mid_run(kafka_factory, tmp_path: Path) -> None:
    broker = kafka_factory()  # private: the session's broker is never stopped
    run = FaultRun(f"broker stopped {DOWN_S:.0f} s, restarted (same port, same data)", tmp_path, broker.bootstrap,
                   tmp_path / "store")
    run.start()
    try:
        run.submit()

        def fault() -> None:
            broker.stop()  # by the pid we started
            time.sleep(DOWN_S)
            broker.start()

        fired_at = run.wait(fault)
    finally:
        run.stop()
    row, finals = run.account()
    assert fired_at < row.objects
    assert row.errors >= run.corpus.bad and row.clean > 0, row
    print(f"\n{row.markdown()}  (fault at {fired_at} decided)")
