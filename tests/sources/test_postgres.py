"""The PostgreSQL source against a real, throwaway PostgreSQL cluster (``pg_server``).

The scenarios are made for real on that server with plain psycopg connections: a
client leaking connections idle in transaction at a growing rate, a row lock with
two sessions behind it and a chain of three, a long ``pg_sleep``. One capture of
every frame while they all run (``busy``) serves most assertions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pandas as pd
import psycopg
import pytest
from pg_server import (  # the fixture is imported so that pytest finds it
    PASSWORD,
    SECRET_LITERAL,
    Blocking,
    Leak,
    LongQuery,
    PgServer,
    blocking,
    idle_in_transaction_leak,
    long_query,
    postgres,  # noqa: F401
    wait_until,
)

from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.schema import EVIDENCE_KINDS, validate
from incident_lib.sources.base import Fetched, Limits
from incident_lib.sources.postgres import (
    APPLICATION_NAME,
    NOT_INSTALLED,
    PostgresConnector,
    Sampling,
    Target,
    Timeouts,
    open_session,
    targets_from_environment,
)
from incident_lib.sources.postgres.sampling import run_sampling

pytestmark = pytest.mark.integration

FAST = Sampling(every=0.5, duration=2.0)


def reader_env(server: PgServer, **more: str) -> dict[str, str]:
    return {"INCIDENT_PG_DSN": server.dsn("reader", password=PASSWORD), **more}


def target(server: PgServer, user: str = "reader", dbname: str = "orders") -> Target:
    password = PASSWORD if user == "reader" else None
    env = {"INCIDENT_PG_DSN": server.dsn(user, dbname, password=password)}
    return targets_from_environment(env)[0]


@dataclass
class Busy:
    """Every frame captured while the leak, the lock waits and the long query ran."""

    server: PgServer
    leak: Leak
    locks: Blocking
    slow: LongQuery
    fetched: dict[str, Fetched]
    connector: PostgresConnector

    def frame(self, name: str) -> pd.DataFrame:
        return self.fetched[name].frame


#: the scenarios of ``busy`` hold 13 of the 17 slots ordinary roles get (20 - 3 reserved)
@pytest.fixture(scope="module")
def busy(postgres: PgServer) -> Iterator[Busy]:  # noqa: F811
    connector = PostgresConnector.from_environment(reader_env(postgres), sampling=FAST)
    with ExitStack() as stack:
        locks = stack.enter_context(blocking(postgres))
        slow = stack.enter_context(long_query(postgres))
        leak = stack.enter_context(
            idle_in_transaction_leak(postgres, steps=3, every=0.5, application_name="leaky-api")
        )
        leak.wait_for(1)
        fetched = {"activity": connector.fetch("activity", None, None, progress=True)}  # type: ignore[arg-type]
        leak.wait_done()
        for name in connector.frames:
            if name != "activity":
                fetched[name] = connector.fetch(name, None, None)  # type: ignore[arg-type]
        yield Busy(postgres, leak, locks, slow, fetched, connector)


def rows_of(activity: pd.DataFrame, pid: int) -> pd.DataFrame:
    return activity[activity["pid"] == pid]


def last_row(activity: pd.DataFrame, pid: int) -> pd.Series:
    rows = rows_of(activity, pid)
    assert len(rows), f"pid {pid} not in the activity"
    return rows.sort_values("sampled_at").iloc[-1]


# -- contracts -------------------------------------------------------------------------------


def test_every_frame_meets_its_contract_and_names_its_target(busy):
    assert busy.connector.frames == tuple(n for s, n in EVIDENCE_KINDS if s == "postgres")
    for name, fetched in busy.fetched.items():
        kind = EVIDENCE_KINDS[("postgres", name)]
        validate(fetched.frame, kind)
        if len(fetched.frame):
            assert set(fetched.frame["target"]) == {"default"}, name
    for name in ("activity", "settings", "limits", "locks", "database_stats", "statements"):
        assert len(busy.frame(name)), f"{name} is empty"


def test_the_sampling_run_serves_four_frames_once(busy):
    activity, locks = busy.frame("activity"), busy.frame("locks")
    times = sorted(activity["sampled_at"].unique())
    assert len(times) == FAST.samples  # 5 snapshots, 0.5 s apart
    gaps = pd.Series(times).diff().dropna().dt.total_seconds()
    assert gaps.between(0.3, 1.0).all(), gaps.tolist()
    # the locks were read in the same snapshots (same sampled_at), not in a second run
    assert set(locks["sampled_at"]) <= set(times)
    stats = busy.frame("database_stats")
    assert stats["period_start"].min() >= min(times) and stats["period_end"].max() >= max(times)


def test_our_own_session_is_left_out_of_the_activity(busy):
    activity = busy.frame("activity")
    assert APPLICATION_NAME not in set(activity["application_name"].dropna())


# -- the scenarios, as the frames show them -------------------------------------------------


def test_the_leak_grows_idle_in_transaction_with_its_pids_and_application(busy):
    activity = busy.frame("activity")
    leaky = activity[activity["application_name"] == "leaky-api"]
    assert set(leaky["pid"]) <= set(busy.leak.pids)
    counts = leaky.groupby("sampled_at").size().sort_index()
    assert counts.is_monotonic_increasing and counts.iloc[-1] > counts.iloc[0], counts
    assert counts.iloc[-1] == len(busy.leak.pids) == 6
    # a session caught between its connect and its SELECT is idle (or active) for a moment
    last = leaky[leaky["sampled_at"] == leaky["sampled_at"].max()]
    assert set(last["state"]) == {"idle in transaction"}
    assert set(leaky["state"]) <= {"idle", "active", "idle in transaction"}
    assert (leaky["state"] == "idle in transaction").mean() > 0.8
    assert set(leaky["usename"]) == {"app"} and set(leaky["client_addr"]) == {"127.0.0.1"}
    assert set(leaky["backend_type"]) == {"client backend"}
    assert set(last["wait_event_type"]) == {"Client"} and set(last["wait_event"]) == {"ClientRead"}
    first = rows_of(activity, busy.leak.pids[0]).sort_values("sampled_at")
    assert first["xact_age"].is_monotonic_increasing and first["xact_age"].iloc[-1] > 1.0
    # ages are computed at sampled_at
    row = first.iloc[-1]
    expected = (row["sampled_at"] - row["xact_start"]).total_seconds()
    assert row["xact_age"] == pytest.approx(expected, abs=1e-3)
    assert row["backend_age"] >= row["xact_age"] >= row["query_age"] >= 0
    assert "WHERE customer = $1 OR id = $2" in row["query"]


def test_the_row_lock_holder_and_its_two_waiters(busy):
    activity = busy.frame("activity")
    holder = last_row(activity, busy.locks.holder)
    assert holder["state"] == "idle in transaction" and holder["blocking_pids"] == ""
    assert holder["application_name"] == "blocker-app"
    assert holder["backend_xid_age"] >= 1  # it wrote: it has a transaction id
    for pid in busy.locks.waiters:
        row = last_row(activity, pid)
        assert row["blocking_pids"] == str(busy.locks.holder)
        assert (row["wait_event_type"], row["wait_event"]) == ("Lock", "transactionid")
        assert row["state"] == "active" and row["application_name"] == "waiter-app"
        assert row["query"].startswith("UPDATE public.orders SET status = $")


def test_the_chain_of_three(busy):
    activity = busy.frame("activity")
    head, middle, tail = busy.locks.chain
    assert last_row(activity, head)["blocking_pids"] == ""
    assert last_row(activity, middle)["blocking_pids"] == str(head)
    assert last_row(activity, tail)["blocking_pids"] == str(middle)


def test_the_locks_frame_shows_the_waiters_and_the_holder(busy):
    locks = busy.frame("locks")
    last = locks[locks["sampled_at"] == locks["sampled_at"].max()]
    waiting = last[~last["granted"]]
    assert set(waiting["pid"]) == {*busy.locks.waiters, *busy.locks.chain[1:]}
    for pid in busy.locks.waiters:
        row = waiting[waiting["pid"] == pid].iloc[0]
        assert row["blocking_pids"] == str(busy.locks.holder)
        assert (row["locktype"], row["mode"]) == ("transactionid", "ShareLock")
        if busy.server.version >= 140000:
            assert pd.notna(row["waitstart"]) and row["waitstart"] <= row["sampled_at"]
    held = last[last["granted"] & (last["pid"] == busy.locks.holder)]
    assert len(held) == 1 and held.iloc[0]["mode"] == "ExclusiveLock"
    # the holder's transaction id is the one both waiters wait for
    assert set(waiting[waiting["pid"].isin(busy.locks.waiters)]["transactionid"]) == {
        held.iloc[0]["transactionid"]
    }
    # only the locks that matter: no idle leak session, no relation locks of bystanders
    assert not set(locks["pid"]) & set(busy.leak.pids)
    assert (locks["granted"] | (locks["blocking_pids"] != "")).all()


def test_the_long_query(busy):
    row = last_row(busy.frame("activity"), busy.slow.pid)
    assert row["state"] == "active" and row["application_name"] == "report-job"
    assert row["query_age"] > 0.5 and "pg_sleep" in row["query"]
    assert row["wait_event_type"] == "Timeout" and row["wait_event"] == "PgSleep"


def test_no_literal_value_of_any_query_appears_in_any_frame(busy):
    for name, fetched in busy.fetched.items():
        text = fetched.frame.to_csv()
        assert SECRET_LITERAL not in text, name
        # fragments of the literal, in the text a query could leak into: numbers and times may
        # hold "4111" by chance (a pid, a duration of 0.041114 s, a timestamp's microseconds)
        words = fetched.frame.select_dtypes(include=["object", "string"]).to_csv()
        assert "card-" not in words and "4111" not in words, name
        assert PASSWORD not in text and PASSWORD not in " ".join(fetched.notes), name


# -- settings, limits, statements, replication ----------------------------------------------


def test_settings_are_the_servers_not_our_sessions(busy):
    settings = busy.frame("settings").set_index("name")["setting"]
    assert settings["max_connections"] == "20"
    assert settings["superuser_reserved_connections"] == "3"
    assert int(settings["server_version_num"]) == busy.server.version
    # our session sets 10 s / 2 s for itself; the frame reports the server's value
    assert settings["statement_timeout"] == "0" and settings["lock_timeout"] == "0"
    assert settings["idle_in_transaction_session_timeout"] == "0"
    if busy.server.version < 160000:
        assert "reserved_connections" not in settings.index


def test_limits_count_the_client_backends_per_role_and_database(busy):
    limits = busy.frame("limits")
    roles = limits[limits["kind"] == "role"].set_index("name")
    databases = limits[limits["kind"] == "database"].set_index("name")
    assert {"app", "reader", "postgres"} <= set(roles.index)
    assert (roles["connection_limit"] == -1).all()
    # leak (6) + holder, 2 waiters, chain of 3 + the long query: all app, all on orders
    assert roles.loc["app", "connections"] == 6 + 3 + 3 + 1
    assert databases.loc["orders", "connections"] == 13


def test_top_statements_are_masked(busy):
    statements = busy.frame("statements")
    assert 0 < len(statements) <= 20 and not busy.fetched["statements"].notes
    assert statements["total_exec_time"].is_monotonic_decreasing
    assert (statements["calls"] >= 1).all()
    assert statements["query"].str.contains("orders").any()


def test_statements_on_a_database_without_the_extension(postgres):  # noqa: F811
    env = {"INCIDENT_PG_DSN_PLAIN": postgres.dsn("app", "plain")}
    fetched = PostgresConnector.from_environment(env).fetch("statements", None, None)  # type: ignore[arg-type]
    assert fetched.frame.empty
    validate(fetched.frame, "pg_statements")
    assert fetched.notes == (NOT_INSTALLED.format(target="plain"),)
    assert fetched.notes[0] == (
        "pg_stat_statements is not installed on plain: top statements unknown (add it to "
        "shared_preload_libraries, restart, CREATE EXTENSION pg_stat_statements)"
    )


def test_replication_is_empty_without_a_note_on_a_primary_without_standbys(busy):
    assert busy.frame("replication").empty and busy.fetched["replication"].notes == ()


def test_database_stats_count_the_commits_and_rollbacks_made_while_sampling(postgres):  # noqa: F811
    session = open_session(target(postgres))
    done = threading.Event()

    def work_then_sleep(seconds: float) -> None:
        if not done.is_set():
            with postgres.connect("app") as conn:
                for _ in range(7):
                    conn.execute("SELECT 1")  # autocommit: 7 commits
                conn.autocommit = False
                for _ in range(3):
                    conn.execute("SELECT 1")
                    conn.rollback()
            done.set()  # the backend exits on close: its counters are flushed
        time.sleep(seconds)

    try:
        run = run_sampling(
            [session],
            Sampling(every=1.0, duration=2.0),
            budget=Limits().new_budget("postgres"),
            sleep=work_then_sleep,
        )
    finally:
        session.close()
    stats = run.database_stats().set_index("datname")
    orders = stats.loc["orders"]
    # 7 + 3 from the worker, plus the reads of our own session (it commits too)
    assert orders["xact_commit"] >= 7 and orders["xact_rollback"] == 3
    assert stats.loc["plain", "xact_commit"] == 0
    assert (stats[["deadlocks", "temp_files", "conflicts"]] == 0).all().all()
    assert (stats["period_end"] > stats["period_start"]).all()


# -- the session ----------------------------------------------------------------------------


def test_the_session_is_read_only_named_and_bounded(postgres):  # noqa: F811
    with open_session(target(postgres)) as session:
        assert session.version == postgres.version and not session.in_recovery
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.conn.execute("UPDATE public.orders SET status = 'x' WHERE id = 1")
        with pytest.raises(SourceUnavailable, match="read-only session") as caught:
            session.rows("DELETE FROM public.orders WHERE id = 2", what="write")
        assert "Traceback" not in str(caught.value)
        shown = {
            r["name"]: r["setting"]
            for r in session.rows(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                [
                    [
                        "default_transaction_read_only",
                        "statement_timeout",
                        "lock_timeout",
                        "idle_in_transaction_session_timeout",
                        "TimeZone",
                    ]
                ],
                what="check",
            )
        }
        assert shown == {
            "default_transaction_read_only": "on",
            "statement_timeout": "10000",
            "lock_timeout": "2000",
            "idle_in_transaction_session_timeout": "30000",
            "TimeZone": "UTC",
        }
        seen = postgres.sql(
            "SELECT application_name, state, xact_start FROM pg_stat_activity WHERE pid = %s",
            [session.pid],
        )
        # autocommit: between two queries it holds no transaction
        assert seen == [(APPLICATION_NAME, "idle", None)]
    wait_until(
        lambda: not postgres.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [session.pid]),
        "the session to end once closed",
    )


def test_no_transaction_is_held_between_two_snapshots(postgres):  # noqa: F811
    session = open_session(target(postgres))
    seen: list[tuple[str, object]] = []

    def look_then_sleep(seconds: float) -> None:
        row = postgres.sql(
            "SELECT state, xact_start FROM pg_stat_activity WHERE pid = %s", [session.pid]
        )[0]
        seen.append(row)
        time.sleep(seconds)

    try:
        run_sampling(
            [session],
            Sampling(every=0.5, duration=1.0),
            budget=Limits().new_budget("postgres"),
            sleep=look_then_sleep,
        )
    finally:
        session.close()
    assert seen and all(row == ("idle", None) for row in seen), seen


def test_a_query_past_the_statement_timeout_is_cancelled(postgres):  # noqa: F811
    with open_session(target(postgres), timeouts=Timeouts(statement=0.3)) as session:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable) as caught:
            session.rows("SELECT pg_sleep(5)", what="slow test")
        assert time.monotonic() - started < 3
        assert "the slow test query was cancelled by statement_timeout (0.3 s)" in str(caught.value)
        # the session is still usable afterwards
        assert session.rows("SELECT 1 AS one", what="check") == [{"one": 1}]


def test_a_lock_wait_past_the_lock_timeout_gives_up(postgres):  # noqa: F811
    # on database plain: the sessions of ``busy`` hold locks on orders' table
    with postgres.connect("app", "plain", autocommit=False, application_name="ddl") as ddl:
        ddl.execute("SET lock_timeout = '5s'")
        ddl.execute("LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE")
        plain = target(postgres, dbname="plain")
        with open_session(plain, timeouts=Timeouts(lock=0.3)) as session:
            started = time.monotonic()
            with pytest.raises(SourceUnavailable, match=r"lock_timeout 0\.3 s"):
                session.rows("SELECT count(*) FROM public.orders", what="count")
            assert time.monotonic() - started < 3
        ddl.rollback()


def test_the_sampling_is_clipped_to_the_time_budget_with_a_note(postgres):  # noqa: F811
    connector = PostgresConnector.from_environment(
        reader_env(postgres),
        limits=Limits(budget=6.5),
        sampling=Sampling(every=0.5, duration=30.0),
    )
    started = time.monotonic()
    fetched = connector.fetch("activity", None, None)  # type: ignore[arg-type]
    assert time.monotonic() - started < 4
    assert any(
        n.startswith("sampling cut to 1.") and "of 30 s asked by INCIDENT_PG_SAMPLE_FOR" in n
        for n in fetched.notes
    ), fetched.notes
    assert 2 <= fetched.frame["sampled_at"].nunique() <= 4


def test_two_targets_on_one_server(postgres):  # noqa: F811
    env = reader_env(postgres, INCIDENT_PG_DSN_PLAIN=postgres.dsn("app", "plain"))
    connector = PostgresConnector.from_environment(env, sampling=Sampling(every=0.5, duration=0))
    activity = connector.fetch("activity", None, None).frame  # type: ignore[arg-type]
    assert set(activity["target"]) == {"default", "plain"}
    settings = connector.fetch("settings", None, None).frame  # type: ignore[arg-type]
    counts = settings.groupby("target").size().to_dict()
    assert counts["default"] == counts["plain"] >= 12
    only = PostgresConnector.from_environment(env, databases=("plain",))
    assert [t.name for t in only.targets] == ["plain"]
