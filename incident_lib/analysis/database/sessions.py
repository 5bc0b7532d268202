"""Sessions worth naming: idle in transaction, long queries and transactions, old xmin.

Each function returns a table with a ``target`` column, every target of the
frame kept apart. Client backends only, except :func:`vacuum_holders` (any
backend holding an old snapshot holds back vacuum).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from .frames import CLIENT_BACKEND, IDLE_IN_TRANSACTION, text

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "IDLE_COLUMNS",
    "LONG_COLUMNS",
    "VACUUM_COLUMNS",
    "blocked_counts",
    "idle_in_transaction",
    "idle_peak",
    "last_samples",
    "long_running",
    "vacuum_holders",
]

IDLE_COLUMNS = [
    "target",
    "sampled_at",
    "pid",
    "application_name",
    "usename",
    "client_addr",
    "idle_s",
    "xact_s",
    "blocked",
    "query",
]
LONG_COLUMNS = [
    "target",
    "pid",
    "application_name",
    "usename",
    "client_addr",
    "state",
    "kind",
    "query_s",
    "xact_s",
    "first_seen",
    "last_seen",
    "query",
]
VACUUM_COLUMNS = [
    "target",
    "pid",
    "backend_type",
    "application_name",
    "usename",
    "state",
    "xmin_age",
    "xid_age",
    "xact_s",
    "last_seen",
    "query",
]


def last_samples(activity: pd.DataFrame, at: datetime | None = None) -> pd.DataFrame:
    """The rows of each target's last sample (at or before ``at`` when given)."""
    import pandas as pd

    rows = activity
    if at is not None:
        rows = rows[rows["sampled_at"] <= pd.Timestamp(at)]
    if rows.empty:
        return rows
    last = rows.groupby("target")["sampled_at"].transform("max")
    return rows[rows["sampled_at"] == last]


def idle_peak(activity: pd.DataFrame) -> datetime | None:
    """The sample with the most client sessions idle in transaction (the first of equals).

    The moment to list them at (:func:`idle_in_transaction` with ``at=``): at the
    last sample, after a rollback, there may be none left to see.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame (every target counted together).

    Returns
    -------
    datetime or None
        ``None`` when no session was idle in transaction.
    """
    idle = activity[
        (activity["backend_type"] == CLIENT_BACKEND)
        & activity["state"].isin(list(IDLE_IN_TRANSACTION))
    ]
    if idle.empty:
        return None
    import pandas as pd

    counts = idle.groupby("sampled_at").size()
    moment: datetime = pd.Timestamp(cast("datetime", counts.idxmax())).to_pydatetime()
    return moment


def blocked_counts(sample: pd.DataFrame) -> dict[tuple[str, object, int], int]:
    """``{(target, sampled_at, pid): sessions listing pid in their blocking_pids}``."""
    counts: dict[tuple[str, object, int], int] = {}
    for target, moment, raw in zip(
        sample["target"], sample["sampled_at"], sample["blocking_pids"], strict=True
    ):
        for part in text(raw).split(","):
            if part.strip().isdigit():
                key = (text(target), moment, int(part))
                counts[key] = counts.get(key, 0) + 1
    return counts


def idle_in_transaction(
    activity: pd.DataFrame, *, threshold_s: float = 60.0, at: datetime | None = None
) -> pd.DataFrame:
    """Client sessions idle in transaction for ``threshold_s`` or more, at the last sample.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.
    threshold_s
        Seconds idle (``sampled_at - state_change``) from which a session is listed.
    at
        Read each target's last sample at or before ``at`` instead of its last.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`IDLE_COLUMNS`: ``idle_s`` (seconds idle in the
        transaction), ``xact_s`` (the transaction's age), ``blocked`` (sessions
        waiting on it in that sample), ``query`` (the last one it ran);
        the longest idle first.
    """
    import pandas as pd

    sample = last_samples(activity, at)
    blocked = blocked_counts(sample)
    idle = sample[
        (sample["backend_type"] == CLIENT_BACKEND) & sample["state"].isin(list(IDLE_IN_TRANSACTION))
    ]
    idle_s = (idle["sampled_at"] - idle["state_change"]).dt.total_seconds()
    out = pd.DataFrame(
        {
            "target": idle["target"],
            "sampled_at": idle["sampled_at"],
            "pid": idle["pid"],
            "application_name": idle["application_name"],
            "usename": idle["usename"],
            "client_addr": idle["client_addr"],
            "idle_s": idle_s,
            "xact_s": idle["xact_age"],
            "blocked": [
                blocked.get((text(t), m, int(p)), 0)
                for t, m, p in zip(idle["target"], idle["sampled_at"], idle["pid"], strict=True)
            ],
            "query": idle["query"],
        },
        columns=IDLE_COLUMNS,
    )
    out = out[out["idle_s"] >= threshold_s]
    out = out.astype({"blocked": "int64", "idle_s": "float64"})
    return out.sort_values(["idle_s", "pid"], ascending=[False, True]).reset_index(drop=True)


