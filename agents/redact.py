"""Redact agent: scrubbed -> routing (burned-in text found by the OCR engine, Triton in streaming, filled)."""
from __future__ import annotations

from .runtime import Runtime, handle
from .stages import redact_step


def register(app, rt: Runtime, concurrency: int) -> None:
    @app.agent(rt.topics["scrubbed"], name="redact", concurrency=concurrency)
    async def redact(stream):
        async for event in stream.events():
            await handle(rt, "redact", redact_step, event)
