from __future__ import annotations

from pathlib import Path

import pytest

from inference.local_engine import LocalDetector
from pixelguard.core import profile as profiles
from pixelguard.core.keys import Derivations
from pixelguard.core.quiet import silence_value_echoes
from pixelguard.keyservice.local import LocalKeyService

silence_value_echoes()


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
def detector() -> LocalDetector:
    return LocalDetector()


def nibabel_data() -> Path:
    import nibabel

    return Path(nibabel.__file__).parent / "tests" / "data"
