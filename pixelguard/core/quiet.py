"""Keep pydicom's own diagnostics out of logs: its warnings quote element values, which may be PHI."""
from __future__ import annotations

import logging
import warnings

from pydicom import config


def silence_value_echoes() -> None:
    # Validation still happens where we need it (StageError reasons we write ourselves); pydicom's
    # messages are dropped because they embed the offending value verbatim.
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*(VR|value|delimiter|Expected).*")
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    logging.getLogger("pydicom").propagate = False
