"""Telemetry adapters (OpenTelemetry): provider setup, trace-context helpers, metrics.

The pure core never imports this package; agents, the route hop and the CLI do.
"""
from .setup import setup, shutdown

__all__ = ["setup", "shutdown"]
