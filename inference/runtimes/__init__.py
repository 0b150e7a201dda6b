"""Where the OCR models' ONNX graphs run: one module per runtime behind ``ModelSession``, and their registry.

The in-process engine (``inference.local_engine``) and the Triton models (``inference.triton_support``) open
their networks with ``open_session``. Both runtimes compute the same function in float32
(tests/inference/test_runtimes.py); OpenVINO runs in bfloat16 where the CPU computes it natively (see
``openvino_cpu``; ``PIXELGUARD_PRECISION=f32`` keeps float32). Each role has its preferred runtime, chosen by
measurement on one thread here, in float32: the detector runs on OpenVINO (0.07 s per 736x736 frame against
onnxruntime's 0.13; 10 s against 27 s for 30 frames of 736-2000 px sides), the readers on onnxruntime
(OpenVINO was 10% faster on the recogniser, but its memory grew with every new line width it saw: 913 MB
after 120 batches of random widths against 543). A runtime's module is imported only when a model is opened
with it.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Protocol

import numpy as np

ENV = "PIXELGUARD_RUNTIME"  # one runtime for every role, overriding PREFERRED


class ModelSession(Protocol):
    """One loaded network with one input; safe to call from several threads at once."""

    runtime: str

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """The network's first output for ``tensor``."""


# name -> "module:function" opening a model file as a ModelSession. Adding a runtime: a module and a line.
RUNTIMES: dict[str, str] = {
    "openvino": "inference.runtimes.openvino_cpu:open_session",  # Intel's CPU kernels (oneDNN), bf16 or f32
    "onnxruntime": "inference.runtimes.onnx_cpu:open_session",  # onnxruntime's CPU or CUDA provider
}
# role -> runtimes in the order they are preferred (the first installed is taken)
PREFERRED: dict[str, tuple[str, ...]] = {
    "detector": ("openvino", "onnxruntime"),
    "reader": ("onnxruntime", "openvino"),  # angle classifier and recogniser
}


def available(role: str = "detector") -> list[str]:
    """The runtimes whose package is installed, in the order ``role`` prefers them."""
    return [name for name in PREFERRED[role] if importlib.util.find_spec(name) is not None]  # package = name


def default(role: str = "detector") -> str:
    """``$PIXELGUARD_RUNTIME`` when set, else the first installed runtime ``role`` prefers."""
    chosen = os.environ.get(ENV, "").strip()
    if chosen:
        return check(chosen)
    found = available(role)
    if not found:
        raise RuntimeError("no model runtime is installed: pip install openvino (or onnxruntime)")
    return found[0]


def resolve(runtime: str | None, role: str) -> str:
    """``runtime`` when named (checked), else the one ``role`` gets by default."""
    return check(runtime) if runtime else default(role)


def check(name: str) -> str:
    if name not in RUNTIMES:
        raise ValueError(f"no model runtime named {name!r}; known: {', '.join(RUNTIMES)} (set {ENV} to one)")
    return name


def open_session(path: Path, threads: int = 1, runtime: str | None = None, device: str = "cpu",
                 role: str = "detector") -> ModelSession:
    """Load the ONNX file ``path`` with ``runtime`` (default: ``default(role)``) on ``threads`` intra-op threads.

    ``device`` is "cpu" or "gpu"; only onnxruntime (its CUDA provider) runs on a GPU here.
    """
    name = resolve(runtime, role)
    module, _, function = RUNTIMES[name].partition(":")
    opened: ModelSession = getattr(importlib.import_module(module), function)(Path(path), threads, device)
    return opened
