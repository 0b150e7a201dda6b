"""Text detection through a Triton Inference Server (gRPC): the streaming runner's OCR engine.

Frames are grouped by size and sent in batches the server's dynamic batcher can merge further. Transient
failures are retried with backoff; when Triton still cannot answer, EngineUnavailable is raised so the
caller routes the object to review or errors, never to clean.
"""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import tritonclient.grpc as grpcclient
from opentelemetry import trace
from tritonclient.utils import InferenceServerException

from pixelguard.core.regions import Region
from pixelguard.telemetry import metrics

from .base import EngineUnavailable

_TRACER = trace.get_tracer("pixelguard.inference")


def _stack(frames: list[np.ndarray]) -> np.ndarray:
    """One contiguous uint8 batch: np.stack already copies, so 8-bit frames are not copied a second time."""
    return np.stack(frames).astype(np.uint8, copy=False)


class TritonDetector:
    name = "triton"

    def __init__(self, url: str, model: str = "text_detector", timeout_s: float = 30.0, retries: int = 3,
                 max_batch: int = 8, backoff_s: float = 0.5, ensemble: str = "ocr_ensemble",
                 reader: str = "region_reader") -> None:
        self.url = url
        self.model = model
        self.ensemble = ensemble
        self.reader = reader
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_batch = max_batch
        self.backoff_s = backoff_s
        self.client = grpcclient.InferenceServerClient(url)

    def detect(self, frames: list[np.ndarray], as_is: bool = False, model: str | None = None) -> list[list[Region]]:
        """Regions per frame (see inference.base.TextDetector.detect); frames of one size go as one request."""
        results: list[list[Region]] = [[] for _ in frames]
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, frame in enumerate(frames):
            by_shape[frame.shape].append(index)
        for indexes in by_shape.values():
            for start in range(0, len(indexes), self.max_batch):
                chunk = indexes[start:start + self.max_batch]
                batch = _stack([frames[i] for i in chunk])
                for i, regions in zip(chunk, self._infer(batch, model or self.model, as_is), strict=True):
                    results[i] = regions
        return results

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        """Detect and read in one call to the OCR ensemble (detector, angle classifier, recogniser, Tesseract)."""
        return self.detect(frames, as_is, model=self.ensemble)

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        """Text for regions already found, through ``region_reader`` (the same readers as the ensemble)."""
        results: list[list[Region]] = [[] for _ in frames]
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, frame in enumerate(frames):
            if found[index]:
                by_shape[frame.shape].append(index)
        for indexes in by_shape.values():
            for start in range(0, len(indexes), self.max_batch):
                chunk = indexes[start:start + self.max_batch]
                widest = max(len(found[i]) for i in chunk)
                table = np.zeros((len(chunk), widest, 9), dtype=np.float32)
                for row, i in enumerate(chunk):
                    for k, region in enumerate(found[i]):
                        table[row, k, :8] = np.asarray(region.quad, dtype=np.float32).ravel()
                        table[row, k, 8] = region.score
                counts = np.array([[len(found[i])] for i in chunk], dtype=np.int32)
                batch = _stack([frames[i] for i in chunk])
                texts, scores = self._read(batch, table, counts)
                for row, i in enumerate(chunk):
                    results[i] = [Region(r.quad, r.score, texts[row, k].decode(), float(scores[row, k]))
                                  for k, r in enumerate(found[i])]
        return results

    def _read(self, batch: np.ndarray, table: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = []
        for name, array, dtype in (("FRAME", batch, "UINT8"), ("REGIONS", table, "FP32"), ("COUNT", counts, "INT32")):
            tensor = grpcclient.InferInput(name, list(array.shape), dtype)
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        outputs = [grpcclient.InferRequestedOutput(name) for name in ("TEXT", "TEXT_SCORE")]
        result = self._call(self.reader, inputs, outputs, int(batch.shape[0]))
        return result.as_numpy("TEXT"), result.as_numpy("TEXT_SCORE")

    def _infer(self, batch: np.ndarray, model: str, as_is: bool = False) -> list[list[Region]]:
        tensor = grpcclient.InferInput("FRAME", list(batch.shape), "UINT8")
        tensor.set_data_from_numpy(batch)
        inputs = [tensor]
        if as_is:  # optional on the server: a request without it is searched enlarged, as before
            flag = grpcclient.InferInput("AS_IS", [int(batch.shape[0]), 1], "BOOL")
            flag.set_data_from_numpy(np.ones((int(batch.shape[0]), 1), dtype=bool))
            inputs.append(flag)
        names = ["REGIONS", "COUNT"] + (["TEXT", "TEXT_SCORE"] if model == self.ensemble else [])
        outputs = [grpcclient.InferRequestedOutput(name) for name in names]
        result = self._call(model, inputs, outputs, int(batch.shape[0]))
        table = result.as_numpy("REGIONS")
        counts = result.as_numpy("COUNT")[:, 0]
        texts = result.as_numpy("TEXT") if model == self.ensemble else None
        scores = result.as_numpy("TEXT_SCORE") if model == self.ensemble else None
        if texts is not None and scores is None:
            raise EngineUnavailable(f"Triton's {model} answered without TEXT_SCORE: check the model version")
        out = []
        for f, count in enumerate(counts):
            regions = []
            for i, row in enumerate(table[f, :count]):
                quad = tuple((float(row[2 * k]), float(row[2 * k + 1])) for k in range(4))
                if texts is None or scores is None:
                    regions.append(Region(quad, float(row[8])))
                else:
                    regions.append(Region(quad, float(row[8]), texts[f, i].decode(), float(scores[f, i])))
            out.append(regions)
        return out

    def _call(self, model: str, inputs: list, outputs: list, batch_size: int):
        last = ""
        for attempt in range(self.retries + 1):
            try:
                # One span per Triton call, child of the redact agent's span: model, batch and attempt only.
                with _TRACER.start_as_current_span(f"triton.infer {model}", kind=trace.SpanKind.CLIENT,
                                                   attributes={"rpc.system": "grpc", "rpc.service": model,
                                                               "server.address": self.url,
                                                               "pixelguard.batch_size": batch_size,
                                                               "pixelguard.attempt": attempt + 1}):
                    started = time.perf_counter()
                    try:
                        return self.client.infer(model, inputs, outputs=outputs, client_timeout=self.timeout_s)
                    finally:  # a failed attempt is time the worker waited too
                        metrics.triton_call(model, time.perf_counter() - started)
            except InferenceServerException as exc:
                last = exc.status() or "error"
                if attempt < self.retries:
                    time.sleep(self.backoff_s * (2 ** attempt))
        raise EngineUnavailable(f"Triton at {self.url} did not answer {model} after "
                                f"{self.retries + 1} attempts ({last})")

    def close(self) -> None:
        self.client.close()
