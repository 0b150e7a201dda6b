"""Mutated inputs end as clean, review or a specific error, never as a crash, and PHI never reaches a reason.

The cases come from ``bench/fuzzlib.py``, the same structure-aware mutators ``bench/fuzz.py`` runs 10,000 of:
wrong lengths and VRs, deep undefined-length nesting, absurd pixel claims, broken encapsulation and offset
tables, bad character sets, truncated and padded gzip. Hypothesis draws a fixed, derandomized set here.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bench import fuzzlib
from pixelguard.core.parse import parse
from pixelguard.core.pipeline import process
from pixelguard.core.record import StageError, Status


def _assert_well_formed(outcome) -> None:
    assert outcome.status in (Status.CLEAN, Status.REVIEW, Status.ERROR)
    if outcome.status is Status.ERROR:
        # Every error names its cause: "internal" means an exception nobody anticipated.
        assert outcome.error_code not in ("", "internal"), outcome.reason
        assert outcome.reason.split(":", 1)[-1].strip()
    for secret in fuzzlib.PHI_STRINGS:
        assert secret not in outcome.reason


@settings(max_examples=100, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=fuzzlib.cases(bombs=False))
def test_mutated_inputs_end_clean_review_or_with_a_named_error(case, basic, derive, detector) -> None:
    outcome = process("in-fuzz", case.data, basic, derive, detector)  # nothing may escape
    _assert_well_formed(outcome)


@pytest.mark.parametrize("name", sorted(fuzzlib.BOMBS))
def test_absurd_claims_are_refused_by_parse_before_any_decoding(name, basic, derive, detector) -> None:
    data = fuzzlib.BOMBS[name]()
    assert len(data) < 8 * 1024 * 1024  # the claim is absurd, the object is not
    # parse reads headers only: refusing here means no pixel or voxel was decoded or inflated past the header
    with pytest.raises(StageError) as refused:
        parse("in-bomb", data, derive)
    assert refused.value.code in ("oversized", "corrupt")
    outcome = process("in-bomb", data, basic, derive, detector)
    assert outcome.status is Status.ERROR
    assert outcome.error_code == refused.value.code
    _assert_well_formed(outcome)


def test_gzip_bomb_reason_says_what_happened(derive) -> None:
    with pytest.raises(StageError) as refused:
        parse("in-bomb", fuzzlib.bomb_gzip(), derive)
    assert refused.value.code == "oversized"
    assert "gzip" in refused.value.reason and "header" in refused.value.reason


def test_seed_cases_are_valid_before_mutation(basic, derive, detector) -> None:
    """The mutators start from valid objects: unmutated seeds of every kind come out clean or review."""
    import random

    src = fuzzlib.RandomSource(random.Random(7))
    seeds = [fuzzlib.dicom_seed(src).encode() for _ in range(4)]
    seeds += [fuzzlib.png_seed(src), fuzzlib.jpeg_seed(src), fuzzlib.nifti_seed(src)[0]]
    for data in seeds:
        outcome = process("in-seed", data, basic, derive, detector)
        assert outcome.status in (Status.CLEAN, Status.REVIEW), outcome.reason
        assert not any(s.encode() in outcome.output_bytes for s in fuzzlib.PHI_STRINGS)


_REGRESSIONS = sorted((Path(__file__).parent / "fuzz_regressions").glob("*.bin"))


@pytest.mark.parametrize("path", _REGRESSIONS, ids=[p.stem for p in _REGRESSIONS])
def test_inputs_that_once_crashed_now_end_with_a_named_error(path, basic, derive, detector) -> None:
    """Cases bench/fuzz.py and this file found as crashes (internal errors, an escaping Rust panic), kept."""
    outcome = process("in-regression", path.read_bytes(), basic, derive, detector)
    _assert_well_formed(outcome)
