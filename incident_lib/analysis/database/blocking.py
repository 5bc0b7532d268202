"""Who blocks whom: the tree of lock waits of one activity sample.

Each ``pg_activity`` row of a session waiting on a lock carries
``pg_blocking_pids(pid)`` (``blocking_pids``: comma-separated). Every waiter is
placed under one blocker: the first of its blockers that is itself waiting
(the session queued right ahead of it), else its first blocker. That makes a
chain ``A <- B <- C`` (C queued behind B, B behind A) a chain, not a fan.

Roots are sessions that block others without waiting themselves: the root
blocker, often a session idle in transaction. Sessions that wait on each
other in a cycle (a deadlock in progress, before ``deadlock_timeout`` resolves
it) have no such root: the cycle's longest waiter becomes the root and the
edge back to it is dropped, so the tree never loops.

All backend types are read (autovacuum can block too); a blocker without a row
in the sample is a node with empty fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from .frames import of_target, one_target, targets, text

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

__all__ = [
    "BLOCKING_COLUMNS",
    "BlockingNode",
    "blocking_samples",
    "blocking_table",
    "blocking_tables",
    "blocking_tree",
]

#: the columns of :func:`blocking_table`
BLOCKING_COLUMNS = [
    "depth",
    "pid",
    "application",
    "usename",
    "state",
    "wait",
    "waiting_s",
    "blocked",
    "query",
]


@dataclass(frozen=True, slots=True)
class BlockingNode:
    """A session in the blocking tree and the sessions waiting behind it.

    Parameters
    ----------
    pid
        The backend's pid.
    application_name, usename, client_addr, state
        From its activity row (empty when it had none in the sample).
    wait
        ``"<wait_event_type>/<wait_event>"`` (``"Lock/transactionid"``) or ``""``.
    waiting_s
        Seconds it has been waiting: ``sampled_at - query_start`` for a waiter,
        its transaction's age (``xact_age``) for a root blocker (0 when unknown).
    query
        Its (masked) query text: for a root idle in transaction, the last one it ran.
    children
        The sessions placed directly behind it, most blocked first.
    """

    pid: int
    application_name: str
    usename: str
    client_addr: str
    state: str
    wait: str
    waiting_s: float
    query: str
    children: tuple[BlockingNode, ...] = ()

    @property
    def blocked(self) -> int:
        """How many sessions wait behind it (its whole subtree, itself excluded)."""
        count = 0
        stack = list(self.children)
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node.children)
        return count


def _pids(raw: object) -> list[int]:
    out: list[int] = []
    for part in text(raw).replace("{", "").replace("}", "").split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            out.append(int(part))
    return out


def blocking_samples(activity: pd.DataFrame, *, target: str | None = None) -> pd.Series:
    """Sessions waiting on another session (non-empty ``blocking_pids``) per sample.

    Returns
    -------
    pandas.Series
        int counts indexed by ``sampled_at``, samples without waiters left out.
    """
    import numpy as np
    import pandas as pd

    rows = of_target(activity, one_target(activity, target))
    codes, uniques = pd.factorize(rows["blocking_pids"])  # parse each distinct text once
    flags = np.array([*(bool(_pids(v)) for v in uniques), bool(_pids(None))])  # -1: missing
    waiting = rows[flags[codes]]
    return waiting.groupby("sampled_at").size().astype("int64")


def _float(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(number) else number


def _order_key(node: BlockingNode) -> tuple[int, float, int]:
    return (-node.blocked, -node.waiting_s, node.pid)


def blocking_tree(
    activity: pd.DataFrame, *, at: datetime | None = None, target: str | None = None
) -> list[BlockingNode]:
    """The blocking tree of one sample: root blockers first, the most blocked first.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.
    at
        The sample to read: the last one at or before ``at``. ``None``: the
        sample with the most waiting sessions (the earliest of equals).
    target
        The target; ``None``: the only one present (several: InvalidInput).

    Returns
    -------
    list of BlockingNode
        The roots (see the module docstring), by sessions blocked (descending),
        then waiting time; empty when nobody waits (or the frame is empty).
    """
    import pandas as pd

    rows = of_target(activity, one_target(activity, target))
    if rows.empty:
        return []
    if at is None:
        counts = blocking_samples(rows)
        if counts.empty:
            return []
        best = int(counts.max())
        moment = min(cast("pd.Timestamp", t) for t, c in counts.items() if int(c) == best)
    else:
        earlier = rows["sampled_at"][rows["sampled_at"] <= pd.Timestamp(at)]
        if earlier.empty:
            return []
        moment = earlier.max()
    sample = rows[rows["sampled_at"] == moment]
    info: dict[int, dict[str, object]] = {}
    for values in sample.to_dict("records"):
        record = {str(k): v for k, v in values.items()}
        info[int(str(record["pid"]))] = record
    waits: dict[int, list[int]] = {}
    for pid, record in info.items():
        blockers = [b for b in _pids(record["blocking_pids"]) if b != pid]
        if blockers:
            waits[pid] = blockers
    parent: dict[int, int] = {}
    for pid, blockers in waits.items():
        queued = [b for b in blockers if b in waits]
        parent[pid] = queued[0] if queued else blockers[0]
    children: dict[int, list[int]] = {}
    for pid, up in parent.items():
        children.setdefault(up, []).append(pid)

    def node(pid: int, kids: tuple[BlockingNode, ...]) -> BlockingNode:
        record = info.get(pid, {})
        wait_type, wait_event = text(record.get("wait_event_type")), text(record.get("wait_event"))
        waiting = pid in waits
        return BlockingNode(
            pid=pid,
            application_name=text(record.get("application_name")),
            usename=text(record.get("usename")),
            client_addr=text(record.get("client_addr")),
            state=text(record.get("state")),
            wait=f"{wait_type}/{wait_event}" if wait_type else "",
            waiting_s=_float(record.get("query_age" if waiting else "xact_age")),
            query=text(record.get("query")),
            children=tuple(sorted(kids, key=_order_key)),
        )

    visited: set[int] = set()

    def build(root: int) -> BlockingNode:
        order: list[int] = []
        kids_of: dict[int, list[int]] = {}
        stack = [root]
        while stack:
            pid = stack.pop()
            if pid in visited:
                continue
            visited.add(pid)
            order.append(pid)
            kids_of[pid] = [c for c in children.get(pid, []) if c not in visited]
            stack.extend(reversed(kids_of[pid]))
        built: dict[int, BlockingNode] = {}
        for pid in reversed(order):
            built[pid] = node(pid, tuple(built[c] for c in kids_of[pid] if c in built))
        return built[root]

    members = set(parent) | set(parent.values())
    roots = [build(p) for p in sorted(members - set(parent))]
    while members - visited:  # cycles: waiters that wait on each other
        pid = min(members - visited)
        seen: set[int] = set()
        while pid not in seen:  # walk up to the cycle
            seen.add(pid)
            pid = parent[pid]
        cycle = [pid]
        up = parent[pid]
        while up != pid:
            cycle.append(up)
            up = parent[up]
        longest = max(cycle, key=lambda p: (_float(info.get(p, {}).get("query_age")), -p))
        roots.append(build(longest))
    return sorted(roots, key=_order_key)


def blocking_table(roots: Sequence[BlockingNode]) -> pd.DataFrame:
    """The blocking tree flattened for display, each node under its parent.

    Parameters
    ----------
    roots
        From :func:`blocking_tree`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BLOCKING_COLUMNS`: ``depth`` (0 for a root),
        ``pid``, ``application``, ``usename``, ``state``, ``wait``, ``waiting_s``
        (seconds), ``blocked`` (sessions behind it), ``query``; depth-first.
    """
    import pandas as pd

    rows: list[dict[str, object]] = []
    stack: list[tuple[int, BlockingNode]] = [(0, r) for r in reversed(roots)]
    while stack:
        depth, item = stack.pop()
        rows.append(
            {
                "depth": depth,
                "pid": item.pid,
                "application": item.application_name,
                "usename": item.usename,
                "state": item.state,
                "wait": item.wait,
                "waiting_s": item.waiting_s,
                "blocked": item.blocked,
                "query": item.query,
            }
        )
        stack.extend((depth + 1, c) for c in reversed(item.children))
    out = pd.DataFrame(rows, columns=BLOCKING_COLUMNS)
    return out.astype(
        {"depth": "int64", "pid": "int64", "waiting_s": "float64", "blocked": "int64"}
    )


def blocking_tables(activity: pd.DataFrame) -> pd.DataFrame:
    """:func:`blocking_table` of every target's :func:`blocking_tree`, ``target`` first.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.

    Returns
    -------
    pandas.DataFrame
        ``target`` then :data:`BLOCKING_COLUMNS`; empty when nothing waited on a lock.
    """
    import pandas as pd

    parts = [
        blocking_table(blocking_tree(activity, target=target)).assign(target=target)
        for target in targets(activity)
    ]
    columns = ["target", *BLOCKING_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]
