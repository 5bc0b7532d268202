"""Column contracts at the source boundary: UTC times, never a silent guess."""

from __future__ import annotations

import pandas as pd
import pytest

from incident_lib.core.schema import SchemaError, conform, empty_frame, validate

ROW = {"pod": ["a"], "container": ["c"], "level": ["info"], "message": ["m"], "raw": ["r"]}


@pytest.mark.parametrize(
    "times",
    [
        ["2026-11-03T14:00:00Z"],
        ["2026-11-03T15:00:00+01:00"],
        pd.to_datetime(["2026-11-03T14:00:00Z"]),
    ],
)
def test_aware_times_become_utc(times):
    frame = conform(pd.DataFrame({**ROW, "time": times}), "logs")
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame.loc[0, "time"] == pd.Timestamp("2026-11-03T14:00:00Z")


@pytest.mark.parametrize(
    "times", [["2026-11-03T14:00:00"], pd.to_datetime(["2026-11-03T14:00:00"])]
)
def test_naive_times_are_refused_not_guessed(times):
    with pytest.raises(SchemaError, match="'time' holds times without a timezone"):
        conform(pd.DataFrame({**ROW, "time": times}), "logs")


def test_all_missing_time_column_is_fine():
    frame = pd.DataFrame(
        {
            "pod": ["p"],
            "container": ["c"],
            "node": ["n"],
            "phase": ["Running"],
            "ready": [True],
            "restarts": [0],
            "last_termination_reason": [None],
            "last_termination_at": [pd.NaT],
            "started_at": ["2026-11-03T14:00:00Z"],
            "cpu_request": [0.1],
            "cpu_limit": [1.0],
            "memory_request": [1.0],
            "memory_limit": [2.0],
        }
    )
    validate(conform(frame, "pods"), "pods")


def test_missing_columns_and_empty_frames():
    with pytest.raises(SchemaError, match="missing columns"):
        conform(pd.DataFrame({"time": []}), "logs")
    validate(empty_frame("metrics"), "metrics")


def test_an_added_column_is_filled_empty_and_any_other_missing_one_refused():
    import pandas as pd

    from incident_lib.core.schema import CONTRACTS, SchemaError, conform, with_added_columns

    contract = CONTRACTS["k8s_config"]
    assert contract.added == frozenset({"applied_hash"})
    row = {c: None for c in contract.columns if c != "applied_hash"}
    row |= {"kind": "ConfigMap", "name": "api-config"}
    frame = conform(pd.DataFrame([row]), "k8s_config")
    assert list(frame.columns) == list(contract.columns)
    assert frame["applied_hash"].isna().all()
    same = pd.DataFrame([row | {"applied_hash": "ab"}])
    assert with_added_columns(same, "k8s_config") is same
    with pytest.raises(SchemaError, match="missing columns"):
        conform(pd.DataFrame([row]).drop(columns=["data_hash"]), "k8s_config")
