"""Reading text regions inside Triton (business-logic scripting), shared by the BLS models that read.

``ocr_ensemble`` detects then reads; ``region_reader`` reads regions the client already has (the redact
stage reads only the regions a decision needs). Both call the member models through Triton, so each keeps
its own batching and CPU/GPU placement. Imported only inside Triton's Python stub.
"""
from __future__ import annotations

import numpy as np

from . import ppocr


def call(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    import triton_python_backend_utils as pb_utils

    request = pb_utils.InferenceRequest(model_name=model, requested_output_names=outputs,
                                        inputs=[pb_utils.Tensor(k, v) for k, v in inputs.items()])
    response = request.exec()
    if response.has_error():
        raise pb_utils.TritonModelException(f"{model}: {response.error().message()}")
    return {name: pb_utils.get_output_tensor_by_name(response, name).as_numpy() for name in outputs}


def read_regions(frames: np.ndarray, regions: np.ndarray, counts: np.ndarray,
                 tesseract_below: float) -> tuple[np.ndarray, np.ndarray]:
    """TEXT and TEXT_SCORE tables (frames x widest count) for the first ``counts[f]`` rows of ``regions``."""
    width = max(1, int(counts.max()) if len(counts) else 1)
    texts = np.full((len(frames), width), b"", dtype=np.object_)
    scores = np.zeros((len(frames), width), dtype=np.float32)
    for f, count in enumerate(counts):
        if not count:
            continue
        quads = [tuple(map(tuple, row[:8].reshape(4, 2))) for row in regions[f, :count]]
        crops = [ppocr.crop(frames[f], quad) for quad in quads]
        probs = call("angle_classifier", {"CROPS": ppocr.cls_batch(crops)}, ["PROBS"])["PROBS"]
        crops = ppocr.apply_cls(crops, probs)
        readings: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for chunk, batch in ppocr.rec_chunks(crops):
            rec = call("text_recognizer", {"CROPS": batch}, ["TEXT", "SCORE"])
            for row, k in enumerate(chunk):
                readings[k] = (rec["TEXT"][row, 0].decode(), float(rec["SCORE"][row, 0]))
        for i, crop in enumerate(crops):
            text, score = readings[i]
            if score < tesseract_below:
                second = call("tesseract_reader", {"CROP": np.ascontiguousarray(crop, dtype=np.uint8)},
                              ["TEXT", "SCORE"])
                other = second["TEXT"][0].decode()
                text = "\n".join(dict.fromkeys(t for t in (text, other) if t))
                score = max(score, float(second["SCORE"][0]))
            texts[f, i] = text.encode()
            scores[f, i] = score
    return texts, scores
