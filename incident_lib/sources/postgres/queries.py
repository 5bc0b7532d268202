"""The SQL each frame runs (adapted to the server version), and how its rows become frames.

Supported servers: PostgreSQL 13 to 17. What differs between them and how the
queries adapt:

* ``pg_locks.waitstart`` exists from 14 (NULL before, so ``waitstart`` is NaT);
* ``reserved_connections`` exists from 16 (the settings read simply lack it before);
* ``pg_stat_statements`` has ``total_exec_time``/``mean_exec_time``/``max_exec_time``
  from 13 (its 1.8): older servers are refused when the session opens.

Ages are computed by the server at ``statement_timestamp()``, which is also the
``sampled_at`` of the snapshot; ``pg_blocking_pids(pid)`` runs only for sessions
waiting on a heavyweight lock (it is not free). Every query text goes through
:func:`~incident_lib.sources.postgres.masking.mask_query` before it enters a frame.
Frame builders import pandas inside (``import incident_lib`` stays light).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...core.schema import CONTRACTS, conform, empty_frame
from .masking import mask_query

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATABASE_STATS_SQL",
    "EXTENSION_SQL",
    "LATEST",
    "LIMITS_SQL",
    "SETTINGS",
    "SETTINGS_SQL",
    "Rows",
    "activity_frame",
    "activity_sql",
    "build_frame",
    "database_stats_frame",
    "database_stats_rows",
    "limits_frame",
    "locks_frame",
    "locks_sql",
    "replication_frame",
    "replication_sql",
    "settings_frame",
    "sql_by_frame",
    "statements_frame",
    "statements_sql",
]

#: the version the manifest shows the SQL of when the server's is not known yet
LATEST = 170000
#: the settings read (those a server lacks are simply absent from the frame)
SETTINGS = (
    "server_version_num",
    "server_version",
    "max_connections",
    "superuser_reserved_connections",
    "reserved_connections",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "deadlock_timeout",
    "log_lock_waits",
    "track_activity_query_size",
    "max_locks_per_transaction",
    "tcp_keepalives_idle",
)

_AGE = "EXTRACT(EPOCH FROM (statement_timestamp() - a.{0}))::float8 AS {1}"


def activity_sql(version: int) -> str:
    """``pg_stat_activity`` at ``statement_timestamp()``, without our own backend."""
    del version  # the same columns from 13 to 17
    ages = ",\n  ".join(
        _AGE.format(column, name)
        for column, name in (
            ("backend_start", "backend_age"),
            ("xact_start", "xact_age"),
            ("query_start", "query_age"),
        )
    )
    return f"""SELECT statement_timestamp() AS sampled_at, a.pid, a.datname, a.usename,
  a.application_name, host(a.client_addr) AS client_addr, a.backend_type, a.state,
  a.wait_event_type, a.wait_event, a.backend_start, a.xact_start, a.query_start,
  a.state_change,
  {ages},
  age(a.backend_xid)::float8 AS backend_xid_age,
  age(a.backend_xmin)::float8 AS backend_xmin_age,
  CASE WHEN a.wait_event_type = 'Lock'
       THEN array_to_string(pg_blocking_pids(a.pid), ',') ELSE '' END AS blocking_pids,
  a.query
