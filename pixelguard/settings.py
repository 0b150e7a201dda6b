"""Every setting a PixelGuard process takes from its environment, under one prefix: ``PIXELGUARD_``.

``Settings.from_env()`` is the one place environment variables are read for the product's own settings;
command-line flags then override single fields (``Settings.with_flags``). Used by the CLI (``pixelguard
deid``, ``worker``, ``submit``, ``review``, ``job``, ``trace``, ``crosswalk``) and by ``agents/wiring.py``,
which builds a streaming worker's adapters (keys, crosswalk, OCR engine, object store) from it. The core
stages are handed ``Settings.limits``; ``core.limits.Limits.from_env`` parses those variables, here and for a
library caller of ``core.pipeline.process`` who passes no limits.

=========================================  ==========================================================
variable                                   meaning (default)
=========================================  ==========================================================
PIXELGUARD_KAFKA_BOOTSTRAP                 Kafka bootstrap servers (127.0.0.1:9092)
PIXELGUARD_TOPIC_PREFIX                    topic names are ``<prefix>.<name>`` (pixelguard)
PIXELGUARD_PARTITIONS                      partitions of each stage topic (4)
PIXELGUARD_STORE                           object store URI or folder (~/.local/share/pixelguard/store):
                                           submitted inputs (``ingest/``) and staging; ``s3://BUCKET[/PREFIX]``
                                           or ``file://`` / a folder
PIXELGUARD_OUTPUT_STORE                    where clean and review objects are published (and their
                                           ``index/``); empty: PIXELGUARD_STORE. Another bucket keeps
                                           originals apart from what consumers may read
PIXELGUARD_S3_ENDPOINT                     S3 endpoint URL (empty: AWS_ENDPOINT_URL, else AWS itself);
                                           credentials: only the standard AWS variables or AWS_PROFILE
PIXELGUARD_KEY_FILE                        local key file (``$XDG_DATA_HOME/pixelguard/local-key.json``)
PIXELGUARD_TRITON_URL                      Triton gRPC host:port; empty: the in-process OCR engine
PIXELGUARD_CROSSWALK                       kafka (the compacted crosswalk topic) or none
PIXELGUARD_VAULT_ADDR                      Vault/OpenBao address; empty: the local key file
PIXELGUARD_VAULT_TOKEN                     a token (operators, ``crosswalk`` commands)
PIXELGUARD_VAULT_ROLE_ID                   a worker's AppRole role id
PIXELGUARD_VAULT_SECRET_ID_FILE            a file holding the worker's secret id (preferred: the secret
                                           then never sits in the environment of every child process)
PIXELGUARD_VAULT_SECRET_ID                 the secret id itself
PIXELGUARD_VAULT_KUBERNETES_ROLE           a worker's role in Vault's Kubernetes auth method: it logs in
                                           with its pod's service account token, no secret to hand it
PIXELGUARD_VAULT_KUBERNETES_MOUNT          where that auth method is mounted (kubernetes)
PIXELGUARD_VAULT_KUBERNETES_TOKEN_FILE     the service account token it presents (the kubelet's
                                           projected file, /var/run/secrets/kubernetes.io/serviceaccount/token)
PIXELGUARD_VAULT_PREFIX                    names of the transit keys, KV path and policies (pixelguard)
PIXELGUARD_WORKER_NAME                     stable worker name; its route transactions are fenced by it
PIXELGUARD_CONCURRENCY, _THREADS           events per agent at once (2), threads running stage code (2)
PIXELGUARD_WEB_PORT, _DATA_DIR             worker health port (6066: ``/live``, ``/ready``), Faust data folder
PIXELGUARD_WEB_HOST                        address the health port binds to (127.0.0.1; a pod sets 0.0.0.0
                                           so the kubelet's probes reach it)
PIXELGUARD_METRICS_PORT, _HOST             Prometheus ``/metrics`` port (0: none, the default) and the
                                           address it binds to (127.0.0.1; a pod sets 0.0.0.0)
PIXELGUARD_SESSION_TIMEOUT_S               Kafka group session timeout (10)
PIXELGUARD_REBALANCE_TIMEOUT_S             how long the group waits for a member in a rebalance (180)
PIXELGUARD_RETRIES, _BACKOFF_S             retries of a transient fault per stage (3), first backoff (0.5)
PIXELGUARD_LIVENESS_STALL_S, _INTERVAL_S   ``/live`` turns 503 after this long stuck (300); lag sampling (2)
PIXELGUARD_DATABASE_URL                    the job store, an SQLAlchemy URL (empty: SQLite in ``jobs.sqlite3``
                                           beside the key file; PostgreSQL: ``postgresql+psycopg://...``)
PIXELGUARD_API_HOST, _PORT                 ``pixelguard api`` address (127.0.0.1, 8700); beyond loopback
                                           only with single sign-on (never with --no-auth)
PIXELGUARD_OIDC_ISSUER                     the identity provider's issuer URL, e.g. Keycloak's
                                           ``https://HOST/realms/REALM`` (empty: none; ``api`` then needs
                                           --no-auth)
PIXELGUARD_OIDC_AUDIENCE                   the ``aud`` access tokens must carry (pixelguard-api)
PIXELGUARD_OIDC_CLIENT_ID, _CLIENT_SECRET  the UI's client for code + PKCE logins (pixelguard-ui; no
                                           secret: a public client)
PIXELGUARD_API_DATA                        uploads, outputs and job logs of API jobs (empty: ``api/``
                                           beside the key file)
PIXELGUARD_API_MAX_UPLOAD_BYTES            one request's body (2 GiB)
PIXELGUARD_API_MAX_OBJECTS                 objects in one job, archive members included (10000)
PIXELGUARD_API_MAX_INFLATED_BYTES          an archive's members, unpacked, together (8 GiB)
PIXELGUARD_API_MAX_RATIO                   unpacked / packed size of one member or archive (200)
PIXELGUARD_API_JOBS                        worker processes of one API job (0: one per CPU)
PIXELGUARD_<LIMIT>                         per-object budgets, one per ``core.limits.Limits`` field
                                           (PIXELGUARD_TIME_S, PIXELGUARD_MAX_FRAMES, ...)
=========================================  ==========================================================

Read where they act, before any settings object exists: ``PIXELGUARD_PROFILES`` (the profiles folder,
``core/profile.py``), ``PIXELGUARD_AUDIT_FILE`` (``audit.py``), ``PIXELGUARD_TELEMETRY_FILE``
(``telemetry/setup.py``), ``PIXELGUARD_OCR_THREADS`` (``inference/local_engine.py``) and ``PIXELGUARD_CACHE``
(``services/paths.py``, where ``pixelguard services`` installs the servers).
``PIXELGUARD_JAEGER_URL``: Jaeger's query API for ``pixelguard trace`` (``telemetry/jaeger_query.py``).

Deprecated, still read when the ``PIXELGUARD_`` name is unset: ``VAULT_ADDR`` and ``VAULT_TOKEN`` (hvac's
and the ``bao`` CLI's names, which scripts and the tests' Vault fixtures set).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pixelguard.core.limits import Limits

PREFIX = "PIXELGUARD_"
_DEPRECATED = {"VAULT_ADDR": "VAULT_ADDR", "VAULT_TOKEN": "VAULT_TOKEN"}  # our name -> the old one


def _default_key_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pixelguard" / "local-key.json"


@dataclass(frozen=True)
class VaultSettings:
    addr: str = ""
    token: str = ""
    role_id: str = ""
    secret_id: str = ""
    secret_id_file: str = ""
    # Kubernetes auth: the pod's own service account token is its credential, so no secret id is handed to
    # the pod at all (a Secret in the environment would be readable by everyone who can read the pod spec).
    kubernetes_role: str = ""
    kubernetes_mount: str = "kubernetes"
    kubernetes_token_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    prefix: str = "pixelguard"

    @property
    def configured(self) -> bool:
        return bool(self.addr)


@dataclass(frozen=True)
class Settings:
    bootstrap: str = "127.0.0.1:9092"
    prefix: str = "pixelguard"
    partitions: int = 4
    store: str = str(Path.home() / ".local/share/pixelguard/store")
    output_store: str = ""  # clean/ and review/ (and index/); empty: ``store``
    s3_endpoint: str = ""
    key_file: Path = field(default_factory=lambda: _default_key_file(os.environ))
    triton_url: str = ""
    crosswalk: str = "kafka"  # kafka | none
    vault: VaultSettings = field(default_factory=VaultSettings)
    # Worker tuning.
    worker_name: str = field(default_factory=lambda: f"w{os.getpid()}")
    concurrency: int = 2
    threads: int = 2
    web_port: int = 6066
    # Loopback unless asked: the health port is Faust's web server, which also serves its own pages.
    web_host: str = "127.0.0.1"
    # Off unless asked for: any fixed default would collide when several workers share a host (the tests,
    # bench/scale.py, a developer's second worker), and a deployment names its scrape port anyway.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    data_dir: Path = Path("/tmp/pixelguard-worker")
    session_timeout_s: float = 10.0
    # How long the group waits for a member to finish its in-flight events and rejoin during a rebalance.
    # A member slower than this is dropped, and its late rejoin starts another rebalance (see agents/app.py).
    rebalance_timeout_s: float = 180.0
    retries: int = 3
    backoff_s: float = 0.5
    # /live turns 503 when an assigned partition is behind and nothing moved on it for this long.
    liveness_stall_s: float = 300.0
    liveness_interval_s: float = 2.0
    # The job store and `pixelguard api` (pixelguard/jobstore, pixelguard/api).
    database_url: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8700
    api_data: str = ""
    api_max_upload_bytes: int = 2 << 30
    api_max_objects: int = 10_000
    api_max_inflated_bytes: int = 8 << 30
    # Real DICOM compresses 2-10x in a zip; 200x is already far past any study and still stops a bomb early.
    api_max_ratio: float = 200.0
    api_jobs: int = 0
    # Single sign-on (pixelguard/api/oidc.py, login.py).
    oidc_issuer: str = ""
    oidc_audience: str = "pixelguard-api"
    oidc_client_id: str = "pixelguard-ui"
    oidc_client_secret: str = ""
    limits: Limits = field(default_factory=Limits)

    @property
    def store_url(self) -> str:
        """The job store's SQLAlchemy URL: the configured one, or SQLite beside the key file."""
        return self.database_url or f"sqlite:///{self.key_file.expanduser().resolve().parent / 'jobs.sqlite3'}"

    @property
    def api_data_dir(self) -> Path:
        return Path(self.api_data).expanduser() if self.api_data else self.key_file.expanduser().parent / "api"

    @property
    def outputs(self) -> str:
        """The store outputs are published to: ``output_store``, else ``store``."""
        return self.output_store or self.store

    @property
    def app_id(self) -> str:
        from streams.groups import agents_group  # deferred: it loads the Kafka client, which `deid` never needs

        return agents_group(self.prefix)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults, then ``PIXELGUARD_*`` variables; a malformed number names its variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"key_file": _default_key_file(env)}
        # Two names differ from their field: the Kafka bootstrap and the topic prefix.
        names = {"bootstrap": "KAFKA_BOOTSTRAP", "prefix": "TOPIC_PREFIX"}
        for f in fields(cls):
            if f.name in ("vault", "limits"):
                continue
            raw = env.get(PREFIX + names.get(f.name, f.name.upper()))
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw, names)
        vault = {}
        for f in fields(VaultSettings):
            name = f"VAULT_{f.name.upper()}"
            raw = env.get(PREFIX + name) or env.get(_DEPRECATED.get(name, ""), "")
            if raw:
                vault[f.name] = raw
        values["vault"] = VaultSettings(**vault)
        values["limits"] = Limits.from_env(env)
        return cls(**values)

    def with_flags(self, **flags: Any) -> Settings:
        """These settings with each flag that was given (not None, not "") in place of its field."""
        given = {k: v for k, v in flags.items() if v is not None and v != ""}
        vault = {k.removeprefix("vault_"): given.pop(k) for k in list(given) if k.startswith("vault_")}
        out = replace(self, **given)
        return replace(out, vault=replace(out.vault, **vault)) if vault else out


def _convert(name: str, kind: object, raw: str, names: Mapping[str, str]) -> object:
    variable = PREFIX + names.get(name, name.upper())
    try:
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a number; unset it or give one") from None
    if kind in ("Path", Path):
        return Path(raw).expanduser()
    return raw


__all__ = ["Settings", "VaultSettings", "PREFIX"]
