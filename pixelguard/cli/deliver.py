"""``pixelguard deliver dicomweb://HOST:PORT/ROOT``: store every clean DICOM object into a PACS (STOW-RS)."""
from __future__ import annotations

import argparse
import signal
import sys
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING

from streams.config import add_arguments, from_args

if TYPE_CHECKING:
    from agents.liveness import LagSampler, ProgressTracker
    from pixelguard.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("deliver", help="consume the clean topic and store each DICOM object into a PACS")
    parser.add_argument("target", metavar="URL", help="the PACS's DICOMweb root: dicomweb://HOST:PORT/dicom-web")
    parser.add_argument("--until-idle", type=float, default=None, metavar="S",
                        help="exit after S seconds with nothing to deliver (default: run until stopped)")
    parser.add_argument("--health-port", type=int, default=None, metavar="PORT",
                        help="serve /live and /ready (a stuck consumer turns /live 503) on PIXELGUARD_WEB_HOST:PORT, "
                             "for an orchestrator's probes (default: not served)")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import wiring
    from agents.liveness import ProgressTracker
    from streams.deliver import STAGE, Deliverer
    from streams.dicomweb import client, parse
    from streams.topics import ensure_topics

    cfg = from_args(args)
    ref = parse(args.target, need_study=False)  # DicomWebError: usage error, exit 2
    if ref.study:
        raise ValueError("deliver: the URL names a study; give the PACS's DICOMweb root (dicomweb://HOST:PORT/ROOT)")
    ensure_topics(cfg.bootstrap, cfg.prefix, cfg.partitions)
    tracker = ProgressTracker([STAGE], stall_s=cfg.liveness_stall_s) if args.health_port is not None else None
    deliverer = Deliverer(bootstrap=cfg.bootstrap, prefix=cfg.prefix, target=ref.uri(), pacs=client(ref),
                          outputs=wiring.output_store(cfg), backoff_s=cfg.backoff_s, tracker=tracker)
    signal.signal(signal.SIGTERM, lambda *_: deliverer.stop.set())
    health = None if tracker is None else watch(tracker, cfg, deliverer.group, args.health_port)
    try:
        done = deliverer.run(args.until_idle)
    except KeyboardInterrupt:
        return 1
    finally:
        if health is not None:
            health.stop()
    print(f"deliver: {done.stored} stored, {done.skipped} skipped (not DICOM), {done.errors} sent to errors",
          file=sys.stderr)
    return 1 if done.errors else 0


class _Health:
    """The lag sampler and the HTTP server behind ``--health-port``, stopped together."""

    def __init__(self, sampler: LagSampler, server: ThreadingHTTPServer) -> None:
        self.sampler, self.server = sampler, server

    def stop(self) -> None:
        self.sampler.stop()
        self.server.shutdown()
        self.server.server_close()


def watch(tracker: ProgressTracker, cfg: Settings, group: str, port: int) -> _Health:
    """The worker's liveness rule (agents/liveness.py) over deliver's one group: lag sampled from outside."""
    from agents import health_http
    from agents.liveness import LagSampler
    from streams.deliver import STAGE
    from streams.topics import topic_name

    sampler = LagSampler(tracker, cfg.bootstrap, {group: {topic_name("clean", cfg.prefix): STAGE}},
                         interval_s=cfg.liveness_interval_s)
    sampler.start()
    return _Health(sampler, health_http.serve(tracker, cfg.web_host, port))
