"""One place wires a streaming worker: its adapters, each behind its interface, built from ``Settings``.

``pixelguard worker`` runs ``agents.app.run_worker(settings)``, whose ``build_app`` calls ``build_context``
here; ``pixelguard submit`` and ``review`` take their key service and object store from here too, so every
process of a deployment reaches Vault, Kafka, Triton and the store the same way. The choices:

- keys: Vault/OpenBao transit when ``PIXELGUARD_VAULT_ADDR`` is set (a worker logs in with Kubernetes auth in
  a pod, with its AppRole elsewhere, or uses a token), else the local key file, shared by every worker on the
  machine;
- crosswalk: the compacted crosswalk topic, encrypted by those keys (``PIXELGUARD_CROSSWALK=none``: none);
- OCR engine: Triton when ``PIXELGUARD_TRITON_URL`` is set, else the in-process engine
  (``inference.base.ENGINES`` names both);
- object stores: ``PIXELGUARD_STORE`` (a folder, ``file://`` or ``s3://`` URI) for submitted inputs and
  staging, ``PIXELGUARD_OUTPUT_STORE`` (default: the same) for clean and review objects; ``s3://`` endpoints
  from ``PIXELGUARD_S3_ENDPOINT`` or ``AWS_ENDPOINT_URL``, credentials only from the standard AWS chain.
  The crosswalk never shares a bucket or folder with the outputs (``streams/objectstore/placement.py``):
  such a configuration is refused before a worker starts.
"""
from __future__ import annotations

from typing import Any

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.base import KeyService
from pixelguard.settings import Settings
from streams.objectstore import ObjectStore, StoreOptions

from .stages import StageContext


def key_service(settings: Settings) -> KeyService:
    vault = settings.vault
    if vault.configured:
        from pixelguard.keyservice.vault import VaultError, VaultKeyService, VaultLayout  # only when configured

        layout = VaultLayout(prefix=vault.prefix)
        if vault.kubernetes_role:
            from pixelguard.keyservice.vault_login import KubernetesLogin

            login = KubernetesLogin(vault.kubernetes_role, vault.kubernetes_token_file, vault.kubernetes_mount)
            return VaultKeyService.logged_in(vault.addr, login, layout=layout)
        if vault.role_id:
            secret_id = vault.secret_id
            if vault.secret_id_file:
                with open(vault.secret_id_file) as handle:
                    secret_id = handle.read().strip()
            if not secret_id:
                raise VaultError("a worker with PIXELGUARD_VAULT_ROLE_ID needs its secret id: set "
                                 "PIXELGUARD_VAULT_SECRET_ID_FILE (or PIXELGUARD_VAULT_SECRET_ID)")
            return VaultKeyService.for_worker(vault.addr, vault.role_id, secret_id, layout=layout)
        if not vault.token:
            raise VaultError("PIXELGUARD_VAULT_ADDR is set but none of PIXELGUARD_VAULT_KUBERNETES_ROLE (a worker in "
                             "a pod), PIXELGUARD_VAULT_ROLE_ID (a worker) or PIXELGUARD_VAULT_TOKEN is: set one, "
                             "or unset the address to use the local key file")
        service = VaultKeyService.connect(vault.addr, vault.token, layout=layout)
        service.load_hmac_key()
        return service
    from pixelguard.keyservice.local import LocalKeyService

    # create=True: the first process makes the key (O_EXCL), every other worker opens the same file.
    return LocalKeyService.open(settings.key_file, create=True)


def crosswalk_store(settings: Settings, keys: KeyService) -> Any:
    """The crosswalk store (``crosswalk.base.CrosswalkStore``), or None when the run records none."""
    if settings.crosswalk == "none":
        return None
    from pixelguard.crosswalk.kafka import KafkaCrosswalk
    from streams.topics import topic_name

    return KafkaCrosswalk(settings.bootstrap, keys, topic_name("crosswalk", settings.prefix))


def detector(settings: Settings) -> Any:
    """The OCR engine (``core.textsearch.Detector``) the settings name."""
    from inference.base import engine

    if settings.triton_url:
        return engine("triton", url=settings.triton_url, retries=settings.retries, backoff_s=settings.backoff_s)
    return engine("local")


def store_options(settings: Settings) -> StoreOptions:
    return StoreOptions(s3_endpoint=settings.s3_endpoint)


def object_store(settings: Settings) -> ObjectStore:
    """Submitted inputs (``ingest/``) and staging."""
    from streams.objectstore import open_store

    return open_store(settings.store, store_options(settings))


def output_store(settings: Settings) -> ObjectStore:
    """Where clean and review objects are published: ``PIXELGUARD_OUTPUT_STORE``, else the object store."""
    from streams.objectstore import open_store

    return open_store(settings.outputs, store_options(settings))


def check_placement(settings: Settings) -> None:
    """Refuse, before anything starts, outputs that would share a bucket or folder with the crosswalk.

    The crosswalk is the compacted Kafka topic (no bucket), encrypted by Vault's transit key or by the local
    key file; the local key file keeps its own crosswalk (``deid``'s) beside it. So what to keep apart from
    the outputs is the key file and that crosswalk, whenever a local key file is in use.
    """
    from pixelguard.crosswalk.local import crosswalk_path
    from streams.objectstore.placement import refuse_shared

    if not settings.vault.configured:
        key_file = settings.key_file.expanduser()
        refuse_shared(settings.outputs, str(key_file), "key file")
        refuse_shared(settings.outputs, str(crosswalk_path(key_file)), "crosswalk")


def checked_stores(settings: Settings) -> tuple[ObjectStore, ObjectStore | None]:
    """The object store and, when it is another place, the output store; each S3 bucket checked now.

    A missing bucket or refused credentials stop the worker at start with what to fix, rather than failing
    every object later.
    """
    from streams.objectstore import scheme_of

    store = object_store(settings)
    outputs = output_store(settings) if settings.outputs != settings.store else None
    for each in (store, outputs):
        if each is not None and scheme_of(each.root_uri) == "s3":
            from streams.objectstore.s3 import S3ObjectStore  # boto3 only for S3

            if isinstance(each, S3ObjectStore):
                each.check()
    return store, outputs


def build_context(settings: Settings) -> StageContext:
    """Everything the stage steps need, built once per worker process."""
    check_placement(settings)
    keys = key_service(settings)
    store, outputs = checked_stores(settings)
    return StageContext(derive=Derivations(keys.hmac), store=store, outputs=outputs, detector=detector(settings),
                        crosswalk=crosswalk_store(settings, keys), retries=settings.retries,
                        backoff_s=settings.backoff_s, limits=settings.limits)
