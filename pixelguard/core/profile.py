"""De-identification profiles: data files in ``profiles/`` resolved against PS3.15 Table E.1-1.

A profile is base + options + overrides. A profile file either names the table it is driven by (a base such
as ``basic``) or ``extends`` another profile (stored, or a file beside it); it adds options (the table's
option columns) and may override single attributes by keyword, by tag, or by private creator + group +
element offset. Everything is validated on load, with an error naming the file and the rule broken.

The table's codes are resolved here once into ``vocabulary.Action`` members (each documents its PS3.15
meaning), so the scrub stage only sees those: the six single codes (X, Z, D, K, C, U), and S (shift) and G
(graphics), the two meanings a C takes under Modified Dates and Clean Graphics. A sequence under U or C is
kept and recursed. W and T are chosen by the scrub stage for attributes the table does not list.

Combined codes (PS3.15 E.1.1: "X/Z" = remove unless the IOD makes it Type 2, etc.) are resolved with the
table's ``stdCompIOD`` column, since we hold no per-IOD Type tables: an attribute used in no standard
composite IOD (``N``) has no Type to honour, so it is removed (X); one that is used (``Y``) is kept present
with no original value left: any combination holding D becomes D, X/Z becomes Z; X/Z/U* always becomes U
(the sequence is kept and the UIDs inside remapped, the rest of its items cleaned by their own rows).
Public attributes the table does not list are kept (``public_not_in_table: keep``) or removed
(``remove``), with one exception under ``keep``: a UI attribute that names an instance rather than a class or
transfer syntax (e.g. MultiFrameSourceSOPInstanceUID, TargetFrameOfReferenceUID) is remapped like U unless
Retain UIDs is on, since a reference left unmapped would both leak the original UID and break the link.
When two options disagree on one attribute, C (clean or shift) beats K (keep), which beats the basic code:
e.g. Retain Device Identity + Modified Dates shift the calibration dates rather than keeping them.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydicom.datadict import keyword_for_tag, tag_for_keyword

from .private import Component, PrivateKB, PrivateKBError, load_kb, private_component
from .sop import DEFAULT_RULES, SopKind, SopRule
from .vocabulary import OVERRIDE_ACTIONS, PRIVATE_ACTIONS, Action, RedactionMode

# The package's copy (a link to the top-level profiles/ in a checkout; see pixelguard/data).
PROFILES_DIR = Path(os.environ.get("PIXELGUARD_PROFILES", Path(__file__).resolve().parents[1] / "data" / "profiles"))
DEFAULT_TABLE = "reference/ps3.15-table-e.1-1-rev2024b.json"
DEFAULT_PRIVATE_KB = "reference/tcia-private-tag-kb-2024-02-01.csv"

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
# The codes Table E.1-1 uses: the single ones and the combined ones (PS3.15 E.1.1), resolved below.
TABLE_CODES = {"D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
_TOP_KEYS = {"name", "description", "table", "extends", "options", "overrides", "public_not_in_table",
             "private_kb", "max_age_years", "redaction", "review_threshold", "sop_classes"}
_TAG = re.compile(r"\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?")
_PRIVATE = re.compile(r'\(?\s*([0-9A-Fa-f]{4})\s*,\s*"([^"]+)"\s*,\s*([0-9A-Fa-f]{2})\s*\)?')


class ProfileError(ValueError):
    pass


def resolve_combined(code: str, in_std_iod: bool = True) -> Action:
    """Pick the one action of a combined code that is safe without per-IOD Type tables (see module doc)."""
    if code not in TABLE_CODES:
        raise ProfileError(f"unknown action {code!r}")
    if "/" not in code:
        return Action(code)
    if code == "X/Z/U*":
        return Action.UID
    if not in_std_iod and code.startswith("X"):
        return Action.REMOVE
    if not in_std_iod and code == "Z/D":
        return Action.ZERO
    return Action.DUMMY if "D" in code else Action.ZERO


# Which internal action an option's C means (see module doc).
_C_MEANS = {"rtnLongModifDatesOpt": Action.SHIFT, "cleanGraphOpt": Action.GRAPHICS}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    options: tuple[str, ...]
    actions: dict[int, Action]
    repeating: dict[tuple[int, int], Action]  # (group & 0xFF00, element) for 50xx/60xx rows; element -1 = any
    public_not_in_table: str
    redaction: RedactionMode
    review_threshold: float
    table_rows: int = field(default=0)
    # for private elements: X (basic) or C (Retain Safe Private: ask the KB)
    private_action: Action = Action.REMOVE
    private_overrides: dict[tuple[int, str, int], Action] = field(default_factory=dict)
    private_kb: PrivateKB | None = None
    max_age_years: int | None = None  # HIPAA Safe Harbor: ages above this become 090Y
    overrides: dict[str, str] = field(default_factory=dict)  # as written, for `profiles show`
    lineage: tuple[str, ...] = ()  # this profile and the ones it extends, nearest first
    # What happens to each kind of object (image, structured-report, ...); unlisted kinds: sop.DEFAULT_RULES.
    sop_rules: dict[SopKind, SopRule] = field(default_factory=dict)
    table: Path | None = None  # the Table E.1-1 file it was compiled from, for ``field_table``

    def action(self, tag: int) -> Action | None:
        """Resolved action for a public tag, or None when the table does not list it."""
        found = self.actions.get(tag)
        if found is not None:
            return found
        group, element = tag >> 16, tag & 0xFFFF
        if group & 0xFF00 in (0x5000, 0x6000) and group & 1 == 0:
            return self.repeating.get((group & 0xFF00, element)) or self.repeating.get((group & 0xFF00, -1))
        return None

    @property
    def shifts_dates(self) -> bool:
        return "rtnLongModifDatesOpt" in self.options

    @property
    def remaps_unlisted_uids(self) -> bool:
        """Public instance UIDs the table does not list follow U unless UIDs are retained."""
        return "rtnUIDsOpt" not in self.options and self.public_not_in_table == "keep"

    @cached_property
    def cleans_text(self) -> bool:
        cleaning = (Action.CLEAN, Action.GRAPHICS)
        return any(a in cleaning for a in self.actions.values()) or \
            any(a in cleaning for a in self.repeating.values())

    def private_path_action(self, path: tuple[Component, ...]) -> Action:
        """X or K for a private element at ``path`` (its own component last)."""
        own = path[-1]
        override = self.private_overrides.get((own[1], own[2], own[3]))
        if override is not None:
            return override
        if self.private_action is Action.CLEAN and self.private_kb is not None and self.private_kb.is_safe(path):
            return Action.KEEP
        return Action.REMOVE


def available() -> list[str]:
    """Stored de-identification profiles: the YAML files in profiles/ that name a table or extend one
    (profiles/ also holds other data, e.g. pixel-rules.yaml)."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml") if _is_profile(p))


