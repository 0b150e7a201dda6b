"""Text detection on 512x512 frames: Triton (concurrent clients, batcher optional) vs in-process, same CPU.

    .venv/bin/python bench/ocr_throughput.py                          # 48 frames, 4 clients, servers 2x1 and 1x2
    .venv/bin/python bench/ocr_throughput.py --servers 2x1 --frames-per-request 1,4
    .venv/bin/python bench/ocr_throughput.py --batch-sizes 1,2,4 --frames 8 --servers 2x1   # batch sweep
    .venv/bin/python bench/ocr_throughput.py --triton-url 127.0.0.1:8001 --batch-sizes 1,2,4,8,16,32,64

The comparison, on the same frames and the same cores:
- in-process as the product runs it: ``pixelguard deid`` runs one worker process per core, each with a
  one-thread LocalDetector; here 2 processes x 1 onnxruntime thread share the frames (and, for reference,
  1 process x 2 threads);
- Triton as the streaming workers use it: ``--clients`` client threads (4) each send their frames to
  ``text_detector`` (one frame per request, or an object's frames in one request with
  ``--frames-per-request``). The shipped CPU config has no dynamic batcher (its thread polls inside
  tritonserver while requests wait); ``--queue-delay-us N`` adds one with that wait, to compare. Each
  server layout in ``--servers`` (INSTANCESxTHREADS: model instances x onnxruntime intra-op threads) is
  started in turn from a copy of deploy/triton/models/text_detector/config.pbtxt with only those numbers
  (and the batcher) changed.
Images/s = frames / wall time after a warm-up; CPU-s/image counts every process that worked (the client
and Triton with its Python-backend stubs, or the worker processes), from /proc. Each Triton run checks
its boxes against the in-process engine's for every frame. ``overhead/req`` is the client's mean request
time minus the server's (gRPC transfer and (de)serialisation: what system shared memory could save).

``--batch-sizes`` is the GPU bench: images/s for requests of B frames each (one client; ``--batch-clients``
to overlap requests), against ``--triton-url`` (a GPU Triton from deploy/k8s/overlays/gpu, whose
text_detector takes batches up to 64) or against a CPU Triton started here with max_batch_size set to the
largest B. The 512x512 frames are scaled to 736x736 by the detector's pre-processing (dbnet.DetectorSettings),
as in the product.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pixelguard_testkit import synthetic

MODELS = REPO / "deploy" / "triton" / "models"
WORK = REPO / ".cache" / "bench" / "ocr-throughput"
_FRAMES: list[np.ndarray] = []  # inherited by forked workers


def frames_512(count: int, seed: int = 3) -> list[np.ndarray]:
    """512x512 RGB renderings of synthetic objects (cropped or padded to 512x512)."""
    import io

    import pydicom

    from pixelguard.core.pixels import dicom_stored_frames, render_dicom, render_image

    out: list[np.ndarray] = []
    index = 0
    while len(out) < count:
        sample = synthetic.generate(index, seed)
        index += 1
        if sample.extension == ".dcm":
            ds = pydicom.dcmread(io.BytesIO(sample.data))
            rendered = render_dicom(ds, dicom_stored_frames(ds))
        else:
            rendered = [render_image(f) for f in synthetic.decode(sample.data)]
        for frame in rendered[:1]:
            canvas = np.zeros((512, 512, 3), np.uint8)
            h, w = min(512, frame.shape[0]), min(512, frame.shape[1])
            canvas[:h, :w] = frame[:h, :w]
            out.append(canvas)
    return out[:count]


# -- CPU accounting ----------------------------------------------------------------------------------------
def _proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """pid and its descendants (Triton's Python-backend stubs are its children)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(parents.get(current, []))
    return out


def tree_cpu_s(pid: int | None) -> float:
    return 0.0 if pid is None else sum(_proc_cpu_s(p) for p in _tree(pid))


# -- results -----------------------------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    frames: int
    wall_s: float
    cpu_s: float
    found: list[list]  # regions per frame, in frame order
    note: str = ""

    @property
    def rate(self) -> float:
        return self.frames / self.wall_s

    @property
    def cpu_per_image(self) -> float:
        return self.cpu_s / self.frames


def same_boxes(a: list[list], b: list[list]) -> int:
    """How many frames differ in their regions (count, or a corner more than 1 px off)."""
    differ = 0
    for mine, theirs in zip(a, b, strict=True):
        if len(mine) != len(theirs):
            differ += 1
            continue
        for x, y in zip(sorted(mine, key=lambda r: r.quad), sorted(theirs, key=lambda r: r.quad), strict=True):
            if not np.allclose(np.asarray(x.quad), np.asarray(y.quad), atol=1.0):
                differ += 1
                break
    return differ


# -- in-process --------------------------------------------------------------------------------------------
def _local_worker(args: tuple[int, int, int, object]) -> tuple[float, float, float, list[tuple[int, list]]]:
    k, processes, threads, barrier = args
    from inference.local_engine import LocalDetector

    detector = LocalDetector(threads=threads)
    detector.detect(_FRAMES[:1])  # warm-up: sessions built, first-run allocations done
    barrier.wait()  # type: ignore[attr-defined]
    started, cpu = time.perf_counter(), time.process_time()
    found = [(i, detector.detect([_FRAMES[i]])[0]) for i in range(k, len(_FRAMES), processes)]
    return started, time.perf_counter(), time.process_time() - cpu, found


def bench_local(processes: int, threads: int) -> Run:
    """``processes`` forked workers, each a LocalDetector with ``threads`` threads, sharing the frames."""
    context = multiprocessing.get_context("fork")
    barrier = context.Manager().Barrier(processes)
    with context.Pool(processes) as pool:
        parts = pool.map(_local_worker, [(k, processes, threads, barrier) for k in range(processes)], chunksize=1)
    found: list[list] = [[] for _ in _FRAMES]
    for _, _, _, pairs in parts:
        for i, regions in pairs:
            found[i] = regions
    wall = max(p[1] for p in parts) - min(p[0] for p in parts)
    return Run(f"in-process, {processes} process(es) x {threads} onnxruntime thread(s)", len(_FRAMES), wall,
               sum(p[2] for p in parts), found)


# -- Triton ------------------------------------------------------------------------------------------------
def layout_repository(instances: int, threads: int, queue_delay_us: int, max_batch: int) -> Path:
    """A model repository holding only text_detector, its config changed in those four numbers only.

    The version folder is a link to the real one, so the model code resolves to this checkout and the
    staged weights are shared."""
    config = (MODELS / "text_detector" / "config.pbtxt").read_text()
    # The shipped CPU config has no batcher (its thread spins in tritonserver); a delay >= 0 adds one.
    config = re.sub(r"dynamic_batching\s*\{[^}]*\}", "", config)
    if queue_delay_us >= 0:
        config += f"\ndynamic_batching {{ max_queue_delay_microseconds: {queue_delay_us} }}\n"
    changes = [
        (r"max_batch_size:\s*\d+", f"max_batch_size: {max_batch}"),
        (r'(key: "intra_op_threads", value: \{ string_value: )"\d+"', rf'\g<1>"{threads}"'),
        (r"(instance_group\s*\[\s*\{\s*kind: KIND_CPU\s*count: )\d+", rf"\g<1>{instances}"),
    ]
    for pattern, replacement in changes:
        config, n = re.subn(pattern, replacement, config)
        if n != 1:
            raise SystemExit(f"text_detector/config.pbtxt no longer matches {pattern!r}: update this bench")
    root = WORK / f"repo-{instances}x{threads}-d{queue_delay_us}-b{max_batch}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "text_detector").mkdir(parents=True)
    (root / "text_detector" / "config.pbtxt").write_text(config)
    (root / "text_detector" / "1").symlink_to(MODELS / "text_detector" / "1", target_is_directory=True)
    return root


def start_triton(repository: Path):
    from pixelguard.services.base import free_port
    from pixelguard.services.triton import TritonService

    service = TritonService(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                            model_repository=repository, state_dir=WORK / "triton-state")
    service.install()
    service.start()
    return service


def server_stats(url: str, model: str = "text_detector") -> dict:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    try:
        return client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    finally:
        client.close()


def _ns(stats: dict, *path: str) -> int:
    value: object = stats
    for key in path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return int(value) if isinstance(value, (int, str)) and value != "" else 0


def stats_delta(before: dict, after: dict) -> str:
    """Executions, mean batch and the server's mean request time between two statistics snapshots."""
    def sizes(stats: dict) -> dict[int, int]:
        return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats.get("batch_stats", [])}

    a, b = sizes(before), sizes(after)
    runs = {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0)}
    executions = sum(runs.values())
    mean = sum(k * v for k, v in runs.items()) / executions if executions else 0.0
    return f"{executions} executions, mean batch {mean:.2f} {dict(sorted(runs.items()))}"


