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
    if name == "prometheus":
        from .prometheus import PrometheusService

        # Scrapes one worker run with PIXELGUARD_METRICS_PORT=9464 (the OTel Prometheus exporter's port).
        return PrometheusService(port=9090, targets=["127.0.0.1:9464"], scrape_interval_s=5.0)
    if name == "s3proxy":
        from .s3proxy import S3ProxyService

        # Clients take its endpoint and key pair from the aws.env file `services start s3proxy` names.
        return S3ProxyService(port=9000)
    if name == "jaeger":
        from .jaeger import JaegerService

        # Workers send spans with OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318.
        return JaegerService.on_default_ports()
    if name == "orthanc":
        from .orthanc import OrthancService

        # A source or research PACS for `pixelguard submit dicomweb://` / `feed orthanc` / `deliver dicomweb://`.
        return OrthancService(port=8042)
    if name == "keycloak":
        from .keycloak import KeycloakService

        # The local test realm (deploy/keycloak); the API takes --oidc-issuer http://127.0.0.1:8080/realms/pixelguard
        return KeycloakService(port=8080)
    if name == "postgres":
        from .postgres import PostgresService

        # The job store takes PIXELGUARD_DATABASE_URL=postgresql+psycopg://pixelguard@127.0.0.1:5433/pixelguard
        return PostgresService(port=5433)
    raise ValueError(f"unknown service {name!r}")
