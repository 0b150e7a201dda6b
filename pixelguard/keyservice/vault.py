"""The streaming and production key service: Vault / OpenBao transit, reached with hvac.

Two transit keys with separate jobs, so that a worker can derive and encrypt but never decrypt (names from
:class:`VaultLayout`):

- ``<prefix>-crosswalk`` encrypts crosswalk entries. Workers may only *encrypt* with it; only a token with
  the re-identifier policy may decrypt; the key officer may rotate it and rewrap, never decrypt.
- ``<prefix>-datakey`` is a key-encryption key. It wraps one random 256-bit HMAC *data key* (made by
  ``transit/datakey/wrapped`` at setup, stored only as a ciphertext in KV v2). Each worker unwraps it once
  at start and holds it in memory; pseudonyms, UIDs and opaque ids are HMAC-SHA256 under it, computed
  locally.

Why a data key rather than ``transit/hmac`` per value: a DICOM header needs dozens of derivations, and
one HTTP round trip each would make Vault the throughput limit and a hard dependency of every stage;
with the data key the derivations are as fast as the local key file and byte-for-byte deterministic
across workers (they all unwrap the same key). The price is that the HMAC key lives in worker memory
(a compromised worker could compute pseudonyms; it could equally call ``transit/hmac``), and it cannot
be "rotated" without changing every pseudonym, so rotation rotates the *wrapping* key and rewraps the
stored data key: pseudonyms stay stable, the at-rest ciphertext moves to the new key version.

Every call retries transient faults (connection refused, sealed 503, standby 429, 500/502) with capped
exponential backoff until a deadline, then raises :class:`VaultUnavailable` with a message a user can act
on. A policy refusal raises :class:`VaultDenied` at once. Messages never carry plaintext: they name the
operation, the key and the HTTP class only.
"""
from __future__ import annotations

import base64
import hashlib
import hmac as _hmac
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from .vault_login import AppRoleLogin, VaultLogin

T = TypeVar("T")

# OpenBao's listener refuses a JSON body with more than 1000 strings (max_request_json_strings); each batch
# item costs two ({"plaintext": "..."}), so 499 is the ceiling measured on 2.x. 400 leaves room for a
# per-item field (context, key_version) and still makes 10,000 entries 25 round trips.
DEFAULT_BATCH = 400


class VaultError(RuntimeError):
    """The key service failed; the message names the operation, never a value."""


class VaultUnavailable(VaultError):
    """Sealed, stopped, unreachable or overloaded for longer than the retry deadline."""


class VaultDenied(VaultError):
    """The token's policies do not allow the operation (e.g. a worker token asked to decrypt)."""


@dataclass(frozen=True)
class VaultLayout:
    """Names of everything PixelGuard keeps in Vault, derived from one prefix so tests can run side by side."""

    prefix: str = "pixelguard"
    transit_mount: str = "transit"
    kv_mount: str = "pixelguard-kv"
    approle_mount: str = "approle"

    @property
    def crosswalk_key(self) -> str:
        return f"{self.prefix}-crosswalk"

    @property
    def datakey_key(self) -> str:
        return f"{self.prefix}-datakey"

    @property
    def datakey_path(self) -> str:
        return f"{self.prefix}/hmac-datakey"

    @property
    def worker_policy(self) -> str:
        return f"{self.prefix}-worker"

    @property
    def reidentifier_policy(self) -> str:
        return f"{self.prefix}-reidentifier"

    @property
    def admin_policy(self) -> str:
        return f"{self.prefix}-admin"

    @property
    def worker_role(self) -> str:
        return f"{self.prefix}-worker"

    def decrypt_path(self) -> str:
        return f"{self.transit_mount}/decrypt/{self.crosswalk_key}"

    def rotate_path(self) -> str:
        return f"{self.transit_mount}/keys/{self.crosswalk_key}/rotate"


@dataclass(frozen=True)
class RetryPolicy:
    deadline_s: float = 60.0
    first_delay_s: float = 0.1
    max_delay_s: float = 2.0


