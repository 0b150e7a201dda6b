"""The policy every pod of deploy/k8s keeps, checked on the built objects of each overlay.

Every container: requests and limits for CPU and memory, liveness and readiness probes (init containers
excepted: Kubernetes allows none there), non-root, no privilege escalation, ALL capabilities dropped, a
read-only root filesystem, seccomp RuntimeDefault; no hostPath, no host namespaces; images pinned by tag.
Strimzi's pods are made by its operator from the Kafka resource, so its security settings are checked there.
"""
from __future__ import annotations

from typing import Any

import pytest

from .k8s import OVERLAYS, build, config, named, of_kind

# Every Deployment of the pipeline: a new one must be added here (and so pass every check below).
DEPLOYMENTS = {"pixelguard-worker", "pixelguard-triton", "pixelguard-api", "pixelguard-deliver"}
# The one Secret a pod may read, and where: the job store's URL (it holds the database password) and the
# API's signing key, both made by the operator, never in these manifests (deploy/k8s/README.md, "The API").
SECRET_REFS = {("pixelguard-api", "api", "PIXELGUARD_DATABASE_URL"): ("pixelguard-api-db", "url")}
SECRET_VOLUMES = {"pixelguard-api": {"pixelguard-api-keys"}}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def _pods(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    objects = build(overlay)
    return [(o["metadata"]["name"], o["spec"]["template"]["spec"])
            for kind in WORKLOADS for o in of_kind(objects, kind)]


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_limits_and_probes(overlay: str) -> None:
    assert {name for name, _ in _pods(overlay)} == DEPLOYMENTS
    for name, spec in _pods(overlay):
        for c in _containers(spec):
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c.get("resources", {}).get(bound, {})), (name, c["name"], bound)
        for c in spec["containers"]:
            assert "livenessProbe" in c and "readinessProbe" in c, (name, c["name"])
            # HTTP probes on a named port the container declares: a TCP or exec probe says less.
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                assert c[probe]["httpGet"]["port"] in ports, (name, c["name"], probe)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_unprivileged(overlay: str) -> None:
    for name, spec in _pods(overlay):
        pod = spec.get("securityContext", {})
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert not any(spec.get(h) for h in ("hostNetwork", "hostPID", "hostIPC")), name
        assert not any("hostPath" in v for v in spec.get("volumes", [])), name
        for c in _containers(spec):
            sc = c.get("securityContext", {})
            assert (sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True
                    and sc.get("runAsUser", pod.get("runAsUser", 0)) != 0), (name, c["name"])
            assert sc.get("privileged") is not True and sc.get("allowPrivilegeEscalation") is False, (name, c["name"])
            assert sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add")
            assert sc.get("readOnlyRootFilesystem") is True, (name, c["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned_by_tag(overlay: str) -> None:
    for name, spec in _pods(overlay):
        for c in _containers(spec):
            image = c["image"]
            repo, _, tag = image.rpartition(":")
            assert "@sha256:" in image or (repo and "/" not in tag and tag not in ("", "latest")), (name, image)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_workers_liveness_is_the_stuck_consumer_check(overlay: str) -> None:
    objects = build(overlay)
    settings = config(objects)
    worker = named(objects, "Deployment", "pixelguard-worker")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    # agents/app.py serves the verdict of agents/liveness.py on the health port, bound where the kubelet
    # reaches it.
    assert worker["livenessProbe"]["httpGet"] == {"path": "/live", "port": "health"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
    assert ports["health"] == int(settings["PIXELGUARD_WEB_PORT"]) and settings["PIXELGUARD_WEB_HOST"] == "0.0.0.0"
    assert ports["metrics"] == int(settings["PIXELGUARD_METRICS_PORT"])
    # The probe gives up after the stall window, not before: a slow object is not a stuck worker.
    assert float(settings["PIXELGUARD_LIVENESS_STALL_S"]) >= 300


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_vault_is_reached_with_kubernetes_auth_and_no_secret_in_the_environment(overlay: str) -> None:
    objects = build(overlay)
    settings = config(objects)
    assert settings["PIXELGUARD_VAULT_KUBERNETES_ROLE"] and settings["PIXELGUARD_VAULT_ADDR"]
    assert not of_kind(objects, "Secret")
    for name, spec in _pods(overlay):
        mounted = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        assert mounted == SECRET_VOLUMES.get(name, set()), name
        for c in _containers(spec):
            names = {e["name"] for e in c.get("env", [])} | set(settings)
            assert not names & {"PIXELGUARD_VAULT_TOKEN", "PIXELGUARD_VAULT_SECRET_ID", "VAULT_TOKEN",
                                "PIXELGUARD_VAULT_ROLE_ID", "PIXELGUARD_VAULT_SECRET_ID_FILE"}, name
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})}
            assert {(name, c["name"], env): (r["name"], r["key"]) for env, r in refs.items()} == {
                key: value for key, value in SECRET_REFS.items() if key[:2] == (name, c["name"])}, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_denies_by_default(overlay: str) -> None:
    deny = named(build(overlay), "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_triton_runs_on_a_gpu_only_in_the_gpu_overlay() -> None:
    def triton(overlay: str) -> dict[str, Any]:
        spec: dict[str, Any] = named(build(overlay), "Deployment", "pixelguard-triton")["spec"]["template"]["spec"]
        return spec

    dev, gpu = triton("dev"), triton("gpu")
    assert "nvidia.com/gpu" not in dev["containers"][0]["resources"]["limits"]
    assert "--model-config-name=gpu" not in dev["containers"][0]["args"]
    container = gpu["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
    assert "--model-config-name=gpu" in container["args"]
    mounted = {m["mountPath"]: m["subPath"] for m in container["volumeMounts"] if m["name"] == "gpu-configs"}
    assert mounted == {f"/opt/pixelguard/deploy/triton/models/{m}/configs/gpu.pbtxt": f"{m}.pbtxt"
                       for m in ("text_detector", "angle_classifier", "text_recognizer")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_probes_its_health_routes_behind_single_sign_on(overlay: str) -> None:
    objects = build(overlay)
    settings = config(objects)
    api = named(objects, "Deployment", "pixelguard-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["command"] == ["pixelguard", "api"]
    args = api["args"]
    port = int(args[args.index("--port") + 1])
    assert args[args.index("--host") + 1] == "0.0.0.0" and {p["containerPort"] for p in api["ports"]} == {port}
    # pixelguard/api/routes/health.py: unauthenticated, /readyz asks the job store.
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Beyond loopback the API refuses to start without an issuer (api/auth.py check_bind): the Keycloak the
    # chart installs, its realm.
    assert settings["PIXELGUARD_OIDC_ISSUER"].startswith("http://keycloak-http.pixelguard.svc/realms/")
    assert settings["PIXELGUARD_OIDC_AUDIENCE"]
    env = {e["name"]: e for e in api["env"]}
    assert env["PIXELGUARD_VAULT_ADDR"]["value"] == ""  # ApiContext.build refuses OpenBao
    assert "secretKeyRef" in env["PIXELGUARD_DATABASE_URL"]["valueFrom"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deliver_serves_the_workers_liveness_on_its_health_port(overlay: str) -> None:
    objects = build(overlay)
    deliver = named(objects, "Deployment", "pixelguard-deliver")["spec"]["template"]["spec"]["containers"][0]
    args = deliver["args"]
    ports = {p["name"]: p["containerPort"] for p in deliver["ports"]}
    assert ports["health"] == int(args[args.index("--health-port") + 1])
    assert config(objects)["PIXELGUARD_WEB_HOST"] == "0.0.0.0"  # where --health-port binds
    assert deliver["livenessProbe"]["httpGet"] == {"path": "/live", "port": "health"}
    assert deliver["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
