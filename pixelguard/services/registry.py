"""Name -> local server, for ``pixelguard services``. Default ports; state under the cache folder."""
from __future__ import annotations

from .base import LocalService


def get(name: str) -> LocalService:
    if name == "kafka":
        from .kafka import KafkaService

        return KafkaService()
    if name == "openbao":
        from .openbao import OpenBaoRaftService

        return OpenBaoRaftService(port=8200)
    if name == "triton":
        from .triton import TritonService

        return TritonService()
    raise ValueError(f"unknown service {name!r}")
