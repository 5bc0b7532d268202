"""Connection leaks: an application's sessions grow while its work does not.

Per target and application (client backends), two signs, either enough:

**Growth without work.** The application's sessions per sample rise to their
peak steadily (at least :data:`MIN_STEPS` steps, at least 70 % of them not
down, no single step more than half the rise), at least doubling and by at
least :data:`MIN_GROWTH` sessions, from where the rise began (the last sample
before the peak still within 10 % of the rise above the lowest count, moved back
down to the foot of the slope). Its
*work* is the sessions that started a query since the previous sample
(``query_start`` after it); the others did nothing in between. It is a leak
when the sessions doing nothing grew by at least half the rise (means over the
last third of the rise against its first third): new sessions that are busy
are more traffic, not a leak.

**Transactions left open.** Sessions idle in transaction for at least
:data:`STUCK_S` whose idle time keeps growing (the same ``state_change``
seen in three samples or more), at least :data:`MIN_STUCK` of them at once and
more than at the application's first sample.

An application is checked as a whole first; when it is not leaking, each of
its clients (``client_addr``) is checked alone (one pod among many can leak).
Sessions without an ``application_name`` are checked per client only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING

from .frames import CLIENT_BACKEND, IDLE_IN_TRANSACTION, sample_index, targets, text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MIN_GROWTH", "MIN_STEPS", "MIN_STUCK", "STUCK_S", "Leak", "find_leaks"]

#: the fewest sessions a rise must add to be a leak
MIN_GROWTH = 10
#: the fewest samples a rise must span (a single jump is not a leak)
MIN_STEPS = 3
#: seconds idle in transaction from which a session counts as left open
STUCK_S = 60.0
#: the fewest sessions left open in transaction at once that make a leak
MIN_STUCK = 3
_QUERIES = 3


@dataclass(frozen=True, slots=True)
class Leak:
    """An application (or one of its clients) leaking connections.

    Parameters
    ----------
    target
        The configured database's name.
    application_name
        The application (``""`` when sessions carry none).
    client_addr
        The one client leaking, ``""`` for all clients of the application.
    first, first_at
        Its sessions where the leak began, and when.
    last, last_at
        Its sessions at the peak, and when.
    per_minute
        Sessions added per minute between the two.
    idle_in_transaction
        Its sessions idle in transaction at ``last_at``.
    oldest_idle_s
        Seconds the oldest of them had been idle at ``last_at`` (0 when none).
    queries
        The last queries of those sessions (of all its sessions when none),
        most frequent first, at most three.
    kind
        Which signs were seen: ``growth``, ``idle in transaction`` or both.
    """

    target: str
    application_name: str
    client_addr: str
    first: int
    first_at: datetime
    last: int
    last_at: datetime
    per_minute: float
    idle_in_transaction: int
    oldest_idle_s: float
    queries: tuple[str, ...]
    kind: str

    @property
    def who(self) -> str:
        """``api``, ``api on 10.0.0.7`` or ``10.0.0.7``."""
        if self.application_name and self.client_addr:
            return f"{self.application_name} on {self.client_addr}"
        return self.application_name or self.client_addr or "(unnamed clients)"


def _rise(counts: list[int]) -> tuple[int, int] | None:
    """``(start, peak)`` indices of a steady rise to the peak, or ``None``."""
    if len(counts) < 2:
        return None
    top = max(counts)
    peak = counts.index(top)
    low = min(counts[: peak + 1])
    if top - low < MIN_GROWTH:
        return None
    start = max(i for i in range(peak + 1) if counts[i] <= low + 0.1 * (top - low))
    while start > 0 and counts[start - 1] < counts[start]:  # the foot of the rise
        start -= 1
    first = counts[start]
    if peak - start < MIN_STEPS or top < 2 * max(first, 1) or top - first < MIN_GROWTH:
        return None
    steps = [b - a for a, b in zip(counts[start:peak], counts[start + 1 : peak + 1], strict=True)]
    if sum(s >= 0 for s in steps) < 0.7 * len(steps) or max(steps) > 0.5 * (top - first):
        return None
    return start, peak


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def _idle_growth(counts: list[int], worked: list[int], start: int, peak: int) -> float:
    """How many more sessions did no work at the end of the rise than at its start."""
    idle = [c - w for c, w in zip(counts, worked, strict=True)][start + 1 : peak + 1]
    third = max(len(idle) // 3, 1)  # work is counted per interval: from start + 1
    return _mean(idle[-third:]) - _mean(idle[:third])


@dataclass(frozen=True, slots=True)
class _Row:
    pid: int
    state: str
    query_start: datetime | None
    state_change: datetime | None
    query: str


def _moment(value: object) -> datetime | None:
    """An aware datetime, ``None`` for NaT / missing."""
    if isinstance(value, datetime) and value == value:  # NaT is unequal to itself
        return value
    return None


def _check(
    target: str, app: str, client: str, rows: pd.DataFrame, times: list[datetime]
) -> Leak | None:
    """The leak of one group's rows (``rows``: its client backends) over ``times``."""
    per_sample: dict[datetime, list[_Row]] = {t: [] for t in times}
    for moment, pid, state, query_start, state_change, query in zip(
        rows["sampled_at"],
        rows["pid"],
        rows["state"],
        rows["query_start"],
        rows["state_change"],
        rows["query"],
        strict=True,
    ):
        per_sample[moment].append(
            _Row(int(pid), text(state), _moment(query_start), _moment(state_change), text(query))
        )
    counts = [len(per_sample[t]) for t in times]
    worked = [0] + [
        sum(1 for r in per_sample[t] if r.query_start is not None and r.query_start > prev)
        for prev, t in pairwise(times)
    ]
    stuck: list[int] = []
    seen: Counter[tuple[int, datetime | None]] = Counter()
    for t in times:
        now = 0
        for r in per_sample[t]:
            if r.state not in IDLE_IN_TRANSACTION or r.state_change is None:
                continue
            seen[r.pid, r.state_change] += 1
            if seen[r.pid, r.state_change] >= 3 and (t - r.state_change).total_seconds() >= STUCK_S:
                now += 1
        stuck.append(now)
    kinds: list[str] = []
    start = end = 0
    rise = _rise(counts)
    if rise is not None and _idle_growth(counts, worked, *rise) >= 0.5 * (
        counts[rise[1]] - counts[rise[0]]
    ):
        kinds.append("growth")
        start, end = rise
    if max(stuck, default=0) >= MIN_STUCK and max(stuck) > stuck[0]:
        if not kinds:
            start = max(next(i for i, n in enumerate(stuck) if n > 0) - 1, 0)
            end = stuck.index(max(stuck))
        kinds.append("idle in transaction")
    if not kinds:
        return None
    at_end = per_sample[times[end]]
    idle = [r for r in at_end if r.state in IDLE_IN_TRANSACTION]
    idle_ages = [
        (times[end] - r.state_change).total_seconds() for r in idle if r.state_change is not None
    ]
    picked = Counter(r.query for r in (idle or at_end))
    minutes = (times[end] - times[start]).total_seconds() / 60
    return Leak(
        target=target,
        application_name=app,
        client_addr=client,
        first=counts[start],
        first_at=times[start],
        last=counts[end],
        last_at=times[end],
        per_minute=(counts[end] - counts[start]) / minutes if minutes > 0 else 0.0,
        idle_in_transaction=len(idle),
        oldest_idle_s=max(idle_ages, default=0.0),
        queries=tuple(q for q, _ in picked.most_common(_QUERIES)),
        kind=", ".join(kinds),
    )


def find_leaks(activity: pd.DataFrame) -> list[Leak]:
    """Applications and clients leaking connections (see the module docstring).

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame (every target; each read alone).

    Returns
    -------
    list of Leak
        The largest rise first; empty when nothing leaks or the frame is empty.
    """
    out: list[Leak] = []
    for target in targets(activity):
        rows = activity[activity["target"] == target]
        times: list[datetime] = list(sample_index(rows))
        clients = rows[rows["backend_type"] == CLIENT_BACKEND]
        apps = clients["application_name"].fillna("")
        addrs = clients["client_addr"].fillna("")
        for app in sorted(set(apps)):
            mine = clients[apps == app]
            found = _check(target, app, "", mine, times) if app else None
            if found is not None:
                out.append(found)
                continue
            for addr in sorted(set(addrs[apps == app])):
                one = _check(target, app, addr, mine[addrs[apps == app] == addr], times)
                if one is not None:
                    out.append(one)
    return sorted(out, key=lambda k: (-(k.last - k.first), k.target, k.who))
