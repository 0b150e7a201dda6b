"""The connection flags every streaming command shares, laid over ``Settings`` (``PIXELGUARD_*``).

Used by ``pixelguard submit``, ``worker``, ``review``, ``job`` and ``trace``. The settings themselves live in
``pixelguard/settings.py``; the adapters they select are built in ``agents/wiring.py``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pixelguard.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Connection flags shared by submit, worker, review, job and trace (defaults from PIXELGUARD_*)."""
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap (PIXELGUARD_KAFKA_BOOTSTRAP)")
    parser.add_argument("--prefix", default=None, help="topic prefix (PIXELGUARD_TOPIC_PREFIX)")
    parser.add_argument("--store", default=None,
                        help="object store URI or folder: inputs and staging (PIXELGUARD_STORE)")
    parser.add_argument("--output-store", default=None,
                        help="where clean and review objects go (PIXELGUARD_OUTPUT_STORE; default: --store)")
    parser.add_argument("--key-file", type=Path, default=None,
                        help="local key file shared by all workers (PIXELGUARD_KEY_FILE)")
    parser.add_argument("--partitions", type=int, default=None, help="stage topic partitions (PIXELGUARD_PARTITIONS)")


_FLAGS = ("bootstrap", "prefix", "store", "output_store", "key_file", "partitions", "triton_url", "vault_addr",
          "worker_name", "concurrency", "threads", "web_port", "web_host", "metrics_port", "metrics_host", "data_dir",
          "crosswalk")


def from_args(args: argparse.Namespace) -> Settings:
    """The environment's settings with the command's flags in place of their fields."""
    return Settings.from_env().with_flags(**{name: getattr(args, name, None) for name in _FLAGS})
