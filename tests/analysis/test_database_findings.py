"""Settings advice, statements, refusals, the findings and the verdict."""

from __future__ import annotations

import pandas as pd
import pytest
from test_database_frames import activity, at, session, settings
from test_database_sessions import _leaking, _pool

from incident_lib import Window
from incident_lib.analysis.database import (
    database_findings,
    database_verdict,
    is_refused_full,
    setting_text,
    settings_advice,
    statements_summary,
)
from incident_lib.core.schema import conform, empty_frame


def test_settings_advice_when_the_timeout_is_disabled():
    advice = settings_advice(
        settings(
            idle_in_transaction_session_timeout=0,
            statement_timeout=30000,
            lock_timeout=0,
            superuser_reserved_connections=0,
            server_version_num=160004,
        )
    )
    assert advice["setting"].tolist() == [
        "idle_in_transaction_session_timeout",
        "lock_timeout",
        "superuser_reserved_connections",
    ]
    row = advice.iloc[0]
    assert (row["value"], row["safer"]) == ("0 (disabled)", "60s")
    assert "max_connections" in row["why"]
    assert "pg_use_reserved_connections" in advice.iloc[2]["safer"]


def test_settings_advice_when_the_timeouts_are_set():
    advice = settings_advice(
        settings(
            idle_in_transaction_session_timeout=60000,
            statement_timeout=30000,
            lock_timeout=5000,
            superuser_reserved_connections=3,
        )
    )
    assert advice.empty
    assert settings_advice(empty_frame("pg_settings")).empty
    assert setting_text("60000", "ms") == "1 min"
    assert setting_text("0", "ms") == "0 (disabled)"
    assert setting_text("250", "ms") == "250 ms"
    assert setting_text("100", "") == "100"


def test_statements_summary_top_by_total_once_each():
    rows = [
        ("1", 10, 9000.0, 900.0, 2000.0, "SELECT slow"),
        ("2", 1000, 1000.0, 1.0, 5.0, "SELECT fast"),
        ("1", 10, 9000.0, 900.0, 2000.0, "SELECT slow"),  # also in the top by mean
    ]
    frame = pd.DataFrame(
        [
            {
                "target": "default",
                "queryid": q,
                "datname": "orders",
                "usename": "api",
                "calls": c,
                "total_exec_time": total,
                "mean_exec_time": mean,
                "max_exec_time": most,
                "rows": 1,
                "shared_blks_hit": 0,
                "shared_blks_read": 0,
                "temp_blks_written": 0,
                "query": text,
            }
            for q, c, total, mean, most, text in rows
        ]
    )
    table = statements_summary(conform(frame, "pg_statements"), n=5)
    assert table["queryid"].tolist() == ["1", "2"]
    assert table["total_s"].tolist() == [9.0, 1.0]
    assert table["share"].tolist() == [0.9, 0.1]
    assert statements_summary(empty_frame("pg_statements")).empty


@pytest.mark.parametrize(
    "message",
    [
        "FATAL:  sorry, too many clients already",
        "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
        "FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute",
        "FATAL:  remaining connection slots are reserved for roles with privileges of the "
        '"pg_use_reserved_connections" role',
        "the server refused a new connection because its connection slots are full: ...",
    ],
)
def test_refused_full_on_postgresqls_messages(message):
    assert is_refused_full(message)


@pytest.mark.parametrize(
    "message",
    [
        'FATAL:  password authentication failed for user "api"',
        'FATAL:  too many connections for role "api"',
        "connection timeout expired",
    ],
)
def test_other_failures_are_not_full(message):
    assert not is_refused_full(message)


def _leak_incident() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = _leaking(20, idle_tx=True)  # 5 + 2 a minute: 43 at 14:19
    since = at(5)
    for i in range(8, 12):  # a worker waiting on one of the leaked sessions
        rows.append(
            session(
                at(i),
                700,
                app="worker",
                state="active",
                query_start=since,
                xact_start=since,
                wait=("Lock", "transactionid"),
                blocking="5000",
            )
        )
    limits = settings(
        max_connections=40, superuser_reserved_connections=3, idle_in_transaction_session_timeout=0
    )
    return activity(rows), limits


