"""The crosswalk interface: one entry per processed input, encrypted at rest by a key service.

Backends (one module each): ``local.py`` (JSONL file beside the local key file, the embedded default) and
``kafka.py`` (the compacted crosswalk topic, encrypted by Vault transit, for streaming and production).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from pixelguard.keyservice.base import KeyService


@dataclass
class CrosswalkEntry:
    input_id: str
    job_id: str
    input_path: str
    output_path: str
    status: str
    pseudonyms: dict[str, str] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)  # "Attribute:original" -> pseudonym

    def to_plaintext(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_plaintext(cls, data: bytes) -> CrosswalkEntry:
        return cls(**json.loads(data))

    def lookup_terms(self) -> set[str]:
        """What a re-identifier may hold in hand: any pseudonym, or the output's own name (e.g. a new UID)."""
        terms = set(self.pseudonyms.values()) | set(self.originals.values())
        if self.output_path:
            name = PurePosixPath(self.output_path).name
            terms.add(name[: -len(".nii.gz")] if name.endswith(".nii.gz") else PurePosixPath(name).stem)
        terms.discard("")
        return terms


class CrosswalkStore(Protocol):
    def append(self, entries: list[CrosswalkEntry]) -> None:
        """Encrypt and store entries; returns only once they are durable (the caller may then publish)."""

    def entries(self, job_id: str | None = None) -> Iterator[CrosswalkEntry]:
        """Decrypted entries (re-identification tooling only), optionally of one job."""

    def lookup(self, pseudonym: str) -> list[CrosswalkEntry]:
        """Decrypted entries whose pseudonyms (or output name) include ``pseudonym``."""


def index_tag(keys: KeyService, term: str) -> str:
    """Keyed tag of a lookup term, stored beside the ciphertext instead of the pseudonym itself.

    Keyed (not a plain hash), so a reader of the crosswalk store without the key service can neither
    link an entry to a clean object's pseudonym nor test guesses; 128 bits keep collisions out of reach.
    """
    return keys.hmac("crosswalk-index", term.encode())[:16].hex()
