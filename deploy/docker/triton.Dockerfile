# syntax=docker/dockerfile:1
# The Triton image deploy/k8s runs: Triton 2.51 as the local servers run it (the nvidia-pytriton wheel's
# server and Python backend, built for this Python), the model repository of deploy/triton/models with its
# ONNX files staged (inference/model_files.py), and the project's inference code the model scripts import.
# The server packages are pixelguard/services/triton.py's SERVER_REQUIREMENTS (tests/deploy check it).
#
#   docker build -f deploy/docker/triton.Dockerfile -t registry.example.org/pixelguard/triton:0.1.0 .
#   docker build -f deploy/docker/triton.Dockerfile --build-arg ONNXRUNTIME=onnxruntime-gpu==1.32.0 \
#       -t registry.example.org/pixelguard/triton:0.1.0-gpu .      # the gpu overlay's image
#
# Not built here (no container engine); the GPU flavour also needs the CUDA and cuDNN libraries
# onnxruntime-gpu loads, from the host's driver and NVIDIA's pip packages, which is not verified either.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- models: the ONNX files ship inside the project's dependencies; stage them beside the model code
FROM ${PYTHON_IMAGE} AS models
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pixelguard ./pixelguard
COPY agents ./agents
COPY streams ./streams
COPY inference ./inference
COPY profiles ./profiles
COPY deploy/triton/models ./deploy/triton/models
COPY deploy/local/openbao ./deploy/local/openbao
RUN pip install --no-cache-dir . \
    && python -c "from pathlib import Path; from inference.model_files import stage_model_files; \
stage_model_files(Path('/src/deploy/triton/models'))"

# --- runtime
FROM ${PYTHON_IMAGE}
ARG ONNXRUNTIME=onnxruntime==1.32.0
COPY deploy/local/apt-packages.txt /tmp/apt-packages.txt
RUN set -eux; \
    grep -E '^tesseract-ocr' /tmp/apt-packages.txt > /tmp/wanted.txt; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive xargs -a /tmp/wanted.txt apt-get install -y --no-install-recommends; \
    rm -rf /var/lib/apt/lists/* /tmp/apt-packages.txt /tmp/wanted.txt
RUN pip install --no-cache-dir nvidia-pytriton==0.7.0 "${ONNXRUNTIME}" openvino==2026.4.1 \
    opencv-python-headless==4.10.0.84 \
    tesserocr==2.13.0
# Triton wants the backend library, its utils module and the stub for this Python in one folder
# (pixelguard/services/triton.py, _assemble_backends), and the wheel's libraries on the loader path.
RUN set -eux; \
    tri="$(python -c 'import pytriton, pathlib; print(pathlib.Path(pytriton.__file__).parent / "tritonserver")')"; \
    mkdir -p /opt/tritonserver/backends/python; \
    cp "$tri/backends/python/libtriton_python.so" "$tri/backends/python/triton_python_backend_utils.py" \
       "$tri/python_backend_stubs/3.11/triton_python_backend_stub" /opt/tritonserver/backends/python/; \
    ln -s "$tri/bin/tritonserver" /usr/local/bin/tritonserver; \
    echo "$(dirname "$tri")/../nvidia_pytriton.libs" > /etc/ld.so.conf.d/pytriton.conf; ldconfig
# The model scripts put the folder five levels above them on sys.path (the repository root in a checkout),
# so the repository keeps its checkout layout under /opt/pixelguard, beside the code they import.
COPY inference /opt/pixelguard/inference
COPY pixelguard /opt/pixelguard/pixelguard
COPY --from=models /src/deploy/triton/models /opt/pixelguard/deploy/triton/models
RUN groupadd --system --gid 10001 triton \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --shell /usr/sbin/nologin triton
ENV PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000 8001 8002
ENTRYPOINT ["tritonserver"]
CMD ["--model-repository=/opt/pixelguard/deploy/triton/models", "--backend-directory=/opt/tritonserver/backends"]