def _is_profile(path: Path) -> bool:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return True  # listed, so that loading it reports what is wrong
    return isinstance(doc, dict) and ("table" in doc or "extends" in doc)


@lru_cache(maxsize=32)
def load(name: str) -> Profile:
    """A stored profile by name, or a profile file by path (anything ending in .yaml/.yml)."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        return load_file(Path(name))
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {name!r}; available: {', '.join(available())}")
    return load_file(path)


def load_file(path: Path) -> Profile:
    path = Path(path)
    merged, lineage, base_dir = _merge_chain(path, ())
    return _build(path, merged, lineage, base_dir)


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProfileError(f"{path.name}: cannot read ({exc.__class__.__name__})") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path.name}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise ProfileError(f"{path.name}: expected a mapping at top level")
    unknown_keys = set(doc) - _TOP_KEYS
    if unknown_keys:
        raise ProfileError(f"{path.name}: unknown keys {sorted(unknown_keys)}; known: {sorted(_TOP_KEYS)}")
    if "table" in doc and "extends" in doc:
        raise ProfileError(f"{path.name}: give either 'table' (a base profile) or 'extends', not both")
    if "table" not in doc and "extends" not in doc:
        raise ProfileError(f"{path.name}: a profile needs 'table' (a base profile) or 'extends: NAME'")
    return doc


def _merge_chain(path: Path, seen: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...], Path]:
    """Follow ``extends`` to the base; return the merged document (child wins), the lineage, the base dir."""
    key = str(path.resolve())
    if key in seen:
        chain = " -> ".join(Path(p).stem for p in seen + (key,))
        raise ProfileError(f"{path.name}: broken inheritance: cycle {chain}")
    doc = _read(path)
    name = str(doc.get("name", path.stem))
    if "extends" not in doc:
        return dict(doc), (name,), path.parent
    parent_name = doc["extends"]
    if not isinstance(parent_name, str) or not parent_name:
        raise ProfileError(f"{path.name}: 'extends' must name a profile")
    parent = path.parent / f"{parent_name}.yaml"
    if not parent.is_file():
        parent = PROFILES_DIR / f"{parent_name}.yaml"
    if not parent.is_file():
        raise ProfileError(f"{path.name}: broken inheritance: it extends {parent_name!r}, which is neither "
                           f"beside it nor a stored profile ({', '.join(available())})")
    merged, lineage, base_dir = _merge_chain(parent, seen + (key,))
    options = list(_as_list(path, merged.get("options"), "options"))
    for option in _as_list(path, doc.get("options"), "options"):
        if option not in options:
            options.append(option)
    overrides = dict(_as_mapping(path, merged.get("overrides"), "overrides"))
    overrides.update(_as_mapping(path, doc.get("overrides"), "overrides"))
    sop_classes = dict(_as_mapping(path, merged.get("sop_classes"), "sop_classes"))
    sop_classes.update(_as_mapping(path, doc.get("sop_classes"), "sop_classes"))
    for key_name, value in doc.items():
        if key_name not in ("options", "overrides", "extends", "sop_classes"):
            merged[key_name] = value
    merged["options"] = options
    merged["overrides"] = overrides
    merged["sop_classes"] = sop_classes
    merged["name"] = name
    merged.setdefault("description", "")
    if "description" not in doc:
        merged["description"] = f"{merged['description']} (extended by {name})".strip()
    return merged, (name,) + lineage, base_dir


def _as_list(path: Path, value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{path.name}: {what} must be a list of names")
    return value


def _as_mapping(path: Path, value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProfileError(f"{path.name}: {what} must be a mapping of attribute -> action")
    return {str(k): str(v) for k, v in value.items()}


def _build(path: Path, doc: dict[str, Any], lineage: tuple[str, ...], base_dir: Path) -> Profile:
    options = tuple(_as_list(path, doc.get("options"), "options"))
    for option in options:
        if option not in OPTIONS:
            raise ProfileError(f"{path.name}: unknown option {option!r}; known: {', '.join(OPTIONS)}")
    if "rtnLongFullDatesOpt" in options and "rtnLongModifDatesOpt" in options:
        raise ProfileError(f"{path.name}: rtnLongFullDatesOpt and rtnLongModifDatesOpt exclude each other")
    try:
        redaction = RedactionMode.parse(doc.get("redaction", "all"), path.name)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None
    public = doc.get("public_not_in_table", "keep")
    if public not in ("keep", "remove"):
        raise ProfileError(f"{path.name}: public_not_in_table must be keep or remove")
    try:
        threshold = float(doc.get("review_threshold", 0.6))
    except (TypeError, ValueError):
        raise ProfileError(f"{path.name}: review_threshold must be a number") from None
    if not 0.0 <= threshold <= 1.0:
        raise ProfileError(f"{path.name}: review_threshold must be within 0..1")
    max_age = doc.get("max_age_years")
    if max_age is not None and (not isinstance(max_age, int) or isinstance(max_age, bool) or not 0 < max_age < 150):
        raise ProfileError(f"{path.name}: max_age_years must be a whole number of years (e.g. 89)")
    table = (base_dir / str(doc.get("table", DEFAULT_TABLE))).resolve()
    actions, repeating, rows = _compile(table, options)
    public_overrides, private_overrides = _overrides(path, _as_mapping(path, doc.get("overrides"), "overrides"))
    for tag, action in public_overrides.items():
        group = tag >> 16
        if group & 0xFF00 in (0x5000, 0x6000) and (tag >> 16) & 0xFF == 0:
            repeating[(group & 0xFF00, tag & 0xFFFF)] = action
        else:
            actions[tag] = action
    kb = None
    if "rtnSafePrivOpt" in options:
        try:
            kb = load_kb((base_dir / str(doc.get("private_kb", DEFAULT_PRIVATE_KB))).resolve())
        except PrivateKBError as exc:
            raise ProfileError(f"{path.name}: {exc}") from None
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
        private_action=Action.CLEAN if kb is not None else Action.REMOVE,
        private_overrides=private_overrides,
        private_kb=kb,
        max_age_years=max_age,
        overrides=_as_mapping(path, doc.get("overrides"), "overrides"),
        lineage=lineage,
        sop_rules=_sop_rules(path, doc.get("sop_classes")),
        table=table,
    )


def _sop_rules(path: Path, raw: Any) -> dict[SopKind, SopRule]:
    rules = dict(DEFAULT_RULES)
    for kind, rule in _as_mapping(path, raw, "sop_classes").items():
        try:
            rules[SopKind(kind)] = SopRule(rule)
        except ValueError:
            raise ProfileError(
                f"{path.name}: sop_classes maps a kind of object ({', '.join(k.value for k in SopKind)}) "
                f"to one of {', '.join(r.value for r in SopRule)}; got {kind}: {rule}"
            ) from None
    return rules


def _overrides(path: Path, raw: dict[str, str]) -> tuple[dict[int, Action], dict[tuple[int, str, int], Action]]:
    """Overrides by keyword (``PatientSex``), tag (``(0010,0040)``) or private (``(0019,"CREATOR",0c)``)."""
    public: dict[int, Action] = {}
    private: dict[tuple[int, str, int], Action] = {}
    for key, code in raw.items():
        if code not in OVERRIDE_ACTIONS:
            raise ProfileError(f"{path.name}: override {key}: unknown action {code!r}; "
                               f"known: {', '.join(sorted(OVERRIDE_ACTIONS))}")
        action = Action(code)
        priv = _PRIVATE.fullmatch(key.strip())
        if priv is not None:
            group = int(priv[1], 16)
            if group % 2 == 0:
                raise ProfileError(f"{path.name}: override {key}: a private group is odd")
            if action not in PRIVATE_ACTIONS:
                raise ProfileError(f"{path.name}: override {key}: private elements take K or X")
            comp = private_component(group, priv[2], int(priv[3], 16))
            private[(comp[1], comp[2], comp[3])] = action
            continue
        tag_match = _TAG.fullmatch(key.strip())
        if tag_match is not None:
            tag = (int(tag_match[1], 16) << 16) | int(tag_match[2], 16)
            if (tag >> 16) % 2 == 1:
                raise ProfileError(f"{path.name}: override {key}: private tags are named by creator, "
                                   f'e.g. (0019,"SIEMENS MR HEADER",0c)')
            if keyword_for_tag(tag) == "" and (tag >> 16) & 0xFF00 not in (0x5000, 0x6000):
                raise ProfileError(f"{path.name}: override {key}: unknown tag (not in the DICOM dictionary)")
        else:
            found = tag_for_keyword(key.strip())
            if found is None:
                raise ProfileError(f"{path.name}: override {key}: unknown tag keyword")
            tag = found
        public[tag] = action
    return public, private


@lru_cache(maxsize=4)
def _table(path: Path) -> tuple[dict[str, str], ...]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError(f"cannot read table {path.name}: {exc.__class__.__name__}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "tag" in r and "basicProfile" in r
                                             for r in rows):
        raise ProfileError(f"table {path.name}: expected a list of rows with 'tag' and 'basicProfile'")
    return tuple(rows)


def row_action(row: dict[str, str], options: tuple[str, ...]) -> Action:
    """The internal action for one table row under the given options (see the module doc for the rules)."""
    in_iod = row.get("stdCompIOD", "Y") != "N"
    basic = resolve_combined(row["basicProfile"], in_iod)
    kept: Action | None = None
    cleaned: Action | None = None
    for option in options:
        code = row.get(option)
        if code is None:
            continue
        if code == "C":
            cleaned = _C_MEANS.get(option, Action.CLEAN)
        elif code == "K":
            kept = Action.KEEP
        else:
            kept = resolve_combined(code, in_iod)
    return cleaned or kept or basic


def parse_table_tag(tag_text: str) -> tuple[str, int, int]:
    """("public", tag, 0) | ("repeating", group base, element or -1) | ("private", 0, 0)."""
    tag_text = tag_text.upper()
    if "GGGG" in tag_text:
        return "private", 0, 0
    group_text, element_text = tag_text.strip("()").split(",")
    if "X" in group_text:
        return "repeating", int(group_text.replace("X", "0"), 16), -1 if "X" in element_text else int(element_text, 16)
    return "public", (int(group_text, 16) << 16) | int(element_text, 16), 0


def _compile(table: Path, options: tuple[str, ...]) -> tuple[dict[int, Action], dict[tuple[int, int], Action], int]:
    actions: dict[int, Action] = {}
    repeating: dict[tuple[int, int], Action] = {}
    rows = _table(table)
    for row in rows:
        action = row_action(row, options)
        kind, tag, element = parse_table_tag(row["tag"])
        if kind == "private":
            continue  # private attributes are handled by the private-tag rule, not by tag number
        if kind == "repeating":
            repeating[(tag, element)] = action
        else:
            actions[tag] = action
    return actions, repeating, len(rows)


def describe(profile: Profile) -> dict[str, Any]:
    """A JSON-able summary for ``pixelguard profiles show``."""
    counts: dict[str, int] = {}
    for action in list(profile.actions.values()) + list(profile.repeating.values()):
        counts[action] = counts.get(action, 0) + 1
    return {"name": profile.name, "description": profile.description, "extends": list(profile.lineage[1:]),
            "options": {o: OPTIONS[o] for o in profile.options}, "overrides": profile.overrides,
            "table_rows": profile.table_rows, "actions": dict(sorted(counts.items())),
            "private": "retain safe (TCIA KB)" if profile.private_kb is not None else "remove",
            "max_age_years": profile.max_age_years, "redaction": profile.redaction,
            "review_threshold": profile.review_threshold, "public_not_in_table": profile.public_not_in_table,
            "sop_classes": {kind.value: rule.value for kind, rule in profile.sop_rules.items()}}


def field_table(profile: Profile) -> list[dict[str, str]]:
    """Every Table E.1-1 row as this profile resolves it: attribute, tag, action, and why that action.

    ``why`` names the source of the decision (the basic profile's code, the option that changed it, or the
    profile's own override), so a privacy officer can trace each action back to the standard.
    """
    rows: list[dict[str, str]] = []
    overridden = {_override_tag(key): key for key in profile.overrides}
    for row in _table(_table_path(profile)):
        kind, tag, element = parse_table_tag(row["tag"])
        if kind == "private":
            action = profile.private_action
            why = ("Retain Safe Private Option: kept only where the TCIA knowledge base vouches for it"
                   if action is Action.CLEAN else f"basic profile {row['basicProfile']}: private elements removed")
        else:
            found = profile.action(tag) if kind == "public" else profile.repeating.get((tag, element))
            action = found or row_action(row, profile.options)
            why = _row_reason(row, profile.options)
            key = overridden.get(tag) if kind == "public" else None
            if key is not None:
                why = f"override {key}: {action.value} (table: {why})"
        rows.append({"attribute": row.get("name", ""), "tag": row["tag"], "action": action.value,
                     "meaning": action.meaning, "why": why})
    return rows


def _table_path(profile: Profile) -> Path:
    return profile.table or (PROFILES_DIR / DEFAULT_TABLE).resolve()


def _override_tag(key: str) -> int | None:
    tag_match = _TAG.fullmatch(key.strip())
    if tag_match is not None:
        return (int(tag_match[1], 16) << 16) | int(tag_match[2], 16)
    return tag_for_keyword(key.strip())


def _row_reason(row: dict[str, str], options: tuple[str, ...]) -> str:
    """Which column of the table decided ``row_action`` (mirrors its precedence: C, then K, then basic)."""
    basic = f"basic profile {row['basicProfile']}"
    deciding = [o for o in options if row.get(o) == "C"] or [o for o in options if row.get(o) is not None]
    if not deciding:
        return basic
    option = deciding[-1]
    return f"{OPTIONS[option]} {row[option]} (over {basic})"
