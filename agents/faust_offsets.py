"""Faust must never commit an offset past an event no agent processed (at-least-once, really).

A broker restart in the fault tests lost one object for good: its event sat in ``scrubbed`` at offset 2
while the agents' group had committed offset 18 on that partition. faust-streaming (0.15.3 here) has two
ways to commit past an event it never handed to an agent, both in ``transport/consumer.py``:

- ``_new_offset`` refuses to commit across a hole at the head of the acked offsets only when the first
  acked offset is *more than one* past the committed offset; but the committed offset is the next one to
  read, so exactly one unprocessed event (the one at the committed offset) slips through;
- ``_add_gap`` counts every offset the fetcher jumped over as acked. That is right for compacted topics
  and transaction markers; the stage topics have neither (plain logs, written without transactions), so
  a jump there is an event dropped from Faust's buffers in a rebalance, not a hole.

Both are corrected here for the whole process. The event stays unacked, the commit waits at it, and the
next assignment of that partition (a rebalance or a worker restart) reads it again; the stages rewrite
the same object names and the route hop drops a duplicate, as after any redelivery.
"""
from __future__ import annotations

import logging
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger("pixelguard.agents")


def install() -> None:
    if getattr(Consumer, "_pixelguard_offsets", False):
        return
    original_new_offset = Consumer._new_offset

    def _new_offset(self: Any, tp: Any) -> int | None:
        acked = self._acked[tp]
        if acked:
            committed = self._committed_offset[tp]  # next offset to read; None: nothing committed (from 0)
            if min(acked) > (committed or 0):
                return None  # the event at the committed offset is not processed yet: commit nothing
        return original_new_offset(self, tp)

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        log.warning("consumer skipped offsets %d-%d of %s[%d]; they stay unacknowledged and are read again "
                    "on the partition's next assignment", offset_from, offset_to - 1, tp.topic, tp.partition)

    # Replacing two methods of Faust's Consumer is the point of this module (see its docstring).
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer._add_gap = _add_gap  # type: ignore[method-assign]
    Consumer._pixelguard_offsets = True  # type: ignore[attr-defined]
