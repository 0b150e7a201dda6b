"""The real Triton server (CPU, Python backend) answers real inference over gRPC and HTTP."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from pixelguard.services.base import free_port
from pixelguard.services.triton import SHM_DIR, SHM_PREFIX, TritonService

from . import sockets


def _infer_stats(client: grpcclient.InferenceServerClient, frames: np.ndarray) -> dict[str, np.ndarray]:
    frame_input = grpcclient.InferInput("FRAME", list(frames.shape), "UINT16")
    frame_input.set_data_from_numpy(frames)
    outputs = [grpcclient.InferRequestedOutput(n) for n in ("MIN", "MAX", "MEAN")]
    result = client.infer("pixel_stats", [frame_input], outputs=outputs)
    return {n: result.as_numpy(n) for n in ("MIN", "MAX", "MEAN")}


def test_grpc_batch_matches_numpy(triton: TritonService) -> None:
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 4096, size=(5, 256, 320), dtype=np.uint16)  # 12-bit CT-like range
    frames[0] = 0
    frames[1, 10, 10] = 65535
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    try:
        got = _infer_stats(client, frames)
    finally:
        client.close()
    flat = frames.reshape(len(frames), -1).astype(np.float64)
    for name, want in (("MIN", flat.min(1)), ("MAX", flat.max(1)), ("MEAN", flat.mean(1))):
        assert got[name].shape == (len(frames), 1)
        assert got[name].dtype == np.float32
        np.testing.assert_allclose(got[name].ravel(), want.astype(np.float32), rtol=1e-6)
    assert got["MAX"][1, 0] == 65535.0


def test_dynamic_batching_of_concurrent_requests(triton: TritonService) -> None:
    """Single-frame requests sent together may be merged by the batcher; each must still get its own stats."""
    rng = np.random.default_rng(11)
    frames = [rng.integers(0, 65536, size=(1, 64, 64), dtype=np.uint16) for _ in range(16)]
    inferences_before, executions_before = model_counts(triton)
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    results: list[object] = [None] * len(frames)
    try:
        for i, frame in enumerate(frames):
            frame_input = grpcclient.InferInput("FRAME", list(frame.shape), "UINT16")
            frame_input.set_data_from_numpy(frame)
            client.async_infer("pixel_stats", [frame_input],
                               callback=lambda result, error, i=i: results.__setitem__(i, error or result))
        deadline = time.monotonic() + 30
        while any(r is None for r in results) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.close()
    inferences, executions = model_counts(triton)
    assert inferences - inferences_before == len(frames)
    assert executions - executions_before < len(frames)  # the batcher merged some requests
    for frame, res in zip(frames, results, strict=True):
        assert isinstance(res, grpcclient.InferResult), res
        assert res.as_numpy("MEAN")[0, 0] == pytest.approx(float(frame.mean()), rel=1e-6)
        assert res.as_numpy("MIN")[0, 0] == float(frame.min())
        assert res.as_numpy("MAX")[0, 0] == float(frame.max())


def model_counts(triton: TritonService) -> tuple[int, int]:
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    try:
        stat = client.get_inference_statistics("pixel_stats", as_json=True)["model_stats"][0]
    finally:
        client.close()
    return int(stat.get("inference_count", 0)), int(stat.get("execution_count", 0))  # JSON omits zeros


def test_empty_frame_is_a_request_error_not_a_crash(triton: TritonService) -> None:
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    try:
        with pytest.raises(InferenceServerException, match="no pixels"):
            _infer_stats(client, np.zeros((1, 0, 8), dtype=np.uint16))
        assert client.is_model_ready("pixel_stats")
    finally:
        client.close()


def test_http_metadata_shows_model_ready(triton: TritonService) -> None:
    client = httpclient.InferenceServerClient(triton.http_url)
    try:
        server = client.get_server_metadata()
        assert server["name"] == "triton"
        assert server["version"].startswith("2.51")
        index = {m["name"]: m for m in client.get_model_repository_index()}
        assert index["pixel_stats"]["state"] == "READY"
        assert set(index) == set(triton.model_names())
        model = client.get_model_metadata("pixel_stats")
        assert model["platform"] == "python"
        assert {i["name"]: i["datatype"] for i in model["inputs"]} == {"FRAME": "UINT16"}
        assert {o["name"] for o in model["outputs"]} == {"MIN", "MAX", "MEAN"}
        config = client.get_model_config("pixel_stats")
        assert config["max_batch_size"] == 8
        assert config["instance_group"][0]["kind"] == "KIND_CPU"
        assert "dynamic_batching" in config
    finally:
        client.close()


def test_listens_on_loopback_only(triton: TritonService) -> None:
    pid = triton.process.running_pid()
    assert pid is not None
    ports = {triton.http_port, triton.grpc_port, triton.metrics_port}
    listening = {port: addr for addr, port in sockets.listening(pid)}
    assert ports <= set(listening), listening
    # 127.0.0.1, or ::ffff:127.0.0.1 where gRPC binds an IPv6 socket to the v4-mapped loopback.
    assert all(listening[p] in ("127.0.0.1", "::ffff:127.0.0.1") for p in ports), listening


def test_metrics_endpoint(triton: TritonService) -> None:
    import urllib.request

    with urllib.request.urlopen(triton.metrics_url, timeout=5) as resp:
        body = resp.read().decode()
    assert 'nv_inference_request_success{model="pixel_stats",version="1"}' in body


def test_killed_server_shm_is_cleaned_and_only_its_own(triton: TritonService, tmp_path: Path) -> None:
    """A SIGKILLed server leaves its shm region; stop() removes that one and leaves the session server's."""
    session_regions = triton.shm_regions()
    assert session_regions
    # A foreign region that looks like Triton's must survive too.
    foreign = SHM_DIR / f"{SHM_PREFIX}pixelguard-test-foreign-{os.getpid()}"
    foreign.write_bytes(b"x")
    other = TritonService(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                          state_dir=tmp_path / "crashed")
    try:
        other.start(timeout=120)
        mine = other.shm_regions()
        assert mine and not (mine & session_regions)
        other.process.kill()
        assert all(p.exists() for p in mine)  # what a crash leaves behind
        other.stop()
        assert not any(p.exists() for p in mine)
        assert all(p.exists() for p in session_regions)
        assert foreign.exists()
        assert triton.healthy()
    finally:
        other.stop()
        foreign.unlink(missing_ok=True)
