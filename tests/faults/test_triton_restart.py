"""Fault: the Triton server is SIGKILLed mid-run (by the pid we started) and started again, while the
workers detect text through it (``--triton-url``). Objects wait and retry (the client retries, then raises
EngineUnavailable, which the stage retries with backoff) or end in errors with a reason; none reaches
clean without its pixels having been verified. Shown on the outputs themselves: every clean object's
event says its pixels were verified, and the in-process engine reads no fake PHI in it."""
from __future__ import annotations

import time
from pathlib import Path

from inference.local_engine import LocalDetector
from pixelguard.services.base import free_port
from pixelguard.services.triton import TritonService
from streams.objectstore import FileObjectStore

from .run import FaultRun, readable_text

DOWN_S = 3.0


def test_triton_killed_and_restarted_mid_run(kafka, tmp_path: Path) -> None:
    # Private server: the session's Triton is never killed under other tests.
    server = TritonService(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                           state_dir=tmp_path / "triton")
    run = FaultRun(f"Triton SIGKILLed, restarted after {DOWN_S:.0f} s", tmp_path, kafka.bootstrap,
                   tmp_path / "store", env_extra={"PIXELGUARD_BACKOFF_S": "0.5"})
    with server:
        run.triton_url = server.grpc_url
        run.start()
        try:
            run.submit()

            def fault() -> None:
                server.process.kill()  # SIGKILL to the server's process group (server and its stubs)
                time.sleep(DOWN_S)
                server.start()

            fired_at = run.wait(fault)
        finally:
            run.stop()
    row, finals = run.account()
    assert fired_at < row.objects and row.clean > 0, row
    assert run.retries()["engine-unavailable"] > 0, "no worker met the outage: the fault was not exercised"
    errors = [r.event for r in finals if r.topic.endswith(".errors")]
    for e in errors:
        if e.error_code == "engine-unavailable":
            assert "Triton" in e.reason and "resubmit" in e.reason, e.reason

    detector = LocalDetector()
    store = FileObjectStore(run.store)
    # The check can fail: on an input, the same reading finds the fake PHI burned into its pixels.
    sample = next(p for p in sorted(run.corpus.root.glob("*.png")))
    assert run.corpus.leaks(readable_text(sample.read_bytes(), "png", detector))
    clean = [r.event for r in finals if r.topic.endswith(".clean")]
    for event in clean:
        expected = "volume-not-scanned" if event.format == "nifti" else "verified"
        assert event.stats.get("pixels") == expected, (event.format, event.stats)
        assert not run.corpus.leaks(readable_text(store.get(event.object_uri), event.format, detector)), \
            f"readable fake PHI in a clean {event.format} output"
    print(f"\n{row.markdown()}  (fault at {fired_at} decided)")
