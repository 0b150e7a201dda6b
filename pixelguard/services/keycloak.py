"""Keycloak (the OIDC identity provider behind ``pixelguard api``) run on 127.0.0.1 from its Quarkus distribution.

The zip (``org.keycloak:keycloak-quarkus-dist``, Maven Central) is fetched once through the project's Maven
repository (``<cache>/m2``, as Kafka's and s3proxy's jars are), unpacked and *built* once for the in-memory
``dev-mem`` database into ``<cache>/keycloak-<version>``: ``kc.sh build`` costs ~20 s, and ``start
--optimized`` afterwards skips it on every start. The database is in memory, so each start begins empty
and the realm files handed to the service are created through the admin API once it answers. One node
(``--cache=local``): no cluster discovery listening beyond 127.0.0.1.

A random admin password is kept 0600 in the state folder; tests and the API use the realm's own clients.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .base import LocalService, ServiceError, free_port, port_open, wait_until
from .kafka import java_binary
from .maven import maven_copy
from .paths import REPO_ROOT, cache_root

VERSION = "26.5.6"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
REALM_FILE = REPO_ROOT / "deploy" / "keycloak" / "pixelguard-realm.json"
REALM = "pixelguard"
HEAP = "-Xms64m -Xmx512m"


def home() -> Path:
    return cache_root() / f"keycloak-{VERSION}"


def _built_marker() -> Path:
    return home() / ".pixelguard-built"


def install_keycloak() -> Path:
    """Idempotent: the unpacked, built distribution in the cache (network on the first run only).

    Everything happens in a scratch folder renamed into place at the end, so an interrupted install never
    leaves a half-built Keycloak that a later run would trust.
    """
    target = home()
    if _built_marker().is_file() and "cache=local" in _built_marker().read_text():
        return target
    java = java_binary()
    scratch = cache_root() / f"keycloak-{VERSION}.partial"
    dist = maven_copy("keycloak", ARTIFACT, scratch, "keycloak-quarkus-dist-*.zip")
    with zipfile.ZipFile(dist) as archive:
        archive.extractall(scratch)
    dist.unlink()
    unpacked = scratch / f"keycloak-{VERSION}"
    for script in (unpacked / "bin").glob("*.sh"):
        script.chmod(0o755)  # zipfile drops the mode bits
    env = {**os.environ, "JAVA": java}
    # cache=local: one node, no JGroups discovery listening beyond 127.0.0.1.
    build = subprocess.run([str(unpacked / "bin" / "kc.sh"), "build", "--db=dev-mem", "--cache=local"],
                           capture_output=True, text=True, check=False, env=env, cwd=unpacked)
    if build.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        tail = (build.stdout + build.stderr).strip().splitlines()[-30:]
        raise ServiceError(f"keycloak: `kc.sh build --db=dev-mem` failed (rc={build.returncode}):\n"
                           + "\n".join(tail))
    shutil.rmtree(target, ignore_errors=True)
    unpacked.replace(target)
    shutil.rmtree(scratch, ignore_errors=True)
    _built_marker().write_text(f"{VERSION} dev-mem cache=local\n")
    return target


def _http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
          timeout: float = 10.0) -> tuple[int, bytes]:
    # No proxy: a developer's HTTP(S)_PROXY must not swallow 127.0.0.1 calls.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


class KeycloakService(LocalService):
    """One Keycloak on ``127.0.0.1:port`` (management on another port) with ``realm_files`` imported at start."""

    name = "keycloak"

    def __init__(self, state_dir: Path | None = None, port: int | None = None,
                 realm_files: Sequence[Path] = (REALM_FILE,)) -> None:
        super().__init__(state_dir)
        self.port = port or free_port()
        self.management_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.realm_files = list(realm_files)
        self.start_seconds: float | None = None

    def issuer(self, realm: str = REALM) -> str:
        return f"{self.url}/realms/{realm}"

    def admin_password(self) -> str:
        """Made on first use, kept 0600 in the state folder, never printed."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "admin-password"
        with contextlib.suppress(OSError):
            return path.read_text().strip()
        password = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password)
        return password

    def install(self) -> None:
        install_keycloak()

    def start(self, timeout: float = 300.0) -> None:
        if not _built_marker().is_file() or "cache=local" not in _built_marker().read_text():
            raise ServiceError("keycloak: not installed; run `pixelguard services install keycloak`")
        if port_open(self.port):
            raise ServiceError(f"keycloak: 127.0.0.1:{self.port} is already in use")
        kc = home() / "bin" / "kc.sh"
        argv = [str(kc), "start", "--optimized", "--http-enabled=true", "--hostname-strict=false",
                "--http-host=127.0.0.1", f"--http-port={self.port}",
                f"--http-management-port={self.management_port}", "--cache=local"]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {"JAVA": java_binary(), "JAVA_OPTS_KC_HEAP": HEAP,
               "KC_BOOTSTRAP_ADMIN_USERNAME": "admin", "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password()}
        t0 = time.monotonic()
        # kc.sh execs java, so the pid we start is the JVM's and stop() reaches it.
        proc = self.process.spawn(argv, env=env, cwd=self.state_dir)
        try:
            wait_until(lambda: self.realm_ready("master"), timeout, f"keycloak on {self.url}",
                       self.process.log_file, proc, interval=0.5)
            # Realms go in through the admin API rather than --import-realm: that reads <home>/data/import,
            # one folder shared by every server of the cached install, where each server needs its own.
            for realm in self.realm_files:
                self.import_realm(json.loads(realm.read_text()))
        except ServiceError:
            self.process.stop()
            raise
        self.start_seconds = time.monotonic() - t0

    def realm_ready(self, realm: str = REALM) -> bool:
        if not port_open(self.port):
            return False
        status, _ = _http(f"{self.issuer(realm)}/.well-known/openid-configuration", timeout=2.0)
        return status == 200

    def healthy(self) -> bool:
        return self.realm_ready(REALM if REALM_FILE in self.realm_files else "master")

    def admin_token(self) -> str:
        import urllib.parse

        form = {"grant_type": "password", "client_id": "admin-cli", "username": "admin",
                "password": self.admin_password()}
        status, body = _http(f"{self.issuer('master')}/protocol/openid-connect/token",
                             urllib.parse.urlencode(form).encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise ServiceError(f"keycloak: the bootstrap admin cannot log in ({status})")
        return str(json.loads(body)["access_token"])

    def import_realm(self, realm: dict[str, Any]) -> None:
        """Create ``realm`` (a realm file's JSON: roles, clients, users) on this server."""
        status, body = _http(f"{self.url}/admin/realms", json.dumps(realm).encode(),
                             {"Content-Type": "application/json", "Authorization": f"Bearer {self.admin_token()}"},
                             timeout=60.0)
        if status != 201:
            raise ServiceError(f"keycloak: importing realm {realm.get('realm')!r} failed ({status}): {body[:300]!r}")

    def password_grant(self, username: str, password: str, client_id: str = "pixelguard-tests",
                       realm: str = REALM, client_secret: str | None = None) -> dict[str, Any]:
        """A token response for a test user (direct-access grants exist only on the realm's test client)."""
        import urllib.parse

        form = {"grant_type": "password", "client_id": client_id, "username": username, "password": password,
                "scope": "openid"}
        if client_secret:
            form["client_secret"] = client_secret
        status, body = _http(f"{self.issuer(realm)}/protocol/openid-connect/token",
                             urllib.parse.urlencode(form).encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise ServiceError(f"keycloak: password grant for a test user failed ({status}): {body[:300]!r}")
        return dict(json.loads(body))