def server_request_s(before: dict, after: dict) -> float:
    """Mean time a request spent inside the server (queue + compute), between two snapshots."""
    count = _ns(after, "inference_stats", "success", "count") - _ns(before, "inference_stats", "success", "count")
    spent = _ns(after, "inference_stats", "success", "ns") - _ns(before, "inference_stats", "success", "ns")
    return spent / count / 1e9 if count else 0.0


def bench_triton(url: str, server_pid: int | None, clients: int, per_request: int, label: str) -> Run:
    from inference.triton_client import TritonDetector

    detectors = [TritonDetector(url) for _ in range(clients)]
    for detector in detectors:
        detector.detect(_FRAMES[:per_request])  # warm-up: channels open, model instances run once
    chunks = [list(range(i, min(i + per_request, len(_FRAMES)))) for i in range(0, len(_FRAMES), per_request)]
    found: list[list] = [[] for _ in _FRAMES]
    latencies: list[float] = []

    def work(k: int) -> None:
        for chunk in chunks[k::clients]:
            started = time.perf_counter()
            regions = detectors[k].detect([_FRAMES[i] for i in chunk])
            latencies.append(time.perf_counter() - started)
            for i, r in zip(chunk, regions, strict=True):
                found[i] = r

    before = server_stats(url)
    main0 = _proc_cpu_s(server_pid) if server_pid else 0.0
    cpu0, client0, started = tree_cpu_s(server_pid), time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(clients)))
    wall = time.perf_counter() - started
    server_cpu, client_cpu = tree_cpu_s(server_pid) - cpu0, time.process_time() - client0
    main_cpu = (_proc_cpu_s(server_pid) if server_pid else 0.0) - main0  # tritonserver; the rest is its stubs
    cpu = server_cpu + client_cpu
    after = server_stats(url)
    for detector in detectors:
        detector.close()
    overhead = sum(latencies) / len(latencies) - server_request_s(before, after)
    note = (f"{stats_delta(before, after)}; overhead/req {overhead * 1000:.1f} ms; "
            f"CPU-s/img server {server_cpu / len(_FRAMES):.3f} (tritonserver {main_cpu / len(_FRAMES):.3f}), "
            f"client {client_cpu / len(_FRAMES):.3f}")
    if server_pid is None:
        note += "; server CPU not counted (--triton-url)"
    name = f"Triton {label}, {clients} clients, {per_request} frame(s)/request"
    return Run(name, len(_FRAMES), wall, cpu, found, note)


