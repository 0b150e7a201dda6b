"""The embedded default key service: a key file (0600) kept outside the output folder.

The file holds two independent random 256-bit keys: one for HMAC derivations (pseudonyms, UIDs) and one
for AES-GCM encryption of crosswalk entries: deriving identifiers and encrypting the crosswalk are two jobs,
and neither key's exposure should give away the other's.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "pg:v1:"


class KeyFileError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalKeyService:
    hmac_key: bytes
    encryption_key: bytes
    path: Path

    @classmethod
    def open(cls, path: Path, create: bool = True) -> LocalKeyService:
        path = path.expanduser().resolve()
        if not path.exists():
            if not create:
                raise KeyFileError(f"key file {path} does not exist")
            _create_key_file(path)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeyFileError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            doc = json.loads(path.read_text())
            return cls(base64.b64decode(doc["hmac_key"]), base64.b64decode(doc["encryption_key"]), path)
        except (ValueError, KeyError) as exc:
            raise KeyFileError(f"key file {path} is not a PixelGuard key file ({exc.__class__.__name__})") from None

    def hmac(self, purpose: str, value: bytes) -> bytes:
        # The purpose is bound into the MAC so a PatientID pseudonym can never equal a UID digest.
        return hmac.new(self.hmac_key, purpose.encode() + b"\x00" + value, hashlib.sha256).digest()

    def encrypt(self, plaintexts: list[bytes]) -> list[str]:
        aead = AESGCM(self.encryption_key)
        out = []
        for plaintext in plaintexts:
            nonce = os.urandom(12)
            out.append(_PREFIX + base64.b64encode(nonce + aead.encrypt(nonce, plaintext, None)).decode())
        return out

    def decrypt(self, ciphertexts: list[str]) -> list[bytes]:
        aead = AESGCM(self.encryption_key)
        out = []
        for token in ciphertexts:
            if not token.startswith(_PREFIX):
                raise KeyFileError("not a ciphertext of the local key service")
            raw = base64.b64decode(token[len(_PREFIX):])
            out.append(aead.decrypt(raw[:12], raw[12:], None))
        return out


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    doc = {
        "version": 1,
        "hmac_key": base64.b64encode(os.urandom(32)).decode(),
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
    }
    # O_EXCL: two worker processes racing on first use must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle)
