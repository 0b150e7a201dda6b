"""The files deploy/k8s/generate.py writes are up to date, and a GPU config differs from its CPU config only
in where it runs."""
from __future__ import annotations

import importlib.util
import re
import sys
from types import ModuleType

from pixelguard.services.paths import REPO_ROOT


def _generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_generate", REPO_ROOT / "deploy" / "k8s" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_generated_files_are_current() -> None:
    stale = [str(path.relative_to(REPO_ROOT)) for path, text in _generate().expected().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"run `python deploy/k8s/generate.py`: {stale}"


def test_a_gpu_config_moves_only_the_instance_group_the_provider_the_batch_and_its_wait() -> None:
    generate = _generate()
    for model in generate.GPU_MODELS:
        cpu = (generate.MODELS / model / "config.pbtxt").read_text()
        gpu = generate.gpu_config(cpu)
        assert "KIND_GPU" in gpu and "KIND_CPU" not in gpu and "CUDAExecutionProvider" in gpu
        assert f"max_batch_size: {generate.GPU_MAX_BATCH}" in gpu  # the GPU bench's batches up to 64 fit
        assert f"max_queue_delay_microseconds: {generate.GPU_QUEUE_DELAY_US}" in gpu  # batches form on a GPU

        def meaning(text: str) -> str:
            text = re.sub(r"#.*", "", text)
            text = re.sub(r"instance_group\s*\[.*?\]", "", text, flags=re.S)
            text = re.sub(r"max_batch_size:\s*\d+", "", text)
            text = re.sub(r"dynamic_batching\s*\{[^}]*\}", "", text)  # the GPU variant always has one
            return " ".join(text.replace("CUDAExecutionProvider", "CPUExecutionProvider").split())

        assert meaning(gpu) == meaning(cpu), model
