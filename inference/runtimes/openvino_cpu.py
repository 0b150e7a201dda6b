"""OpenVINO's CPU plugin, in float32: the same function as onnxruntime's, on faster kernels."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openvino as ov

_CORE = ov.Core()  # one per process: it holds the loaded plugins


class OpenVinoSession:
    runtime = "openvino"

    def __init__(self, path: Path, threads: int, device: str) -> None:
        if device != "cpu":
            raise ValueError(f"the openvino runtime runs on the CPU here, not {device!r}: use onnxruntime")
        self.compiled = _CORE.compile_model(str(path), "CPU", {
            "INFERENCE_NUM_THREADS": threads,
            # The plugin would pick bfloat16 on CPUs with AMX (this host has it): 3.6x faster, but on 79 of 134
            # frames of bench/pixels.py's corpus its detector boxes differed from float32's. Boxes decide
            # what is removed, so they must not depend on the CPU an object lands on.
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            # The plugin pins its threads to cores, each process counting from the first: two worker processes
            # of one thread each then shared one core and left the other idle (bench/volume.py, vmstat 50% idle).
            "ENABLE_CPU_PINNING": False,
        })
        self._local = threading.local()  # an infer request serves one call at a time: one per thread

    def run(self, tensor: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: tensor})
        # The output tensor's memory is the request's and the next call overwrites it: hand back a copy.
        return np.array(request.get_output_tensor(0).data, copy=True)


def open_session(path: Path, threads: int, device: str) -> OpenVinoSession:
    return OpenVinoSession(path, threads, device)
