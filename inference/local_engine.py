"""In-process text detector: the PP-OCR DBNet ONNX model run with onnxruntime (embedded default)."""
from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort

from pixelguard.core.regions import Region

from . import dbnet


class LocalDetector:
    name = "local-onnxruntime"

    def __init__(self, settings: dbnet.DetectorSettings = dbnet.DetectorSettings(), threads: int | None = None):
        options = ort.SessionOptions()
        # One thread per worker process: the embedded runner already runs one process per core.
        options.intra_op_num_threads = threads or int(os.environ.get("PIXELGUARD_OCR_THREADS", "1"))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(dbnet.model_path()), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.settings = settings

    def detect(self, frames: list[np.ndarray]) -> list[list[Region]]:
        out = []
        for frame in frames:
            tensor = dbnet.preprocess(frame, self.settings)
            prob = self.session.run(None, {self.input_name: tensor})[0][0, 0]
            out.append(dbnet.postprocess(prob, frame.shape[0], frame.shape[1], self.settings))
        return out
