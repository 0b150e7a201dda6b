# syntax=docker/dockerfile:1
# The PixelGuard worker image: `pixelguard worker` (and the other CLI commands) as a non-root user, with
# Tesseract's language packs and the fonts from deploy/local/apt-packages.txt. The OCR networks ship inside
# the Python wheels it installs, so nothing is downloaded when a pod starts.
#
# Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t registry.example.org/pixelguard/worker:0.1.0 .
# Not built in this project's CI (no container engine there); tests/deploy/test_dockerfile.py checks what
# can be checked without one: base image pinned, non-root user, packages from the list.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: the project's wheel and every dependency's, so the runtime stage needs no compiler and no index
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pixelguard ./pixelguard
COPY agents ./agents
COPY streams ./streams
COPY inference ./inference
COPY profiles ./profiles
COPY deploy/triton/models ./deploy/triton/models
COPY deploy/local/openbao ./deploy/local/openbao
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime
FROM ${PYTHON_IMAGE}
# Tesseract and its language packs, and the fonts, from the same list the local bootstrap installs; the
# rest of that list (prometheus) is for the tests only.
COPY deploy/local/apt-packages.txt /tmp/apt-packages.txt
RUN set -eux; \
    grep -E '^(tesseract-ocr|fonts-)' /tmp/apt-packages.txt > /tmp/wanted.txt; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive xargs -a /tmp/wanted.txt apt-get install -y --no-install-recommends; \
    rm -rf /var/lib/apt/lists/* /tmp/apt-packages.txt /tmp/wanted.txt
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels pixelguard && rm -rf /wheels
# A fixed numeric uid/gid: the pod spec's runAsUser (deploy/k8s) names it, and runAsNonRoot can only check
# a numeric user.
RUN groupadd --system --gid 10001 pixelguard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --shell /usr/sbin/nologin pixelguard
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 10001:10001
WORKDIR /tmp
EXPOSE 6066 9464
ENTRYPOINT ["pixelguard"]
CMD ["worker"]
