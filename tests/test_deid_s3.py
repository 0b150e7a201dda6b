"""``pixelguard deid s3://bucket/prefix/``: the embedded runner lists a prefix as submit does and reads each
object in the worker that processes it; bad objects end as errors with a reason, and nothing the run writes
or prints holds fake PHI or a feed key (the keys are named after the patients)."""
from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

from tests.streaming.harness import PIXELGUARD, dicom_text
from tests.streaming.s3feed import OVERSIZE_LIMIT, fill


def test_deid_takes_an_s3_prefix(s3proxy, s3_buckets, tmp_path: Path) -> None:
    (bucket,) = s3_buckets("deid")
    feed = fill(s3proxy.client(), bucket, "batch/", dicoms=2, pngs=1)
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    env.update(s3proxy.env(), PIXELGUARD_MAX_OBJECT_BYTES=str(OVERSIZE_LIMIT))
    out = tmp_path / "out"
    run = subprocess.run([PIXELGUARD, "deid", f"s3://{bucket}/batch/", "--out", str(out), "--jobs", "1",
                          "--key-file", str(tmp_path / "keys" / "key.json")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr[-2000:]  # the bad objects are errors
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == feed.total and len({x["input_id"] for x in lines}) == feed.total
    statuses = Counter(x["status"] for x in lines)
    errors = [x for x in lines if x["status"] == "error"]
    assert len(errors) == len(feed.bad_keys) and all(x["reason"] for x in errors), errors
    assert "oversized" in {x["reason"].split(":")[0] for x in errors}
    assert statuses["clean"] + statuses["review"] == feed.corpus.good, statuses
    leaks: list[str] = []
    for x in lines:
        if x["output"] and x["format"] == "dicom":
            leaks += feed.corpus.leaks(dicom_text((out / x["output"]).read_bytes()))
    assert not leaks
    said = run.stdout + run.stderr + (out / "manifest.jsonl").read_text() + "\n".join(p.name for p in out.rglob("*"))
    assert not feed.corpus.leaks(said) and not [k for k in feed.keys if k in said]
