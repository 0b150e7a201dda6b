"""Parse agent: ingest -> parsed (format detected, header read, routing key derived)."""
from __future__ import annotations

from .runtime import Runtime, handle
from .stages import parse_step


def register(app, rt: Runtime, concurrency: int) -> None:
    @app.agent(rt.topics["ingest"], name="parse", concurrency=concurrency)
    async def parse(stream):
        async for event in stream.events():
            await handle(rt, "parse", parse_step, event)
