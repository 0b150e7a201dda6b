"""The words profiles, flags and stages share, as Enums: what a profile does to an attribute, and which text
the pixel stage removes.

Used by ``profile.py`` (YAML and the PS3.15 table come in here and are converted), ``scrub.py`` and
``sweep.py`` (they act on ``Action``), ``textsearch.py``, ``redact.py`` and ``pipeline.py`` (they act on
``RedactionMode``), and the CLI (``--redaction`` is converted to ``RedactionMode`` where it is parsed).
Both are ``StrEnum``: the value is what a profile file, a flag or an event carries.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What the scrub stage does to one attribute.

    The first six are PS3.15 Table E.1-1 action codes, as a profile's ``overrides`` spell them; the table's
    combined codes (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``) are resolved to one of them by
    ``profile.resolve_combined``. The last four are PixelGuard's refinements of what the standard leaves to
    the implementation: what C means under a given option, and attributes the table does not list.
    """

    REMOVE = "X"
    ZERO = "Z"
    DUMMY = "D"
    KEEP = "K"
    CLEAN = "C"
    UID = "U"
    SHIFT = "S"
    GRAPHICS = "G"
    REMAP_INSTANCE_UID = "W"
    CLEAN_FREE_TEXT = "T"

    @property
    def meaning(self) -> str:
        return _ACTION_MEANINGS[self]


_ACTION_MEANINGS: dict[Action, str] = {
    Action.REMOVE: "PS3.15 X: remove the attribute",
    Action.ZERO: (
        "PS3.15 Z: replace with a zero length value, or a non-zero length value that may be a dummy "
        "value consistent with the VR (PixelGuard: kept, empty)"
    ),
    Action.DUMMY: (
        "PS3.15 D: replace with a non-zero length value that may be a dummy value consistent with "
        "the VR (PixelGuard: a fixed dummy per VR; UIDs are remapped as for U)"
    ),
    Action.KEEP: "PS3.15 K: keep (unchanged for non-sequence attributes, cleaned for sequences)",
    Action.CLEAN: (
        "PS3.15 C: clean, that is replace with values of similar meaning known not to contain "
        "identifying information (PixelGuard: free text loses every token matching the header's "
        "PHI; dates under Modified Dates are shifted; sequences are kept and recursed)"
    ),
    Action.UID: (
        "PS3.15 U: replace with a non-zero length UID that is internally consistent within a set of "
        "Instances (PixelGuard: a keyed UID derived from the original)"
    ),
    Action.SHIFT: (
        "PixelGuard, the C of Retain Longitudinal Temporal Information with Modified Dates: dates "
        "and datetimes move by the per-patient keyed offset, times are kept"
    ),
    Action.GRAPHICS: (
        "PixelGuard, the C of Clean Graphics: overlay and curve data kept, their free text "
        "cleaned, the object held for review since overlay bitmaps are not read for text"
    ),
    Action.REMAP_INSTANCE_UID: (
        "PixelGuard, for a UI attribute the table does not list that names an "
        "instance (e.g. MultiFrameSourceSOPInstanceUID): remapped as U, except "
        "UIDs under the DICOM root (classes, transfer syntaxes), which are kept"
    ),
    Action.CLEAN_FREE_TEXT: (
        "PixelGuard, for an attribute the table does not list while cleaning a "
        "sequence: kept, its free text cleaned as for C"
    ),
}

# The codes a profile file may give in ``overrides`` (the standard's own, no combined codes).
OVERRIDE_ACTIONS = (Action.DUMMY, Action.ZERO, Action.REMOVE, Action.KEEP, Action.CLEAN, Action.UID)
# Private elements are either kept (the knowledge base vouches for them) or removed.
PRIVATE_ACTIONS = (Action.KEEP, Action.REMOVE)


class RedactionMode(StrEnum):
    """Which burned-in text the pixel stage fills (``--redaction``, a profile's ``redaction:``)."""

    ALL = "all"
    PHI = "phi"
    OFF = "off"

    @property
    def meaning(self) -> str:
        return _REDACTION_MEANINGS[self]

    @classmethod
    def parse(cls, value: object, where: str) -> RedactionMode:
        """The mode a flag or a YAML value names; ``where`` names the source in the error."""
        if value is False:
            value = "off"  # YAML 1.1 reads a bare `off` as false
        try:
            return cls(str(value))
        except ValueError:
            raise ValueError(
                f"{where}: redaction must be one of {', '.join(m.value for m in cls)}; got {value!r}"
            ) from None


_REDACTION_MEANINGS: dict[RedactionMode, str] = {
    RedactionMode.ALL: "every text the detector finds (the default)",
    RedactionMode.PHI: "only text matching the header's PHI values, dates and IDs; labels such as L/R stay",
    RedactionMode.OFF: "no pixel redaction: the pixel data is left as it is",
}
