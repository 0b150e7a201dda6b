"""Recogniser batches: every crop read once, and no batch so wide that its scores outgrow a worker's memory."""
from __future__ import annotations

import numpy as np

from inference import ppocr


def _crop(width: int, height: int = 20) -> np.ndarray:
    return np.full((height, width, 3), 200, np.uint8)


def test_every_crop_is_in_exactly_one_batch_and_batches_stay_under_the_step_budget() -> None:
    # one frame's regions as a busy radiograph gives them: many short labels and a few very long lines
    widths = [40, 900, 60, 2400, 35, 120, 80, 1500, 50, 70] * 3
    crops = [_crop(w) for w in widths]
    chunks = ppocr.rec_chunks(crops, max_steps=256)
    seen = sorted(i for chunk, _ in chunks for i in chunk)
    assert seen == list(range(len(crops)))
    for chunk, batch in chunks:
        assert batch.shape[0] == len(chunk)
        steps = batch.shape[0] * batch.shape[3] // 8
        assert steps <= 256 or len(chunk) == 1  # a crop wider than the budget still gets read, alone
    # the old single batch padded all 30 crops to the widest: 30 x 5760 columns
    assert sum(b.shape[0] * b.shape[3] for _, b in chunks) < 0.25 * len(crops) * ppocr.rec_batch(crops).shape[3]


def test_a_crop_is_batched_as_it_would_be_read_alone_when_its_neighbours_are_as_wide() -> None:
    crops = [_crop(100), _crop(100), _crop(3000)]
    chunks = dict((tuple(c), b) for c, b in ppocr.rec_chunks(crops, max_steps=200))
    together = chunks[(0, 1)]
    alone = ppocr.rec_batch([crops[0]])
    assert np.array_equal(together[0], alone[0])  # padded to its own width, not to the 3000 px line's
