"""Data files the package ships (``pyproject.toml`` package-data): the profiles and the vendored PS3.15 and
TCIA tables (``profiles/``), the Triton model repository (``triton_models/``) and the OpenBao policies
(``openbao/``). In a checkout these are links to the repository's top-level folders, which stay where the
design puts them; a built wheel holds copies. ``core/profile.py``, ``services/triton.py`` and
``keyservice/vault_setup.py`` find them here.
"""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent
PROFILES = DATA / "profiles"
TRITON_MODELS = DATA / "triton_models"
OPENBAO_POLICIES = DATA / "openbao"
