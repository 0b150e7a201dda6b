"""Triton BLS model: the OCR ensemble. Detect, crop, classify angle, recognise, ask Tesseract when unsure.

Member models are called through Triton (business-logic scripting), so each keeps its own batching,
instance count and CPU/GPU placement in its config.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

try:
    import inference  # noqa: F401 - installed in a container image
except ImportError:  # served from a source checkout: the repository root is five levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[5]))
from inference import ppocr
from inference import triton_support as _onnx_model


def _call(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    request = pb_utils.InferenceRequest(model_name=model, requested_output_names=outputs,
                                        inputs=[pb_utils.Tensor(k, v) for k, v in inputs.items()])
    response = request.exec()
    if response.has_error():
        raise pb_utils.TritonModelException(f"{model}: {response.error().message()}")
    return {name: pb_utils.get_output_tensor_by_name(response, name).as_numpy() for name in outputs}


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.tesseract_below = float(_onnx_model.parameters(args).get("tesseract_below", "0.9"))

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:
            try:
                out.append(self._one(pb_utils.get_input_tensor_by_name(request, "FRAME").as_numpy()))
            except Exception as exc:  # noqa: BLE001 - one failing request must not fail its batch-mates
                out.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
        return out

    def _one(self, frames: np.ndarray) -> object:
        det = _call("text_detector", {"FRAME": frames}, ["REGIONS", "COUNT"])
        counts = det["COUNT"][:, 0]
        width = max(1, int(counts.max()) if len(counts) else 1)
        texts = np.full((len(frames), width), b"", dtype=np.object_)
        scores = np.zeros((len(frames), width), dtype=np.float32)
        for f, count in enumerate(counts):
            if not count:
                continue
            quads = [tuple(map(tuple, row[:8].reshape(4, 2))) for row in det["REGIONS"][f, :count]]
            crops = [ppocr.crop(frames[f], quad) for quad in quads]
            probs = _call("angle_classifier", {"CROPS": ppocr.cls_batch(crops)}, ["PROBS"])["PROBS"]
            crops = ppocr.apply_cls(crops, probs)
            rec = _call("text_recognizer", {"CROPS": ppocr.rec_batch(crops)}, ["TEXT", "SCORE"])
            for i, crop in enumerate(crops):
                text, score = rec["TEXT"][i, 0].decode(), float(rec["SCORE"][i, 0])
                if score < self.tesseract_below:
                    second = _call("tesseract_reader", {"CROP": np.ascontiguousarray(crop, dtype=np.uint8)},
                                   ["TEXT", "SCORE"])
                    other = second["TEXT"][0].decode()
                    text = "\n".join(dict.fromkeys(t for t in (text, other) if t))
                    score = max(score, float(second["SCORE"][0]))
                texts[f, i] = text.encode()
                scores[f, i] = score
        regions = det["REGIONS"][:, :width] if det["REGIONS"].shape[1] >= width else det["REGIONS"]
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("REGIONS", np.ascontiguousarray(regions)), pb_utils.Tensor("COUNT", det["COUNT"]),
            pb_utils.Tensor("TEXT", texts), pb_utils.Tensor("TEXT_SCORE", scores)])
