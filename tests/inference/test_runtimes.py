"""The model runtimes (inference.runtimes): OpenVINO, the default, computes what onnxruntime computes.

The detector's boxes decide what is removed, and the Triton models and the in-process engine may run on
different runtimes, so the float32 kernels must agree on real text frames, not only on random tensors.
"""
from __future__ import annotations

import threading

import numpy as np
import openvino
import pytest

from inference import dbnet, models, ppocr, runtimes
from inference.local_engine import LocalDetector
from pixelguard_testkit import synthetic


def _frames(count: int = 12) -> list[np.ndarray]:
    """8-bit RGB frames of generated objects: nine scripts, sizes 8-40 px, skewed and rotated lines."""
    frames = []
    for index in range(count):
        stored = synthetic.decode(synthetic.generate(index, seed=11).data)[0].astype(np.float32)
        low, high = float(stored.min()), float(stored.max())
        grey = ((stored - low) * (255.0 / max(high - low, 1.0))).astype(np.uint8)
        frames.append(grey if grey.ndim == 3 else np.repeat(grey[..., None], 3, axis=2))
    return frames


@pytest.fixture(scope="module")
def engines() -> dict[str, LocalDetector]:
    return {name: LocalDetector(runtime=name) for name in ("openvino", "onnxruntime")}


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
    assert session.compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32


def test_a_large_input_runs_on_its_own_model_and_answers_as_the_shared_one_would() -> None:
    from inference.runtimes import openvino_cpu

    frame = _frames(1)[0]
    large = np.ascontiguousarray(np.tile(frame, (3, 3, 1))[:1120, :1120])  # over LARGE_INPUT values per channel
    tensor = dbnet.preprocess(large, dbnet.DetectorSettings(), as_is=True)
    assert tensor.shape[2] * tensor.shape[3] > openvino_cpu.LARGE_INPUT
    ov = runtimes.open_session(dbnet.model_path(), 1, "openvino")
    ort = runtimes.open_session(dbnet.model_path(), 1, "onnxruntime")
    assert float(np.abs(ov.run(tensor) - ort.run(tensor)).max()) < 1e-3
