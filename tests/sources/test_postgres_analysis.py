"""The PostgreSQL source AND the database analysis, end to end on a real cluster.

Each scenario of issue 11 is made for real on a throwaway cluster (``pg_server``),
sampled through :class:`PostgresConnector` configured from the environment only
(``INCIDENT_PG_DSN``, ``INCIDENT_PG_SAMPLE_EVERY`` / ``INCIDENT_PG_SAMPLE_FOR``), and the
analysis must name what the test made: the leaking application (not the busier
steady one), the pids idle in transaction, the root blocker and the chain, the long
query, and the moment the connection slots ran out.

The cluster is this module's own, with ``max_connections`` :data:`MAX_CONNECTIONS`:
the leak (15 sessions) runs beside a steady application holding more sessions than
the leaker ever does, which the shared 20-slot cluster cannot hold.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
import pytest
from conftest import UNDER_CI
from pg_server import (
    PASSWORD,
    SECRET_LITERAL,
    Blocking,
    Leak,
    LongQuery,
    PgServer,
    blocking,
    fill_server,
    find_bindir,
    idle_in_transaction_leak,
    long_query,
    start_postgres,
    wait_until,
)

import incident_lib.analysis.database.findings as findings_module
from incident_lib.analysis.database import (
    BlockingNode,
    blocking_samples,
    blocking_table,
    blocking_tree,
    connections_over_time,
    database_findings,
    database_verdict,
    find_leaks,
    idle_in_transaction,
    idle_in_transaction_series,
    is_refused_full,
    long_running,
    refusal_findings,
    saturation,
)
from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.findings import Finding
from incident_lib.core.schema import validate
from incident_lib.sources.postgres import PostgresConnector

pytestmark = pytest.mark.integration

#: the cluster's max_connections: ordinary roles get 37 (3 reserved for superusers)
MAX_CONNECTIONS = 40
SUPERUSER_RESERVED = 3
#: sessions of the steady application: more than the leaker ever holds (15)
STEADY_SESSIONS = 16
LEAK_STEPS = 5  # 1 + 2 + 3 + 4 + 5 = 15 sessions
LEAKED = LEAK_STEPS * (LEAK_STEPS + 1) // 2


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    """This module's own cluster (see the module docstring)."""
    if find_bindir() is None:
        message = "PostgreSQL server (initdb, pg_ctl) is not installed"
        if UNDER_CI:
            pytest.fail(f"{message}, and CI must run this test: install it in .ci/run")
        pytest.skip(message)
    with start_postgres(
        max_connections=MAX_CONNECTIONS, superuser_reserved=SUPERUSER_RESERVED
    ) as started:
        yield started


def environment(
    server: PgServer, user: str = "reader", *, every: float = 0.5, duration: float = 3.0
) -> dict[str, str]:
    """The investigator's environment: the DSN and a short, fast sampling."""
    password = PASSWORD if user == "reader" else None
    return {
        "INCIDENT_PG_DSN": server.dsn(user, password=password),
        "INCIDENT_PG_SAMPLE_EVERY": f"{every:g}",
        "INCIDENT_PG_SAMPLE_FOR": f"{duration:g}",
    }


def fetch(connector: PostgresConnector, name: str) -> pd.DataFrame:
    """One frame of ``connector``, checked against its contract."""
    frame = connector.fetch(name, None, None).frame  # type: ignore[arg-type]
    validate(frame, f"pg_{name}")
    return frame


def facts(found: list[Finding]) -> dict[str, Finding]:
    return {f.fact: f for f in found}


# -- a steady application doing work beside the leak ------------------------------------------


