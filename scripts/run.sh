#!/usr/bin/env bash
# `make run`: the whole demo on one machine, embedded mode (SQLite, in-memory channel
# layer, Celery worker inside the server), against the real local stack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
scripts/stack.sh start all
# shellcheck disable=SC1091
source "${BERTH_STACK_DIR:-/tmp/berth-stack}/stack.env"

.venv/bin/python manage.py migrate --no-input
.venv/bin/python manage.py seed_demo

HOST=${BERTH_HOST:-127.0.0.1}
PORT=${BERTH_PORT:-8000}
echo
echo "Berth is starting on http://$HOST:$PORT  (Ctrl-C stops it; 'scripts/stack.sh stop' stops the stack)"
exec .venv/bin/python manage.py serve --host "$HOST" --port "$PORT"
