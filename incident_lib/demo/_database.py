"""The demos' PostgreSQL evidence: the seven frames a live capture of one database holds.

A live capture samples ``pg_stat_activity`` (with ``pg_locks`` and
``pg_stat_replication`` at each snapshot and ``pg_stat_database`` at the first
and last) and reads settings, limits and ``pg_stat_statements`` once. The
builders here give the scenario models the same shapes: every query text goes
through the source's own :func:`~incident_lib.sources.postgres.mask_query`
(a live capture never holds a literal), ages are seconds at ``sampled_at`` and
transaction-id ages come from an :class:`XidClock` driven by the scenario's write
rate. The SQL a capture records in its manifest is here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.schema import conform, empty_frame
from ..sources.postgres import mask_query
from ._clock import NS, Array, iso_z
from ._frames import records_frame, utc_series

if TYPE_CHECKING:
    from ._spec import DatabaseSpec

__all__ = [
    "PG_QUERIES",
    "ActivityRows",
    "LockRows",
    "PgFrames",
    "XidClock",
    "database_stats_frame",
    "limits_frame",
    "pg_captures",
    "pg_settings_frame",
    "queryid",
    "replication_frame",
    "statements_frame",
]

#: the SQL a live capture records in each postgres frame's manifest entry
PG_QUERIES = {
    "activity": (
        "SELECT statement_timestamp() AS sampled_at, pid, datname, usename, application_name, "
        "client_addr, backend_type, state, wait_event_type, wait_event, backend_start, "
        "xact_start, query_start, state_change, age(backend_xid) AS backend_xid_age, "
        "age(backend_xmin) AS backend_xmin_age, CASE WHEN wait_event_type = 'Lock' THEN "
        "pg_blocking_pids(pid) END AS blocking_pids, query FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid()"
    ),
    "settings": "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%(names)s)",
    "limits": (
        "SELECT 'role' AS kind, r.rolname AS name, r.rolconnlimit AS connection_limit, "
        "count(a.pid) AS connections FROM pg_roles r LEFT JOIN pg_stat_activity a "
        "ON a.usesysid = r.oid WHERE r.rolcanlogin GROUP BY 1, 2, 3 UNION ALL "
        "SELECT 'database', d.datname, d.datconnlimit, count(a.pid) FROM pg_database d "
        "LEFT JOIN pg_stat_activity a ON a.datid = d.oid WHERE d.datallowconn GROUP BY 1, 2, 3"
    ),
    "locks": (
        "SELECT statement_timestamp() AS sampled_at, l.pid, l.locktype, l.relation::regclass "
        "AS relation, l.transactionid, l.mode, l.granted, l.waitstart, pg_blocking_pids(l.pid) "
        "AS blocking_pids FROM pg_locks l WHERE NOT l.granted OR l.pid IN (SELECT "
        "unnest(pg_blocking_pids(w.pid)) FROM pg_locks w WHERE NOT w.granted)"
    ),
    "database_stats": (
        "SELECT datname, xact_commit, xact_rollback, deadlocks, temp_files, temp_bytes, "
        "conflicts, blks_read, blks_hit FROM pg_stat_database WHERE datname IS NOT NULL"
    ),
    "statements": (
        "SELECT queryid, datname, usename, calls, total_exec_time, mean_exec_time, "
        "max_exec_time, rows, shared_blks_hit, shared_blks_read, temp_blks_written, query "
        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r "
        "ON r.oid = s.userid ORDER BY total_exec_time DESC LIMIT 10 (and by mean_exec_time)"
    ),
    "replication": (
        "SELECT statement_timestamp() AS sampled_at, application_name, client_addr, state, "
        "sync_state, write_lag, flush_lag, replay_lag, pg_wal_lsn_diff(pg_current_wal_lsn(), "
        "replay_lsn) AS replay_lag_bytes FROM pg_stat_replication"
    ),
}
#: frames of one sampling run (every snapshot), then frames read once
_SAMPLED = ("activity", "locks", "replication", "database_stats")
_ORDER = ("activity", "settings", "limits", "locks", "database_stats", "statements", "replication")


def queryid(text: str) -> str:
    """A stable signed 64-bit ``pg_stat_statements.queryid`` for a normalised query."""
    raw = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return str(raw - (1 << 64) if raw >= 1 << 63 else raw)


class XidClock:
    """Transaction ids over time: the next xid at ``t`` grows with the write rate.

    Parameters
    ----------
    start
        Nanoseconds of the first second of ``rate``.
    rate
        Transactions per second that write (each gets an xid), per second.
    first
        The next xid at ``start``.
    """

    def __init__(self, start: int, rate: Array, first: int) -> None:
        self.start = start
        self.rate = np.asarray(rate, dtype=float)
        #: the next xid at the start of each second
        self.base = first + np.concatenate(([0.0], np.cumsum(self.rate)[:-1]))
        #: (xid, from, until): transactions holding an xid (they hold back the horizon)
        self.holders: list[tuple[int, int, int]] = []

    def at(self, t: int) -> int:
        """The next xid at ``t`` (nanoseconds)."""
        i = int(np.clip((t - self.start) // NS, 0, self.rate.size - 1))
        into = min(max((t - self.start) / NS - i, 0.0), 1.0)
        return int(self.base[i] + self.rate[i] * into)

    def hold(self, since: int, until: int) -> int:
        """A transaction that got its xid at ``since`` and ends at ``until``; its xid."""
        xid = self.at(since)
        self.holders.append((xid, since, until))
        return xid

    def horizon(self, t: int) -> int:
        """The ``xmin`` of a snapshot taken at ``t``: the oldest xid still running then."""
        running = [x for x, since, until in self.holders if since <= t < until]
        return min([*running, self.at(t) - 1])

    def age(self, t: int, xid: int | None) -> float | None:
        """``age(xid)`` at ``t`` as PostgreSQL computes it (``None`` for NULL)."""
        return None if xid is None else float(self.at(t) - xid)


class ActivityRows:
    """Collects ``pg_stat_activity`` samples of one database; :meth:`frame` conforms them."""

    def __init__(self, datname: str) -> None:
        self.datname = datname
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        t: int,
        pid: int,
        user: str,
        app: str,
        client: str,
        state: str,
        backend_start: int,
        xact: int | None,
        qstart: int,
        change: int,
        query: str,
        wtype: str | None = None,
        wevent: str | None = None,
        blocking: str = "",
        *,
        xid_age: float | None = None,
        xmin_age: float | None = None,
    ) -> None:
        """One sampled backend (times in nanoseconds, ``None`` for SQL NULL)."""
        self.rows.append(
            {
                "sampled_at": t,
                "pid": pid,
                "datname": self.datname,
                "usename": user,
                "application_name": app,
                "client_addr": client,
                "state": state,
                "backend_start": backend_start,
                "xact_start": xact,
                "query_start": qstart,
                "state_change": change,
                "wait_event_type": wtype,
                "wait_event": wevent,
                "blocking_pids": blocking,
                "backend_xid_age": xid_age,
                "backend_xmin_age": xmin_age,
                "query": query,
            }
        )

    def frame(self, target: str = "default") -> pd.DataFrame:
        """The ``pg_activity`` frame (PostgreSQL reports microseconds) of ``target``.

        Ages are seconds from each start to ``sampled_at``, as the live source computes
        them; queries are masked as the live source masks them.
        """
        times = ["sampled_at", "backend_start", "xact_start", "query_start", "state_change"]
        df = pd.DataFrame(self.rows)
        for col in times:
            df[col] = utc_series(df[col].tolist(), "us")
        for age, start in (
            ("backend_age", "backend_start"),
            ("xact_age", "xact_start"),
            ("query_age", "query_start"),
        ):
            df[age] = (df["sampled_at"] - df[start]).dt.total_seconds()
        for col in ("backend_xid_age", "backend_xmin_age"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        df["target"] = target
        df["backend_type"] = "client backend"
        df["query"] = [mask_query(q) for q in df["query"]]
        return conform(df, "pg_activity")


class LockRows:
    """Collects ``pg_locks`` samples (the locks that matter) of one database."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        t: int,
        pid: int,
        locktype: str,
        mode: str,
        *,
        granted: bool,
        relation: str = "",
        xid: int | None = None,
        waitstart: int | None = None,
        blocking: str = "",
    ) -> None:
        """One lock held (``granted``) or awaited since ``waitstart`` by backend ``pid``."""
        self.rows.append(
            {
                "sampled_at": t,
                "pid": pid,
                "locktype": locktype,
                "relation": relation,
                "transactionid": "" if xid is None else str(xid),
                "mode": mode,
                "granted": granted,
                "waitstart": None if granted else waitstart,
                "blocking_pids": blocking,
            }
        )

    def frame(self, target: str = "default") -> pd.DataFrame:
        """The ``pg_locks`` frame of ``target`` (empty when no lock mattered)."""
        if not self.rows:
            return empty_frame("pg_locks")
        df = pd.DataFrame(self.rows)
        df["sampled_at"] = utc_series(df["sampled_at"].tolist(), "us")
        df["waitstart"] = utc_series(df["waitstart"].tolist(), "us")
        df["target"] = target
        return conform(df, "pg_locks")


