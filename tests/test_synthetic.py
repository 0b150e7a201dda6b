"""The synthetic ground-truth generator: its boxes hold exactly the burned strokes, it renders what was asked,
it is deterministic, and redaction through the pipeline removes every stroke of plain horizontal Latin text."""
from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pydicom
import pytest

from pixelguard_testkit import synthetic

LOSSLESS = dict(fmt="dicom", transfer_syntax="1.2.840.10008.1.2.1")


def _burned(sample: synthetic.Sample) -> np.ndarray:
    """Per frame: pixels whose stored value differs from the clean source."""
    diff = synthetic.decode(sample.data).astype(np.int64) != sample.clean.astype(np.int64)
    return diff.any(axis=3) if diff.ndim == 4 else diff


def _strokes(sample: synthetic.Sample) -> np.ndarray:
    out = np.zeros(_burned(sample).shape, bool)
    for line in sample.lines:
        x0, y0, x1, y1 = line.box
        for f in line.frames:
            out[f, y0:y1, x0:x1] |= line.mask
    return out


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("polarity", ["light", "dark"])
def test_boxes_hold_exactly_the_burned_strokes(index: int, polarity: str) -> None:
    sample = synthetic.generate(index, seed=5, polarity=polarity, **LOSSLESS)
    burned, strokes = _burned(sample), _strokes(sample)
    if polarity == "light":
        # Every changed pixel is a recorded stroke pixel, and every recorded stroke pixel changed on one of
        # its line's frames: a stroke drawn in the value already there is not in the data, so not in the truth.
        assert not (burned & ~strokes).any()
        for line in sample.lines:
            x0, y0, x1, y1 = line.box
            changed = burned[list(line.frames), y0:y1, x0:x1].any(axis=0)
            assert not (line.mask & ~changed).any()
    else:
        plates = np.zeros_like(burned[0])
        for line in sample.lines:
            plates |= line.plate
        assert not (burned & ~(strokes | plates[np.newaxis])).any()  # only plates and strokes changed
    for line in sample.lines:
        x0, y0, x1, y1 = line.box
        assert line.mask.shape == (y1 - y0, x1 - x0)
        # Tight: strokes touch all four sides of the box.
        assert line.mask[0].any() and line.mask[-1].any() and line.mask[:, 0].any() and line.mask[:, -1].any()
        polygon = np.asarray(line.polygon, np.float32).reshape(-1, 1, 2)
        ys, xs = np.nonzero(line.mask)
        inside = [cv2.pointPolygonTest(polygon, (float(x + x0 + 0.5), float(y + y0 + 0.5)), True) >= -1.5
                  for x, y in zip(xs[::7], ys[::7], strict=True)]
        assert all(inside), "stroke pixels outside the recorded text polygon"


@pytest.mark.parametrize("script", synthetic.SCRIPTS)
@pytest.mark.parametrize("angle", synthetic.ANGLES)
def test_scripts_angles_and_sizes_are_as_requested(script: str, angle: str) -> None:
    sample = synthetic.generate(3, seed=1, script=script, angle=angle, size=24, lines=1, **LOSSLESS)
    assert sample.spec.script == script and sample.spec.angle == angle
    (line,) = sample.lines
    assert line.spec.size == 24
    x0, y0, x1, y1 = line.box
    width, height = x1 - x0, y1 - y0
    if angle in ("0", "180"):
        assert line.spec.angle == float(angle) and width > height
    elif angle in ("90", "270"):
        assert line.spec.angle == float(angle) and height > width
    else:
        assert 1.0 <= abs(line.spec.angle) <= 5.0 and width > height
    # Glyph height follows the font size (CJK and Arabic ink is taller than Latin capitals).
    assert 0.45 * 24 <= min(width, height) <= 2.2 * 24


def test_upside_down_text_is_the_upright_mask_turned_twice() -> None:
    upright = synthetic.generate(2, seed=9, script="latin", angle="0", size=20, lines=1, **LOSSLESS).lines[0]
    flipped = synthetic.generate(2, seed=9, script="latin", angle="180", size=20, lines=1, **LOSSLESS).lines[0]
    assert upright.spec.text == flipped.spec.text
    assert np.array_equal(np.rot90(upright.mask, 2), flipped.mask)


