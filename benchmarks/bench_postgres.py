"""Time for one activity snapshot of the postgres source at 10, 200 and 1,000 open sessions.

Starts a throwaway cluster (``tests/sources/pg_server.py``: ``initdb`` + ``pg_ctl`` on a
free loopback port, as the ``postgres`` user when run as root), opens idle client
sessions in steps, each of which last ran one long query (about 700 characters, an
ORM's ``SELECT`` with a ``JOIN`` and ``IN`` list) carrying distinct literals, so the
masking sees as many distinct texts as there are sessions. At each step it measures,
in the same run, the median and the best of ``--repeat`` rounds (each round runs every
measure once, in turn, so that all see the same load on a shared machine) of:

a. **snapshot** -- what the issue calls one activity snapshot, as a responder's
   sampling loop takes it on its already open session: the ``pg_activity`` query
   (:func:`~incident_lib.sources.postgres.queries.activity_sql`) and its frame
   (:func:`~incident_lib.sources.postgres.queries.activity_frame`: column arrays, every
   query through ``mask_query``, one ``conform``). ``warm``: the masking cache holds
   the texts (every further snapshot of a run: idle sessions keep their last query);
   ``cold``: the cache emptied before each run (every text new to it: the worst case);
   ``before``: the same rows through the frame path this library had before (a frame
   of row dicts, ``conform`` twice; kept here only, to compare in the same run);
b. **sampled**: one snapshot of a sampling run, the activity, locks and replication
   read in one short transaction (``run_sampling``), and the ``pg_activity`` frame;
c. **fetch**: ``PostgresConnector(...).fetch("activity", ...)`` with one snapshot, a
   new connector each time: connect and set the read-only session up, one snapshot
   (with ``pg_stat_database``), the frame, close (cache warm);
d. the parts: **query**, the activity query alone on the open session (rows as
   dicts), and **frame** (warm) from those rows;
e. the baselines: ``select * from pg_stat_activity`` on an open connection, and
   ``psql -X -c 'select * from pg_stat_activity'`` as a command (a new process and
   connection each time), the way a responder would look.

The target is below 20 ms at 200 sessions for one snapshot.

Usage::

    python benchmarks/bench_postgres.py [--repeat N] [--sessions 10,200,1000]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # pg_server imports the tests' conftest
sys.path.insert(0, str(ROOT / "tests" / "sources"))

from pg_server import PgServer, find_bindir, start_postgres  # noqa: E402

from incident_lib.core.incident import Incident  # noqa: E402
from incident_lib.core.schema import CONTRACTS, SchemaError, empty_frame, validate  # noqa: E402
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
from incident_lib.sources.postgres.queries import activity_frame, activity_sql  # noqa: E402
from incident_lib.sources.postgres.sampling import run_sampling  # noqa: E402
from incident_lib.sources.postgres.session import Session  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd

TARGET_MS = 20.0
TARGET_AT = 200
#: what the baselines run
PSQL_SQL = "select * from pg_stat_activity"
#: the query each benchmark session ran last (what pg_stat_activity shows for it):
#: long, with distinct literals per session (unique texts defeat the masking cache)
SESSION_QUERY = (
    "SELECT o.id, o.amount, o.currency, o.status, o.created_at, o.updated_at, "
    "c.id AS customer_id, c.email, c.display_name, c.country, c.tier, "
    "a.line1, a.line2, a.city, a.postcode "
    "FROM public.orders AS o "
    "JOIN public.customers AS c ON c.id = o.customer_id "
    "LEFT JOIN public.addresses AS a ON a.customer_id = c.id AND a.kind = 'shipping' "
    "WHERE c.email = 'bench-customer-{i}@example.org' "
    "AND o.status IN ('pending', 'paid', 'shipped', 'refund-{i}') "
    "AND o.created_at >= '2024-01-01T00:00:00Z'::timestamptz - interval '{d} days' "
    "AND o.amount BETWEEN {i}.25 AND {j}.75 AND o.id <> {i} "
    "ORDER BY o.created_at DESC, o.id DESC LIMIT 50 OFFSET {k} "
    "/* request_id=req-{i:06d} trace=00-{i:032x}-{i:016x}-01 */"
)
ONE = Sampling(every=0.5, duration=0.0)


def session_query(i: int) -> str:
    """The query session ``i`` runs (distinct literals per session)."""
    return SESSION_QUERY.format(i=i, j=i * 3 + 7, d=i % 90 + 1, k=(i * 13) % 500)


# -- the frame path before this change (kept here only, to compare in the same run) ------


def _before_conform(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``schema.conform`` as it was: every column coerced, whatever its dtype."""
    import pandas as pd

    contract = CONTRACTS[kind]
    missing = [c for c in contract.columns if c not in df.columns]
    if missing:
        raise SchemaError(f"{kind} frame is missing columns {missing}")
    out = {}
    for col, k in contract.columns.items():
        s = df[col]
        if k == "time":
            naive = any(isinstance(v, datetime) and v.tzinfo is None for v in s.dropna().head(50))
            if naive:
                raise SchemaError(f"{kind}: {col} is naive")
            s = (
                pd.to_datetime(s, utc=True, format="ISO8601")
                if s.notna().any()
                else pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
            )
            if s.dtype != "datetime64[ns, UTC]":
                s = s.astype("datetime64[ns, UTC]")
        elif k == "str":
            s = s.astype("str")
        elif k == "int":
            s = s.astype("int64")
        elif k == "float":
            s = s.astype("float64")
        else:
            s = s.astype(bool)
        out[col] = s.reset_index(drop=True)
    return validate(pd.DataFrame(out, columns=list(contract.columns)), kind)


