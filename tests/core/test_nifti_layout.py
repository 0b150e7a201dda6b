"""A NIfTI whose header points the voxel block into its own text is refused, not written out as voxels.

Found by ``bench/fuzz.py``: the extension flag set with no room before ``vox_offset``, or ``vox_offset``
inside the header, makes a reader take header text or extension content as voxel values. The scrub clears
the header fields, but the copy inside the "voxels" went on into a clean output.
"""
from __future__ import annotations

import gzip
import struct

import nibabel as nib
import numpy as np
import pytest

from pixelguard.core.pipeline import process
from pixelguard.core.record import Status

SECRET = b"QUIXOTE^ZELDA MRN7300006"


def volume(version: int, extension: bytes | None = None) -> bytearray:
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    image = cls(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6), np.eye(4))
    image.header["descrip"] = SECRET
    if extension is not None:
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", extension))
    return bytearray(image.to_bytes())


def set_offset(raw: bytearray, version: int, offset: int) -> None:
    if version == 1:
        raw[108:112] = struct.pack("<f", float(offset))
    else:
        raw[168:176] = struct.pack("<q", offset)


def outputs_text(outcome) -> bool:
    return SECRET in gzip.decompress(outcome.output_bytes) if outcome.output_bytes else False


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("wrap", ["plain", "gzip"])
def test_extension_flag_with_no_room_before_the_voxels_is_refused(version, wrap, basic, derive) -> None:
    raw = volume(version)
    size = 348 if version == 1 else 540
    # "Extensions follow", then an extension's worth of text where the voxel block begins.
    raw[size:size + 4] = b"\x01\x00\x00\x00"
    raw[size + 4:size + 4 + 8 + len(SECRET)] = struct.pack("<ii", 32, 6) + SECRET
    data = gzip.compress(bytes(raw)) if wrap == "gzip" else bytes(raw)
    outcome = process("in-nii", data, basic, derive, None)
    assert outcome.status is Status.ERROR and outcome.error_code == "corrupt", outcome.reason
    assert "extension" in outcome.reason and "resubmit" in outcome.reason
    assert SECRET.decode() not in outcome.reason


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("offset", [0, 100, 351])
def test_voxel_offset_inside_the_header_is_refused(version, offset, basic, derive) -> None:
    raw = volume(version)
    set_offset(raw, version, offset)
    outcome = process("in-nii", bytes(raw), basic, derive, None)
    assert outcome.status is Status.ERROR and outcome.error_code == "corrupt", outcome.reason
    assert f"byte {offset}" in outcome.reason and "vox_offset" in outcome.reason


@pytest.mark.parametrize("version", [1, 2])
def test_a_well_formed_extension_is_read_and_cleared(version, basic, derive) -> None:
    # The rule must not refuse what the standard allows: a real extension before the voxels.
    outcome = process("in-nii", bytes(volume(version, extension=SECRET)), basic, derive, None)
    assert outcome.status is Status.CLEAN, outcome.reason
    assert not outputs_text(outcome)
