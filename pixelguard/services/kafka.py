"""A real Apache Kafka broker (KRaft combined mode) run as a local JVM process on 127.0.0.1.

Kafka is in neither Debian nor PyPI, and the Kafka-compatible brokers on PyPI lost or repeated events
across worker restarts (see ``/work/shared/notes/services.md``), so this runs Apache Kafka itself: its
jars come from Maven Central via ``deploy/local/kafka/pom.xml`` (the machine's Maven) and run on the
machine's Java 17. One process is both controller and broker: no ZooKeeper, one port per role.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from .base import LocalService, ServiceError, port_open, wait_until
from .paths import MAVEN_LOCK, REPO_ROOT, cache_root

POM = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
MARKER_NAME = "installed.json"
# Small heap: the dev/CI machines have 2 cores and 24 GiB shared with Triton and the app.
DEFAULT_HEAP = "512m"


def kafka_version() -> str:
    """The Kafka version pinned in the pom, so the pom stays the one place to bump it."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise ServiceError(f"kafka: no <kafka.version> property in {POM}")
    return match.group(1).strip()


def kafka_home() -> Path:
    return cache_root() / "kafka"


def libs_dir() -> Path:
    return kafka_home() / "libs"


def _install_stamp() -> dict[str, str]:
    # The pom's hash is part of the stamp so trimming or bumping the pom re-resolves the jar set.
    return {"kafka_version": kafka_version(), "pom_sha256": hashlib.sha256(POM.read_bytes()).hexdigest()}


