"""OpenVINO's CPU plugin: onnxruntime's function on faster kernels, in bfloat16 where the CPU computes it natively.

bfloat16 (AMX or AVX-512 BF16) made the detector 3.6x faster here. Its probability maps differ from float32's
in the last bits, so on 79 of 134 frames of bench/pixels.py's corpus a box edge moved; what that changes was
measured on the whole corpus (320 objects, 720 lines), both ways on the same host: recall 0.988 and every
script, size and angle cell the same, precision 0.852 against 0.851, review 8% against 10%. A CPU without it
runs float32, which ``PIXELGUARD_PRECISION=f32`` also asks for (and which the tests comparing runtimes use).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import openvino as ov

_CORE = ov.Core()  # one per process: it holds the loaded plugins
# A compiled model keeps the working memory of the largest input it ever ran until it is released: after one
# 1984x1984 frame, 600 MB more for good (a worker's peak went from 1.5 to 2.2 GB in bench/realfiles.py); after
# 736x1344 (a wide ultrasound frame), 175 MB. Inputs over this many values per channel run on a model compiled
# for their shape alone and released after: with a fixed shape the plugin plans its buffers to share memory,
# so a 1856x1952 frame peaks at 570 MB (dynamic shape 768, onnxruntime 663) and takes 0.88 s with the compile
# (dynamic 1.01, onnxruntime 2.65).
LARGE_INPUT = 1_200_000
PRECISION_ENV = "PIXELGUARD_PRECISION"
PRECISIONS = ("auto", "f32")  # auto: bfloat16 where the CPU computes it natively, else float32


def precision(requested: str | None = None) -> str:
    """The precision a model compiles in: "bf16" or "f32" (``requested``, else ``$PIXELGUARD_PRECISION``)."""
    chosen = (requested or os.environ.get(PRECISION_ENV, "") or "auto").strip()
    if chosen not in PRECISIONS:
        raise ValueError(f"no precision named {chosen!r}; known: {', '.join(PRECISIONS)} (set {PRECISION_ENV})")
    native = "BF16" in _CORE.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if chosen == "auto" and native else "f32"


class OpenVinoSession:
    runtime = "openvino"

    def __init__(self, path: Path, threads: int, device: str, precision_name: str | None = None) -> None:
        if device != "cpu":
            raise ValueError(f"the openvino runtime runs on the CPU here, not {device!r}: use onnxruntime")
        self.path = path
        self.precision = precision(precision_name)
        self.config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": self.precision,  # stated, not left to the plugin: see the module's note
            "PERFORMANCE_HINT": "LATENCY",
            # The plugin pins its threads to cores, each process counting from the first: two worker processes
            # of one thread each then shared one core and left the other idle (bench/volume.py, vmstat 50% idle).
            "ENABLE_CPU_PINNING": False,
            # Kernels prepared for an input shape are kept for the next input of that shape; every canvas size
            # would be kept for good. A few cover the repeats (a series' frames); a miss costs about 3%.
            "CPU_RUNTIME_CACHE_CAPACITY": 16,
        }
        self.compiled = _CORE.compile_model(str(path), "CPU", self.config)
        self._local = threading.local()  # an infer request serves one call at a time: one per thread

    def run(self, tensor: np.ndarray) -> np.ndarray:
        if tensor.size // max(tensor.shape[1], 1) > LARGE_INPUT:
            model = _CORE.read_model(str(self.path))
            model.reshape({0: list(tensor.shape)})
            request = _CORE.compile_model(model, "CPU", self.config).create_infer_request()
        else:
            request = getattr(self._local, "request", None)
            if request is None:
                request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: tensor})
        # The output tensor's memory is the request's and the next call overwrites it: hand back a copy.
        return np.array(request.get_output_tensor(0).data, copy=True)


def open_session(path: Path, threads: int, device: str) -> OpenVinoSession:
    return OpenVinoSession(path, threads, device)
