"""Per-role and per-database connection limits (``CONNECTION LIMIT``) against their use.

A role or database can run out of its own limit long before the server reaches
``max_connections``: its new sessions are refused ("too many connections for
role ...") while everyone else still connects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.findings import Finding
from .frames import CLIENT_BACKEND, clock, text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LIMIT_COLUMNS", "limit_findings", "own_limits"]

LIMIT_COLUMNS = [
    "target",
    "kind",
    "name",
    "connection_limit",
    "connections",
    "peak",
    "peak_at",
    "share",
]
#: the activity column a limit kind counts
_COUNTED = {"role": "usename", "database": "datname"}


def own_limits(limits: pd.DataFrame, activity: pd.DataFrame) -> pd.DataFrame:
    """Roles and databases with a connection limit, and the most sessions they held.

    Parameters
    ----------
    limits
        ``pg_limits`` contract frame (``connection_limit`` -1: none).
    activity
        ``pg_activity`` contract frame: the peak per role (``usename``) and per
        database (``datname``) over its samples (client backends).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LIMIT_COLUMNS`, one row per role or database with a limit:
        its connections when the limits were read, the peak sampled and when,
        and ``share`` (the larger of the two over the limit; NaN for a limit of 0),
        the fullest first (then by name).
    """
    import pandas as pd

    limited = limits[limits["connection_limit"] >= 0]
    clients = activity[activity["backend_type"] == CLIENT_BACKEND]
    rows = []
    for row in limited.to_dict("records"):
        column = _COUNTED.get(str(row["kind"]))
        mine = (
            clients[(clients["target"] == row["target"]) & (clients[column] == row["name"])]
            if column
            else clients.iloc[0:0]
        )
        counts = mine.groupby("sampled_at").size()
        peak = int(counts.max()) if len(counts) else 0
        peak_at = counts.idxmax() if len(counts) else pd.NaT
        most = max(peak, int(row["connections"]))
        limit = int(row["connection_limit"])
        rows.append(
            {
                "target": row["target"],
                "kind": row["kind"],
                "name": row["name"],
                "connection_limit": limit,
                "connections": int(row["connections"]),
                "peak": peak,
                "peak_at": peak_at,
                "share": most / limit if limit > 0 else float("nan"),
            }
        )
    out = pd.DataFrame(rows, columns=LIMIT_COLUMNS)
    out["peak_at"] = pd.to_datetime(out["peak_at"], utc=True)
    out["share"] = out["share"].astype("float64")
    return out.sort_values(
        ["share", "name"], ascending=[False, True], na_position="last"
    ).reset_index(drop=True)


def limit_findings(table: pd.DataFrame) -> list[Finding]:
    """A finding for each role or database that used all of its own connection limit.

    Parameters
    ----------
    table
        From :func:`own_limits`.

    Returns
    -------
    list of Finding
        Fact ``db:own-limit:<target>:<kind>:<name>``, role ``mechanism``.
    """
    out = []
    for row in table.to_dict("records"):
        limit = int(row["connection_limit"])
        peak, held = int(row["peak"]), int(row["connections"])
        most = max(peak, held)
        if most < limit:
            continue
        kind, name, target = text(row["kind"]), text(row["name"]), text(row["target"])
        when = f" at {clock(row['peak_at'])}" if peak >= limit else " when read"
        verb = "ROLE" if kind == "role" else "DATABASE"
        out.append(
            Finding(
                title=f"The {kind} {name} used all of its connection limit ({limit})",
                severity="high",
                summary=f"{most} sessions of {kind} {name}{when}, its CONNECTION LIMIT is "
                f'{limit}: its new connections are refused ("too many connections for {kind}") '
                f"while others still connect; raise it with ALTER {verb} ... CONNECTION LIMIT, "
                "or find who holds them (06_database)",
                fact=f"db:own-limit:{target}:{kind}:{name}",
                role="mechanism",
            )
        )
    return out
