"""In-process text detector: the PP-OCR DBNet ONNX model run with onnxruntime (embedded default)."""
from __future__ import annotations

import os
import threading

import numpy as np
import onnxruntime as ort

from pixelguard.core.regions import Region

from . import dbnet, models, ppocr
from .tesseract import TesseractReader

# PP-OCR readings below this confidence get a second opinion from Tesseract (multilingual).
TESSERACT_BELOW = 0.9


def _both(ppocr_reading: tuple[str, float], tesseract_reading: tuple[str, float]) -> tuple[str, float]:
    """Keep both readings (one per line): PHI matching checks each, so neither model's miss hides a value."""
    texts = [t for t, _ in (ppocr_reading, tesseract_reading) if t]
    return "\n".join(dict.fromkeys(texts)), max(ppocr_reading[1], tesseract_reading[1])


class LocalDetector:
    """Detection always; reading (angle classifier, PP-OCR recogniser, Tesseract) loaded on first use."""

    name = "local-onnxruntime"

    def __init__(self, settings: dbnet.DetectorSettings | None = None, threads: int | None = None,
                 recogniser: str | None = None) -> None:
        """``settings.model`` names the detector, ``recogniser`` the reader (inference.models; defaults there)."""
        options = ort.SessionOptions()
        # One thread per worker process: the embedded runner already runs one process per core.
        options.intra_op_num_threads = threads or int(os.environ.get("PIXELGUARD_OCR_THREADS", "1"))
        options.inter_op_num_threads = 1
        # With more than one thread, idle ones would spin for work, taking CPU from the other processes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        # onnxruntime's CPU arena keeps every block it ever grew to, per input shape: frames of many sizes
        # (and text lines of many widths) made workers grow past 2.5 GB. Without it, freed is freed.
        options.enable_cpu_mem_arena = False
        settings = settings or dbnet.DetectorSettings()
        self.session = ort.InferenceSession(str(dbnet.model_path(settings.model)), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.settings = settings
        self.recogniser = models.recogniser(recogniser)
        self._options = options
        self._readers: tuple | None = None
        self._loading = threading.Lock()  # stage threads share one engine: load the readers once

    def detect(self, frames: list[np.ndarray]) -> list[list[Region]]:
        out = []
        for frame in frames:
            tensor = dbnet.preprocess(frame, self.settings)
            prob = self.session.run(None, {self.input_name: tensor})[0][0, 0]
            out.append(dbnet.postprocess(prob, frame.shape[0], frame.shape[1], self.settings))
        return out

    def ocr(self, frames: list[np.ndarray]) -> list[list[Region]]:
        return self.read(frames, self.detect(frames))

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        """Text for each region: PP-OCR's recogniser, and Tesseract where PP-OCR is unsure."""
        cls_session, rec_session, decoder, tesseract = self._load_readers()
        out: list[list[Region]] = []
        for frame, regions in zip(frames, found, strict=True):
            if not regions:
                out.append([])
                continue
            crops = [ppocr.crop(frame, r.quad) for r in regions]
            probs = cls_session.run(None, {cls_session.get_inputs()[0].name: ppocr.cls_batch(crops)})[0]
            crops = ppocr.apply_cls(crops, probs)
            texts: list[tuple[str, float]] = [("", 0.0)] * len(crops)
            for chunk, batch in ppocr.rec_chunks(crops, self.recogniser.height):
                logits = rec_session.run(None, {rec_session.get_inputs()[0].name: batch})[0]
                for k, reading in zip(chunk, decoder(logits), strict=True):
                    texts[k] = reading
            texts = [t if t[1] >= TESSERACT_BELOW else _both(t, tesseract.read(c))
                     for t, c in zip(texts, crops, strict=True)]
            out.append(ppocr.with_text(regions, texts))
        return out

    def _load_readers(self) -> tuple:
        with self._loading:
            if self._readers is None:
                cls_session = ort.InferenceSession(str(models.ANGLE_CLASSIFIER.locate()), self._options,
                                                   providers=["CPUExecutionProvider"])
                rec_session = ort.InferenceSession(str(self.recogniser.file.locate()), self._options,
                                                   providers=["CPUExecutionProvider"])
                decoder = ppocr.CTCDecoder.for_model(self.recogniser, rec_session)
                self._readers = (cls_session, rec_session, decoder, TesseractReader())
            return self._readers
