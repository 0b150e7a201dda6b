"""Route hop: routing -> clean | review | errors, in Kafka transactions (the only writer of final topics).

Why not a Faust agent with ``processing_guarantee="exactly_once"``: faust-streaming's exactly-once has open
bugs (duplicates on the sink after a SIGKILL even for read_committed consumers, #517; crashes and
duplicates on rebalance, #323; sends outside the transaction, #177). So this hop uses Kafka's own API
(confluent-kafka, KIP-447): for a batch of input events it decides each one (the core's ``route()``
through :func:`agents.stages.decide`), produces the final events and commits the input offsets in ONE
transaction (``send_offsets_to_transaction`` with the consumer's group metadata, so a zombie from an older
generation is fenced). Consumers of the final topics use ``isolation.level=read_committed``.

The transaction makes this hop exactly-once, but its input may hold duplicates: the agents before it are
at-least-once (a worker killed after producing and before committing its offset redelivers the event).
So the hop also drops any event whose (job, input) already has a final event. The final event goes to the
same partition number as its input, so the owner of ``routing`` partition P learns that history by reading
partition P of clean, review and errors (read_committed, to the end, and waiting until no transaction is
open on them) whenever P is assigned to it; from then on it is the only writer of those partitions.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from pixelguard.settings import Settings
from pixelguard.telemetry import metrics
from pixelguard.telemetry.tracing import (
    event_attributes,
    headers_dict,
    inject,
    kafka_headers,
    messaging_attributes,
    process_span,
    set_attributes,
)
from streams.events import ObjectEvent, PoisonEvent, age_seconds, poison_event
from streams.groups import route_group
from streams.topics import FINAL_TOPICS, located, topic_name

from .jobrecord import JobRecorder
from .liveness import ProgressTracker
from .stages import StageContext, decide

log = logging.getLogger("pixelguard.route")
BATCH = 64
TXN_TIMEOUT_S = 30.0
# The broker aborts a transaction open longer than transaction.timeout.ms (10 s). Deciding one event can
# take seconds when the store is failing (retries with backoff), so a batch stops taking events after
# this long and the rest are decided in the next transaction: otherwise a slow store turns every batch
# into an aborted transaction, redone forever.
DECIDE_BUDGET_S = 3.0
# How long past its own timeout a transactional call may block before the hop gives up on the producer.
STUCK_GRACE_S = 10.0


class RouteStuck(RuntimeError):
    """A transactional call blocked past its deadline; the worker restarts (its new producer fences this one)."""


def bounded(what: str, call: Callable[[], None], timeout_s: float = TXN_TIMEOUT_S + STUCK_GRACE_S) -> None:
    """Run a blocking producer call with a deadline librdkafka does not always keep.

    ``send_offsets_to_transaction`` can block far past its timeout when the group coordinator goes away
    mid-transaction (a broker restart): librdkafka never checks that request's deadline (librdkafka #5456,
    #5511; seen here on 2.16 as a hop stuck for 5 minutes until the consumer was evicted from its group).
    Past the deadline the call is abandoned in its daemon thread and RouteStuck stops the hop, so the worker
    exits and is restarted: the restarted producer (same transactional.id) fences this one, the broker
    aborts the open transaction, and the batch is decided again from the committed offsets.
    """
    done = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, name=f"route-{what}", daemon=True).start()
    if not done.wait(timeout_s):
        raise RouteStuck(f"route: {what} blocked for more than {timeout_s:.0f}s")
    if failure:
        raise failure[0]


def read_final_keys(bootstrap: str, prefix: str, partition: int, timeout_s: float = 60.0) -> set[str]:
    """Dedupe keys of every committed final event in partition ``partition`` of clean, review and errors.

    Reads to the end (read_committed stops at the last stable offset), then waits until that is the high
    watermark: a transaction still open there (a worker killed mid-transaction) is aborted by the broker
    after ``transaction.timeout.ms`` or when that worker restarts, and what it held must not be missed.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}.route-reader.{uuid.uuid4().hex[:8]}",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    # A read_committed consumer's watermark query answers the last stable offset, so the high watermark
    # (which is past any open transaction) is asked by a read_uncommitted one.
    marks = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}.route-marks.{uuid.uuid4().hex[:8]}",
                      "isolation.level": "read_uncommitted", "enable.auto.commit": False})
    tps = [TopicPartition(topic_name(t, prefix), partition, OFFSET_BEGINNING) for t in FINAL_TOPICS]
    consumer.assign(tps)
    keys: set[str] = set()
    eof: dict[str, int] = {}  # topic -> offset at which the consumer last reached the end
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                topic, _, offset = located(msg)
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        eof[topic] = offset
                    continue
                eof.pop(topic, None)
                try:
                    keys.add(ObjectEvent.from_bytes(msg.value()).dedupe_key)
                except PoisonEvent:
                    continue
            if len(eof) == len(tps) and all(
                    offset >= marks.get_watermark_offsets(TopicPartition(topic, partition), timeout=5,
                                                          cached=False)[1] for topic, offset in eof.items()):
                return keys  # at the end of every partition, and no transaction left open there
            if time.monotonic() > deadline:
                raise RuntimeError(f"route: history of partition {partition} not read in {timeout_s:.0f}s "
                                   f"(a transaction may stay open)")
    finally:
        consumer.close()
        marks.close()


