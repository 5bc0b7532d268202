"""The blocking tree: root blockers first, counts, waiting times, cycles."""

from __future__ import annotations

import pandas as pd
from test_database_frames import activity, at, session

from incident_lib.analysis.database import BlockingNode, blocking_table, blocking_tree
from incident_lib.core.schema import empty_frame

LOCK = ("Lock", "transactionid")


def _holder(t: pd.Timestamp, pid: int = 10, **kw: object) -> dict[str, object]:
    since = at(0) - pd.Timedelta(minutes=5)
    return session(
        t,
        pid,
        state="idle in transaction",
        xact_start=since,
        query_start=since,
        wait=("Client", "ClientRead"),
        query="SELECT * FROM batches WHERE id = $1 FOR UPDATE",
        **kw,  # type: ignore[arg-type]
    )


def _waiter(t: pd.Timestamp, pid: int, blockers: str, since: pd.Timestamp, **kw: object):
    return session(
        t,
        pid,
        app="worker",
        state="active",
        xact_start=since,
        query_start=since,
        wait=LOCK,
        blocking=blockers,
        query="UPDATE batches SET status = $1 WHERE id = $2",
        **kw,  # type: ignore[arg-type]
    )


def test_holder_with_two_waiters():
    t = at(10)
    rows = [
        _holder(t),
        _waiter(t, 21, "10", at(8)),
        _waiter(t, 22, "10", at(9)),
        session(t, 30, state="idle"),
    ]
    roots = blocking_tree(activity(rows))
    assert len(roots) == 1
    root = roots[0]
    assert (root.pid, root.state, root.blocked) == (10, "idle in transaction", 2)
    assert root.wait == "Client/ClientRead"
    assert root.waiting_s == 15 * 60.0  # its transaction's age
    assert [c.pid for c in root.children] == [21, 22]  # the longest waiter first
    assert [c.waiting_s for c in root.children] == [120.0, 60.0]
    assert root.children[0].wait == "Lock/transactionid"
    assert root.children[0].application_name == "worker"


def test_chain_of_three_is_a_chain():
    t = at(10)
    rows = [
        _holder(t),
        _waiter(t, 21, "10", at(8)),
        _waiter(t, 22, "10,21", at(9)),  # queued behind 21, which waits for 10
    ]
    roots = blocking_tree(activity(rows))
    assert [r.pid for r in roots] == [10]
    middle = roots[0].children
    assert [m.pid for m in middle] == [21]
    assert [c.pid for c in middle[0].children] == [22]
    assert (roots[0].blocked, middle[0].blocked, middle[0].children[0].blocked) == (2, 1, 0)
    table = blocking_table(roots)
    assert table["depth"].tolist() == [0, 1, 2]
    assert table["pid"].tolist() == [10, 21, 22]
    assert table["blocked"].tolist() == [2, 1, 0]
    assert table["waiting_s"].tolist() == [900.0, 120.0, 60.0]


def test_two_independent_trees_most_blocked_first():
    t = at(10)
    rows = [
        _holder(t, 10),
        _waiter(t, 21, "10", at(8)),
        _holder(t, 40, app="cron"),
        _waiter(t, 41, "40", at(9)),
        _waiter(t, 42, "40", at(9)),
        _waiter(t, 43, "40", at(9)),
    ]
    roots = blocking_tree(activity(rows))
    assert [(r.pid, r.blocked) for r in roots] == [(40, 3), (10, 1)]
    assert roots[0].application_name == "cron"
    table = blocking_table(roots)
    assert table["pid"].tolist() == [40, 41, 42, 43, 10, 21]


def test_a_cycle_is_broken_at_its_longest_waiter():
    t = at(10)
    rows = [
        _waiter(t, 51, "52", at(9)),
        _waiter(t, 52, "51", at(7)),  # waits the longest: the root
        _waiter(t, 53, "51", at(9.5)),
    ]
    roots = blocking_tree(activity(rows))
    assert [r.pid for r in roots] == [52]
    assert roots[0].blocked == 2
    assert [c.pid for c in roots[0].children] == [51]
    assert [c.pid for c in roots[0].children[0].children] == [53]
    assert len(blocking_table(roots)) == 3


def test_the_sample_with_most_waiters_or_the_one_asked_for():
    rows = [
        _holder(at(1)),
        _waiter(at(1), 21, "10", at(0.5)),
        _holder(at(2)),
        _waiter(at(2), 21, "10", at(0.5)),
        _waiter(at(2), 22, "10", at(1.5)),
        _holder(at(3)),
    ]
    frame = activity(rows)
    assert blocking_tree(frame)[0].blocked == 2
    assert blocking_tree(frame, at=at(1).to_pydatetime())[0].blocked == 1
    assert blocking_tree(frame, at=at(3).to_pydatetime()) == []
    assert blocking_tree(frame, at=at(0).to_pydatetime()) == []


def test_blocker_without_a_row_and_targets_apart():
    t = at(10)
    rows = [
        _waiter(t, 21, "99", at(9)),
        _holder(t, 10, target="orders"),
        _waiter(t, 21, "10", at(9), target="orders"),
        _waiter(t, 22, "10", at(9), target="orders"),
    ]
    frame = activity(rows)
    default = blocking_tree(frame, target="default")
    assert [(r.pid, r.state, r.blocked) for r in default] == [(99, "", 1)]
    orders = blocking_tree(frame, target="orders")
    assert [(r.pid, r.blocked) for r in orders] == [(10, 2)]


def test_nobody_waiting_or_empty():
    assert blocking_tree(activity([session(at(0), 1)])) == []
    assert blocking_tree(empty_frame("pg_activity")) == []
    table = blocking_table([])
    assert table.empty and "blocked" in table.columns
    leaf = BlockingNode(1, "a", "u", "", "active", "", 0.0, "q")
    assert leaf.blocked == 0
