"""A real Triton Inference Server run as a local CPU process, serving ``deploy/triton/models``.

No Docker engine and no GPU here, so the server is the ``tritonserver`` 2.51 binary shipped in the
``nvidia-pytriton`` wheel, installed into its own virtual environment (the wheel pins numpy<2 while the
application uses numpy 2, just as the NVIDIA container would keep its own Python in production).
Pitfalls this module works around are written up in ``/work/shared/notes/triton-cpu.md``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pixelguard.data import TRITON_MODELS

from .base import LocalService, ServiceError, wait_until
from .paths import cache_root

PYTRITON_VERSION = "0.7.0"
# Pinned so a rebuilt venv matches the one tests passed on; bump both here and the marker follows.
# opencv-python-headless < 4.11 is the last line built against numpy 1.x, which nvidia-pytriton pins (the app venv
# has 5.0, whose cv2.minAreaRect differs: pyproject.toml).
SERVER_REQUIREMENTS = (f"nvidia-pytriton=={PYTRITON_VERSION}", "onnxruntime==1.32.0", "openvino==2026.4.1",
                       "opencv-python-headless==4.10.0.84", "tesserocr==2.13.0")
BACKEND_FILES = ("libtriton_python.so", "triton_python_backend_utils.py", "triton_python_backend_stub")
DEFAULT_MODEL_REPOSITORY = TRITON_MODELS  # deploy/triton/models in a checkout
SHM_PREFIX = "triton_python_backend_shm_region_"
SHM_DIR = Path("/dev/shm")
PY_MINOR = f"{sys.version_info.major}.{sys.version_info.minor}"


def base_python() -> Path:
    """The interpreter behind the app venv: the stub must run the same CPython build as its libpython."""
    base = Path(sys.base_prefix)
    for name in (f"python{PY_MINOR}", "python3"):
        candidate = base / "bin" / name
        if candidate.exists():
            return candidate
    raise ServiceError(f"triton: no python{PY_MINOR} under {base}/bin to build the server venv")


class TritonService(LocalService):
    """Triton on 127.0.0.1 with the Python backend; the model repository is the same one a GPU deploy uses."""

    name = "triton"

    def __init__(self, http_port: int = 8000, grpc_port: int = 8001, metrics_port: int = 8002,
                 model_repository: Path = DEFAULT_MODEL_REPOSITORY, state_dir: Path | None = None) -> None:
        super().__init__(state_dir)
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.metrics_port = metrics_port
        self.model_repository = Path(model_repository).resolve()
        self.home = cache_root() / "triton"
        self.venv = self.home / "venv"
        self.backend_dir = self.home / "backends"
        self.marker = self.home / "installed.json"
        self.wheelhouse = cache_root() / "pip" / "wheels"

    # -- addresses ---------------------------------------------------------------------------------
    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def shm_record(self) -> Path:
        """Our server's Python-backend shm regions, noted while it runs so a crash leaves a list to clean."""
        return self.state_dir / "triton.shm.json"

    # -- install -----------------------------------------------------------------------------------
    @property
    def venv_python(self) -> Path:
        return self.venv / "bin" / "python"

    def site_packages(self) -> Path:
        return self.venv / "lib" / f"python{PY_MINOR}" / "site-packages"

    @property
    def server_binary(self) -> Path:
        return self.site_packages() / "pytriton" / "tritonserver" / "bin" / "tritonserver"

    def installed(self) -> bool:
        try:
            marker = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return False
        return (marker.get("requirements") == list(SERVER_REQUIREMENTS) and self.server_binary.exists()
                and all((self.backend_dir / "python" / f).exists() for f in BACKEND_FILES))

    def install(self) -> None:
        """Build the server venv and backend folder once; later calls return at once with no network."""
        if self.installed():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        # Two processes (the CLI and a test run) must not build the same venv at once.
        with open(self.home / "install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.installed():
                self._install()

    def _install(self) -> None:
        self.marker.unlink(missing_ok=True)
        started = time.monotonic()
        if not self.venv_python.exists():
            self._run([str(base_python()), "-m", "venv", "--clear", str(self.venv)], "create server venv")
        self._pip_install()
        # The models' runtimes must work with the pytriton wheel's numpy<2: prove it now, not at model load.
        probe = self._run([str(self.venv_python), "-c",
                           "import numpy, onnxruntime, openvino; print(numpy.__version__, onnxruntime.__version__)"],
                          "import onnxruntime and openvino in server venv").strip().split()
        self._assemble_backends()
        if not self.server_binary.exists():
            raise ServiceError(f"triton: {self.server_binary} missing after install")
        self.marker.write_text(json.dumps({
            "requirements": list(SERVER_REQUIREMENTS), "numpy": probe[0], "onnxruntime": probe[1],
            "python": PY_MINOR, "seconds": round(time.monotonic() - started, 1)}, indent=2))

    def _pip_install(self) -> None:
        """Install from a wheelhouse under the cache: pip's HTTP cache stays empty behind this proxy.

        The proxy drops ETag/Cache-Control, so ``--cache-dir`` alone never stores the wheels; keeping
        the downloaded wheels lets a deleted venv be rebuilt with no network.
        """
        pip = [str(self.venv_python), "-m", "pip"]
        common = ["--cache-dir", str(cache_root() / "pip"), "--disable-pip-version-check"]
        offline = [*pip, "install", *common, "--no-index", "--find-links", str(self.wheelhouse),
                   *SERVER_REQUIREMENTS]
        if self.wheelhouse.is_dir() and subprocess.run(offline, capture_output=True,
                                                       stdin=subprocess.DEVNULL).returncode == 0:
            return
        self._run([*pip, "download", *common, "--dest", str(self.wheelhouse), *SERVER_REQUIREMENTS],
                  "pip download server packages")
        self._run(offline, "pip install server packages")

    def _assemble_backends(self) -> None:
        """Triton wants ``DIR/python/`` with the backend library, its utils module and the stub together."""
        src = self.site_packages() / "pytriton" / "tritonserver"
        target = self.backend_dir / "python"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        files = [src / "backends" / "python" / "libtriton_python.so",
                 src / "backends" / "python" / "triton_python_backend_utils.py",
                 src / "python_backend_stubs" / PY_MINOR / "triton_python_backend_stub"]
        for file in files:
            if not file.exists():
                raise ServiceError(f"triton: {file} not in the nvidia-pytriton wheel")
            shutil.copy2(file, target / file.name)

    def _run(self, argv: list[str], what: str) -> str:
        res = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            raise ServiceError(f"triton: {what} failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
        return res.stdout

    # -- run ---------------------------------------------------------------------------------------
    def server_env(self) -> dict[str, str]:
        """Without the wheel's libs the server hangs at 'loading'; without base lib the stub mixes libpythons."""
        libs = [str(self.site_packages() / "nvidia_pytriton.libs"), str(Path(sys.base_prefix) / "lib")]
        if os.environ.get("LD_LIBRARY_PATH"):
            libs.append(os.environ["LD_LIBRARY_PATH"])
        return {
            "LD_LIBRARY_PATH": ":".join(libs),
            # The stub runs the first python on PATH: it must be the server venv's to see its packages.
            "PATH": f"{self.venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "VIRTUAL_ENV": str(self.venv),
            # A developer's Python settings must not leak into the stub ("" counts as unset).
            "PYTHONHOME": "", "PYTHONPATH": "", "PYTHONNOUSERSITE": "1",
        }

    def argv(self) -> list[str]:
        return [
            str(self.server_binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={self.backend_dir}",
            "--http-address=127.0.0.1", f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1", f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true", "--allow-gpu-metrics=false", "--allow-cpu-metrics=true",
            "--strict-readiness=true",
            "--pinned-memory-pool-byte-size=0",  # no CUDA: skip the pinned pool it would fail to allocate
            "--exit-timeout-secs=10",
            "--log-verbose=0",
        ]

    def start(self, timeout: float = 120.0) -> None:
        if not self.installed():
            raise ServiceError("triton: not installed; call install() first")
        if not self.model_repository.is_dir():
            raise ServiceError(f"triton: model repository {self.model_repository} missing")
        from inference.model_files import stage_model_files

        stage_model_files(self.model_repository)
        proc = self.process.spawn(self.argv(), env=self.server_env(), cwd=self.state_dir)
        try:
            wait_until(self.healthy, timeout, f"triton (pid {proc.pid})", log=self.process.log_file, proc=proc)
        except BaseException:
            self.stop()
            raise
        self._record_shm()

    def model_names(self) -> list[str]:
        """Every folder with a config.pbtxt is a model: adding a model is adding a folder."""
        return sorted(p.parent.name for p in self.model_repository.glob("*/config.pbtxt"))

    def healthy(self) -> bool:
        import tritonclient.http as httpclient  # app-venv dependency, imported late so install() needs none

        client = httpclient.InferenceServerClient(self.http_url, connection_timeout=2.0, network_timeout=2.0)
        try:
            return bool(client.is_server_ready()) and all(client.is_model_ready(m) for m in self.model_names())
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM by pid (Triton drains for a few seconds), then delete only the shm regions our server made."""
        pid = self.process.running_pid()
        ours = set(self._load_shm_record())
        if pid is not None:
            ours |= self._shm_of_group(pid)
        super().stop()
        for path in ours:
            if path.parent == SHM_DIR and path.name.startswith(SHM_PREFIX):
                path.unlink(missing_ok=True)
        self.shm_record.unlink(missing_ok=True)

    # -- shared-memory bookkeeping -----------------------------------------------------------------
    def shm_regions(self) -> set[Path]:
        """The /dev/shm regions the running server and its stubs hold: the only ones stop() may delete."""
        pid = self.process.running_pid()
        return set() if pid is None else self._shm_of_group(pid)

    def _record_shm(self) -> None:
        pid = self.process.running_pid()
        if pid is not None:
            regions = self._shm_of_group(pid) | set(self._load_shm_record())
            self.shm_record.write_text(json.dumps(sorted(str(p) for p in regions)))

    def _load_shm_record(self) -> list[Path]:
        try:
            return [Path(p) for p in json.loads(self.shm_record.read_text())]
        except (OSError, ValueError):
            return []

    @staticmethod
    def _shm_of_group(pgid: int) -> set[Path]:
        """Regions mapped or held open by the processes of our server's group (server plus its stubs)."""
        found: set[Path] = set()
        for proc_dir in Path("/proc").iterdir():
            if not proc_dir.name.isdigit():
                continue
            try:
                stat = (proc_dir / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
                names = [line.split(None, 5)[5] for line in (proc_dir / "maps").read_text().splitlines()
                         if len(line.split(None, 5)) == 6]
                fd_dir = proc_dir / "fd"
                for fd in fd_dir.iterdir():
                    with contextlib.suppress(OSError):
                        names.append(os.readlink(fd))
            except (OSError, ValueError, IndexError):
                continue
            for name in names:
                path = Path(name.removesuffix(" (deleted)"))
                if path.parent == SHM_DIR and path.name.startswith(SHM_PREFIX):
                    found.add(path)
        return found
