"""Scrub agent: parsed -> scrubbed (profile actions on the header; crosswalk entry recorded first)."""
from __future__ import annotations

from .runtime import Runtime, handle
from .stages import scrub_step


def register(app, rt: Runtime, concurrency: int) -> None:
    @app.agent(rt.topics["parsed"], name="scrub", concurrency=concurrency)
    async def scrub(stream):
        async for event in stream.events():
            await handle(rt, "scrub", scrub_step, event)
