"""``pixelguard feed orthanc``: follow an Orthanc PACS's change log and submit each stable study once."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from streams.config import add_arguments, from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("feed", help="follow a PACS and submit each new study to the streaming workers")
    parser.add_argument("kind", choices=("orthanc",), help="the PACS: orthanc (its /changes log, StableStudy)")
    parser.add_argument("--url", required=True, metavar="URL", help="the Orthanc server, e.g. http://127.0.0.1:8042")
    parser.add_argument("--dicomweb-root", default="/dicom-web", metavar="PATH",
                        help="its DICOMweb root, where studies are pulled from with WADO-RS (default /dicom-web)")
    parser.add_argument("--state", type=Path, default=None, metavar="FILE",
                        help="the cursor file: the last change handled (default: under the cache folder)")
    parser.add_argument("--profile", default="basic", metavar="NAME")
    parser.add_argument("--poll", type=float, default=2.0, metavar="S", help="seconds between polls when idle")
    parser.add_argument("--until-idle", type=float, default=None, metavar="S",
                        help="exit after S seconds with no new change (default: follow forever)")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def default_state(url: str) -> Path:
    from pixelguard.services.paths import cache_root

    parts = urlsplit(url)
    return cache_root() / "feed" / f"orthanc-{parts.hostname}-{parts.port or 80}.json"


def study_job(derive: object, study_uid: str) -> str:
    """The job of a study: the same for every submit of it, so a replayed submit is a duplicate, dropped."""
    from pixelguard.core.keys import Derivations

    assert isinstance(derive, Derivations)
    return "feed-" + derive.input_id(f"orthanc-study:{study_uid}").removeprefix("in-")


def run(args: argparse.Namespace) -> int:
    from agents import wiring
    from pixelguard import telemetry
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from streams.dicomweb import DicomWebUnavailable
    from streams.feed import Cursor, OrthancChanges, SubmitFailed, follow
    from streams.sources import ListingFailed
    from streams.submit import submit
    from streams.topics import ensure_topics

    cfg = from_args(args)
    profiles.load(args.profile)  # fail early on an unknown profile
    changes = OrthancChanges(args.url)
    parts = urlsplit(args.url)
    scheme = "dicomwebs" if parts.scheme == "https" else "dicomweb"
    root = "/" + args.dicomweb_root.strip("/")
    cursor = Cursor(args.state or default_state(args.url))
    cursor.load()  # a broken cursor file stops here, before anything is submitted
    telemetry.setup("pixelguard-feed")
    ensure_topics(cfg.bootstrap, cfg.prefix, cfg.partitions)
    derive = Derivations(wiring.key_service(cfg).hmac)
    store, store_options = wiring.object_store(cfg), wiring.store_options(cfg)

    def submit_study(study_uid: str) -> str:
        job = study_job(derive, study_uid)
        uri = f"{scheme}://{parts.hostname}:{parts.port or 80}{root}/studies/{study_uid}"
        try:
            result = submit([uri], bootstrap=cfg.bootstrap, prefix=cfg.prefix, store=store, derive=derive,
                            profile=args.profile, job_id=job, store_options=store_options,
                            max_object_bytes=cfg.limits.max_object_bytes)
        except ListingFailed as exc:
            raise SubmitFailed(str(exc)) from None
        if result.failed:
            raise SubmitFailed(f"job {job}: {result.failed} instances not acknowledged by Kafka")
        print(f"feed: job {job}: submitted {result.submitted} instances ({result.flagged} flagged at submit)",
              file=sys.stderr, flush=True)
        return job

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        count = follow(changes, cursor, submit_study, poll_s=args.poll, idle_exit_s=args.until_idle, stop=stop,
                       on_submitted=lambda job: print(job, flush=True))
    except (DicomWebUnavailable, SubmitFailed) as exc:
        print(f"pixelguard feed: {exc}; the cursor was kept, so the next run resumes there", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    finally:
        telemetry.shutdown()
    print(f"feed: {count} studies submitted", file=sys.stderr)
    return 0
