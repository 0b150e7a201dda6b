"""Process lifecycle shared by the local servers: start in its own session, health-check, stop by pid.

Servers are stopped by the process id we started (SIGTERM to its process group, then SIGKILL after a
grace period), never by name, so a developer's other processes are never touched.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .paths import run_root


class ServiceError(RuntimeError):
    """A local server could not be installed, started or reached; the message says which and why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(url: str, timeout: float = 5.0, limit: int | None = None) -> tuple[int, bytes]:
    """(status, body) of a GET; an HTTP error status is an answer too. At most ``limit`` bytes (+1) are read,
    so a caller can tell an oversized answer from one that fits. Network failures raise (URLError, OSError)."""
    # No proxy: a developer's HTTP(S)_PROXY must not swallow 127.0.0.1 calls.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    amount = -1 if limit is None else limit + 1
    try:
        with opener.open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read(amount)
    except urllib.error.HTTPError as err:
        return int(err.code), err.read(amount)


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None,
               proc: subprocess.Popen[bytes] | None = None, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what}: process exited with code {proc.returncode}{_log_tail(log)}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a server that is still starting may answer anything
            pass
        time.sleep(interval)
    raise ServiceError(f"{what}: not ready after {timeout:.0f}s{_log_tail(log)}")


def _log_tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log} ---\n" + "\n".join(tail)


@dataclass
class ManagedProcess:
    """One server process we started; knows its pid file so another CLI call can stop it."""

    name: str
    state_dir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.running_pid() is not None:
            raise ServiceError(f"{self.name} already running (pid {self.running_pid()}, {self.pid_file})")
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=full_env, cwd=cwd, start_new_session=True)
        log.close()
        self.pid_file.write_text(f"{self.proc.pid} {_start_ticks(self.proc.pid)}")
        return self.proc

    def running_pid(self) -> int | None:
        try:
            fields = self.pid_file.read_text().split()
            pid, ticks = int(fields[0]), fields[1] if len(fields) > 1 else ""
        except (OSError, ValueError, IndexError):
            return None
        if ticks and _start_ticks(pid) != ticks:
            return None  # that pid now belongs to another process: never signal it
        if self.proc is not None and self.proc.pid == pid:
            return pid if self.proc.poll() is None else None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def stop(self, grace: float = 15.0) -> None:
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        # The child leads its own session, so its process group id is its pid: this reaches the
        # helpers it forked (e.g. Triton's Python-backend stubs) and nothing else.
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.1)
        if self._alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        pid = self.running_pid()
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def _alive(self, pid: int) -> bool:
        if self.proc is not None and self.proc.pid == pid:
            return self.proc.poll() is None
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
            if waited == pid:
                return False
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _start_ticks(pid: int) -> str:
    """The process start time (field 22 of /proc/PID/stat): with the pid, it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


class LocalService(ABC):
    """A real server run on 127.0.0.1 from files installed under the cache folder."""

    name: str

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = state_dir or (run_root() / self.name)
        self.process = ManagedProcess(self.name, self.state_dir)

    @abstractmethod
    def install(self) -> None:
        """Idempotently install what the server needs into the cache folder (network on first run only)."""

    @abstractmethod
    def start(self, timeout: float = 120.0) -> None:
        """Start the server and return once it answers its health check."""

    @abstractmethod
    def healthy(self) -> bool:
        """True when the server answers as ready."""

    def stop(self) -> None:
        self.process.stop()

    def spawn_healthy(self, argv: Sequence[str], timeout: float, what: str, cwd: Path | None = None) -> None:
        """Start ``argv`` and wait for ``healthy``; a server that never gets there is stopped, not left behind."""
        proc = self.process.spawn(argv, cwd=cwd)
        try:
            wait_until(self.healthy, timeout, what, self.process.log_file, proc)
        except ServiceError:
            self.process.stop()
            raise

    def status(self) -> str:
        pid = self.process.running_pid()
        if pid is None:
            return f"{self.name}: stopped"
        return f"{self.name}: running pid={pid} {'healthy' if self.healthy() else 'NOT healthy'}"

    def __enter__(self) -> LocalService:
        self.install()
        try:
            self.start()
        except BaseException:
            self.stop()  # a server that never became healthy must not outlive the caller
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
