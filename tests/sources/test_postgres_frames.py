"""The postgres frames built from rows (no server): once, typed, masked, same contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from incident_lib.core import schema
from incident_lib.core.schema import SchemaError, conform, validate
from incident_lib.sources.postgres import queries
from incident_lib.sources.postgres.config import Sampling
from incident_lib.sources.postgres.queries import (
    activity_frame,
    build_frame,
    database_stats_frame,
    locks_frame,
)
from incident_lib.sources.postgres.sampling import SampleRun, _Rows

AT = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def activity_row(i: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sampled_at": AT,
        "pid": 1000 + i,
        "datname": "orders",
        "usename": "app",
        "application_name": f"api-{i % 3}",
        "client_addr": "10.0.0.7" if i % 2 else None,
        "backend_type": "client backend",
        "state": "idle in transaction",
        "wait_event_type": None,
        "wait_event": None,
        "backend_start": AT - timedelta(seconds=60 + i),
        "xact_start": AT - timedelta(seconds=i) if i % 2 else None,
        "query_start": AT - timedelta(seconds=i),
        "state_change": AT,
        "backend_age": 60.0 + i,
        "xact_age": float(i) if i % 2 else None,
        "query_age": float(i),
        "backend_xid_age": None,
        "backend_xmin_age": 3.0,
        "blocking_pids": "",
        "query": f"SELECT * FROM orders WHERE customer = 'secret-{i}' AND id = {i}",
        "extra": "left out",
    }
    row.update(over)
    return row


def test_the_activity_frame_of_several_targets_is_built_once_and_conformed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = conform

    def counting(df: pd.DataFrame, kind: str) -> pd.DataFrame:
        calls.append(kind)
        return real(df, kind)

    monkeypatch.setattr(queries, "conform", counting)
    run = SampleRun(
        sampling=Sampling(every=0.5, duration=0.0),
        rows={
            "orders": _Rows(activity=[activity_row(i) for i in range(3)]),
            "empty": _Rows(),
            "billing": _Rows(activity=[activity_row(i) for i in range(3, 5)]),
        },
    )
    df = run.activity()
    assert calls == ["pg_activity"]  # before: once per target, then again for all
    validate(df, "pg_activity")
    assert list(df["target"]) == ["orders"] * 3 + ["billing"] * 2
    assert list(df["pid"]) == [1000, 1001, 1002, 1003, 1004]
    assert list(df.index) == list(range(5))
    assert "extra" not in df.columns
    # missing values: NaN for text and floats, NaT for times
    assert df["client_addr"].isna().tolist() == [True, False, True, False, True]
    assert df["xact_age"].isna().tolist() == [True, False, True, False, True]
    assert df["xact_start"].isna().tolist() == [True, False, True, False, True]
    assert df.loc[1, "backend_start"] == pd.Timestamp(AT - timedelta(seconds=61))
    # every query masked: no literal survives
    assert df.loc[4, "query"] == "SELECT * FROM orders WHERE customer = $1 AND id = $2"
    assert not df["query"].str.contains("secret").any()


def test_the_frame_matches_the_contract_types_exactly() -> None:
    df = activity_frame("orders", [activity_row(1)])
    for column, kind in schema.CONTRACTS["pg_activity"].columns.items():
        want = {
            "time": "datetime64[ns, UTC]",
            "str": "str",
            "int": "int64",
            "float": "float64",
            "bool": "bool",
        }[kind]
        assert str(df[column].dtype) == want, column
    locks = locks_frame(
        "orders",
        [
            {
                "sampled_at": AT,
                "pid": 7,
                "locktype": "relation",
                "relation": "orders",
                "transactionid": None,
                "mode": "RowExclusiveLock",
                "granted": None,
                "waitstart": None,
                "blocking_pids": "",
            }
        ],
    )
    assert locks["granted"].dtype == bool and not locks.loc[0, "granted"]
    assert locks["waitstart"].isna().all()


def test_times_in_another_zone_become_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    df = activity_frame(
        "orders", [activity_row(1, query_start=datetime(2026, 11, 3, 16, 0, tzinfo=plus2))]
    )
    assert df.loc[0, "query_start"] == pd.Timestamp("2026-11-03T14:00:00Z")


def test_a_naive_timestamp_is_still_refused() -> None:
    with pytest.raises(SchemaError, match="without a timezone"):
        activity_frame("orders", [activity_row(1, backend_start=datetime(2026, 11, 3, 14, 0))])


def test_a_gap_in_an_integer_column_is_still_an_error() -> None:
    with pytest.raises((ValueError, TypeError)):
        activity_frame("orders", [activity_row(1), activity_row(2, pid=None)])


def test_a_missing_column_is_still_named() -> None:
    row = activity_row(1)
    del row["backend_xmin_age"]
    with pytest.raises(SchemaError, match="backend_xmin_age"):
        activity_frame("orders", [row])


def test_no_rows_give_the_empty_frame() -> None:
    df = build_frame("pg_activity", [("orders", []), ("billing", [])])
    assert df.empty
    validate(df, "pg_activity")


def test_database_stats_deltas_over_targets() -> None:
    first = [{"sampled_at": AT, "datname": "orders", **dict.fromkeys(queries._COUNTERS, 5)}]
    last = [
        {
            "sampled_at": AT + timedelta(seconds=10),
            "datname": "orders",
            **dict.fromkeys(queries._COUNTERS, 8),
            "deadlocks": 2,  # reset meanwhile: counts from 0
        }
    ]
    df = database_stats_frame("orders", first, last)
    assert df.loc[0, "xact_commit"] == 3 and df.loc[0, "deadlocks"] == 2
    period = df["period_end"] - df["period_start"]
    assert period.tolist() == [pd.Timedelta(seconds=10)]


def test_conform_of_a_conformed_frame_is_the_same_frame() -> None:
    df = activity_frame("orders", [activity_row(i) for i in range(4)])
    again = conform(df, "pg_activity")
    pd.testing.assert_frame_equal(again, df)
    assert again is not df
    again.loc[0, "pid"] = 1  # a frame of its own: the input is untouched
    assert df.loc[0, "pid"] == 1000
    shuffled = conform(df.iloc[::-1], "pg_activity")  # not a 0..n-1 index: reset
    assert list(shuffled.index) == [0, 1, 2, 3]
    assert list(shuffled["pid"]) == [1003, 1002, 1001, 1000]
    # a column of the right kind but not the contract's exact dtype is still coerced
    loose = df.assign(pid=df["pid"].astype("int32"), query=df["query"].astype(object))
    pd.testing.assert_frame_equal(conform(loose, "pg_activity"), df)


def test_typed_columns_fall_back_to_conform_when_values_do_not_fit() -> None:
    assert isinstance(queries._typed([1, 2], "int"), np.ndarray)
    fallback = queries._typed([1, None], "int")
    assert isinstance(fallback, pd.Series)  # conform judges it (and refuses the gap)
    assert isinstance(queries._typed(["2026-11-03T14:00:00Z"], "time"), pd.Series)
