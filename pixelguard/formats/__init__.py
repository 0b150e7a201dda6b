"""Object formats as plugins: one module per format, each a ``FormatHandler``, registered in one table.

The stages in ``pixelguard.core`` (parse, scrub, redact, the integrity check, the PHI sweep) and the streaming
stages (``agents/stages.py``) ask ``handler(record.format)`` for what differs between formats and hold no
format branches themselves. Detection by content stays in ``core/formats.py`` (``sniff``): the order in which
magic numbers are tried matters (raw DICOM last), so it is one function rather than a vote of the handlers.

Adding a format: a ``Format`` member (``core/record.py``), its magic in ``sniff``, a module here whose
``HANDLER`` implements ``FormatHandler``, and one line in ``_MODULES``. Modules are imported on first use, as
pydicom's decoders are, so a run that never sees a NIfTI object never imports nibabel.
"""
from __future__ import annotations

import importlib
from functools import cache

from pixelguard.core.record import Format

from .base import FormatHandler

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


__all__ = ["FormatHandler", "handler"]
