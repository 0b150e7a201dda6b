"""`pixelguard profiles list | show NAME | validate FILE`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelguard.cli import main


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "list"]) == 0
    listed = capsys.readouterr().out
    for name in ("basic", "research", "hipaa-safe-harbor", "retain-safe-private", "clean-graphics"):
        assert f"{name}\t" in listed
    assert main(["profiles", "show", "research"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["extends"] == ["basic"] and "rtnLongModifDatesOpt" in shown["options"]
    assert shown["table_rows"] == 621 and shown["private"].startswith("retain safe")


def test_validate_accepts_a_good_file_and_names_the_problem_in_a_bad_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nextends: research\noverrides:\n  PatientSex: X\n")
    assert main(["profiles", "validate", str(good)]) == 0
    assert "ok: good.yaml" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nextends: research\noverrides:\n  '(0010,0040)': KEEP\n")
    assert main(["profiles", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "unknown action" in err
