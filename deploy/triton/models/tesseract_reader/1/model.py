"""Triton Python-backend model: Tesseract reads one upright crop (multilingual second opinion)."""
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
from inference.tesseract import TesseractReader


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        languages = tuple(_onnx_model.parameters(args)["languages"].split("+"))
        self.reader = TesseractReader(languages)

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:
            text, score = self.reader.read(pb_utils.get_input_tensor_by_name(request, "CROP").as_numpy())
            out.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("TEXT", np.array([text.encode()], dtype=np.object_)),
                pb_utils.Tensor("SCORE", np.array([score], dtype=np.float32))]))
        return out
