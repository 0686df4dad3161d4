#!/usr/bin/env bash
# `make test`: the whole suite against the real stack, which this script starts.
# Extra arguments go to pytest (e.g. `make test ARGS="-k permissions"`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
scripts/stack.sh start all
# shellcheck disable=SC1091
source "${BERTH_STACK_DIR:-/tmp/berth-stack}/stack.env"

.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
