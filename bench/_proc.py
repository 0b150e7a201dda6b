"""Reading one process's figures from /proc, for the benches that watch worker processes (realfiles, soak),
and timing a whole command with its workers (pixels, volume)."""
from __future__ import annotations

import os
import resource
import subprocess
import time
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


def machine_busy_s() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat): the machine's load, ours included."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    guest = sum(ticks[8:10]) if len(ticks) >= 10 else 0  # already counted in user/nice
    return (sum(ticks) - idle - guest) / os.sysconf("SC_CLK_TCK")


def timed(command: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and every worker it waited for) of one command; an exit
    code outside ``ok`` raises with the end of its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok:
        raise RuntimeError(f"{Path(command[0]).name} exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
