"""Reading one process's figures from /proc, for the benches that watch worker processes (realfiles, soak)."""
from __future__ import annotations

from pathlib import Path


def status_value(pid: int, field: str) -> int:
    """The number after ``<field>:`` in /proc/PID/status (VmRSS and VmHWM in kB, Threads); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
