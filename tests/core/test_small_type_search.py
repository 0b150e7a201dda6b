"""Small type the first detector pass barely sees: found all the same, in ``all`` and in ``phi`` mode.

Cases from bench/pixels.py's and bench/phi_mode.py's corpora (pixelguard_testkit.synthetic, seed 0), through
the real pipeline and the in-process engine.
"""
from __future__ import annotations

import numpy as np

from inference import dbnet
from pixelguard.core.pipeline import process
from pixelguard.core.textsearch import RedactionSettings
from pixelguard_testkit import synthetic


def _left(sample: synthetic.Sample, output: bytes) -> list[int]:
    """Stroke pixels left unredacted, per ground-truth line (and frame)."""
    masks = {f"line{i}": line.mask for i, line in enumerate(sample.lines)}
    result = synthetic.score_object(sample.ground_truth(), masks, synthetic.decode(sample.data),
                                    synthetic.decode(output))
    return [line.remaining for line in result.lines]


def test_weak_outlines_come_back_as_hints_that_are_never_text() -> None:
    prob = np.zeros((64, 128), dtype=np.float32)
    prob[20:26, 10:60] = 0.9  # a line the network is sure of
    prob[40:44, 70:110] = 0.32  # one it barely sees: above the binarisation threshold, below the box threshold
    regions = dbnet.postprocess(prob, 64, 128)
    sure = [r for r in regions if r.score >= RedactionSettings().region_min_score]
    hints = [r for r in regions if r.score < RedactionSettings().region_min_score]
    assert len(sure) == 1 and len(hints) == 1
    assert 60 <= sum(x for x, _ in hints[0].quad) / 4 <= 120
    off = dbnet.DetectorSettings(hint_thresh=1.0)
    assert [r.score >= off.box_thresh for r in dbnet.postprocess(prob, 64, 128, off)] == [True]
    # The search's cut-off is the detector's box threshold: a hint is never filled as text.
    assert RedactionSettings().region_min_score == dbnet.DetectorSettings().box_thresh


def test_a_10px_line_the_first_pass_only_hints_at_is_removed(basic, derive, detector) -> None:
    """Object 19 of bench/pixels.py's corpus: three skewed Devanagari lines (10-15 px) on a 484 px PNG. The
    10 px one is only a weak outline (box score 0.30-0.36) at the detector's working size, so the enlarged
    search never looked there and the object went clean with the whole line in it."""
    sample = synthetic.generate(19, 0)
    outcome = process("in-small", sample.data, basic, derive, detector)
    assert outcome.output_bytes, outcome.reason
    assert _left(sample, outcome.output_bytes) == [0, 0, 0]

