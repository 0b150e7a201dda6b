"""Object formats as plugins: one module per format, each a ``FormatHandler``, registered in one table.

The stages in ``pixelguard.core`` (parse, scrub, redact, the integrity check, the PHI sweep) and the streaming
stages (``agents/stages.py``) ask ``handler(record.format)`` for what differs between formats and hold no
format branches themselves. Detection by content is the handlers' too (``detect``): every handler is asked,
a magic number wins over a structure that merely fits (a DICOM dataset without its preamble), and an
object no handler claims is refused with the formats that were tried.

Adding a format: a ``Format`` member (``core/record.py``), a module here whose ``HANDLER`` implements
``FormatHandler``, and one line in ``_MODULES``. Modules are imported on first use, as
pydicom's decoders are, so a run that never sees a NIfTI object never imports nibabel.
"""
from __future__ import annotations

import importlib
from functools import cache

from pixelguard.core.record import Format, StageError

from .base import GZIP_MAGIC, FormatHandler, Match

_MODULES: dict[Format, str] = {
    Format.DICOM: "pixelguard.formats.dicom",
    Format.JPEG: "pixelguard.formats.jpeg",
    Format.PNG: "pixelguard.formats.png",
    Format.NIFTI: "pixelguard.formats.nifti",
}


@cache
def handler(fmt: Format) -> FormatHandler:
    """The handler of one format (imported on first use)."""
    module = importlib.import_module(_MODULES[fmt])
    found: FormatHandler = module.HANDLER
    return found


def detect(data: bytes) -> Format:
    """The object's format, by content; StageError ("empty", "unknown-format") with a reason otherwise."""
    if not data:
        raise StageError("empty", "empty object (0 bytes)")
    plausible: Format | None = None
    for fmt in _MODULES:
        match = handler(fmt).detect(data)
        if match is Match.MAGIC:
            return fmt
        if match is Match.PLAUSIBLE and plausible is None:
            plausible = fmt
    if plausible is not None:
        return plausible
    tried = ", ".join(fmt.name for fmt in _MODULES)
    if data[:2] == GZIP_MAGIC:
        raise StageError("unknown-format", f"gzip stream whose content is none of {tried}")
    # The reason never shows the bytes themselves: a text file's first bytes can be a patient's name.
    raise StageError("unknown-format", f"no signature of {tried} at its start; submit one of those formats")


__all__ = ["FormatHandler", "Match", "detect", "handler"]