class RouteHop:
    def __init__(self, cfg: Settings, ctx: StageContext, tracker: ProgressTracker | None = None,
                 recorder: JobRecorder | None = None) -> None:
        self.cfg = cfg
        self.recorder = recorder  # the job store's view of final states (agents/jobrecord.py), if configured
        self.ctx = ctx
        self.tracker = tracker
        self.group = route_group(cfg.prefix)
        self.input_topic = topic_name("routing", cfg.prefix)
        self.stopping = threading.Event()
        self.seen: dict[int, set[str]] = {}
        self.failed: BaseException | None = None

    def stop(self) -> None:
        self.stopping.set()

    # -- rebalance ---------------------------------------------------------------------------------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.seen.pop(tp.partition, None)  # (re)read lazily, before the first event of the partition
        if self.tracker is not None:
            self.tracker.assigned("route", [tp.partition for tp in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.seen.pop(tp.partition, None)

    def _seen(self, partition: int) -> set[str]:
        if partition not in self.seen:
            self.seen[partition] = read_final_keys(self.cfg.bootstrap, self.cfg.prefix, partition)
        return self.seen[partition]

    # -- loop ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.failed = exc
            log.error("route hop stopped: %s", exc.__class__.__name__)
            raise

    def _run(self) -> None:
        consumer = Consumer({
            "bootstrap.servers": self.cfg.bootstrap, "group.id": self.group,
            "isolation.level": "read_committed", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": int(self.cfg.session_timeout_s * 1000),
            "heartbeat.interval.ms": max(500, int(self.cfg.session_timeout_s * 1000) // 4),
            "max.poll.interval.ms": 300000,
        })
        producer = Producer({
            "bootstrap.servers": self.cfg.bootstrap,
            # Stable per worker name: a restarted worker fences its killed self and aborts what it left open.
            "transactional.id": f"{self.cfg.prefix}.route.{self.cfg.worker_name}",
            "transaction.timeout.ms": 10000, "enable.idempotence": True, "linger.ms": 5, "acks": "all",
        })
        producer.init_transactions(30)
        consumer.subscribe([self.input_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self.stopping.is_set():
                if self.tracker is not None:
                    self.tracker.loop_beat("route-loop")
                batch = [m for m in consumer.consume(num_messages=BATCH, timeout=0.5) if not m.error()]
                if batch:
                    self._transact(consumer, producer, batch)
        finally:
            consumer.close()
            if self.recorder is not None:
                self.recorder.stop()

    def _transact(self, consumer: Consumer, producer: Producer, batch: list[Message]) -> None:
        decided: list[tuple[int, str, ObjectEvent]] = []
        started = time.monotonic()
        taken = 0
        producer.begin_transaction()
        try:
            for msg in batch:
                if taken and time.monotonic() - started > DECIDE_BUDGET_S:
                    break
                item = self._decide_one(producer, msg, {k for _, k, _ in decided})
                taken += 1
                if item is not None:
                    decided.append((located(msg)[1], *item))
            offsets = _next_offsets(batch[:taken])
            metadata = consumer.consumer_group_metadata()
            bounded("send_offsets_to_transaction",
                    lambda: producer.send_offsets_to_transaction(offsets, metadata, TXN_TIMEOUT_S))
            bounded("commit_transaction", lambda: producer.commit_transaction(TXN_TIMEOUT_S))
        except KafkaException as exc:
            error = exc.args[0]
            if not error.txn_requires_abort():
                raise  # fenced or fatal: this worker must stop (a restart re-reads the history)
            log.warning("route: transaction aborted (%s); rewinding the batch", error.name())
            bounded("abort_transaction", lambda: producer.abort_transaction(TXN_TIMEOUT_S))
            for tp in _first_offsets(batch):
                consumer.seek(tp)
            return
        for tp in _first_offsets(batch[taken:]):
            consumer.seek(tp)  # left for the next transaction
        if self.tracker is not None:
            for tp in offsets:
                self.tracker.progress("route", tp.partition)
        for partition, key, event in decided:
            self._seen(partition).add(key)
            metrics.object_decided(event.status or "error", event.format, event.profile,
                                   age_seconds(event.submitted_at))
            if self.recorder is not None:  # after the commit: the topics hold it whatever the store does
                self.recorder.record(event)

    def _decide_one(self, producer: Producer, msg: Message, pending: set[str]) -> tuple[str, ObjectEvent] | None:
        carrier = headers_dict(msg.headers())
        topic, partition, offset = located(msg)
        attrs = messaging_attributes("process", topic, group=self.group, partition=partition, offset=offset)
        with process_span("route", topic, carrier, attrs) as span:
            try:
                event = ObjectEvent.from_bytes(msg.value())  # checks the event against its schema
            except PoisonEvent as exc:
                event = poison_event(f"{topic}-{partition}-{offset}", exc)
            set_attributes(span, event_attributes(event))
            key = event.dedupe_key
            if key in pending or key in self._seen(partition):
                span.set_attribute("pixelguard.duplicate", True)
                return None
            topic_key, final = decide(self.ctx, event)
            final = final.next(final.stage, trace=inject())
            if final.status == "":
                final = final.next(final.stage, status="error")
            set_attributes(span, event_attributes(final))
            span.set_attribute("messaging.destination.name", topic_name(topic_key, self.cfg.prefix))
            producer.produce(topic_name(topic_key, self.cfg.prefix), key=(final.key or final.input_id).encode(),
                             value=final.to_bytes(), headers=kafka_headers(final.trace), partition=partition)
            return key, final


def _next_offsets(batch: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = defaultdict(int)
    for msg in batch:
        topic, partition, offset = located(msg)
        last[(topic, partition)] = max(last[(topic, partition)], offset + 1)
    return [TopicPartition(t, p, o) for (t, p), o in last.items()]


def _first_offsets(batch: list[Message]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for msg in batch:
        topic, partition, offset = located(msg)
        first.setdefault((topic, partition), offset)
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]
