"""The Kafka side of deploy/k8s agrees with the code: topics, partitions, consumer groups.

Checked against streams/topics.py and pixelguard/settings.py directly (not against generate.py's output), per
overlay, so an overlay that patches one count and not the other fails here.
"""
from __future__ import annotations

import pytest

from pixelguard.settings import Settings
from streams.topics import catalogue, topic_name

from .k8s import OVERLAYS, WITH_PENDING, build, config, named, of_kind


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_kafkatopic_for_every_catalogue_topic_with_its_partitions_and_config(overlay: str) -> None:
    objects = build(overlay)
    settings = Settings.from_env(config(objects))
    nodes = named(objects, "KafkaNodePool", "combined")["spec"]["replicas"]
    built = {t["spec"]["topicName"]: t for t in of_kind(objects, "KafkaTopic")}
    wanted = {topic_name(key, settings.prefix): spec for key, spec in catalogue(settings.partitions).items()}
    assert set(built) == set(wanted)
    for name, spec in wanted.items():
        topic = built[name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "pixelguard"
        assert topic["spec"]["partitions"] == spec.partitions, name
        assert topic["spec"].get("config", {}) == spec.config, name
        assert 1 <= topic["spec"]["replicas"] <= nodes, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_runs_kraft_with_a_node_pool(overlay: str) -> None:
    objects = build(overlay)
    kafka = named(objects, "Kafka", "pixelguard")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["metadata"]["annotations"] == {"strimzi.io/kraft": "enabled", "strimzi.io/node-pools": "enabled"}
    assert "zookeeper" not in kafka["spec"]
    pool = named(objects, "KafkaNodePool", "combined")
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "pixelguard"
    # A transactional route hop needs the transaction log's ISR to be reachable with the nodes there are.
    cfg = kafka["spec"]["kafka"]["config"]
    assert cfg["transaction.state.log.min.isr"] <= cfg["transaction.state.log.replication.factor"] \
        <= pool["spec"]["replicas"]
    bootstrap = config(objects)["PIXELGUARD_KAFKA_BOOTSTRAP"]
    assert bootstrap == f"{kafka['metadata']['name']}-kafka-bootstrap:{kafka['spec']['kafka']['listeners'][0]['port']}"


@pytest.mark.parametrize("overlay", (*OVERLAYS, WITH_PENDING))
def test_keda_scales_the_worker_on_the_lag_of_both_of_its_groups(overlay: str) -> None:
    objects = build(overlay)
    settings = Settings.from_env(config(objects))
    scaled = named(objects, "ScaledObject", "pixelguard-worker")["spec"]
    assert scaled["scaleTargetRef"] == {"name": "pixelguard-worker"}
    triggers = {t["metadata"]["consumerGroup"]: t["metadata"] for t in scaled["triggers"]}
    assert all(t["type"] == "kafka" for t in scaled["triggers"])
    # The group ids the code forms: Faust's app id and the route hop's group (agents/route.py).
    assert set(triggers) == {settings.app_id, f"{settings.prefix}.route"}
    assert triggers[f"{settings.prefix}.route"]["topic"] == topic_name("routing", settings.prefix)
    assert all(t["bootstrapServers"] == settings.bootstrap for t in triggers.values())
    # More workers than partitions get nothing to do.
    assert scaled["minReplicaCount"] >= 1 and scaled["maxReplicaCount"] <= settings.partitions
    topics = {t["spec"]["topicName"] for t in of_kind(objects, "KafkaTopic")}
    assert all(t.get("topic", topic_name("ingest", settings.prefix)) in topics for t in triggers.values())


def test_the_pending_deliver_consumer_scales_on_the_clean_topic() -> None:
    objects = build(WITH_PENDING)
    settings = Settings.from_env(config(objects))
    trigger = named(objects, "ScaledObject", "pixelguard-deliver")["spec"]["triggers"][0]["metadata"]
    assert trigger["topic"] == topic_name("clean", settings.prefix)
    assert trigger["bootstrapServers"] == settings.bootstrap
