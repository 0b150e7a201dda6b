"""Vault's Kubernetes auth method, as a worker in a pod uses it: settings, wiring, login and re-login.

No Kubernetes API server can run here, and OpenBao's Kubernetes auth checks every login with a TokenReview
against one, so hvac is replaced by a recording fake: these tests pin what we send and when, not Vault's
side of it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import hvac.exceptions
import pytest

from agents import wiring
from pixelguard.keyservice import vault as vault_module
from pixelguard.keyservice.vault import VaultError, VaultKeyService, VaultSession
from pixelguard.keyservice.vault_login import SERVICE_ACCOUNT_TOKEN, AppRoleLogin, KubernetesLogin
from pixelguard.settings import Settings


class _KubernetesAuth:
    def __init__(self) -> None:
        self.logins: list[dict[str, Any]] = []

    def login(self, role: str, jwt: str, use_token: bool = True, mount_point: str = "kubernetes") -> dict:
        self.logins.append({"role": role, "jwt": jwt, "use_token": use_token, "mount_point": mount_point})
        return {"auth": {"client_token": f"token-{len(self.logins)}"}}


class _FakeClient:
    def __init__(self) -> None:
        self.token: str | None = None
        self.kubernetes = _KubernetesAuth()
        self.auth = self  # client.auth.kubernetes.login(...)


def test_the_kubernetes_role_mount_and_token_file_come_from_their_variables() -> None:
    vault = Settings.from_env({"PIXELGUARD_VAULT_ADDR": "http://bao:8200",
                               "PIXELGUARD_VAULT_KUBERNETES_ROLE": "pixelguard-worker",
                               "PIXELGUARD_VAULT_KUBERNETES_MOUNT": "k8s-prod",
                               "PIXELGUARD_VAULT_KUBERNETES_TOKEN_FILE": "/var/run/secrets/vault/token"}).vault
    assert (vault.kubernetes_role, vault.kubernetes_mount, vault.kubernetes_token_file) == \
        ("pixelguard-worker", "k8s-prod", "/var/run/secrets/vault/token")
    default = Settings.from_env({}).vault
    assert (default.kubernetes_role, default.kubernetes_mount, default.kubernetes_token_file) == \
        ("", "kubernetes", SERVICE_ACCOUNT_TOKEN)


def test_a_worker_with_a_kubernetes_role_logs_in_with_its_service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def logged_in(addr: str, login: Any, layout: Any = None, retry: Any = None) -> str:
        seen.update(addr=addr, login=login, prefix=layout.prefix)
        return "service"

    monkeypatch.setattr(VaultKeyService, "logged_in", staticmethod(logged_in))
    # The Kubernetes role wins over an AppRole left in the environment: in a pod there is no secret id to read.
    settings = Settings.from_env({"PIXELGUARD_VAULT_ADDR": "http://bao:8200", "PIXELGUARD_VAULT_PREFIX": "site1",
                                  "PIXELGUARD_VAULT_KUBERNETES_ROLE": "site1-worker",
                                  "PIXELGUARD_VAULT_ROLE_ID": "stale"})
    assert wiring.key_service(settings) == "service"
    assert seen == {"addr": "http://bao:8200", "prefix": "site1",
                    "login": KubernetesLogin("site1-worker", SERVICE_ACCOUNT_TOKEN, "kubernetes")}


def test_each_login_reads_the_token_file_again_because_the_kubelet_rotates_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("jwt-1\n")
    client = _FakeClient()
    monkeypatch.setattr(vault_module, "make_hvac_client", lambda addr, token: client)
    session = VaultSession("http://bao:8200", login=KubernetesLogin("pixelguard-worker", str(token_file), "k8s"))
    assert client.token == "token-1"

    token_file.write_text("jwt-2\n")  # the kubelet's projected token, refreshed before expiry
    calls = iter([hvac.exceptions.Forbidden("permission denied"), None])

    def call(_client: Any) -> str:
        err = next(calls)
        if err is not None:
            raise err
        return "ok"

    assert session.call("transit encrypt", call) == "ok"  # 403 from the lapsed token: one re-login
    assert client.kubernetes.logins == [
        {"role": "pixelguard-worker", "jwt": "jwt-1", "use_token": False, "mount_point": "k8s"},
        {"role": "pixelguard-worker", "jwt": "jwt-2", "use_token": False, "mount_point": "k8s"},
    ]
    assert client.token == "token-2"


def test_a_missing_token_file_names_the_path_and_what_to_check(tmp_path: Path) -> None:
    expected = r"cannot read the service account token at .*absent.*automountServiceAccountToken"
    with pytest.raises(VaultError, match=expected):
        KubernetesLogin("pixelguard-worker", str(tmp_path / "absent")).jwt()


def test_an_approle_secret_id_never_shows_in_a_logins_repr() -> None:
    assert "s3cret" not in repr(AppRoleLogin("role", "s3cret"))


def test_crosswalk_setup_enables_kubernetes_auth_only_when_given_a_namespace() -> None:
    import argparse

    from pixelguard.cli import crosswalk
    from pixelguard.keyservice.vault_setup import KubernetesAuth

    parser = argparse.ArgumentParser()
    crosswalk.register(parser.add_subparsers())
    plain = parser.parse_args(["crosswalk", "setup"])
    assert crosswalk.kubernetes_auth(plain) is None
    asked = parser.parse_args(["crosswalk", "setup", "--kubernetes-namespace", "site1"])
    assert crosswalk.kubernetes_auth(asked) == KubernetesAuth(namespace="site1")
    assert KubernetesAuth().service_account == "pixelguard-worker"  # deploy/k8s/base/serviceaccounts.yaml
