"""Is this worker stuck? A progress tracker the worker's ``/live`` and ``/ready`` endpoints answer from.

A worker is *stuck* when one of its assigned partitions has work waiting (the group's committed offset is
behind the high watermark) and nothing has moved on that partition for longer than ``stall_s``: no event
of that stage completed there and the committed offset did not advance. Restarting such a worker is what
an orchestrator should do (a deadlocked thread, a read that hangs forever, a consumer that stopped
fetching after a rebalance); an idle worker (no lag) is live however long it waits.

The clock of a partition starts at the later of its last progress and the moment it fell behind, so a
worker idle for an hour is not called stuck the instant new work arrives.

Two parts, so the decision is testable without servers:

- :class:`ProgressTracker` is pure: it is told assignments, completed events and lag samples, and decides
  at time ``t``. Thread-safe (the Faust event loop, the route hop thread and the lag sampler all feed it).
- :class:`LagSampler` is a thread that measures lag from outside the consumers it watches (committed
  offsets of the group and the high watermarks, through its own client), so a consumer that has stopped
  fetching, whose own idea of the high watermark is stale or absent, is still measured.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("pixelguard.liveness")

DEFAULT_STALL_S = 300.0  # > the worst legitimate wait: a Vault outage retried (4 x 60 s), an object at its time cap


@dataclass
class _Partition:
    lag: int = 0
    committed: int | None = None
    behind_since: float | None = None  # when lag last went from 0 to > 0
    progress_at: float | None = None  # last completed event or committed-offset advance


@dataclass(frozen=True)
class Verdict:
    live: bool
    ready: bool
    body: dict[str, Any] = field(default_factory=dict)


class ProgressTracker:
    """Progress and lag per (stage, partition); see the module docstring for the rule."""

    def __init__(self, stages: Iterable[str], stall_s: float = DEFAULT_STALL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s = stall_s
        self.clock = clock
        self._lock = threading.Lock()
        self._parts: dict[str, dict[int, _Partition]] = {s: {} for s in stages}
        self._assigned_once: set[str] = set()
        self._rebalancing_since: float | None = None
        # Per stage, across partitions: a rebalance storm moves partitions every few seconds, so no one
        # partition stays assigned long enough to look stuck, while the stage as a whole does nothing.
        self._stage_behind_since: dict[str, float | None] = {s: None for s in self._parts}
        self._stage_progress_at: dict[str, float | None] = {s: None for s in self._parts}
        self._loops: dict[str, float] = {}  # consumer loop -> when it last came back to poll
        self._sampled_at: float | None = None
        self._sample_error: str = ""

    def _now(self, now: float | None) -> float:
        return self.clock() if now is None else now

    # -- what the consumers tell us ----------------------------------------------------------------
    def assigned(self, stage: str, partitions: Iterable[int]) -> None:
        """The stage's whole assignment (a rebalance replaces it); partitions kept keep their history.

        Revocation is not reported separately: the old partitions count until the new assignment arrives,
        so the stage's clock survives a rebalance (only a worker left with no partition starts afresh).
        """
        with self._lock:
            old = self._parts[stage]
            self._parts[stage] = {p: old.get(p, _Partition()) for p in partitions}
            if not self._parts[stage]:
                self._stage_behind_since[stage] = None
            self._assigned_once.add(stage)

    def progress(self, stage: str, partition: int, now: float | None = None) -> None:
        """An event of ``stage`` from ``partition`` completed (its output acknowledged)."""
        t = self._now(now)
        with self._lock:
            self._stage_progress_at[stage] = t
            part = self._parts[stage].get(partition)
            if part is not None:
                part.progress_at = t

    def sample(self, stage: str, partition: int, committed: int, high: int, now: float | None = None) -> None:
        """A lag measurement: ``committed`` is the next offset the group will read, ``high`` the watermark."""
        t = self._now(now)
        with self._lock:
            part = self._parts[stage].get(partition)
            if part is None:
                return  # revoked since the sampler read the assignment
            if part.committed is not None and committed > part.committed:
                part.progress_at = self._stage_progress_at[stage] = t
            part.committed = committed
            part.lag = max(0, high - committed)
            if part.lag == 0:
                part.behind_since = None
            elif part.behind_since is None:
                part.behind_since = t

    def rebalance_started(self, now: float | None = None) -> None:
        """Faust began revoking: it waits for every in-flight event before it rejoins the group."""
        t = self._now(now)
        with self._lock:
            if self._rebalancing_since is None:
                self._rebalancing_since = t

    def rebalance_finished(self) -> None:
        with self._lock:
            self._rebalancing_since = None

    def loop_beat(self, loop: str, now: float | None = None) -> None:
        """A consumer loop (the route hop thread) came back to poll: it is not blocked inside a batch."""
        t = self._now(now)
        with self._lock:
            self._loops[loop] = t

    def lags(self) -> list[tuple[str, int, int]]:
        """(stage, partition, lag) of every assigned partition measured since it was assigned.

        A partition not yet measured is left out rather than reported as 0: a fresh worker knows nothing
        of its backlog until the sampler's first round, and a false 0 would tell an autoscaler all is done.
        """
        with self._lock:
            return [(stage, p, part.lag) for stage, parts in self._parts.items()
                    for p, part in sorted(parts.items()) if part.committed is not None]

    def assignment(self) -> dict[str, list[int]]:
        with self._lock:
            return {stage: sorted(parts) for stage, parts in self._parts.items()}

    def sampled(self, error: str = "", now: float | None = None) -> None:
        """A sampling round ended (``error`` if it failed); a full round updates each stage's behind-clock."""
        t = self._now(now)
        with self._lock:
            self._sampled_at = t
            self._sample_error = error
            if error:
                return
            for stage, parts in self._parts.items():
                if not parts or sum(p.lag for p in parts.values()) == 0:
                    self._stage_behind_since[stage] = None
                elif self._stage_behind_since[stage] is None:
                    self._stage_behind_since[stage] = t

    # -- the decision ------------------------------------------------------------------------------
    def verdict(self, now: float | None = None) -> Verdict:
        t = self._now(now)
        stuck: list[dict[str, Any]] = []
        stages: dict[str, Any] = {}
        with self._lock:
            for stage, parts in self._parts.items():
                lag = 0
                for p, part in sorted(parts.items()):
                    lag += part.lag
                    if part.lag <= 0 or part.behind_since is None:
                        continue
                    quiet_since = max(part.behind_since, part.progress_at or part.behind_since)
                    if t - quiet_since > self.stall_s:
                        stuck.append({"stage": stage, "partition": p, "lag": part.lag,
                                      "no_progress_s": round(t - quiet_since, 1)})
                stages[stage] = {"partitions": sorted(parts), "lag": lag}
                progress_at = self._stage_progress_at[stage]
                if progress_at is not None:
                    stages[stage]["last_progress_s_ago"] = round(t - progress_at, 1)
                behind = self._stage_behind_since[stage]
                if lag > 0 and behind is not None and not any(x["stage"] == stage for x in stuck):
                    quiet_since = max(behind, self._stage_progress_at[stage] or behind)
                    if t - quiet_since > self.stall_s:
                        stuck.append({"stage": stage, "lag": lag, "no_progress_s": round(t - quiet_since, 1)})
            # A member that never finishes revoking (an in-flight event that never ends) is dropped by the
            # group after the rebalance timeout; its partitions move on elsewhere, so lag cannot show it.
            if self._rebalancing_since is not None and t - self._rebalancing_since > self.stall_s:
                stuck.append({"stage": "rebalance", "no_progress_s": round(t - self._rebalancing_since, 1)})
            # A poll loop blocked inside a batch stops polling; after max.poll.interval its partitions go
            # elsewhere too, so its own heartbeat is checked, whatever the lag.
            for loop, beat in sorted(self._loops.items()):
                if t - beat > self.stall_s:
                    stuck.append({"stage": loop, "loop_blocked_s": round(t - beat, 1)})
            all_assigned = self._assigned_once >= set(self._parts)
            sampled_ago = None if self._sampled_at is None else round(t - self._sampled_at, 1)
            sample_error = self._sample_error
        body: dict[str, Any] = {"stall_s": self.stall_s, "stages": stages, "lag_sampled_s_ago": sampled_ago}
        if sample_error:
            body["lag_sample_error"] = sample_error
        if stuck:
            body["reason"] = (f"stuck: {len(stuck)} partition(s) or loop(s) with no progress for more than "
                              f"{self.stall_s:.0f}s; restart this worker")
            body["stuck"] = stuck
        ready = all_assigned and not stuck
        if not all_assigned:
            body["reason_not_ready"] = "starting: waiting for the first partition assignment of every consumer"
        return Verdict(live=not stuck, ready=ready, body=body)


