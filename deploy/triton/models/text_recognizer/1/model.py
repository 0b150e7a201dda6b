"""Triton Python-backend model: PP-OCR recognition with greedy CTC decoding.

The character list is the staged characters.txt beside the ONNX file (inference/model_files.py), else the
model's own metadata.
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
from inference.ppocr import CTCDecoder


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.session = _onnx_model.session(args, Path(__file__).parent, role="reader")
        characters = Path(__file__).parent / "characters.txt"
        self.decode = (CTCDecoder(characters.read_text(encoding="utf-8").rstrip("\n").split("\n"))
                       if characters.exists()
                       else CTCDecoder.from_onnx_metadata(_onnx_model.model_file(args, Path(__file__).parent)))

    def execute(self, requests: list) -> list:
        out = []
        for request in requests:  # widths differ between requests, so each runs on its own
            crops = pb_utils.get_input_tensor_by_name(request, "CROPS").as_numpy()
            texts = self.decode(self.session.run(crops))
            out.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("TEXT", np.array([[t.encode()] for t, _ in texts], dtype=np.object_)),
                pb_utils.Tensor("SCORE", np.array([[s] for _, s in texts], dtype=np.float32))]))
        return out