def test_findings_of_a_leak_that_reached_the_limit():
    act, limits = _leak_incident()
    found = {f.fact: f for f in database_findings(act, limits)}
    assert set(found) == {
        "db:saturation:default",
        "db:leak:default:api",
        "db:idle-in-transaction:default",
        "db:blocking:default",
        "db:long-queries:default",
    }
    sat = found["db:saturation:default"]
    assert (sat.role, sat.severity) == ("mechanism", "high")
    # 37 available (40 - 3): 5 + 2 * 16 = 37 client backends first at 14:16
    assert sat.title == "Database connections reached max_connections (40) at 14:16 UTC"
    assert "max_connections (40)" in sat.summary
    assert "connections from api grew from 5 to 43" in sat.summary
    assert "idle_in_transaction_session_timeout is 0 (disabled)" in sat.summary
    leak = found["db:leak:default:api"]
    assert leak.role == "mechanism" and leak.severity == "high"
    assert "grew from 5 at 14:00 UTC to 43 at 14:19 UTC" in leak.summary
    assert "FOR UPDATE" in leak.summary
    idle = found["db:idle-in-transaction:default"]
    assert idle.role == "mechanism"
    assert "0 (disabled): nothing ends them" in idle.summary
    blocking = found["db:blocking:default"]
    assert blocking.role == "symptom"
    assert "pid 5000" in blocking.summary and "blocks 1" in blocking.summary
    verdict = database_verdict(act, limits)
    assert verdict.startswith("the database was the bottleneck: its connections reached")
    assert "api leaked connections (5 to 43 sessions)" in verdict


def test_idle_finding_says_the_timeout_when_it_is_set():
    act, _ = _leak_incident()
    limits = settings(max_connections=400, idle_in_transaction_session_timeout=600000)
    idle = next(f for f in database_findings(act, limits) if "idle-in" in f.fact)
    assert "idle_in_transaction_session_timeout is 10 min" in idle.summary
    assert "nothing ends them" not in idle.summary


def test_quiet_database_is_not_the_bottleneck():
    rows = []
    for i in range(10):
        rows += _pool(at(i), 12, app="checkout")
    act = activity(rows)
    limits = settings(max_connections=100, superuser_reserved_connections=3, reserved_connections=2)
    found = database_findings(act, limits)
    assert [(f.fact, f.role, f.severity) for f in found] == [
        ("db:not-bottleneck:default", "context", "info")
    ]
    assert "peak 12 client connections of 95 available (13%) at 14:00 UTC" in found[0].summary
    verdict = database_verdict(act, limits)
    assert verdict.startswith("the database was not the bottleneck: peak 12")


def test_targets_kept_apart_and_window_and_empty():
    act, limits = _leak_incident()
    quiet = activity([session(at(i), 1, target="orders") for i in range(5)])
    both = pd.concat([act, quiet], ignore_index=True)
    all_limits = conform(pd.concat([limits, settings("orders", max_connections=50)]), "pg_settings")
    facts = [f.fact for f in database_findings(both, all_limits)]
    assert "db:not-bottleneck:orders" in facts
    assert "db:leak:default:api" in facts
    assert all(not f.endswith(":orders") or "not-bottleneck" in f for f in facts)
    titles = [f.title for f in database_findings(both, all_limits)]
    assert "The database on orders was not the bottleneck" in titles
    assert any(t.endswith("on default at 14:16 UTC") for t in titles)
    verdict = database_verdict(both, all_limits)
    assert "database default was the bottleneck" in verdict
    assert "database orders was not the bottleneck" in verdict
    early = Window(at(0).to_pydatetime(), at(4).to_pydatetime())
    before = {f.fact: f for f in database_findings(act, limits, window=early)}
    assert before["db:saturation:default"].severity == "medium"  # growing, not reached yet
    assert "the limit is reached in about" in before["db:saturation:default"].summary
    assert database_findings(empty_frame("pg_activity"), empty_frame("pg_settings")) == []
    assert database_verdict(empty_frame("pg_activity"), limits) == (
        "no database activity was sampled"
    )
