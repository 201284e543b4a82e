#!/usr/bin/env bash
# Install what tests/test_browser.py needs: Debian's chromium with fonts, node, and
# playwright-core in tests/browser (from its package-lock.json). Browsers cannot be
# downloaded by Playwright here, so the test drives Debian's build at /usr/bin/chromium.
# Idempotent and quiet: when everything is there, it only checks (well under a second).
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
quietly() {  # run a command, showing its output only if it fails
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-browser.sh: '$*' failed" >&2
    exit 1
  fi
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
for font in fonts-liberation fonts-dejavu-core; do
  dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q "ok installed" || packages+=("$font")
done
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "install-browser.sh: installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  quietly $sudo apt-get update -qq
  quietly $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# npm ci rewrites node_modules/.package-lock.json: newer than the lock means up to date.
cd tests/browser
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install-browser.sh: installing playwright-core (npm ci)"
  quietly npm ci --no-audit --no-fund --loglevel=error
fi