FROM pg_stat_activity AS a
WHERE a.pid <> pg_backend_pid()
ORDER BY a.pid"""


def locks_sql(version: int) -> str:
    """The locks that matter: every ungranted lock, and the granted locks of the
    sessions blocking them on the objects waited for. ``%(sampled_at)s``: the snapshot's
    time (the activity's)."""
    waitstart = "w.waitstart" if version >= 140000 else "NULL::timestamptz"
    same = "\n".join(
        f"      AND l.{c} IS NOT DISTINCT FROM w.{c}"
        for c in (
            "database",
            "relation",
            "page",
            "tuple",
            "virtualxid",
            "transactionid",
            "classid",
            "objid",
            "objsubid",
        )
    )
    return f"""WITH locks AS MATERIALIZED (
  SELECT * FROM pg_locks WHERE pid IS NOT NULL AND pid <> pg_backend_pid()
), waiting AS (
  SELECT w.*, pg_blocking_pids(w.pid) AS blockers FROM locks AS w WHERE NOT w.granted
), matter AS (
  SELECT w.locktype, w.database, w.relation, w.transactionid, w.pid, w.mode, w.granted,
         {waitstart} AS waitstart, array_to_string(w.blockers, ',') AS blocking_pids
  FROM waiting AS w
  UNION ALL
  SELECT l.locktype, l.database, l.relation, l.transactionid, l.pid, l.mode, l.granted,
         NULL::timestamptz, ''
  FROM locks AS l
  WHERE l.granted AND EXISTS (
    SELECT 1 FROM waiting AS w
    WHERE l.pid = ANY (w.blockers) AND l.locktype = w.locktype
{same})
)
SELECT %(sampled_at)s::timestamptz AS sampled_at, m.pid, m.locktype,
  CASE WHEN m.relation IS NULL THEN NULL
       WHEN m.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       THEN m.relation::regclass::text
       ELSE m.relation::text END AS relation,
  m.transactionid::text AS transactionid, m.mode, m.granted, m.waitstart, m.blocking_pids
FROM matter AS m
ORDER BY m.granted DESC, m.pid"""


def replication_sql(version: int) -> str:
    """``pg_stat_replication`` on a primary: lags in seconds and bytes behind."""
    del version
    return """SELECT statement_timestamp() AS sampled_at, r.application_name,
  host(r.client_addr) AS client_addr, r.state, r.sync_state,
  EXTRACT(EPOCH FROM r.write_lag)::float8 AS write_lag,
  EXTRACT(EPOCH FROM r.flush_lag)::float8 AS flush_lag,
  EXTRACT(EPOCH FROM r.replay_lag)::float8 AS replay_lag,
  pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 AS replay_lag_bytes
FROM pg_stat_replication AS r
ORDER BY r.application_name"""


#: cumulative counters of every database (deltas are taken between two reads)
DATABASE_STATS_SQL = """SELECT statement_timestamp() AS sampled_at, d.datname,
  d.xact_commit, d.xact_rollback, d.deadlocks, d.temp_files, d.temp_bytes, d.conflicts,
  d.blks_read, d.blks_hit
FROM pg_stat_database AS d
WHERE d.datname IS NOT NULL
ORDER BY d.datname"""

#: the server's values (reset_val: not the ones this session set for itself)
SETTINGS_SQL = """SELECT s.name, s.reset_val AS setting, s.unit
FROM pg_settings AS s
WHERE s.name = ANY (%(names)s)
ORDER BY s.name"""

#: connection limits per login role and per database, with the client backends each has
LIMITS_SQL = """WITH clients AS (
  SELECT a.usesysid, a.datid FROM pg_stat_activity AS a
  WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
)
SELECT 'role' AS kind, r.rolname AS name, r.rolconnlimit AS connection_limit,
  (SELECT count(*) FROM clients AS c WHERE c.usesysid = r.oid) AS connections
FROM pg_roles AS r
WHERE r.rolcanlogin
UNION ALL
SELECT 'database', d.datname, d.datconnlimit,
  (SELECT count(*) FROM clients AS c WHERE c.datid = d.oid)
FROM pg_database AS d
WHERE d.datallowconn
ORDER BY 1, 2"""

#: the schema pg_stat_statements is installed in, in the connected database
EXTENSION_SQL = """SELECT n.nspname AS schema
FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'"""


def statements_sql(version: int, schema: str = "public") -> str:
    """The top 10 statements by total and the top 10 by mean execution time."""
    del version  # *_exec_time from 13 (pg_stat_statements 1.8)
    view = f'"{schema.replace(chr(34), chr(34) * 2)}".pg_stat_statements'
    return f"""WITH s AS MATERIALIZED (
  SELECT row_number() OVER () AS n, * FROM {view}
), top AS (
  (SELECT n FROM s ORDER BY total_exec_time DESC LIMIT 10)
  UNION
  (SELECT n FROM s ORDER BY mean_exec_time DESC LIMIT 10)
)
SELECT s.queryid::text AS queryid, d.datname, r.rolname AS usename, s.calls,
  s.total_exec_time, s.mean_exec_time, s.max_exec_time, s.rows,
  s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written, s.query
FROM s
JOIN top USING (n)
LEFT JOIN pg_database AS d ON d.oid = s.dbid
LEFT JOIN pg_roles AS r ON r.oid = s.userid
ORDER BY s.total_exec_time DESC"""


def sql_by_frame(version: int | None = None) -> dict[str, str]:
    """The SQL of each frame for ``version`` (default :data:`LATEST`), for the manifest."""
    v = version or LATEST
    return {
        "activity": activity_sql(v),
        "locks": locks_sql(v),
        "replication": replication_sql(v),
        "database_stats": DATABASE_STATS_SQL,
        "settings": SETTINGS_SQL,
        "limits": LIMITS_SQL,
        "statements": statements_sql(v),
    }


# -- rows -> frames ------------------------------------------------------------------------
#
# A frame is built once, from the rows of every target: one typed array per column
# (no per-row pandas work, no frame of dicts), then one :func:`conform` at the end (a
# no-op for the columns already of their contract's dtype). A column whose values do
# not convert as expected is handed to ``conform`` as it came (a naive timestamp is
# still refused there, a gap in an integer column is still an error).

#: rows of one target, as :meth:`~.session.Session.rows` returns them
Rows = Sequence[Mapping[str, Any]]
#: the column of these frames whose texts go through :func:`mask_query`
_MASKED = {"pg_activity": "query", "pg_statements": "query"}


def build_frame(kind: str, parts: Iterable[tuple[str, Rows]]) -> pd.DataFrame:
    """The frame of contract ``kind`` of the rows of several targets, built once.

    Parameters
    ----------
    kind
        The contract (``"pg_activity"``, ...); its ``target`` column is the name each
        rows come with, its other columns the rows' values of the same name (extra
        values are left out).
    parts
        ``(target, rows)`` pairs, in the order the frame lists them.

    Returns
    -------
    pandas.DataFrame
        The conformed frame (:func:`empty_frame` when there is no row); query texts
        masked by :func:`mask_query`.

    Raises
    ------
    SchemaError
        The rows lack a column of the contract (a bug in the SQL).
    """
    import pandas as pd

    parts = [(t, rows) for t, rows in parts if rows]
    if not parts:
        return empty_frame(kind)
    contract = CONTRACTS[kind].columns
    present = parts[0][1][0].keys()
    names = [n for n in contract if n != "target" and n in present]  # conform names the rest
    by_name = dict(zip(names, _transposed(names, parts), strict=True))
    if "target" in contract:
        by_name["target"] = [t for t, rows in parts for _ in range(len(rows))]
    masked = _MASKED.get(kind)
    if masked in by_name:
        by_name[masked] = [mask_query(v) if isinstance(v, str) else None for v in by_name[masked]]
    columns = {n: _typed(list(by_name[n]), k) for n, k in contract.items() if n in by_name}
    return conform(pd.DataFrame(columns, copy=False), kind)


def _transposed(names: list[str], parts: list[tuple[str, Rows]]) -> list[Sequence[Any]]:
    """The values of each of ``names`` in every row, one sequence per name (in one pass)."""
    if not names:
        return []
    rows = [r for _, part in parts for r in part]
    try:
        get = operator.itemgetter(*names)
        if len(names) == 1:
            return [[get(r) for r in rows]]
        return list(zip(*map(get, rows), strict=True))
    except KeyError:  # a row without some column: missing there, as in a frame of rows
        return [[r.get(n) for r in rows] for n in names]


@functools.cache
def _dtypes() -> tuple[Any, Any]:
    """The ``str`` and UTC time dtypes (resolved once: pandas' lookup by name is slow)."""
    from pandas.api.types import pandas_dtype

    return pandas_dtype("str"), pandas_dtype("datetime64[ns, UTC]")


def _typed(values: list[Any], kind: str) -> Any:
    """``values`` as an array of ``kind``'s dtype, or as they are when they do not fit."""
    import numpy as np
    import pandas as pd

    text, utc = _dtypes()
    try:
        if kind == "str":
            return pd.array(values, dtype=text)
        if kind == "float":
            return np.array(values, dtype=np.float64)
        if kind == "int" and None not in values:
            return np.array(values, dtype=np.int64)
        if kind == "bool":
            return np.array(values, dtype=bool)
        if kind == "time" and all(
            v is None or (isinstance(v, datetime) and v.tzinfo is not None) for v in values
        ):
            return pd.array(values, dtype=utc)
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        pass
    return pd.Series(values)  # inferred as a frame of the rows would: conform judges it


def activity_frame(target: str, rows: Rows) -> pd.DataFrame:
    """The ``pg_activity`` frame of ``rows`` (from :func:`activity_sql`), queries masked."""
    return build_frame("pg_activity", [(target, rows)])


def locks_frame(target: str, rows: Rows) -> pd.DataFrame:
    """The ``pg_locks`` frame of ``rows`` (from :func:`locks_sql`)."""
    return build_frame("pg_locks", [(target, rows)])


def replication_frame(target: str, rows: Rows) -> pd.DataFrame:
    """The ``pg_replication`` frame of ``rows`` (from :func:`replication_sql`)."""
    return build_frame("pg_replication", [(target, rows)])


def settings_frame(target: str, rows: Rows) -> pd.DataFrame:
    """The ``pg_settings`` frame of ``rows`` (from :data:`SETTINGS_SQL`)."""
    return build_frame("pg_settings", [(target, rows)])


def limits_frame(target: str, rows: Rows) -> pd.DataFrame:
    """The ``pg_limits`` frame of ``rows`` (from :data:`LIMITS_SQL`)."""
    return build_frame("pg_limits", [(target, rows)])


def statements_frame(target: str, rows: Rows) -> pd.DataFrame:
    """The ``pg_statements`` frame of ``rows`` (from :func:`statements_sql`), queries masked."""
    return build_frame("pg_statements", [(target, rows)])


_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "deadlocks",
    "temp_files",
    "temp_bytes",
    "conflicts",
    "blks_read",
    "blks_hit",
)


def database_stats_rows(first: Rows, last: Rows) -> list[dict[str, Any]]:
    """The rows of the ``pg_database_stats`` frame: ``last - first`` of each counter.

    A database missing from either read is left out; a counter that went down (the
    statistics were reset meanwhile) counts from 0, i.e. its value in ``last``.
    """
    before = {r["datname"]: r for r in first}
    rows: list[dict[str, Any]] = []
    for after in last:
        start = before.get(after["datname"])
        if start is None:
            continue
        row: dict[str, Any] = {
            "datname": after["datname"],
            "period_start": start["sampled_at"],
            "period_end": after["sampled_at"],
        }
        for counter in _COUNTERS:
            a, b = int(after[counter] or 0), int(start[counter] or 0)
            row[counter] = a - b if a >= b else a
        rows.append(row)
    return rows


def database_stats_frame(target: str, first: Rows, last: Rows) -> pd.DataFrame:
    """The ``pg_database_stats`` frame of one target (see :func:`database_stats_rows`)."""
    return build_frame("pg_database_stats", [(target, database_stats_rows(first, last))])


def sampled_at(rows: Rows) -> datetime | None:
    """The ``sampled_at`` of a snapshot's rows (None when there are none)."""
    return rows[0]["sampled_at"] if rows else None
