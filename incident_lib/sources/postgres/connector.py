"""The PostgreSQL source as the runbook sees it: seven frames over every configured database.

``activity``, ``locks``, ``replication`` and ``database_stats`` come from one
sampling run (:mod:`.sampling`): the first of them fetched runs it, with a
progress bar, and the others reuse it. ``settings``, ``limits`` and
``statements`` are one read each. Sessions are opened for a fetch and closed after
it (an incident about exhausted connections is no time to keep slots).

A target that fails while others answer becomes a note naming it; when every
target fails the fetch raises :class:`SourceUnavailable` with the reason (the
first target's alone when there is one, so a refusal because the server is full
starts with :data:`~.session.REFUSED_FULL`). The manifest (:meth:`query`) names
the targets (host, port, database, user), the sampling and the SQL; never a
password.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...core.errors import SourceUnavailable
from ..base import BudgetedConnector, Fetched, Limits, check_frame, scrub_secrets
from .config import (
    BUDGET_RESERVE,
    FOR_ENV,
    SOURCE,
    Sampling,
    Target,
    targets_from_environment,
)
from .queries import (
    EXTENSION_SQL,
    LIMITS_SQL,
    SETTINGS,
    SETTINGS_SQL,
    limits_frame,
    settings_frame,
    sql_by_frame,
    statements_frame,
    statements_sql,
)
from .sampling import SampleRun, run_sampling
from .session import APPLICATION_NAME, Session, Timeouts, open_session

if TYPE_CHECKING:
    import pandas as pd

    from ...core.incident import Incident
    from ...core.time import Window

__all__ = ["FRAMES", "NOT_INSTALLED", "SAMPLED", "PostgresConnector"]

#: the frames it provides (the ``postgres`` entries of ``schema.EVIDENCE_KINDS``)
FRAMES = (
    "activity",
    "settings",
    "limits",
    "locks",
    "database_stats",
    "statements",
    "replication",
)
#: the frames served by the one sampling run
SAMPLED = ("activity", "locks", "replication", "database_stats")
#: the note when pg_stat_statements cannot be read on a target
NOT_INSTALLED = (
    "pg_stat_statements is not installed on {target}: top statements unknown (add it to "
    "shared_preload_libraries, restart, CREATE EXTENSION pg_stat_statements)"
)
_KIND = {
    "activity": "pg_activity",
    "settings": "pg_settings",
    "limits": "pg_limits",
    "locks": "pg_locks",
    "database_stats": "pg_database_stats",
    "statements": "pg_statements",
    "replication": "pg_replication",
}


class PostgresConnector(BudgetedConnector):
    """Activity, locks, settings, limits, statistics and replication of PostgreSQL databases.

    Parameters
    ----------
    targets
        The databases (see :func:`~.config.targets_from_environment`).
    environ
        The environment (the limits are read from it).
    limits
        Time budget (default: :meth:`Limits.from_environment`), shared by every fetch.
    sampling
        How often and how long activity is sampled (default: from ``environ``).
    timeouts
        The timeouts each session sets (default :class:`~.session.Timeouts`).

    Raises
    ------
    InvalidInput
        A limit or a sampling variable in the environment is invalid.
    """

    name: str = SOURCE
    frames: tuple[str, ...] = FRAMES

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        environ: Mapping[str, str] = os.environ,
        limits: Limits | None = None,
        sampling: Sampling | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        if not targets:
            raise ValueError("PostgresConnector needs at least one target")
        self.targets = tuple(targets)
        self.sampling = sampling if sampling is not None else Sampling.from_environment(environ)
        self.timeouts = timeouts or Timeouts()
        self._start_budget(environ, limits)
        self._run: SampleRun | None = None

    def __repr__(self) -> str:
        names = ", ".join(t.name for t in self.targets)
        return f"PostgresConnector({names}; {self.budget!r})"

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        limits: Limits | None = None,
        sampling: Sampling | None = None,
        databases: Sequence[str] | None = None,
    ) -> PostgresConnector:
        """The connector of the databases configured in ``environ`` (see :mod:`.config`).

        Parameters
        ----------
        environ
            Where ``INCIDENT_PG_DSN``, ``INCIDENT_PG_DSN_<NAME>`` or libpq's ``PG*``
            variables, the sampling and the limits are read.
        limits, sampling
            Replace what ``environ`` says.
        databases
            Read only these targets (``("orders",)``).

        Raises
        ------
        SourceUnavailable
            Nothing is configured.
        InvalidInput
            A DSN, a sampling variable or a limit is invalid, or ``databases`` names
            an unknown target.
        """
        targets = targets_from_environment(environ, databases)
        return cls(targets, environ=environ, limits=limits, sampling=sampling)

    def _secrets(self) -> list[str]:
        return [s for t in self.targets for s in t.secrets()]

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        """What a fetch of ``frame`` reads, for the evidence manifest (never a password).

        Live state: the frames describe the databases now, whatever ``window``.
        """
        check_frame(self, frame)
        del incident, window
        out: dict[str, Any] = {
            "targets": [t.describe() for t in self.targets],
            "application_name": APPLICATION_NAME,
            "sql": sql_by_frame()[frame],
        }
        if frame == "settings":
            out["settings"] = list(SETTINGS)
        if frame in SAMPLED:
            out["sampling"] = {
                "every_s": self.sampling.every,
                "for_s": self.sampling.duration,
                "snapshots": self.sampling.samples,
            }
        return out

    # -- fetching ------------------------------------------------------------------------

    def _fetch(self, frame: str, incident: Incident, window: Window, progress: bool) -> Fetched:
        del incident, window
        if frame in SAMPLED:
            run = self._sampled(progress)
            table: dict[str, Callable[[], pd.DataFrame]] = {
                "activity": run.activity,
                "locks": run.locks,
                "replication": run.replication,
                "database_stats": run.database_stats,
            }
            notes = list(run.notes)
            if frame == "replication":
                notes += run.standby_notes()
            return self._fetched(table[frame](), notes)
        if frame == "settings":
            return self._each(frame, self._settings)
        if frame == "limits":
            return self._each(frame, self._limits)
        return self._each(frame, self._statements)

    def _fetched(self, df: pd.DataFrame, notes: Sequence[str]) -> Fetched:
        secrets = self._secrets()
        return Fetched(df, tuple(dict.fromkeys(scrub_secrets(n, secrets) for n in notes)))

    def _open(self) -> tuple[list[Session], list[str], list[str]]:
        """Sessions to every target that answers; notes and reasons for those that did not."""
        sessions: list[Session] = []
        notes: list[str] = []
        reasons: list[str] = []
        for target in self.targets:
            try:
                sessions.append(open_session(target, budget=self.budget, timeouts=self.timeouts))
            except SourceUnavailable as exc:
                reasons.append(exc.reason)
                notes.append(f"{target.name} could not be read: {exc.reason}")
        if not sessions:
            raise SourceUnavailable(SOURCE, self._all_failed(reasons))
        return sessions, notes, reasons

    def _all_failed(self, reasons: Sequence[str]) -> str:
        if len(reasons) == 1:
            return reasons[0]
        return "no configured database could be read: " + "; ".join(reasons)

    def _sampled(self, progress: bool) -> SampleRun:
        if self._run is not None:
            return self._run
        sessions, notes, _ = self._open()
        try:
            sampling = self.sampling
            allowed = self.budget.remaining() - BUDGET_RESERVE
            if sampling.duration > allowed:
                sampling = sampling.clipped(allowed)
                notes.append(
                    f"sampling cut to {sampling.duration:g} s (of {self.sampling.duration:g} s "
                    f"asked by {FOR_ENV}) to stay within the time budget of "
                    f"{self.budget.seconds:g} s"
                )
            run = run_sampling(sessions, sampling, budget=self.budget, progress=progress)
        finally:
            for session in sessions:
                session.close()
        run.notes[:0] = notes
        self._run = run
        return run

    def _each(
        self, frame: str, read: Callable[[Session], tuple[pd.DataFrame, list[str]]]
    ) -> Fetched:
        import pandas as pd

        from ...core.schema import conform, empty_frame

        sessions, notes, _ = self._open()
        frames: list[pd.DataFrame] = []
        failures: list[str] = []
        try:
            for session in sessions:
                try:
                    df, more = read(session)
                except SourceUnavailable as exc:
                    failures.append(exc.reason)
                    notes.append(f"{session.target.name}: {frame} could not be read: {exc.reason}")
                    continue
                frames.append(df)
                notes.extend(more)
        finally:
            for session in sessions:
                session.close()
        if failures and not frames:
            raise SourceUnavailable(SOURCE, self._all_failed(failures))
        kind = _KIND[frame]
        kept = [f for f in frames if len(f)]
        df = conform(pd.concat(kept, ignore_index=True), kind) if kept else empty_frame(kind)
        return self._fetched(df, notes)

    @staticmethod
    def _settings(session: Session) -> tuple[pd.DataFrame, list[str]]:
        rows = session.rows(SETTINGS_SQL, {"names": list(SETTINGS)}, what="settings")
        return settings_frame(session.target.name, rows), []

    @staticmethod
    def _limits(session: Session) -> tuple[pd.DataFrame, list[str]]:
        rows = session.rows(LIMITS_SQL, what="connection limits")
        return limits_frame(session.target.name, rows), []

    @staticmethod
    def _statements(session: Session) -> tuple[pd.DataFrame, list[str]]:
        from psycopg import errors

        from ...core.schema import empty_frame

        name = session.target.name
        missing = (empty_frame("pg_statements"), [NOT_INSTALLED.format(target=name)])
        found = session.rows(EXTENSION_SQL, what="pg_stat_statements check")
        if not found:
            return missing
        sql = statements_sql(session.version, str(found[0]["schema"]))
        try:  # created but not in shared_preload_libraries: "must be loaded via ..."
            rows = session.rows(
                sql, what="pg_stat_statements", allow=(errors.ObjectNotInPrerequisiteState,)
            )
        except errors.ObjectNotInPrerequisiteState:
            return missing
        return statements_frame(name, rows), []
