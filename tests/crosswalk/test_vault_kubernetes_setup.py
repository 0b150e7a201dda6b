"""Kubernetes auth set up on a real OpenBao: the method, its config and the worker's role, idempotently.

A login through it cannot be tried here: OpenBao checks each one with a TokenReview against a Kubernetes
API server, and none runs on this machine (tests/test_vault_kubernetes_auth.py pins the worker's side).
"""
from __future__ import annotations

import datetime
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pixelguard.keyservice.vault import VaultLayout
from pixelguard.keyservice.vault_setup import KubernetesAuth, setup_kubernetes_auth, setup_vault
from pixelguard.services.openbao import OpenBaoDevService, make_client


def _ca_pem() -> str:
    """A self-signed CA standing in for the cluster's (OpenBao outside a pod has no CA file to read)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_the_worker_role_binds_one_service_account_to_the_worker_policy(openbao_dev: OpenBaoDevService) -> None:
    client = make_client(openbao_dev.addr, openbao_dev.root_token)
    layout = VaultLayout(prefix=f"k8s{secrets.token_hex(3)}")
    auth = KubernetesAuth(host="https://10.0.0.1:443", namespace="site1", service_account="site1-worker",
                          mount=f"kubernetes-{layout.prefix}", ca_cert=_ca_pem())
    setup_vault(client, layout)
    for _ in range(2):  # a second run changes nothing and does not fail
        assert setup_kubernetes_auth(client, layout, auth) == layout.worker_role
    assert f"{auth.mount}/" in client.sys.list_auth_methods()["data"]
    config = client.auth.kubernetes.read_config(mount_point=auth.mount)
    assert config["kubernetes_host"] == "https://10.0.0.1:443"
    role = client.adapter.get(f"/v1/auth/{auth.mount}/role/{layout.worker_role}")["data"]
    assert role["bound_service_account_names"] == ["site1-worker"]
    assert role["bound_service_account_namespaces"] == ["site1"]
    assert role["audience"] == "openbao"
    assert role["token_policies"] == [layout.worker_policy] and role["token_ttl"] == 3600
