"""Transit behaviour PixelGuard relies on, proven against real OpenBao servers (dev and persistent raft)."""
from __future__ import annotations

import base64
import secrets

import hvac
import hvac.exceptions
import pytest

from pixelguard.services.openbao import (
    HEALTH_ACTIVE,
    OpenBaoDevService,
    OpenBaoRaftService,
    enable_transit,
    health_code,
    make_client,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _key(prefix: str) -> str:
    # Unique per test so the session-scoped servers can be shared without tests seeing each other's keys.
    return f"{prefix}-{secrets.token_hex(4)}"


def test_dev_server_healthy_on_loopback(openbao_dev: OpenBaoDevService) -> None:
    assert openbao_dev.addr.startswith("http://127.0.0.1:")
    assert health_code(openbao_dev.addr) == HEALTH_ACTIVE
    assert openbao_dev.client().is_authenticated()


def test_transit_round_trip(openbao_dev: OpenBaoDevService) -> None:
    client = openbao_dev.client()
    key = _key("roundtrip")
    enable_transit(client, [key])
    enable_transit(client, [key])  # second call must tolerate the existing mount and key
    plaintext = b"PatientName=DOE^JANE\x00\xff binary-safe"
    ct = client.secrets.transit.encrypt_data(name=key, plaintext=b64(plaintext))["data"]["ciphertext"]
    assert ct.startswith("vault:v1:")
    assert plaintext not in ct.encode()
    out = client.secrets.transit.decrypt_data(name=key, ciphertext=ct)["data"]["plaintext"]
    assert unb64(out) == plaintext


def test_transit_batch_encrypt(openbao_dev: OpenBaoDevService) -> None:
    client = openbao_dev.client()
    key = _key("batch")
    enable_transit(client, [key])
    items = [f"uid-{i}".encode() for i in range(5)]
    enc = client.secrets.transit.encrypt_data(name=key, batch_input=[{"plaintext": b64(p)} for p in items])
    results = enc["data"]["batch_results"]
    assert len(results) == len(items)
    cts = [r["ciphertext"] for r in results]
    assert all(c.startswith("vault:v1:") for c in cts)
    assert len(set(cts)) == len(cts)  # randomised encryption: distinct ciphertexts
    dec = client.secrets.transit.decrypt_data(name=key, batch_input=[{"ciphertext": c} for c in cts])
    assert [unb64(r["plaintext"]) for r in dec["data"]["batch_results"]] == items


def test_transit_hmac_deterministic(openbao_dev: OpenBaoDevService) -> None:
    client = openbao_dev.client()
    key = _key("hmac")
    enable_transit(client, [key])
    mac = lambda data: client.secrets.transit.generate_hmac(  # noqa: E731
        name=key, hash_input=b64(data), algorithm="sha2-256")["data"]["hmac"]
    first, second, other = mac(b"1.2.840.113619.2.55"), mac(b"1.2.840.113619.2.55"), mac(b"1.2.840.113619.2.56")
    assert first == second
    assert first != other
    assert first.startswith("vault:v1:")


def test_raft_survives_restart(openbao_raft: OpenBaoRaftService) -> None:
    client = openbao_raft.client()
    key = _key("persist")
    enable_transit(client, [key])
    plaintext = b"AccessionNumber=A123456"
    ct = client.secrets.transit.encrypt_data(name=key, plaintext=b64(plaintext))["data"]["ciphertext"]
    old_pid = openbao_raft.process.running_pid()

    openbao_raft.restart()  # SIGTERM by pid, start from the same raft dir, unseal from the saved key

    assert openbao_raft.process.running_pid() not in (None, old_pid)
    assert health_code(openbao_raft.addr) == HEALTH_ACTIVE
    client = openbao_raft.client()
    assert client.secrets.transit.read_key(name=key)["data"]["latest_version"] == 1
    out = client.secrets.transit.decrypt_data(name=key, ciphertext=ct)["data"]["plaintext"]
    assert unb64(out) == plaintext
    secrets_mode = openbao_raft.secrets_file.stat().st_mode & 0o777
    assert secrets_mode == 0o600


def test_policy_denies_decrypt(openbao_raft: OpenBaoRaftService) -> None:
    admin = openbao_raft.client()
    key = _key("encrypt-only")
    enable_transit(admin, [key])
    policy_name = f"pg-{key}"
    admin.sys.create_or_update_policy(name=policy_name, policy=f'''
path "transit/encrypt/{key}" {{ capabilities = ["update"] }}
path "transit/hmac/{key}"    {{ capabilities = ["update"] }}
''')
    token = admin.auth.token.create(policies=[policy_name], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    limited = make_client(openbao_raft.addr, token)

    ct = limited.secrets.transit.encrypt_data(name=key, plaintext=b64(b"secret"))["data"]["ciphertext"]
    assert limited.secrets.transit.generate_hmac(name=key, hash_input=b64(b"x"))["data"]["hmac"]
    with pytest.raises(hvac.exceptions.Forbidden):
        limited.secrets.transit.decrypt_data(name=key, ciphertext=ct)
    with pytest.raises(hvac.exceptions.Forbidden):
        limited.secrets.transit.read_key(name=key)
    # The admin token still decrypts it: the denial is the policy's, not a broken ciphertext.
    assert unb64(admin.secrets.transit.decrypt_data(name=key, ciphertext=ct)["data"]["plaintext"]) == b"secret"
