"""What JPEG and PNG share: 8-bit images whose metadata is a list of segments or chunks.

``jpeg.py`` and ``png.py`` subclass ``RasterHandler`` with their own header reader, metadata stripper,
metadata text reader and encoder. Used through ``pixelguard.formats.handler``.
"""
from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
from PIL import Image

from pixelguard.core.integrity import PixelShape, fail
from pixelguard.core.keys import Derivations
from pixelguard.core.limits import Deadline, Limits
from pixelguard.core.parse import ImageHeader
from pixelguard.core.pixels import decode_image, render_image
from pixelguard.core.profile import Profile
from pixelguard.core.record import Format, ObjectRecord
from pixelguard.core.sweep import Reader, metadata_terms, sweep_image_pixels, sweep_texts
from pixelguard.core.sweep_rules import Hit, SweepTerms
from pixelguard.core.textsearch import Detector, RedactionSettings, detect_and_fill, fill_manual, score
from pixelguard.core.vocabulary import RedactionMode

from .base import Match


class RasterHandler:
    format: Format
    magic: bytes  # the signature every file of the format starts with

    def detect(self, data: bytes) -> Match:
        return Match.MAGIC if data.startswith(self.magic) else Match.NONE

    def read_header(self, data: bytes, limits: Limits) -> ImageHeader:
        raise NotImplementedError

    def strip(self, data: bytes, header: ImageHeader) -> bytes:
        """The file without the segments or chunks that can carry text."""
        raise NotImplementedError

    def metadata_texts(self, data: bytes) -> Iterator[tuple[str, str]]:
        """(label, text) for each segment or chunk that can hold text."""
        raise NotImplementedError

    def encode(self, image: Image.Image) -> bytes:
        raise NotImplementedError

    def routing_key(self, record: ObjectRecord, derive: Derivations) -> str:
        return derive.content_id(record.data)

    def submit_key(self, data: bytes, derive: Derivations) -> str:
        return derive.content_id(data)

    def phi_terms(self, record: ObjectRecord) -> tuple[str, ...]:
        return ()  # no header PHI to look for in phi mode: only dates and ID-like text

    def input_shape(self, record: ObjectRecord) -> PixelShape:
        header: ImageHeader = record.header
        return PixelShape(1, header.height, header.width, 0)  # samples: modes may change (palette -> RGB)

    def scrub(self, record: ObjectRecord, profile: Profile, derive: Derivations) -> None:
        record.output_bytes = self.strip(record.data, record.header)
        record.output_id = derive.content_id(record.data)

    def scrubbed_bytes(self, record: ObjectRecord) -> bytes:
        return record.output_bytes

    def restore(self, record: ObjectRecord, staged: bytes) -> None:
        record.output_bytes = staged  # redact works on the stripped file, as in the embedded pipeline

    def redact(self, record: ObjectRecord, detector: Detector, settings: RedactionSettings,
               deadline: Deadline | None) -> None:
        if settings.mode is RedactionMode.OFF:
            record.add_finding("redact", "pixel redaction is off and the image may carry burned-in text")
            return
        arr, mode = decode_image(record.output_bytes)
        stored = np.array(arr)[np.newaxis]
        regions = fill_manual(stored, settings, 0)
        record.stats["regions"] = regions
        changed, problems, scores = detect_and_fill(stored, lambda a: [render_image(f) for f in a], detector,
                                                     settings, 0, deadline, regions)
        changed = changed or bool(regions)
        score(record, scores, problems, settings)
        if changed:
            record.output_bytes = self.encode(
                Image.fromarray(stored[0], mode=mode if mode in ("L", "RGB", "RGBA", "LA") else None))

    def check_output(self, output: bytes, expected: PixelShape, decode_frames: bool) -> None:
        # Always decoded: an 8-bit image decodes in milliseconds.
        try:
            with Image.open(io.BytesIO(output)) as image:
                image.load()
                size = image.size
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on a bad file
            raise fail(f"the image does not decode ({exc.__class__.__name__})") from None
        if size != (expected.columns, expected.rows):
            raise fail(f"the image is {size[0]}x{size[1]} where its input was {expected.columns}x{expected.rows}")

    def sweep_terms(self, original: ObjectRecord, profile: Profile | None) -> dict[str, str]:
        return metadata_terms(self.metadata_texts(original.data))

    def sweep(self, output: bytes, terms: SweepTerms, reader: Reader | None) -> list[Hit]:
        hits: list[Hit] = []
        sweep_texts(self.metadata_texts(output), terms, hits)
        if reader is not None:
            sweep_image_pixels(output, reader, terms, hits)
        return hits
