"""deploy/k8s builds with kustomize and every object is valid for the Kubernetes API, offline.

kubernetes-validate bundles the built-in API's schemas; it has none for custom resources, so the Strimzi and
KEDA kinds are skipped by name, and the list of skipped kinds is asserted exactly: a new kind without a
schema fails here instead of going unchecked. Their content is checked by tests/deploy/test_k8s_topics.py.
No cluster runs here: what a cluster would refuse at admission beyond its schema is not covered.
"""
from __future__ import annotations

import pytest
from kubernetes_validate import SchemaNotFoundError, validate

from .k8s import OVERLAYS, build

# The range of Kubernetes releases the manifests are meant for (Strimzi 0.47 needs 1.25+, KEDA 2.17 1.30+).
KUBERNETES = ("1.31.0", "1.37.0")
CUSTOM_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "ScaledObject"}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES)
def test_every_built_object_validates_against_the_api_schema(overlay: str, version: str) -> None:
    skipped = set()
    for obj in build(overlay):
        try:
            validate(obj, version, strict=True)
        except SchemaNotFoundError:
            skipped.add(obj["kind"])
    assert skipped == CUSTOM_KINDS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_has_the_pieces_the_deployment_needs(overlay: str) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in build(overlay)}
    assert {("Deployment", "pixelguard-worker"), ("Deployment", "pixelguard-triton"),
            ("Kafka", "pixelguard"), ("KafkaNodePool", "combined"), ("ScaledObject", "pixelguard-worker"),
            ("PodDisruptionBudget", "pixelguard-worker"), ("PodDisruptionBudget", "pixelguard-triton"),
            ("NetworkPolicy", "default-deny"), ("ConfigMap", "pixelguard-config"),
            ("Deployment", "pixelguard-api"), ("Service", "pixelguard-api"), ("PodDisruptionBudget", "pixelguard-api"),
            ("NetworkPolicy", "api"), ("Deployment", "pixelguard-deliver"), ("ScaledObject", "pixelguard-deliver"),
            ("PodDisruptionBudget", "pixelguard-deliver"), ("NetworkPolicy", "deliver-egress")} <= kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_lands_in_the_pixelguard_namespace(overlay: str) -> None:
    for obj in build(overlay):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "pixelguard", obj["metadata"]["name"]
