"""Unit test of one function: Faust's commit offset for a partition, with the correction agents/faust_offsets.py
installs. A hand-made consumer state stands in for a running consumer (the behaviour under faults is
what tests/faults/test_broker_restart.py shows)."""
from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from intervaltree import IntervalTree

from agents import faust_offsets

TOPIC = TP("fault.scrubbed", 2)


def _state(committed: int | None, acked: list[int]) -> SimpleNamespace:
    return SimpleNamespace(_acked=defaultdict(list, {TOPIC: list(acked)}),
                           _acked_index=defaultdict(set, {TOPIC: set(acked)}),
                           _committed_offset=defaultdict(lambda: None, {TOPIC: committed}),
                           _gap=defaultdict(IntervalTree))


def test_commit_never_passes_the_unprocessed_event_at_the_committed_offset() -> None:
    from faust.transport.consumer import Consumer

    faust_offsets.install()
    new_offset = Consumer._new_offset
    # Offsets 0-1 processed and committed (next to read: 2); 3 and 4 processed, 2 never was.
    assert new_offset(_state(2, [3, 4]), TOPIC) is None
    assert new_offset(_state(None, [1, 2]), TOPIC) is None  # nothing committed: offset 0 is unprocessed
    # Once 2 is processed, the commit moves on.
    assert new_offset(_state(2, [2, 3, 4]), TOPIC) == 5
    assert new_offset(_state(None, [0, 1]), TOPIC) == 2