@dataclass
class Steady:
    """Sessions that keep running short queries (their ``query_start`` moves)."""

    pids: list[int]
    rounds: int = 0
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def steady_app(
    server: PgServer, sessions: int, application_name: str = "steady-api"
) -> Iterator[Steady]:
    """``sessions`` autocommit connections as ``app``, each querying every ~50 ms."""
    conns: list[Any] = []
    try:
        for _ in range(sessions):
            conns.append(
                psycopg.connect(
                    server.dsn("app"),
                    autocommit=True,
                    application_name=application_name,
                    connect_timeout=10,
                )
            )
        steady = Steady(pids=[int(c.info.backend_pid) for c in conns])

        def work() -> None:
            try:
                while not steady.stop.is_set():
                    for conn in conns:
                        conn.execute(
                            "SELECT count(*) FROM public.orders "
                            f"WHERE customer <> '{SECRET_LITERAL}'"
                        )
                    steady.rounds += 1
                    steady.stop.wait(0.05)
            except BaseException as exc:  # reported by the test
                steady.error = exc

        thread = threading.Thread(target=work, name="steady-app", daemon=True)
        thread.start()
        try:
            wait_until(lambda: steady.rounds >= 2 or steady.error is not None, "steady work")
            yield steady
        finally:
            steady.stop.set()
            thread.join(10)
        assert steady.error is None, steady.error
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


# -- the leak -----------------------------------------------------------------------------------


@dataclass
class Leaking:
    """What the investigator sampled while ``leaky-api`` leaked beside ``steady-api``."""

    leak: Leak
    steady: Steady
    activity: pd.DataFrame
    settings: pd.DataFrame
    locks: pd.DataFrame
    stats: pd.DataFrame


@pytest.fixture(scope="class")
def leaking(server: PgServer) -> Iterator[Leaking]:
    connector = PostgresConnector.from_environment(environment(server, duration=5.0))
    assert (connector.sampling.every, connector.sampling.duration) == (0.5, 5.0)
    with (
        steady_app(server, STEADY_SESSIONS) as steady,
        idle_in_transaction_leak(
            server, steps=LEAK_STEPS, every=0.5, application_name="leaky-api"
        ) as leak,
    ):
        activity = fetch(connector, "activity")  # samples 5 s; the leak grows for ~2.5 s
        leak.wait_done()
        yield Leaking(
            leak=leak,
            steady=steady,
            activity=activity,
            settings=fetch(connector, "settings"),
            locks=fetch(connector, "locks"),
            stats=fetch(connector, "database_stats"),
        )


def of_app(activity: pd.DataFrame, name: str) -> pd.DataFrame:
    return activity[activity["application_name"] == name]


