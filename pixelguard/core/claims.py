"""What a PNG, JPEG or NIfTI header claims, checked against the per-object budgets before anything is decoded.

A 100 kB file can claim a 100000 x 100000 image or a 30000^3 volume (a decompression bomb); the decoders
would try to allocate it. These checks read only the header fields and raise StageError with a reason.
"""
from __future__ import annotations

import math
import struct
from typing import Any

from .inflate import gunzip_head
from .limits import Limits, check_pixel_claim
from .record import StageError

# PNG colour type -> samples per pixel, and the bit depths PNG allows for it (PNG spec, 11.2.2 IHDR).
_PNG_COLOUR = {0: (1, (1, 2, 4, 8, 16)), 2: (3, (8, 16)), 3: (1, (1, 2, 4, 8)), 4: (2, (8, 16)), 6: (4, (8, 16))}


def check_png_ihdr(body: bytes, limits: Limits) -> tuple[int, int]:
    """(width, height) of a well-formed IHDR within budget."""
    if len(body) != 13:
        raise StageError("corrupt", f"PNG IHDR chunk is {len(body)} bytes; it must be 13")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if colour not in _PNG_COLOUR or depth not in _PNG_COLOUR[colour][1]:
        raise StageError("corrupt", f"PNG IHDR pairs colour type {colour} with bit depth {depth}, "
                                    "which PNG does not allow")
    if compression or filtering or interlace > 1:
        raise StageError("corrupt", "PNG IHDR names an unknown compression, filter or interlace method")
    check_pixel_claim(height, width, _PNG_COLOUR[colour][0], 1, depth, limits)
    return width, height


def check_jpeg_sof(body: bytes, limits: Limits) -> tuple[int, int]:
    """(width, height) of a frame header (SOF) within budget."""
    if len(body) < 6:
        raise StageError("corrupt", f"JPEG frame header (SOF) is {len(body)} bytes; it needs at least 6")
    precision, height, width, components = struct.unpack(">BHHB", body[:6])
    if height == 0:
        # A zero height is legal only with a DNL marker after the first scan, which no decoder here reads.
        raise StageError("unsupported", "JPEG frame header gives height 0 (height defined later by DNL)")
    if len(body) < 6 + 3 * components:
        raise StageError("corrupt", f"JPEG frame header lists {components} components but holds "
                                    f"{(len(body) - 6) // 3}")
    check_pixel_claim(height, width, components, 1, precision, limits)
    return width, height


_NIFTI = {  # version -> (header size, sizeof_hdr/dim/datatype/bitpix/vox_offset layout)
    1: (348, "i", 40, "h", 70, 72, 108, "f"),
    2: (540, "i", 16, "q", 12, 14, 168, "q"),
}


def nifti_header_size(version: int) -> int:
    return _NIFTI[version][0]


def check_nifti_claim(head: bytes, version: int, limits: Limits) -> int:
    """Bytes the object must hold (voxel offset + voxel data) by its header, refused when over budget.

    Reads the fixed header fields directly so a 30000^3 claim is refused before nibabel or an inflater
    sees the data; byte order is taken from sizeof_hdr, as the NIfTI standard prescribes.
    """
    from nibabel.nifti1 import data_type_codes

    size, _, dim_at, dim_fmt, datatype_at, bitpix_at, offset_at, offset_fmt = _NIFTI[version]
    if len(head) < size:
        raise StageError("truncated", f"NIfTI-{version} header needs {size} bytes; the object holds {len(head)}")
    order = "<" if struct.unpack("<i", head[:4])[0] == size else ">"
    if struct.unpack(order + "i", head[:4])[0] != size:
        raise StageError("corrupt", f"NIfTI-{version} header gives a header size other than {size}")
    dims = struct.unpack(f"{order}8{dim_fmt}", head[dim_at:dim_at + 8 * struct.calcsize(dim_fmt)])
    if not 1 <= dims[0] <= 7:
        raise StageError("corrupt", f"NIfTI-{version} header gives {dims[0]} dimensions; 1 to 7 are allowed")
    shape = dims[1:dims[0] + 1]
    if min(shape) < 1:
        raise StageError("corrupt", f"NIfTI-{version} header gives a dimension below 1")
    datatype = struct.unpack(order + "h", head[datatype_at:datatype_at + 2])[0]
    bitpix = struct.unpack(order + "h", head[bitpix_at:bitpix_at + 2])[0]
    try:
        dtype: Any = data_type_codes.dtype[datatype]  # nibabel's Recoder is untyped: a numpy dtype
        itemsize = dtype.itemsize
    except (KeyError, TypeError, AttributeError):
        raise StageError("unsupported", f"NIfTI-{version} header names data type {datatype}, which has no "
                                        "voxel layout here") from None
    if itemsize == 0 or bitpix != itemsize * 8:
        raise StageError("corrupt", f"NIfTI-{version} header gives {bitpix} bits per voxel for a data type "
                                    f"of {itemsize * 8}")
    voxel_bytes = math.prod(shape) * itemsize
    if voxel_bytes > limits.max_pixel_bytes:
        raise StageError("oversized", f"NIfTI-{version} volume claims {'x'.join(map(str, shape))} voxels, "
                                      f"{voxel_bytes} bytes; the per-object limit is {limits.max_pixel_bytes}: "
                                      "split the volume or raise the limit")
    offset = struct.unpack(order + offset_fmt, head[offset_at:offset_at + struct.calcsize(offset_fmt)])[0]
    if not math.isfinite(offset) or offset < 0 or offset > limits.max_pixel_bytes:
        raise StageError("corrupt", f"NIfTI-{version} header gives a voxel offset outside the object")
    _check_nifti_layout(head, version, int(offset))
    return max(int(offset), size + 4) + voxel_bytes


def _check_nifti_layout(head: bytes, version: int, offset: int) -> None:
    """The voxel block must start after the header and its extensions, as the standard lays them out.

    Otherwise the voxels a reader takes would include header text (descrip, aux_file) or extension
    content, and that text would travel on into the output as voxel values, past the scrub.
    """
    size = _NIFTI[version][0]
    # Zero included: readers take it literally (nibabel reads the header itself as the first voxels).
    if offset < size + 4:
        raise StageError("corrupt", f"NIfTI-{version} header puts the voxel data at byte {offset}, inside the "
                                    f"{size + 4}-byte header; fix vox_offset and resubmit")
    extensions_follow = len(head) > size and head[size] != 0
    if extensions_follow and offset < size + 4 + 16:  # one extension is at least 16 bytes (esize, ecode, data)
        raise StageError("corrupt", f"NIfTI-{version} header says extensions follow it, but its voxel offset "
                                    f"({offset}) leaves no room for one; clear the extension flag at byte "
                                    f"{size} or fix vox_offset, then resubmit")


def nifti_gzip_head(data: bytes) -> bytes:
    head = gunzip_head(data, 544)
    if head is None:
        raise StageError("corrupt", "gzip stream is corrupt before the end of the NIfTI header")
    return head
