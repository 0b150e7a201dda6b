"""Idempotent Vault / OpenBao setup for PixelGuard: transit keys, the wrapped HMAC data key, policies, AppRole,
and (for workers in Kubernetes pods) the Kubernetes auth method and the worker's role in it.

Run with an operator token (root on a fresh local server). Every step tolerates what an earlier run left,
so ``pixelguard crosswalk setup`` and the tests can call it on every start. The policies are files under
``deploy/local/openbao/`` with ``${...}`` placeholders filled from a :class:`VaultLayout`, so an operator
can read exactly what each role may do.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from string import Template

import hvac
import hvac.exceptions

from pixelguard.data import OPENBAO_POLICIES

from .vault import VaultLayout

POLICY_DIR = OPENBAO_POLICIES  # deploy/local/openbao in a checkout
ROLES = ("worker", "reidentifier", "admin")


@dataclass(frozen=True)
class SetupResult:
    role_id: str  # AppRole role id for workers (not a secret on its own; the secret id is)
    policies: dict[str, str]  # role -> policy name


def render_policy(role: str, layout: VaultLayout) -> str:
    text = (POLICY_DIR / f"{role}.hcl").read_text()
    return Template(text).substitute(transit=layout.transit_mount, kv=layout.kv_mount,
                                     crosswalk_key=layout.crosswalk_key, datakey_key=layout.datakey_key,
                                     datakey_path=layout.datakey_path)


def _enable(client: hvac.Client, kind: str, path: str, **options: object) -> None:
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    if f"{path}/" in mounts:
        return
    try:
        client.sys.enable_secrets_engine(backend_type=kind, path=path, **options)
    except hvac.exceptions.InvalidRequest as err:
        if "already in use" not in str(err):
            raise


def _enable_auth(client: hvac.Client, kind: str, path: str) -> None:
    if f"{path}/" in client.sys.list_auth_methods()["data"]:
        return
    try:
        client.sys.enable_auth_method(method_type=kind, path=path)
    except hvac.exceptions.InvalidRequest as err:
        if "already in use" not in str(err):
            raise


def _ensure_data_key(client: hvac.Client, layout: VaultLayout, timeout: float = 30.0) -> None:
    """Create the wrapped HMAC data key once. ``cas=0`` makes two racing setups agree on one key."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.secrets.kv.v2.read_secret_version(path=layout.datakey_path, mount_point=layout.kv_mount,
                                                     raise_on_deleted_version=True)
            return
        except hvac.exceptions.InvalidPath:
            break  # no key yet
        except hvac.exceptions.InvalidRequest:
            # A KV v2 mount answers "upgrading" for a moment after it is enabled.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    wrapped = client.secrets.transit.generate_data_key(
        name=layout.datakey_key, key_type="wrapped", bits=256, mount_point=layout.transit_mount)
    try:
        client.secrets.kv.v2.create_or_update_secret(path=layout.datakey_path,
                                                     secret={"ciphertext": wrapped["data"]["ciphertext"]},
                                                     cas=0, mount_point=layout.kv_mount)
    except hvac.exceptions.InvalidRequest as err:
        if "check-and-set" not in str(err):
            raise  # anything but "someone else stored it first"


def setup_vault(client: hvac.Client, layout: VaultLayout | None = None, *, token_ttl: str = "1h",
                token_max_ttl: str = "24h") -> SetupResult:
    layout = layout or VaultLayout()
    _enable(client, "transit", layout.transit_mount)
    for name in (layout.crosswalk_key, layout.datakey_key):
        # Creating an existing key is a no-op server-side; not exportable, deletion not allowed (defaults).
        client.secrets.transit.create_key(name=name, key_type="aes256-gcm96", mount_point=layout.transit_mount)
    _enable(client, "kv", layout.kv_mount, options={"version": "2"})
    _ensure_data_key(client, layout)

    policies = {"worker": layout.worker_policy, "reidentifier": layout.reidentifier_policy,
                "admin": layout.admin_policy}
    for role, name in policies.items():
        client.sys.create_or_update_policy(name=name, policy=render_policy(role, layout))

    _enable_auth(client, "approle", layout.approle_mount)
    client.auth.approle.create_or_update_approle(
        role_name=layout.worker_role, token_policies=[layout.worker_policy], token_ttl=token_ttl,
        token_max_ttl=token_max_ttl, bind_secret_id=True, mount_point=layout.approle_mount)
    role_id = client.auth.approle.read_role_id(role_name=layout.worker_role,
                                               mount_point=layout.approle_mount)["data"]["role_id"]
    return SetupResult(role_id=role_id, policies=policies)


@dataclass(frozen=True)
class KubernetesAuth:
    """Who may log in as a worker through Kubernetes auth: one service account in one namespace, presenting a
    token for one audience (deploy/k8s/base/worker.yaml projects it for "openbao")."""

    host: str = "https://kubernetes.default.svc"  # where OpenBao sends its TokenReview: the in-cluster API
    namespace: str = "pixelguard"
    service_account: str = "pixelguard-worker"
    audience: str = "openbao"
    mount: str = "kubernetes"
    # The API server's CA (PEM). Empty: OpenBao in a pod reads its own service account's CA file; outside a
    # pod it has none and refuses the config.
    ca_cert: str = ""


def setup_kubernetes_auth(client: hvac.Client, layout: VaultLayout | None = None,
                          auth: KubernetesAuth | None = None, *, token_ttl: str = "1h",
                          token_max_ttl: str = "24h") -> str:
    """Enable Kubernetes auth and bind the worker role (the worker policy of :func:`setup_vault`); returns the
    role name. OpenBao running in the cluster reviews tokens with its own service account (the chart's
    ``authDelegator``), so no reviewer token is configured here."""
    layout, auth = layout or VaultLayout(), auth or KubernetesAuth()
    _enable_auth(client, "kubernetes", auth.mount)
    client.auth.kubernetes.configure(kubernetes_host=auth.host, kubernetes_ca_cert=auth.ca_cert or None,
                                     mount_point=auth.mount)
    # Written directly: hvac's create_role sends the pre-1.x names (policies, ttl), which Vault keeps only as
    # deprecated aliases of the token_* fields every other auth method here uses.
    client.adapter.post(f"/v1/auth/{auth.mount}/role/{layout.worker_role}", json={
        "bound_service_account_names": [auth.service_account],
        "bound_service_account_namespaces": [auth.namespace], "audience": auth.audience,
        "token_policies": [layout.worker_policy], "token_ttl": token_ttl, "token_max_ttl": token_max_ttl})
    return layout.worker_role


def new_worker_secret_id(client: hvac.Client, layout: VaultLayout | None = None) -> str:
    layout = layout or VaultLayout()
    return client.auth.approle.generate_secret_id(role_name=layout.worker_role,
                                                  mount_point=layout.approle_mount)["data"]["secret_id"]


def new_token(client: hvac.Client, policy: str, ttl: str = "1h") -> str:
    """A token holding one PixelGuard policy (plus ``default``, for lookup-self and capability checks)."""
    return client.auth.token.create(policies=[policy], ttl=ttl)["auth"]["client_token"]
