"""onnxruntime: the CPU provider (and the CUDA provider for the Triton GPU configs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

PROVIDERS = {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider"}


class OnnxSession:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int, device: str) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle intra-op threads spin by default, waiting for the next operator. On CPUs shared with other
        # workers (and other models' instances) that spinning is CPU taken from them: bench/scale.py saw the
        # server's CPU per object rise with every client added.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        # The CPU arena keeps every block it ever grew to, per input shape: frames of many sizes (and text
        # lines of many widths) made workers grow past 2.5 GB. Without it, freed is freed.
        options.enable_cpu_mem_arena = False
        try:
            provider = PROVIDERS[device]
        except KeyError:
            raise ValueError(f"onnxruntime runs on {', '.join(PROVIDERS)}, not {device!r}") from None
        self.session = ort.InferenceSession(str(path), options, providers=[provider])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, tensor: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run(None, {self.input_name: tensor})[0]
        return out


def open_session(path: Path, threads: int, device: str) -> OnnxSession:
    return OnnxSession(path, threads, device)
