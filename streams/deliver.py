"""The sink: store each clean DICOM object into a PACS with STOW-RS (``pixelguard deliver dicomweb://...``).

A consumer of the ``clean`` topic (read_committed: only what the route hop committed). For each event it
checks the event against its schema (``ObjectEvent.from_bytes``), fetches the clean object from the output
store and stores it; only then is the offset committed, so a crash redelivers, and a redelivered event
stores the same instance again, which the PACS keeps once (one instance per SOPInstanceUID). What cannot be
delivered goes to ``errors`` with a reason and is committed: a message that is not an event (``poison``), a
clean object that is gone (``deliver-missing``), an instance the PACS refuses (``deliver-refused``). A PACS
or store that is down is retried, the offset held, until it is back. Non-DICOM outputs have no place in a
PACS: they are counted as skipped.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from .dicomweb import DicomWeb, StoreRefused
from .events import ObjectEvent, PoisonEvent, poison_event
from .objectstore import ObjectNotFound, ObjectStore, StorageUnavailable
from .topics import located, topic_name

log = logging.getLogger("pixelguard.deliver")
MAX_BACKOFF_S = 10.0


@dataclass
class Delivered:
    stored: int = 0
    skipped: int = 0  # not DICOM: no place in a PACS
    errors: int = 0  # sent to errors with a reason


class Progress(Protocol):
    """What deliver reports for its liveness (``agents/liveness.py``'s ProgressTracker is one)."""

    def assigned(self, stage: str, partitions: list[int]) -> None: ...
    def progress(self, stage: str, partition: int) -> None: ...
    def loop_beat(self, loop: str) -> None: ...


STAGE = "deliver"  # its name in the liveness verdict


def group_for(prefix: str, target: str) -> str:
    """One consumer group per target PACS: two research PACSes each get every clean object."""
    return f"{prefix}.deliver.{hashlib.sha256(target.encode()).hexdigest()[:12]}"


class Deliverer:
    def __init__(self, *, bootstrap: str, prefix: str, target: str, pacs: DicomWeb, outputs: ObjectStore,
                 backoff_s: float = 0.5, tracker: Progress | None = None) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.pacs = pacs
        self.outputs = outputs
        self.backoff_s = backoff_s
        self.group = group_for(prefix, target)
        self.stop = threading.Event()
        self.result = Delivered()
        self.retries = 0  # transient faults retried so far (PACS or store down)
        self.tracker = tracker

    def run(self, idle_exit_s: float | None = None) -> Delivered:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                             "isolation.level": "read_committed", "enable.auto.commit": False,
                             "auto.offset.reset": "earliest", "max.poll.interval.ms": 600000})
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all"})
        consumer.subscribe([topic_name("clean", self.prefix)], on_assign=self._on_assign)
        idle_since = time.monotonic()
        try:
            while not self.stop.is_set():
                self._beat()
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                        break
                    continue
                idle_since = time.monotonic()
                if not self._deliver(producer, msg):
                    break  # stopped while retrying: not committed, redelivered next time
                producer.flush(30)  # an error event is on errors before its offset is committed
                try:
                    consumer.commit(message=msg, asynchronous=False)
                    if self.tracker is not None:
                        self.tracker.progress(STAGE, located(msg)[1])
                except KafkaException as exc:  # a rebalance took the partition: redelivered, stored once
                    log.warning("deliver: offset commit failed (%s); the event will be delivered again",
                                exc.args[0].name())
        finally:
            consumer.close()
            producer.flush(30)
        return self.result

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.tracker is not None:
            self.tracker.assigned(STAGE, [tp.partition for tp in partitions])

    def _beat(self) -> None:
        if self.tracker is not None:
            self.tracker.loop_beat(f"{STAGE}-loop")

    def _deliver(self, producer: Producer, msg: Message) -> bool:
        """Handle one message; False when stopped before it was handled."""
        topic, partition, offset = located(msg)
        try:
            event = ObjectEvent.from_bytes(msg.value())
        except PoisonEvent as exc:
            self._error(producer, poison_event(f"{topic}-{partition}-{offset}", exc))
            return True
        if event.format != "dicom" or not event.object_uri:
            self.result.skipped += 1
            return True
        delay = self.backoff_s
        while not self.stop.is_set():
            try:
                self.pacs.store(self.outputs.get(event.object_uri))
                self.result.stored += 1
                return True
            except ObjectNotFound:
                self._error(producer, failed(event, "deliver-missing", "the clean object is gone from the output "
                                             "store; re-run its job to publish it again"))
                return True
            except StoreRefused as exc:
                self._error(producer, failed(event, "deliver-refused", f"{exc}; check the PACS's log"))
                return True
            except StorageUnavailable as exc:  # PACS or store down: retried, the offset held
                self.retries += 1
                log.warning("deliver: %s; retrying in %.1fs", exc, delay)
                self._beat()  # waiting for a server that is down is not a blocked loop (lag still shows it)
                self.stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        return False

    def _error(self, producer: Producer, event: ObjectEvent) -> None:
        self.result.errors += 1
        producer.produce(topic_name("errors", self.prefix), key=(event.key or event.input_id).encode(),
                         value=event.to_bytes())


def failed(event: ObjectEvent, code: str, reason: str) -> ObjectEvent:
    return event.next("deliver", status="error", error_code=code, reason=f"{code}: {reason}", object_uri="")
