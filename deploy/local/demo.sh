#!/usr/bin/env bash
# README command 1: set up and run `pixelguard deid` on bundled samples, embedded (no servers).
# Exit code is pixelguard's: 0 when every object is clean, 1 when some went to review or error.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/bootstrap.sh
DEMO="$PWD/.cache/demo"  # this clone's demo: its samples and its key file (the README's API example uses it)
SAMPLES="$DEMO/samples"
OUT="${1:-demo-out}"
rm -rf "$SAMPLES" "$OUT"
.venv/bin/python -m pixelguard.samples "$SAMPLES"
set +e
.venv/bin/pixelguard deid "$SAMPLES" --out "$OUT" --jobs "$(nproc)" --key-file "$DEMO/key.json"
code=$?
set -e
echo "outputs: $OUT/ (review: $OUT/review/), manifest: $OUT/manifest.jsonl"
exit "$code"
