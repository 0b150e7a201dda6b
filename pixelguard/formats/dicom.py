"""DICOM: the format the profiles are written for. Its stages are large enough to keep their own modules in
``pixelguard.core`` (``parse.read_dicom``, ``scrub.scrub_dicom``, ``redact.redact_dicom``,
``integrity.check_dicom``, ``sweep.dicom_terms`` / ``sweep_dicom``); this handler is where the stages find
them. Registered in ``pixelguard.formats``.
"""
from __future__ import annotations

import io
import struct

from pydicom.dataset import Dataset

from pixelguard.core.integrity import PixelShape, check_dicom, dicom_shape
from pixelguard.core.keys import Derivations
from pixelguard.core.limits import Deadline, Limits
from pixelguard.core.parse import read_dicom, text_value
from pixelguard.core.phi import header_terms
from pixelguard.core.profile import Profile
from pixelguard.core.record import Format, ObjectRecord
from pixelguard.core.redact import redact_dicom
from pixelguard.core.scrub import scrub_dicom
from pixelguard.core.splice import write_spliced
from pixelguard.core.sweep import Reader, dicom_terms, sweep_dicom
from pixelguard.core.sweep_rules import Hit, SweepTerms
from pixelguard.core.textsearch import Detector, RedactionSettings

from .base import FormatHandler, Match

# PS3.10 allows a dataset stored without preamble and file meta: it starts with a plausible element tag.
_RAW_DICOM_GROUPS = {0x0002, 0x0008}


def _raw_dataset(data: bytes) -> bool:
    if len(data) < 8:
        return False
    little, big = struct.unpack("<H", data[:2])[0], struct.unpack(">H", data[:2])[0]
    if little not in _RAW_DICOM_GROUPS and big not in _RAW_DICOM_GROUPS:
        return False
    vr = data[4:6]
    # Explicit VR: two uppercase letters; implicit VR: a small little-endian length.
    return vr.isalpha() and vr.isupper() or struct.unpack("<I", data[4:8])[0] < 0x10000


class DicomHandler:
    format = Format.DICOM

    def detect(self, data: bytes) -> Match:
        if len(data) >= 132 and data[128:132] == b"DICM":  # PS3.10 preamble and prefix
            return Match.MAGIC
        return Match.PLAUSIBLE if _raw_dataset(data) else Match.NONE

    def read_header(self, data: bytes, limits: Limits) -> Dataset:
        return read_dicom(data, limits)

    def routing_key(self, record: ObjectRecord, derive: Derivations) -> str:
        # Keeps a study on one partition; the *remapped* UID, so no original identifier travels in a key.
        study = text_value(record.header, "StudyInstanceUID")
        return derive.uid(study) if study else derive.content_id(record.data)

    def phi_terms(self, record: ObjectRecord) -> tuple[str, ...]:
        return header_terms(record.header)

    def input_shape(self, record: ObjectRecord) -> PixelShape:
        return dicom_shape(record.header)

    def scrub(self, record: ObjectRecord, profile: Profile, derive: Derivations) -> None:
        scrub_dicom(record, profile, derive)

    def scrubbed_bytes(self, record: ObjectRecord) -> bytes:
        # Unchanged elements are copied as bytes: the same file pydicom's writer makes (a test compares
        # them over the corpus) with a zero preamble, at a fraction of the cost.
        return write_spliced(record.header)

    def submit_key(self, data: bytes, derive: Derivations) -> str:
        import pydicom

        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True,
                                 specific_tags=["StudyInstanceUID"])
            study = str(ds.get("StudyInstanceUID", "") or "").strip()
        except Exception:  # noqa: BLE001 - a bad object is keyed by content; parse reports it
            study = ""
        return derive.uid(study) if study else derive.content_id(data)

    def restore(self, record: ObjectRecord, staged: bytes) -> None:
        return None  # the re-parsed data set is the scrubbed one

    def redact(self, record: ObjectRecord, detector: Detector, settings: RedactionSettings,
               deadline: Deadline | None) -> None:
        redact_dicom(record, detector, settings, deadline)

    def check_output(self, output: bytes, expected: PixelShape, decode_frames: bool) -> None:
        check_dicom(output, expected, decode_frames)

    def sweep_terms(self, original: ObjectRecord, profile: Profile | None) -> dict[str, str]:
        return dicom_terms(original.header, profile)

    def sweep(self, output: bytes, terms: SweepTerms, reader: Reader | None) -> list[Hit]:
        return sweep_dicom(output, terms, reader)


HANDLER: FormatHandler = DicomHandler()  # mypy checks the class against the interface
