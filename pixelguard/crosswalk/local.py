"""The embedded crosswalk: an append-only JSONL file of encrypted entries beside the local key file.

Each line holds only the opaque input id and job id in clear; everything else (paths, original values,
pseudonyms) is one ciphertext, so the file is useless without the key.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from pixelguard.keyservice.base import KeyService

from .base import CrosswalkEntry

__all__ = ["CrosswalkEntry", "LocalCrosswalk", "crosswalk_path"]


class LocalCrosswalk:
    def __init__(self, path: Path, keys: KeyService) -> None:
        self.path = path
        self.keys = keys

    def append(self, entries: list[CrosswalkEntry]) -> None:
        if not entries:
            return
        tokens = self.keys.encrypt([json.dumps(asdict(e), sort_keys=True).encode() for e in entries])
        lines = "".join(json.dumps({"v": 1, "input_id": e.input_id, "job_id": e.job_id, "ct": t}) + "\n"
                        for e, t in zip(entries, tokens, strict=True))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(lines)

    def entries(self, job_id: str | None = None) -> Iterator[CrosswalkEntry]:
        if not self.path.exists():
            return
        with open(self.path) as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        rows = [r for r in rows if job_id is None or r["job_id"] == job_id]
        for plain in self.keys.decrypt([r["ct"] for r in rows]):
            yield CrosswalkEntry(**json.loads(plain))

    def lookup(self, pseudonym: str) -> list[CrosswalkEntry]:
        # The file is small and local: decrypt and match, no index needed.
        return [e for e in self.entries() if pseudonym in e.lookup_terms()]


def crosswalk_path(key_file: Path) -> Path:
    return key_file.parent / "crosswalk.jsonl"
