"""The streaming steps through S3: inputs listed from a feed's bucket by ``submit s3://...``, staging in a work
bucket, clean and review objects published to an output bucket; every bad object ends in errors with a reason.

The steps run in this process (the same functions the agents wrap) on the ingest events ``submit`` published
to the session's Kafka; ``test_s3_workers.py`` runs the same through two worker processes.
"""
from __future__ import annotations

import json
import uuid
from collections import Counter

from agents.stages import StageContext
from streams.objectstore import open_store
from streams.reader import scan
from streams.submit import submit
from streams.topics import ensure_topics, topic_name
from tests.streaming.harness import dicom_text
from tests.streaming.s3feed import OVERSIZE_LIMIT, fill
from tests.streaming.test_stages import run_steps

EXPECTED_ERRORS = {"truncated", "wrong-format", "empty", "cut-png", "oversized", "corrupt"}


def test_inputs_in_one_bucket_outputs_in_another(kafka, s3proxy, s3_env, s3_buckets, derive, detector) -> None:
    feed_bucket, work, out = s3_buckets("feed", "work", "out")
    feed = fill(s3proxy.client(), feed_bucket, "batch/")
    prefix = f"s3st-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 2)
    result = submit([f"s3://{feed_bucket}/batch/", f"s3://{feed_bucket}/nothing-here/"], bootstrap=kafka.bootstrap,
                    prefix=prefix, store=open_store(f"s3://{work}"), derive=derive, profile="basic",
                    job_id="job-s3", max_object_bytes=OVERSIZE_LIMIT)
    assert result.submitted == feed.total + 1 and result.failed == 0  # + the empty prefix, as not-found
    ingest = [r.event for r in scan(kafka.bootstrap, [topic_name("ingest", prefix)]) if r.event is not None]
    assert len(ingest) == feed.total + 1
    # What submit staged is in the work bucket under opaque ids only.
    assert all(e.source_uri.startswith(f"s3://{work}/ingest/job-s3/") for e in ingest if not e.status)

    ctx = StageContext(derive, open_store(f"s3://{work}"), detector, outputs=open_store(f"s3://{out}"),
                       retries=1, backoff_s=0.01)
    finals = [run_steps(ctx, event) for event in ingest]
    by_topic = Counter(topic for topic, _ in finals)
    assert len({e.input_id for _, e in finals}) == len(finals) == feed.total + 1  # nothing lost
    errors = [e for topic, e in finals if topic == "errors"]
    assert len(errors) == len(feed.bad_keys) + 1, [(e.error_code, e.reason) for e in errors]
    assert all(e.error_code and e.reason and e.reason.startswith(e.error_code) for e in errors)
    codes = Counter(e.error_code for e in errors)
    assert codes["oversized"] == 1 and codes["not-found"] == 1, codes  # refused from its listed size
    assert by_topic["clean"] + by_topic["review"] == feed.corpus.good, by_topic

    published = open_store(f"s3://{out}")
    s3 = s3proxy.client()
    leaks: list[str] = []
    for topic, event in finals:
        if topic in ("clean", "review"):
            assert event.object_uri.startswith(f"s3://{out}/{topic}/"), "an output outside the output bucket"
            data = published.get(event.object_uri)
            if event.format == "dicom":
                leaks += feed.corpus.leaks(dicom_text(data))
    assert not leaks, f"metadata leak check failed for {len(leaks)} values"
    # Nothing published in the work bucket; only the index and outputs in the output bucket.
    work_keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=work)
                 for o in page.get("Contents", [])]
    assert work_keys and not [k for k in work_keys if k.startswith(("clean/", "review/"))]
    out_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=out).get("Contents", [])]
    assert {k.split("/")[0] for k in out_keys} <= {"clean", "review", "index"}
    # No fake PHI and no feed key in any event: the keys were named after the patients.
    said = "\n".join(json.dumps(e.to_bytes().decode()) for e in ingest) + "\n".join(
        json.dumps(e.to_bytes().decode()) for _, e in finals)
    assert not feed.corpus.leaks(said + "\n".join(out_keys + work_keys))
    assert not [k for k in feed.keys if k in said]
    print(f"\ns3 stages: {feed.total + 1} inputs -> {dict(by_topic)}; errors {dict(codes)}")


def test_a_jobs_output_format_travels_from_submit_to_the_output_bucket(kafka, s3proxy, s3_env, s3_buckets, derive,
                                                                         detector) -> None:
    import io

    import pydicom

    from pixelguard.samples import text_nifti
    from tests.streaming.harness import patient

    feed_bucket, work, out = s3_buckets("feed", "work", "out")
    s3 = s3proxy.client()
    feed = fill(s3, feed_bucket, "batch/", dicoms=2, pngs=0, bad=False)
    s3.put_object(Bucket=feed_bucket, Key=f"batch/{patient(950).patient_id}.nii.gz", Body=text_nifti(patient(950)))
    prefix = f"s3fmt-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 2)
    result = submit([f"s3://{feed_bucket}/batch/"], bootstrap=kafka.bootstrap, prefix=prefix,
                    store=open_store(f"s3://{work}"), derive=derive, profile="basic", job_id="job-ht",
                    output_format="htj2k")
    assert result.submitted == feed.total + 1 and result.failed == 0
    ingest = [r.event for r in scan(kafka.bootstrap, [topic_name("ingest", prefix)]) if r.event is not None]
    assert {e.output_format for e in ingest} == {"htj2k"} and {e.v for e in ingest} == {2}

    ctx = StageContext(derive, open_store(f"s3://{work}"), detector, outputs=open_store(f"s3://{out}"),
                       retries=1, backoff_s=0.01)
    finals = [run_steps(ctx, event) for event in ingest]
    (refused,) = [e for topic, e in finals if topic == "errors"]  # the NIfTI: HTJ2K is DICOM only
    assert refused.error_code == "unsupported-output" and "--output-format original" in refused.reason
    assert "NIFTI" in refused.reason
    published = open_store(f"s3://{out}")
    for topic, event in finals:
        if topic == "errors":
            continue
        data = published.get(event.object_uri)
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.201"
        assert not feed.corpus.leaks(dicom_text(data))
    assert sum(topic != "errors" for topic, _ in finals) == feed.corpus.good
