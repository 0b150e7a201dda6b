"""What kind of object a SOP Class UID names, from the standard's own registry (PS3.6 Annex A, as pydicom ships it).

Used by parse (an image object must carry its pixel module) and by the profile's rule for non-image objects
(``sop_classes`` in a profile: structured reports, encapsulated documents, RT objects...).
"""
from __future__ import annotations

import enum

from pydicom._uid_dict import UID_dictionary


class SopKind(enum.StrEnum):
    """Families of Storage SOP Classes that de-identification treats differently."""

    IMAGE = "image"  # carries an Image Pixel module (Rows, Columns, Pixel Data), which must be whole
    STRUCTURED_REPORT = "structured-report"  # SR and Key Object Selection: free text in a content tree
    ENCAPSULATED_DOCUMENT = "encapsulated-document"  # a PDF/CDA/STL... whose inside no scrubber reads
    RADIOTHERAPY = "radiotherapy"  # RT plans, structure sets, records (RT Dose may carry a dose grid)
    PRESENTATION_STATE = "presentation-state"  # display instructions, text annotations included
    WAVEFORM = "waveform"  # ECG, audio, hemodynamic: samples, sometimes with annotations
    OTHER = "other"  # any other composite object (registrations, measurements, protocols, unknown UIDs)


class SopRule(enum.StrEnum):
    """What a profile does with a kind of object (its ``sop_classes`` mapping)."""

    DEIDENTIFY = "deidentify"  # scrub the header as for any object; clean when nothing else is found
    REVIEW = "review"  # scrub, then hold for a person: the content cannot be fully checked by machine
    REJECT = "reject"  # refuse with an error: nothing is published


# When a profile says nothing: content that no check can read is held or refused, never published unseen.
DEFAULT_RULES: dict[SopKind, SopRule] = {
    SopKind.IMAGE: SopRule.DEIDENTIFY,
    SopKind.STRUCTURED_REPORT: SopRule.REVIEW,
    SopKind.ENCAPSULATED_DOCUMENT: SopRule.REJECT,
    SopKind.RADIOTHERAPY: SopRule.DEIDENTIFY,
    SopKind.PRESENTATION_STATE: SopRule.REVIEW,
    SopKind.WAVEFORM: SopRule.REVIEW,
    SopKind.OTHER: SopRule.REVIEW,
}

# Storage classes whose registry name lacks "Image" but whose IOD has a mandatory pixel module.
_PIXEL_IODS = {
    "Enhanced US Volume Storage", "Parametric Map Storage", "Segmentation Storage",
    "Ophthalmic Thickness Map Storage", "Corneal Topography Map Storage",
    "Ophthalmic Optical Coherence Tomography B-scan Volume Analysis Storage",
}


def kind_of(sop_class_uid: str) -> SopKind:
    entry = UID_dictionary.get(str(sop_class_uid).strip())
    name = entry[0] if entry else ""
    if "Image Storage" in name or name in _PIXEL_IODS:
        return SopKind.IMAGE
    if "Encapsulated" in name:
        return SopKind.ENCAPSULATED_DOCUMENT
    if " SR " in f" {name} " or name in ("Key Object Selection Document Storage", "Procedure Log Storage"):
        return SopKind.STRUCTURED_REPORT
    if name.startswith("RT ") or "Radiation" in name and "SR" not in name:
        return SopKind.RADIOTHERAPY
    if "Presentation State" in name:
        return SopKind.PRESENTATION_STATE
    if "Waveform" in name:
        return SopKind.WAVEFORM
    return SopKind.OTHER


def describe(sop_class_uid: str) -> str:
    """The class's registry name (never a value from the object beyond its class UID, which is not PHI)."""
    entry = UID_dictionary.get(str(sop_class_uid).strip())
    return entry[0] if entry else "an unregistered SOP Class"
