"""One settings object, one prefix: what a worker and the CLI read from their environment."""
from __future__ import annotations

from pathlib import Path

import pytest

from agents import wiring
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.settings import Settings


def test_every_worker_setting_comes_from_its_pixelguard_variable(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "PIXELGUARD_KAFKA_BOOTSTRAP": "kafka:9093", "PIXELGUARD_TOPIC_PREFIX": "site1",
        "PIXELGUARD_PARTITIONS": "8", "PIXELGUARD_TRITON_URL": "triton:8001", "PIXELGUARD_CROSSWALK": "none",
        "PIXELGUARD_KEY_FILE": str(tmp_path / "k.json"), "PIXELGUARD_REBALANCE_TIMEOUT_S": "240",
        "PIXELGUARD_VAULT_ADDR": "http://bao:8200", "PIXELGUARD_VAULT_ROLE_ID": "role",
        "PIXELGUARD_VAULT_SECRET_ID_FILE": "/run/secret", "PIXELGUARD_VAULT_PREFIX": "site1",
        "PIXELGUARD_TIME_S": "45", "PIXELGUARD_MAX_FRAMES": "100", "PIXELGUARD_METRICS_PORT": "9464",
        "PIXELGUARD_METRICS_HOST": "0.0.0.0",
    })
    assert (settings.bootstrap, settings.prefix, settings.partitions) == ("kafka:9093", "site1", 8)
    assert (settings.triton_url, settings.crosswalk, settings.key_file) == ("triton:8001", "none", tmp_path / "k.json")
    assert settings.rebalance_timeout_s == 240.0 and settings.app_id == "site1-agents"
    assert (settings.vault.addr, settings.vault.role_id, settings.vault.secret_id_file, settings.vault.prefix) == \
        ("http://bao:8200", "role", "/run/secret", "site1")
    assert (settings.limits.time_s, settings.limits.max_frames) == (45.0, 100)
    assert (settings.metrics_port, settings.metrics_host) == (9464, "0.0.0.0")
    assert Settings.from_env({}).metrics_port == 0  # off unless asked for


def test_flags_override_the_environment_and_empty_flags_do_not() -> None:
    settings = Settings.from_env({"PIXELGUARD_TOPIC_PREFIX": "env"}).with_flags(
        prefix="flag", bootstrap=None, triton_url="", vault_addr="http://flag:8200")
    assert (settings.prefix, settings.bootstrap, settings.vault.addr) == ("flag", "127.0.0.1:9092", "http://flag:8200")


def test_hvacs_names_still_work_but_ours_win() -> None:
    old = Settings.from_env({"VAULT_ADDR": "http://old:8200", "VAULT_TOKEN": "t-old"})
    assert (old.vault.addr, old.vault.token) == ("http://old:8200", "t-old")
    both = Settings.from_env({"VAULT_ADDR": "http://old:8200", "PIXELGUARD_VAULT_ADDR": "http://new:8200"})
    assert both.vault.addr == "http://new:8200"


def test_a_malformed_number_names_its_variable() -> None:
    with pytest.raises(ValueError, match="PIXELGUARD_CONCURRENCY must be a number"):
        Settings.from_env({"PIXELGUARD_CONCURRENCY": "two"})


def test_a_worker_without_vault_shares_the_local_key_file(tmp_path: Path) -> None:
    settings = Settings.from_env({"PIXELGUARD_KEY_FILE": str(tmp_path / "key.json")})
    first, second = wiring.key_service(settings), wiring.key_service(settings)
    assert isinstance(first, LocalKeyService) and (tmp_path / "key.json").exists()
    assert first.hmac("uid", b"1.2.3") == second.hmac("uid", b"1.2.3")


def test_a_vault_address_without_credentials_says_what_to_set() -> None:
    from pixelguard.keyservice.vault import VaultError

    with pytest.raises(VaultError, match="PIXELGUARD_VAULT_ROLE_ID .* PIXELGUARD_VAULT_TOKEN"):
        wiring.key_service(Settings.from_env({"PIXELGUARD_VAULT_ADDR": "http://127.0.0.1:1"}))


def test_the_api_and_job_store_settings_default_beside_the_key_file(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "key.json"
    settings = Settings.from_env({"PIXELGUARD_KEY_FILE": str(key), "PIXELGUARD_API_MAX_RATIO": "50",
                                  "PIXELGUARD_API_PORT": "9100"})
    assert settings.store_url == f"sqlite:///{key.parent.resolve() / 'jobs.sqlite3'}"
    assert settings.api_data_dir == key.parent / "api"
    assert (settings.api_host, settings.api_port, settings.api_max_ratio) == ("127.0.0.1", 9100, 50.0)
    url = "postgresql+psycopg://pg@127.0.0.1/pixelguard"
    assert Settings.from_env({"PIXELGUARD_DATABASE_URL": url}).store_url == url


def test_outputs_go_to_their_own_store_when_one_is_named(tmp_path: Path) -> None:
    settings = Settings.from_env({"PIXELGUARD_STORE": "s3://work", "PIXELGUARD_OUTPUT_STORE": "s3://released",
                                  "PIXELGUARD_S3_ENDPOINT": "http://127.0.0.1:9000"})
    assert (settings.store, settings.outputs, settings.s3_endpoint) == ("s3://work", "s3://released",
                                                                         "http://127.0.0.1:9000")
    assert wiring.store_options(settings).s3_endpoint == "http://127.0.0.1:9000"
    same = Settings.from_env({"PIXELGUARD_STORE": str(tmp_path / "store")})
    assert same.outputs == same.store  # unset: one store, as before
    assert same.with_flags(output_store=str(tmp_path / "out")).outputs == str(tmp_path / "out")
