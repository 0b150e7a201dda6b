#!/usr/bin/env bash
# README command 2: set up everything (venv, pip, Maven jars for Kafka and s3proxy, OpenBao, the Triton server venv,
# kustomize)
# and run the whole test suite. `services install` installs every server (Kafka, OpenBao, Triton, Prometheus,
# s3proxy, Orthanc, Keycloak, PostgreSQL) at once, idempotently. Jaeger is a `go build` (~11 min on 2 cores, the
# longest install by far): on a fresh machine it builds at low priority while the suite runs, and the Jaeger
# tests wait for it (the install lock in pixelguard/services/jaeger.py). The tests start the real servers
# themselves on free 127.0.0.1 ports and stop them by pid.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/bootstrap.sh
# kustomize (tests/deploy: the Kubernetes manifests) builds from the Go module proxy while the servers install;
# its log is kept apart so the two outputs do not interleave, and shown if it fails.
kustomize_log="$(mktemp)"
bash deploy/local/install-kustomize.sh >"$kustomize_log" 2>&1 &
kustomize_pid=$!
jaeger_log="$(mktemp)"
nice -n 15 .venv/bin/pixelguard services install jaeger >"$jaeger_log" 2>&1 &
jaeger_pid=$!
.venv/bin/pixelguard services install --skip jaeger
if ! wait "$kustomize_pid"; then
  cat "$kustomize_log" >&2; rm -f "$kustomize_log"
  echo "installing kustomize failed (deploy/local/install-kustomize.sh)" >&2; exit 1
fi
rm -f "$kustomize_log"
# Lint and types first: a finding fails the test command before the (long) suite starts.
.venv/bin/ruff check .
.venv/bin/mypy
# The fault tests append their matrix rows here (fault, objects, lost, duplicated, final states); printed at
# the end so every run of the suite shows the fault matrix it measured.
export PIXELGUARD_FAULT_REPORT="${PIXELGUARD_FAULT_REPORT:-$PWD/.cache/fault-matrix.md}"  # this clone's run only
mkdir -p .cache
rm -f "$PIXELGUARD_FAULT_REPORT"
set +e
.venv/bin/python -m pytest -q "$@"
code=$?
if ! wait "$jaeger_pid"; then
  cat "$jaeger_log" >&2; echo "installing Jaeger failed (pixelguard services install jaeger)" >&2; code=1
fi
set -e
rm -f "$jaeger_log"
if [ -s "$PIXELGUARD_FAULT_REPORT" ]; then
  echo; echo "Fault matrix of this run:"; cat "$PIXELGUARD_FAULT_REPORT"
fi
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$code"