def long_running(
    activity: pd.DataFrame, *, query_s: float = 60.0, xact_s: float = 300.0, idle: bool = True
) -> pd.DataFrame:
    """Queries running ``query_s`` or longer and transactions open ``xact_s`` or longer.

    Every sample is read; a query (or transaction) seen in several samples is
    one row, as last seen.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.
    query_s
        Seconds an ``active`` session's query has run (``query_age``).
    xact_s
        Seconds a session's transaction has been open (``xact_age``), whatever
        it is doing (idle in transaction included).
    idle
        ``False`` leaves out sessions idle in transaction (those
        :func:`idle_in_transaction` lists already).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LONG_COLUMNS`: ``kind`` (``query``, ``transaction`` or
        both), ``query_s`` (NaN unless active), ``xact_s``, ``first_seen`` and
        ``last_seen`` (samples); the longest first.
    """
    import pandas as pd

    clients = activity[activity["backend_type"] == CLIENT_BACKEND]
    if not idle:
        clients = clients[~clients["state"].isin(list(IDLE_IN_TRANSACTION))]
    running = clients["query_age"].where(clients["state"] == "active")
    long_query = running >= query_s
    long_xact = clients["xact_age"] >= xact_s
    hits = clients[long_query | long_xact].assign(
        _query_s=running[long_query | long_xact],
        _kind=[
            ", ".join(k for k, on in (("query", q), ("transaction", x)) if on)
            for q, x in zip(
                long_query[long_query | long_xact], long_xact[long_query | long_xact], strict=True
            )
        ],
        _since=lambda f: f["xact_start"].fillna(f["query_start"]),
    )
    if hits.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    keys = ["target", "pid", "_since"]
    first_seen = hits.groupby(keys)["sampled_at"].transform("min")
    hits = hits.assign(_first=first_seen).sort_values("sampled_at", kind="stable")
    last = hits.drop_duplicates(keys, keep="last")
    out = pd.DataFrame(
        {
            "target": last["target"],
            "pid": last["pid"],
            "application_name": last["application_name"],
            "usename": last["usename"],
            "client_addr": last["client_addr"],
            "state": last["state"],
            "kind": last["_kind"],
            "query_s": last["_query_s"].astype("float64"),
            "xact_s": last["xact_age"],
            "first_seen": last["_first"],
            "last_seen": last["sampled_at"],
            "query": last["query"],
        },
        columns=LONG_COLUMNS,
    )
    longest = out[["query_s", "xact_s"]].max(axis=1)
    ranked = out.assign(_o=longest).sort_values(["_o", "pid"], ascending=[False, True])
    return ranked[LONG_COLUMNS].reset_index(drop=True)


def vacuum_holders(activity: pd.DataFrame, *, xmin_age: float = 1_000_000) -> pd.DataFrame:
    """Backends whose snapshot (``backend_xmin``) or transaction id is old: vacuum waits on them.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame (every backend type is read).
    xmin_age
        Transactions (``age(backend_xmin)`` or ``age(backend_xid)``) from which a
        backend is listed.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`VACUUM_COLUMNS`, one row per backend as last seen, the
        oldest first.
    """
    import pandas as pd

    ages = activity[["backend_xmin_age", "backend_xid_age"]].max(axis=1)
    old = activity[ages >= xmin_age].sort_values("sampled_at", kind="stable")
    last = old.drop_duplicates(["target", "pid", "backend_start"], keep="last")
    out = pd.DataFrame(
        {
            "target": last["target"],
            "pid": last["pid"],
            "backend_type": last["backend_type"],
            "application_name": last["application_name"],
            "usename": last["usename"],
            "state": last["state"],
            "xmin_age": last["backend_xmin_age"],
            "xid_age": last["backend_xid_age"],
            "xact_s": last["xact_age"],
            "last_seen": last["sampled_at"],
            "query": last["query"],
        },
        columns=VACUUM_COLUMNS,
    )
    oldest = out[["xmin_age", "xid_age"]].max(axis=1)
    ranked = out.assign(_o=oldest).sort_values(["_o", "pid"], ascending=[False, True])
    return ranked[VACUUM_COLUMNS].reset_index(drop=True)
