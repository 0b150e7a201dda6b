"""Custom profiles: a definition (extends + options + overrides) checked by the same loader as the stored
profiles, kept as numbered versions in the job store and as one immutable file per version for the runner.

Each version's file is ``<data>/profiles/<name>/<digest>.yaml``: the digest is what a job records as its
profile version, so the runner finds exactly the definition the job was accepted with, whatever changed since.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from pixelguard.audit import profile_digest
from pixelguard.core import profile as profiles
from pixelguard.jobstore.custom_profiles import CustomProfileStore, ProfileVersionRow

from .errors import ApiError

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


class ProfileBody(BaseModel):
    """A custom profile: a stored base, the standard's options on top, and per-attribute overrides."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not silently dropped

    name: str = Field(pattern=NAME_PATTERN, description="Lower-case name; not a stored profile's")
    description: str = Field(default="", max_length=500)
    extends: str = Field(default="basic", pattern=NAME_PATTERN, description="A stored profile to start from")
    options: list[str] = Field(default_factory=list, max_length=10,
                               description="PS3.15 options (rtnUIDsOpt, ...), added to the base's")
    overrides: dict[str, str] = Field(default_factory=dict, max_length=500,
                                      description="Attribute keyword or (gggg,eeee) -> action code (D, Z, X, K, C, U)")
    redaction: Literal["all", "phi", "off"] | None = None
    review_threshold: float | None = Field(default=None, ge=0.0, le=1.0)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "description": self.description, "extends": self.extends,
                               "options": list(self.options), "overrides": dict(self.overrides)}
        if self.redaction is not None:
            doc["redaction"] = self.redaction
        if self.review_threshold is not None:
            doc["review_threshold"] = self.review_threshold
        return doc


class CustomProfiles:
    def __init__(self, store: CustomProfileStore, folder: Path) -> None:
        self.store = store
        self.folder = folder

    def validate(self, body: ProfileBody) -> profiles.Profile:
        """The profile as the loader builds it; 422 with the loader's reason when it refuses."""
        if body.extends not in profiles.available():
            raise ApiError(422, "invalid", "extends must name a stored profile (GET /v1/profiles)")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=self.folder) as scratch:
            path = Path(scratch) / "profile.yaml"
            path.write_text(yaml.safe_dump(body.document(), sort_keys=False))
            try:
                return profiles.load_file(path)
            except profiles.ProfileError as exc:
                raise ApiError(422, "invalid", f"the profile loader refused it: {exc}; fix the definition "
                               "and send it again") from None

    def save(self, body: ProfileBody, actor: str) -> tuple[ProfileVersionRow, profiles.Profile]:
        if body.name in profiles.available():
            raise ApiError(409, "read-only", "stored profiles are read-only; create a custom profile with "
                           "another name that extends it")
        profile = self.validate(body)
        digest = profile_digest(profile)
        target = self.path(body.name, digest)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        part = target.with_suffix(".part")
        part.write_text(yaml.safe_dump(body.document(), sort_keys=False))
        os.replace(part, target)
        return self.store.add(body.name, digest, body.model_dump(), actor), profile

    def path(self, name: str, digest: str) -> Path:
        return self.folder / name / f"{digest}.yaml"

    def load(self, name: str) -> tuple[ProfileVersionRow, profiles.Profile] | None:
        """The latest version of a custom profile, or None."""
        row = self.store.latest(name)
        if row is None:
            return None
        return row, profiles.load_file(self.path(name, row.digest))