# What a restart, a seal or a raft election looks like from the client: retry these, nothing else.
_TRANSIENT: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    hvac.exceptions.VaultDown,  # 503: sealed
    hvac.exceptions.RateLimitExceeded,  # 429: standby right after unseal
    hvac.exceptions.InternalServerError,  # 500: "local node not active" during an election
    hvac.exceptions.BadGateway,
)


def make_hvac_client(addr: str, token: str | None) -> hvac.Client:
    """hvac client that ignores proxy variables: the key service is never reached through a proxy."""
    session = requests.Session()
    session.trust_env = False
    return hvac.Client(url=addr, token=token, session=session, timeout=30)


def _short(err: BaseException) -> str:
    """Class and server reason of an hvac error, flattened and cut; the server never echoes plaintext."""
    if isinstance(err, requests.RequestException):
        return f"{err.__class__.__name__}: no answer"  # requests' own text is a long URL/socket dump
    text = " ".join(str(err).split())
    return f"{err.__class__.__name__}: {text[:160]}" if text else err.__class__.__name__


class VaultSession:
    """One authenticated hvac client plus the retry loop; logs in again (AppRole, Kubernetes) when its token
    lapses."""

    def __init__(self, addr: str, token: str | None = None, *, role_id: str | None = None,
                 secret_id: str | None = None, login: VaultLogin | None = None, layout: VaultLayout | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.layout = layout or VaultLayout()
        if login is None and role_id is not None:
            login = AppRoleLogin(role_id, secret_id or "", mount=self.layout.approle_mount)
        if token is None and login is None:
            raise VaultError("no Vault credentials: set VAULT_TOKEN, give an AppRole role_id and secret_id, "
                             "or a Kubernetes auth role")
        self.addr = addr
        self.retry = retry or RetryPolicy()
        self._login = login
        self.client = make_hvac_client(addr, token)
        if token is None:
            self.login()

    def login(self) -> None:
        assert self._login is not None
        result = self.call(self._login.what, self._login, relogin=False)
        self.client.token = result["auth"]["client_token"]

    def call(self, what: str, fn: Callable[[hvac.Client], T], *, relogin: bool = True) -> T:
        deadline = time.monotonic() + self.retry.deadline_s
        delay = self.retry.first_delay_s
        relogged = False
        while True:
            try:
                return fn(self.client)
            except hvac.exceptions.Forbidden as err:
                # An expired login token also answers 403: log in once more before calling it a denial.
                if relogin and self._login is not None and not relogged:
                    relogged = True
                    self.login()
                    continue
                raise VaultDenied(f"{what}: refused by Vault policy ({_short(err)})") from None
            except hvac.exceptions.Unauthorized as err:
                raise VaultDenied(f"{what}: the Vault token is not valid ({_short(err)})") from None
            except _TRANSIENT as err:
                if time.monotonic() + delay > deadline:
                    raise VaultUnavailable(
                        f"{what}: Vault at {self.addr} unavailable for {self.retry.deadline_s:.0f}s "
                        f"(last: {_short(err)}); is it running and unsealed?") from None
                time.sleep(delay)
                delay = min(delay * 2, self.retry.max_delay_s)
            except hvac.exceptions.VaultError as err:
                raise VaultError(f"{what}: {_short(err)}") from None

    def capabilities(self, paths: Sequence[str]) -> dict[str, list[str]]:
        """What this token may do on each path (``sys/capabilities-self``, allowed by the default policy)."""
        result = self.call("capability check", lambda c: c.sys.get_capabilities(paths=list(paths)))
        data = result.get("data", result)
        return {p: list(data.get(p, [])) for p in paths}

    def actor(self) -> str:
        """Who this token is, for the audit trail: display name, AppRole role, and a digest of the accessor.

        The accessor is hashed (as Vault's own audit device does) so the trail can tell tokens apart
        without holding a handle that could be used to revoke or look them up.
        """
        data = self.call("token lookup", lambda c: c.auth.token.lookup_self())["data"]
        meta = data.get("meta") or {}
        who = f"vault:{data.get('display_name') or 'token'}"
        if meta.get("role_name"):
            who += f":{meta['role_name']}"
        accessor = data.get("accessor") or ""
        return f"{who}#{hashlib.sha256(accessor.encode()).hexdigest()[:12]}"


def _transit(operation: str, **kwargs: Any) -> Callable[[hvac.Client], Any]:
    """A transit call with its arguments bound now, so a batch built in a loop is the one sent."""
    return lambda client: getattr(client.secrets.transit, operation)(**kwargs)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _batch_results(what: str, result: dict, expected: int) -> list[dict]:
    rows = result["data"]["batch_results"]
    if len(rows) != expected:
        raise VaultError(f"{what}: {len(rows)} results for {expected} inputs")
    for index, row in enumerate(rows):
        if row.get("error"):
            # Per-item errors are the server's words about the item ("invalid ciphertext"), never its value.
            raise VaultError(f"{what}: item {index} failed: {' '.join(str(row['error']).split())[:160]}")
    return rows


def key_version(ciphertext: str) -> int:
    """The key version a transit ciphertext was made with (``vault:v3:...`` -> 3)."""
    parts = ciphertext.split(":", 2)
    if len(parts) != 3 or parts[0] != "vault" or not parts[1].startswith("v"):
        raise VaultError("not a transit ciphertext")
    return int(parts[1][1:])


@dataclass
class RotationResult:
    crosswalk_version: int
    datakey_version: int
    seconds: float


@dataclass
class VaultKeyService:
    """The KeyService protocol backed by transit; see the module docstring for the key split."""

    session: VaultSession
    batch_size: int = DEFAULT_BATCH
    _hmac_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def connect(cls, addr: str, token: str | None = None, *, role_id: str | None = None,
                secret_id: str | None = None, layout: VaultLayout | None = None,
                retry: RetryPolicy | None = None) -> VaultKeyService:
        return cls(VaultSession(addr, token, role_id=role_id, secret_id=secret_id, layout=layout, retry=retry))

    @classmethod
    def for_worker(cls, addr: str, role_id: str, secret_id: str, layout: VaultLayout | None = None,
                   retry: RetryPolicy | None = None) -> VaultKeyService:
        """AppRole login and HMAC data key unwrap, both at start: a worker that cannot get its key fails
        before it takes any work, instead of half-way through an object."""
        service = cls.connect(addr, role_id=role_id, secret_id=secret_id, layout=layout, retry=retry)
        service.load_hmac_key()
        return service

    @classmethod
    def logged_in(cls, addr: str, login: VaultLogin, layout: VaultLayout | None = None,
                  retry: RetryPolicy | None = None) -> VaultKeyService:
        """A worker by any login (``vault_login``: Kubernetes auth in a pod), its data key unwrapped at start
        as in :meth:`for_worker`."""
        service = cls(VaultSession(addr, login=login, layout=layout, retry=retry))
        service.load_hmac_key()
        return service

    @property
    def layout(self) -> VaultLayout:
        return self.session.layout

    # -- HMAC (local, under the unwrapped data key) --------------------------------------------------
    def load_hmac_key(self) -> None:
        layout = self.layout
        stored = self.session.call("read wrapped HMAC data key", lambda c: c.secrets.kv.v2.read_secret_version(
            path=layout.datakey_path, mount_point=layout.kv_mount, raise_on_deleted_version=True))
        wrapped = stored["data"]["data"]["ciphertext"]
        result = self.session.call("unwrap HMAC data key", lambda c: c.secrets.transit.decrypt_data(
            name=layout.datakey_key, ciphertext=wrapped, mount_point=layout.transit_mount))
        key = base64.b64decode(result["data"]["plaintext"])
        if len(key) != 32:
            raise VaultError(f"HMAC data key has {len(key)} bytes, expected 32")
        self._hmac_key = key

    def hmac(self, purpose: str, value: bytes) -> bytes:
        if self._hmac_key is None:
            self.load_hmac_key()
        assert self._hmac_key is not None
        # Same construction as the local key file (purpose bound in, so a PatientID pseudonym can never
        # equal a UID digest); only where the key comes from differs.
        return _hmac.new(self._hmac_key, purpose.encode() + b"\x00" + value, hashlib.sha256).digest()

    # -- crosswalk encryption (remote, batched) -------------------------------------------------------
    def encrypt(self, plaintexts: list[bytes]) -> list[str]:
        layout = self.layout
        out: list[str] = []
        for chunk in _chunks(plaintexts, self.batch_size):
            batch = [{"plaintext": base64.b64encode(p).decode()} for p in chunk]
            result = self.session.call(f"encrypt with {layout.crosswalk_key}", _transit(
                "encrypt_data", name=layout.crosswalk_key, batch_input=batch, mount_point=layout.transit_mount))
            out += [row["ciphertext"] for row in _batch_results("encrypt", result, len(chunk))]
        return out

    def decrypt(self, ciphertexts: list[str]) -> list[bytes]:
        layout = self.layout
        out: list[bytes] = []
        for chunk in _chunks(ciphertexts, self.batch_size):
            batch = [{"ciphertext": c} for c in chunk]
            result = self.session.call(f"decrypt with {layout.crosswalk_key}", _transit(
                "decrypt_data", name=layout.crosswalk_key, batch_input=batch, mount_point=layout.transit_mount))
            out += [base64.b64decode(row["plaintext"]) for row in _batch_results("decrypt", result, len(chunk))]
        return out

    def may_decrypt(self) -> bool:
        """Whether this token holds the re-identify capability, asked before touching any entry."""
        path = self.layout.decrypt_path()
        caps = self.session.capabilities([path])[path]
        return "update" in caps or "root" in caps

    # -- rotation (key officer) -------------------------------------------------------------------------
    def latest_version(self) -> int:
        layout = self.layout
        result = self.session.call(f"read key {layout.crosswalk_key}", lambda c: c.secrets.transit.read_key(
            name=layout.crosswalk_key, mount_point=layout.transit_mount))
        return int(result["data"]["latest_version"])

    def rewrap(self, ciphertexts: list[str]) -> list[str]:
        """Move ciphertexts to the latest key version inside the server; no plaintext leaves it."""
        layout = self.layout
        out: list[str] = []
        for chunk in _chunks(ciphertexts, self.batch_size):
            batch = [{"ciphertext": c} for c in chunk]
            result = self.session.call(f"rewrap with {layout.crosswalk_key}", _transit(
                "rewrap_data", name=layout.crosswalk_key, ciphertext=None, batch_input=batch,
                mount_point=layout.transit_mount))
            out += [row["ciphertext"] for row in _batch_results("rewrap", result, len(chunk))]
        return out

    def rotate_keys(self) -> RotationResult:
        """Rotate the crosswalk key and the data-key wrapping key; rewrap the stored HMAC data key.

        The HMAC data key itself does not change (pseudonyms must stay stable); its stored ciphertext
        moves to the new wrapping-key version with a check-and-set write, so a concurrent rotation cannot
        silently overwrite it. Old crosswalk ciphertexts keep decrypting (``min_decryption_version`` is
        left alone) until the caller has rewrapped them.
        """
        started = time.perf_counter()
        layout = self.layout
        t = lambda c: c.secrets.transit  # noqa: E731
        self.session.call(f"rotate {layout.crosswalk_key}", lambda c: t(c).rotate_key(
            name=layout.crosswalk_key, mount_point=layout.transit_mount))
        self.session.call(f"rotate {layout.datakey_key}", lambda c: t(c).rotate_key(
            name=layout.datakey_key, mount_point=layout.transit_mount))
        stored = self.session.call("read wrapped HMAC data key", lambda c: c.secrets.kv.v2.read_secret_version(
            path=layout.datakey_path, mount_point=layout.kv_mount, raise_on_deleted_version=True))
        version = stored["data"]["metadata"]["version"]
        rewrapped = self.session.call("rewrap HMAC data key", lambda c: t(c).rewrap_data(
            name=layout.datakey_key, ciphertext=stored["data"]["data"]["ciphertext"],
            mount_point=layout.transit_mount))["data"]["ciphertext"]
        self.session.call("store rewrapped HMAC data key", lambda c: c.secrets.kv.v2.create_or_update_secret(
            path=layout.datakey_path, secret={"ciphertext": rewrapped}, cas=version, mount_point=layout.kv_mount))
        return RotationResult(self.latest_version(), key_version(rewrapped), time.perf_counter() - started)
