"""``pixelguard deid --output-format`` and ``--out s3://bucket/prefix``, end to end on the real s3proxy.

What a user sees: the outputs in the format asked for, under the prefix, with the manifest beside them and
the crosswalk beside the key file (never in the bucket); no PHI in any object, name, message or manifest;
and a clear error, before any input is processed, for what cannot be done.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pydicom
import pytest
from PIL import Image

from pixelguard.samples import FakePatient, pydicom_test_files, text_dicom, text_nifti
from tests.streaming.harness import PIXELGUARD

PATIENT = FakePatient()
PHI = (PATIENT.name.split("^")[0], PATIENT.patient_id, PATIENT.birth_date)


def _inputs(root: Path, nifti: bool = False) -> Path:
    root.mkdir(parents=True)
    (root / f"{PATIENT.patient_id}.dcm").write_bytes(text_dicom(PATIENT))  # a file name that is PHI too
    shutil.copy(pydicom_test_files() / "SC_rgb_rle_2frame.dcm", root / "two-frames.dcm")
    if nifti:
        (root / "volume.nii.gz").write_bytes(text_nifti(PATIENT))
    return root


def _env(s3proxy=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    if s3proxy is not None:
        env.update(s3proxy.env())
    env.update(extra)
    return env


def _deid(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PIXELGUARD, "deid", *args, "--jobs", "1"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def _leaks(text: str) -> list[str]:
    return [v for v in PHI if v in text]


def test_png_exports_go_to_an_s3_prefix_with_their_manifest(s3proxy, s3_buckets, tmp_path: Path) -> None:
    (bucket,) = s3_buckets("out")
    source = _inputs(tmp_path / "in")
    keys = tmp_path / "keys" / "key.json"
    run = _deid(str(source), "--out", f"s3://{bucket}/study-7", "--output-format", "png", "--key-file", str(keys),
                env=_env(s3proxy), cwd=tmp_path)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    s3 = s3proxy.client()
    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert "study-7/manifest.jsonl" in listed, listed
    manifest = [json.loads(x) for x in
                s3.get_object(Bucket=bucket, Key="study-7/manifest.jsonl")["Body"].read().decode().splitlines()]
    assert len(manifest) == 2 and {m["status"] for m in manifest} <= {"clean", "review"}, manifest
    assert {m["output_format"] for m in manifest} == {"png"}
    outputs = {m["output"]: s3.get_object(Bucket=bucket, Key=f"study-7/{m['output']}")["Body"].read()
               for m in manifest}
    kinds = sorted(Path(name).suffix for name in outputs)
    assert kinds == [".png", ".zip"], outputs.keys()
    for name, data in outputs.items():
        images = ([zipfile.ZipFile(io.BytesIO(data)).read(n) for n in zipfile.ZipFile(io.BytesIO(data)).namelist()]
                  if name.endswith(".zip") else [data])
        for image in images:
            with Image.open(io.BytesIO(image)) as opened:
                assert opened.format == "PNG" and not opened.text and not opened.getexif()
        assert not _leaks(data.decode("latin-1"))
    said = run.stdout + run.stderr + json.dumps(manifest) + " ".join(listed)
    assert not _leaks(said)
    # The crosswalk and the audit trail stay beside the key file, never in the bucket.
    assert any(p.name != "key.json" for p in keys.parent.iterdir())
    assert not [k for k in listed if "crosswalk" in k or "audit" in k or "key" in k]
    assert not (tmp_path / "s3:").exists()


def test_htj2k_to_s3_is_lossless_against_the_original_syntax_run(s3proxy, s3_buckets, tmp_path: Path) -> None:
    (bucket,) = s3_buckets("ht")
    source = _inputs(tmp_path / "in")
    keys = str(tmp_path / "keys" / "key.json")
    ht = _deid(str(source), "--out", f"s3://{bucket}/ht", "--output-format", "htj2k", "--key-file", keys,
               env=_env(s3proxy), cwd=tmp_path)
    plain = _deid(str(source), "--out", str(tmp_path / "plain"), "--key-file", keys, env=_env(s3proxy), cwd=tmp_path)
    assert ht.returncode in (0, 1) and plain.returncode in (0, 1), ht.stderr[-2000:] + plain.stderr[-2000:]
    s3 = s3proxy.client()
    manifest = [json.loads(x) for x in
                s3.get_object(Bucket=bucket, Key="ht/manifest.jsonl")["Body"].read().decode().splitlines()]
    for line in manifest:
        data = s3.get_object(Bucket=bucket, Key=f"ht/{line['output']}")["Body"].read()
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.201"
        same = pydicom.dcmread(tmp_path / "plain" / line["output"])  # same keys: same output names
        assert (ds.pixel_array == same.pixel_array).all()


def test_a_nifti_in_an_htj2k_job_stops_it_before_any_work(tmp_path: Path) -> None:
    source = _inputs(tmp_path / "in", nifti=True)
    out = tmp_path / "out"
    run = _deid(str(source), "--out", str(out), "--output-format", "htj2k",
                "--key-file", str(tmp_path / "keys" / "key.json"), env=_env(), cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "1 of 3 inputs (1 NIFTI)" in run.stderr and "--output-format original" in run.stderr
    assert not (out / "manifest.jsonl").exists() and not [p for p in out.rglob("*") if p.is_file()]
    assert not _leaks(run.stderr)


def test_an_unknown_output_format_is_refused_naming_the_choices(tmp_path: Path) -> None:
    run = _deid(str(tmp_path), "--out", str(tmp_path / "out"), "--output-format", "tiff", env=_env(), cwd=tmp_path)
    assert run.returncode == 2 and "choose one of original, htj2k, png, jpeg" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()


def test_a_bucket_that_does_not_exist_stops_the_run_saying_so(s3proxy, tmp_path: Path) -> None:
    source = _inputs(tmp_path / "in")
    run = _deid(str(source), "--out", "s3://pg-no-such-bucket-1f2e/x", "--key-file",
                str(tmp_path / "keys" / "key.json"), env=_env(s3proxy), cwd=tmp_path)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "the bucket does not exist" in run.stderr and "pg-no-such-bucket" not in run.stderr
    assert "clean=" not in run.stderr  # stopped before any input


def test_an_s3_server_that_is_down_stops_the_run_saying_what_to_check(s3proxy_factory, tmp_path: Path) -> None:
    server = s3proxy_factory()
    server.create_bucket("pg-down")
    env = _env(server)
    server.stop()
    source = _inputs(tmp_path / "in")
    run = _deid(str(source), "--out", "s3://pg-down/x", "--key-file", str(tmp_path / "keys" / "key.json"),
                env=env, cwd=tmp_path)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "does not answer" in run.stderr and "AWS_ENDPOINT_URL" in run.stderr
    assert "pg-down" not in run.stderr and "clean=" not in run.stderr


@pytest.mark.parametrize(("out", "said"), [("s3:bucket/x", "s3://BUCKET/PREFIX"), ("s3://", "s3://BUCKET/KEY"),
                                            ("", "--out needs a folder or s3://BUCKET/PREFIX")])
def test_a_malformed_output_is_refused(out: str, said: str, tmp_path: Path) -> None:
    run = _deid(str(tmp_path), "--out", out, env=_env(), cwd=tmp_path)
    assert run.returncode == 2 and said in run.stderr, run.stderr
    assert not (tmp_path / "s3:bucket").exists() and not (tmp_path / "review").exists()


def test_submit_refuses_an_unknown_output_format_before_publishing(tmp_path: Path) -> None:
    run = subprocess.run([PIXELGUARD, "submit", str(tmp_path), "--output-format", "webp", "--bootstrap", "127.0.0.1:9"],
                         env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "choose one of original, htj2k, png, jpeg" in run.stderr, run.stderr