@dataclass(frozen=True, slots=True)
class PgFrames:
    """The seven postgres frames of one capture, and the sampling period (ns)."""

    activity: pd.DataFrame
    settings: pd.DataFrame
    limits: pd.DataFrame
    locks: pd.DataFrame
    database_stats: pd.DataFrame
    statements: pd.DataFrame
    replication: pd.DataFrame
    since: int
    until: int


def pg_settings_frame(rows: Sequence[tuple[str, str, str | None]]) -> pd.DataFrame:
    """The ``pg_settings`` frame from ``(name, setting, unit)``."""
    frame = pd.DataFrame(rows, columns=["name", "setting", "unit"])
    frame.insert(0, "target", "default")
    return conform(frame, "pg_settings")


def limits_frame(rows: Sequence[tuple[str, str, int, int]]) -> pd.DataFrame:
    """The ``pg_limits`` frame from ``(kind, name, connection_limit, connections)``."""
    frame = pd.DataFrame(rows, columns=["kind", "name", "connection_limit", "connections"])
    frame.insert(0, "target", "default")
    return conform(frame, "pg_limits")


def database_stats_frame(
    rows: Sequence[tuple[str, int, int, int, int, int, int, int, int]], since: int, until: int
) -> pd.DataFrame:
    """``pg_database_stats`` from ``(datname, commits, rollbacks, deadlocks, temp files,
    temp bytes, conflicts, blocks read, blocks hit)`` counted between ``since`` and ``until``."""
    cols = (
        "datname", "xact_commit", "xact_rollback", "deadlocks", "temp_files", "temp_bytes",
        "conflicts", "blks_read", "blks_hit",
    )  # fmt: skip
    records = [
        {"target": "default", **dict(zip(cols, row, strict=True)), "period_start": since,
         "period_end": until}
        for row in rows
    ]  # fmt: skip
    return records_frame(records, "pg_database_stats", ["period_start", "period_end"], "us")