class LagSampler(threading.Thread):
    """Measures the committed-offset lag of every partition the tracker says is assigned, every ``interval_s``.

    ``groups`` maps a consumer group to ``{topic: stage}``. It uses its own confluent-kafka consumers, one per
    group, that never subscribe (``committed()`` is an OffsetFetch, it does not join the group).
    """

    def __init__(self, tracker: ProgressTracker, bootstrap: str, groups: Mapping[str, Mapping[str, str]],
                 interval_s: float = 2.0) -> None:
        super().__init__(name="liveness-lag", daemon=True)
        self.tracker = tracker
        self.bootstrap = bootstrap
        self.groups = groups
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        from confluent_kafka import Consumer  # keeps the tracker importable without Kafka

        consumers = {group: Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                                      "enable.auto.commit": False,
                                      "client.id": f"liveness-{uuid.uuid4().hex[:6]}"})
                     for group in self.groups}
        try:
            while not self.stopping.wait(self.interval_s):
                try:
                    for group, topics in self.groups.items():
                        self._sample_group(consumers[group], topics)
                    self.tracker.sampled()
                except Exception as exc:  # noqa: BLE001 - a broker hiccup: report it, keep sampling
                    self.tracker.sampled(error=f"lag not measured: {exc.__class__.__name__}")
        finally:
            for consumer in consumers.values():
                consumer.close()

    def _sample_group(self, consumer: Any, topics: Mapping[str, str]) -> None:
        from confluent_kafka import TopicPartition

        assigned = self.tracker.assignment()
        tps = [TopicPartition(topic, p) for topic, stage in topics.items() for p in assigned.get(stage, ())]
        if not tps:
            return
        committed = consumer.committed(tps, timeout=10)
        for tp in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10,
                                                       cached=False)
            # No commit yet: the group starts at the beginning (auto.offset.reset=earliest).
            position = tp.offset if tp.offset >= 0 else low
            self.tracker.sample(topics[tp.topic], tp.partition, position, high)
