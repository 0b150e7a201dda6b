"""Does the same work cost more CPU time when every core is busy? A fixed computation alone, then as one copy per core.

    .venv/bin/python bench/vcpu_sharing.py [--rounds 4] [--products 4000]

Each copy is a separate process (one BLAS thread) computing a 300x300 float32 matrix product ``--products``
times and reporting its own CPU time. A round runs one copy alone, then one copy per core at once. On real,
unshared cores every copy costs the same CPU time alone or together; on virtual CPUs that share a physical core
(hyperthreads) or a host's caches and memory bandwidth with other tenants, copies running together cost more.
``bench/scale.py``'s capacity model measures the CPU per object with one worker, so this is the cost it cannot
carry when more workers keep every core busy (bench/README.md, "Scaling").
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = """
import sys, time
import numpy as np
a = np.random.default_rng(0).random((300, 300), dtype=np.float32)
t = time.process_time()
for _ in range(int(sys.argv[1])):
    a @ a
print(time.process_time() - t)
"""


def copies(count: int, products: int) -> list[float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(products)], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(count)]
    return [float(p.communicate()[0]) for p in procs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--products", type=int, default=4000)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    ratios = []
    for n in range(1, args.rounds + 1):
        alone = copies(1, args.products)[0]
        together = copies(cores, args.products)
        ratios.extend(t / alone for t in together)
        print(f"round {n}: alone {alone:.2f} CPU-s; {cores} at once " + " + ".join(f"{t:.2f}" for t in together)
              + " CPU-s (" + ", ".join(f"{t / alone:.2f}x" for t in together) + ")", flush=True)
    ratios.sort()
    print(f"CPU time of a copy running beside {cores - 1} other(s), over the same copy alone: median "
          f"{ratios[len(ratios) // 2]:.2f}x, worst {ratios[-1]:.2f}x ({len(ratios)} copies)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
