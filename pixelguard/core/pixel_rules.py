"""Fixed redaction boxes for known devices, as data (profiles/pixel-rules.yaml), validated on load."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydicom.datadict import keyword_dict
from pydicom.dataset import Dataset

from .profile import PROFILES_DIR, ProfileError

RULES_FILE = PROFILES_DIR / "pixel-rules.yaml"
_NUMERIC = {"Rows", "Columns", "BitsStored", "BitsAllocated", "NumberOfFrames"}


@dataclass(frozen=True)
class PixelRule:
    name: str
    when: tuple[tuple[str, str], ...]
    boxes: tuple[tuple[int, int, int, int], ...]

    def matches(self, ds: Dataset) -> bool:
        for keyword, expected in self.when:
            try:
                value = ds.get(keyword)
            except Exception:  # noqa: BLE001 - a value that does not convert (unknown VR...) names no device
                return False
            if value is None:
                return False
            if keyword in _NUMERIC:
                try:
                    if int(value) != int(expected):
                        return False
                except (TypeError, ValueError):
                    return False
            elif str(value).strip() != expected:
                return False
        return True


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> tuple[PixelRule, ...]:
    if not path.exists():
        return ()
    doc = yaml.safe_load(path.read_text()) or {}
    rules = []
    for index, raw in enumerate(doc.get("rules") or []):
        where = f"{path.name} rule {index + 1}"
        when = raw.get("when") or {}
        if not when:
            raise ProfileError(f"{where}: a rule needs at least one condition under 'when'")
        for keyword in when:
            if keyword not in keyword_dict:
                raise ProfileError(f"{where}: unknown DICOM keyword {keyword!r}")
        boxes = []
        for box in raw.get("boxes") or []:
            if len(box) != 4 or not all(isinstance(v, int) and v >= 0 for v in box) or box[0] >= box[2] \
                    or box[1] >= box[3]:
                raise ProfileError(f"{where}: box {box!r} must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1")
            boxes.append(tuple(box))
        if not boxes:
            raise ProfileError(f"{where}: a rule needs at least one box")
        rules.append(PixelRule(str(raw.get("name", where)), tuple((k, str(v).strip()) for k, v in when.items()),
                               tuple(boxes)))
    return tuple(rules)


def boxes_for(ds: Dataset, rules: tuple[PixelRule, ...] | None = None) -> list[tuple[int, int, int, int]]:
    return [box for rule in (load_rules() if rules is None else rules) if rule.matches(ds) for box in rule.boxes]
