"""Rotation of the transit keys and rewrap of 10,000 stored entries, all decrypting afterwards (timed)."""
from __future__ import annotations

import json
import time

from pixelguard.core.keys import Derivations
from pixelguard.crosswalk.kafka import KafkaCrosswalk
from pixelguard.keyservice.vault import key_version

from .conftest import Topics, VaultEnv, fake_entry

COUNT = 10_000


def test_rotate_and_rewrap_ten_thousand_entries(vault_env: VaultEnv, topics: Topics, capsys) -> None:
    worker = vault_env.worker()
    derive = Derivations(worker.hmac)
    entries = [fake_entry(derive, i, f"job-{i % 10}") for i in range(COUNT)]
    t0 = time.perf_counter()
    KafkaCrosswalk(topics.bootstrap, worker, topics.crosswalk).append(entries)
    write_s = time.perf_counter() - t0

    reid_keys = vault_env.service(vault_env.reidentifier_token())
    reid = KafkaCrosswalk(topics.bootstrap, reid_keys, topics.crosswalk)
    kept_v1 = reid._scan()  # raw records before rotation, to show old ciphertexts keep decrypting

    admin_keys = vault_env.service(vault_env.admin_token())
    admin = KafkaCrosswalk(topics.bootstrap, admin_keys, topics.crosswalk)
    t0 = time.perf_counter()
    rotated = admin_keys.rotate_keys()
    report = admin.rewrap_all(admin_keys)
    rotate_s = time.perf_counter() - t0
    assert report.total == COUNT and report.rewrapped == COUNT
    assert report.latest_version == rotated.crosswalk_version

    t0 = time.perf_counter()
    after = {e.input_id: e for e in reid.entries()}
    decrypt_s = time.perf_counter() - t0
    assert len(after) == COUNT and all(after[e.input_id] == e for e in entries)
    assert all(key_version(v["ct"]) == rotated.crosswalk_version for v in reid._scan().values())
    old = [v["ct"] for v in list(kept_v1.values())[:50]]
    assert all(key_version(c) < rotated.crosswalk_version for c in old)
    assert len(reid_keys.decrypt(old)) == 50  # a copy made before the rotation still decrypts

    timing = {"entries": COUNT, "write_s": round(write_s, 2), "rotate_keys_s": round(rotated.seconds, 3),
              "scan_s": round(report.scan_s, 2), "rewrap_s": round(report.rewrap_s, 2),
              "produce_s": round(report.produce_s, 2), "verify_scan_s": round(report.verify_s, 2),
              "rotate_and_rewrap_total_s": round(rotate_s, 2), "decrypt_all_s": round(decrypt_s, 2)}
    with capsys.disabled():
        print(f"\ncrosswalk rotation: {json.dumps(timing)}")
