"""An S3-compatible server for local runs and tests: s3proxy (Maven Central) over a folder, on 127.0.0.1.

Why s3proxy and not SeaweedFS (the issue's first choice, production-grade): SeaweedFS's ``weed`` must be built
from the Go module proxy, about 10 minutes on this 2-core machine (``go install`` is refused: its module
has replace directives), where s3proxy is one jar Maven resolves in 34 s from an empty cache and that answers
in 3.6 s (median of 10 starts, none failed: ``bench/s3.py --startup 10 --fresh-install``, ``bench/README.md``).
The code under test talks plain S3 through boto3, so a deployment points ``PIXELGUARD_S3_ENDPOINT`` at
SeaweedFS or AWS itself without a change here.

The jar (``org.gaul:s3proxy:<version>:jar:jar-with-dependencies``) is fetched once by ``mvn dependency:copy``
into the cache's Maven repository (``<cache>/m2``, as Kafka's jars are) and copied to ``<cache>/s3proxy``.
Each server gets random credentials, kept 0600 in its state folder and handed to clients as the standard
AWS variables (``env``); its buckets are folders under ``state_dir/data``.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from .base import LocalService, ServiceError, free_port, port_open
from .kafka import java_binary
from .maven import maven_copy
from .paths import cache_root

VERSION = "2.6.0"
ARTIFACT = f"org.gaul:s3proxy:{VERSION}:jar:jar-with-dependencies"
HEAP = "256m"


def jar_path() -> Path:
    return cache_root() / "s3proxy" / f"s3proxy-{VERSION}-jar-with-dependencies.jar"


def install_s3proxy() -> Path:
    """Idempotent: the jar in the cache (network on the first run only; a partial download never lands)."""
    jar = jar_path()
    if jar.is_file():
        return jar
    scratch = jar.parent / "partial"
    fetched = maven_copy("s3proxy", ARTIFACT, scratch, "s3proxy-*.jar")
    fetched.replace(jar)
    shutil.rmtree(scratch, ignore_errors=True)
    return jar


class S3ProxyService(LocalService):
    """One s3proxy on ``127.0.0.1:port`` (filesystem backend); data and credentials survive stop/start."""

    name = "s3proxy"

    def __init__(self, state_dir: Path | None = None, port: int | None = None) -> None:
        super().__init__(state_dir)
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.start_seconds: float | None = None

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def credentials_file(self) -> Path:
        return self.state_dir / "credentials.json"

    def credentials(self) -> dict[str, str]:
        """This server's key pair: made on first use, 0600, never printed."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            return dict(json.loads(self.credentials_file.read_text()))
        except (OSError, ValueError):
            pass
        pair = {"access_key": "pg" + secrets.token_hex(8), "secret_key": secrets.token_urlsafe(30)}
        fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(pair, handle)
        return pair

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client (boto3, the aws CLI, a worker) needs to reach this server."""
        pair = self.credentials()
        return {"AWS_ACCESS_KEY_ID": pair["access_key"], "AWS_SECRET_ACCESS_KEY": pair["secret_key"],
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}

    def write_env_file(self) -> Path:
        """``state_dir/aws.env`` (0600): the variables of ``env`` for a shell (``set -a; . aws.env``)."""
        path = self.state_dir / "aws.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{k}={v}\n" for k, v in self.env().items()))
        return path

    def client(self) -> Any:
        """An admin client for this server (buckets, health), with its key pair handed over explicitly."""
        import boto3

        from streams.objectstore.base import StoreOptions
        from streams.objectstore.s3 import client

        pair = self.credentials()
        session = boto3.session.Session(aws_access_key_id=pair["access_key"],
                                        aws_secret_access_key=pair["secret_key"], region_name="us-east-1")
        return client(StoreOptions(s3_endpoint=self.endpoint), session=session)

    def create_bucket(self, name: str) -> None:
        s3 = self.client()
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name)

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pair = self.credentials()
        config = self.state_dir / "s3proxy.conf"
        lines = ["# Written by pixelguard.services.s3proxy; regenerated on every start.",
                 f"s3proxy.endpoint={self.endpoint}", "s3proxy.authorization=aws-v2-or-v4",
                 f"s3proxy.identity={pair['access_key']}", f"s3proxy.credential={pair['secret_key']}",
                 "jclouds.provider=filesystem", f"jclouds.filesystem.basedir={self.data_dir}"]
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secret
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return config

    def install(self) -> None:
        install_s3proxy()

    def start(self, timeout: float = 60.0) -> None:
        jar = jar_path()
        if not jar.is_file():
            raise ServiceError("s3proxy: the jar is not installed; run `pixelguard services install s3proxy`")
        if port_open(self.port):
            raise ServiceError(f"s3proxy: 127.0.0.1:{self.port} is already in use")
        config = self._write_config()
        t0 = time.monotonic()
        self.spawn_healthy([java_binary(), f"-Xmx{HEAP}", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
                            "-jar", str(jar), "--properties", str(config)], timeout, f"s3proxy on {self.endpoint}",
                           cwd=self.state_dir)
        self.start_seconds = time.monotonic() - t0

    def healthy(self) -> bool:
        # A signed ListBuckets that succeeds: the server is up, and it is ours (it knows our key pair).
        if not port_open(self.port):
            return False
        try:
            self.client().list_buckets()
        except Exception:  # noqa: BLE001 - still starting
            return False
        return True
