"""Triton Python-backend model: min, max and mean of each frame in a batch.

Runs inside Triton's stub process with the server venv's numpy (<2), not the application's.
"""
from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Stateless; the dynamic batcher may hand several requests to one execute call."""

    def execute(self, requests: list) -> list:
        responses = []
        for request in requests:
            frames = pb_utils.get_input_tensor_by_name(request, "FRAME").as_numpy()
            flat = frames.reshape(frames.shape[0], -1)
            if flat.shape[1] == 0:
                # One bad request must not fail the others batched with it.
                responses.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(f"FRAME has no pixels (shape {frames.shape})")))
                continue
            # float64 accumulation so a 16-bit mean over megapixels does not lose precision.
            stats = {
                "MIN": flat.min(axis=1),
                "MAX": flat.max(axis=1),
                "MEAN": flat.mean(axis=1, dtype=np.float64),
            }
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor(name, value.astype(np.float32).reshape(-1, 1)) for name, value in stats.items()
            ]))
        return responses
