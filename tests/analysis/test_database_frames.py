"""Builders of literal PostgreSQL frames for the database analysis tests, and frames.py."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from incident_lib.analysis.database import frames
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import conform, empty_frame

T0 = pd.Timestamp("2026-11-03T14:00:00Z")


def at(minutes: float) -> pd.Timestamp:
    """``T0`` plus ``minutes``."""
    return T0 + pd.Timedelta(minutes=minutes)


def session(
    t: pd.Timestamp,
    pid: int,
    *,
    app: str = "api",
    state: str = "idle",
    client: str = "10.0.0.1",
    user: str = "api",
    backend_type: str = "client backend",
    backend_start: pd.Timestamp | None = None,
    xact_start: pd.Timestamp | None = None,
    query_start: pd.Timestamp | None = None,
    state_change: pd.Timestamp | None = None,
    wait: tuple[str, str] = ("", ""),
    blocking: str = "",
    query: str = "SELECT 1",
    target: str = "default",
    xmin_age: float = math.nan,
    xid_age: float = math.nan,
) -> dict[str, Any]:
    """One ``pg_activity`` row; starts default to one second before ``t``."""
    query_start = t - pd.Timedelta(seconds=1) if query_start is None else query_start
    return {
        "target": target,
        "sampled_at": t,
        "pid": pid,
        "datname": "orders",
        "usename": user,
        "application_name": app,
        "client_addr": client,
        "backend_type": backend_type,
        "state": state,
        "wait_event_type": wait[0],
        "wait_event": wait[1],
        "backend_start": T0 - pd.Timedelta(hours=1) if backend_start is None else backend_start,
        "xact_start": xact_start,
        "query_start": query_start,
        "state_change": query_start if state_change is None else state_change,
        "backend_xid_age": xid_age,
        "backend_xmin_age": xmin_age,
        "blocking_pids": blocking,
        "query": query,
    }


def activity(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A conformed ``pg_activity`` frame, ages computed at ``sampled_at``."""
    if not rows:
        return empty_frame("pg_activity")
    df = pd.DataFrame(rows)
    for col in ("sampled_at", "backend_start", "xact_start", "query_start", "state_change"):
        df[col] = pd.to_datetime(df[col], utc=True)
    for age, start in (
        ("backend_age", "backend_start"),
        ("xact_age", "xact_start"),
        ("query_age", "query_start"),
    ):
        df[age] = (df["sampled_at"] - df[start]).dt.total_seconds()
    return conform(df, "pg_activity")


def settings(target: str = "default", **values: object) -> pd.DataFrame:
    """A ``pg_settings`` frame: ``max_connections=100`` and so on (ms units for timeouts)."""
    rows = []
    for name, value in values.items():
        unit = "ms" if name.endswith("timeout") else ""
        rows.append({"target": target, "name": name, "setting": str(value), "unit": unit})
    if not rows:
        return empty_frame("pg_settings")
    return conform(pd.DataFrame(rows), "pg_settings")


def test_one_target_names_the_choices_when_several():
    frame = activity([session(T0, 1), session(T0, 2, target="orders")])
    with pytest.raises(InvalidInput, match="default, orders"):
        frames.one_target(frame, None)
    assert frames.one_target(frame, "orders") == "orders"
    assert frames.one_target(activity([session(T0, 1)]), None) == "default"
    assert frames.one_target(empty_frame("pg_activity"), None) is None


def test_text_and_clock():
    assert frames.text(math.nan) == ""
    assert frames.text(None) == ""
    assert frames.clock(at(24)) == "14:24 UTC"
    assert frames.clock(pd.NaT) == "—"
