"""The resolved field table (``profiles show --fields``, ``GET /v1/profiles/{name}``): each row's action is
the one the scrubber applies, and its ``why`` names the column or override that decided it."""
from __future__ import annotations

import json
from pathlib import Path

from pydicom.datadict import tag_for_keyword

from pixelguard.cli import main
from pixelguard.core import profile as profiles


def test_every_public_row_shows_the_action_the_scrubber_applies() -> None:
    for name in ("basic", "research", "retain-uids", "hipaa-safe-harbor"):
        profile = profiles.load(name)
        table = profiles.field_table(profile)
        assert len(table) == profile.table_rows
        for row in table:
            kind, tag, _ = profiles.parse_table_tag(row["tag"])
            if kind == "public":
                assert row["action"] == profile.action(tag).value, (name, row)


def test_why_names_the_option_or_the_override(tmp_path: Path, capsys) -> None:
    custom = tmp_path / "custom.yaml"
    custom.write_text("name: custom\nextends: retain-uids\noverrides:\n  PatientSex: K\n")
    rows = {row["attribute"]: row for row in profiles.field_table(profiles.load_file(custom))}
    assert rows["Patient's Sex"]["action"] == "K" and rows["Patient's Sex"]["why"].startswith("override PatientSex")
    assert rows["Study Instance UID"]["action"] == "K" and "Retain UIDs Option" in rows["Study Instance UID"]["why"]
    assert rows["Patient ID"]["why"].startswith("basic profile")
    assert main(["profiles", "show", str(custom), "--fields"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["fields"]) == shown["table_rows"] and tag_for_keyword("PatientSex")
