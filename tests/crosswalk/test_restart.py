"""An OpenBao restart (stop, start, unseal) in the middle of a run of crosswalk writes loses nothing.

Uses its own raft server (the session one is shared with other tests) and the session Kafka broker.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pixelguard.core.keys import Derivations
from pixelguard.crosswalk.kafka import KafkaCrosswalk
from pixelguard.keyservice.vault import RetryPolicy, VaultUnavailable
from pixelguard.services.openbao import OpenBaoRaftService

from .conftest import Topics, fake_entry, make_vault_env

BATCH = 5


def test_restart_mid_run_loses_no_entry_and_changes_no_pseudonym(tmp_path: Path, topics: Topics,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with OpenBaoRaftService(tmp_path / "bao") as server:
        env = make_vault_env(server, "restart")
        worker = env.worker()
        derive = Derivations(worker.hmac)
        store = KafkaCrosswalk(topics.bootstrap, worker, topics.crosswalk)
        written: list = []
        durations: list[float] = []
        restarted = threading.Event()
        failure: list[BaseException] = []

        def writer() -> None:
            try:
                i = 0
                after = 0
                while not restarted.is_set() or after < 20:  # keep writing through and past the restart
                    batch = [fake_entry(derive, i + k, "job-restart") for k in range(BATCH)]
                    started = time.monotonic()
                    store.append(batch)  # retries while the server is down or sealed
                    durations.append(time.monotonic() - started)
                    written.extend(batch)
                    i += BATCH
                    after += restarted.is_set()
            except BaseException as err:  # noqa: BLE001 - surfaced in the main thread
                failure.append(err)

        thread = threading.Thread(target=writer)
        thread.start()
        while len(written) < 100 and thread.is_alive():
            time.sleep(0.01)
        old_pid = server.process.running_pid()
        server.restart()  # SIGTERM by pid, start from the same raft data, unseal from the saved key
        assert server.process.running_pid() not in (None, old_pid)
        restarted.set()
        thread.join(timeout=180)
        assert not thread.is_alive() and not failure, failure
        assert max(durations) > 0.5  # at least one write waited out the outage rather than missing it
        with capsys.disabled():
            print(f"\nopenbao restart mid-run: {len(written)} entries written, longest append waited "
                  f"{max(durations):.1f}s across the restart")

        # Every entry is on the topic and decrypts to what was written, pseudonyms included.
        reid = KafkaCrosswalk(topics.bootstrap, env.service(env.reidentifier_token()), topics.crosswalk)
        stored = {e.input_id: e for e in reid.entries("job-restart")}
        assert len(written) >= 120 and len(stored) == len(written)
        assert all(stored[e.input_id] == e for e in written)
        # A worker starting after the restart unwraps the same data key: no pseudonym changed.
        after = Derivations(env.worker().hmac)
        for entry in written[::7]:
            mrn = next(k for k in entry.originals if k.startswith("PatientID:")).split(":", 1)[1]
            assert after.pseudonym("PatientID", mrn) == entry.pseudonyms["PatientID"]

        # Sealed: the write fails clearly after its deadline and nothing reaches the topic.
        before = reid.count()
        env.root.sys.seal()
        worker.session.retry = RetryPolicy(deadline_s=2.0)
        with pytest.raises(VaultUnavailable, match="unsealed"):
            store.append([fake_entry(derive, 10_000, "job-restart")])
        server.restart()  # unseals
        assert reid.count() == before
        store.close()
