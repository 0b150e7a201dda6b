"""Triton BLS model: read the given regions of each frame (angle classifier, recogniser, Tesseract when unsure)."""
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
from inference.triton_bls import read_regions


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.tesseract_below = float(_onnx_model.parameters(args).get("tesseract_below", "0.9"))

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:
            try:
                frames = pb_utils.get_input_tensor_by_name(request, "FRAME").as_numpy()
                regions = pb_utils.get_input_tensor_by_name(request, "REGIONS").as_numpy()
                counts = pb_utils.get_input_tensor_by_name(request, "COUNT").as_numpy()[:, 0]
                texts, scores = read_regions(frames, regions, counts, self.tesseract_below)
                out.append(pb_utils.InferenceResponse(output_tensors=[
                    pb_utils.Tensor("TEXT", texts), pb_utils.Tensor("TEXT_SCORE", np.ascontiguousarray(scores))]))
            except Exception as exc:  # noqa: BLE001 - one failing request must not fail its batch-mates
                out.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
        return out
