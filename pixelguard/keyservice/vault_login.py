"""How a process proves who it is to Vault / OpenBao when it holds no token: AppRole or Kubernetes auth.

A :class:`~pixelguard.keyservice.vault.VaultSession` calls its login at start and again when its token
lapses (a 403 on a call), so each login reads its credential afresh: a Kubernetes service account token is
a projected file the kubelet rewrites before it expires (hourly by default), and a token read once at start
would be refused an hour later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import hvac

# Where the kubelet projects a pod's service account token unless the pod spec says otherwise.
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class VaultLogin(Protocol):
    """One auth method's login: returns Vault's answer, whose ``auth.client_token`` the session adopts."""

    @property
    def what(self) -> str: ...  # names the login in errors: "Kubernetes login: ..."

    def __call__(self, client: hvac.Client) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AppRoleLogin:
    role_id: str
    secret_id: str = field(repr=False)
    mount: str = "approle"
    what: str = "AppRole login"

    def __call__(self, client: hvac.Client) -> dict[str, Any]:
        result: dict[str, Any] = client.auth.approle.login(role_id=self.role_id, secret_id=self.secret_id,
                                                           use_token=False, mount_point=self.mount)
        return result


@dataclass(frozen=True)
class KubernetesLogin:
    """Vault's Kubernetes auth method: the pod's service account token, checked by Vault with a TokenReview."""

    role: str
    token_file: str = SERVICE_ACCOUNT_TOKEN
    mount: str = "kubernetes"
    what: str = "Kubernetes login"

    def jwt(self) -> str:
        try:
            return Path(self.token_file).read_text().strip()
        except OSError as err:
            from .vault import VaultError

            # The path only: the file's content is a credential.
            raise VaultError(f"{self.what}: cannot read the service account token at {self.token_file} "
                             f"({err.__class__.__name__}); is automountServiceAccountToken off, or the "
                             "projected volume missing?") from None

    def __call__(self, client: hvac.Client) -> dict[str, Any]:
        result: dict[str, Any] = client.auth.kubernetes.login(role=self.role, jwt=self.jwt(), use_token=False,
                                                              mount_point=self.mount)
        return result


__all__ = ["AppRoleLogin", "KubernetesLogin", "SERVICE_ACCOUNT_TOKEN", "VaultLogin"]
