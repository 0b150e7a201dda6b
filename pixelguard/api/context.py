"""What every route needs, built once per process from the settings."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from pixelguard.audit import AuditLog, JsonlAuditSink
from pixelguard.core.keys import Derivations
from pixelguard.jobstore import JobStore
from pixelguard.jobstore.custom_profiles import CustomProfileStore
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.settings import Settings

from .custom import CustomProfiles
from .runner import EmbeddedJobs, KafkaJobs
from .uploads import UploadLimits


@dataclass
class ApiContext:
    settings: Settings
    store: JobStore
    jobs: EmbeddedJobs | KafkaJobs
    audit: AuditLog
    derive: Derivations
    uploads: Path
    outputs: Path
    limits: UploadLimits
    custom: CustomProfiles

    @classmethod
    def build(cls, settings: Settings, kafka: bool = False) -> ApiContext:
        """``kafka``: jobs go to the ingest topic for the workers (``KafkaJobs``), else the embedded runner."""
        if settings.vault.configured:
            raise ValueError("the API runs jobs on the embedded runner with the local key file; unset "
                             "PIXELGUARD_VAULT_ADDR (Vault-backed jobs come with the Kafka runner)")
        data = settings.api_data_dir.expanduser().resolve()
        key_file = settings.key_file.expanduser().resolve()
        if data in key_file.parents or key_file.parent == data:
            raise ValueError("PIXELGUARD_API_DATA must not hold the key file: outputs are released from it")
        uploads, outputs = data / "uploads", data / "outputs"
        for folder in (uploads, outputs):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = JobStore.open(settings.store_url, outside=[outputs, uploads])
        keys = LocalKeyService.open(key_file)
        # One trail with the embedded runner's: beside the key file, apart from the outputs.
        audit = AuditLog([JsonlAuditSink(key_file.parent / "audit.jsonl")])
        limits = UploadLimits(settings.api_max_upload_bytes, settings.api_max_objects,
                              settings.api_max_inflated_bytes, settings.api_max_ratio)
        custom = CustomProfiles(CustomProfileStore(store), data / "profiles")
        derive = Derivations(keys.hmac)
        jobs: EmbeddedJobs | KafkaJobs
        if kafka:
            jobs = KafkaJobs(settings, store, uploads, derive)
        else:
            jobs = EmbeddedJobs(settings, store, uploads, outputs, data / "logs", custom.folder)
        return cls(settings, store, jobs, audit, derive, uploads, outputs, limits, custom)


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx
