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
from inference import triton_support as _onnx_model
from inference.triton_bls import call, read_regions


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.tesseract_below = float(_onnx_model.parameters(args).get("tesseract_below", "0.9"))

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:
            try:
                flag = pb_utils.get_input_tensor_by_name(request, "AS_IS")
                out.append(self._one(pb_utils.get_input_tensor_by_name(request, "FRAME").as_numpy(),
                                     None if flag is None else flag.as_numpy()))
            except Exception as exc:  # noqa: BLE001 - one failing request must not fail its batch-mates
                out.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
        return out

    def _one(self, frames: np.ndarray, as_is: np.ndarray | None) -> object:
        inputs = {"FRAME": frames} if as_is is None else {"FRAME": frames, "AS_IS": as_is}
        det = call("text_detector", inputs, ["REGIONS", "COUNT"])
        texts, scores = read_regions(frames, det["REGIONS"], det["COUNT"][:, 0], self.tesseract_below)
        width = texts.shape[1]
        regions = det["REGIONS"][:, :width] if det["REGIONS"].shape[1] >= width else det["REGIONS"]
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("REGIONS", np.ascontiguousarray(regions)), pb_utils.Tensor("COUNT", det["COUNT"]),
            pb_utils.Tensor("TEXT", texts), pb_utils.Tensor("TEXT_SCORE", scores)])
