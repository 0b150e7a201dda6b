"""The typed record one object carries through parse -> scrub -> redact -> route.

A record holds references and derived facts, never PHI values in fields that leave the process:
``input_id`` is an opaque keyed hash of the input reference, ``output_id`` is derived from the new
identifiers, and ``reason`` strings are written by us, not copied from the object.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Format(enum.StrEnum):
    DICOM = "dicom"
    JPEG = "jpeg"
    PNG = "png"
    NIFTI = "nifti"

    @property
    def extension(self) -> str:
        return {"dicom": ".dcm", "jpeg": ".jpg", "png": ".png", "nifti": ".nii.gz"}[self.value]


class Status(enum.StrEnum):
    CLEAN = "clean"
    REVIEW = "review"
    ERROR = "error"


class StageError(Exception):
    """Bad input or a failed stage. ``reason`` is safe to log: it never quotes the object's values."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Finding:
    """Something a stage could not fully resolve; any finding sends the object to review."""

    stage: str
    reason: str


@dataclass
class ObjectRecord:
    """One object's state between stages (in-process; the streaming events carry only references)."""

    input_id: str
    format: Format
    data: bytes
    size: int
    routing_key: str = ""
    header: Any = None  # pydicom Dataset (DICOM) or a format-specific header object
    pixel_bytes_offset: int | None = None
    output_id: str = ""
    output_bytes: bytes = b""
    confidence: float = 1.0
    findings: list[Finding] = field(default_factory=list)
    pseudonyms: dict[str, str] = field(default_factory=dict)  # field name -> pseudonym (no originals)
    crosswalk: dict[str, str] = field(default_factory=dict)  # original -> pseudonym, encrypted at rest only
    stats: dict[str, Any] = field(default_factory=dict)

    def add_finding(self, stage: str, reason: str) -> None:
        self.findings.append(Finding(stage, reason))