def statements_frame(
    datname: str, rows: Sequence[tuple[str, int, float, float, int, int, int, int, str]]
) -> pd.DataFrame:
    """``pg_statements`` from ``(user, calls, total ms, max ms, rows, blocks hit, blocks read,
    temp blocks written, normalised query)``: the top 10 by total and the top 10 by mean."""
    records = [
        {
            "target": "default",
            "queryid": queryid(query),
            "datname": datname,
            "usename": user,
            "calls": calls,
            "total_exec_time": round(total, 3),
            "mean_exec_time": round(total / calls, 3),
            "max_exec_time": round(most, 3),
            "rows": n,
            "shared_blks_hit": hit,
            "shared_blks_read": read,
            "temp_blks_written": temp,
            "query": mask_query(query),
        }
        for user, calls, total, most, n, hit, read, temp, query in rows
    ]
    frame = pd.DataFrame(records)
    top = set(frame.nlargest(10, "total_exec_time").index)
    top |= set(frame.nlargest(10, "mean_exec_time").index)
    frame = frame.loc[sorted(top)].sort_values("total_exec_time", ascending=False)
    return conform(frame, "pg_statements")


def replication_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``pg_replication`` from row dicts (``sampled_at`` in ns); empty without standbys."""
    if not rows:
        return empty_frame("pg_replication")
    return records_frame([{"target": "default", **r} for r in rows], "pg_replication",
                         ["sampled_at"], "us")  # fmt: skip


def pg_captures(
    db: DatabaseSpec, pg: PgFrames
) -> list[tuple[str, str, pd.DataFrame, dict[str, Any]]]:
    """``(source, name, frame, manifest query)`` of the seven postgres captures, in order."""
    base: dict[str, Any] = {"host": db.host, "port": db.port, "dbname": db.dbname}
    sampled = {"since": iso_z(pg.since, 0), "until": iso_z(pg.until, 0), "interval": "30s"}
    out = []
    for name in _ORDER:
        query: dict[str, Any] = dict(base)
        if name in _SAMPLED:
            query.update(sampled)
        if name == "settings":
            query["names"] = [n for n, _, _ in db.settings]
        query["query"] = PG_QUERIES[name]
        out.append(("postgres", name, getattr(pg, name), query))
    return out
