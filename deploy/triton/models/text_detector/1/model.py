"""Triton Python-backend model: PP-OCR DBNet text detection with the project's own pre/post-processing.

Frames of the same size across the requests the dynamic batcher hands over are run as one ONNX batch.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

try:
    import inference  # noqa: F401 - installed in a container image
except ImportError:  # served from a source checkout: the repository root is five levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[5]))
from inference import (
    dbnet,
    triton_support,
)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.session = triton_support.session(args, Path(__file__).parent)
        # A GPU gains from running the batch as one; a CPU does not, and pays for it: bench/ocr_throughput.py
        # measured 0.62 CPU-s per frame at a mean batch of 6.4 run as one, 0.33 with its frames run one by one.
        # The batcher still saves round trips to this stub.
        provider = triton_support.parameters(args).get("onnx_provider", "CPUExecutionProvider")
        self.whole_batches = provider != "CPUExecutionProvider"
        # The network staged beside this file (inference/model_files.py) decides the input normalisation.
        name = Path(__file__).parent / "model_name.txt"
        self.settings = (dbnet.DetectorSettings(model=name.read_text().strip()) if name.exists()
                         else dbnet.DetectorSettings())

    def execute(self, requests: list) -> list:
        frames_per_request = []
        tensors = {}
        groups = defaultdict(list)
        for r, request in enumerate(requests):
            frames = pb_utils.get_input_tensor_by_name(request, "FRAME").as_numpy()
            frames_per_request.append(frames)
            flag = pb_utils.get_input_tensor_by_name(request, "AS_IS")
            as_is = flag is not None and bool(flag.as_numpy().any())
            for f, frame in enumerate(frames):
                tensor = dbnet.preprocess(frame, self.settings, as_is)
                tensors[(r, f)] = tensor
                groups[tensor.shape].append((r, f))
        probs = {}
        for keys in groups.values():
            runs = [keys] if self.whole_batches else [[k] for k in keys]
            for run in runs:
                batch = np.concatenate([tensors[k] for k in run])
                out = self.session.run(batch)
                for k, prob in zip(run, out, strict=True):
                    probs[k] = prob[0]
        responses = []
        for r, frames in enumerate(frames_per_request):
            found = [dbnet.postprocess(probs[(r, f)], frame.shape[0], frame.shape[1], self.settings)
                     for f, frame in enumerate(frames)]
            width = max(1, max(len(regions) for regions in found))
            table = np.zeros((len(frames), width, 9), dtype=np.float32)
            counts = np.zeros((len(frames), 1), dtype=np.int32)
            for f, regions in enumerate(found):
                counts[f, 0] = len(regions)
                for i, region in enumerate(regions):
                    table[f, i, :8] = np.asarray(region.quad, dtype=np.float32).ravel()
                    table[f, i, 8] = region.score
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("REGIONS", table), pb_utils.Tensor("COUNT", counts)]))
        return responses
