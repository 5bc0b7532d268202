"""Standbys' lag summarised per standby, never one row per sample."""

from __future__ import annotations

import math

import pandas as pd

from incident_lib.analysis.database import replication_summary
from incident_lib.core.schema import conform, empty_frame

T0 = pd.Timestamp("2026-11-03T14:00:00Z")


def _frame(rows):
    columns = [
        "target", "sampled_at", "application_name", "client_addr", "state", "sync_state",
        "write_lag", "flush_lag", "replay_lag", "replay_lag_bytes",
    ]  # fmt: skip
    return conform(pd.DataFrame(rows, columns=columns), "pg_replication")


def _sample(minute, name, lag, *, state="streaming", target="default"):
    t = T0 + pd.Timedelta(minutes=minute)
    return (target, t, name, "10.0.0.9", state, "async", lag / 2, lag / 2, lag, lag * 1e6)


def test_one_row_per_standby_with_its_worst_lag_and_when():
    rows = [_sample(m, "replica-1", lag) for m, lag in enumerate([0.1, 4.0, 12.5, 0.2])]
    rows += [_sample(m, "replica-2", 0.01) for m in range(4)]
    rows.append(_sample(4, "replica-2", math.nan, state="catchup"))
    out = replication_summary(_frame(rows))
    assert out["application_name"].tolist() == ["replica-1", "replica-2"]  # most lagging first
    first = out.iloc[0]
    assert first["samples"] == 4 and first["replay_lag_s"] == 0.2
    assert first["worst_replay_lag_s"] == 12.5 and first["worst_at"] == T0 + pd.Timedelta(minutes=2)
    second = out.iloc[1]
    assert second["state"] == "catchup" and math.isnan(second["replay_lag_s"])
    assert second["worst_replay_lag_s"] == 0.01


def test_no_standby_is_an_empty_table_with_its_columns():
    out = replication_summary(empty_frame("pg_replication"))
    assert out.empty and "worst_replay_lag_s" in out.columns
