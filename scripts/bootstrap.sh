#!/usr/bin/env bash
# Install everything energy_assets needs into .venv from the pinned lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "energy_assets needs Python 3.11"'
"$PYTHON" -m uv --version >/dev/null 2>&1 || "$PYTHON" -m pip install --quiet "uv==0.13.8"
[ -x .venv/bin/python ] || "$PYTHON" -m uv venv --quiet --python "$PYTHON" .venv
"$PYTHON" -m uv pip install --quiet --python .venv/bin/python -r requirements.lock
"$PYTHON" -m uv pip install --quiet --python .venv/bin/python --no-deps -e .
# Debian's Chromium for the page tests (Playwright drives it; no browser download).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: install Debian's chromium (sudo apt-get install chromium) for the browser tests" >&2
  fi
fi
echo "installed into .venv ($(.venv/bin/python -c 'import dagster; print("dagster", dagster.__version__)'))"
