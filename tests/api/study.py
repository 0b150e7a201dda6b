"""Studies to upload: fake-PHI objects (``tests/streaming/harness.make_corpus``) packed as a zip or a tar."""
from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from tests.streaming.harness import Corpus, make_corpus


def fifty_file_corpus(root: Path) -> Corpus:
    """46 good objects (DICOM plain, compressed and multi-frame; PNG; JPEG; NIfTI) and 4 bad ones
    (truncated, garbage, empty, cut PNG); the corpus's dangling link is not a file and stays out of a zip."""
    return make_corpus(root, dicoms=30, compressed=4, images=4, niftis=2, bad=5)


def zip_of(root: Path) -> tuple[bytes, list[str]]:
    """The regular files under root as a zip (named as they are: names with fake patient names), and the names."""
    buffer = io.BytesIO()
    names = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.iterdir()):
            if path.is_file() and not path.is_symlink():
                archive.write(path, f"study/{path.name}")
                names.append(path.name)
    return buffer.getvalue(), names


def tar_of(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