def before_activity_frame(target: str, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The ``pg_activity`` frame as it was built: a frame of row dicts, conform twice."""
    import pandas as pd

    if not rows:
        return empty_frame("pg_activity")
    masked = [
        {**r, "query": mask_query(r["query"]) if isinstance(r["query"], str) else None}
        for r in rows
    ]
    df = pd.DataFrame(masked)
    df.insert(0, "target", target)
    frame = _before_conform(df, "pg_activity")  # queries._frame
    return _before_conform(pd.concat([frame], ignore_index=True), "pg_activity")  # _concat


# -- measures --------------------------------------------------------------------------------


def interleaved_ms(
    measures: Sequence[tuple[Callable[[], object], Callable[[], object] | None]], repeat: int
) -> list[tuple[float, float]]:
    """The (median, best) wall time in ms of each ``(fn, before)`` over ``repeat`` rounds.

    Each round runs every measure once, in turn, so that all of them see the same load
    (the machine may be shared); ``before`` runs untimed just before its ``fn``.
    """
    times: list[list[float]] = [[] for _ in measures]
    for _ in range(repeat):
        for spent, (fn, before) in zip(times, measures, strict=True):
            if before is not None:
                before()
            t0 = time.perf_counter()
            fn()
            spent.append((time.perf_counter() - t0) * 1000)
    return [(statistics.median(t), min(t)) for t in times]


def open_sessions(server: PgServer, first: int, count: int) -> list[Any]:
    """``count`` idle sessions numbered from ``first``, opened on a few threads."""

    import psycopg

    def one(i: int) -> Any:
        conn = server.connect("app", application_name=f"bench-app-{i % 7}")
        # the tables it names do not exist: pg_stat_activity shows the text all the same
        with contextlib.suppress(psycopg.errors.UndefinedTable):
            conn.execute(session_query(i))
        return conn

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(first, first + count)))


def client_backends(server: PgServer) -> int:
    rows = server.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    return int(rows[0][0])


def fetch_all(conn: Any, sql: str) -> list[Any]:
    """Every row of ``sql`` on an open connection."""
    return list(conn.execute(sql).fetchall())


def activity_rows(session: Session) -> list[dict[str, Any]]:
    """The rows of the activity query on an open session (one short transaction)."""
    with session.snapshot():
        return session.rows(activity_sql(session.version), what="activity")


def snapshot(session: Session, frame: Callable[..., pd.DataFrame] = activity_frame) -> int:
    """One activity snapshot: the query and its frame, on an open session; the rows."""
    return len(frame(session.target.name, activity_rows(session)))


def sampled(session: Session) -> int:
    """One snapshot of a sampling run (activity, locks, replication) and its frame."""
    run = run_sampling([session], ONE, budget=Budget.unlimited("postgres"))
    return len(run.activity())


def source_fetch(target: Target, incident: Incident) -> int:
    """One activity fetch through a new connector (one snapshot); the rows."""
    connector = PostgresConnector([target], environ={}, sampling=ONE)
    return len(connector.fetch("activity", incident, incident.window).frame)


COLUMNS = (
    ("sessions", 8, "d"),
    ("rows", 5, "d"),
    ("snapshot", 8, "ms"),
    ("cold", 7, "ms"),
    ("before", 7, "ms"),
    ("sampled", 7, "ms"),
    ("fetch", 7, "ms"),
    ("query", 6, "ms"),
    ("frame", 6, "ms"),
    ("select*", 7, "ms"),
    ("psql -c", 7, "ms"),
)


def print_table(table: Sequence[tuple[Any, ...]]) -> None:
    header = " ".join(f"{name:>{width}}" for name, width, _ in COLUMNS)
    print(header)
    print("-" * len(header))
    for values in table:
        cells = [
            f"{v:>{w}d}" if unit == "d" else f"{v:>{w}.1f}"
            for v, (_, w, unit) in zip(values, COLUMNS, strict=True)
        ]
        print(" ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
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
    clear = masking._mask_cached.cache_clear
    with start_postgres(
        max_connections=max(levels) + 20, superuser_reserved=3, bindir=bindir
    ) as server:
        dsn = server.dsn("postgres", "orders")
        (target,) = targets_from_environment({"INCIDENT_PG_DSN": dsn})
        session = open_session(target)
        admin = server.connect(application_name="bench-admin")
        held: list[Any] = []
        table: list[tuple[Any, ...]] = []
        best: list[tuple[Any, ...]] = []
        try:
            source_fetch(target, incident)  # first-use imports and code paths, not timed
            sampled(session)
            for level in levels:
                held += open_sessions(server, len(held), level - len(held))
                rows = activity_rows(session)
                assert sum(1 for r in rows if "bench-customer" in (r["query"] or "")) == level
                assert before_activity_frame("default", rows).equals(
                    activity_frame("default", rows)
                ), "the frame differs from the one built before"
                cmd = [psql, "-X", "-q", "-A", "-t", "-c", PSQL_SQL, dsn]
                measured = interleaved_ms(
                    [
                        (partial(snapshot, session), None),
                        (partial(snapshot, session), clear),
                        (partial(snapshot, session, before_activity_frame), None),
                        (partial(sampled, session), None),
                        (partial(source_fetch, target, incident), None),
                        (partial(activity_rows, session), None),
                        (partial(activity_frame, "default", rows), None),
                        (partial(fetch_all, admin, PSQL_SQL), None),
                        (
                            partial(subprocess.run, cmd, check=True, stdout=subprocess.DEVNULL),
                            None,
                        ),
                    ],
                    a.repeat,
                )
                table.append((level, len(rows), *(m for m, _ in measured)))
                best.append((level, len(rows), *(b for _, b in measured)))
        finally:
            session.close()
            admin.close()
            for conn in held:
                conn.close()
        version = server.version
    print(
        f"PostgreSQL {version // 10000}.{version % 10000}, {a.repeat} rounds (median, best); each "
        f"session's last query ~{len(session_query(500))} chars with distinct literals"
    )
    for title, values in (("median", table), ("best", best)):
        print(f"{title} (ms)")
        print_table(values)
    print(
        "snapshot = activity query + frame on an open session (cache warm), cold = "
        "cache emptied first,\nbefore = the old frame path, sampled = run_sampling snapshot "
        "+ frame, fetch = connect + snapshot + frame"
    )
    at = [t for t in table if t[0] == TARGET_AT]
    if at:
        verdict = "ok" if at[0][2] < TARGET_MS else "OVER TARGET"
        print(
            f"one snapshot at {TARGET_AT} sessions: median {at[0][2]:.1f} ms (cold "
            f"{at[0][3]:.1f} ms, before {at[0][4]:.1f} ms, psql -c {at[0][10]:.1f} ms; "
            f"target < {TARGET_MS:.0f} ms): {verdict}"
        )


if __name__ == "__main__":
    main()
