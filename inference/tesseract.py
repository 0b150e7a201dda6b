"""Tesseract (Debian's tesseract-ocr 5 language packs via tesserocr): the multilingual reader.

PP-OCR's recogniser reads Latin and Chinese well; Tesseract adds Arabic, Cyrillic, Japanese, Korean and
accented Latin. Crops are read upright (the caller rotates them); small bright-on-dark text reads better
inverted to dark-on-light and scaled up, so both are prepared here.
"""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")
LANGUAGES = ("eng", "deu", "fra", "spa", "ita", "por", "rus", "ara", "chi_sim", "jpn", "kor")


class TesseractReader:
    def __init__(self, languages: tuple[str, ...] = LANGUAGES, tessdata: Path = TESSDATA) -> None:
        import tesserocr  # deferred: only engines that read text pay its start-up

        available = set(tesserocr.get_languages(str(tessdata))[1])
        missing = [lang for lang in languages if lang not in available]
        if missing:
            raise FileNotFoundError(f"Tesseract language packs missing: {', '.join(missing)} "
                                    f"(install tesseract-ocr-* from Debian; see deploy/local/apt-packages.txt)")
        self.api = tesserocr.PyTessBaseAPI(path=str(tessdata), lang="+".join(languages),
                                           psm=tesserocr.PSM.SINGLE_LINE)
        # One Tesseract API object is not thread-safe (two threads in it segfault the process, as the
        # streaming worker's stage threads did); reads are short, so they take turns.
        self._lock = threading.Lock()

    def read(self, crop: np.ndarray) -> tuple[str, float]:
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
        if gray.mean() < 128:
            gray = 255 - gray  # Tesseract is trained on dark text on light paper
        if gray.shape[0] < 32:
            scale = 32 / max(gray.shape[0], 1)
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        gray = cv2.copyMakeBorder(gray, 8, 8, 8, 8, cv2.BORDER_REPLICATE)
        gray = np.ascontiguousarray(gray, dtype=np.uint8)
        with self._lock:
            self.api.SetImageBytes(gray.tobytes(), gray.shape[1], gray.shape[0], 1, gray.shape[1])
            text = self.api.GetUTF8Text().strip()
            confidence = self.api.MeanTextConf()
        return text, max(0.0, confidence / 100.0) if text else 0.0
