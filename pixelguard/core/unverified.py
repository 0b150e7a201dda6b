"""Verification that could not run: the object goes to review, never clean.

Verification is every engine call made on pixels the search has already changed (the look around the fills)
and the PHI sweep of the finished output. When the engine fails there, the fills so far are kept and written,
and the object carries a finding saying it is unverified, so ``route`` holds it for review. Failures that are
ours to report (``StageError``: over budget, unreadable) and ``MemoryError`` keep their own error outcome.

The embedded runner takes the finding as it is (its Triton client already retried the call). The streaming
redact step first retries the whole attempt, like any engine outage (``agents.stages``), and only keeps the
unverified record once its retries are spent.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .record import ObjectRecord, StageError

T = TypeVar("T")
PREFIX = "unverified: "
LOOK_AROUND = "the look around the fills"
SWEEP = "the PHI sweep"


class EngineFailed(Exception):
    """The text engine raised while verifying; the cause is chained (``__cause__``), never quoted."""


class Unverified(Exception):
    """Raised by a runner that retries an attempt whose record came back unverified."""


def reason(step: str) -> str:
    return f"{PREFIX}the text engine failed during {step}; retry or review"


def verifying(call: Callable[[], T]) -> T:
    """``call()``, with any failure of the engine itself turned into ``EngineFailed``."""
    try:
        return call()
    except (StageError, MemoryError):
        raise
    except Exception as exc:  # any engine failure leaves the pixels unverified
        raise EngineFailed(exc.__class__.__name__) from exc


def is_unverified(record: ObjectRecord, stage: str | None = None) -> bool:
    """Whether a finding (of ``stage``, or any) says verification could not run."""
    return any(f.reason.startswith(PREFIX) and stage in (None, f.stage) for f in record.findings)
