"""The streaming crosswalk: encrypted entries on the compacted ``crosswalk`` topic, apart from all outputs.

One record per (input, job), keyed ``<input_id>|<job_id>`` (both opaque or ours, never PHI), so a retried
object overwrites its own entry and compaction keeps exactly the latest one. The value is JSON::

    {"v": 1, "input_id": "in-…", "job_id": "…", "index": ["<tag>", …], "ct": "vault:v3:…"}

``ct`` is the whole :class:`CrosswalkEntry` (input reference, originals, pseudonyms, output reference)
encrypted by the key service (Vault transit, batch_input). ``index`` holds keyed tags of the entry's
pseudonyms and output name (:func:`index_tag`), not the pseudonyms: a reader of the topic without the key
service cannot even tell which clean object an entry belongs to. ``lookup`` recomputes the tag of the
pseudonym asked for and decrypts only the matching entries.

Writes use an idempotent producer with ``acks=all`` and :meth:`KafkaCrosswalk.append` returns only after
every record is acknowledged, so a runner that writes the crosswalk entry before it publishes to clean
never has a clean object without its entry. A key service that is sealed or down raises before anything
is produced.

Reads scan the topic from the start to the high watermarks (compaction is lazy, so the latest value per
key wins in the scan). That is O(entries) per lookup: fine for a lookup tool and for tens of thousands of
entries; a deployment with millions would keep a tag -> key table (e.g. a Faust table) beside it.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from opentelemetry import trace

from pixelguard.keyservice.base import KeyService
from streams.schemas import described
from streams.topics import located, topic_name

from .base import CrosswalkEntry, index_tag

SCHEMA_VERSION = 1


class CrosswalkError(RuntimeError):
    """The crosswalk store failed; the message names counts and topics, never entry contents."""


@dataclass(frozen=True)
class CrosswalkRecord:
    """The value of one crosswalk topic record: ids and keyed tags in the clear, the entry itself encrypted."""

    input_id: str = field(metadata=described("Opaque id of the input the entry belongs to."))
    job_id: str = field(metadata=described("The job it was processed in."))
    index: list[str] = field(metadata=described(
        "Keyed tags of the entry's pseudonyms and output name (not the pseudonyms): what lookup matches."))
    ct: str = field(metadata=described("The whole entry, encrypted by the key service (e.g. `vault:v3:...`)."))
    v: int = field(default=SCHEMA_VERSION, metadata=described("Schema version (major)."))


@dataclass
class _Record:
    key: str
    value: dict[str, Any]


@dataclass
class RewrapReport:
    total: int  # entries in the topic
    rewrapped: int  # entries moved to the latest key version (the others were already on it)
    latest_version: int
    scan_s: float
    rewrap_s: float
    produce_s: float
    verify_s: float

    @property
    def seconds(self) -> float:
        return self.scan_s + self.rewrap_s + self.produce_s + self.verify_s


def record_key(input_id: str, job_id: str) -> str:
    return f"{input_id}|{job_id}"


class KafkaCrosswalk:
    def __init__(self, bootstrap: str, keys: KeyService, topic: str | None = None, *,
                 tracer: trace.Tracer | None = None, timeout_s: float = 60.0) -> None:
        self.bootstrap = bootstrap
        self.keys = keys
        self.topic = topic or topic_name("crosswalk")
        self.tracer = tracer or trace.get_tracer("pixelguard.crosswalk")
        self.timeout_s = timeout_s
        self._producer: Producer | None = None

    # -- writing -------------------------------------------------------------------------------------
    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,  # retries after a broker hiccup never duplicate or reorder
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
            })
        return self._producer

    def append(self, entries: list[CrosswalkEntry]) -> None:
        if not entries:
            return
        with self.tracer.start_as_current_span("crosswalk.append") as span:
            span.set_attribute("pixelguard.crosswalk.entries", len(entries))
            span.set_attribute("messaging.destination.name", self.topic)
            # Encrypt first: if the key service is sealed or down this raises and nothing is produced.
            tokens = self.keys.encrypt([e.to_plaintext() for e in entries])
            records = [_Record(record_key(e.input_id, e.job_id), asdict(CrosswalkRecord(
                input_id=e.input_id, job_id=e.job_id,
                index=sorted(index_tag(self.keys, t) for t in e.lookup_terms()), ct=token)))
                for e, token in zip(entries, tokens, strict=True)]
            self._produce(records)

    def _produce(self, records: list[_Record]) -> None:
        producer = self._get_producer()
        failures: list[str] = []
        acked = 0

        def delivered(err: KafkaError | None, _msg: object) -> None:
            nonlocal acked
            if err is None:
                acked += 1
            else:
                failures.append(err.name())

        for record in records:
            while True:
                try:
                    producer.produce(self.topic, key=record.key.encode(),
                                     value=json.dumps(record.value, separators=(",", ":")).encode(),
                                     on_delivery=delivered)
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry this record
                    producer.poll(0.1)
            producer.poll(0)
        remaining = producer.flush(self.timeout_s)
        if remaining or failures or acked != len(records):
            raise CrosswalkError(f"{len(records) - acked} of {len(records)} crosswalk entries not acknowledged "
                                 f"by Kafka on {self.topic} ({', '.join(sorted(set(failures))) or 'timeout'})")

    # -- reading -------------------------------------------------------------------------------------
    def _scan(self) -> dict[str, dict[str, Any]]:
        """Latest value per key, read from the beginning up to the high watermarks seen at the start."""
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": f"pixelguard-crosswalk-scan-{uuid.uuid4().hex}",  # assign() only, nothing committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        })
        try:
            metadata = consumer.list_topics(self.topic, timeout=10)
            topic = metadata.topics.get(self.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                raise CrosswalkError(f"crosswalk topic {self.topic} does not exist; create the topic catalogue first")
            pending: dict[int, int] = {}
            for partition in topic.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10)
                if high > low:
                    pending[partition] = high
            latest: dict[str, dict[str, Any]] = {}
            if not pending:
                return latest
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in pending])
            deadline = time.monotonic() + self.timeout_s
            while pending:
                if time.monotonic() > deadline:
                    raise CrosswalkError(f"reading {self.topic} did not reach the end within {self.timeout_s:.0f}s")
                for msg in consumer.consume(num_messages=1000, timeout=0.5):
                    _, partition, offset = located(msg)
                    error = msg.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            pending.pop(partition, None)
                            continue
                        raise CrosswalkError(f"reading {self.topic}: {error.name()}")
                    key = (msg.key() or b"").decode()
                    value = msg.value()
                    if value is None:
                        latest.pop(key, None)  # tombstone
                    else:
                        latest[key] = json.loads(value)
                    if offset >= pending.get(partition, 0) - 1:
                        pending.pop(partition, None)
            return latest
        except KafkaException as err:
            raise CrosswalkError(f"reading {self.topic}: {err.args[0].name()}") from None
        finally:
            consumer.close()

    def _decrypt(self, values: list[dict[str, Any]]) -> list[CrosswalkEntry]:
        plains = self.keys.decrypt([v["ct"] for v in values])
        out = []
        for value, plain in zip(values, plains, strict=True):
            entry = CrosswalkEntry.from_plaintext(plain)
            # The clear ids must match the encrypted ones: a ciphertext copied under another key is refused.
            if (entry.input_id, entry.job_id) != (value["input_id"], value["job_id"]):
                raise CrosswalkError(f"crosswalk record for {value['input_id']} does not match its ciphertext")
            out.append(entry)
        return out

    def count(self, job_id: str | None = None) -> int:
        return sum(1 for v in self._scan().values() if job_id is None or v["job_id"] == job_id)

    def entries(self, job_id: str | None = None) -> Iterator[CrosswalkEntry]:
        with self.tracer.start_as_current_span("crosswalk.export") as span:
            values = [v for v in self._scan().values() if job_id is None or v["job_id"] == job_id]
            span.set_attribute("pixelguard.crosswalk.entries", len(values))
            decrypted = self._decrypt(values) if values else []
        yield from decrypted

    def lookup(self, pseudonym: str) -> list[CrosswalkEntry]:
        with self.tracer.start_as_current_span("crosswalk.lookup") as span:
            tag = index_tag(self.keys, pseudonym.strip())
            values = [v for v in self._scan().values() if tag in v.get("index", ())]
            found = [e for e in (self._decrypt(values) if values else []) if pseudonym.strip() in e.lookup_terms()]
            span.set_attribute("pixelguard.crosswalk.matches", len(found))
        return found

    # -- rotation ------------------------------------------------------------------------------------
    def rewrap_all(self, keys: Any) -> RewrapReport:
        """Rewrap every entry not on the latest key version and re-produce it under the same key.

        ``keys`` needs ``latest_version()`` and ``rewrap()`` (a :class:`VaultKeyService` holding the admin
        policy); no plaintext is seen here. Entries already on the latest version are left alone, which
        also keeps the window small in which a worker's fresh entry for the same key could be overtaken.
        """
        from pixelguard.keyservice.vault import key_version

        with self.tracer.start_as_current_span("crosswalk.rewrap") as span:
            t0 = time.perf_counter()
            latest = keys.latest_version()
            scanned = self._scan()
            stale = [(k, v) for k, v in scanned.items() if key_version(v["ct"]) < latest]
            t1 = time.perf_counter()
            fresh = keys.rewrap([v["ct"] for _, v in stale]) if stale else []
            t2 = time.perf_counter()
            self._produce([_Record(k, {**v, "ct": ct}) for (k, v), ct in zip(stale, fresh, strict=True)])
            t3 = time.perf_counter()
            after = self._scan()
            behind = sum(1 for v in after.values() if key_version(v["ct"]) < latest)
            missing = len(set(scanned) - set(after))
            t4 = time.perf_counter()
            span.set_attribute("pixelguard.crosswalk.entries", len(after))
            span.set_attribute("pixelguard.crosswalk.rewrapped", len(stale))
            if behind or missing:
                raise CrosswalkError(f"after rewrap {behind} entries are below key version {latest} "
                                     f"and {missing} are missing")
            return RewrapReport(len(after), len(stale), latest, t1 - t0, t2 - t1, t3 - t2, t4 - t3)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None