def check_max_batch(url: str, largest: int, model: str = "text_detector") -> None:
    """Stop with what to do when the server's detector cannot take the largest batch asked for."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    try:
        allowed = int(client.get_model_config(model, as_json=True)["config"].get("max_batch_size", 0))
    finally:
        client.close()
    if largest > allowed:
        raise SystemExit(f"{model} on {url} takes batches of up to {allowed} frames, not {largest}: serve the GPU "
                         f"configs of deploy/k8s/overlays/gpu (max_batch_size 64) or pass smaller --batch-sizes")


def bench_batch_sizes(url: str, server_pid: int | None, sizes: list[int], clients: int, rounds: int) -> list[str]:
    """Images/s for requests of B frames (``rounds`` requests per client per size after one warm-up)."""
    from inference.triton_client import TritonDetector

    lines = []
    for size in sizes:
        batch = [_FRAMES[i % len(_FRAMES)] for i in range(size)]
        detectors = [TritonDetector(url, max_batch=size, retries=0, timeout_s=600) for _ in range(clients)]
        detectors[0].detect(batch)  # warm-up at this shape
        cpu0, started = tree_cpu_s(server_pid), time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda d, b=batch: [d.detect(b) for _ in range(rounds)], detectors))
        wall = time.perf_counter() - started
        images = size * rounds * clients
        cpu = tree_cpu_s(server_pid) - cpu0
        cpu_text = f"{cpu / images:16.3f}" if server_pid is not None else f"{'-':>16}"
        lines.append(f"{size:>6} {images:>7} {wall:8.2f} {images / wall:9.2f} {cpu_text}")
        for detector in detectors:
            detector.close()
    return lines


# -- report ------------------------------------------------------------------------------------------------
def table(runs: list[Run], product: Run | None) -> None:
    print(f"\n{'engine':<62} {'images/s':>9} {'CPU-s/img':>10} {'vs product':>11} {'CPU vs product':>15} "
          f"{'regions':>8}")
    for run in runs:
        ratio = f"{run.rate / product.rate:10.2f}x" if product else f"{'-':>11}"
        cpu = f"{run.cpu_per_image / product.cpu_per_image:14.2f}x" if product else f"{'-':>15}"
        print(f"{run.name:<62} {run.rate:9.2f} {run.cpu_per_image:10.3f} {ratio} {cpu} "
              f"{sum(len(r) for r in run.found):8d}")
        if run.note:
            print(f"    {run.note}")


def _layouts(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        instances, _, threads = item.partition("x")
        out.append((int(instances), int(threads)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="512x512 text detection: Triton vs in-process on the same CPU")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--clients", "--threads", type=int, default=4, help="concurrent Triton client threads")
    parser.add_argument("--servers", default="2x1,1x2",
                        help="Triton layouts to start in turn, INSTANCESxTHREADS (default 2x1,1x2; 2x1 ships)")
    parser.add_argument("--frames-per-request", default="1", help="comma list; >1 batches an object's frames")
    parser.add_argument("--queue-delay-us", type=int, default=-1,
                        help="dynamic batcher max_queue_delay; -1 (default): no batcher, as the CPU config ships")
    parser.add_argument("--batch-sizes", help="GPU bench: comma list of frames per request, e.g. 1,2,4,8,16,32,64")
    parser.add_argument("--rounds", type=int, default=2, help="requests per client per batch size")
    parser.add_argument("--batch-clients", type=int, default=1, help="concurrent clients for --batch-sizes")
    parser.add_argument("--no-local", action="store_true", help="skip the in-process runs")
    parser.add_argument("--triton-url", help="gRPC host:port of a running Triton (default: start one here)")
    args = parser.parse_args(argv)

    _FRAMES.extend(frames_512(args.frames))
    print(f"{len(_FRAMES)} frames of 512x512 RGB with burned-in text (pixelguard_testkit.synthetic, seed 3); "
          f"{len(os.sched_getaffinity(0))} cores; load {os.getloadavg()[0]:.1f}")
    sizes = [int(s) for s in args.batch_sizes.split(",")] if args.batch_sizes else []
    per_request = [int(n) for n in args.frames_per_request.split(",")]

    runs: list[Run] = []
    reference = None
    if not args.no_local and not sizes:  # in-process first: the reference for boxes and speed
        runs.append(bench_local(processes=2, threads=1))
        runs.append(bench_local(processes=1, threads=2))
        reference = runs[0]

    targets: list[tuple[str, tuple[int, int] | None]] = (
        [(args.triton_url, None)] if args.triton_url else [("", layout) for layout in _layouts(args.servers)])
    batch_lines: list[str] = []
    for url, layout in targets:
        service = None
        label = "(running server)"
        try:
            if layout is not None:
                instances, threads = layout
                label = f"{instances} instance(s) x {threads} thread(s), delay {args.queue_delay_us} us"
                repository = layout_repository(instances, threads, args.queue_delay_us, max([8, *sizes]))
                started = time.perf_counter()
                service = start_triton(repository)
                url = service.grpc_url
                print(f"triton {instances}x{threads}: started on {url} in {time.perf_counter() - started:.1f}s")
            pid = service.process.running_pid() if service else None
            if sizes:
                check_max_batch(url, max(sizes))
                batch_lines.append(f"{label}, {args.batch_clients} client(s), {args.rounds} request(s) each per size")
                batch_lines.extend(bench_batch_sizes(url, pid, sizes, args.batch_clients, args.rounds))
            else:
                for n in per_request:
                    run = bench_triton(url, pid, args.clients, n, label)
                    if reference is not None:
                        differ = same_boxes(reference.found, run.found)
                        run.note += ("; boxes identical to in-process" if not differ
                                     else f"; boxes DIFFER on {differ} frames")
                    runs.append(run)
        finally:
            if service is not None:
                service.stop()
    if runs:
        table(runs, reference)
        if reference is not None:
            print("\n'vs product' = images/s / images/s of in-process as `pixelguard deid` runs it "
                  "(2 processes x 1 thread), same frames, same cores, measured in this run; 'CPU vs product' the "
                  "same for CPU-s per image (the fairer figure on shared cores: more runnable threads get a "
                  "larger share of a loaded machine)")
    if batch_lines:
        print(f"\n{'batch':>6} {'images':>7} {'wall s':>8} {'images/s':>9} {'server CPU-s/img':>16}")
        print("\n".join(batch_lines))
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
