"""Shared set-up for the crosswalk tests: the session's real OpenBao raft server and Kafka broker.

Each test module gets its own Vault name prefix (keys, policies, AppRole role) and each test that needs
one its own topic prefix, so tests never see each other's keys or entries on the shared servers.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import hvac
import pytest

from pixelguard.core.keys import Derivations
from pixelguard.crosswalk.base import CrosswalkEntry
from pixelguard.keyservice.vault import VaultKeyService, VaultLayout
from pixelguard.keyservice.vault_setup import new_token, new_worker_secret_id, setup_vault
from pixelguard.services.kafka import KafkaService
from pixelguard.services.openbao import OpenBaoRaftService
from streams.topics import CATALOGUE, topic_name


@dataclass
class VaultEnv:
    addr: str
    root: hvac.Client
    layout: VaultLayout
    role_id: str

    def worker(self) -> VaultKeyService:
        """A worker as it starts in production: AppRole login with a fresh secret id, data key unwrapped."""
        secret_id = new_worker_secret_id(self.root, self.layout)
        return VaultKeyService.for_worker(self.addr, self.role_id, secret_id, layout=self.layout)

    def worker_token(self) -> str:
        return self.worker().session.client.token

    def reidentifier_token(self) -> str:
        return new_token(self.root, self.layout.reidentifier_policy)

    def admin_token(self) -> str:
        return new_token(self.root, self.layout.admin_policy)

    def service(self, token: str) -> VaultKeyService:
        return VaultKeyService.connect(self.addr, token, layout=self.layout)


def make_vault_env(server: OpenBaoRaftService, prefix: str | None = None) -> VaultEnv:
    layout = VaultLayout(prefix=prefix or f"pgt-{secrets.token_hex(4)}")
    root = server.client()
    result = setup_vault(root, layout)
    return VaultEnv(server.addr, root, layout, result.role_id)


@pytest.fixture(scope="module")
def vault_env(openbao_raft: OpenBaoRaftService) -> VaultEnv:
    return make_vault_env(openbao_raft)


@dataclass
class Topics:
    prefix: str
    bootstrap: str

    @property
    def crosswalk(self) -> str:
        return topic_name("crosswalk", self.prefix)

    @property
    def audit(self) -> str:
        return topic_name("audit", self.prefix)


def create_topics(kafka: KafkaService, prefix: str) -> Topics:
    for key in ("crosswalk", "audit"):
        spec = CATALOGUE[key]
        kafka.create_topics([topic_name(key, prefix)], partitions=spec.partitions, config=spec.config)
    return Topics(prefix, kafka.bootstrap)


@pytest.fixture
def topics(kafka: KafkaService) -> Topics:
    return create_topics(kafka, f"pgt{secrets.token_hex(4)}")


FAKE_NAMES = ["DOE^JANE", "ROE^RICHARD", "POE^EDGAR", "MOE^MARY"]


def fake_entry(derive: Derivations, i: int, job_id: str) -> CrosswalkEntry:
    """An entry shaped like the embedded runner's, with fake PHI that the scans look for."""
    mrn = f"MRN{7000000 + i}"
    path = f"/inbox/{FAKE_NAMES[i % len(FAKE_NAMES)].replace('^', '_')}_{mrn}.dcm"
    pseudonym = derive.pseudonym("PatientID", mrn)
    accession = derive.pseudonym("AccessionNumber", f"ACC{i:06d}")
    return CrosswalkEntry(
        input_id=derive.input_id(path), job_id=job_id, input_path=path,
        output_path=f"/out/{derive.uid(f'1.2.826.0.1.3680043.8.498.{i}')}.dcm", status="clean",
        pseudonyms={"PatientID": pseudonym, "AccessionNumber": accession},
        originals={f"PatientID:{mrn}": pseudonym, f"AccessionNumber:ACC{i:06d}": accession})


EntryMaker = Callable[[Derivations, int, str], CrosswalkEntry]
