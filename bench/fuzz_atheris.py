"""Coverage-guided fuzzing of the core pipeline with atheris (libFuzzer), using the same structure-aware mutators.

    .venv/bin/python bench/fuzz_atheris.py -runs=2000 -timeout=28 -rss_limit_mb=2048 [-max_len=N] [CORPUS_DIR]

``bench/fuzz.py`` runs a fixed, reproducible set of cases; this one lets libFuzzer keep the inputs that reach
new code (branches in pydicom, nibabel, Pillow's Python side and our stages) and mutate them further. Its
custom mutator alternates between a fresh case from ``bench/fuzzlib.py`` (seeded by libFuzzer) and
libFuzzer's own byte mutation of a kept input. Everything runs in one process, so a hang or an RSS blow-up
ends the run (libFuzzer's -timeout and -rss_limit_mb write the input to crash-*/timeout-* files); that is
why the bench with its replaceable workers is the one that counts, and this one finds new seeds for it.
A crash is an exception escaping ``process``, or an error whose code is "internal".
"""
from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fuzzlib

with atheris.instrument_imports(include=["pixelguard", "pydicom", "nibabel"]):
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from pixelguard.core.pipeline import process
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.keyservice.local import LocalKeyService

from inference.local_engine import LocalDetector

silence_value_echoes()
_KEYS = tempfile.TemporaryDirectory(prefix="pixelguard-atheris-keys-")
_DERIVE = Derivations(LocalKeyService.open(Path(_KEYS.name) / "key.json").hmac)
_PROFILE = profiles.load("basic")
_DETECTOR = LocalDetector()


class InternalError(Exception):
    """An outcome with error code "internal": libFuzzer reports it like a crash and saves the input."""


def test_one_input(data: bytes) -> None:
    outcome = process("atheris", data, _PROFILE, _DERIVE, _DETECTOR)
    if outcome.error_code == "internal":
        raise InternalError(outcome.reason)
    if any(s in outcome.reason for s in fuzzlib.PHI_STRINGS):
        raise InternalError("an error reason quotes the fake PHI")


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    if seed % 2 or not data:
        case = fuzzlib.make_case(fuzzlib.RandomSource(random.Random(seed)), bombs=False)
        return case.data[:max_size]  # libFuzzer refuses longer inputs; a cut object is a case too
    return atheris.Mutate(data[:max_size], max_size)


def main() -> None:
    argv = list(sys.argv)
    if not any(a.startswith("-max_len=") for a in argv):
        argv.insert(1, "-max_len=1048576")  # the seeds run to a few hundred kB; libFuzzer's default is 4 kB
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