class TestLeak:
    """A client leaks connections idle in transaction beside a busier steady application."""

    def test_the_steady_app_holds_more_sessions_than_the_leaker(self, leaking: Leaking) -> None:
        """The scenario itself: the leaker is never the largest application."""
        by_app = connections_over_time(leaking.activity, by="application_name")
        assert by_app.columns[0] == "steady-api", by_app
        assert (by_app["steady-api"] == STEADY_SESSIONS).all(), by_app
        assert by_app["leaky-api"].iloc[-1] == LEAKED, by_app
        assert by_app["leaky-api"].iloc[0] < 0.5 * LEAKED, by_app  # sampled while it grew

    def test_find_leaks_names_exactly_the_leaking_application(self, leaking: Leaking) -> None:
        leaks = find_leaks(leaking.activity)
        assert [(k.target, k.application_name, k.client_addr) for k in leaks] == [
            ("default", "leaky-api", "")
        ], leaks
        leak = leaks[0]
        assert "growth" in leak.kind
        assert leak.last == LEAKED and leak.first <= LEAKED // 3
        assert leak.idle_in_transaction == LEAKED
        assert leak.per_minute > 60  # 15 sessions in about 2 s
        times = sorted(leaking.activity["sampled_at"].unique())
        assert leak.first_at in times and leak.last_at in times and leak.first_at < leak.last_at
        assert leak.queries and all(SECRET_LITERAL not in q for q in leak.queries)
        assert "WHERE customer = $1 OR id = $2" in leak.queries[0]

    def test_idle_in_transaction_lists_the_leaked_pids_with_growing_ages(
        self, leaking: Leaking
    ) -> None:
        idle = idle_in_transaction(leaking.activity, threshold_s=0.0)
        assert set(idle["application_name"]) == {"leaky-api"}  # steady-api is autocommit
        assert sorted(idle["pid"]) == sorted(leaking.leak.pids)
        assert set(idle["usename"]) == {"app"} and set(idle["client_addr"]) == {"127.0.0.1"}
        # the earlier a session leaked, the longer it has been idle (longest first)
        age = dict(zip(idle["pid"], idle["idle_s"], strict=True))
        in_leak_order = [age[p] for p in leaking.leak.pids]
        assert in_leak_order == sorted(in_leak_order, reverse=True), in_leak_order
        assert in_leak_order[0] - in_leak_order[-1] >= 1.5  # 4 steps 0.5 s apart
        assert idle["pid"].iloc[0] == leaking.leak.pids[0]
        assert (idle["xact_s"] >= idle["idle_s"]).all()
        # over the samples: more sessions, and the oldest ever older
        series = idle_in_transaction_series(leaking.activity)
        assert series["sessions"].is_monotonic_increasing and series["sessions"].iloc[-1] == LEAKED
        oldest = series["oldest"].dropna()
        assert len(oldest) >= 3 and oldest.is_monotonic_increasing, oldest

    def test_the_findings_name_the_leak_and_the_idle_transactions(
        self, leaking: Leaking, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # sessions count as left idle in transaction after 60 s (STUCK_S); a test cannot
        # wait that long, so the findings read the same samples with 1 s
        monkeypatch.setattr(findings_module, "STUCK_S", 1.0)
        found = facts(
            database_findings(
                leaking.activity, leaking.settings, locks=leaking.locks, stats=leaking.stats
            )
        )
        leak = found["db:leak:default:leaky-api"]
        assert leak.role == "mechanism" and "leaky-api" in leak.title
        assert f"to {LEAKED} at" in leak.summary and "steady-api" not in leak.summary
        idle = found["db:idle-in-transaction:default"]
        assert idle.role == "mechanism"
        assert "from leaky-api" in idle.summary
        assert f"pid {leaking.leak.pids[0]}" in idle.summary  # the oldest
        assert "idle_in_transaction_session_timeout is 0 (disabled)" in idle.summary
        assert not any("steady-api" in f.fact for f in found.values())
        for finding in found.values():
            assert SECRET_LITERAL not in finding.summary + finding.title

    def test_without_the_patch_the_leak_is_still_found_and_the_database_blamed(
        self,
        leaking: Leaking,
    ) -> None:
        found = facts(database_findings(leaking.activity, leaking.settings))
        assert "db:leak:default:leaky-api" in found
        assert "db:not-bottleneck:default" not in found
        verdict = database_verdict(leaking.activity, leaking.settings)
        assert verdict.startswith("the database was the bottleneck")
        assert "leaky-api leaked connections" in verdict and "steady-api" not in verdict

    def test_the_settings_are_the_servers_not_the_investigators_session(
        self, leaking: Leaking
    ) -> None:
        """The source sets its own idle_in_transaction_session_timeout; the frame shows 0."""
        settings = leaking.settings.set_index("name")
        assert settings.loc["idle_in_transaction_session_timeout", "setting"] == "0"
        assert settings.loc["max_connections", "setting"] == str(MAX_CONNECTIONS)


# -- lock waits and a long query ----------------------------------------------------------------


@dataclass
class Locked:
    """What the investigator sampled while rows were locked and a query ran long."""

    locks: Blocking
    slow: LongQuery
    activity: pd.DataFrame
    lock_frame: pd.DataFrame
    settings: pd.DataFrame


@pytest.fixture(scope="class")
def locked(server: PgServer) -> Iterator[Locked]:
    connector = PostgresConnector.from_environment(environment(server, duration=1.5))
    with ExitStack() as stack:
        locks = stack.enter_context(blocking(server))
        slow = stack.enter_context(long_query(server))
        activity = fetch(connector, "activity")
        yield Locked(
            locks=locks,
            slow=slow,
            activity=activity,
            lock_frame=fetch(connector, "locks"),
            settings=fetch(connector, "settings"),
        )


def walk(node: BlockingNode, depth: int = 0) -> Iterator[tuple[int, BlockingNode]]:
    yield depth, node
    for child in node.children:
        yield from walk(child, depth + 1)


class TestLocksAndLongQuery:
    """A row lock with two waiters, a chain of three, and a long query."""

    def test_the_blocking_tree_roots_are_the_holder_and_the_chain_head(
        self, locked: Locked
    ) -> None:
        holder, (w1, w2), (head, middle, tail) = (
            locked.locks.holder,
            locked.locks.waiters,
            locked.locks.chain,
        )
        roots = blocking_tree(locked.activity)
        assert {r.pid for r in roots} == {holder, head}, roots
        by_pid = {r.pid: r for r in roots}
        # the holder: idle in transaction, two sessions behind it, one level deep
        top = by_pid[holder]
        assert top.application_name == "blocker-app" and top.state == "idle in transaction"
        assert top.wait.startswith("Client/") and top.blocked == 2
        assert sorted(c.pid for c in top.children) == sorted((w1, w2))
        for child in top.children:
            assert child.children == () and child.wait == "Lock/transactionid"
            assert child.application_name == "waiter-app" and child.state == "active"
            assert SECRET_LITERAL not in child.query and child.query.startswith("UPDATE")
        # the chain: head <- middle <- tail, three levels
        chain = by_pid[head]
        assert chain.blocked == 2
        assert [(d, n.pid) for d, n in walk(chain)] == [(0, head), (1, middle), (2, tail)]
        # the holder's transaction is older than the chain head's: it comes first
        assert roots[0].pid == holder and roots[0].waiting_s > by_pid[head].waiting_s > 0

    def test_the_blocking_table_shows_the_chain_three_deep(self, locked: Locked) -> None:
        table = blocking_table(blocking_tree(locked.activity))
        depth = dict(zip(table["pid"], table["depth"], strict=True))
        head, middle, tail = locked.locks.chain
        assert (depth[head], depth[middle], depth[tail]) == (0, 1, 2)
        assert depth[locked.locks.holder] == 0
        assert all(depth[w] == 1 for w in locked.locks.waiters)
        assert len(table) == 6 and table["depth"].max() == 2

    def test_the_locks_frame_agrees_with_the_tree(self, locked: Locked) -> None:
        counts = blocking_samples(locked.activity)
        assert int(counts.max()) == 4  # two waiters + middle + tail
        moment = counts[counts == 4].index.min()  # the sample blocking_tree reads
        locks = locked.lock_frame
        at = locks[locks["sampled_at"] == moment]
        assert len(at), "the locks were read in the same snapshot as the activity"
        waiting = at[~at["granted"].astype(bool)]
        roots = blocking_tree(locked.activity)
        parent = {c.pid: n.pid for r in roots for _, n in walk(r) for c in n.children}
        assert set(waiting["pid"]) == set(parent), (waiting, parent)
        for pid, blockers in zip(waiting["pid"], waiting["blocking_pids"], strict=True):
            assert str(blockers).split(",") == [str(parent[int(pid)])], (pid, blockers)
        held = at[at["granted"].astype(bool)]
        assert locked.locks.holder in set(held["pid"]) and locked.locks.chain[0] in set(held["pid"])

    def test_the_blocking_finding_names_the_holder(self, locked: Locked) -> None:
        found = facts(database_findings(locked.activity, locked.settings, locks=locked.lock_frame))
        blocked = found["db:blocking:default"]
        assert blocked.role == "symptom"
        assert blocked.title.startswith("4 sessions waiting on locks behind 2 blockers"), blocked
        assert f"pid {locked.locks.holder} (blocker-app" in blocked.summary
        assert "blocks 2" in blocked.summary and SECRET_LITERAL not in blocked.summary

    def test_long_running_lists_the_long_query(self, locked: Locked) -> None:
        threshold = 1.0
        long = long_running(locked.activity, query_s=threshold, xact_s=3600.0, idle=False)
        mine = long[long["pid"] == locked.slow.pid]
        assert len(mine) == 1, long
        row = mine.iloc[0]
        assert row["query_s"] >= threshold and row["kind"] == "query"
        assert row["application_name"] == "report-job" and row["state"] == "active"
        assert "pg_sleep" in row["query"] and SECRET_LITERAL not in row["query"]
        assert row["first_seen"] <= row["last_seen"] == locked.activity["sampled_at"].max()
        # the same query in a stricter reading is not listed: it had not run an hour
        assert locked.slow.pid not in set(long_running(locked.activity, query_s=3600.0)["pid"])


# -- exhaustion -----------------------------------------------------------------------------------


@dataclass
class Exhausted:
    """The server filled by ``flood``; what an ordinary role and the superuser saw."""

    pids: list[int]
    refusal: str
    reason: str
    activity: pd.DataFrame
    settings: pd.DataFrame


@pytest.fixture(scope="class")
def exhausted(server: PgServer) -> Iterator[Exhausted]:
    with fill_server(server, user="app", application_name="flood") as filled:
        ordinary = PostgresConnector.from_environment(environment(server, user="app"))
        with pytest.raises(SourceUnavailable) as refused:
            ordinary.fetch("activity", None, None)  # type: ignore[arg-type]
        investigator = PostgresConnector.from_environment(
            environment(server, user="postgres", duration=1.0)
        )
        yield Exhausted(
            pids=filled.pids,
            refusal=filled.refusal,
            reason=refused.value.reason,
            activity=fetch(investigator, "activity"),
            settings=fetch(investigator, "settings"),
        )


class TestExhaustion:
    """The ordinary slots are all taken; the investigator gets in as a superuser."""

    def test_an_ordinary_role_is_refused_and_that_is_a_finding(self, exhausted: Exhausted) -> None:
        assert len(exhausted.pids) == MAX_CONNECTIONS - SUPERUSER_RESERVED
        assert is_refused_full(exhausted.refusal)  # PostgreSQL's own words
        assert is_refused_full(exhausted.reason)  # the source's reason
        [finding] = refusal_findings({"postgres/activity": exhausted.reason})
        assert (finding.fact, finding.role, finding.severity) == (
            "db:refused-full",
            "mechanism",
            "high",
        )
        assert "postgres/activity" in finding.summary
        assert refusal_findings({"postgres/activity": "127.0.0.1 could not be reached"}) == []

    def test_the_superuser_still_samples_and_the_limit_is_reached(
        self, exhausted: Exhausted
    ) -> None:
        activity = exhausted.activity
        assert set(of_app(activity, "flood")["pid"]) == set(exhausted.pids)
        [sat] = saturation(activity, exhausted.settings)
        assert sat.limit is not None
        assert (sat.limit.max_connections, sat.limit.superuser_reserved) == (40, 3)
        assert sat.limit.available == MAX_CONNECTIONS - SUPERUSER_RESERVED == sat.peak
        times = sorted(activity["sampled_at"].unique())
        assert len(times) == 3  # 1 s every 0.5 s
        assert sat.reached_at is not None and isinstance(sat.reached_at, datetime)
        assert pd.Timestamp(sat.reached_at) == times[0]  # full from the first sample
        assert sat.share == 1.0 and sat.time_to_exhaustion is None
        by_app = connections_over_time(activity, by="application_name")
        assert by_app.columns[0] == "flood" and (by_app["flood"] == sat.peak).all()

    def test_the_analysis_says_the_limit_was_reached(self, exhausted: Exhausted) -> None:
        found = facts(database_findings(exhausted.activity, exhausted.settings))
        sat = found["db:saturation:default"]
        assert (sat.severity, sat.role) == ("high", "mechanism")
        assert "max_connections (40)" in sat.title
        assert "ordinary roles get 37 of max_connections 40 (3 reserved)" in sat.summary
        verdict = database_verdict(exhausted.activity, exhausted.settings)
        assert verdict.startswith("the database was the bottleneck: its connections reached")

    def test_the_saturation_finding_names_who_holds_the_connections(
        self, exhausted: Exhausted
    ) -> None:
        """With no leak found (the slots were full from the first sample), the finding must
        still say who holds the connections: here every one is ``flood``'s."""
        sat = facts(database_findings(exhausted.activity, exhausted.settings))[
            "db:saturation:default"
        ]
        assert "flood" in sat.summary, sat.summary