def test_text_is_burned_into_stored_values_at_the_source_bit_depth() -> None:
    for source in ("ct", "mr", "cr", "us", "xa"):
        sample = synthetic.generate(0, seed=2, source=source, polarity="light", **LOSSLESS)
        ds = pydicom.dcmread(io.BytesIO(sample.data))
        assert ds.Modality == source.upper()
        assert int(ds.BitsAllocated) == (8 if source in ("us", "xa") else 16)
        arr = synthetic.decode(sample.data)
        line = sample.lines[0]
        x0, y0, x1, y1 = line.box
        values = arr[line.frames[0], y0:y1, x0:x1][line.mask]
        assert len(np.unique(values.reshape(len(values), -1), axis=0)) == 1  # one text value
        assert ds.BurnedInAnnotation == "YES" and ds.PatientID.isdigit()


def test_multiframe_objects_record_which_frames_carry_text() -> None:
    sample = synthetic.generate(0, seed=4, source="xa", frames=3, **LOSSLESS)
    assert synthetic.decode(sample.data).shape[0] == 3
    burned = _burned(sample)
    for f in range(3):
        expected = any(f in line.frames for line in sample.lines)
        assert burned[f].any() == expected
    assert {e["frame"] for e in sample.ground_truth()} <= {0, 1, 2}


def test_generation_is_deterministic_with_a_seed() -> None:
    a, b = synthetic.generate(7, seed=11), synthetic.generate(7, seed=11)
    assert a.data == b.data and a.ground_truth() == b.ground_truth()
    assert synthetic.generate(7, seed=12).data != a.data


def test_corpus_on_disk_has_opaque_names_and_a_manifest(tmp_path) -> None:
    manifest = json.loads(synthetic.write_corpus(tmp_path, 4, seed=3).read_text())
    assert len(manifest["objects"]) == 4
    for obj in manifest["objects"].values():
        assert obj["script"] not in obj["file"] and obj["modality"].lower() not in obj["file"]
        with np.load(tmp_path / obj["masks"]) as masks:
            for box in obj["boxes"]:
                x0, y0, x1, y1 = box["box"]
                assert masks[box["mask"]].shape == (y1 - y0, x1 - x0)
                assert masks[box["mask"]].sum() == box["stroke_pixels"]


def test_score_counts_a_line_gone_only_when_every_stroke_is_covered() -> None:
    sample = synthetic.generate(1, seed=6, script="latin", angle="0", size=18, lines=1, polarity="light", **LOSSLESS)
    before = synthetic.decode(sample.data)
    entries = sample.ground_truth()
    masks = {"line0": sample.lines[0].mask}
    x0, y0, x1, y1 = sample.lines[0].box
    f = entries[0]["frame"]
    covered = before.copy()
    covered[f, y0 - 2:y1 + 2, x0 - 2:x1 + 2] = before[f][sample.lines[0].mask.nonzero()[0][0] + y0,
                                                         sample.lines[0].mask.nonzero()[1][0] + x0]
    result = synthetic.score_object(entries, masks, before, covered)  # fill equal to the stroke value
    assert result.lines[0].gone and result.inside_px == result.redacted_px
    partial = before.copy()
    partial[f, y0 - 2:y1 + 2, x0 - 2:x1 - 3] = before.min()
    result = synthetic.score_object(entries, masks, before, partial)
    assert not result.lines[0].gone and result.lines[0].remaining > 0
    assert not synthetic.score_object(entries, masks, before, None).lines[0].gone


def test_pipeline_redaction_removes_every_stroke_of_horizontal_latin_text(tmp_path) -> None:
    from inference.local_engine import LocalDetector
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from pixelguard.core.pipeline import process
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.keyservice.local import LocalKeyService

    silence_value_echoes()
    derive = Derivations(LocalKeyService.open(tmp_path / "key.json").hmac)
    basic, detector = profiles.load("basic"), LocalDetector()
    cases = [("ct", 14, "light"), ("mr", 20, "dark"), ("us", 16, "light"), ("cr", 12, "light"), ("xa", 24, "dark")]
    for index, (source, size, polarity) in enumerate(cases):
        sample = synthetic.generate(index, seed=21, source=source, script="latin", angle="0", size=size,
                                    polarity=polarity, frames=1, **LOSSLESS)
        outcome = process(f"in-{index}", sample.data, basic, derive, detector)
        assert outcome.output_bytes, outcome.reason
        result = synthetic.score_object(
            sample.ground_truth(),
            {f"line{i}": line.mask for i, line in enumerate(sample.lines)},
            synthetic.decode(sample.data),
            synthetic.decode(outcome.output_bytes),
        )
        left = [(s.entry["text"], s.remaining) for s in result.lines if not s.gone]
        assert not left, f"{source} {size}px {polarity}: strokes left {left}"
