"""PP-OCR DBNet text detection: the pre- and post-processing around the ONNX model.

Pure numpy/OpenCV, shared by the in-process engine and the Triton model so that both give the same regions
for the same pixels. The network is chosen by name (``DetectorSettings.model``, see inference/models.py, which
also holds each network's input normalisation); the post-processing parameters are PixelGuard's own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pixelguard.core.regions import Region

from . import models


@dataclass(frozen=True)
class DetectorSettings:
    limit_side_len: int = 736  # short side is scaled up to this: small burned-in text needs the pixels
    max_side_len: int = 2000
    thresh: float = 0.3  # probability-map binarisation
    box_thresh: float = 0.4  # lower than PP-OCR's 0.5: a missed box leaks, an extra box only costs pixels
    unclip_ratio: float = 1.6
    max_candidates: int = 1000
    min_side: float = 3.0
    # Weaker outlines (box score from hint_thresh up to box_thresh, short side from hint_min_side) are
    # returned too, as hints: small type the network only half sees at its working size (an 8-10 px line
    # with box scores of 0.2-0.36 in bench/pixels.py). The text search never fills a hint; it searches its
    # neighbourhood again enlarged, where such a line scores as text (core.textsearch.RedactionSettings
    # .region_min_score must equal box_thresh). hint_thresh >= box_thresh turns hints off.
    hint_thresh: float = 0.2
    hint_min_side: float = 1.0
    model: str = models.DEFAULT_DETECTOR  # a name in inference.models.DETECTORS


MODEL_FILE = "ch_PP-OCRv4_det_infer.onnx"  # the v4 detector's file name (kept for callers that name it)


def model_path(name: str | None = None) -> Path:
    """The detector's ONNX file inside its installed wheel (nothing is downloaded at run time)."""
    return models.detector(name).file.locate()


def preprocess(frame: np.ndarray, settings: DetectorSettings = DetectorSettings(), as_is: bool = False) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 NCHW tensor at a size the network accepts (multiples of 32).

    ``as_is``: the frame is already at the scale to search it at (the text search's canvases, see
    core.mosaic), so it is not enlarged to the working side; only its sides are rounded to multiples of 32.
    """
    h, w = frame.shape[:2]
    ratio = 1.0
    if min(h, w) < settings.limit_side_len and not as_is:
        ratio = settings.limit_side_len / min(h, w)
    if max(h, w) * ratio > settings.max_side_len:
        ratio = settings.max_side_len / max(h, w)
    new_h = max(32, int(round(h * ratio / 32)) * 32)
    new_w = max(32, int(round(w * ratio / 32)) * 32)
    resized = cv2.resize(frame, (new_w, new_h)) if (new_h, new_w) != (h, w) else frame
    # Normalisation as a per-channel table on the 8-bit values: the same float32 arithmetic as
    # (x / 255 - mean) / std, done once per value instead of once per pixel. OpenCV's LUT applies it 2.5x
    # faster than numpy's indexing (2.0 ms against 5.1 for a 736x736 frame, with the resize).
    bgr, table = _table(settings.model)
    if bgr:  # a BGR network's first channel is the frame's third
        resized = cv2.cvtColor(resized, cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(cv2.LUT(np.ascontiguousarray(resized), table).transpose(2, 0, 1))[None]


@functools.cache
def _table(model: str) -> tuple[bool, np.ndarray]:
    """Whether the network reads BGR, and the float each 8-bit value becomes, per input channel (1, 256, 3)."""
    norm = models.detector(model).normalisation
    values = np.arange(256, dtype=np.float32) / np.float32(255.0)
    table = np.stack([(values - np.float32(m)) / np.float32(sd) for m, sd in zip(norm.mean, norm.std, strict=True)],
                     axis=-1)
    return norm.bgr, np.ascontiguousarray(table.reshape(1, 256, 3), dtype=np.float32)


def postprocess(prob: np.ndarray, height: int, width: int,
                settings: DetectorSettings = DetectorSettings()) -> list[Region]:
    """Probability map (h', w') -> regions scaled back to the (height, width) frame."""
    pred = prob.astype(np.float32)
    mask = np.asarray(cv2.dilate((pred > settings.thresh).astype(np.uint8), np.ones((2, 2), np.uint8)))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    scale_x, scale_y = width / pred.shape[1], height / pred.shape[0]
    regions: list[Region] = []
    for contour in contours[: settings.max_candidates]:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < min(settings.min_side, settings.hint_min_side):
            continue
        score = _box_score(pred, cv2.boxPoints(((cx, cy), (rw, rh), angle)))
        text = score >= settings.box_thresh and min(rw, rh) >= settings.min_side
        if not text and not settings.hint_thresh <= score < settings.box_thresh:
            continue
        if not text:
            score = min(score, settings.box_thresh - 1e-3)  # a hint, whatever its size: never taken for text
        # Unclip: DBNet predicts a shrunk text kernel; grow it back by area * ratio / perimeter.
        grow = rw * rh * settings.unclip_ratio / (2 * (rw + rh))
        box = cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle))
        box[:, 0] = np.clip(box[:, 0] * scale_x, 0, width - 1)
        box[:, 1] = np.clip(box[:, 1] * scale_y, 0, height - 1)
        regions.append(Region(tuple((float(x), float(y)) for x, y in _order(box)), float(score)))
    return regions


def _box_score(pred: np.ndarray, box: np.ndarray) -> float:
    h, w = pred.shape
    xmin = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    xmax = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    ymin = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    ymax = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    shifted = (box - [xmin, ymin]).astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    return float(cv2.mean(pred[ymin:ymax + 1, xmin:xmax + 1], mask)[0])


def _order(box: np.ndarray) -> np.ndarray:
    """Corners clockwise from top-left."""
    s = box.sum(axis=1)
    d = np.diff(box, axis=1).ravel()
    return np.array([box[np.argmin(s)], box[np.argmin(d)], box[np.argmax(s)], box[np.argmax(d)]])
