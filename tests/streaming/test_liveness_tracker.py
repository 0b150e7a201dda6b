"""The stuck/live decision of agents.liveness.ProgressTracker, on an explicit clock (no servers: pure logic)."""
from __future__ import annotations

from agents.liveness import ProgressTracker

STAGES = ("parse", "scrub", "redact", "route")


def tracker(stall_s: float = 60.0) -> ProgressTracker:
    t = ProgressTracker(STAGES, stall_s=stall_s, clock=lambda: 0.0)
    for stage in STAGES:
        t.assigned(stage, [0, 1])
    return t


def test_an_idle_worker_is_live_however_long_it_waits() -> None:
    t = tracker()
    for stage in STAGES:
        for p in (0, 1):
            t.sample(stage, p, committed=10, high=10, now=0.0)
    assert t.verdict(now=10_000.0).live
    assert t.verdict(now=10_000.0).ready


def test_behind_with_no_progress_past_the_threshold_is_stuck_and_says_where() -> None:
    t = tracker(stall_s=60)
    t.sample("redact", 1, committed=5, high=9, now=100.0)
    assert t.verdict(now=150.0).live  # behind, but not for long yet
    verdict = t.verdict(now=161.0)
    assert not verdict.live and not verdict.ready
    assert verdict.body["stuck"] == [{"stage": "redact", "partition": 1, "lag": 4, "no_progress_s": 61.0}]
    assert "restart this worker" in verdict.body["reason"]


def test_new_work_after_a_long_idle_spell_gets_the_full_threshold() -> None:
    t = tracker(stall_s=60)
    t.progress("parse", 0, now=0.0)
    t.sample("parse", 0, committed=3, high=3, now=1.0)
    t.sample("parse", 0, committed=3, high=8, now=5_000.0)  # work arrives an hour and a half later
    assert t.verdict(now=5_030.0).live
    assert not t.verdict(now=5_061.0).live


def test_a_completed_event_or_a_committed_offset_advance_is_progress() -> None:
    t = tracker(stall_s=60)
    t.sample("scrub", 0, committed=0, high=50, now=0.0)
    t.progress("scrub", 0, now=50.0)
    assert t.verdict(now=100.0).live  # 50 s since the last event
    t.sample("scrub", 0, committed=1, high=50, now=105.0)  # the offset moved: progress at 105
    assert t.verdict(now=160.0).live
    assert not t.verdict(now=166.0).live
    t.progress("scrub", 0, now=170.0)  # it moves again: live again
    assert t.verdict(now=171.0).live


def test_progress_on_another_partition_does_not_hide_a_stuck_one() -> None:
    t = tracker(stall_s=60)
    t.sample("route", 0, committed=0, high=3, now=0.0)
    t.sample("route", 1, committed=0, high=3, now=0.0)
    for second in range(0, 120, 10):
        t.progress("route", 1, now=float(second))
    verdict = t.verdict(now=121.0)
    assert not verdict.live
    assert [s["partition"] for s in verdict.body["stuck"]] == [0]


def test_catching_up_clears_the_stall_and_a_partition_moved_away_no_longer_counts() -> None:
    t = tracker(stall_s=60)
    t.sample("parse", 0, committed=0, high=4, now=0.0)
    t.sample("parse", 1, committed=0, high=4, now=0.0)
    assert not t.verdict(now=100.0).live
    t.sample("parse", 0, committed=4, high=4, now=101.0)  # caught up
    t.assigned("parse", [0])  # and the other partition moved to another worker
    t.sample("parse", 1, committed=0, high=4, now=102.0)  # a late sample for it is ignored
    verdict = t.verdict(now=200.0)
    assert verdict.live and verdict.body["stages"]["parse"] == {
        "partitions": [0],
        "lag": 0,
        "last_progress_s_ago": 99.0,
    }


def test_not_ready_until_every_consumer_has_had_an_assignment() -> None:
    t = ProgressTracker(STAGES, stall_s=60, clock=lambda: 0.0)
    for stage in ("parse", "scrub", "redact"):
        t.assigned(stage, [0])
    verdict = t.verdict(now=1.0)
    assert verdict.live and not verdict.ready and "starting" in verdict.body["reason_not_ready"]
    t.assigned("route", [])  # an empty assignment is still an assignment
    assert t.verdict(now=2.0).ready


def test_a_rebalance_that_never_finishes_is_stuck_whatever_the_lag() -> None:
    # The group drops a member that cannot finish revoking and hands its partitions on, so lag stays 0
    # here; the member itself is still stuck waiting for its in-flight event.
    t = tracker(stall_s=60)
    t.rebalance_started(now=10.0)
    t.rebalance_started(now=30.0)  # a nested start does not reset the clock
    assert t.verdict(now=60.0).live
    verdict = t.verdict(now=71.0)
    assert not verdict.live and verdict.body["stuck"] == [{"stage": "rebalance", "no_progress_s": 61.0}]
    t.rebalance_finished()
    assert t.verdict(now=72.0).live


def test_a_poll_loop_blocked_inside_a_batch_is_stuck() -> None:
    t = tracker(stall_s=60)
    t.loop_beat("route-loop", now=0.0)
    t.loop_beat("route-loop", now=50.0)
    assert t.verdict(now=100.0).live
    verdict = t.verdict(now=111.0)
    assert not verdict.live and verdict.body["stuck"] == [{"stage": "route-loop", "loop_blocked_s": 61.0}]


def test_a_rebalance_storm_is_stuck_though_no_partition_stays_long_enough_to_look_stuck() -> None:
    # Partitions flip between this worker and another every 20 s; work waits on all of them and no event
    # of the stage completes here. No single partition is behind for 60 s, the stage is.
    t = tracker(stall_s=60)
    for step in range(0, 9):
        now = step * 10.0
        if step % 2 == 0:
            t.assigned("redact", [0, 1] if step % 4 == 0 else [2, 3])
        for p in t.assignment()["redact"]:
            t.sample("redact", p, committed=5, high=9, now=now)
        t.sampled(now=now)
    verdict = t.verdict(now=81.0)
    assert not verdict.live
    assert verdict.body["stuck"] == [{"stage": "redact", "lag": 8, "no_progress_s": 81.0}]
    t.progress("redact", 3, now=82.0)  # one event completes: the stage moves
    assert t.verdict(now=83.0).live


def test_a_worker_left_without_partitions_starts_afresh_when_it_gets_some() -> None:
    t = tracker(stall_s=60)
    t.sample("scrub", 0, committed=0, high=5, now=0.0)
    t.sampled(now=0.0)
    t.assigned("scrub", [])  # more workers than partitions: nothing to do here
    t.sampled(now=10.0)
    t.assigned("scrub", [3])
    t.sample("scrub", 3, committed=0, high=5, now=500.0)
    t.sampled(now=500.0)
    assert t.verdict(now=510.0).live
    assert not t.verdict(now=561.0).live


def test_lags_for_the_metric_are_the_measured_partitions_this_worker_owns() -> None:
    t = tracker()
    assert t.lags() == []  # assigned, not measured yet: no false zero for an autoscaler
    t.sample("redact", 1, committed=5, high=9, now=1.0)
    t.sample("route", 0, committed=3, high=3, now=1.0)
    assert sorted(t.lags()) == [("redact", 1, 4), ("route", 0, 0)]
    t.assigned("redact", [0])  # a rebalance took partition 1 elsewhere: its new owner reports it
    assert t.lags() == [("route", 0, 0)]
