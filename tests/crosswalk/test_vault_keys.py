"""VaultKeyService against the real OpenBao raft server: policies, AppRole, determinism, clear failures."""
from __future__ import annotations

import re
import time

import hvac.exceptions
import pytest

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.vault import RetryPolicy, VaultDenied, VaultKeyService, VaultUnavailable
from pixelguard.keyservice.vault_setup import ROLES, render_policy, setup_vault
from pixelguard.services.base import free_port
from pixelguard.services.openbao import make_client

from .conftest import VaultEnv


def test_worker_policy_encrypts_and_hmacs_but_cannot_decrypt(vault_env: VaultEnv) -> None:
    worker = vault_env.worker()  # AppRole login, as workers start
    assert worker.session.actor().startswith(f"vault:approle:{vault_env.layout.worker_role}#")
    cts = worker.encrypt([b"PatientID:MRN0042424", b"DOE^JANE"])
    assert all(c.startswith("vault:v1:") for c in cts)
    assert len(worker.hmac("pseudonym:PatientID", b"MRN0042424")) == 32

    assert not worker.may_decrypt()
    with pytest.raises(VaultDenied, match="refused by Vault policy"):
        worker.decrypt(cts)
    # The same refusal straight from the server, without our wrapper in between.
    raw = make_client(vault_env.addr, worker.session.client.token)
    with pytest.raises(hvac.exceptions.Forbidden):
        raw.secrets.transit.decrypt_data(name=vault_env.layout.crosswalk_key, ciphertext=cts[0])
    with pytest.raises(hvac.exceptions.Forbidden):  # nor may it rotate
        raw.secrets.transit.rotate_key(name=vault_env.layout.crosswalk_key)

    reid = vault_env.service(vault_env.reidentifier_token())
    assert reid.may_decrypt()
    assert reid.decrypt(cts) == [b"PatientID:MRN0042424", b"DOE^JANE"]


def test_pseudonyms_are_the_same_on_every_worker_and_after_setup_runs_again(vault_env: VaultEnv) -> None:
    first = Derivations(vault_env.worker().hmac)
    setup_vault(vault_env.root, vault_env.layout)  # idempotent: must not replace the HMAC data key
    second = Derivations(vault_env.worker().hmac)
    for derive in (first, second):
        assert re.fullmatch(r"PG[A-Z2-7]{16}", derive.pseudonym("PatientID", "MRN0042424"))
    assert first.pseudonym("PatientID", "MRN0042424") == second.pseudonym("PatientID", "MRN0042424")
    assert first.uid("1.2.3.4") == second.uid("1.2.3.4")
    assert first.pseudonym("PatientID", "MRN0042424") != first.pseudonym("AccessionNumber", "MRN0042424")


def test_admin_rotates_and_rewraps_but_cannot_decrypt(vault_env: VaultEnv) -> None:
    worker = vault_env.worker()
    before = Derivations(worker.hmac).pseudonym("PatientID", "MRN1")
    old = worker.encrypt([b"old entry"])
    admin = vault_env.service(vault_env.admin_token())
    assert not admin.may_decrypt()
    rotated = admin.rotate_keys()
    assert rotated.crosswalk_version >= 2 and rotated.datakey_version >= 2
    new = admin.rewrap(old)
    assert new[0].startswith(f"vault:v{rotated.crosswalk_version}:")
    with pytest.raises(VaultDenied):
        admin.decrypt(new)
    reid = vault_env.service(vault_env.reidentifier_token())
    assert reid.decrypt(old + new) == [b"old entry", b"old entry"]  # old ciphertexts keep decrypting
    # The HMAC data key was rewrapped, not replaced: a worker starting now derives the same pseudonyms.
    assert Derivations(vault_env.worker().hmac).pseudonym("PatientID", "MRN1") == before


def test_policies_are_files_with_every_placeholder_filled(vault_env: VaultEnv) -> None:
    for role in ROLES:
        text = render_policy(role, vault_env.layout)
        assert "${" not in text and vault_env.layout.crosswalk_key in text
    worker = render_policy("worker", vault_env.layout)
    assert f"decrypt/{vault_env.layout.crosswalk_key}" not in worker
    assert f"decrypt/{vault_env.layout.crosswalk_key}" not in render_policy("admin", vault_env.layout)


def test_unreachable_vault_fails_clearly_after_the_deadline() -> None:
    service = VaultKeyService.connect(f"http://127.0.0.1:{free_port()}", "s.none",
                                      retry=RetryPolicy(deadline_s=1.0))
    started = time.monotonic()
    with pytest.raises(VaultUnavailable, match="unavailable for 1s.*running and unsealed") as caught:
        service.encrypt([b"MRN0042424"])
    assert time.monotonic() - started < 5
    assert "MRN0042424" not in str(caught.value)
