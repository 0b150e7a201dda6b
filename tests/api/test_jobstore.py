"""The job store: written by ``deid`` as objects finish, read by ``job status``, migrated at open, kept apart
from outputs; and the API's refusals of configurations it cannot make safe.

Tests taking ``store_url`` run twice: on SQLite and on a real PostgreSQL (tests/fixtures/postgres.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelguard.cli import main
from pixelguard.jobstore import JobStore
from pixelguard.samples import FakePatient, text_png

PATIENT = FakePatient("STOREWELL^AUGUSTINA", "MRN8880001", "19610203")


def test_deid_records_each_object_and_job_status_reads_the_store(tmp_path: Path, capsys, monkeypatch,
                                                                 store_url: str) -> None:
    monkeypatch.setenv("PIXELGUARD_DATABASE_URL", store_url)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "STOREWELL.png").write_bytes(text_png(PATIENT, size=(64, 48)))
    (inputs / "garbage.bin").write_bytes(b"not an image")
    key = tmp_path / "keys" / "key.json"
    code = main(["deid", str(inputs), "--out", str(tmp_path / "out"), "--key-file", str(key), "--job", "job-cli-1",
                 "--redaction", "off", "--jobs", "1"])
    assert code == 1  # one error
    capsys.readouterr()
    assert main(["job", "status", "job-cli-1", "--json", "--key-file", str(key)]) == 1
    status = json.loads(capsys.readouterr().out)
    # Under --redaction off an image that may carry burned-in text is held for review.
    assert status == {"job_id": "job-cli-1", "state": "done", "profile": "basic", "submitted": 2, "clean": 0,
                      "review": 1, "error": 1, "in_flight": 0}, status
    store = JobStore.open(store_url)
    objects = store.objects("job-cli-1")
    manifest = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(o.input_id for o in objects) == sorted(m["input_id"] for m in manifest)
    assert store.job("job-cli-1").source == "cli"


def test_objects_recorded_in_one_group_read_as_if_recorded_one_by_one(store_url: str) -> None:
    store = JobStore.open(store_url)
    store.create_job("job-group", "basic", "d1", source="api", input_ids=["in-a", "in-b"], state="running")
    store.record_objects("job-group", [
        {"input_id": "in-b", "status": "review", "reason": "sweep: name", "output": "review/b.dcm"},
        {"input_id": "in-new", "status": "clean", "output": "n.dcm", "sweep_hits": 0},
        {"input_id": "in-a", "status": "clean", "output": "a.dcm"},
    ])
    store.record_objects("job-group", [])  # an empty group (a run that decided nothing since) changes nothing
    store.record_objects("job-group", [{"input_id": "in-new", "status": "error", "reason": "internal: x"}])
    objects = {o.input_id: o for o in store.objects("job-group")}
    assert [(o.seq, o.status) for o in sorted(objects.values(), key=lambda o: o.seq)] == [
        (1, "clean"), (2, "review"), (3, "error")]  # listed objects keep their place; a new one is added once
    assert objects["in-b"].output == "review/b.dcm" and objects["in-new"].reason == "internal: x"
    assert store.job("job-group").counts == {"pending": 0, "clean": 1, "review": 1, "error": 1}


def test_a_store_inside_the_output_folder_is_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PIXELGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'out' / 'jobs.sqlite3'}")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.bin").write_bytes(b"x")
    code = main(["deid", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                 "--key-file", str(tmp_path / "k" / "key.json"), "--redaction", "off", "--jobs", "1"])
    assert code == 2
    assert "inside the output folder" in capsys.readouterr().err
    assert not (tmp_path / "out" / "jobs.sqlite3").exists()


def test_migrations_create_exactly_the_models_and_run_once(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pixelguard.jobstore.models import Base

    url = store_url
    JobStore.open(url).close()
    store = JobStore.open(url)  # a second open finds nothing to do
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.exec_driver_sql("select version_num from alembic_version").scalar() == "0002"


def test_a_job_left_running_by_a_stopped_api_is_closed_with_nothing_lost(tmp_path: Path, store_url: str) -> None:
    from pixelguard.api.runner import EmbeddedJobs
    from pixelguard.settings import Settings

    store = JobStore.open(store_url)
    store.create_job("job-left", "basic", "d1", source="api", input_ids=["in-a", "in-b"], state="running")
    store.record_object("job-left", {"input_id": "in-a", "status": "clean", "output": "x.dcm"})
    store.start_job("job-terminal", "basic", "d1", source="cli")  # a deid in another process: left alone
    jobs = EmbeddedJobs(Settings(), store, tmp_path / "u", tmp_path / "o", tmp_path / "l")
    jobs.start()
    jobs.stop()
    view = store.job("job-left")
    assert view.state == "failed" and "interrupted" in view.reason
    assert view.counts == {"pending": 0, "clean": 1, "review": 0, "error": 1}
    assert store.job("job-terminal").state == "running"


@pytest.mark.parametrize("argv, message", [
    (["api", "--host", "0.0.0.0", "--no-auth"], "refusing --no-auth on 0.0.0.0"),
    (["api", "--host", "10.1.2.3", "--no-auth"], "refusing --no-auth on 10.1.2.3"),
    (["api", "--host", "api.example.org", "--no-auth"], "refusing --no-auth on api.example.org"),
    (["api"], "give --oidc-issuer"),
    (["api", "--no-auth", "--oidc-issuer", "http://127.0.0.1:1/realms/x"], "pick one"),
])
def test_the_api_refuses_what_it_cannot_make_safe(argv: list[str], message: str, capsys, monkeypatch) -> None:
    monkeypatch.delenv("PIXELGUARD_OIDC_ISSUER", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_api_serves_jobs_that_deid_ran_from_a_terminal(tmp_path: Path, monkeypatch, store_url: str) -> None:
    """The README's path: run the demo (deid), then start the API on the same key file and read its job; on
    PostgreSQL too, where both share the database PIXELGUARD_DATABASE_URL names."""
    from fastapi.testclient import TestClient

    from pixelguard.api.app import create_app
    from pixelguard.api.context import ApiContext
    from pixelguard.settings import Settings

    from .conftest import api_env

    monkeypatch.setenv("PIXELGUARD_DATABASE_URL", store_url)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "STOREWELL.png").write_bytes(text_png(PATIENT, size=(64, 48)))
    env = api_env(tmp_path, PIXELGUARD_DATABASE_URL=store_url)
    assert main(["deid", str(tmp_path / "in"), "--out", str(tmp_path / "demo-out"), "--key-file",
                 env["PIXELGUARD_KEY_FILE"], "--job", "job-demo", "--redaction", "off", "--jobs", "1"]) == 1
    with TestClient(create_app(ApiContext.build(Settings.from_env(env)), run_jobs=False)) as client:
        jobs = client.get("/v1/jobs").json()["jobs"]
        assert [(j["job_id"], j["source"], j["state"], j["total"]) for j in jobs] == [("job-demo", "cli", "done", 1)]
        report = client.get("/v1/jobs/job-demo/report").json()
        assert [o["status"] for o in report["objects"]] == ["review"]
        assert "STOREWELL" not in json.dumps(report)
