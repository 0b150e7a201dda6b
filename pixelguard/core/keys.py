"""Keyed derivations: pseudonyms, UIDs, opaque ids and date offsets.

Everything here is a pure function of (key, value), so one input maps to one output on any worker, in any
run, as long as the key is the same. The key itself comes from a key service (local file embedded, Vault
transit in streaming); this module only needs something that computes HMAC-SHA256.
"""
from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

# PS3.5 B.2: a UUID-derived UID under the 2.25 root; a 128-bit integer keeps it within 64 characters.
_UUID_ROOT = "2.25."
# The shapes of what Derivations.input_id and the routing keys (uid, content_id) make: a reader can tell one
# of ours from a value someone else put in the field (an MRN), and copy only ours.
INPUT_ID_SHAPE = re.compile(r"^in-[0-9a-f]{8,64}$")
ROUTING_KEY_SHAPE = re.compile(r"^(2\.25\.[0-9]{1,40}|obj-[0-9a-f]{8,64})$")


class Hmac(Protocol):
    def __call__(self, purpose: str, value: bytes) -> bytes: ...


@dataclass(frozen=True)
class Derivations:
    mac: Hmac

    def uid(self, original: str) -> str:
        digest = self.mac("uid", original.strip("\x00 ").encode())
        return _UUID_ROOT + str(int.from_bytes(digest[:16], "big"))

    def pseudonym(self, kind: str, original: str) -> str:
        digest = self.mac(f"pseudonym:{kind}", original.strip().encode())
        return "PG" + base64.b32encode(digest[:10]).decode().rstrip("=")

    def input_id(self, reference: str) -> str:
        """Opaque id for an input reference: safe in manifests, logs and spans."""
        return "in-" + self.mac("input", reference.encode())[:10].hex()

    def content_id(self, data: bytes) -> str:
        """Output name for objects without identifiers of their own (JPEG, PNG, NIfTI)."""
        return "obj-" + self.mac("content", hashlib.sha256(data).digest())[:12].hex()

    def date_offset_days(self, patient_key: str, span_days: int = 3650) -> int:
        """Per-patient shift, negative so shifted dates never land in the future."""
        digest = self.mac("date-offset", patient_key.encode())
        return -(1 + int.from_bytes(digest[:4], "big") % span_days)
