"""The S3 backend's contract, against a real S3 server (s3proxy over a folder, started by the tests).

The same interface as the file backend (put, get, copy, exists, uri) plus the listing submit needs; a missing
key is ObjectNotFound, an outage or refused credentials StorageUnavailable with what to do, and no message
quotes a bucket, key, endpoint or secret.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from agents.stages import StageContext, TransientExhausted
from pixelguard.services.s3proxy import S3ProxyService
from streams.objectstore import ObjectNotFound, StorageUnavailable, StoreOptions, open_store, transfer
from streams.objectstore.file import FileObjectStore
from streams.objectstore.placement import refuse_shared, shares
from streams.objectstore.s3 import S3ObjectStore

MIB = 1 << 20


def quoted(message: str, *secrets: str) -> list[str]:
    return [s for s in secrets if s and s in message]


def test_put_get_exists_copy_list(s3_env, s3_buckets) -> None:
    inputs, outputs = s3_buckets("in", "out")
    store = open_store(f"s3://{inputs}/pg")
    assert isinstance(store, S3ObjectStore) and store.root_uri == f"s3://{inputs}/pg/"
    uri = store.put("staging/scrubbed/job/abc.dcm", b"first")
    assert uri == store.uri("staging/scrubbed/job/abc.dcm") == f"s3://{inputs}/pg/staging/scrubbed/job/abc.dcm"
    assert store.get(uri) == b"first" and store.exists("staging/scrubbed/job/abc.dcm")
    assert store.put("staging/scrubbed/job/abc.dcm", b"second") == uri  # replace, same name: no second object
    assert store.get(uri) == b"second"
    assert not store.exists("staging/scrubbed/job/other.dcm")
    published = open_store(f"s3://{outputs}")
    copied = published.copy(uri, "clean/out.dcm")  # server-side, across buckets
    assert copied == f"s3://{outputs}/clean/out.dcm" and published.get(copied) == b"second"
    for i in range(3):
        store.put(f"ingest/job/{i}", bytes([i]) * (i + 1))
    assert list(store.list("ingest/")) == [(f"s3://{inputs}/pg/ingest/job/{i}", i + 1) for i in range(3)]
    # Across backends the bytes pass through: staging on a folder, outputs in a bucket.
    folder = FileObjectStore(Path(os.environ.get("TMPDIR", "/tmp")) / f"pg-{inputs}")
    staged = folder.put("staging/x.png", b"png bytes")
    assert published.get(transfer(folder, published, staged, "clean/x.png")) == b"png bytes"


def test_listing_pages_through_more_than_one_page(s3_env, s3_buckets) -> None:
    (bucket,) = s3_buckets("list")
    store = open_store(f"s3://{bucket}")
    names = [f"feed/{i:04d}.dcm" for i in range(1105)]  # ListObjectsV2 answers at most 1000 per page
    s3 = store._s3  # type: ignore[attr-defined]
    for name in names:
        s3.put_object(Bucket=bucket, Key=name, Body=b"x")
    s3.put_object(Bucket=bucket, Key="feed/folder/", Body=b"")  # a "folder" marker: not an object to submit
    assert [uri for uri, _ in store.list("feed/")] == [f"s3://{bucket}/{n}" for n in names]


def test_missing_key_is_object_not_found(s3_env, s3_buckets) -> None:
    (bucket,) = s3_buckets("miss")
    store = open_store(f"s3://{bucket}")
    with pytest.raises(ObjectNotFound) as caught:
        store.get(f"s3://{bucket}/ingest/job/PATIENT^NAME")
    assert "PATIENT" not in str(caught.value)
    with pytest.raises(ObjectNotFound):
        store.copy(f"s3://{bucket}/nothing-here", "clean/x")


def test_missing_bucket_is_unavailable_and_says_what_to_do(s3_env) -> None:
    store = open_store("s3://pg-no-such-bucket-anywhere")
    with pytest.raises(StorageUnavailable) as caught:
        store.get("s3://pg-no-such-bucket-anywhere/key")
    assert "bucket does not exist" in str(caught.value) and "PIXELGUARD_STORE" in str(caught.value)
    assert not quoted(str(caught.value), "pg-no-such-bucket-anywhere")
    with pytest.raises(StorageUnavailable):
        store.check()  # type: ignore[attr-defined]


def test_large_object_goes_in_parts(s3_env, s3_buckets) -> None:
    inputs, outputs = s3_buckets("big-in", "big-out")
    parts = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2)
    store = S3ObjectStore(f"s3://{inputs}", transfer=parts)
    data = os.urandom(12 * MIB)
    uri = store.put("staging/redacted/job/big.dcm", data)
    etag = store._s3.head_object(Bucket=inputs, Key="staging/redacted/job/big.dcm")["ETag"]
    assert etag.strip('"').endswith("-3"), etag  # three parts, completed as one object
    assert store.get(uri) == data
    published = S3ObjectStore(f"s3://{outputs}", transfer=parts)
    assert published.get(published.copy(uri, "clean/big.dcm")) == data  # copied part by part, server-side


def test_names_stay_inside_the_store(s3_env, s3_buckets) -> None:
    (bucket,) = s3_buckets("names")
    store = open_store(f"s3://{bucket}/root")
    for bad in ("../escape", "/absolute", "a//b"):
        with pytest.raises(ValueError):
            store.put(bad, b"x")


def test_server_stopped_is_unavailable_then_back(s3proxy_factory, monkeypatch: pytest.MonkeyPatch, derive) -> None:
    server: S3ProxyService = s3proxy_factory()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    server.create_bucket("pg-outage")
    store = open_store("s3://pg-outage")
    uri = store.put("staging/job/a.dcm", b"before")
    server.stop()
    secret = server.env()["AWS_SECRET_ACCESS_KEY"]
    for call in (lambda: store.put("staging/job/b.dcm", b"during"), lambda: store.get(uri),
                 lambda: store.exists("staging/job/a.dcm"), lambda: store.copy(uri, "clean/a.dcm")):
        with pytest.raises(StorageUnavailable) as caught:
            call()
        message = str(caught.value)
        assert "server is up" in message and "AWS_ENDPOINT_URL" in message, message
        assert not quoted(message, "pg-outage", "staging/job", server.endpoint, str(server.port), secret)
    # The stages retry it with backoff, then name what to do.
    ctx = StageContext(derive, store, None, retries=1, backoff_s=0.01)
    with pytest.raises(TransientExhausted) as exhausted:
        ctx.read("parse", uri)
    assert exhausted.value.code == "storage-unavailable" and "S3" in exhausted.value.reason
    server.start()  # same data folder, same port
    assert store.get(uri) == b"before"


def test_refused_credentials_are_unavailable_and_never_quoted(s3proxy, s3_buckets,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (bucket,) = s3_buckets("creds")
    env = s3proxy.env()
    monkeypatch.setenv("AWS_ENDPOINT_URL", env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-" + "x" * 20)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with pytest.raises(StorageUnavailable) as caught:
        open_store(f"s3://{bucket}").put("a", b"x")
    message = str(caught.value)
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_PROFILE" in message, message
    assert not quoted(message, env["AWS_ACCESS_KEY_ID"], "not-the-secret", bucket)
    # No credentials at all (and no instance role to ask): the same, naming the variables to set.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StorageUnavailable, match="AWS_SECRET_ACCESS_KEY"):
        open_store(f"s3://{bucket}").get(f"s3://{bucket}/a")


def test_endpoint_setting_wins_over_the_aws_variable(s3proxy, s3_buckets, monkeypatch: pytest.MonkeyPatch) -> None:
    (bucket,) = s3_buckets("endpoint")
    for key, value in s3proxy.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    store = open_store(f"s3://{bucket}", StoreOptions(s3_endpoint=s3proxy.endpoint))
    assert store.get(store.put("a", b"via the setting")) == b"via the setting"


def test_crosswalk_never_shares_a_bucket_or_folder_with_outputs(tmp_path: Path) -> None:
    assert shares("s3://out/clean", "s3://out/crosswalk/x.jsonl")
    assert not shares("s3://out", "s3://crosswalk")
    assert shares(str(tmp_path / "out"), str(tmp_path / "out" / "keys" / "key.json"))
    assert not shares(str(tmp_path / "out"), str(tmp_path / "keys" / "key.json"))
    assert not shares(str(tmp_path / "data" / "store"), str(tmp_path / "data" / "key.json"))  # a folder above: fine
    assert not shares("s3://out", str(tmp_path / "key.json"))
    with pytest.raises(ValueError, match="PIXELGUARD_OUTPUT_STORE"):
        refuse_shared(f"file://{tmp_path}/out", str(tmp_path / "out" / "crosswalk.jsonl"), "crosswalk")


def test_a_worker_refuses_outputs_that_would_hold_its_key_file(tmp_path: Path) -> None:
    from agents import wiring
    from pixelguard.settings import Settings

    shared = Settings(store=str(tmp_path / "store"), output_store=f"file://{tmp_path}/out",
                      key_file=tmp_path / "out" / "keys" / "key.json")
    with pytest.raises(ValueError, match="never share a bucket or folder with the outputs"):
        wiring.build_context(shared)
    assert not (tmp_path / "out" / "keys").exists()  # refused before a key was made
    wiring.check_placement(Settings(store=str(tmp_path / "store"), output_store="s3://outputs",
                                    key_file=tmp_path / "keys" / "key.json"))
