"""The local Apache Kafka broker behaves like Kafka: exact round trips, and data that outlives a restart.

These run against a real broker (tests/fixtures/kafka.py); the streaming pipeline's delivery promises
rest on exactly these behaviours, so they are checked here first, without any stand-in.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from pixelguard.services.base import ServiceError, free_port
from pixelguard.services.kafka import KafkaService, install_kafka_jars, installed

Headers = list[tuple[str, bytes]]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _expected(n: int, run: str) -> list[tuple[bytes, bytes, Headers]]:
    return [(f"study-{i:04d}".encode(),
             json.dumps({"seq": i, "run": run, "payload": "x" * (i % 17)}).encode(),
             [("seq", str(i).encode()), ("source", b"pixelguard-test"), ("empty", b"")])
            for i in range(n)]


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, Headers]],
             partition: int | None = None) -> None:
    """Idempotent producer, and every delivery report must be a success: no silent loss."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5})
    errors: list[KafkaError] = []
    delivered: list[Message] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err)
        else:
            delivered.append(msg)

    for key, value, headers in records:
        kwargs = {} if partition is None else {"partition": partition}
        producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery, **kwargs)
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still queued after 30 s"
    assert errors == []
    assert len(delivered) == len(records)


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000,
                     "isolation.level": "read_committed"})


def _consume(consumer: Consumer, count: int, timeout: float = 60.0) -> list[Message]:
    """Exactly ``count`` messages, then a short extra poll to catch any unexpected extra (duplicate)."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append(msg)
    assert len(got) == count, f"got {len(got)} of {count} messages in {timeout} s"
    extra = consumer.poll(1.0)
    assert extra is None or extra.error() is not None, f"unexpected extra message at offset {extra.offset()}"
    return got


def _as_records(messages: list[Message]) -> list[tuple[bytes, bytes, Headers]]:
    return [(m.key(), m.value(), [(k, v if v is not None else b"") for k, v in (m.headers() or [])])
            for m in messages]


def test_idempotent_produce_then_group_consume_round_trips_exactly(kafka: KafkaService) -> None:
    topic = _unique("roundtrip")
    kafka.create_topics([topic], partitions=3)
    records = _expected(300, topic)
    _produce(kafka.bootstrap, topic, records)

    group = _unique("group")
    consumer = _consumer(kafka.bootstrap, group)
    try:
        consumer.subscribe([topic])
        messages = _consume(consumer, len(records))
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    finally:
        consumer.close()

    # Same multiset of (key, value, headers): nothing lost, nothing repeated, nothing altered.
    assert sorted(_as_records(messages)) == sorted(records)
    # Per partition the producer's order holds (idempotence keeps it even across internal retries).
    by_partition: dict[int, list[Message]] = {}
    for m in messages:
        by_partition.setdefault(m.partition(), []).append(m)
    assert len(by_partition) > 1, "keys should spread over the topic's partitions"
    for partition_messages in by_partition.values():
        offsets = [m.offset() for m in partition_messages]
        seqs = [int(dict(m.headers())["seq"]) for m in partition_messages]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
        assert seqs == sorted(seqs)
    # The group's committed position is the end of each partition.
    ends = {p: len(ms) for p, ms in by_partition.items()}
    assert {tp.partition: tp.offset for tp in committed if tp.offset >= 0} == ends


def test_stop_and_start_keep_messages_and_committed_offsets(
        kafka_factory: Callable[[], KafkaService]) -> None:
    broker = kafka_factory()
    topic = _unique("durable")
    broker.create_topics([topic], partitions=1)
    records = _expected(100, topic)
    _produce(broker.bootstrap, topic, records, partition=0)

    # The group reads and commits the first 40 only; the rest must still be owed to it after the restart.
    group = _unique("group")
    consumer = _consumer(broker.bootstrap, group)
    try:
        consumer.subscribe([topic])
        first = _consume_first(consumer, 40)
        consumer.commit(message=first[-1], asynchronous=False)
    finally:
        consumer.close()
    assert _as_records(first) == records[:40]

    cluster_id = broker.cluster_id
    broker.stop()
    assert broker.process.running_pid() is None
    assert not broker.healthy()
    broker.start()
    assert broker.cluster_id == cluster_id, "restart must reuse the formatted data dir, not re-format it"

    # A new group sees the whole log, byte for byte, in order.
    fresh = _consumer(broker.bootstrap, _unique("fresh"))
    try:
        fresh.subscribe([topic])
        assert _as_records(_consume(fresh, 100)) == records
    finally:
        fresh.close()

    # The original group resumes exactly after its committed offset.
    resumed = _consumer(broker.bootstrap, group)
    try:
        resumed.subscribe([topic])
        rest = _consume(resumed, 60)
        resumed.commit(message=rest[-1], asynchronous=False)
    finally:
        resumed.close()
    assert _as_records(rest) == records[40:]
    assert rest[0].offset() == 40

    # And the restarted broker takes idempotent writes again (new producer id, same log).
    more = _expected(110, topic)[100:]
    _produce(broker.bootstrap, topic, more, partition=0)
    tail = _consumer(broker.bootstrap, group)
    try:
        tail.subscribe([topic])
        assert _as_records(_consume(tail, 10)) == more
    finally:
        tail.close()


def _consume_first(consumer: Consumer, count: int, timeout: float = 60.0) -> list[Message]:
    """The first ``count`` messages (more may be fetched; only these are committed by the caller)."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None:
            assert msg.error() is None, msg.error()
            got.append(msg)
    assert len(got) == count
    return got


def test_auto_topic_creation_is_off(kafka: KafkaService) -> None:
    """Streaming topics must be created explicitly (Faust crash-loops on auto-created partition counts)."""
    topic = _unique("never-created")
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "message.timeout.ms": 3000})
    errors: list[KafkaError] = []
    producer.produce(topic, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(10)
    assert len(errors) == 1 and errors[0] is not None
    assert topic not in kafka.admin().list_topics(timeout=5).topics


def test_create_topics_is_idempotent(kafka: KafkaService) -> None:
    topic = _unique("twice")
    kafka.create_topics([topic], partitions=2, config={"retention.ms": "3600000"})
    kafka.create_topics([topic], partitions=5)  # already exists: tolerated, not changed
    metadata = kafka.admin().list_topics(topic, timeout=5)
    assert len(metadata.topics[topic].partitions) == 2


def test_second_install_needs_no_maven(kafka: KafkaService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the jars are cached, install() neither runs Maven nor touches the network."""
    assert installed()
    monkeypatch.setenv("PATH", "/nonexistent")
    install_kafka_jars()  # would raise ServiceError("`mvn` is not on PATH") if it tried to resolve


def test_missing_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    service = KafkaService(port=free_port(), controller_port=free_port(), state_dir=tmp_path)
    with pytest.raises(ServiceError, match="no `java` on PATH"):
        service.start()
    assert service.process.running_pid() is None
