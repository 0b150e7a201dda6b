"""The key-service interface the core and the runners depend on."""
from __future__ import annotations

from typing import Protocol


class KeyService(Protocol):
    def hmac(self, purpose: str, value: bytes) -> bytes:
        """Keyed digest used for pseudonyms, UIDs and opaque ids (deterministic across workers)."""

    def encrypt(self, plaintexts: list[bytes]) -> list[str]:
        """Encrypt crosswalk entries (a batch, so remote services can use one call)."""

    def decrypt(self, ciphertexts: list[str]) -> list[bytes]:
        """Decrypt crosswalk entries; only re-identification tooling calls this."""
