"""Triton Python-backend model: PP-OCR DBNet text detection with the project's own pre/post-processing.

Frames of the same size across the requests the dynamic batcher hands over are run as one ONNX batch.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

try:
    from inference import dbnet
except ImportError:  # served from a source checkout: the repository root is five levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[5]))
    from inference import dbnet


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_threads", "1"))
        options.log_severity_level = 3
        onnx_file = Path(__file__).with_name("model.onnx")
        self.session = ort.InferenceSession(str(onnx_file), options,
                                            providers=[params.get("onnx_provider", "CPUExecutionProvider")])
        self.input_name = self.session.get_inputs()[0].name
        self.settings = dbnet.DetectorSettings()

    def execute(self, requests: list) -> list:
        frames_per_request = []
        tensors = {}
        groups = defaultdict(list)
        for r, request in enumerate(requests):
            frames = pb_utils.get_input_tensor_by_name(request, "FRAME").as_numpy()
            frames_per_request.append(frames)
            for f, frame in enumerate(frames):
                tensor = dbnet.preprocess(frame, self.settings)
                tensors[(r, f)] = tensor
                groups[tensor.shape].append((r, f))
        probs = {}
        for keys in groups.values():
            batch = np.concatenate([tensors[k] for k in keys])
            out = self.session.run(None, {self.input_name: batch})[0]
            for k, prob in zip(keys, out):
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
