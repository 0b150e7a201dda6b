"""The Kafka side of deploy/k8s agrees with the code: topics, partitions, consumer groups.

Checked against streams/topics.py and pixelguard/settings.py directly (not against generate.py's output), per
overlay, so an overlay that patches one count and not the other fails here.
"""
from __future__ import annotations

import pytest

from pixelguard.settings import Settings
from streams.deliver import group_for
from streams.dicomweb import parse
from streams.topics import catalogue, topic_name

from .k8s import OVERLAYS, build, config, named, of_kind


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


@pytest.mark.parametrize("overlay", OVERLAYS)
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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_deliver_on_the_lag_of_the_group_its_target_gives_it(overlay: str) -> None:
    objects = build(overlay)
    data = config(objects)
    settings = Settings.from_env(data)
    scaled = named(objects, "ScaledObject", "pixelguard-deliver")["spec"]
    assert scaled["scaleTargetRef"] == {"name": "pixelguard-deliver"}
    [trigger] = scaled["triggers"]
    # The group `pixelguard deliver` joins for the configured target (pixelguard/cli/deliver.py normalises
    # the URL, streams/deliver.py hashes it): a KEDA trigger on any other group reads a lag nobody makes.
    target = parse(data["PIXELGUARD_DELIVER_TARGET"], need_study=False)
    group = group_for(settings.prefix, target.uri())
    assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"] == group, (
        f"scaling.yaml's deliver trigger must name consumerGroup {group} for {target.uri()}")
    assert trigger["metadata"]["topic"] == topic_name("clean", settings.prefix)
    assert trigger["metadata"]["bootstrapServers"] == settings.bootstrap
    assert scaled["minReplicaCount"] >= 1 and scaled["maxReplicaCount"] <= settings.partitions
    # The Deployment runs deliver on that very target.
    deliver = named(objects, "Deployment", "pixelguard-deliver")["spec"]["template"]["spec"]["containers"][0]
    assert deliver["command"] == ["pixelguard", "deliver"]
    assert deliver["args"][0] == "$(PIXELGUARD_DELIVER_TARGET)"
