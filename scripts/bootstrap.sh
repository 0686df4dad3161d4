#!/usr/bin/env bash
# Installs what Berth needs on a fresh Debian machine (as root): the Debian packages of
# the real stack, and a Python virtual environment with the project's dependencies.
# Fast when everything is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/stack.sh install

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the dependency list changed since the last install.
if [[ ! -f .venv/.installed || pyproject.toml -nt .venv/.installed ]]; then
  echo "bootstrap: installing Python dependencies"
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e ".[dev]"
  touch .venv/.installed
fi
