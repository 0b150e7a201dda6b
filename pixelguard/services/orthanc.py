"""A PACS for local runs and tests: Debian's Orthanc with its DICOMweb plugin, on 127.0.0.1.

Installed from apt (``orthanc``, ``orthanc-dicomweb``; Orthanc 1.10, DICOMweb plugin 1.7 on Debian 12) and
run as the ``Orthanc`` binary with a JSON config we write: Orthanc has no bind-address option, so
``RemoteAccessAllowed: false`` makes its HTTP server refuse every non-local client, and its DICOM (C-STORE)
port is off. Storage and index live under the state folder, so two instances (a source PACS and a research
PACS) run side by side, each with its own data. A restart waits for the old pid first: a second Orthanc on the
same index dies with a SQLite lock error.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

from .base import LocalService, ServiceError, free_port, port_open

PACKAGES = ("orthanc", "orthanc-dicomweb")
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
APT_LOCK_WAIT_S = 900  # other installs (ours, in parallel, and any on the machine) may hold the dpkg lock


def dicomweb_plugin() -> Path | None:
    for folder in PLUGIN_DIRS:
        found = sorted(folder.glob("libOrthancDicomWeb.so*")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def install_orthanc() -> None:
    """Idempotent: apt-installs Orthanc and its DICOMweb plugin unless both are there already."""
    if shutil.which("Orthanc") and dicomweb_plugin() is not None:
        return
    apt = shutil.which("apt-get")
    if apt is None:
        raise ServiceError("orthanc: `apt-get` is not available; install Debian's `orthanc` and "
                           "`orthanc-dicomweb` packages (or put an `Orthanc` binary and the DicomWeb plugin there)")
    lock = f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}"
    for cmd in ([apt, "-o", lock, "update"],
                [apt, "-o", lock, "install", "-y", "--no-install-recommends", *PACKAGES]):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        if result.returncode != 0 and cmd[-1] != "update":  # a failed update may still leave a usable index
            tail = (result.stdout + result.stderr).strip().splitlines()[-20:]
            raise ServiceError(f"orthanc: `{' '.join(cmd)}` failed (rc={result.returncode}):\n" + "\n".join(tail))
    if shutil.which("Orthanc") is None or dicomweb_plugin() is None:
        raise ServiceError("orthanc: apt finished but the `Orthanc` binary or the DicomWeb plugin is missing")


class OrthancService(LocalService):
    """One Orthanc on ``127.0.0.1:port`` with DICOMweb at ``/dicom-web/``; data survives stop/start."""

    name = "orthanc"

    def __init__(self, state_dir: Path | None = None, port: int | None = None, label: str = "PixelGuard") -> None:
        super().__init__(state_dir)
        self.port = port or free_port()
        self.label = label
        self.url = f"http://127.0.0.1:{self.port}"
        self.dicomweb = f"{self.url}/dicom-web"

    def config(self) -> dict[str, object]:
        plugin = dicomweb_plugin()
        if plugin is None:
            raise ServiceError("orthanc: the DicomWeb plugin is not installed; "
                               "run `pixelguard services install orthanc`")
        return {
            "Name": self.label, "HttpPort": self.port, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "DicomServerEnabled": False, "StorageDirectory": str(self.state_dir / "storage"),
            "IndexDirectory": str(self.state_dir / "index"), "Plugins": [str(plugin)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "StudiesMetadata": "Full"},
            # The feed adapter follows /changes; StableStudy fires after this many quiet seconds.
            "StableAge": 2, "HttpCompressionEnabled": False, "StorageCompression": False,
            "OverwriteInstances": False, "ConcurrentJobs": 1, "HttpThreadsCount": 8,
            # No in-memory copy of stored files: what a client gets is what the storage folder holds.
            "MaximumStorageCacheSize": 0,
        }

    def install(self) -> None:
        install_orthanc()

    def start(self, timeout: float = 60.0) -> None:
        binary = shutil.which("Orthanc")
        if binary is None:
            raise ServiceError("orthanc: not installed; run `pixelguard services install orthanc`")
        if self.process.running_pid() is not None:
            raise ServiceError(f"orthanc: already running (pid {self.process.running_pid()}); stop it first")
        if port_open(self.port):
            raise ServiceError(f"orthanc: 127.0.0.1:{self.port} is already in use")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        self.spawn_healthy([binary, str(config)], timeout, f"orthanc on {self.url}", cwd=self.state_dir)

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/system", timeout=2) as resp:
                system = json.loads(resp.read())
            with urllib.request.urlopen(f"{self.url}/plugins", timeout=2) as resp:
                plugins = json.loads(resp.read())
        except (OSError, ValueError):
            return False
        return system.get("Name") == self.label and "dicom-web" in plugins
