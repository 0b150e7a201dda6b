"""De-identification profiles: data files in ``profiles/`` resolved against PS3.15 Table E.1-1.

A profile file names the table, the options applied (the table's option columns), and the redaction
settings. Actions are looked up per attribute from the table; the combined actions are resolved here once,
so the scrub stage only ever sees D, Z, X, K, C or U.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

PROFILES_DIR = Path(os.environ.get("PIXELGUARD_PROFILES", Path(__file__).resolve().parents[2] / "profiles"))

# Table E.1-1 option columns, in the order PS3.15 lists them.
OPTIONS = {
    "rtnSafePrivOpt": "Retain Safe Private Option",
    "rtnUIDsOpt": "Retain UIDs Option",
    "rtnDevIdOpt": "Retain Device Identity Option",
    "rtnInstIdOpt": "Retain Institution Identity Option",
    "rtnPatCharsOpt": "Retain Patient Characteristics Option",
    "rtnLongFullDatesOpt": "Retain Longitudinal Temporal Information with Full Dates Option",
    "rtnLongModifDatesOpt": "Retain Longitudinal Temporal Information with Modified Dates Option",
    "cleanDescOpt": "Clean Descriptors Option",
    "cleanStructContOpt": "Clean Structured Content Option",
    "cleanGraphOpt": "Clean Graphics Option",
}
ACTIONS = {"D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
# "phi" (redact only text that matches header PHI) needs the recogniser and lands with the pixel issue.
REDACTION_MODES = {"all", "off"}


class ProfileError(ValueError):
    pass


def resolve_combined(action: str) -> str:
    """Pick the one action of a combined code that is safe without knowing the IOD's Type.

    PS3.15 lets X/Z/D mean "remove, or empty, or dummy, as the IOD's Type requires". Without per-IOD
    tables we keep the element present (so Type 1/2 attributes stay valid) with no original value left:
    any combination holding D becomes D, X/Z becomes Z, X/Z/U* becomes U (UIDs inside the sequence are
    remapped, the rest of its items are cleaned recursively).
    """
    if action not in ACTIONS:
        raise ProfileError(f"unknown action {action!r}")
    if "/" not in action:
        return action
    if action == "X/Z/U*":
        return "U"
    return "D" if "D" in action else "Z"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    options: tuple[str, ...]
    actions: dict[int, str]
    repeating: dict[tuple[int, int], str]  # (group & 0xFF00, element) for 50xx/60xx rows; element -1 = any
    public_not_in_table: str
    redaction: str
    review_threshold: float
    table_rows: int = field(default=0)

    def action(self, tag: int) -> str | None:
        """Resolved action for a public tag, or None when the table does not list it."""
        found = self.actions.get(tag)
        if found is not None:
            return found
        group, element = tag >> 16, tag & 0xFFFF
        if group & 0xFF00 in (0x5000, 0x6000) and group & 1 == 0:
            return self.repeating.get((group & 0xFF00, element)) or self.repeating.get((group & 0xFF00, -1))
        return None


def available() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


@lru_cache(maxsize=16)
def load(name: str) -> Profile:
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {name!r}; available: {', '.join(available())}")
    return load_file(path)


def load_file(path: Path) -> Profile:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path.name}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise ProfileError(f"{path.name}: expected a mapping at top level")
    unknown_keys = set(doc) - {"name", "description", "table", "options", "public_not_in_table", "redaction",
                               "review_threshold"}
    if unknown_keys:
        raise ProfileError(f"{path.name}: unknown keys {sorted(unknown_keys)}")
    options = tuple(doc.get("options") or ())
    for option in options:
        if option not in OPTIONS:
            raise ProfileError(f"{path.name}: unknown option {option!r}; known: {', '.join(OPTIONS)}")
    redaction = doc.get("redaction", "all")
    if redaction not in REDACTION_MODES:
        raise ProfileError(f"{path.name}: redaction must be one of {sorted(REDACTION_MODES)}")
    public = doc.get("public_not_in_table", "keep")
    if public not in ("keep", "remove"):
        raise ProfileError(f"{path.name}: public_not_in_table must be keep or remove")
    threshold = float(doc.get("review_threshold", 0.6))
    if not 0.0 <= threshold <= 1.0:
        raise ProfileError(f"{path.name}: review_threshold must be within 0..1")
    table = (path.parent / doc.get("table", "reference/ps3.15-table-e.1-1-rev2024b.json")).resolve()
    actions, repeating, rows = _compile(table, options)
    return Profile(
        name=str(doc.get("name", path.stem)),
        description=str(doc.get("description", "")),
        options=options,
        actions=actions,
        repeating=repeating,
        public_not_in_table=public,
        redaction=redaction,
        review_threshold=threshold,
        table_rows=rows,
    )


@lru_cache(maxsize=4)
def _table(path: Path) -> list[dict[str, str]]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError(f"cannot read table {path}: {exc.__class__.__name__}") from None


def _compile(table: Path, options: tuple[str, ...]) -> tuple[dict[int, str], dict[tuple[int, int], str], int]:
    actions: dict[int, str] = {}
    repeating: dict[tuple[int, int], str] = {}
    rows = _table(table)
    for row in rows:
        code = row["basicProfile"]
        for option in options:  # later options win, as listed in the profile
            code = row.get(option, code)
        action = resolve_combined(code)
        tag_text = row["tag"].upper()
        if "GGGG" in tag_text:
            continue  # private attributes are handled by the private-tag rule, not by tag number
        group_text, element_text = tag_text.strip("()").split(",")
        if "X" in group_text:
            group = int(group_text.replace("X", "0"), 16)
            element = -1 if "X" in element_text else int(element_text, 16)
            repeating[(group, element)] = action
        else:
            actions[(int(group_text, 16) << 16) | int(element_text, 16)] = action
    return actions, repeating, len(rows)
