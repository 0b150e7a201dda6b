"""Output formats: what a job writes once an object is de-identified, and checking what it wrote.

Runs after redaction, on the record the redact stage finished; the integrity check and the PHI sweep then run
on the bytes this module produced (``pipeline.process``, ``agents.stages``), so nothing is published that
was not verified in its final encoding.

- ``original``: the input's own format; DICOM keeps its transfer syntax (redacted compressed pixels are
  re-encoded losslessly, see ``redact._store_pixels``).
- ``htj2k``: DICOM re-encoded as HTJ2K lossless (1.2.840.10008.1.2.4.201; OpenJPH through imagecodecs),
  one codestream per frame. Every frame is decoded again and compared with the values it was made from.
- ``png`` / ``jpeg``: DICOM pixels exported as 8-bit images, one per frame, with no metadata at all. The
  grey levels are what a viewer shows first: the Modality LUT, then the object's own VOI LUT or window
  (its first one) when it has one, else the frame's full range rescaled to 0-255; MONOCHROME1 is inverted
  so that it looks as intended. A one-frame object gives one image; a multi-frame object gives one ZIP
  (stored, fixed timestamps, members ``frame-0001.png`` ...), so each input still has one output.

NIfTI stays NIfTI and JPEG/PNG inputs stay as they are (``png``/``jpeg`` accept them unchanged); a
combination that cannot be honoured (``htj2k`` for a NIfTI, ``png`` for a NIfTI) is refused
(:func:`refuse_unsupported`) before the object is scrubbed.

The pure functions :func:`export_frames` and :func:`encode_htj2k` are what an API download route calls.
"""
from __future__ import annotations

import enum
import io
import zipfile
from collections.abc import Sequence

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset

from .integrity import PixelShape
from .pixels import dicom_stored_frames, render_dicom
from .record import Format, ObjectRecord, StageError
from .sweep import Reader
from .sweep_rules import Hit, SweepTerms

HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a ZIP can say: no trace of when or where it was made
_JPEG_QUALITY = 95


class OutputFormat(enum.StrEnum):
    ORIGINAL = "original"
    HTJ2K = "htj2k"
    PNG = "png"
    JPEG = "jpeg"

    @classmethod
    def parse(cls, value: str | None, where: str) -> OutputFormat:
        """ValueError naming the choices; the bad value itself is never echoed."""
        if value is None:
            return cls.ORIGINAL
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"{where}: unknown output format; choose one of "
                             f"{', '.join(m.value for m in cls)}") from None

    @property
    def is_export(self) -> bool:
        return self in (OutputFormat.PNG, OutputFormat.JPEG)

    @property
    def image_format(self) -> Format:
        return Format.PNG if self is OutputFormat.PNG else Format.JPEG


# Which input formats each choice applies to. Raster inputs are already exports: png/jpeg leave them as they are.
ACCEPTS: dict[OutputFormat, frozenset[Format]] = {
    OutputFormat.ORIGINAL: frozenset(Format),
    OutputFormat.HTJ2K: frozenset({Format.DICOM}),
    OutputFormat.PNG: frozenset({Format.DICOM, Format.PNG, Format.JPEG}),
    OutputFormat.JPEG: frozenset({Format.DICOM, Format.PNG, Format.JPEG}),
}


def unsupported_reason(output: OutputFormat, fmt: Format) -> str | None:
    """Why ``output`` cannot be made from a ``fmt`` input (our words, names only), or None when it can."""
    if fmt in ACCEPTS[output]:
        return None
    what = "a DICOM transfer syntax" if output is OutputFormat.HTJ2K else "an export of DICOM pixels"
    return (f"output format {output.value} is {what} and cannot be made from a {fmt.name} input "
            f"({fmt.name} stays {fmt.name}): run it with --output-format original, or leave it out of this job")


def refuse_unsupported(output: OutputFormat, fmt: Format) -> None:
    reason = unsupported_reason(output, fmt)
    if reason is not None:
        raise StageError("unsupported-output", reason)


