"""The topic catalogue: every topic PixelGuard uses, created explicitly before any worker starts.

Names are ``<prefix>.<name>`` (prefix from ``PIXELGUARD_TOPIC_PREFIX``, default ``pixelguard``). The
crosswalk topic is compacted (latest entry per key wins, entries live forever); the others are plain logs.

The stage topics (``ingest`` .. ``errors``) share one partition count (``PIXELGUARD_PARTITIONS``, default
4): events are keyed by the (remapped) StudyInstanceUID, and the route hop writes each final event to the
partition number its input came from, so a study stays on one partition number from ingest to its final
topic, and a route worker that takes over a partition knows which final partitions hold its history.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka.admin import AdminClient, NewTopic


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 4
    config: dict[str, str] = field(default_factory=dict)


# Stage topics in pipeline order; ``routing`` is the route hop's input: redact's results and the failures of
# earlier stages, not yet final (only the route hop writes the final topics, in Kafka transactions).
STAGE_TOPICS = ("ingest", "parsed", "scrubbed", "routing", "clean", "review", "errors")
FINAL_TOPICS = ("clean", "review", "errors")

CATALOGUE = {
    "ingest": TopicSpec("ingest"),
    "parsed": TopicSpec("parsed"),
    "scrubbed": TopicSpec("scrubbed"),
    "routing": TopicSpec("routing"),
    "clean": TopicSpec("clean"),
    "review": TopicSpec("review"),
    "errors": TopicSpec("errors"),
    "audit": TopicSpec("audit", partitions=1),
    "crosswalk": TopicSpec("crosswalk", partitions=4,
                           config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}),
}


def prefix() -> str:
    from pixelguard.settings import Settings

    return Settings.from_env().prefix


def topic_name(key: str, topic_prefix: str | None = None) -> str:
    return f"{topic_prefix or prefix()}.{CATALOGUE[key].name}"


def stage_partitions() -> int:
    from pixelguard.settings import Settings

    return Settings.from_env().partitions


def catalogue(partitions: int | None = None) -> dict[str, TopicSpec]:
    """The catalogue with the stage topics at ``partitions`` (one count for all of them, see above)."""
    count = partitions or stage_partitions()
    return {key: replace(spec, partitions=count) if key in STAGE_TOPICS else spec
            for key, spec in CATALOGUE.items()}


def ensure_topics(bootstrap: str, topic_prefix: str | None = None, partitions: int | None = None,
                  timeout: float = 30.0) -> dict[str, TopicSpec]:
    """Create every catalogue topic that is missing; fail if an existing stage topic has other partitions.

    Returns the catalogue keyed by full topic name. Run before any worker starts (``pixelguard worker``
    and ``pixelguard submit`` both call it): Faust crash-loops on a topic auto-created with other counts.
    """
    specs = {topic_name(key, topic_prefix): spec for key, spec in catalogue(partitions).items()}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=timeout).topics
    missing = [NewTopic(name, num_partitions=spec.partitions, replication_factor=1, config=dict(spec.config))
               for name, spec in specs.items() if name not in existing]
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=timeout,
                                                request_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
            except KafkaException as err:
                if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"creating topic {name} failed: {err.args[0].str()}") from None
    _wait_for_leaders(admin, specs, timeout)
    return specs


def _wait_for_leaders(admin: AdminClient, specs: dict[str, TopicSpec], timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        problems = []
        for name, spec in specs.items():
            meta = topics.get(name)
            if meta is None or meta.error is not None or not meta.partitions or \
                    any(p.leader < 0 for p in meta.partitions.values()):
                problems.append(f"{name}: no leader yet")
            elif len(meta.partitions) != spec.partitions:
                raise RuntimeError(f"topic {name} has {len(meta.partitions)} partitions; the catalogue says "
                                   f"{spec.partitions} (set PIXELGUARD_PARTITIONS to match or use a new prefix)")
        if not problems:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("topics not ready: " + "; ".join(problems[:3]))
        time.sleep(0.1)


def located(msg: Message) -> tuple[str, int, int]:
    """A consumed record's topic, partition and offset.

    confluent-kafka types the three as optional (a produced message has no offset yet); a record a
    consumer returned has all three.
    """
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset
