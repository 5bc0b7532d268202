"""Connection limits, connections over time, idle-in-transaction series, saturation."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from test_database_frames import T0, activity, at, session, settings

from incident_lib.analysis.database import (
    ConnectionLimit,
    connection_limits,
    connections_over_time,
    idle_in_transaction_series,
    saturation,
)
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import conform, empty_frame


def _growing(counts: list[int], *, minutes: float = 1.0, target: str = "default") -> pd.DataFrame:
    rows = []
    for i, n in enumerate(counts):
        rows += [session(at(i * minutes), 100 + k, target=target) for k in range(n)]
    return activity(rows)


def test_connection_limits_reserved_slots_and_defaults():
    frame = pd.concat(
        [
            settings(
                "default",
                max_connections=100,
                superuser_reserved_connections=3,
                reserved_connections=5,
            ),
            settings("orders", max_connections=50),
            settings("broken", statement_timeout=0),
        ]
    )
    limits = connection_limits(conform(frame, "pg_settings"))
    assert limits["default"] == ConnectionLimit("default", 100, 3, 5)
    assert limits["default"].available == 92
    assert limits["orders"] == ConnectionLimit("orders", 50, 3, 0)  # PostgreSQL's default 3
    assert limits["orders"].available == 47
    assert "broken" not in limits
    assert connection_limits(empty_frame("pg_settings")) == {}


def test_connections_over_time_by_state_every_sample_largest_first():
    rows = [
        session(at(0), 1, state="active"),
        session(at(0), 2, state="idle"),
        session(at(0), 3, state="idle"),
        session(at(0), 9, backend_type="autovacuum worker", state="active"),
        session(at(1), 9, backend_type="autovacuum worker", state="active"),  # no client
        session(at(2), 1, state="idle in transaction"),
    ]
    table = connections_over_time(activity(rows))
    assert list(table.columns) == ["idle", "active", "idle in transaction"]
    assert table.columns.name == "state"
    assert table.index.name == "sampled_at"
    assert list(table.index) == [at(0), at(1), at(2)]
    assert str(table.index.tz) == "UTC"
    assert table["idle"].tolist() == [2, 0, 0]
    assert table["active"].tolist() == [1, 0, 0]
    assert table["idle in transaction"].tolist() == [0, 0, 1]
    assert all(str(d) == "int64" for d in table.dtypes)


def test_connections_over_time_by_application_and_client_names_empty_values():
    rows = [
        session(at(0), 1, app="api", client=""),
        session(at(0), 2, app="", client="10.0.0.2"),
        session(at(0), 3, app="api", client="10.0.0.2"),
    ]
    frame = activity(rows)
    assert list(connections_over_time(frame, by="application_name").columns) == ["api", "(none)"]
    by_client = connections_over_time(frame, by="client_addr")
    assert list(by_client.columns) == ["10.0.0.2", "(local socket)"]
    with pytest.raises(InvalidInput, match="by="):
        connections_over_time(frame, by="pid")  # type: ignore[arg-type]


def test_connections_over_time_keeps_targets_apart():
    frame = pd.concat([_growing([2, 3]), _growing([5, 5], target="orders")])
    assert connections_over_time(frame, target="orders")["idle"].tolist() == [5, 5]
    assert connections_over_time(frame, target="default")["idle"].tolist() == [2, 3]
    with pytest.raises(InvalidInput, match="pass target="):
        connections_over_time(frame)


def test_empty_frames_give_empty_tables():
    empty = empty_frame("pg_activity")
    assert connections_over_time(empty).empty
    series = idle_in_transaction_series(empty)
    assert series.empty
    assert list(series.columns) == ["sessions", "oldest", "oldest_xact"]
    assert saturation(empty, empty_frame("pg_settings")) == []


def test_idle_in_transaction_series_ages_grow():
    stuck = at(0) - pd.Timedelta(seconds=30)
    rows = []
    for i in range(4):
        t = at(i)
        rows.append(
            session(t, 7, state="idle in transaction", xact_start=stuck, state_change=stuck)
        )
        if i >= 2:
            rows.append(
                session(
                    t,
                    8,
                    state="idle in transaction (aborted)",
                    xact_start=at(2),
                    state_change=at(2),
                )
            )
        rows.append(session(t, 9, state="active"))
    series = idle_in_transaction_series(activity(rows))
    assert series["sessions"].tolist() == [1, 1, 2, 2]
    assert series["oldest"].tolist() == [30.0, 90.0, 150.0, 210.0]
    assert series["oldest_xact"].tolist() == [30.0, 90.0, 150.0, 210.0]
    quiet = idle_in_transaction_series(activity([session(at(0), 1)]))
    assert quiet["sessions"].tolist() == [0]
    assert quiet["oldest"].isna().all()


def test_saturation_reached_at_first_sample_at_available_slots():
    counts = [10, 40, 96, 97, 99, 97]
    limits = settings(max_connections=100, superuser_reserved_connections=3)
    found = saturation(_growing(counts), limits)
    assert len(found) == 1
    s = found[0]
    assert s.limit is not None and s.limit.available == 97
    assert s.reached_at == at(3)  # 97 of 97: the next ordinary connection is refused
    assert s.peak_at == at(4)


def test_saturation_reached_respects_reserved_slots():
    counts = [10, 40, 70, 92, 96, 99]
    # 16+: 100 - 3 superuser - 5 reserved = 92 for ordinary roles
    sixteen = settings(
        max_connections=100, superuser_reserved_connections=3, reserved_connections=5
    )
    s = saturation(_growing(counts), sixteen)[0]
    assert s.reached_at == at(3)
    assert (s.first, s.peak, s.peak_at, s.last) == (10, 99, at(5), 99)
    assert s.share == pytest.approx(99 / 92)
    assert s.time_to_exhaustion is None
    # before 16: 97 for ordinary roles, first reached by the 99 of the sixth sample
    fifteen = settings(max_connections=100, superuser_reserved_connections=3)
    assert saturation(_growing(counts), fifteen)[0].reached_at == at(5)


def test_saturation_not_reached_extrapolates_recent_growth():
    counts = [10 + 4 * i for i in range(11)]  # +4 a minute, 50 at 14:10
    s = saturation(_growing(counts), settings(max_connections=100))[0]
    assert s.reached_at is None
    assert s.time_to_exhaustion is not None
    # 97 available, 50 now, +4/min -> 47 / 4 = 11.75 min
    assert s.time_to_exhaustion.total_seconds() == pytest.approx(11.75 * 60)
    assert s.share == pytest.approx(50 / 97)


def test_saturation_flat_or_unknown_limit_has_no_estimate():
    flat = saturation(_growing([30, 31, 30, 30, 31, 30]), settings(max_connections=100))[0]
    assert flat.time_to_exhaustion is None and flat.reached_at is None
    shrinking = saturation(_growing([60, 50, 40, 30]), settings(max_connections=100))[0]
    assert shrinking.time_to_exhaustion is None
    unknown = saturation(_growing([5, 50]), empty_frame("pg_settings"))[0]
    assert unknown.limit is None and unknown.share is None and unknown.reached_at is None


def test_saturation_uses_only_the_last_ten_minutes():
    # fast growth long ago, flat for the last 10 minutes: no exhaustion in sight
    counts = [10, 30, 50] + [60] * 12
    s = saturation(_growing(counts), settings(max_connections=100))[0]
    assert s.time_to_exhaustion is None
    assert timedelta(minutes=14) == s.last_at - s.first_at


def test_saturation_per_target():
    frame = pd.concat([_growing([5, 60]), _growing([2, 3], target="orders")])
    limits = conform(
        pd.concat([settings(max_connections=60), settings("orders", max_connections=10)]),
        "pg_settings",
    )
    found = {s.target: s for s in saturation(frame, limits)}
    assert found["default"].reached_at == at(1)
    assert found["orders"].reached_at is None
    assert found["orders"].peak == 3
    assert found["default"].first_at == T0
