"""PostgreSQL (Debian's package, 15) for the job store, run on 127.0.0.1 as the ``postgres`` user.

PostgreSQL refuses to run as root, so when we are root its binaries run through ``runuser -u postgres`` on a
cluster folder that user owns; as any other user they run as that user. The package's own cluster (its
systemd unit, port 5432) is never used: each server is ``initdb``'d into its state folder, listens on
127.0.0.1 only (its Unix socket in the state folder too) and is stopped by ``pg_ctl stop`` on that folder,
then by pid. ``-A trust`` is for loopback tests only: anyone on this machine may connect as the owner.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from .base import LocalService, ServiceError, free_port, port_open, wait_until

MAJOR = 15
BIN = Path(f"/usr/lib/postgresql/{MAJOR}/bin")
DEBIAN_PACKAGE = "postgresql"
OS_USER = "postgres"
DB_USER = "pixelguard"
DATABASE = "pixelguard"


def install_postgres() -> Path:
    """Idempotent: Debian's package (apt, once), its daemon left stopped; the binaries folder."""
    if (BIN / "pg_ctl").is_file():
        return BIN
    if os.geteuid() != 0:
        raise ServiceError(f"postgres: {BIN} is missing; install Debian's package: "
                           f"sudo apt-get install --no-install-recommends {DEBIAN_PACKAGE}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # policy-rc.d refuses the package's own daemon start while installing: we run our own clusters.
    guard = Path("/usr/sbin/policy-rc.d")
    made_guard = not guard.exists()
    if made_guard:
        guard.write_text("#!/bin/sh\nexit 101\n")
        guard.chmod(0o755)
    try:
        for cmd in (["apt-get", "-o", "DPkg::Lock::Timeout=900", "update", "-qq"],
                    ["apt-get", "-o", "DPkg::Lock::Timeout=900", "install", "-y", "-qq",
                     "--no-install-recommends", DEBIAN_PACKAGE]):
            result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
            if result.returncode != 0:
                tail = (result.stdout + result.stderr).strip().splitlines()[-20:]
                raise ServiceError(f"postgres: `{' '.join(cmd)}` failed (rc={result.returncode}):\n" + "\n".join(tail))
    finally:
        if made_guard:
            guard.unlink(missing_ok=True)
    if not (BIN / "pg_ctl").is_file():
        raise ServiceError(f"postgres: {DEBIAN_PACKAGE} installed but {BIN / 'pg_ctl'} is missing; is it "
                           f"PostgreSQL {MAJOR} (Debian 12)?")
    return BIN


def _as_owner() -> list[str]:
    return ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []


class PostgresService(LocalService):
    """One cluster on ``127.0.0.1:port``; ``url`` is the SQLAlchemy URL of its ``pixelguard`` database."""

    name = "postgres"

    def __init__(self, state_dir: Path | None = None, port: int | None = None, data_dir: Path | None = None) -> None:
        super().__init__(state_dir)
        self.port = port or free_port()
        self.data_dir = data_dir or self._default_data_dir()
        self.url = f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{DATABASE}"
        self.start_seconds: float | None = None

    def _default_data_dir(self) -> Path:
        if os.geteuid() != 0:
            return self.state_dir / "data"
        # As root the cluster cannot live under the state folder: ~root is 0700 and pytest resets its tmp
        # root to 0700 whenever another session starts, cutting the postgres user off mid-run. Its own home
        # is the folder it is sure to reach; one cluster per state folder.
        tag = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
        return Path(pwd.getpwnam(OS_USER).pw_dir) / "pixelguard" / tag / "data"

    def install(self) -> None:
        install_postgres()

    def _run(self, argv: list[str], what: str) -> None:
        result = subprocess.run(_as_owner() + argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-20:]
            raise ServiceError(f"postgres: {what} failed (rc={result.returncode}):\n" + "\n".join(tail))

    def _own_data_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if os.geteuid() == 0:
            # Only the cluster's own folder (it holds the socket too); never a parent someone else shares.
            shutil.chown(self.data_dir.parent, OS_USER, OS_USER)

    def start(self, timeout: float = 60.0) -> None:
        if not (BIN / "pg_ctl").is_file():
            raise ServiceError("postgres: not installed; run `pixelguard services install postgres`")
        if port_open(self.port):
            raise ServiceError(f"postgres: 127.0.0.1:{self.port} is already in use")
        self._own_data_dir()
        fresh = not (self.data_dir / "PG_VERSION").is_file()
        if fresh:
            self._run([str(BIN / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", DB_USER,
                       "-E", "UTF8", "--no-instructions"], "initdb")
        t0 = time.monotonic()
        # postgres itself (not pg_ctl) is our child, so the pid file names the server and stop() reaches it.
        argv = _as_owner() + [str(BIN / "postgres"), "-D", str(self.data_dir), "-c", "listen_addresses=127.0.0.1",
                              "-p", str(self.port), "-k", str(self.data_dir.parent)]
        proc = self.process.spawn(argv, cwd=self.state_dir)
        try:
            wait_until(self.healthy, timeout, f"postgres on 127.0.0.1:{self.port}", self.process.log_file, proc)
            if fresh:
                self._run([str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER,
                           DATABASE], "createdb")
        except ServiceError:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0

    def stop(self) -> None:
        # A fast shutdown ends open sessions (a pooled engine may still hold some, which SIGTERM's "smart"
        # shutdown would wait on forever); then the pid we started is reaped or killed.
        if self.process.running_pid() is not None and (self.data_dir / "postmaster.pid").is_file():
            subprocess.run(_as_owner() + [str(BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                                          "-t", "30", "stop"], capture_output=True, check=False)
        self.process.stop()

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        result = subprocess.run([str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER],
                                capture_output=True, check=False)
        return result.returncode == 0
