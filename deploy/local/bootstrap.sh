#!/usr/bin/env bash
# Idempotent setup of the application venv (.venv) on a fresh machine: Python 3.11 + pip install of the
# project with its test extras. Re-runs are no-ops unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Per-user, outside the clone: a fresh clone reuses jars, wheels and builds (see pixelguard/services/paths.py).
CACHE="${PIXELGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pixelguard}"
mkdir -p "$CACHE"

PY="${PIXELGUARD_PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$candidate"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: Python 3.11 not found (set PIXELGUARD_PYTHON)" >&2; exit 2; }
command -v java >/dev/null || { echo "bootstrap: java (17) not found: apt-get install openjdk-17-jre-headless" >&2; exit 2; }
command -v mvn >/dev/null || { echo "bootstrap: mvn not found: apt-get install maven" >&2; exit 2; }

# Debian packages (Tesseract + language packs, fonts): installed only when one is missing.
mapfile -t pkgs < <(grep -vE '^\s*(#|$)' deploy/local/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Packages such as prometheus start their own daemon on install, listening beyond 127.0.0.1. We run the
  # binaries ourselves, so while installing, policy-rc.d (Debian's invoke-rc.d policy) refuses every start.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null && $SUDO chmod 755 "$guard"
    trap '$SUDO rm -f "$guard"' EXIT
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$guard" ]; then $SUDO rm -f "$guard"; trap - EXIT; fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.pixelguard-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --cache-dir "$CACHE/pip" -e ".[test]"
  echo "$want" > "$stamp"
fi
