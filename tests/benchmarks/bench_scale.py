"""Scale benchmark: every page and API list with a small and a large data set.

Seeds, in bulk, into a throwaway SQLite database (never the portal's own):

* small: 10 environments, 5 services, 50 deployments, 200 audit events;
* large: 1,003 environments (the developer granted on every one of them), 100 services,
  10,000 deployments, 50,000 audit events, 500 promotions.

Then requests each page and API list in-process (Django's test client, signed in as the
developer), and prints for both sets side by side the number of SQL queries and the
median time of ``--runs`` requests, with the targets: the same number of queries at
both sizes, p50 at most 100 ms for a page and 50 ms for an API list.

The seeded environments point at a Docker socket that does not exist (pages that read
only never ask an engine; the board and the environment page's fragments answer with
"unreachable" at once), so this measures Berth's own work, not an engine's.

With ``--postgres`` (or ``--database-url postgres://…``) the same runs on PostgreSQL,
in a throwaway database created beside the named one (the stack's, from
``scripts/stack.sh start postgres``: ``BERTH_STACK_DATABASE_URL``) and dropped at the
end; the tables are analysed after seeding, as autovacuum would have done by then.

Run: ``.venv/bin/python tests/benchmarks/bench_scale.py [--runs N] [--postgres]`` or
``make bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _common import ROOT, load_stack_env, percentile

PAGE_TARGET, API_TARGET = 0.100, 0.050


def throwaway_postgres(url: str) -> tuple[str, object]:
    """A new database on the server of ``url`` (loopback only): ``(its URL, drop())``."""
    import psycopg

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing a database server that is not on loopback: {parts.hostname}")
    name = f"berth_scale_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def setup_django(workdir: Path, database_url: str = "") -> None:
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{workdir / 'scale.sqlite3'}"
    os.environ["BERTH_DATA_DIR"] = str(workdir)
    os.environ["BERTH_EMBEDDED_WORKER"] = "false"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def run_set(scale, runs: int) -> dict[str, tuple[str, int, float, int]]:
    from django.core.management import call_command
    from django.test import Client

    from tests import scale as scale_data

    call_command("flush", interactive=False, verbosity=0)
    started = time.perf_counter()
    names = scale_data.seed(scale)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"  seeded {scale.label} in {time.perf_counter() - started:.1f} s", flush=True)
    client = Client()
    client.force_login(names["developer"])
    results = {}
    for kind, key, url in scale_data.routes(names):
        cpu = time.process_time()
        queries, times, status = scale_data.measure(client, url, runs=runs)
        cpu = (time.process_time() - cpu) / (runs + 1)  # the warm-up request included
        results[key] = (kind, queries, percentile(times, 0.5), status, cpu)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="requests per route (median)")
    parser.add_argument(
        "--database-url",
        default="",
        help="postgres://user@127.0.0.1:port/db: measure on PostgreSQL, in a throwaway "
        "database beside that one (default: a throwaway SQLite file)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="--database-url of the stack's PostgreSQL (scripts/stack.sh start postgres)",
    )
    args = parser.parse_args()
    if args.postgres and not args.database_url:
        load_stack_env()
        args.database_url = os.environ.get("BERTH_STACK_DATABASE_URL", "")
        if not args.database_url:
            raise SystemExit("no PostgreSQL: run scripts/stack.sh start postgres first")
    database_url, drop = throwaway_postgres(args.database_url) if args.database_url else ("", None)
    try:
        with tempfile.TemporaryDirectory(prefix="berth-scale-") as tmp:
            setup_django(Path(tmp), database_url)
            from django.db import connection

            from tests.scale import LARGE, SMALL

            print(
                f"database: {connection.vendor}; load: {os.getloadavg()[0]:.2f} "
                f"{os.getloadavg()[1]:.2f} (1, 5 min)"
            )
            small = run_set(SMALL, args.runs)
            large = run_set(LARGE, args.runs)
    finally:
        if drop is not None:
            drop()
    print()
    print(
        f"{'route':42} {'queries small → large':>22} {'p50 small':>10} {'p50 large':>10} "
        f"{'cpu large':>10}  target"
    )
    missed = 0
    for key, (kind, q_small, t_small, status, _) in small.items():
        _, q_large, t_large, status_large, cpu_large = large[key]
        target = PAGE_TARGET if kind == "page" else API_TARGET
        constant = q_small == q_large
        fast = t_large <= target
        verdict = "met" if constant and fast and status == status_large == 200 else "missed"
        missed += verdict == "missed"
        why = []
        if not constant:
            why.append("queries grow")
        if not fast:
            why.append(f"p50 > {target * 1000:.0f} ms")
        if status != 200 or status_large != 200:
            why.append(f"status {status}/{status_large}")
        print(
            f"{key:42} {q_small:>10} → {q_large:<9} {t_small * 1000:>8.1f}ms {t_large * 1000:>8.1f}ms"
            f" {cpu_large * 1000:>8.1f}ms  {verdict}{' (' + ', '.join(why) + ')' if why else ''}"
        )
    print()
    print(
        f"{len(small) - missed} of {len(small)} routes met the targets "
        f"(constant queries; p50 ≤ {PAGE_TARGET * 1000:.0f} ms pages, "
        f"≤ {API_TARGET * 1000:.0f} ms API lists). load now: {os.getloadavg()[0]:.2f}"
    )
    print(
        "cpu large: this process's CPU time per request (mean), which a loaded machine "
        "inflates far less than the p50 of wall time; it leaves out PostgreSQL's own work."
    )


if __name__ == "__main__":
    main()
