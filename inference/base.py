"""The text-detector interface the redact stage calls, and the registry of engines.

``agents/wiring.py`` (streaming workers) and ``pixelguard/embedded.py`` (``pixelguard deid``) make their engine
with ``engine(name, ...)``; the benches and tests use it too. An engine module is imported only when its
engine is made, so a worker without Triton never imports tritonclient.
"""
from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np

from pixelguard.core.regions import Region


class EngineUnavailable(RuntimeError):
    """The OCR engine cannot answer (server down, model missing): the object must not be routed clean."""


class TextDetector(Protocol):
    name: str

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        """Text regions for each 8-bit RGB frame (H, W, 3), in that frame's pixel coordinates.

        Frames are enlarged to the detector's working side first, unless ``as_is``: frames already at the
        scale to search them at (inference.dbnet.preprocess).
        """


# name -> "module:class". Adding an engine: a module with a class that implements TextDetector, and a line.
ENGINES: dict[str, str] = {
    "local": "inference.local_engine:LocalDetector",  # onnxruntime + tesserocr in this process
    "triton": "inference.triton_client:TritonDetector",  # a Triton server over gRPC (url=HOST:PORT)
}


def engine(name: str, **kwargs: Any) -> Any:
    """Make the engine ``name`` with its constructor's keyword arguments."""
    try:
        module, _, cls = ENGINES[name].partition(":")
    except KeyError:
        raise ValueError(f"no OCR engine named {name!r}; known: {', '.join(ENGINES)}") from None
    return getattr(importlib.import_module(module), cls)(**kwargs)
