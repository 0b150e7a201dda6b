"""The model runtimes (inference.runtimes): OpenVINO, the default, computes what onnxruntime computes.

The detector's boxes decide what is removed, and the Triton models and the in-process engine may run on
different runtimes, so the float32 kernels must agree on real text frames, not only on random tensors; and
OpenVINO's bfloat16, which it runs in where the CPU computes that natively, must cover the strokes float32 covers.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import openvino
import pytest

from inference import dbnet, models, ppocr, runtimes
from inference.local_engine import LocalDetector
from inference.runtimes import openvino_cpu
from pixelguard_testkit import synthetic


def _first_frame(sample: synthetic.Sample) -> np.ndarray:
    stored = synthetic.decode(sample.data)[0].astype(np.float32)
    low, high = float(stored.min()), float(stored.max())
    grey = ((stored - low) * (255.0 / max(high - low, 1.0))).astype(np.uint8)
    return grey if grey.ndim == 3 else np.repeat(grey[..., None], 3, axis=2)


def _frames(count: int = 12) -> list[np.ndarray]:
    """8-bit RGB frames of generated objects: nine scripts, sizes 8-40 px, skewed and rotated lines."""
    return [_first_frame(synthetic.generate(index, seed=11)) for index in range(count)]


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, LocalDetector]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(openvino_cpu.PRECISION_ENV, "f32")  # the kernels compared, not the precisions
        yield {name: LocalDetector(runtime=name) for name in ("openvino", "onnxruntime")}


def test_the_detector_runs_on_openvino_and_the_readers_on_onnxruntime_unless_one_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtimes.ENV, raising=False)
    assert (runtimes.default("detector"), runtimes.default("reader")) == ("openvino", "onnxruntime")
    engine = LocalDetector()
    assert engine.name == "local-openvino" and engine.session.runtime == "openvino"
    engine.read([np.zeros((32, 64, 3), np.uint8)], [[]])  # loads the readers
    assert engine.reader_runtime == "onnxruntime"
    monkeypatch.setenv(runtimes.ENV, "onnxruntime")
    assert (LocalDetector().runtime, LocalDetector().reader_runtime) == ("onnxruntime", "onnxruntime")


def test_an_unknown_runtime_is_refused_with_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtimes.ENV, "tensorflow")
    with pytest.raises(ValueError, match="openvino, onnxruntime") as refused:
        LocalDetector()
    assert runtimes.ENV in str(refused.value)


def test_both_runtimes_find_the_same_regions_on_text_frames(engines: dict[str, LocalDetector]) -> None:
    frames = _frames()
    ov, ort = (engines[name].detect(frames) for name in ("openvino", "onnxruntime"))
    assert sum(len(r) for r in ort) >= len(frames)  # every generated object carries text
    for mine, theirs in zip(ov, ort, strict=True):
        assert len(mine) == len(theirs)
        for a, b in zip(sorted(mine, key=lambda r: r.quad), sorted(theirs, key=lambda r: r.quad), strict=True):
            assert np.allclose(np.asarray(a.quad), np.asarray(b.quad), atol=0.5)
            assert abs(a.score - b.score) < 1e-3


def test_the_probability_maps_agree_to_float32_rounding(engines: dict[str, LocalDetector]) -> None:
    settings = dbnet.DetectorSettings()
    for frame in _frames(4):
        tensor = dbnet.preprocess(frame, settings)
        ov, ort = (engines[name].session.run(tensor) for name in ("openvino", "onnxruntime"))
        assert ov.shape == ort.shape
        assert float(np.abs(ov - ort).max()) < 1e-3


def test_both_runtimes_read_the_same_text(engines: dict[str, LocalDetector]) -> None:
    frames = _frames(6)
    found = engines["onnxruntime"].detect(frames)
    ov, ort = (engines[name].read(frames, found) for name in ("openvino", "onnxruntime"))
    texts = [[r.text for r in regions] for regions in ort]
    assert sum(1 for regions in texts for t in regions if t) >= 3
    assert [[r.text for r in regions] for regions in ov] == texts


def test_one_session_serves_threads_at_once_without_mixing_their_answers() -> None:
    # The stage threads of a streaming worker share one engine: each call must get its own input's output.
    session = runtimes.open_session(models.ANGLE_CLASSIFIER.locate(), 1, "openvino")
    rng = np.random.default_rng(2)
    inputs = [ppocr.cls_batch([rng.integers(0, 256, (32, 40 + 9 * k, 3), dtype=np.uint8)]) for k in range(4)]
    expected = [session.run(x) for x in inputs]
    wrong: list[int] = []

    def call(k: int) -> None:
        for _ in range(25):
            if not np.array_equal(session.run(inputs[k]), expected[k]):
                wrong.append(k)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_openvino_leaves_thread_placement_to_the_os() -> None:
    # Pinned, each worker process's one thread went to the first core: two workers shared it and the
    # second core idled (bench/volume.py: 19.6 s wall for 20.3 CPU-s on 2 cores; unpinned, 10.2 s).
    session = runtimes.open_session(models.ANGLE_CLASSIFIER.locate(), 1, "openvino")
    assert session.compiled.get_property("ENABLE_CPU_PINNING") is False


def test_openvino_runs_bfloat16_only_where_the_cpu_computes_it_and_float32_when_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    native = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    monkeypatch.delenv(openvino_cpu.PRECISION_ENV, raising=False)
    session = runtimes.open_session(models.ANGLE_CLASSIFIER.locate(), 1, "openvino")
    expected = openvino.Type.bf16 if native else openvino.Type.f32
    assert session.compiled.get_property("INFERENCE_PRECISION_HINT") == expected
    monkeypatch.setenv(openvino_cpu.PRECISION_ENV, "f32")
    session = runtimes.open_session(models.ANGLE_CLASSIFIER.locate(), 1, "openvino")
    assert session.compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
    monkeypatch.setenv(openvino_cpu.PRECISION_ENV, "int4")
    with pytest.raises(ValueError, match="auto, f32") as refused:
        runtimes.open_session(models.ANGLE_CLASSIFIER.locate(), 1, "openvino")
    assert openvino_cpu.PRECISION_ENV in str(refused.value)


def _covered(engine: LocalDetector, sample: synthetic.Sample) -> list[float]:
    """Per burned-in line of the first frame: the share of its stroke pixels inside a detected region's cover."""
    frame = _first_frame(sample)
    height, width = frame.shape[:2]
    covered = np.zeros((height, width), dtype=bool)
    for region in engine.detect([frame])[0]:
        x0, y0, x1, y1 = region.cover(width, height)
        covered[y0:y1, x0:x1] = True
    return [float(covered[line.box[1]:line.box[3], line.box[0]:line.box[2]][line.mask].mean())
            for line in sample.lines if 0 in line.frames and line.mask.any()]


