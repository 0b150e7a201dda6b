"""Read whole topics (read_committed, beginning to end): what review, job status, trace and tests use."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pixelguard.telemetry.tracing import headers_dict

from .events import ObjectEvent, PoisonEvent
from .topics import located


@dataclass(frozen=True)
class Read:
    topic: str
    partition: int
    offset: int
    headers: dict[str, str]
    event: ObjectEvent | None  # None: not an event of ours (poison), kept so counts stay honest
    timestamp_ms: int = 0


def scan(bootstrap: str, topics: list[str], timeout_s: float = 60.0) -> Iterator[Read]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"pixelguard-reader-{uuid.uuid4().hex[:8]}",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        meta = consumer.list_topics(timeout=timeout_s).topics
        tps = [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics if t in meta for p in meta[t].partitions]
        if not tps:
            return
        consumer.assign(tps)
        remaining = {(tp.topic, tp.partition) for tp in tps}
        deadline = time.monotonic() + timeout_s
        while remaining:
            # consume() waits until it has num_messages or its timeout passes, so a short poll keeps
            # reading a small topic from costing the whole timeout; the deadline bounds the wait.
            batch = consumer.consume(num_messages=500, timeout=0.2)
            if not batch:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer from Kafka within {timeout_s:.0f}s while reading {topics}")
                continue
            deadline = time.monotonic() + timeout_s
            for msg in batch:
                topic, partition, offset = located(msg)
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard((topic, partition))
                    continue
                headers = headers_dict(msg.headers())
                try:
                    event: ObjectEvent | None = ObjectEvent.from_bytes(msg.value())
                except PoisonEvent:
                    event = None
                yield Read(topic, partition, offset, headers, event, msg.timestamp()[1])
    finally:
        consumer.close()
