"""The sessions the source opens: read-only, bounded, recognisable, and why one failed.

Every session is psycopg 3 in autocommit (no transaction is held between two
snapshots; a snapshot is one short read-only transaction), connects within
``connect_timeout`` (at most 10 s, clipped to the time budget left), then sets
``default_transaction_read_only = on``, ``statement_timeout``, ``lock_timeout``,
``idle_in_transaction_session_timeout`` and ``TimeZone = UTC``; its
``application_name`` is :data:`APPLICATION_NAME`, so responders can recognise and
exclude it. Servers below PostgreSQL 13 are refused with a clear reason.

A failure becomes one line for a :class:`~incident_lib.core.errors.SourceUnavailable`
or a note (:func:`connect_reason`, :func:`query_reason`): never a traceback, and the
target's password is scrubbed from it whatever the server said.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.errors import SourceUnavailable
from ..base import Budget, scrub_secrets
from .config import SOURCE, Target

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "APPLICATION_NAME",
    "MAX_VERSION",
    "MIN_VERSION",
    "REFUSED_FULL",
    "Session",
    "Timeouts",
    "connect_reason",
    "open_session",
    "query_reason",
]

#: every session's application_name (exclude it when reading pg_stat_activity yourself)
APPLICATION_NAME = "incident-runbooks"
#: how the reason starts when the server refused us because it is full
REFUSED_FULL = "the server refused a new connection because its connection slots are full"
#: the oldest and newest supported server versions (server_version_num)
MIN_VERSION = 130000
MAX_VERSION = 179999
_FULL_TEXTS = ("too many clients", "remaining connection slots are reserved")
_REFUSED_FULL_WHY = (
    ": this refusal is itself evidence that the connections are exhausted (the evidence "
    "captured before, the application's pool and errors say by whom). To keep a way in for "
    "investigators, connect as a superuser (the superuser_reserved_connections slots stay "
    "free for superusers) or, on PostgreSQL 16+, as a role granted pg_use_reserved_connections "
    "(the reserved_connections slots)"
)


@dataclass(frozen=True)
class Timeouts:
    """Seconds each session allows (clipped to the time budget left when it opens).

    Attributes
    ----------
    connect
        ``connect_timeout`` (libpq counts whole seconds, at least 2).
    statement
        ``statement_timeout``: a query running longer is cancelled.
    lock
        ``lock_timeout``: a lock waited for longer is given up.
    idle_in_transaction
        ``idle_in_transaction_session_timeout``: a safety net should we ever stall.
    """

    connect: float = 10.0
    statement: float = 10.0
    lock: float = 2.0
    idle_in_transaction: float = 30.0


class Session:
    """One open, read-only session on a target (build it with :func:`open_session`).

    Attributes
    ----------
    target
        The configured database.
    version
        ``server_version_num`` (150010 for 15.10).
    pid
        The session's own backend pid (left out of the activity).
    in_recovery
        Whether the server is a standby.
    timeouts
        What the session set (after clipping).
    """

    def __init__(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        target: Target,
        *,
        version: int,
        pid: int,
        in_recovery: bool,
        timeouts: Timeouts,
        budget: Budget,
    ) -> None:
        self.conn = conn
        self.target = target
        self.version = version
        self.pid = pid
        self.in_recovery = in_recovery
        self.timeouts = timeouts
        self.budget = budget

    def __repr__(self) -> str:
        return f"Session({self.target.name}, version {self.version}, pid {self.pid})"

    def rows(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        *,
        what: str,
        allow: tuple[type[Exception], ...] = (),
    ) -> list[dict[str, Any]]:
        """The rows of one statement, as dicts.

        Parameters
        ----------
        sql, params
            The statement and its parameters.
        what
            What it reads, for the reason when it fails.
        allow
            psycopg errors raised as they are (the caller handles them).

        Raises
        ------
        SourceUnavailable
            The time budget is used up, or the statement failed (``what`` names it in
            the reason: a timeout, a missing privilege, a lost connection).
        """
        import psycopg

        self.budget.check(f"the {what} query")
        try:
            cursor = self.conn.execute(sql, params or None)
            return list(cursor.fetchall()) if cursor.description else []
        except allow:
            raise
        except psycopg.Error as exc:
            raise SourceUnavailable(SOURCE, query_reason(exc, self, what)) from None

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """One short read-only transaction (statements inside see one activity snapshot)."""
        import psycopg

        try:
            with self.conn.transaction():
                yield self
        except psycopg.Error as exc:  # the commit itself failed: the connection is gone
            raise SourceUnavailable(SOURCE, query_reason(exc, self, "snapshot")) from None

    def close(self) -> None:
        """Close the connection (quietly)."""
        with contextlib.suppress(Exception):  # closing a broken connection is not an error
            self.conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _seconds_ms(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def open_session(
    target: Target, *, budget: Budget | None = None, timeouts: Timeouts | None = None
) -> Session:
    """Connect to ``target`` and set the session up (see the module notes).

    Parameters
    ----------
    target
        The database.
    budget
        The source's time budget: the timeouts are clipped to what is left.
    timeouts
        The timeouts to set (default :class:`Timeouts`; tests give short ones).

    Raises
    ------
    SourceUnavailable
        The connection failed (the reason says why, without the password), the
        server is older than PostgreSQL 13, or the time budget is used up.
    """
    import psycopg
    from psycopg.conninfo import make_conninfo
    from psycopg.rows import dict_row

    budget = budget or Budget.unlimited(SOURCE)
    wanted = timeouts or Timeouts()
    left = budget.check(f"connecting to {target.name}")
    clipped = Timeouts(
        connect=min(wanted.connect, 10.0, left),
        statement=min(wanted.statement, left),
        lock=min(wanted.lock, left),
        idle_in_transaction=wanted.idle_in_transaction,
    )
    connect_timeout = max(2, math.ceil(clipped.connect))
    params = dict(target.params)
    params.pop("connect_timeout", None)
    params.pop("application_name", None)
    try:
        conn = psycopg.connect(
            make_conninfo("", **params),
            autocommit=True,
            connect_timeout=connect_timeout,
            application_name=APPLICATION_NAME,
            row_factory=dict_row,
        )
    except psycopg.Error as exc:
        raise SourceUnavailable(
            SOURCE, connect_reason(exc, target, connect_timeout=connect_timeout)
        ) from None
    except Exception as exc:  # e.g. a bad parameter value: never a traceback
        why = scrub_secrets(_first_line(exc), target.secrets())
        raise SourceUnavailable(SOURCE, f"could not connect{_at(target)}: {why}") from None
    try:
        version = int(conn.info.server_version)
        if version < MIN_VERSION:
            raise SourceUnavailable(
                SOURCE,
                f"PostgreSQL {_version_text(version)}{_at(target)} is not supported: "
                "this source reads PostgreSQL 13 to 17",
            )
        row = conn.execute(
            "SELECT set_config('default_transaction_read_only', 'on', false),"
            " set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false),"
            " set_config('idle_in_transaction_session_timeout', %s, false),"
            " set_config('TimeZone', 'UTC', false),"
            " pg_backend_pid() AS pid, pg_is_in_recovery() AS in_recovery",
            [
                _seconds_ms(clipped.statement),
                _seconds_ms(clipped.lock),
                _seconds_ms(clipped.idle_in_transaction),
            ],
        ).fetchone()
    except SourceUnavailable:
        conn.close()
        raise
    except psycopg.Error as exc:
        conn.close()
        session_stub = _Stub(target, clipped)
        raise SourceUnavailable(SOURCE, query_reason(exc, session_stub, "session setup")) from None
    assert row is not None
    return Session(
        conn,
        target,
        version=version,
        pid=int(row["pid"]),
        in_recovery=bool(row["in_recovery"]),
        timeouts=clipped,
        budget=budget,
    )


@dataclass(frozen=True)
class _Stub:
    target: Target
    timeouts: Timeouts


def _version_text(version: int) -> str:
    return f"{version // 10000}.{version % 10000}"


def _at(target: Target) -> str:
    return f" on {target.name} ({target.where})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        line = line.strip()
        if line:
            # libpq: 'connection to server at "h" (1.2.3.4), port 5432 failed: FATAL:  why'
            for marker in ("FATAL:", "ERROR:"):
                if marker in line:
                    line = line.split(marker, 1)[1].strip()
            return line
    return type(exc).__name__


def connect_reason(exc: BaseException, target: Target, *, connect_timeout: float) -> str:
    """Why connecting to ``target`` failed, in one line (no password).

    Starts with :data:`REFUSED_FULL` when the server refused because it is full.
    """
    text = str(exc)
    low = text.lower()
    variable = target.variable
    user = target.params.get("user") or "the configured user"
    host = target.params.get("host") or target.params.get("hostaddr") or "the server"
    if any(t in low for t in _FULL_TEXTS):
        why = REFUSED_FULL + _REFUSED_FULL_WHY
    elif "password authentication failed" in low or "no password supplied" in low:
        why = (
            f"authentication failed for user {user}: check the user and password in "
            f"{variable} (or PGPASSWORD, ~/.pgpass)"
        )
    elif "authentication failed" in low or "pg_hba.conf" in low:
        why = (
            f"the server does not accept user {user} from here (pg_hba.conf, or "
            f"authentication failed): check {variable}"
        )
    elif "role" in low and "does not exist" in low:
        why = f"authentication failed: user {user} does not exist; check {variable}"
    elif "database" in low and "does not exist" in low:
        db = target.params.get("dbname") or "the configured database"
        why = f"database {db} does not exist on the server: check the database name in {variable}"
    elif (
        "could not translate host name" in low
        or "failed to resolve host" in low
        or "name or service not known" in low
        or "nodename nor servname" in low
        or "temporary failure in name resolution" in low
    ):
        why = f"{host} could not be reached: its name does not resolve (check {variable})"
    elif "connection refused" in low:
        why = (
            f"{host} could not be reached (connection refused): is PostgreSQL listening on "
            f"that host and port? (check {variable})"
        )
    elif "timeout expired" in low or "timed out" in low:
        why = f"{host} did not answer within {connect_timeout:g} s (connect_timeout)"
    elif "ssl" in low or "tls" in low or "certificate" in low:
        sslmode = target.params.get("sslmode") or "prefer"
        if "does not support ssl" in low:
            detail = "the server does not support TLS, but sslmode requires it"
        elif "certificate" in low:
            detail = "the server's certificate could not be verified (check sslrootcert)"
        else:
            detail = _first_line(exc)
        why = f"TLS failed (sslmode={sslmode}): {detail}; check sslmode in {variable}"
    elif "no route to host" in low or "network is unreachable" in low:
        why = f"{host} could not be reached (no route to host)"
    else:
        why = f"could not connect: {_first_line(exc)}"
    return scrub_secrets(f"{why} [{target.name}: {target.where}]", target.secrets())


def query_reason(exc: BaseException, session: Session | _Stub, what: str) -> str:
    """Why a query of ``session`` failed, in one line (no password)."""
    import psycopg
    from psycopg import errors as e

    target = session.target
    timeouts = session.timeouts
    if isinstance(exc, e.QueryCanceled):
        why = (
            f"the {what} query was cancelled by statement_timeout ({timeouts.statement:g} s): "
            "the server is too slow to answer it now"
        )
    elif isinstance(exc, e.LockNotAvailable):
        why = f"the {what} query gave up waiting for a lock (lock_timeout {timeouts.lock:g} s)"
    elif isinstance(exc, e.InsufficientPrivilege):
        user = target.params.get("user") or "the configured user"
        why = (
            f"user {user} may not run the {what} query: grant it pg_monitor "
            "(pg_read_all_stats and pg_read_all_settings)"
        )
    elif isinstance(exc, e.ReadOnlySqlTransaction):
        why = f"the {what} query tried to write in a read-only session"
    elif isinstance(exc, psycopg.OperationalError):
        why = f"the connection was lost during the {what} query ({_first_line(exc)})"
    else:
        why = f"the {what} query failed ({type(exc).__name__}: {_first_line(exc)})"
    return scrub_secrets(f"{why} [{target.name}: {target.where}]", target.secrets())
