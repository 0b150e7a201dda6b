"""``pixelguard deid`` and ``crosswalk export`` as a user runs them: a subprocess, real files, exit codes."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pixelguard.samples import FakePatient, pydicom_test_files, text_dicom, text_png

PATIENT = FakePatient()


def run(*args: str, key_file: Path, check_code: int | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PIXELGUARD_KEY_FILE=str(key_file))
    proc = subprocess.run([sys.executable, "-m", "pixelguard.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600)
    if check_code is not None:
        assert proc.returncode == check_code, proc.stderr
    return proc


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "key.json"


def test_bad_inputs_beside_one_valid_dicom(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    valid = (pydicom_test_files() / "MR_small.dcm").read_bytes()
    (inbox / "valid.dcm").write_bytes(valid)
    (inbox / "truncated.dcm").write_bytes(valid[: len(valid) // 2])
    (inbox / "empty.dcm").write_bytes(b"")
    (inbox / "notes.dcm").write_text("this is a text file, not DICOM\n" * 20)
    out = tmp_path / "out"

    proc = run("deid", str(inbox), "--out", str(out), "--jobs", "2", key_file=key_file, check_code=1)

    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error ")]
    assert len(error_lines) == 3, proc.stderr
    reasons = {line.split(": ", 1)[1] for line in error_lines}
    assert len(reasons) == 3
    codes = sorted(line.split(": ")[1] for line in error_lines)
    assert codes == ["empty", "truncated", "unknown-format"]
    rows = manifest(out)
    assert sorted(r["status"] for r in rows) == ["clean", "error", "error", "error"]
    clean = [r for r in rows if r["status"] == "clean"]
    assert (out / clean[0]["output"]).is_file()
    assert sorted(p.name for p in out.glob("*.dcm")) == [Path(clean[0]["output"]).name]
    assert "clean=1 review=0 error=3" in proc.stderr


def test_no_patient_name_or_file_name_leaks_into_names_or_manifest(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stem = "DOE_JANE_MRN0042424"
    (inbox / f"{stem}.dcm").write_bytes(text_dicom(PATIENT))
    (inbox / f"{stem}.png").write_bytes(text_png(PATIENT))
    (inbox / f"{stem}_broken.dcm").write_bytes(b"\x00" * 10)
    out = tmp_path / "out"
    proc = run("deid", str(inbox), "--out", str(out), "--jobs", "1", key_file=key_file)
    assert proc.returncode in (0, 1)

    forbidden = ["DOE", "JANE", "MRN0042424", stem, "inbox", PATIENT.birth_date]
    names = [str(p.relative_to(out)) for p in out.rglob("*")]
    text = (out / "manifest.jsonl").read_text() + "\n".join(names) + proc.stderr + proc.stdout
    for value in forbidden:
        assert value not in text, value
    assert len(manifest(out)) == 3


def test_review_outputs_are_kept_apart(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.dcm").write_bytes(text_dicom(PATIENT))
    out = tmp_path / "out"
    run("deid", str(inbox), "--out", str(out), key_file=key_file)
    for row in manifest(out):
        if row["status"] == "review":
            assert row["output"].startswith("review/") and (out / row["output"]).is_file()
            assert row["reason"]
        elif row["status"] == "clean":
            assert "/" not in row["output"]


def test_same_input_same_output_names_across_runs(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.dcm").write_bytes((pydicom_test_files() / "CT_small.dcm").read_bytes())
    (inbox / "b.png").write_bytes(text_png(PATIENT))
    first, second = tmp_path / "o1", tmp_path / "o2"
    run("deid", str(inbox), "--out", str(first), key_file=key_file)
    run("deid", str(inbox), "--out", str(second), "--jobs", "2", key_file=key_file)
    assert sorted(r["output"] for r in manifest(first)) == sorted(r["output"] for r in manifest(second))
    assert sorted(r["input_id"] for r in manifest(first)) == sorted(r["input_id"] for r in manifest(second))


def test_symlink_loop_oversized_and_unreadable_inputs(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    (inbox / "sub" / "loop").symlink_to(inbox)  # a directory loop
    (inbox / "self").symlink_to(inbox / "self")  # a link that resolves to itself
    with open(inbox / "huge.dcm", "wb") as handle:  # sparse: 3 GB on paper, nothing on disk
        handle.truncate(3 * 1024**3)
    # Root reads any mode, so "unreadable" is a file whose read fails: another process's memory.
    (inbox / "unreadable.dcm").symlink_to(f"/proc/{os.getpid()}/mem")
    (inbox / "ok.dcm").write_bytes((pydicom_test_files() / "CT_small.dcm").read_bytes())
    out = tmp_path / "out"
    proc = run("deid", str(inbox), "--out", str(out), key_file=key_file, check_code=1)
    codes = sorted(r["reason"].split(":")[0] for r in manifest(out) if r["status"] == "error")
    assert codes == ["oversized", "symlink-loop", "symlink-loop", "unreadable"], proc.stderr
    assert sum(r["status"] == "clean" for r in manifest(out)) == 1


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    out = tmp_path / "out"
    assert run("deid", str(inbox), "--out", str(out), "--key-file", str(out / "k.json"),
               key_file=tmp_path / "k.json").returncode == 2
    assert run("deid", str(inbox), "--out", str(out), "--profile", "nope", key_file=tmp_path / "k.json").returncode == 2
    assert run("deid", "--out", str(out), key_file=tmp_path / "k.json").returncode == 2
    assert run("deid", str(inbox), "--out", str(out), "--jobs", "0", key_file=tmp_path / "k.json").returncode == 2


def test_key_file_is_private_and_crosswalk_export_maps_back(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = inbox / "DOE_JANE.dcm"
    source.write_bytes(text_dicom(PATIENT))
    out = tmp_path / "out"
    run("deid", str(inbox), "--out", str(out), "--job", "job-xw", key_file=key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    crosswalk = key_file.parent / "crosswalk.jsonl"
    assert PATIENT.patient_id not in crosswalk.read_text() and "DOE_JANE" not in crosswalk.read_text()

    export = tmp_path / "export" / "crosswalk.jsonl"
    run("crosswalk", "export", "--out", str(export), key_file=key_file, check_code=0)
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    entries = [json.loads(line) for line in export.read_text().splitlines()]
    assert len(entries) == 1
    entry = entries[0]
    row = manifest(out)[0]
    assert entry["input_path"] == str(source) and entry["input_id"] == row["input_id"]
    assert entry["output_path"] == str(out / row["output"]) and entry["job_id"] == "job-xw"
    assert entry["originals"] == {f"PatientID:{PATIENT.patient_id}": entry["pseudonyms"]["PatientID"]}


def test_a_wrong_key_cannot_read_the_crosswalk(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.dcm").write_bytes(text_dicom(PATIENT))
    run("deid", str(inbox), "--out", str(tmp_path / "out"), key_file=key_file)
    other = tmp_path / "other" / "key.json"
    run("deid", str(inbox), "--out", str(tmp_path / "out2"), key_file=other)
    (other.parent / "crosswalk.jsonl").write_text((key_file.parent / "crosswalk.jsonl").read_text())
    proc = run("crosswalk", "export", "--out", str(tmp_path / "x.jsonl"), key_file=other)
    assert proc.returncode != 0
    assert PATIENT.patient_id not in proc.stderr


def test_generated_samples_leave_no_phi_in_any_output(tmp_path: Path, key_file: Path) -> None:
    """Every fake patient value (header and burned-in) is absent from every output byte and the logs."""
    from pixelguard.samples import write_samples

    write_samples(tmp_path / "samples", include_pydicom=False)
    out = tmp_path / "out"
    proc = run("deid", str(tmp_path / "samples"), "--out", str(out), "--jobs", "2", key_file=key_file)
    rows = manifest(out)
    assert {r["format"] for r in rows} == {"dicom", "png", "jpeg", "nifti"}
    assert all(r["status"] != "error" for r in rows), [r["reason"] for r in rows]
    patients = [FakePatient(), FakePatient("ROE^RICHARD", "MRN7700123", "19480517")]
    values = [v for p in patients for v in (p.name, p.patient_id, p.birth_date, p.name.split("^")[0] + " ")]
    blobs = [p.read_bytes() for p in out.rglob("*") if p.is_file()] + [proc.stderr.encode(), proc.stdout.encode()]
    import gzip

    blobs += [gzip.decompress(p.read_bytes()) for p in out.rglob("*.nii.gz")]
    for value in values:
        assert not any(value.encode() in blob for blob in blobs), value


def test_progress_bar_on_a_tty_only(tmp_path: Path, key_file: Path) -> None:
    import pty

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.dcm").write_bytes((pydicom_test_files() / "CT_small.dcm").read_bytes())
    leader, follower = pty.openpty()
    env = dict(os.environ, PIXELGUARD_KEY_FILE=str(key_file))
    proc = subprocess.run([sys.executable, "-m", "pixelguard.cli", "deid", str(inbox), "--out", str(tmp_path / "o")],
                          stderr=follower, stdout=subprocess.PIPE, env=env, timeout=300)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"\r[" in shown and b"1/1" in shown and b"files/s" in shown
    piped = run("deid", str(inbox), "--out", str(tmp_path / "o2"), key_file=key_file)
    assert "\r[" not in piped.stderr


def test_a_profile_edit_is_audited_on_its_first_use(tmp_path: Path, key_file: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.dcm").write_bytes((pydicom_test_files() / "rtplan.dcm").read_bytes())
    custom = tmp_path / "site.yaml"
    custom.write_text("name: site\nextends: basic\noptions: [rtnPatCharsOpt]\n")
    for run_index in range(2):  # same definition twice: one event
        run("deid", str(inbox), "--out", str(tmp_path / f"o{run_index}"), "--profile", str(custom),
            key_file=key_file, check_code=0)
    custom.write_text("name: site\nextends: basic\noptions: [rtnPatCharsOpt, rtnDevIdOpt]\n")
    run("deid", str(inbox), "--out", str(tmp_path / "o3"), "--profile", str(custom), key_file=key_file,
        check_code=0)
    audit = [json.loads(line) for line in (key_file.parent / "audit.jsonl").read_text().splitlines()]
    changes = [e for e in audit if e["action"] == "profile.change" and e["targets"]["profile"] == "site"]
    assert len(changes) == 2
    assert changes[0]["detail"]["previous"] == "none"
    assert changes[1]["detail"]["previous"] == changes[0]["detail"]["digest"] != changes[1]["detail"]["digest"]
    assert stat.S_IMODE((key_file.parent / "audit.jsonl").stat().st_mode) == 0o600
