"""``pixelguard deliver dicomweb://HOST:PORT/ROOT``: store every clean DICOM object into a PACS (STOW-RS)."""
from __future__ import annotations

import argparse
import signal
import sys

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("deliver", help="consume the clean topic and store each DICOM object into a PACS")
    parser.add_argument("target", metavar="URL", help="the PACS's DICOMweb root: dicomweb://HOST:PORT/dicom-web")
    parser.add_argument("--until-idle", type=float, default=None, metavar="S",
                        help="exit after S seconds with nothing to deliver (default: run until stopped)")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agents import wiring
    from streams.deliver import Deliverer
    from streams.dicomweb import client, parse
    from streams.topics import ensure_topics

    cfg = from_args(args)
    ref = parse(args.target, need_study=False)  # DicomWebError: usage error, exit 2
    if ref.study:
        raise ValueError("deliver: the URL names a study; give the PACS's DICOMweb root (dicomweb://HOST:PORT/ROOT)")
    ensure_topics(cfg.bootstrap, cfg.prefix, cfg.partitions)
    deliverer = Deliverer(bootstrap=cfg.bootstrap, prefix=cfg.prefix, target=ref.uri(), pacs=client(ref),
                          outputs=wiring.output_store(cfg), backoff_s=cfg.backoff_s)
    signal.signal(signal.SIGTERM, lambda *_: deliverer.stop.set())
    try:
        done = deliverer.run(args.until_idle)
    except KeyboardInterrupt:
        return 1
    print(f"deliver: {done.stored} stored, {done.skipped} skipped (not DICOM), {done.errors} sent to errors",
          file=sys.stderr)
    return 1 if done.errors else 0