def test_the_automatic_precision_covers_the_strokes_float32_covers(monkeypatch: pytest.MonkeyPatch) -> None:
    # On a CPU without native bfloat16 both are float32, and this holds trivially.
    monkeypatch.setenv(openvino_cpu.PRECISION_ENV, "f32")
    exact = LocalDetector(runtime="openvino")
    monkeypatch.setenv(openvino_cpu.PRECISION_ENV, "auto")
    automatic = LocalDetector(runtime="openvino")
    lines = 0
    for index in range(24):
        sample = synthetic.generate(index, seed=11)
        want, got = _covered(exact, sample), _covered(automatic, sample)
        assert sum(want) > 0 and len(got) == len(want)
        # A box edge moves by a pixel or so (within 0.2% of a line's strokes on these 40 objects).
        assert all(g >= w - 0.01 for g, w in zip(got, want, strict=True)), (index, want, got)
        lines += len(want)
    assert lines >= 36


def test_a_large_input_runs_on_its_own_model_and_answers_as_the_shared_one_would() -> None:
    from inference.runtimes import openvino_cpu

    frame = _frames(1)[0]
    large = np.ascontiguousarray(np.tile(frame, (3, 3, 1))[:1120, :1120])  # over LARGE_INPUT values per channel
    tensor = dbnet.preprocess(large, dbnet.DetectorSettings(), as_is=True)
    assert tensor.shape[2] * tensor.shape[3] > openvino_cpu.LARGE_INPUT
    ov = runtimes.open_session(dbnet.model_path(), 1, "openvino")
    ort = runtimes.open_session(dbnet.model_path(), 1, "onnxruntime")
    assert float(np.abs(ov.run(tensor) - ort.run(tensor)).max()) < 1e-3
