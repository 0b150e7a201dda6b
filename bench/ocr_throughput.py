"""Text detection throughput on 512x512 frames: Triton (dynamic batching, concurrent clients) vs in-process.

    .venv/bin/python bench/ocr_throughput.py                   # 48 frames, 4 client threads
    .venv/bin/python bench/ocr_throughput.py --frames 96 --threads 8
    .venv/bin/python bench/ocr_throughput.py --triton-url 127.0.0.1:8001   # use a running server

Starts its own Triton (TritonService, free loopback ports) unless --triton-url is given, and stops it by
pid at the end. The frames are 512x512 8-bit RGB renderings of synthetic objects with burned-in text
(pixelguard_testkit.synthetic). Triton: each client thread sends one frame per request to ``text_detector`` so the
server's dynamic batcher merges concurrent requests (max_batch_size 8); the in-process engine
(LocalDetector) runs the same frames one after the other in this process, with 1 and with 2 onnxruntime
threads (the Triton model is configured with 2). Both are warmed up first; images/s = frames / wall time.
The Triton figures include gRPC transfer; the server's own batch statistics are printed from its
statistics API.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pixelguard_testkit import synthetic


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


def bench_local(frames: list[np.ndarray], threads: int) -> tuple[float, int]:
    from inference.local_engine import LocalDetector

    detector = LocalDetector(threads=threads)
    detector.detect(frames[:2])  # warm-up
    started = time.perf_counter()
    found = sum(len(r) for f in frames for r in detector.detect([f]))
    return len(frames) / (time.perf_counter() - started), found


def bench_triton(frames: list[np.ndarray], url: str, threads: int) -> tuple[float, int]:
    from inference.triton_client import TritonDetector

    clients = [TritonDetector(url) for _ in range(threads)]
    clients[0].detect(frames[:2])  # warm-up

    def work(k: int) -> int:
        client = clients[k % threads]
        return sum(len(client.detect([frames[i]])[0]) for i in range(k, len(frames), threads))

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        found = sum(pool.map(work, range(threads)))
    rate = len(frames) / (time.perf_counter() - started)
    for client in clients:
        client.close()
    return rate, found


def batch_stats(url: str, model: str = "text_detector") -> str:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    try:
        stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    finally:
        client.close()
    batches = stats.get("batch_stats", [])
    sizes = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in batches}
    executions = sum(sizes.values())
    mean = sum(k * v for k, v in sizes.items()) / executions if executions else 0.0
    return (f"{stats.get('inference_count', '?')} frames in {executions} executions, mean batch {mean:.2f} "
            f"(batch size: executions {dict(sorted(sizes.items()))})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="512x512 text detection: Triton vs in-process")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--threads", type=int, default=4, help="concurrent Triton client threads")
    parser.add_argument("--triton-url", help="gRPC host:port of a running Triton (default: start one here)")
    args = parser.parse_args(argv)
    frames = frames_512(args.frames)
    print(f"{len(frames)} frames of 512x512 RGB with burned-in text (pixelguard_testkit.synthetic, seed 3)")
    service = None
    url = args.triton_url
    try:
        if not url:
            from pixelguard.services.base import free_port
            from pixelguard.services.triton import TritonService

            service = TritonService(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                                    state_dir=REPO / ".cache" / "bench" / "ocr-throughput" / "triton-state")
            service.install()
            started = time.perf_counter()
            service.start()
            url = service.grpc_url
            print(f"triton: started on {url} (pid {service.process.running_pid()}) in "
                  f"{time.perf_counter() - started:.1f}s")
        triton_rate, triton_found = bench_triton(frames, url, args.threads)
        stats = batch_stats(url)
    finally:
        if service is not None:
            service.stop()
            print("triton: stopped")
    local1, found1 = bench_local(frames, threads=1)
    local2, found2 = bench_local(frames, threads=2)
    print(f"\n{'engine':<52} {'images/s':>9} {'regions':>8}")
    print(f"{'Triton text_detector, ' + str(args.threads) + ' client threads, dynamic batching':<52} "
          f"{triton_rate:9.2f} {triton_found:8d}")
    print(f"{'in-process LocalDetector, 1 onnxruntime thread':<52} {local1:9.2f} {found1:8d}")
    print(f"{'in-process LocalDetector, 2 onnxruntime threads':<52} {local2:9.2f} {found2:8d}")
    print(f"\ntriton batching: {stats}")
    print(f"triton / in-process (2 threads): {triton_rate / local2:.2f}x  (CPU only here: {_cpus()} cores shared)")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
