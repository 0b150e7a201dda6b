"""In-process text detector: the PP-OCR DBNet ONNX model on a model runtime (inference.runtimes; embedded default)."""
from __future__ import annotations

import os
import threading

import numpy as np

from pixelguard.core.regions import Region

from . import dbnet, models, ppocr, runtimes
from .tesseract import TesseractReader

# PP-OCR readings below this confidence get a second opinion from Tesseract (multilingual).
TESSERACT_BELOW = 0.9


def _both(ppocr_reading: tuple[str, float], tesseract_reading: tuple[str, float]) -> tuple[str, float]:
    """Keep both readings (one per line): PHI matching checks each, so neither model's miss hides a value."""
    texts = [t for t, _ in (ppocr_reading, tesseract_reading) if t]
    return "\n".join(dict.fromkeys(texts)), max(ppocr_reading[1], tesseract_reading[1])


class LocalDetector:
    """Detection always; reading (angle classifier, PP-OCR recogniser, Tesseract) loaded on first use."""

    name = "local"  # and the runtime: "local-openvino", "local-onnxruntime"

    def __init__(self, settings: dbnet.DetectorSettings | None = None, threads: int | None = None,
                 recogniser: str | None = None, runtime: str | None = None) -> None:
        """``settings.model`` names the detector, ``recogniser`` the reader (inference.models; defaults there);
        ``runtime`` what runs all of them (inference.runtimes; default: each role's preferred there)."""
        # One thread per worker process: the embedded runner already runs one process per core.
        self.threads = threads or int(os.environ.get("PIXELGUARD_OCR_THREADS", "1"))
        self.runtime = runtimes.resolve(runtime, "detector")
        self.reader_runtime = runtimes.resolve(runtime, "reader")
        self.name = f"local-{self.runtime}"
        settings = settings or dbnet.DetectorSettings()
        self.session = runtimes.open_session(dbnet.model_path(settings.model), self.threads, self.runtime)
        self.settings = settings
        self.recogniser = models.recogniser(recogniser)
        self._readers: tuple | None = None
        self._loading = threading.Lock()  # stage threads share one engine: load the readers once

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        out = []
        for frame in frames:
            tensor = dbnet.preprocess(frame, self.settings, as_is)
            prob = self.session.run(tensor)[0, 0]
            out.append(dbnet.postprocess(prob, frame.shape[0], frame.shape[1], self.settings))
        return out

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return self.read(frames, self.detect(frames, as_is))

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        """Text for each region: PP-OCR's recogniser, and Tesseract where PP-OCR is unsure."""
        cls_session, rec_session, decoder, tesseract = self._load_readers()
        out: list[list[Region]] = []
        for frame, regions in zip(frames, found, strict=True):
            if not regions:
                out.append([])
                continue
            crops = [ppocr.crop(frame, r.quad) for r in regions]
            probs = cls_session.run(ppocr.cls_batch(crops))
            crops = ppocr.apply_cls(crops, probs)
            texts: list[tuple[str, float]] = [("", 0.0)] * len(crops)
            for chunk, batch in ppocr.rec_chunks(crops, self.recogniser.height):
                logits = rec_session.run(batch)
                for k, reading in zip(chunk, decoder(logits), strict=True):
                    texts[k] = reading
            texts = [t if t[1] >= TESSERACT_BELOW else _both(t, tesseract.read(c))
                     for t, c in zip(texts, crops, strict=True)]
            out.append(ppocr.with_text(regions, texts))
        return out

    def _load_readers(self) -> tuple:
        with self._loading:
            if self._readers is None:
                cls_session = runtimes.open_session(models.ANGLE_CLASSIFIER.locate(), self.threads,
                                                    self.reader_runtime)
                rec_session = runtimes.open_session(self.recogniser.file.locate(), self.threads, self.reader_runtime)
                decoder = ppocr.CTCDecoder.for_model(self.recogniser)
                self._readers = (cls_session, rec_session, decoder, TesseractReader())
            return self._readers
