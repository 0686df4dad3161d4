#!/usr/bin/env bash
# `make test`: the whole suite against the real stack, which this script starts, on
# SQLite (the embedded default). `scripts/test.sh --postgres [ARGS]` runs the part of the
# suite that touches the database again on PostgreSQL (started on a private port by
# scripts/stack.sh), as production uses it; CI runs both.
# Extra arguments go to pytest (e.g. `make test ARGS="-k permissions"`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

postgres=false
if [[ ${1:-} == --postgres ]]; then
  postgres=true
  shift
fi

scripts/bootstrap.sh
scripts/stack.sh start all
# shellcheck disable=SC1091
source "${BERTH_STACK_DIR:-/tmp/berth-stack}/stack.env"

if $postgres; then
  scripts/stack.sh start postgres
  export DATABASE_URL=$BERTH_STACK_DATABASE_URL
  # The browser tests and the unit tier do not depend on the database engine.
  exec .venv/bin/pytest --ignore=tests/browser --ignore=tests/unit "$@"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest "$@"
