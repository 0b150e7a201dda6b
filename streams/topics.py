"""The topic catalogue: every topic PixelGuard uses, created explicitly before any worker starts.

Names are ``<prefix>.<name>`` (prefix from ``PIXELGUARD_TOPIC_PREFIX``, default ``pixelguard``). The
crosswalk topic is compacted (latest entry per key wins, entries live forever); the others are plain logs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 4
    config: dict[str, str] = field(default_factory=dict)


CATALOGUE = {
    "ingest": TopicSpec("ingest"),
    "parsed": TopicSpec("parsed"),
    "scrubbed": TopicSpec("scrubbed"),
    "clean": TopicSpec("clean"),
    "review": TopicSpec("review"),
    "errors": TopicSpec("errors"),
    "audit": TopicSpec("audit", partitions=1),
    "crosswalk": TopicSpec("crosswalk", partitions=4,
                           config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}),
}


def prefix() -> str:
    return os.environ.get("PIXELGUARD_TOPIC_PREFIX", "pixelguard")


def topic_name(key: str, topic_prefix: str | None = None) -> str:
    return f"{topic_prefix or prefix()}.{CATALOGUE[key].name}"
