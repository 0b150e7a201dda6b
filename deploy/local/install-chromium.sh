#!/usr/bin/env bash
# Idempotent: Debian's chromium, the browser the Playwright tests drive (tests/api/test_sso_browser.py) through
# `executable_path`; `playwright install` cannot reach its CDN here. ~370 MB on a fresh machine, so
# deploy/local/test.sh runs this beside the server installs. Other apt users may hold the lock: wait for it.
set -euo pipefail
if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
