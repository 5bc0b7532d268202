"""One sampling run: a snapshot of every target every N seconds for M seconds.

Each snapshot is one short read-only transaction per target (so the activity and
the locks it reads agree, and nothing is held between two snapshots): the activity
(its ``statement_timestamp()`` is the snapshot's ``sampled_at``), the locks that
matter at that same ``sampled_at``, and on a primary the replication; the first and
the last snapshot also read ``pg_stat_database`` (the deltas of the run). The run
serves four frames (activity, locks, replication, database_stats): the connector
runs it once and keeps it.

Snapshots are scheduled from the start (``start + k * every``), not chained, so a
slow snapshot does not stretch the run. A target whose snapshot fails is dropped
from the rest of the run with a note naming it; the run fails only when no target
gave a single snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...core.errors import SourceUnavailable
from ..base import Budget, progress_bar
from .config import SOURCE, Sampling
from .queries import (
    DATABASE_STATS_SQL,
    activity_sql,
    build_frame,
    database_stats_rows,
    locks_sql,
    replication_sql,
    sampled_at,
)

if TYPE_CHECKING:
    import pandas as pd

    from .session import Session

__all__ = ["SampleRun", "run_sampling"]


@dataclass
class _Rows:
    activity: list[dict[str, Any]] = field(default_factory=list)
    locks: list[dict[str, Any]] = field(default_factory=list)
    replication: list[dict[str, Any]] = field(default_factory=list)
    stats_first: list[dict[str, Any]] = field(default_factory=list)
    stats_last: list[dict[str, Any]] = field(default_factory=list)
    snapshots: int = 0
    standby: bool = False


@dataclass
class SampleRun:
    """What one sampling run read, per target (see the module notes).

    Attributes
    ----------
    sampling
        The sampling actually run (after clipping to the budget).
    notes
        One sentence per target that failed or was cut, and per clipping.
    """

    sampling: Sampling
    notes: list[str] = field(default_factory=list)
    rows: dict[str, _Rows] = field(default_factory=dict)

    def activity(self) -> pd.DataFrame:
        """The ``pg_activity`` frame of every target (built once, queries masked)."""
        return build_frame("pg_activity", [(t, r.activity) for t, r in self.rows.items()])

    def locks(self) -> pd.DataFrame:
        """The ``pg_locks`` frame of every target."""
        return build_frame("pg_locks", [(t, r.locks) for t, r in self.rows.items()])

    def replication(self) -> pd.DataFrame:
        """The ``pg_replication`` frame of every target (empty on standbys and lone primaries)."""
        return build_frame("pg_replication", [(t, r.replication) for t, r in self.rows.items()])

    def database_stats(self) -> pd.DataFrame:
        """The ``pg_database_stats`` frame: counter deltas between the first and last snapshot."""
        return build_frame(
            "pg_database_stats",
            [
                (t, database_stats_rows(r.stats_first, r.stats_last))
                for t, r in self.rows.items()
                if r.stats_first and r.stats_last
            ],
        )

    def standby_notes(self) -> list[str]:
        """One note per target that is a standby (replication is read on primaries)."""
        return [
            f"{t} is a standby: replication lag is read on its primary "
            "(configure the primary as another INCIDENT_PG_DSN_<NAME>)"
            for t, r in self.rows.items()
            if r.standby
        ]


def _snapshot(session: Session, rows: _Rows, *, first: bool, last: bool) -> None:
    version = session.version
    with session.snapshot():
        activity = session.rows(activity_sql(version), what="activity")
        at = sampled_at(activity)
        if at is None:
            at = session.rows("SELECT statement_timestamp() AS sampled_at", what="clock")[0][
                "sampled_at"
            ]
        locks = session.rows(locks_sql(version), {"sampled_at": at}, what="locks")
        replication: list[dict[str, Any]] = []
        if not session.in_recovery:
            replication = session.rows(replication_sql(version), what="replication")
        stats = session.rows(DATABASE_STATS_SQL, what="pg_stat_database") if first or last else []
    rows.activity.extend(activity)
    rows.locks.extend(locks)
    rows.replication.extend(replication)
    rows.standby = session.in_recovery
    if first:
        rows.stats_first = stats
    if last and stats:
        rows.stats_last = stats
    rows.snapshots += 1


def run_sampling(
    sessions: Sequence[Session],
    sampling: Sampling,
    *,
    budget: Budget,
    progress: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SampleRun:
    """Sample every session ``sampling.samples`` times, ``sampling.every`` s apart.

    Raises
    ------
    SourceUnavailable
        No target gave one snapshot (the reason of the first failure), or the time
        budget ran out before the first snapshot.
    """
    run = SampleRun(sampling=sampling, rows={s.target.name: _Rows() for s in sessions})
    alive = list(sessions)
    failures: list[str] = []
    total = sampling.samples
    bar = progress_bar(total, enabled=progress, desc="postgres snapshots", unit="snapshot")
    start = clock()
    try:
        for k in range(total):
            wait = start + k * sampling.every - clock()
            if wait > 0:
                if budget.remaining() <= wait:
                    run.notes.append(
                        f"sampling stopped after {k} of {total} snapshots: the time budget "
                        f"of {budget.seconds:g} s is used up"
                    )
                    break
                sleep(wait)
            last = k == total - 1
            for session in list(alive):
                rows = run.rows[session.target.name]
                try:
                    _snapshot(session, rows, first=k == 0, last=last)
                except SourceUnavailable as exc:
                    alive.remove(session)
                    failures.append(exc.reason)
                    run.notes.append(
                        f"{session.target.name}: sampling stopped after {rows.snapshots} of "
                        f"{total} snapshots: {exc.reason}"
                    )
            bar.update(1)
            if not alive:
                break
    finally:
        bar.close()
    for name, rows in run.rows.items():
        if rows.snapshots and not rows.stats_last:
            # cut short: the deltas run to the last snapshot that read them (none: no deltas)
            rows.stats_last = rows.stats_first if rows.snapshots == 1 else []
            if rows.snapshots > 1:
                run.notes.append(f"{name}: no pg_stat_database deltas (the run was cut short)")
    if not any(r.snapshots for r in run.rows.values()):
        raise SourceUnavailable(SOURCE, failures[0] if failures else "no snapshot was taken")
    return run
