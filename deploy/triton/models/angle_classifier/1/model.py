"""Triton Python-backend model: PP-OCR angle classifier over normalised crops."""
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


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.session = _onnx_model.session(args, Path(__file__).parent, role="reader")

    def execute(self, requests: list) -> list:
        batches = [pb_utils.get_input_tensor_by_name(r, "CROPS").as_numpy() for r in requests]
        probs = self.session.run(np.concatenate(batches))
        out, start = [], 0
        for batch in batches:
            out.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("PROBS", probs[start:start + len(batch)].astype(np.float32))]))
            start += len(batch)
        return out
