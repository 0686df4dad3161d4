# Berth. Two commands on a fresh machine: `make run` (the demo) and `make test`.
SHELL := /bin/bash
ARGS ?=

.PHONY: run test test-postgres lint stack stack-stop bench

run:  ## install, start the real stack, migrate, seed the demo, serve on :8000
	scripts/run.sh

test:  ## the whole test suite against the real stack
	scripts/test.sh $(ARGS)

test-postgres:  ## the database-bound part of the suite again, on PostgreSQL (CI runs both)
	scripts/test.sh --postgres $(ARGS)

lint:
	.venv/bin/ruff check .

stack:  ## start Docker Engine, Swarm, registry and Redis on loopback
	scripts/stack.sh start all

stack-stop:
	scripts/stack.sh stop

bench:  ## every tests/benchmarks/bench_*.py against the real stack, which this starts
	scripts/bootstrap.sh && scripts/stack.sh start all && source "$${BERTH_STACK_DIR:-/tmp/berth-stack}/stack.env" && for bench in tests/benchmarks/bench_*.py; do .venv/bin/python "$$bench" || exit 1; done
