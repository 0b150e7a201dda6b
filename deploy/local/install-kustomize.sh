#!/usr/bin/env bash
# Idempotent: kustomize (the manifests' offline build, deploy/k8s/) into the cache, built once from the Go
# module proxy by `go install`. 5.8.1 because 5.8.3 needs Go 1.27 (the notes' servers-round2.md); the
# version is in the folder name, so a bump installs beside the old one rather than over it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Per-user, outside the clone: a fresh clone reuses jars, wheels and builds (see pixelguard/services/paths.py).
CACHE="${PIXELGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pixelguard}"
VERSION=5.8.1
BIN="$CACHE/kustomize-$VERSION/bin"
[ -x "$BIN/kustomize" ] && exit 0
GO="${PIXELGUARD_GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$GO" ] || { echo "install-kustomize: Go not found (set PIXELGUARD_GO)" >&2; exit 2; }
mkdir -p "$BIN"
# Module and build caches inside ours, so a second run and a fresh clone behave alike and HOME stays clean.
GOBIN="$BIN" GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/pkg/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-modcacherw \
  "$GO" install "sigs.k8s.io/kustomize/kustomize/v5@v$VERSION"
"$BIN/kustomize" version >/dev/null
