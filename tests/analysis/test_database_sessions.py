"""Leaks, idle-in-transaction sessions, long queries and transactions, old xmin."""

from __future__ import annotations

import pandas as pd
import pytest
from test_database_frames import activity, at, session

from incident_lib.analysis.database import (
    find_leaks,
    idle_in_transaction,
    long_running,
    vacuum_holders,
)
from incident_lib.core.schema import empty_frame


def _pool(t: pd.Timestamp, n: int, *, app: str, client: str = "10.0.0.1", base: int = 1000):
    """``n`` busy sessions of ``app``: each started a query just before ``t``."""
    return [session(t, base + k, app=app, client=client) for k in range(n)]


def _leaking(
    minutes: int, *, app: str = "api", client: str = "10.0.0.7", idle_tx: bool = False
) -> list[dict[str, object]]:
    """5 busy sessions, plus 2 more each minute that never run another query."""
    rows: list[dict[str, object]] = []
    for i in range(minutes):
        t = at(i)
        rows += _pool(t, 5, app=app, client=client)
        for k in range(2 * i):
            opened = at(k // 2) - pd.Timedelta(seconds=5)
            rows.append(
                session(
                    t,
                    5000 + k,
                    app=app,
                    client=client,
                    state="idle in transaction" if idle_tx else "idle",
                    query_start=opened,
                    xact_start=opened if idle_tx else None,
                    query="SELECT * FROM batches WHERE id = $1 FOR UPDATE",
                )
            )
    return rows


def test_growth_without_work_is_a_leak_of_the_application():
    leaks = find_leaks(activity(_leaking(12)))
    assert len(leaks) == 1
    leak = leaks[0]
    assert (leak.application_name, leak.client_addr, leak.kind) == ("api", "", "growth")
    assert (leak.first, leak.last) == (5, 27)
    assert leak.first_at == at(0) and leak.last_at == at(11)
    assert leak.per_minute == pytest.approx(2.0)
    assert leak.idle_in_transaction == 0


def test_sessions_left_idle_in_transaction_ages_grow():
    leak = find_leaks(activity(_leaking(12, idle_tx=True)))[0]
    assert leak.kind == "growth, idle in transaction"
    assert leak.idle_in_transaction == 22
    assert leak.oldest_idle_s == pytest.approx(11 * 60 + 5)
    assert leak.queries == ("SELECT * FROM batches WHERE id = $1 FOR UPDATE",)


def test_a_busy_growing_pool_or_a_steady_larger_app_is_not_a_leak():
    rows = []
    for i in range(12):
        t = at(i)
        rows += _pool(t, 5 + 2 * i, app="surge")  # every new session works
        rows += _pool(t, 60, app="steady", base=20000)  # many sessions, flat
    assert find_leaks(activity(rows)) == []


def test_leak_found_by_client_when_the_application_as_a_whole_is_not():
    rows = []
    for i in range(12):
        rows += _pool(at(i), 80, app="api", client="10.0.0.1", base=20000)
    rows += _leaking(12, app="api", client="10.0.0.9")
    rows += _leaking(12, app="", client="10.0.0.5")
    for r in rows[-200:]:
        r["pid"] = int(r["pid"]) + 50000  # the unnamed client's own pids
    leaks = find_leaks(activity(rows))
    assert sorted((k.application_name, k.client_addr) for k in leaks) == [
        ("", "10.0.0.5"),
        ("api", "10.0.0.9"),
    ]
    assert {k.who for k in leaks} == {"api on 10.0.0.9", "10.0.0.5"}


def test_leaks_kept_apart_per_target_and_empty_frame():
    rows = _leaking(12)
    for r in rows:
        r["target"] = "orders"
    rows += [session(at(i), 1) for i in range(12)]
    leaks = find_leaks(activity(rows))
    assert [(k.target, k.application_name) for k in leaks] == [("orders", "api")]
    assert find_leaks(empty_frame("pg_activity")) == []


def test_idle_in_transaction_at_the_last_sample_with_what_they_block():
    since = at(0)
    rows = [
        session(at(9), 7, state="idle in transaction", xact_start=since, state_change=since),
        session(at(10), 7, state="idle in transaction", xact_start=since, state_change=since),
        session(
            at(10),
            8,
            state="idle in transaction",
            xact_start=at(9.9),
            state_change=at(9.9),
        ),  # 6 s: under the threshold
        session(at(10), 9, state="active", wait=("Lock", "transactionid"), blocking="7"),
    ]
    table = idle_in_transaction(activity(rows))
    assert table["pid"].tolist() == [7]
    assert table["idle_s"].tolist() == [600.0]
    assert table["blocked"].tolist() == [1]
    assert table["sampled_at"].tolist() == [at(10)]
    earlier = idle_in_transaction(activity(rows), at=at(9).to_pydatetime())
    assert earlier["idle_s"].tolist() == [540.0]
    assert idle_in_transaction(empty_frame("pg_activity")).empty


def test_long_queries_and_transactions_once_each_as_last_seen():
    rows = []
    for i in (5, 6, 7):
        rows.append(session(at(i), 1, state="active", query_start=at(0), xact_start=at(0)))
        rows.append(session(at(i), 2, state="idle in transaction", xact_start=at(-3)))
        rows.append(session(at(i), 3, state="active", query_start=at(i) - pd.Timedelta(seconds=2)))
    table = long_running(activity(rows))
    assert table["pid"].tolist() == [2, 1]  # transaction of 10 min, then query of 7 min
    assert table["kind"].tolist() == ["transaction", "query, transaction"]
    assert table.loc[1, "query_s"] == 420.0
    assert pd.isna(table.loc[0, "query_s"])
    assert table.loc[1, "first_seen"] == at(5) and table.loc[1, "last_seen"] == at(7)
    assert long_running(empty_frame("pg_activity")).empty


def test_old_xmin_holds_back_vacuum():
    rows = [
        session(at(1), 1, xmin_age=5_000_000),
        session(at(2), 1, xmin_age=5_000_100),
        session(at(2), 2, xmin_age=10.0),
        session(at(2), 3, backend_type="walsender", xmin_age=2_000_000),
    ]
    table = vacuum_holders(activity(rows))
    assert table["pid"].tolist() == [1, 3]
    assert table["xmin_age"].tolist() == [5_000_100, 2_000_000]
    assert table.loc[1, "backend_type"] == "walsender"
