# Session-scoped real servers (Apache Kafka KRaft, OpenBao, Triton, s3proxy), each started once on free loopback
# ports and stopped by pid at the end of the session.
import os

import pytest

from pixelguard.core import profile as profiles
from pixelguard.core.keys import Derivations
from pixelguard.core.quiet import silence_value_echoes
from pixelguard.keyservice.local import LocalKeyService

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.openbao", "tests.fixtures.triton", "tests.fixtures.s3",
                  "tests.fixtures.jaeger", "tests.fixtures.orthanc"]
pytest_plugins += ["tests.fixtures.keycloak", "tests.fixtures.postgres"]  # started lazily, when a test asks

silence_value_echoes()

# The per-object time budget (core.limits) is wall-clock: on 2 cores shared with the servers the tests start,
# a 10-frame object can take longer than the product's 25 s default. The tests of the budget set their own
# small Limits; every other test (and the workers they start, which inherit this) gets room.
os.environ.setdefault("PIXELGUARD_TIME_S", "600")
os.environ.setdefault("PIXELGUARD_HARD_TIME_S", "1200")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> LocalKeyService:
    return LocalKeyService.open(tmp_path_factory.mktemp("keys") / "key.json")


@pytest.fixture(scope="session")
def derive(keys: LocalKeyService) -> Derivations:
    return Derivations(keys.hmac)


@pytest.fixture(scope="session")
def basic() -> profiles.Profile:
    return profiles.load("basic")


@pytest.fixture(scope="session")
def detector():
    from inference.local_engine import LocalDetector

    return LocalDetector()
