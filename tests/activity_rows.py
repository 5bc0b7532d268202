"""One ``pg_activity`` row for chart and analysis tests, as PostgreSQL reports a session."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["activity_row"]


def activity_row(
    t: pd.Timestamp,
    pid: int,
    *,
    app: str = "api",
    state: str = "idle",
    since: float = 1.0,
    xact: float | None = None,
    backend_type: str = "client backend",
    target: str = "default",
    backend_start: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """A session sampled at ``t``: in ``state`` for ``since`` seconds, its transaction
    ``xact`` seconds old (None: no transaction), connected at ``backend_start``
    (default an hour before ``t``)."""
    change = t - pd.Timedelta(seconds=since)
    return {
        "target": target,
        "sampled_at": t,
        "pid": pid,
        "datname": "orders",
        "usename": "api",
        "application_name": app,
        "client_addr": "10.0.0.1",
        "backend_type": backend_type,
        "state": state,
        "wait_event_type": "",
        "wait_event": "",
        "backend_start": t - pd.Timedelta(hours=1) if backend_start is None else backend_start,
        "xact_start": None if xact is None else t - pd.Timedelta(seconds=xact),
        "query_start": change,
        "state_change": change,
        "backend_age": 3600.0,
        "xact_age": float("nan") if xact is None else xact,
        "query_age": since,
        "backend_xid_age": float("nan"),
        "backend_xmin_age": float("nan"),
        "blocking_pids": "",
        "query": "SELECT 1",
    }