def installed() -> bool:
    marker = kafka_home() / MARKER_NAME
    try:
        return json.loads(marker.read_text()) == _install_stamp() and any(libs_dir().glob("kafka_2.13-*.jar"))
    except (OSError, ValueError):
        return False


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` when set (what the Kafka scripts honour), else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ServiceError("kafka: no `java` on PATH and no usable $JAVA_HOME; install a JDK 17 "
                           "(e.g. `apt-get install openjdk-17-jre-headless`)")
    return found


def install_kafka_jars() -> Path:
    """Idempotent: resolve the broker jars into ``<cache>/kafka/libs`` (network on the first run only).

    Jars land in a scratch folder that replaces ``libs`` only after Maven succeeded, so an interrupted
    run never leaves a half classpath behind, and a changed pom never leaves stale jars mixed in.
    """
    if installed():
        return libs_dir()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("kafka: `mvn` is not on PATH; it is needed once to fetch the Kafka jars "
                           "(e.g. `apt-get install maven`)")
    java_binary()  # fail now, with the clear message, rather than inside Maven
    home = kafka_home()
    home.mkdir(parents=True, exist_ok=True)
    scratch = home / "libs.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    cmd = [mvn, "-B", "-q", f"-Dmaven.repo.local={cache_root() / 'm2'}", "dependency:copy-dependencies",
           f"-DoutputDirectory={scratch}", "-DincludeScope=runtime", "-f", str(POM)]
    with MAVEN_LOCK:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(scratch.glob("kafka_2.13-*.jar")):
        shutil.rmtree(scratch, ignore_errors=True)
        output = (result.stdout + result.stderr).strip().splitlines()[-30:]
        raise ServiceError(f"kafka: `{' '.join(cmd)}` failed (rc={result.returncode}):\n" + "\n".join(output))
    shutil.rmtree(libs_dir(), ignore_errors=True)
    scratch.rename(libs_dir())
    tmp_marker = home / (MARKER_NAME + ".tmp")
    tmp_marker.write_text(json.dumps(_install_stamp()))
    tmp_marker.replace(home / MARKER_NAME)
    return libs_dir()


def random_cluster_id() -> str:
    """A KRaft cluster id as ``kafka-storage.sh random-uuid`` makes it, without paying a JVM start."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):  # Kafka's Uuid.randomUuid rejects these too (they read as CLI flags)
            return cid


class KafkaService(LocalService):
    """Single-node Kafka (broker + controller in one JVM) whose data survives stop/start in ``state_dir``."""

    name = "kafka"

    def __init__(self, port: int = 9092, controller_port: int = 9093, state_dir: Path | None = None,
                 partitions: int = 3, internal_partitions: int = 10, heap: str = DEFAULT_HEAP,
                 extra_config: Mapping[str, str] | None = None) -> None:
        super().__init__(state_dir)
        if port == controller_port:
            raise ServiceError(f"kafka: broker and controller ports must differ (both {port})")
        self.port = port
        self.controller_port = controller_port
        self.partitions = partitions
        # 10 rather than Kafka's 50 partitions for __consumer_offsets / __transaction_state: the first
        # consumer group and the first transaction each wait for all of them to get leaders.
        self.internal_partitions = internal_partitions
        self.heap = heap
        self.extra_config = dict(extra_config or {})
        self.start_seconds: float | None = None
        self.format_seconds: float | None = None

    # -- files -------------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.state_dir / "log4j.properties"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def server_log(self) -> Path:
        """Where log4j writes; the process log (stdout/stderr) only gets JVM-level output."""
        return self.state_dir / "logs" / "server.log"

    @property
    def cluster_id(self) -> str | None:
        """The id the data dir was formatted with, used to tell our broker from any other on the port."""
        try:
            for line in (self.data_dir / "meta.properties").read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
        except OSError:
            pass
        return None

    def _server_properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.partitions),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": str(self.internal_partitions),
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": str(self.internal_partitions),
            "group.initial.rebalance.delay.ms": "0",
            # Streaming code creates its topics with explicit partition counts before workers start
            # (Faust crash-loops on an auto-created topic with other counts), so a typo must fail loudly.
            "auto.create.topics.enable": "false",
            # After a SIGKILL the controller keeps the dead broker's registration until its session times
            # out, and the new process cannot register before that (DUPLICATE_BROKER_REGISTRATION): the
            # default 9 s turned a crash restart into ~12 s. The heartbeat is in-process over loopback,
            # so 4 s still leaves room for GC pauses on a loaded 2-core machine.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "500",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }
        props.update(self.extra_config)
        return props

    def _write_config(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.server_log.parent.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by pixelguard.services.kafka; regenerated on every start."]
        lines += [f"{key}={value}" for key, value in self._server_properties().items()]
        self.config_file.write_text("\n".join(lines) + "\n")
        self.log4j_file.write_text(f"""# Written by pixelguard.services.kafka; regenerated on every start.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={self.server_log}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
""")

    def _java_args(self, heap: str) -> list[str]:
        return [java_binary(), f"-Xmx{heap}", f"-Xms{min(heap, '128m', key=_heap_bytes)}",
                "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{self.log4j_file}",
                "-cp", f"{libs_dir()}/*"]

    def _format_storage(self) -> None:
        """Format only a fresh data dir, so a restart keeps the log and the cluster id it was written under."""
        if (self.data_dir / "meta.properties").exists():
            return
        t0 = time.monotonic()
        cmd = self._java_args("256m") + ["kafka.tools.StorageTool", "format", "-t", random_cluster_id(),
                                         "-c", str(self.config_file), "--ignore-formatted"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=180)
        if result.returncode != 0 or self.cluster_id is None:
            raise ServiceError(f"kafka: formatting {self.data_dir} failed (rc={result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
        self.format_seconds = time.monotonic() - t0

    # -- lifecycle ---------------------------------------------------------------------------------
    def install(self) -> None:
        install_kafka_jars()

    def start(self, timeout: float = 120.0) -> None:
        if not installed():
            raise ServiceError("kafka: jars are not installed; call install() first")
        for port in (self.port, self.controller_port):
            # Checked up front: otherwise the health check could talk to someone else's broker.
            if port_open(port):
                raise ServiceError(f"kafka: 127.0.0.1:{port} is already in use")
        self._write_config()
        self._format_storage()
        t0 = time.monotonic()
        proc = self.process.spawn(self._java_args(self.heap) + ["kafka.Kafka", str(self.config_file)],
                                  cwd=self.state_dir)
        try:
            wait_until(self.healthy, timeout, f"{self.name} on {self.bootstrap}", self.server_log, proc,
                       interval=0.25)
        except ServiceError as err:
            self.process.stop()
            raise ServiceError(f"{err}{_tail(self.process.log_file)}") from None
        self.start_seconds = time.monotonic() - t0

    def restart(self, timeout: float = 120.0) -> None:
        """Stop (SIGTERM by pid, so Kafka shuts down cleanly) and start on the same data."""
        self.stop()
        self.start(timeout)

    def healthy(self) -> bool:
        # Port probe first: librdkafka logs every refused connection, which would flood the output.
        if not port_open(self.port):
            return False
        try:
            metadata = self.admin().list_topics(timeout=2)
        except KafkaException:
            return False
        expected = self.cluster_id
        return bool(metadata.brokers) and (expected is None or metadata.cluster_id == expected)

    # -- client helpers ----------------------------------------------------------------------------
    def admin(self, **config: str) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap, **config})

    def create_topics(self, names: Iterable[str], partitions: int | None = None,
                      config: Mapping[str, str] | None = None, timeout: float = 30.0) -> None:
        """Create topics (existing ones are left as they are) and wait until every partition has a leader.

        Waiting for leaders matters: CreateTopics returns once the controller committed the topic, a
        moment before this broker serves it, and a consumer that subscribes in that gap sees no topic.
        """
        names = list(names)
        if not names:
            return
        count = partitions or self.partitions
        admin = self.admin()
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=count, replication_factor=1, config=dict(config or {}))
             for name in names], operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout)
            except KafkaException as err:
                if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise ServiceError(f"kafka: creating topic {name!r} failed: {err}") from err
        wait_until(lambda: self._topics_ready(admin, names), timeout, f"kafka: leaders for {names}",
                   interval=0.1)

    @staticmethod
    def _topics_ready(admin: AdminClient, names: list[str]) -> bool:
        metadata: ClusterMetadata = admin.list_topics(timeout=2)
        for name in names:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                return False
            if any(p.leader < 0 or p.error is not None for p in topic.partitions.values()):
                return False
        return True


def _heap_bytes(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    suffix = size[-1].lower()
    return int(size[:-1]) * units[suffix] if suffix in units else int(size)


def _tail(log: Path, lines: int = 20) -> str:
    """JVM-level output (crash, bad classpath) goes to the process log, not log4j's file."""
    if not log.exists() or log.stat().st_size == 0:
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log} ---\n" + "\n".join(tail)
