"""Findings of the database analysis, and the one-sentence verdict: bottleneck or not.

Facts and roles (per target ``t``):

* ``db:saturation:<t>``: connections at (high) or near (medium) the limit, a
  ``mechanism``;
* ``db:leak:<t>:<who>``: an application (or client) leaking connections, a ``mechanism``;
* ``db:idle-in-transaction:<t>``: sessions left idle in transaction, a
  ``mechanism``; says what ``idle_in_transaction_session_timeout`` is;
* ``db:blocking:<t>``: sessions waiting on locks (and deadlocks), a ``symptom``;
* ``db:long-queries:<t>``: long queries and transactions, a ``symptom``;
* ``db:vacuum-horizon:<t>``: backends holding back vacuum, ``context``;
* ``db:not-bottleneck:<t>``: none of the above mattered, ``context``.

The database *was the bottleneck* when its connections reached the limit
(or :data:`NEAR` of it), an application leaked connections, sessions waited on
locks for :data:`LOCK_WAIT_S` or longer, or :data:`MANY_IDLE` sessions or more
sat idle in transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from ...core.findings import Finding, Level
from ...core.metrics import format_share
from ...core.text import count, shorten
from ...core.time import Window, format_duration
from .advice import setting_text
from .blocking import BlockingNode, blocking_samples, blocking_tree
from .connections import Saturation, saturation
from .frames import CLIENT_BACKEND, IDLE_IN_TRANSACTION, clock, settings_of, targets, text
from .leaks import STUCK_S, Leak, find_leaks
from .sessions import idle_in_transaction, long_running, vacuum_holders

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LOCK_WAIT_S",
    "MANY_IDLE",
    "NEAR",
    "database_findings",
    "database_verdict",
]

#: share of the available slots from which connections are "near the limit"
NEAR = 0.9
#: seconds a lock wait must last to make the database a bottleneck
LOCK_WAIT_S = 30.0
#: sessions idle in transaction at once that make the database a bottleneck
MANY_IDLE = 10
_QUERY_WIDTH = 160
_TITLE_WIDTH = 120


def _finding(*, title: str, **fields: Any) -> Finding:
    """A :class:`Finding` whose title is cut to :data:`_TITLE_WIDTH` at a word boundary."""
    return Finding(title=shorten(title, _TITLE_WIDTH), **fields)


def _duration(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(seconds)))


def _on(target: str, many: bool) -> str:
    return f" on {target}" if many or target != "default" else ""


@dataclass
class _Target:
    """What the analysis found on one target."""

    target: str
    saturation: Saturation | None
    leaks: list[Leak]
    idle: pd.DataFrame
    idle_at: datetime | None
    timeout: str
    roots: list[BlockingNode]
    blocked_at: datetime | None
    relations: list[str]
    deadlocks: int
    long: pd.DataFrame
    vacuum: pd.DataFrame
    holders: str = ""
    reasons: list[str] = field(default_factory=list)


def _idle_peak(rows: pd.DataFrame) -> tuple[pd.DataFrame, datetime | None]:
    """Sessions idle in transaction over :data:`STUCK_S` at the sample with the most of them."""
    idle = rows[
        (rows["backend_type"] == CLIENT_BACKEND)
        & rows["state"].isin(list(IDLE_IN_TRANSACTION))
        & ((rows["sampled_at"] - rows["state_change"]).dt.total_seconds() >= STUCK_S)
    ]
    if idle.empty:
        return idle_in_transaction(rows.iloc[:0]), None
    per_sample = idle.groupby("sampled_at").size()
    best = int(per_sample.max())
    moment = min(cast("datetime", t) for t, n in per_sample.items() if int(n) == best)
    return idle_in_transaction(rows, threshold_s=STUCK_S, at=moment), moment


def _holders(rows: pd.DataFrame, moment: datetime, most: int = 3) -> str:
    """Who holds the client connections at ``moment``: ``flood (37), api (3)``."""
    import pandas as pd

    sample = rows[
        (rows["sampled_at"] == pd.Timestamp(moment)) & (rows["backend_type"] == CLIENT_BACKEND)
    ]
    who = [
        text(app) or (f"client {text(addr)}" if text(addr) else "unnamed")
        for app, addr in zip(sample["application_name"], sample["client_addr"], strict=True)
    ]
    counts = pd.Series(who, dtype="str").value_counts()
    named = ", ".join(f"{name} ({n})" for name, n in counts.head(most).items())
    more = len(counts) - most
    return named + (f" and {more} more" if more > 0 else "")


def _examine(
    target: str,
    activity: pd.DataFrame,
    settings: pd.DataFrame,
    locks: pd.DataFrame | None,
    stats: pd.DataFrame | None,
    *,
    details: bool = True,
) -> _Target:
    """What one target shows; ``details=False``: only what the reasons need (the verdict's)."""
    rows = activity[activity["target"] == target]
    sat = next(iter(saturation(rows, settings)), None)
    idle, idle_at = _idle_peak(rows)
    timeout = settings_of(settings, target).get("idle_in_transaction_session_timeout")
    counts = blocking_samples(rows, target=target)
    blocked_at: datetime | None = None
    relations: list[str] = []
    roots: list[BlockingNode] = []
    if not counts.empty:  # the tree of the sample with the most waiting (blocking_tree's pick)
        best = int(counts.max())
        moment = min(cast("datetime", t) for t, n in counts.items() if int(n) == best)
        roots = blocking_tree(rows, at=moment, target=target)
        blocked_at = moment if roots else None
    if roots and details and locks is not None and not locks.empty:
        ungranted = locks[
            (locks["target"] == target)
            & (locks["sampled_at"] == blocked_at)
            & ~locks["granted"].astype(bool)
        ]
        relations = sorted({text(r) for r in ungranted["relation"] if text(r)})
    deadlocks = 0
    if details and stats is not None and not stats.empty:
        deadlocks = int(stats.loc[stats["target"] == target, "deadlocks"].sum())
    long = vacuum = rows.iloc[:0]  # not read without details
    if details:
        long = long_running(rows)
        long = long[~long["state"].isin(list(IDLE_IN_TRANSACTION))]
        vacuum = vacuum_holders(rows)
    found = _Target(
        target=target,
        saturation=sat,
        leaks=find_leaks(rows),
        idle=idle,
        idle_at=idle_at,
        timeout=setting_text(*timeout) if timeout else "",
        roots=roots,
        blocked_at=blocked_at,
        relations=relations,
        deadlocks=deadlocks,
        long=long,
        vacuum=vacuum,
        holders=(
            _holders(rows, sat.reached_at or sat.peak_at) if details and sat is not None else ""
        ),
    )
    limit = sat.limit if sat is not None else None
    if sat is not None and limit is not None and sat.reached_at is not None:
        found.reasons.append(
            f"its connections reached max_connections ({limit.max_connections}) "
            f"at {clock(sat.reached_at)}"
        )
    elif sat is not None and sat.share is not None and sat.share >= NEAR:
        found.reasons.append(f"its connections peaked at {format_share(sat.share)} of the limit")
    for leak in found.leaks:
        found.reasons.append(
            f"{leak.who} leaked connections ({leak.first} to {leak.last} sessions)"
        )
    longest_wait = max((c.waiting_s for r in roots for c in r.children), default=0.0)
    if roots and longest_wait >= LOCK_WAIT_S:
        waiting = sum(r.blocked for r in roots)
        found.reasons.append(
            f"{count(waiting, 'session')} waited on locks, up to {_duration(longest_wait)}"
        )
    if len(idle) >= MANY_IDLE:
        found.reasons.append(f"{len(idle)} sessions sat idle in transaction")
    return found


def _who(node: BlockingNode | pd.Series) -> str:
    if isinstance(node, BlockingNode):
        app, addr = node.application_name, node.client_addr
    else:
        app, addr = text(node["application_name"]), text(node["client_addr"])
    return ", ".join(p for p in (app, f"from {addr}" if addr else "") if p) or "unnamed"


def _saturation_finding(t: _Target, many: bool) -> Finding | None:
    sat = t.saturation
    if sat is None or sat.limit is None:
        return None
    limit = sat.limit
    reserved = limit.superuser_reserved + limit.reserved
    slots = (
        f"ordinary roles get {limit.available} of max_connections {limit.max_connections} "
        f"({reserved} reserved)"
    )
    leak = t.leaks[0] if t.leaks else None
    grew = (
        f"connections from {leak.who} grew from {leak.first} to {leak.last} in "
        f"{_duration((leak.last_at - leak.first_at).total_seconds())}; "
        if leak is not None
        else f"client connections went from {sat.first} to a peak of {sat.peak} "
        f"at {clock(sat.peak_at)}; "
    )
    held = f" (held by {t.holders})" if t.holders else ""
    idle = (
        f"; {len(t.idle)} sessions idle in transaction at {clock(t.idle_at)}, oldest "
        f"{_duration(float(t.idle['idle_s'].max()))}"
        if len(t.idle)
        else ""
    )
    timeout = f"; idle_in_transaction_session_timeout is {t.timeout}" if t.timeout else ""
    if sat.reached_at is not None:
        return _finding(
            title=(
                f"Database connections reached max_connections ({limit.max_connections})"
                f"{_on(t.target, many)} at {clock(sat.reached_at)}"
            ),
            severity="high",
            summary=f"{grew}the server reached max_connections ({limit.max_connections}) at "
            f"{clock(sat.reached_at)}{held}: {slots}, all taken from then on, new connections "
            f"refused{idle}{timeout}",
            fact=f"db:saturation:{t.target}",
            role="mechanism",
        )
    if (sat.share is not None and sat.share >= NEAR) or sat.time_to_exhaustion is not None:
        eta = (
            f"; at the growth of the last 10 min the limit is reached in about "
            f"{format_duration(sat.time_to_exhaustion)}"
            if sat.time_to_exhaustion is not None
            else ""
        )
        return _finding(
            title=(
                f"Database connections at {format_share(sat.share)} of the limit"
                f"{_on(t.target, many)}"
            ),
            severity="medium",
            summary=f"{grew}peak {sat.peak} at {clock(sat.peak_at)}{held}, {slots}{eta}{idle}",
            fact=f"db:saturation:{t.target}",
            role="mechanism",
        )
    return None


def _leak_finding(t: _Target, leak: Leak, many: bool) -> Finding:
    reached = t.saturation is not None and t.saturation.reached_at is not None
    minutes = _duration((leak.last_at - leak.first_at).total_seconds())
    signs = []
    if "growth" in leak.kind:
        signs.append(f"({leak.per_minute:.1f} a minute) while the work it did stayed flat")
    if leak.idle_in_transaction:
        signs.append(
            f"{leak.idle_in_transaction} of them idle in transaction, oldest "
            f"{_duration(leak.oldest_idle_s)}"
        )
    last = "; they last ran: " + " | ".join(shorten(q, _QUERY_WIDTH) for q in leak.queries)
    return _finding(
        title=(
            f"Connection leak: {leak.who} ({leak.first} → {leak.last} sessions in {minutes})"
            f"{_on(t.target, many)}"
        ),
        severity="high" if reached else "medium",
        summary=f"connections from {leak.who} grew from {leak.first} at "
        f"{clock(leak.first_at)} to {leak.last} at {clock(leak.last_at)} "
        + "; ".join(signs)
        + (last if leak.queries else ""),
        fact=f"db:leak:{t.target}:{leak.who}",
        role="mechanism",
    )


def _idle_finding(t: _Target, many: bool) -> Finding | None:
    if t.idle.empty:
        return None
    oldest = t.idle.iloc[0]
    blocked = int(t.idle["blocked"].sum())
    timeout = (
        f"; idle_in_transaction_session_timeout is {t.timeout}"
        + (": nothing ends them" if t.timeout.startswith("0") else "")
        if t.timeout
        else ""
    )
    apps = t.idle["application_name"].fillna("").value_counts()
    by_app = ", ".join(f"{n} from {a or 'unnamed'}" for a, n in apps.head(3).items())
    level: Level = "high" if len(t.idle) >= MANY_IDLE or blocked else "medium"
    return _finding(
        title=(
            f"{count(len(t.idle), 'session')} idle in transaction{_on(t.target, many)} "
            f"at {clock(t.idle_at)}"
        ),
        severity=level,
        summary=f"{len(t.idle)} sessions idle in transaction over {_duration(STUCK_S)} at "
        f"{clock(t.idle_at)} ({by_app}), oldest {_duration(float(oldest['idle_s']))} "
        f"(pid {int(oldest['pid'])}, {_who(oldest)}: "
        f"{shorten(text(oldest['query']), _QUERY_WIDTH)})"
        + (f"; {count(blocked, 'session')} waiting on their locks" if blocked else "")
        + timeout,
        fact=f"db:idle-in-transaction:{t.target}",
        role="mechanism",
    )


def _blocking_finding(t: _Target, many: bool) -> Finding | None:
    deadlocks = f"; {count(t.deadlocks, 'deadlock')} in the sampling period" if t.deadlocks else ""
    if not t.roots:
        if not t.deadlocks:
            return None
        return Finding(
            title=f"{count(t.deadlocks, 'deadlock')}{_on(t.target, many)}",
            severity="medium",
            summary=f"pg_stat_database counted {count(t.deadlocks, 'deadlock')} in the sampling "
            "period; no session was seen waiting on a lock in the samples",
            fact=f"db:blocking:{t.target}",
            role="symptom",
        )
    waiting = sum(r.blocked for r in t.roots)
    root = t.roots[0]
    longest = max((c.waiting_s for r in t.roots for c in r.children), default=0.0)
    doing = f"{root.state} for {_duration(root.waiting_s)}" if root.state else "not sampled"
    on = f" on {', '.join(t.relations)}" if t.relations else ""
    return _finding(
        title=(
            f"{count(waiting, 'session')} waiting on locks{_on(t.target, many)} "
            f"behind {count(len(t.roots), 'blocker')}"
        ),
        severity="high" if waiting >= 5 or longest >= 5 * LOCK_WAIT_S else "medium",
        summary=f"at {clock(t.blocked_at)} {count(waiting, 'session')} waited on locks{on} behind "
        f"{count(len(t.roots), 'root blocker')}, the longest for {_duration(longest)}; "
        f"pid {root.pid} ({_who(root)}, {doing}) blocks {root.blocked}: "
        f"{shorten(root.query, _QUERY_WIDTH)}{deadlocks}",
        fact=f"db:blocking:{t.target}",
        role="symptom",
    )


def _long_finding(t: _Target, many: bool) -> Finding | None:
    if t.long.empty:
        return None
    top = t.long.iloc[0]
    spent = top[["query_s", "xact_s"]].max()
    return _finding(
        title=(
            count(
                len(t.long),
                "long-running query or transaction",
                "long-running queries or transactions",
            )
            + _on(t.target, many)
        ),
        severity="medium" if len(t.long) >= 3 else "low",
        summary=f"the longest: pid {int(top['pid'])} ({_who(top)}, {top['kind']}) "
        f"{_duration(float(spent))} as of {clock(top['last_seen'])}: "
        f"{shorten(text(top['query']), _QUERY_WIDTH)}",
        fact=f"db:long-queries:{t.target}",
        role="symptom",
    )


def _vacuum_finding(t: _Target, many: bool) -> Finding | None:
    if t.vacuum.empty:
        return None
    top = t.vacuum.iloc[0]
    age = int(top[["xmin_age", "xid_age"]].max())
    return _finding(
        title=f"{count(len(t.vacuum), 'backend')} holding back vacuum{_on(t.target, many)}",
        severity="low",
        summary=f"pid {int(top['pid'])} ({text(top['backend_type'])}, {_who(top)}) holds a "
        f"snapshot {age:,} transactions old: vacuum cannot remove rows deleted since",
        fact=f"db:vacuum-horizon:{t.target}",
        role="context",
    )


def _quiet_finding(t: _Target, many: bool) -> Finding:
    sat = t.saturation
    parts = []
    if sat is not None and sat.limit is not None:
        parts.append(
            f"peak {sat.peak} client connections of {sat.limit.available} available "
            f"({format_share(sat.share)}) at {clock(sat.peak_at)}"
        )
    elif sat is not None:
        parts.append(f"peak {sat.peak} client connections at {clock(sat.peak_at)} (limit unknown)")
    parts.append("no connection leak")
    parts.append(
        "no lock wait over " + _duration(LOCK_WAIT_S) if t.roots else "no session waiting on a lock"
    )
    parts.append(
        f"{count(len(t.idle), 'session')} idle in transaction over {_duration(STUCK_S)}"
        if len(t.idle)
        else f"no session idle in transaction over {_duration(STUCK_S)}"
    )
    return Finding(
        title=f"The database{_on(t.target, many)} was not the bottleneck",
        severity="info",
        summary="; ".join(parts),
        fact=f"db:not-bottleneck:{t.target}",
        role="context",
    )


def _select(activity: pd.DataFrame, window: Window | None) -> pd.DataFrame:
    return activity if window is None else window.select(activity, "sampled_at")


def database_findings(
    activity: pd.DataFrame,
    settings: pd.DataFrame,
    *,
    locks: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
    window: Window | None = None,
) -> list[Finding]:
    """The findings of every target's activity (see the module docstring for facts).

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.
    settings
        ``pg_settings`` contract frame.
    locks
        ``pg_locks`` contract frame: names the relations waited on.
    stats
        ``pg_database_stats`` contract frame: adds the deadlocks counted.
    window
        Only samples inside it count.

    Returns
    -------
    list of Finding
        Per target (by name): saturation, leaks, idle in transaction, blocking,
        long queries, vacuum horizon, or the one "not the bottleneck" finding.
        Empty for an empty frame.
    """
    rows = _select(activity, window)
    names = targets(rows)
    many = len(names) > 1
    out: list[Finding] = []
    for target in names:
        t = _examine(target, rows, settings, locks, stats)
        found = [
            _saturation_finding(t, many),
            *(_leak_finding(t, leak, many) for leak in t.leaks),
            _idle_finding(t, many),
            _blocking_finding(t, many),
            _long_finding(t, many),
            _vacuum_finding(t, many),
        ]
        if not t.reasons:
            found.append(_quiet_finding(t, many))
        out.extend(f for f in found if f is not None)
    return out


def database_verdict(
    activity: pd.DataFrame,
    settings: pd.DataFrame,
    *,
    locks: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
    window: Window | None = None,
) -> str:
    """One sentence: whether the database was the bottleneck, and why.

    Parameters
    ----------
    activity, settings, locks, stats, window
        As for :func:`database_findings`.

    Returns
    -------
    str
        ``"the database was the bottleneck: its connections reached
        max_connections (100) at 14:24 UTC, ..."`` or ``"the database was not
        the bottleneck: peak 15 client connections of 95 available (16%), ..."``;
        one clause per target when there are several; ``"no database activity
        was sampled"`` for an empty frame.
    """
    rows = _select(activity, window)
    names = targets(rows)
    if not names:
        return "no database activity was sampled"
    clauses = []
    for target in names:
        t = _examine(target, rows, settings, locks, stats, details=False)
        subject = "the database" if len(names) == 1 else f"database {target}"
        if t.reasons:
            clauses.append(f"{subject} was the bottleneck: {', '.join(t.reasons)}")
        else:
            clauses.append(f"{subject} was not the bottleneck: {_quiet_finding(t, False).summary}")
    return "; ".join(clauses)
