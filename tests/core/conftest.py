from __future__ import annotations

from pathlib import Path


def nibabel_data() -> Path:
    import nibabel

    return Path(nibabel.__file__).parent / "tests" / "data"
