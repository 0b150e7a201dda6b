"""Time ``pixelguard crosswalk rotate`` on N crosswalk entries against real servers it starts itself.

    .venv/bin/python bench/crosswalk_rotate.py [--entries 10000]

Starts a private OpenBao raft server and Kafka broker on free 127.0.0.1 ports (state in a temp dir,
stopped by pid at the end), runs the idempotent Vault setup, writes N entries as a worker (AppRole), runs
the real CLI ``crosswalk rotate`` with a key-officer token, then decrypts every entry with a re-identifier
token. Prints one JSON line with the timings.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelguard.core.keys import Derivations
from pixelguard.crosswalk.kafka import KafkaCrosswalk
from pixelguard.keyservice.vault import VaultKeyService, VaultLayout, key_version
from pixelguard.keyservice.vault_setup import new_token, new_worker_secret_id, setup_vault
from pixelguard.services.base import free_port
from pixelguard.services.kafka import KafkaService, install_kafka_jars
from pixelguard.services.openbao import OpenBaoRaftService
from streams.topics import CATALOGUE, topic_name
from tests.crosswalk.conftest import fake_entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()
    install_kafka_jars()
    with tempfile.TemporaryDirectory(prefix="pg-bench-") as tmp:
        root_dir = Path(tmp)
        port, controller = free_port(), free_port()
        with OpenBaoRaftService(root_dir / "bao") as bao, \
                KafkaService(port=port, controller_port=controller, state_dir=root_dir / "kafka") as kafka:
            prefix = "bench"
            for key in ("crosswalk", "audit"):
                spec = CATALOGUE[key]
                kafka.create_topics([topic_name(key, prefix)], partitions=spec.partitions, config=spec.config)
            layout = VaultLayout()
            role_id = setup_vault(bao.client(), layout).role_id
            worker = VaultKeyService.for_worker(bao.addr, role_id, new_worker_secret_id(bao.client(), layout))
            derive = Derivations(worker.hmac)
            entries = [fake_entry(derive, i, f"job-{i % 10}") for i in range(args.entries)]
            t0 = time.perf_counter()
            KafkaCrosswalk(kafka.bootstrap, worker, topic_name("crosswalk", prefix)).append(entries)
            write_s = time.perf_counter() - t0

            env = dict(os.environ, VAULT_ADDR=bao.addr, VAULT_TOKEN=new_token(bao.client(), layout.admin_policy),
                       PIXELGUARD_KAFKA_BOOTSTRAP=kafka.bootstrap, PIXELGUARD_TOPIC_PREFIX=prefix,
                       PIXELGUARD_AUDIT_FILE=str(root_dir / "audit.jsonl"))
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "pixelguard.cli", "crosswalk", "rotate"],
                                  capture_output=True, text=True, env=env, timeout=600)
            cli_s = time.perf_counter() - t0
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            report = json.loads(proc.stdout)

            reid = KafkaCrosswalk(kafka.bootstrap, VaultKeyService.connect(
                bao.addr, new_token(bao.client(), layout.reidentifier_policy)), topic_name("crosswalk", prefix))
            t0 = time.perf_counter()
            decrypted = {e.input_id: e for e in reid.entries()}
            decrypt_s = time.perf_counter() - t0
            ok = len(decrypted) == args.entries and all(decrypted[e.input_id] == e for e in entries)
            versions = {key_version(v["ct"]) for v in reid._scan().values()}
            print(json.dumps({"entries": args.entries, "write_s": round(write_s, 2), "rotate": report,
                              "rotate_cli_wall_s": round(cli_s, 2), "decrypt_all_s": round(decrypt_s, 2),
                              "all_decrypt": ok, "key_versions_after": sorted(versions)}))
            return 0 if ok and versions == {report["crosswalk_key_version"]} else 1


if __name__ == "__main__":
    raise SystemExit(main())
