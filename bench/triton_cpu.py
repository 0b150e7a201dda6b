"""Run a command against a Triton started here and print the CPU seconds the server spent meanwhile.

    .venv/bin/python bench/triton_cpu.py -- .venv/bin/python bench/pixels.py --engine triton --limit 60 \\
        --no-presidio --triton-url {url}

bench/pixels.py counts only its own process's CPU, so with ``--engine triton`` the server's share (tritonserver
and its Python-backend stubs, from /proc) is missing from its CPU-s per image; this adds it. ``{url}`` in the
command becomes the server's gRPC host:port. The server uses deploy/triton/models as shipped and is stopped
by pid at the end.
"""
from __future__ import annotations

import subprocess
import sys
import time

from ocr_throughput import MODELS, start_triton, tree_cpu_s


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: bench/triton_cpu.py -- COMMAND ... {url} ...", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1:]
    service = start_triton(MODELS)
    try:
        pid = service.process.running_pid()
        command = [part.replace("{url}", service.grpc_url) for part in command]
        print(f"triton: {service.grpc_url} (pid {pid}); running: {' '.join(command)}", flush=True)
        before, started = tree_cpu_s(pid), time.perf_counter()
        code = subprocess.run(command).returncode
        wall, cpu = time.perf_counter() - started, tree_cpu_s(pid) - before
    finally:
        service.stop()
    print(f"\ntriton server (tritonserver + stubs): {cpu:.1f} CPU-s over {wall:.1f} s of the command "
          f"(exit {code})")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
