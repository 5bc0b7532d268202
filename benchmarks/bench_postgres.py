"""Time for one activity snapshot of the postgres source at 10, 200 and 1,000 open sessions.

Starts a throwaway cluster (``tests/sources/pg_server.py``: ``initdb`` + ``pg_ctl`` on a
free loopback port, as the ``postgres`` user when run as root), opens idle client
sessions in steps (each ran one query carrying a distinct literal, as an application's
pool would, so the masking sees as many distinct texts as there are sessions), and at
each step measures, in the same run, the median of ``--repeat`` runs of:

a. **source fetch**: ``PostgresConnector(...).fetch("activity", ...)`` with one
   snapshot (``Sampling(duration=0)``), a new connector each time: connect and set up
   the read-only session, one snapshot (activity, locks, replication,
   pg_stat_database, in one short transaction), the ``pg_activity`` frame with every
   query through ``mask_query``, close. The ``cold`` column is one run with the
   masking cache emptied first (every query text new to it);
b. its parts on an already open session: **snapshot**, what each further snapshot of a
   sampling run costs (``run_sampling`` of one snapshot), and **frame**, building the
   ``pg_activity`` frame of that snapshot (once per run, masking included, cache warm);
   **masking** alone: ``mask_query`` over that snapshot's query texts, cache emptied;
c. ``select * from pg_stat_activity`` on an open connection (the server's share);
d. ``psql -X -c 'select * from pg_stat_activity'`` as a command, the baseline a
   responder would type (a new process and connection each time).

The target is below 20 ms at 200 sessions for one source fetch.

Usage::

    python benchmarks/bench_postgres.py [--repeat N] [--sessions 10,200,1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # pg_server imports the tests' conftest
sys.path.insert(0, str(ROOT / "tests" / "sources"))

from pg_server import PgServer, find_bindir, start_postgres  # noqa: E402

from incident_lib.core.incident import Incident  # noqa: E402
from incident_lib.sources.base import Budget  # noqa: E402
from incident_lib.sources.postgres import (  # noqa: E402
    PostgresConnector,
    Sampling,
    Target,
    mask_query,
    masking,
    open_session,
    targets_from_environment,
)
from incident_lib.sources.postgres.sampling import run_sampling  # noqa: E402

TARGET_MS = 20.0
TARGET_AT = 200
#: what the baseline runs
PSQL_SQL = "select * from pg_stat_activity"
#: the query each benchmark session ran last (what pg_stat_activity shows for it)
SESSION_QUERY = (
    "SELECT o.id, o.amount, o.status FROM public.orders AS o "
    "WHERE o.customer = 'bench-customer-{i}@example.org' AND o.id = {i} "
    "/* request_id=req-{i:06d} */"
)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def open_sessions(server: PgServer, first: int, count: int) -> list[Any]:
    """``count`` idle sessions numbered from ``first``, opened on a few threads."""

    def one(i: int) -> Any:
        conn = server.connect("app", application_name=f"bench-app-{i % 7}")
        conn.execute(SESSION_QUERY.format(i=i))
        return conn

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(first, first + count)))


def client_backends(server: PgServer) -> int:
    rows = server.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    return int(rows[0][0])


def fetch_all(conn: Any, sql: str) -> list[Any]:
    """Every row of ``sql`` on an open connection."""
    return list(conn.execute(sql).fetchall())


ONE = Sampling(every=0.5, duration=0.0)


def source_fetch(target: Target, incident: Incident) -> int:
    """One activity fetch through a new connector (one snapshot); the rows."""
    connector = PostgresConnector([target], environ={}, sampling=ONE)
    return len(connector.fetch("activity", incident, incident.window).frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15, help="runs per measure (median)")
    ap.add_argument(
        "--sessions", default="10,200,1000", help="open sessions at each step, ascending"
    )
    a = ap.parse_args()
    levels = sorted({int(n) for n in a.sessions.split(",") if n.strip()})
    bindir = find_bindir()
    if bindir is None:
        sys.exit("bench_postgres: PostgreSQL server binaries (initdb, pg_ctl) not found")
    psql = shutil.which("psql") or str(bindir / "psql")
    import pandas as pd  # imported before timing: the first frame must not pay for it

    del pd
    now = datetime.now(UTC)
    incident = Incident(
        id="BENCH-1",
        title="bench",
        service="db",
        namespace="bench",
        severity="SEV-2",
        start=now - timedelta(hours=1),
        end=now,
    )
    with start_postgres(
        max_connections=max(levels) + 20, superuser_reserved=3, bindir=bindir
    ) as server:
        dsn = server.dsn("postgres", "orders")
        (target,) = targets_from_environment({"INCIDENT_PG_DSN": dsn})
        session = open_session(target)
        admin = server.connect(application_name="bench-admin")
        held: list[Any] = []
        rows: list[tuple[Any, ...]] = []
        try:
            source_fetch(target, incident)  # first-use imports and code paths, not timed
            for level in levels:
                held += open_sessions(server, len(held), level - len(held))
                clients = client_backends(server)
                masking._mask_cached.cache_clear()
                t0 = time.perf_counter()
                n_rows = source_fetch(target, incident)
                cold = (time.perf_counter() - t0) * 1000
                fetch = median_ms(partial(source_fetch, target, incident), a.repeat)
                budget = Budget.unlimited("postgres")
                snap = median_ms(partial(run_sampling, [session], ONE, budget=budget), a.repeat)
                run = run_sampling([session], ONE, budget=budget)
                frame = median_ms(run.activity, a.repeat)
                texts = [r["query"] for r in run.rows[target.name].activity if r["query"]]
                masking._mask_cached.cache_clear()
                t0 = time.perf_counter()
                for text in texts:
                    mask_query(text)
                masks = (time.perf_counter() - t0) * 1000
                raw = median_ms(partial(fetch_all, admin, PSQL_SQL), a.repeat)
                cmd = [psql, "-X", "-q", "-A", "-t", "-c", PSQL_SQL, dsn]
                shell = median_ms(
                    partial(subprocess.run, cmd, check=True, stdout=subprocess.DEVNULL), a.repeat
                )
                rows.append((level, clients, n_rows, fetch, cold, snap, frame, masks, raw, shell))
        finally:
            session.close()
            admin.close()
            for conn in held:
                conn.close()
        version = server.version
    print(
        f"PostgreSQL {version // 10000}.{version % 10000}, median of {a.repeat} runs "
        "(snapshot and frame: on an open session)"
    )
    header = (
        f"{'sessions':>8} {'clients':>7} {'rows':>5} | {'source fetch':>12} {'cold':>8} | "
        f"{'snapshot':>8} {'frame':>8} {'masking':>8} | {'select * (open)':>15} {'psql -c':>8}"
    )
    print(header)
    print("-" * len(header))
    for level, clients, n_rows, fetch, cold, snap, frame, masks, raw, shell in rows:
        print(
            f"{level:>8} {clients:>7} {n_rows:>5} | {fetch:>9.1f} ms {cold:>5.1f} ms | "
            f"{snap:>5.1f} ms {frame:>5.1f} ms {masks:>5.1f} ms | {raw:>12.1f} ms {shell:>5.1f} ms"
        )
    at = [r for r in rows if r[0] == TARGET_AT]
    if at:
        verdict = "ok" if at[0][3] < TARGET_MS else "OVER TARGET"
        print(
            f"source fetch at {TARGET_AT} sessions: {at[0][3]:.1f} ms "
            f"(target < {TARGET_MS:.0f} ms): {verdict}"
        )


if __name__ == "__main__":
    main()
