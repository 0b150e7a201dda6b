"""Fault tests reuse the session's servers (``kafka``, ``kafka_factory``, ``triton`` from tests/fixtures,
registered in tests/conftest.py); a test that stops or kills a server takes a private one, so the
session's stay undisturbed. At the end the fault matrix is printed (and written to
``$PIXELGUARD_FAULT_REPORT`` as each test finishes)."""
from __future__ import annotations

from .matrix import ROWS, table


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if ROWS:
        terminalreporter.write_sep("=", "fault matrix")
        terminalreporter.write_line(table())
