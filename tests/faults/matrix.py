"""The fault matrix: one row per fault test, kept for the end-of-session table and, when
``PIXELGUARD_FAULT_REPORT`` names a file, appended to it as Markdown rows."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HEADER = ("| fault | objects | lost | duplicated | clean | review | errors | error codes | retried (max per worker) "
          "| worker restarts (exited, stalled) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


@dataclass(frozen=True)
class Row:
    fault: str
    objects: int
    lost: int
    duplicated: int
    clean: int
    review: int
    errors: int
    error_codes: str
    retried: str
    restarts: str

    def markdown(self) -> str:
        return (f"| {self.fault} | {self.objects} | {self.lost} | {self.duplicated} | {self.clean} | {self.review} "
                f"| {self.errors} | {self.error_codes} | {self.retried} | {self.restarts} |")


ROWS: list[Row] = []


def record(row: Row) -> None:
    ROWS.append(row)
    target = os.environ.get("PIXELGUARD_FAULT_REPORT")
    if target:
        path = Path(target)
        new = not path.exists() or path.stat().st_size == 0
        with open(path, "a") as out:
            out.write((HEADER + "\n" if new else "") + row.markdown() + "\n")


def table() -> str:
    return "\n".join([HEADER, *(row.markdown() for row in ROWS)])
