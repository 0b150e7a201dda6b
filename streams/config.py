"""Streaming run configuration: one dataclass, filled from CLI flags over ``PIXELGUARD_*`` variables.

Adapters are chosen here, each behind its interface: the key service (the local key file shared by all
workers by default; Vault/OpenBao transit when ``vault_addr`` is set), the crosswalk store (the compacted
crosswalk topic, encrypted by that key service), the OCR engine (Triton when ``triton_url`` is set, the
in-process engine otherwise) and the object store (``store`` URI).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pixelguard.keyservice.local import default_key_file

from .topics import stage_partitions


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"PIXELGUARD_{name}", default)


@dataclass
class StreamConfig:
    bootstrap: str = field(default_factory=lambda: _env("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    prefix: str = field(default_factory=lambda: _env("TOPIC_PREFIX", "pixelguard"))
    partitions: int = field(default_factory=stage_partitions)
    store: str = field(default_factory=lambda: _env("STORE", str(Path.home() / ".local/share/pixelguard/store")))
    key_file: Path = field(default_factory=default_key_file)
    vault_addr: str = field(default_factory=lambda: _env("VAULT_ADDR"))
    vault_role_id: str = field(default_factory=lambda: _env("VAULT_ROLE_ID"))
    vault_secret_id: str = field(default_factory=lambda: _env("VAULT_SECRET_ID"))
    triton_url: str = field(default_factory=lambda: _env("TRITON_URL"))
    crosswalk: str = field(default_factory=lambda: _env("CROSSWALK", "kafka"))  # kafka | none
    # Worker tuning.
    worker_name: str = field(default_factory=lambda: _env("WORKER_NAME", f"w{os.getpid()}"))
    concurrency: int = field(default_factory=lambda: int(_env("CONCURRENCY", "2")))
    threads: int = field(default_factory=lambda: int(_env("THREADS", "2")))
    web_port: int = field(default_factory=lambda: int(_env("WEB_PORT", "6066")))
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", "/tmp/pixelguard-worker")))
    session_timeout_s: float = field(default_factory=lambda: float(_env("SESSION_TIMEOUT_S", "10")))
    # How long the group waits for a member to finish its in-flight events and rejoin during a rebalance.
    # A member slower than this is dropped, and its late rejoin starts another rebalance (see agents/app.py).
    rebalance_timeout_s: float = field(default_factory=lambda: float(_env("REBALANCE_TIMEOUT_S", "180")))
    retries: int = field(default_factory=lambda: int(_env("RETRIES", "3")))
    backoff_s: float = field(default_factory=lambda: float(_env("BACKOFF_S", "0.5")))
    # /live turns 503 when an assigned partition is behind and nothing moved on it for this long.
    liveness_stall_s: float = field(default_factory=lambda: float(_env("LIVENESS_STALL_S", "300")))
    liveness_interval_s: float = field(default_factory=lambda: float(_env("LIVENESS_INTERVAL_S", "2")))

    @property
    def app_id(self) -> str:
        return f"{self.prefix}-agents"

    def key_service(self):
        if self.vault_addr:
            from pixelguard.keyservice.vault import VaultKeyService, VaultLayout  # only when configured

            # Key and role names follow PIXELGUARD_VAULT_PREFIX, as every other Vault client here does.
            layout = VaultLayout.from_env()
            if self.vault_role_id:
                return VaultKeyService.for_worker(self.vault_addr, self.vault_role_id, self.vault_secret_id,
                                                  layout=layout)
            service = VaultKeyService.connect(self.vault_addr, os.environ.get("VAULT_TOKEN"), layout=layout)
            service.load_hmac_key()
            return service
        from pixelguard.keyservice.local import LocalKeyService

        # create=True: the first process makes the key (O_EXCL), every other worker opens the same file.
        return LocalKeyService.open(self.key_file, create=True)

    def crosswalk_store(self, keys):
        if self.crosswalk == "none":
            return None
        from pixelguard.crosswalk.kafka import KafkaCrosswalk
        from streams.topics import topic_name

        return KafkaCrosswalk(self.bootstrap, keys, topic_name("crosswalk", self.prefix))

    def detector(self):
        if self.triton_url:
            from inference.triton_client import TritonDetector

            return TritonDetector(self.triton_url, retries=self.retries, backoff_s=self.backoff_s)
        from inference.local_engine import LocalDetector

        return LocalDetector()

    def object_store(self):
        from streams.objectstore import open_store

        return open_store(self.store)


def add_arguments(parser) -> None:
    """Connection flags shared by submit, worker, review, job and trace (defaults from PIXELGUARD_*)."""
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap (PIXELGUARD_KAFKA_BOOTSTRAP)")
    parser.add_argument("--prefix", default=None, help="topic prefix (PIXELGUARD_TOPIC_PREFIX)")
    parser.add_argument("--store", default=None, help="object store URI or folder (PIXELGUARD_STORE)")
    parser.add_argument("--key-file", type=Path, default=None, help="local key file shared by all workers")
    parser.add_argument("--partitions", type=int, default=None, help="stage topic partitions (PIXELGUARD_PARTITIONS)")


def from_args(args) -> StreamConfig:
    cfg = StreamConfig()
    for name in ("bootstrap", "prefix", "store", "key_file", "partitions"):
        value = getattr(args, name, None)
        if value:
            setattr(cfg, name, value)
    for name in ("triton_url", "vault_addr", "worker_name", "concurrency", "threads", "web_port", "data_dir",
                 "crosswalk"):
        value = getattr(args, name, None)
        if value not in (None, ""):
            setattr(cfg, name, value)
    return cfg
