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
- object store: ``PIXELGUARD_STORE`` (a folder or a ``file://`` URI).
"""
from __future__ import annotations

from typing import Any

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.base import KeyService
from pixelguard.settings import Settings
from streams.objectstore import ObjectStore

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


def object_store(settings: Settings) -> ObjectStore:
    from streams.objectstore import open_store

    return open_store(settings.store)


def build_context(settings: Settings) -> StageContext:
    """Everything the stage steps need, built once per worker process."""
    keys = key_service(settings)
    return StageContext(derive=Derivations(keys.hmac), store=object_store(settings), detector=detector(settings),
                        crosswalk=crosswalk_store(settings, keys), retries=settings.retries,
                        backoff_s=settings.backoff_s, limits=settings.limits)
