"""``/v1/profiles``: the stored profiles, read-only, each with its resolved field table."""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam

from pixelguard.audit import profile_digest
from pixelguard.core import profile as profiles

from ..auth import caller
from ..errors import ApiError, responses
from ..schemas import FieldRow, ProfileDetail, ProfileList, ProfileSummary

# Any signed-in caller may read the stored profiles; changing profiles is profile-admin's (custom profiles).
router = APIRouter(prefix="/v1/profiles", tags=["profiles"], dependencies=[Depends(caller)])


def _summary(profile: profiles.Profile) -> ProfileSummary:
    return ProfileSummary(name=profile.name, description=profile.description, version=profile_digest(profile),
                          extends=list(profile.lineage[1:]),
                          options={o: profiles.OPTIONS[o] for o in profile.options})


@lru_cache(maxsize=64)
def _detail(name: str) -> ProfileDetail:
    # Stored profiles are files an operator may edit; profiles.load caches them per process the same way.
    profile = profiles.load(name)
    return ProfileDetail(**_summary(profile).model_dump(), settings=profiles.describe(profile),
                         fields=[FieldRow(**row) for row in profiles.field_table(profile)])


@router.get("", response_model=ProfileList, summary="Stored profiles", responses=responses())
def list_profiles() -> ProfileList:
    return ProfileList(profiles=[_summary(profiles.load(name)) for name in profiles.available()])


@router.get("/{name}", response_model=ProfileDetail, summary="A stored profile with its field table",
            responses=responses(404))
def get_profile(name: Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
                                               description="A stored profile's name")]) -> ProfileDetail:
    # Only stored names: a path here would read any file on the server.
    if name not in profiles.available():
        raise ApiError(404, "not-found", "no stored profile by that name; list them with GET /v1/profiles")
    return _detail(name)
