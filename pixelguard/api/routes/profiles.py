"""``/v1/profiles``: stored profiles (read-only) and custom ones (created and changed as new versions),
each with its resolved field table and its difference from the profile it extends."""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam

from pixelguard.audit import profile_digest
from pixelguard.core import profile as profiles
from pixelguard.jobstore.custom_profiles import ProfileVersionRow

from ..auth import Caller, caller, require
from ..context import ApiContext, context
from ..custom import NAME_PATTERN, ProfileBody
from ..errors import ApiError, responses
from ..schemas import CustomProfileDetail, FieldRow, ProfileDetail, ProfileList, ProfileSummary, ProfileVersionInfo
from .common import audit

# Any signed-in caller may read profiles; creating and changing them is profile-admin's (require below).
router = APIRouter(prefix="/v1/profiles", tags=["profiles"], dependencies=[Depends(caller)])
Name = Annotated[str, PathParam(pattern=NAME_PATTERN, description="A stored or custom profile's name")]


def _summary(profile: profiles.Profile) -> ProfileSummary:
    return ProfileSummary(name=profile.name, description=profile.description, version=profile_digest(profile),
                          extends=list(profile.lineage[1:]),
                          options={o: profiles.OPTIONS[o] for o in profile.options})


@lru_cache(maxsize=64)
def _rows(name: str) -> tuple[FieldRow, ...]:
    # Stored profiles are files an operator may edit; profiles.load caches them per process the same way.
    return tuple(FieldRow(**row) for row in profiles.field_table(profiles.load(name)))


def _detail(profile: profiles.Profile, rows: list[FieldRow], row: ProfileVersionRow | None) -> CustomProfileDetail:
    base = profile.lineage[1] if len(profile.lineage) > 1 else None
    diff = []
    if base is not None:
        diff = [mine for mine, theirs in zip(rows, _rows(base), strict=True) if mine.action != theirs.action]
    return CustomProfileDetail(**_summary(profile).model_dump(), settings=profiles.describe(profile), fields=rows,
                               kind="custom" if row else "stored", number=row.version if row else None,
                               definition=row.body if row else None, diff=diff)


def detail(ctx: ApiContext, name: str) -> CustomProfileDetail:
    """A stored profile, or a custom one's latest version; 404 for neither."""
    if name in profiles.available():
        return _detail(profiles.load(name), list(_rows(name)), None)
    found = ctx.custom.load(name)
    if found is None:
        raise ApiError(404, "not-found", "no profile by that name; list them with GET /v1/profiles")
    row, profile = found
    return _detail(profile, [FieldRow(**r) for r in profiles.field_table(profile)], row)


@router.get("", response_model=ProfileList, summary="Stored and custom profiles", responses=responses())
def list_profiles(ctx: Annotated[ApiContext, Depends(context)]) -> ProfileList:
    stored = [_summary(profiles.load(name)) for name in profiles.available()]
    custom = [_summary(found[1]) for name in ctx.custom.store.names() if (found := ctx.custom.load(name))]
    return ProfileList(profiles=stored + custom)


@router.get("/{name}", response_model=CustomProfileDetail, summary="A profile with its field table and diff",
            responses=responses(404))
def get_profile(name: Name, ctx: Annotated[ApiContext, Depends(context)]) -> ProfileDetail:
    # Only stored or recorded names: a path here would read any file on the server.
    return detail(ctx, name)


@router.get("/{name}/versions", response_model=list[ProfileVersionInfo], summary="A custom profile's versions",
            responses=responses(404))
def versions(name: Name, ctx: Annotated[ApiContext, Depends(context)]) -> list[ProfileVersionInfo]:
    rows = ctx.custom.store.versions(name)
    if not rows:
        raise ApiError(404, "not-found", "no custom profile by that name (stored profiles have no versions here)")
    return [ProfileVersionInfo(version=r.version, digest=r.digest, created_at=r.created_at) for r in rows]


def save(ctx: ApiContext, who: Caller, body: ProfileBody, new: bool) -> CustomProfileDetail:
    if body.name in profiles.available():
        raise ApiError(409, "read-only", "stored profiles are read-only; create a custom profile with another "
                       "name that extends it")
    exists = ctx.custom.store.latest(body.name) is not None
    if new and exists:
        raise ApiError(409, "exists", "a custom profile by that name exists; change it with PUT /v1/profiles/{name}")
    if not new and not exists:
        raise ApiError(404, "not-found", "no custom profile by that name; create it with POST /v1/profiles")
    checked = ctx.custom.validate(body)  # a refused definition changes nothing
    # Recorded before the change is made: a change that cannot be audited does not happen.
    audit(ctx, who, "profile.change", "ok", targets={"profile": body.name}, change="create" if new else "edit",
          digest=profile_digest(checked))
    row, profile = ctx.custom.save(body, who.actor)
    return _detail(profile, [FieldRow(**r) for r in profiles.field_table(profile)], row)


@router.post("", response_model=CustomProfileDetail, status_code=201, summary="Create a custom profile",
             responses=responses(409, 503))
def create(body: ProfileBody, ctx: Annotated[ApiContext, Depends(context)],
           who: Annotated[Caller, Depends(require("profile-admin"))]) -> CustomProfileDetail:
    return save(ctx, who, body, new=True)


@router.put("/{name}", response_model=CustomProfileDetail, summary="Change a custom profile (a new version)",
            responses=responses(404, 409, 503))
def edit(name: Name, body: ProfileBody, ctx: Annotated[ApiContext, Depends(context)],
         who: Annotated[Caller, Depends(require("profile-admin"))]) -> CustomProfileDetail:
    if body.name != name:
        raise ApiError(422, "invalid", "the body's name must be the name in the path (rename by creating a new one)")
    return save(ctx, who, body, new=False)