def applies(output: OutputFormat, fmt: Format) -> bool:
    """The choice changes this object (else it is written in its own format)."""
    return output is not OutputFormat.ORIGINAL and fmt is Format.DICOM


# --- the encoders (pure: a data set in, bytes or a data set out) -------------------------------------------

def encode_htj2k(ds: Dataset) -> Dataset:
    """``ds`` with its pixel data re-encoded as HTJ2K lossless, in place; StageError("encode") if it cannot be.

    Frames are decoded again from the new codestreams and compared with the values they were made from:
    an encoder that is not exactly lossless here never writes an output.
    """
    from .redact import _store_pixels

    if "PixelData" not in ds or str(ds.file_meta.get("TransferSyntaxUID", "")) == HTJ2K_LOSSLESS:
        return ds
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16):
        raise StageError("encode", f"HTJ2K is written for 8- and 16-bit pixel data; this object has {bits}-bit "
                                   "data: run it with --output-format original")
    stored = dicom_stored_frames(ds)
    before = stored.copy()
    _store_pixels(ds, stored, "htj2k")
    check = Dataset()
    check.update(ds)
    check.file_meta = ds.file_meta
    try:
        after = dicom_stored_frames(check)
    except StageError as exc:
        raise StageError("encode", f"the HTJ2K codestream does not decode again ({exc.reason})") from None
    if after.shape != before.shape or not np.array_equal(after, before):
        raise StageError("encode", "HTJ2K re-encoding was not lossless for this object; "
                                   "run it with --output-format original")
    return ds


def export_frames(source: ObjectRecord | Dataset | bytes, fmt: OutputFormat | str) -> list[bytes]:
    """One PNG or JPEG per frame of a DICOM object (a record, a data set or its bytes), without metadata."""
    output = OutputFormat.parse(str(fmt), "export") if not isinstance(fmt, OutputFormat) else fmt
    if not output.is_export:
        raise ValueError("export_frames makes png or jpeg; use encode_htj2k for htj2k")
    ds = _dataset(source)
    if "PixelData" not in ds:
        raise StageError("unsupported-output", "the object has no pixel data to export: "
                                               "run it with --output-format original")
    rendered = render_dicom(ds, dicom_stored_frames(ds))
    return [_encode_image(frame, output) for frame in rendered]


def _dataset(source: ObjectRecord | Dataset | bytes) -> Dataset:
    if isinstance(source, Dataset):
        return source
    if isinstance(source, ObjectRecord):
        if source.format is not Format.DICOM:
            raise StageError("unsupported-output", unsupported_reason(OutputFormat.PNG, source.format) or "")
        return dcmread(io.BytesIO(source.output_bytes or source.data))
    return dcmread(io.BytesIO(source))


def _encode_image(frame: np.ndarray, output: OutputFormat) -> bytes:
    grey = frame.ndim == 3 and bool(np.array_equal(frame[..., 0], frame[..., 1])
                                    and np.array_equal(frame[..., 1], frame[..., 2]))
    image = Image.fromarray(np.ascontiguousarray(frame[..., 0] if grey else frame[..., :3]), "L" if grey else "RGB")
    buf = io.BytesIO()
    if output is OutputFormat.PNG:
        image.save(buf, format="PNG", optimize=False)  # no tEXt/iTXt/eXIf/pHYs unless asked for
    else:
        image.save(buf, format="JPEG", quality=_JPEG_QUALITY, exif=b"", icc_profile=None, comment=b"")
    return buf.getvalue()


def pack_frames(images: Sequence[bytes], output: OutputFormat) -> bytes:
    """One object for a job's output: the image itself, or a ZIP of one image per frame."""
    if len(images) == 1:
        return images[0]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, data in enumerate(images, 1):
            archive.writestr(zipfile.ZipInfo(frame_name(index, output), _ZIP_DATE), data)
    return buf.getvalue()


def frame_name(index: int, output: OutputFormat) -> str:
    return f"frame-{index:04d}{output.image_format.extension}"


