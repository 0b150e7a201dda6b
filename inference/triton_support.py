"""Shared set-up for the Triton Python-backend models in deploy/triton/models (imported by their model.py).

Runs inside Triton's stub with the server venv: numpy, openvino, onnxruntime, OpenCV, tesserocr only.
"""
from __future__ import annotations

import json
from pathlib import Path

from .runtimes import ModelSession, open_session


def parameters(args: dict) -> dict[str, str]:
    config = json.loads(args["model_config"])
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}


def session(args: dict, model_dir: Path, role: str = "detector") -> ModelSession:
    """The model file beside ``model_dir``'s config, opened as its parameters say (inference.runtimes).

    ``onnx_provider`` CUDAExecutionProvider (the GPU configs) runs it with onnxruntime on the GPU; otherwise
    ``runtime`` names the CPU runtime (default: the one ``role`` prefers, as in-process; inference.runtimes).
    """
    params = parameters(args)
    on_gpu = params.get("onnx_provider", "CPUExecutionProvider") == "CUDAExecutionProvider"
    runtime = "onnxruntime" if on_gpu else params.get("runtime") or None
    return open_session(model_file(args, model_dir), int(params.get("intra_op_threads", "1")), runtime,
                        device="gpu" if on_gpu else "cpu", role=role)


def model_file(args: dict, model_dir: Path) -> Path:
    return model_dir / parameters(args).get("onnx_file", "model.onnx")
