"""Private-tag knowledge base: which private elements the Retain Safe Private option may keep.

Driven by TCIA's private tag knowledge base (``profiles/reference/tcia-private-tag-kb-*.csv``). Private
elements are identified the way DICOM identifies them, by private creator + group + element offset (the low
byte), never by absolute tag, because a vendor's block may be reserved at (gggg,0010) in one file and at
(gggg,0011) in the next. Elements nested in sequences are matched by their whole path from the top level.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# One path component: (gggg,"creator",ee) for a private element, (gggg,eeee) for a public one. The KB's
# CSV export drops the opening quote of the first creator (and both quotes of an empty one), hence the
# optional quotes.
_COMPONENT = re.compile(
    r'\((?P<group>[0-9a-fA-F]{4}),(?:"?(?P<creator>[^"]*?)"?,(?P<offset>[0-9a-fA-F]{2})|(?P<element>[0-9a-fA-F]{4}))\)')
_NESTING = re.compile(r"\[<\d+>\]")

# A component is ("p", group, creator, offset) or ("s", tag) for a standard (public) element.
Component = tuple
Path_ = tuple[Component, ...]


class PrivateKBError(ValueError):
    pass


def creator_key(creator: str) -> str:
    """Private creators are compared trimmed and case-folded: vendors pad and re-case them across versions."""
    return creator.strip(" \x00").casefold()


def private_component(group: int, creator: str, offset: int) -> Component:
    return ("p", group, creator_key(creator), offset)


def public_component(tag: int) -> Component:
    return ("s", tag)


@dataclass(frozen=True)
class PrivateKB:
    """Safe-to-keep private element signatures (disposition ``k`` in every row that names them)."""

    safe: frozenset[Path_]
    rows: int

    def is_safe(self, path: Path_) -> bool:
        return path in self.safe


def parse_signature(text: str) -> Path_:
    parts = _NESTING.split(text.strip())
    out: list[Component] = []
    for part in parts:
        match = _COMPONENT.fullmatch(part.strip())
        if match is None:
            raise PrivateKBError("malformed element signature in the private tag knowledge base")
        group = int(match["group"], 16)
        if match["element"] is not None:
            out.append(public_component((group << 16) | int(match["element"], 16)))
        else:
            out.append(private_component(group, match["creator"], int(match["offset"], 16)))
    return tuple(out)


@lru_cache(maxsize=2)
def load_kb(path: Path) -> PrivateKB:
    """Read the KB; a signature is safe only if every row naming it (one per VR seen) says ``k``."""
    verdicts: dict[Path_, bool] = {}
    rows = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                rows += 1
                signature = parse_signature(row["element_sig_pattern"])
                keep = row["private_disposition"].strip().lower() == "k"
                verdicts[signature] = verdicts.get(signature, True) and keep
    except OSError as exc:
        raise PrivateKBError(f"cannot read private tag knowledge base {path.name} "
                             f"({exc.__class__.__name__})") from None
    except KeyError:
        raise PrivateKBError(f"{path.name}: expected columns element_sig_pattern and private_disposition") from None
    return PrivateKB(frozenset(sig for sig, keep in verdicts.items() if keep), rows)


__all__ = ["PrivateKB", "PrivateKBError", "load_kb", "parse_signature", "private_component", "public_component",
           "creator_key"]