def unpack_frames(data: bytes, output: OutputFormat, limit: int) -> list[bytes]:
    """The images in an export; StageError("integrity") when it is not one we wrote."""
    from .integrity import fail

    if not data.startswith(b"PK"):
        return [data]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > limit:
                raise fail(f"the export holds {len(infos)} images where the input has {limit} frames")
            names = [frame_name(i, output) for i in range(1, len(infos) + 1)]
            if [i.filename for i in infos] != names or any(i.comment or i.extra for i in infos) or archive.comment:
                raise fail("the export's archive holds names or comments we did not write")
            return [archive.read(info) for info in infos]
    except zipfile.BadZipFile:
        raise fail("the export's archive does not read back") from None


def extension(output: OutputFormat, fmt: Format, frames: int) -> str:
    if not applies(output, fmt) or output is OutputFormat.HTJ2K:
        return fmt.extension
    return output.image_format.extension if frames == 1 else ".zip"


# --- the stage step ----------------------------------------------------------------------------------------

def finish(record: ObjectRecord, output: OutputFormat) -> str:
    """Turn the redacted record's output into the job's format (``record.output_bytes``); its extension."""
    if not applies(output, record.format):
        return record.format.extension
    ds: Dataset = record.header
    if output is OutputFormat.HTJ2K:
        from .redact import write_dicom

        if "PixelData" in ds:
            encode_htj2k(ds)
            record.output_bytes = write_dicom(ds)
        record.stats["output_format"] = output.value
        return record.format.extension
    images = export_frames(record.output_bytes, output)
    record.output_bytes = pack_frames(images, output)
    record.stats["output_format"] = output.value
    record.stats["exported_frames"] = len(images)
    return extension(output, record.format, len(images))


def check_export(data: bytes, output: OutputFormat, expected: PixelShape) -> None:
    """The integrity re-read of an export: one decodable image per frame, of the input's size."""
    from .integrity import fail

    images = unpack_frames(data, output, max(expected.frames, 1))
    if len(images) != max(expected.frames, 1):
        raise fail(f"the export holds {len(images)} images where the input has {expected.frames} frames")
    for image in images:
        try:
            with Image.open(io.BytesIO(image)) as opened:
                opened.load()
                size, kind = opened.size, (opened.format or "").lower()
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on a bad file
            raise fail(f"an exported image does not decode ({exc.__class__.__name__})") from None
        if kind != output.image_format.value:
            raise fail(f"an exported image is {kind or 'unknown'}, not {output.value}")
        if size != (expected.columns, expected.rows):
            raise fail(f"an exported image is {size[0]}x{size[1]} where its input was "
                       f"{expected.columns}x{expected.rows}")


def check_final(fmt: Format, output: OutputFormat, data: bytes, expected: PixelShape, decode_frames: bool) -> None:
    """The integrity re-read of what is finally written, in whichever format the job chose."""
    from .integrity import check_output

    if applies(output, fmt) and output.is_export:
        check_export(data, output, expected)
    else:
        # HTJ2K pixels were decoded to be re-encoded: always decode them again.
        check_output(fmt, data, expected, decode_frames=decode_frames or applies(output, fmt))


def sweep_final(fmt: Format, output: OutputFormat, data: bytes, terms: SweepTerms,
                reader: Reader | None) -> list[Hit]:
    """The release sweep of what is finally written: each exported image's metadata and pixels."""
    from pixelguard.formats import handler

    from .sweep import sweep

    if not (applies(output, fmt) and output.is_export):
        return sweep(data, fmt, terms, reader)
    images = handler(output.image_format)
    hits: list[Hit] = []
    for image in unpack_frames(data, output, limit=1 << 16):
        hits += images.sweep(image, terms, reader)
    return list(dict.fromkeys(hits))


__all__ = ["ACCEPTS", "HTJ2K_LOSSLESS", "OutputFormat", "check_export", "check_final", "encode_htj2k",
           "export_frames", "extension", "finish", "pack_frames", "refuse_unsupported", "sweep_final",
           "unpack_frames", "unsupported_reason"]
