"""Does the same work cost more CPU time when every core is busy? A fixed computation alone, then as one copy per core.

    .venv/bin/python bench/vcpu_sharing.py [--rounds 4] [--work matmul|detector] [--repeat N]

Each copy is a separate process reporting its own CPU time for ``--repeat`` units of work: a 300x300 float32
matrix product with one BLAS thread (``matmul``, 4,000 by default), or one pass of PixelGuard's in-process text
detector over a 512x512 frame, as a worker runs it (``detector``: one onnxruntime thread, 25 by default).
A round runs one copy alone, then one copy per core at once. On real, unshared cores every copy costs the same
CPU time alone or together; on virtual CPUs that share a physical core (hyperthreads) or a host's caches and
memory bandwidth with other tenants, copies running together cost more.
``bench/scale.py``'s capacity model measures the CPU per object with one worker, so this is the cost it cannot
carry when more workers keep every core busy (bench/README.md, "Scaling").
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILDREN = {
    "matmul": """
import sys, time
import numpy as np
a = np.random.default_rng(0).random((300, 300), dtype=np.float32)
t = time.process_time()
for _ in range(int(sys.argv[1])):
    a @ a
print(time.process_time() - t)
""",
    # Set-up (model load, one warm-up pass) is outside the timed loop.
    "detector": """
import sys, time
import numpy as np
from inference.local_engine import LocalDetector
detector = LocalDetector()
frame = (np.random.default_rng(0).random((512, 512, 3)) * 60).astype(np.uint8)
detector.detect([frame])
t = time.process_time()
for _ in range(int(sys.argv[1])):
    detector.detect([frame])
print(time.process_time() - t)
""",
}
DEFAULT_REPEAT = {"matmul": 4000, "detector": 25}


def copies(count: int, work: str, repeat: int) -> list[float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PIXELGUARD_OCR_THREADS="1", PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", CHILDREN[work], str(repeat)], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(count)]
    return [float(p.communicate()[0]) for p in procs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--work", choices=sorted(CHILDREN), default="matmul")
    parser.add_argument("--repeat", type=int, help="units of work per copy (default: 4000 products, 25 passes)")
    args = parser.parse_args()
    repeat = args.repeat or DEFAULT_REPEAT[args.work]
    cores = os.cpu_count() or 1
    ratios = []
    for n in range(1, args.rounds + 1):
        alone = copies(1, args.work, repeat)[0]
        together = copies(cores, args.work, repeat)
        ratios.extend(t / alone for t in together)
        print(f"round {n}: alone {alone:.2f} CPU-s; {cores} at once " + " + ".join(f"{t:.2f}" for t in together)
              + " CPU-s (" + ", ".join(f"{t / alone:.2f}x" for t in together) + ")", flush=True)
    ratios.sort()
    print(f"CPU time of a copy running beside {cores - 1} other(s), over the same copy alone: median "
          f"{ratios[len(ratios) // 2]:.2f}x, worst {ratios[-1]:.2f}x ({len(ratios)} copies)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
