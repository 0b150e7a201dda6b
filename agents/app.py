"""The Faust app: one module creates it, declares the catalogue's topics and registers the agents.

Faust never declares topics here (``topic_allow_declare=False``, no leader topic): ``ensure_topics``
created them, with their partition counts, before the worker starts. Processing is at-least-once (see
``agents/route.py`` for why the final hop is a Kafka transaction instead of Faust's exactly-once).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
from faust.types import AppT

from pixelguard.core.quiet import silence_value_echoes
from pixelguard.settings import Settings
from streams.groups import route_group
from streams.topics import ensure_topics, topic_name

from . import faust_offsets, health_http, parse, redact, scrub
from .jobrecord import recorder_for
from .liveness import LagSampler, ProgressTracker
from .route import RouteHop
from .runtime import Runtime
from .stages import StageContext
from .wiring import build_context

log = logging.getLogger("pixelguard.worker")


def build_app(cfg: Settings, ctx: StageContext | None = None) -> tuple[faust.App, RouteHop]:
    silence_value_echoes()
    faust_offsets.install()
    ensure_topics(cfg.bootstrap, cfg.prefix, cfg.partitions)
    ctx = ctx or build_context(cfg)  # agents/wiring.py: keys, crosswalk, OCR engine, object store
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        cfg.app_id, broker=f"kafka://{cfg.bootstrap}", store="memory://", autodiscover=False,
        datadir=str(cfg.data_dir / cfg.worker_name), web_bind=cfg.web_host, web_port=cfg.web_port,
        web_host="127.0.0.1", topic_allow_declare=False, topic_disable_leader=True,
        processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
        broker_session_timeout=cfg.session_timeout_s, broker_heartbeat_interval=max(0.5, cfg.session_timeout_s / 4),
        broker_rebalance_timeout=cfg.rebalance_timeout_s,
        # aiokafka sends JoinGroup with the plain request timeout; it must outlast the rebalance it waits on.
        broker_request_timeout=max(90.0, cfg.rebalance_timeout_s + 30),
        broker_commit_every=1, broker_commit_interval=0.5, stream_buffer_maxsize=16,
        producer_acks=-1, producer_linger=0.005,
    )
    topics = {key: app.topic(topic_name(key, cfg.prefix), key_serializer="raw", value_serializer="raw",
                             partitions=cfg.partitions, internal=False)
              for key in ("ingest", "parsed", "scrubbed", "routing")}
    tracker = ProgressTracker((*AGENT_STAGES.values(), "route"), stall_s=cfg.liveness_stall_s)
    rt = Runtime(ctx, topics, ThreadPoolExecutor(cfg.threads, thread_name_prefix="stage"), f"{cfg.app_id}", tracker)
    parse.register(app, rt, cfg.concurrency)
    scrub.register(app, rt, cfg.concurrency)
    redact.register(app, rt, cfg.concurrency)
    hop = RouteHop(cfg, ctx, tracker, recorder_for(cfg))
    register_liveness(app, cfg, tracker)

    @app.task
    async def start_route() -> None:
        thread = threading.Thread(target=hop.run, name="route", daemon=True)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.5)
        if hop.failed is not None and not hop.stopping.is_set():
            log.error("route hop failed; stopping the worker so it restarts clean")
            os._exit(3)  # a supervisor (or the test) restarts it; the transaction state is in Kafka

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust types handlers as taking signal=
    async def stop_route(_app: Any, *_args: Any, **_kwargs: Any) -> None:
        hop.stop()

    return app, hop


# The Faust consumer's input topics, by the agent that reads each (the route hop reads ``routing`` itself).
AGENT_STAGES = {"ingest": "parse", "parsed": "scrub", "scrubbed": "redact"}


class RebalanceSensor(faust.Sensor):
    """Tells the tracker when this member is inside a rebalance (revoking waits for in-flight events)."""

    def __init__(self, tracker: ProgressTracker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tracker = tracker

    def on_rebalance_start(self, app: AppT) -> dict:
        self.tracker.rebalance_started()
        return {}

    def on_rebalance_return(self, app: AppT, state: dict) -> None:
        self.tracker.rebalance_finished()  # rejoined and assigned: fetching can start

    def on_rebalance_end(self, app: AppT, state: dict) -> None:
        self.tracker.rebalance_finished()


def register_liveness(app: faust.App, cfg: Settings, tracker: ProgressTracker) -> LagSampler:
    """``GET /live`` and ``GET /ready`` on the worker's web port, fed by Faust's rebalance signals and a lag
    sampler thread (see ``agents/liveness.py`` for what counts as stuck)."""
    stage_of = {topic_name(key, cfg.prefix): stage for key, stage in AGENT_STAGES.items()}
    sampler = LagSampler(tracker, cfg.bootstrap,
                         {cfg.app_id: stage_of, route_group(cfg.prefix): {topic_name("routing", cfg.prefix): "route"}},
                         interval_s=cfg.liveness_interval_s)

    app.sensors.add(RebalanceSensor(tracker))
    watch_lag(tracker, {stage: group for group, topics in sampler.groups.items() for stage in topics.values()})

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # Faust types handlers as taking signal=
    async def on_assigned(_app: Any, assigned: Any, *_args: Any, **_kwargs: Any) -> None:
        for topic, stage in stage_of.items():
            tracker.assigned(stage, [tp.partition for tp in assigned if tp.topic == topic])

    @app.task
    async def start_sampler() -> None:
        sampler.start()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust types handlers as taking signal=
    async def stop_sampler(_app: Any, *_args: Any, **_kwargs: Any) -> None:
        sampler.stop()

    @app.page("/live")
    async def live(view, _request):
        status, body = health_http.answer(tracker, "/live")
        return view.json(body, status=status)

    @app.page("/ready")
    async def ready(view, _request):
        status, body = health_http.answer(tracker, "/ready")
        return view.json(body, status=status)

    return sampler


def watch_lag(tracker: ProgressTracker, group_of: dict[str, str]) -> None:
    """The lag the liveness sampler measures is also ``pixelguard.consumer.lag`` (Prometheus, KEDA)."""
    from pixelguard.telemetry import metrics

    metrics.watch_consumer_lag(lambda: [(group_of[stage], stage, p, lag) for stage, p, lag in tracker.lags()])


def run_worker(cfg: Settings, loglevel: str = "warning") -> None:
    """Run until SIGTERM/SIGINT (Faust's worker owns the signals and the event loop)."""
    from pixelguard import telemetry
    from pixelguard.telemetry.prometheus import expose

    expose("pixelguard-worker", cfg.metrics_port, cfg.metrics_host)  # setup(), plus /metrics when asked
    app, _hop = build_app(cfg)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    finally:
        telemetry.shutdown()
