"""What every agent shell shares: decode, span, run the step off the event loop, send on, wait for the ack.

An agent calls :func:`handle` once per event. The output is produced and *acknowledged by Kafka* before
``handle`` returns, and Faust acknowledges the input only after that (at-least-once: a crash in between
redelivers the input, the step rewrites the same object names, and the route hop drops the duplicate).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from pixelguard.telemetry.tracing import (
    event_attributes,
    headers_dict,
    inject,
    kafka_headers,
    mark_error,
    messaging_attributes,
    process_span,
    set_attributes,
)
from streams.events import ObjectEvent, PoisonEvent, poison_event

from .liveness import ProgressTracker
from .stages import StageContext

log = logging.getLogger("pixelguard.agents")


@dataclass
class Runtime:
    ctx: StageContext
    topics: dict[str, Any]  # catalogue key -> faust Topic
    pool: ThreadPoolExecutor
    group: str
    tracker: ProgressTracker | None = None


async def handle(rt: Runtime, agent: str, step: Any, event: Any) -> None:
    message = event.message
    carrier = headers_dict(message.headers)
    attrs = messaging_attributes("process", message.topic, group=rt.group, partition=message.partition,
                                 offset=message.offset)
    with process_span(agent, message.topic, carrier, attrs) as span:
        try:
            incoming = ObjectEvent.from_bytes(event.value)  # checks the event against its schema
        except PoisonEvent as exc:
            # Unreadable or off-contract: not dropped, but handed to the route hop as an error event.
            where = f"{message.topic}-{message.partition}-{message.offset}"
            topic_key, out = "routing", poison_event(where, exc)
        else:
            set_attributes(span, event_attributes(incoming))
            run = functools.partial(contextvars.copy_context().run, step, rt.ctx, incoming)
            topic_key, out = await asyncio.get_running_loop().run_in_executor(rt.pool, run)
        set_attributes(span, event_attributes(out))
        if out.status == "error":
            mark_error(span, out.error_code)
            log.info("%s: %s -> %s (%s)", agent, out.input_id, topic_key, out.error_code)
        carrier = inject()
        out = replace(out, trace=carrier)
        topic = rt.topics[topic_key]
        # force=True: send now, not on commit; awaiting the future waits for Kafka's acknowledgement.
        sent = await topic.send(key=(out.key or out.input_id).encode(), value=out.to_bytes(),
                                headers=kafka_headers(carrier), force=True)
        await sent
    if rt.tracker is not None:
        rt.tracker.progress(agent, message.partition)
