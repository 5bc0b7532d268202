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
from typing import TYPE_CHECKING

from .frames import CLIENT_BACKEND, IDLE_IN_TRANSACTION, sample_index, targets, text

if TYPE_CHECKING:
    import numpy as np
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


def _moment(value: object) -> datetime | None:
    """An aware datetime, ``None`` for NaT / missing."""
    if isinstance(value, datetime) and value == value:  # NaT is unequal to itself
        return value
    return None


@dataclass(frozen=True, slots=True)
class _Columns:
    """One target's client backends as arrays (built once, read by every group)."""

    frame: pd.DataFrame
    slot: np.ndarray  # each row's sample: its index in ``times``
    worked: np.ndarray  # started a query since the previous sample
    idle_tx: np.ndarray  # idle in transaction with a known state_change
    pid: np.ndarray
    state_change: np.ndarray  # int64 ns
    age_ns: np.ndarray  # sampled_at - state_change, int64 ns


def _ns(values: pd.Series) -> np.ndarray:
    """Aware timestamps as int64 nanoseconds since the epoch (NaT as the int64 minimum)."""
    import pandas as pd

    return pd.DatetimeIndex(values).as_unit("ns").asi8


def _columns(clients: pd.DataFrame, times: pd.DatetimeIndex) -> _Columns:
    import numpy as np

    ticks = times.as_unit("ns").asi8
    sampled = _ns(clients["sampled_at"])
    slot = np.searchsorted(ticks, sampled)
    started = clients["query_start"].notna().to_numpy()
    previous = ticks[np.maximum(slot - 1, 0)]
    worked = (slot > 0) & started & (_ns(clients["query_start"]) > previous)
    changed = clients["state_change"].notna().to_numpy()
    idle_tx = clients["state"].isin(list(IDLE_IN_TRANSACTION)).to_numpy() & changed
    state_change = _ns(clients["state_change"])
    return _Columns(
        frame=clients,
        slot=slot,
        worked=worked,
        idle_tx=idle_tx,
        pid=clients["pid"].to_numpy(dtype="int64"),
        state_change=state_change,
        age_ns=np.where(changed, sampled - state_change, 0),
    )


def _stuck(cols: _Columns, rows: np.ndarray, samples: int) -> list[int]:
    """Per sample: sessions idle in transaction for :data:`STUCK_S` or more whose
    ``(pid, state_change)`` was seen in three samples or more so far (that one included)."""
    import numpy as np

    mine = rows[cols.idle_tx[rows]]
    if not len(mine):
        return [0] * samples
    slot, pid, since = cols.slot[mine], cols.pid[mine], cols.state_change[mine]
    order = np.lexsort((mine, slot, since, pid))  # per (pid, state_change): in sample order
    pid, since, slot, age = pid[order], since[order], slot[order], cols.age_ns[mine][order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (pid[1:] != pid[:-1]) | (since[1:] != since[:-1])
    first = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
    seen = np.arange(len(order)) - first + 1
    hit = (seen >= 3) & (age >= int(STUCK_S * 1_000_000_000))
    return [int(n) for n in np.bincount(slot[hit], minlength=samples)]


def _check(
    target: str,
    app: str,
    client: str,
    cols: _Columns,
    rows: np.ndarray,
    times: list[datetime],
) -> Leak | None:
    """The leak of one group (``rows``: positions of its client backends) over ``times``."""
    import numpy as np

    samples = len(times)
    counts = [int(n) for n in np.bincount(cols.slot[rows], minlength=samples)]
    worked = [int(n) for n in np.bincount(cols.slot[rows[cols.worked[rows]]], minlength=samples)]
    stuck = _stuck(cols, rows, samples)
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
    last = cols.frame.iloc[rows[cols.slot[rows] == end]]  # the peak's rows, in frame order
    at_end = [
        (text(state), _moment(changed), text(query))
        for state, changed, query in zip(
            last["state"], last["state_change"], last["query"], strict=True
        )
    ]
    idle = [r for r in at_end if r[0] in IDLE_IN_TRANSACTION]
    idle_ages = [(times[end] - r[1]).total_seconds() for r in idle if r[1] is not None]
    picked = Counter(r[2] for r in (idle or at_end))
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


def _groups(values: pd.Series) -> dict[str, np.ndarray]:
    """``{text: positions}`` of ``values`` (missing as ``""``), positions in frame order."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values)
    names = [text(u) for u in uniques]
    out: dict[str, list[np.ndarray]] = {}
    for code in range(len(uniques)):
        out.setdefault(names[code], []).append(np.flatnonzero(codes == code))
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        out.setdefault("", []).append(missing)
    return {name: np.sort(np.concatenate(parts)) for name, parts in out.items()}


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
        index = sample_index(rows)
        times: list[datetime] = list(index)
        clients = rows[rows["backend_type"] == CLIENT_BACKEND]
        cols = _columns(clients, index)
        addrs = clients["client_addr"].fillna("")
        for app, mine in sorted(_groups(clients["application_name"].fillna("")).items()):
            found = _check(target, app, "", cols, mine, times) if app else None
            if found is not None:
                out.append(found)
                continue
            for addr, one in sorted(_groups(addrs.iloc[mine]).items()):
                found = _check(target, app, addr, cols, mine[one], times)
                if found is not None:
                    out.append(found)
    return sorted(out, key=lambda k: (-(k.last - k.first), k.target, k.who))
