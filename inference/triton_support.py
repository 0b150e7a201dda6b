"""Shared set-up for the Triton Python-backend models in deploy/triton/models (imported by their model.py).

Runs inside Triton's stub with the server venv: numpy, onnxruntime, OpenCV, tesserocr only.
"""
from __future__ import annotations

import json
from pathlib import Path


def parameters(args: dict) -> dict[str, str]:
    config = json.loads(args["model_config"])
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}


def session(args: dict, model_dir: Path):
    import onnxruntime as ort

    params = parameters(args)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(params.get("intra_op_threads", "1"))
    # Idle intra-op threads spin by default, waiting for the next operator. On CPUs shared with the workers
    # (and the other models' instances) that spinning is CPU taken from them: bench/scale.py saw the
    # server's CPU per object rise with every client added.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    # As in the in-process engine: the CPU arena keeps its peak per input shape for ever.
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(str(model_dir / params.get("onnx_file", "model.onnx")), options,
                                providers=[params.get("onnx_provider", "CPUExecutionProvider")])
