"""The Helm values files (deploy/k8s/helm) parse and keep the choices the manifests depend on.

No chart is rendered here (that needs the charts from their repositories); these pin what the rest of
deploy/k8s assumes: OpenBao can review service account tokens, no agent injector, non-root pods, pinned
images, and no secret in the values.
"""
from __future__ import annotations

from typing import Any

import yaml

from pixelguard.services.paths import REPO_ROOT

HELM = REPO_ROOT / "deploy" / "k8s" / "helm"


def _values(name: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((HELM / name).read_text())
    return values


def test_openbao_can_serve_kubernetes_auth_to_non_root_workers() -> None:
    values = _values("openbao-values.yaml")
    server = values["server"]
    assert server["authDelegator"]["enabled"] is True  # TokenReview for Kubernetes auth
    assert values["injector"]["enabled"] is False
    assert server["image"]["tag"] not in ("", "latest")
    pod = server["statefulSet"]["securityContext"]["pod"]
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert server["statefulSet"]["securityContext"]["container"]["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(server["resources"])
    assert server["ha"]["raft"]["enabled"] is True and server["ha"]["replicas"] == 3


def test_keycloak_is_pinned_non_root_and_holds_no_password() -> None:
    values = _values("keycloak-values.yaml")
    assert values["image"]["tag"] not in ("", "latest")
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert values["database"]["existingSecret"] and "password" not in values["database"]
    assert {"requests", "limits"} <= set(values["resources"])
    # The API's issuer (base/config.yaml) and the NetworkPolicies name Keycloak by these fixed names.
    assert values["fullnameOverride"] == values["nameOverride"] == "keycloak"
