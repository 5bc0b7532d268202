"""Settings that matter with safer values, top statements, and the server's "full" refusals."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from ...core.findings import Finding
from ...core.time import format_duration
from .frames import settings_of, targets

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ADVICE_COLUMNS",
    "REFUSED_FULL_TEXTS",
    "STATEMENT_COLUMNS",
    "is_refused_full",
    "refusal_findings",
    "setting_text",
    "settings_advice",
    "statements_summary",
]

ADVICE_COLUMNS = ["target", "setting", "value", "safer", "why"]
STATEMENT_COLUMNS = [
    "target",
    "queryid",
    "calls",
    "total_s",
    "mean_ms",
    "max_ms",
    "share",
    "rows",
    "temp_blks_written",
    "query",
]

#: PostgreSQL's refusals of a connection because its slots are full (all versions
#: 13-17), and the source's own reason for one (``REFUSED_FULL`` of the source)
REFUSED_FULL_TEXTS = (
    "sorry, too many clients already",
    "too many clients already",
    "remaining connection slots are reserved",
    "connection slots are full",
)

_MS = {"ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0}

#: (setting, safer value, why) for a timeout that is 0 (disabled)
_TIMEOUTS = (
    (
        "idle_in_transaction_session_timeout",
        "60s",
        "disabled: a session left idle in transaction keeps its connection, its locks and "
        "its snapshot until the client comes back, so leaked transactions pile up until "
        "max_connections is reached",
    ),
    (
        "statement_timeout",
        "30s (per role: ALTER ROLE app SET statement_timeout = '30s')",
        "disabled: a runaway query holds its connection and locks for as long as it runs",
    ),
    (
        "lock_timeout",
        "5s (per role)",
        "disabled: a session waiting for a lock waits forever and a queue builds behind it",
    ),
)


def setting_text(setting: str, unit: str) -> str:
    """A setting as people read it: ``0 (disabled)`` for a timeout, ``30 s``, ``100``."""
    factor = _MS.get(unit)
    if factor is None:
        return f"{setting} {unit}".strip()
    try:
        ms = float(setting) * factor
    except ValueError:
        return f"{setting} {unit}".strip()
    if ms == 0:
        return "0 (disabled)"
    if ms < 1000:
        return f"{ms:g} ms"
    return format_duration(timedelta(milliseconds=ms))


def _number(values: dict[str, tuple[str, str]], name: str) -> float | None:
    try:
        return float(values[name][0])
    except (KeyError, ValueError):
        return None


def settings_advice(settings: pd.DataFrame) -> pd.DataFrame:
    """The settings to change before the next incident, with a safer value and why.

    Parameters
    ----------
    settings
        ``pg_settings`` contract frame.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ADVICE_COLUMNS`, one row per setting to change per target:
        ``idle_in_transaction_session_timeout``, ``statement_timeout`` and
        ``lock_timeout`` when 0 (disabled); no slot kept for investigators
        (``superuser_reserved_connections`` 0 and no ``reserved_connections``);
        ``log_lock_waits`` off. Settings that were not captured are not judged.
        Empty when nothing needs changing.
    """
    import pandas as pd

    rows: list[dict[str, str]] = []
    for target in targets(settings):
        values = settings_of(settings, target)
        for name, safer, why in _TIMEOUTS:
            if _number(values, name) == 0:
                rows.append(
                    {
                        "target": target,
                        "setting": name,
                        "value": setting_text(*values[name]),
                        "safer": safer,
                        "why": why,
                    }
                )
        superuser = _number(values, "superuser_reserved_connections")
        reserved = _number(values, "reserved_connections")
        version = _number(values, "server_version_num")
        if superuser == 0 and not reserved:
            sixteen = version is None or version >= 160000
            rows.append(
                {
                    "target": target,
                    "setting": "superuser_reserved_connections",
                    "value": "0",
                    "safer": "3"
                    + (
                        "; on 16+ also reserved_connections = 3 with a role granted "
                        "pg_use_reserved_connections for responders"
                        if sixteen
                        else ""
                    ),
                    "why": "no slot kept for investigators: when the clients take every "
                    "connection, nobody can get in to look",
                }
            )
        if values.get("log_lock_waits", ("", ""))[0] == "off":
            rows.append(
                {
                    "target": target,
                    "setting": "log_lock_waits",
                    "value": "off",
                    "safer": "on",
                    "why": "lock waits longer than deadlock_timeout go unlogged: the blocking "
                    "is invisible after the fact",
                }
            )
    return pd.DataFrame(rows, columns=ADVICE_COLUMNS)


def statements_summary(statements: pd.DataFrame, *, n: int = 5) -> pd.DataFrame:
    """The ``n`` statements of each target with the most total execution time.

    Parameters
    ----------
    statements
        ``pg_statements`` contract frame (top by total and by mean: a statement
        can be in both; it is counted once).
    n
        Statements per target.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STATEMENT_COLUMNS`: ``total_s`` (seconds), ``mean_ms``,
        ``max_ms``, ``share`` (of the total time of the statements captured for
        the target, 0-1); the most total time first.
    """
    import pandas as pd

    parts: list[pd.DataFrame] = []
    for target in targets(statements):
        mine = statements[statements["target"] == target].drop_duplicates(
            ["queryid", "datname", "usename"]
        )
        total = float(mine["total_exec_time"].sum())
        top = mine.sort_values("total_exec_time", ascending=False, kind="stable").head(n)
        parts.append(
            pd.DataFrame(
                {
                    "target": top["target"],
                    "queryid": top["queryid"],
                    "calls": top["calls"],
                    "total_s": top["total_exec_time"] / 1000.0,
                    "mean_ms": top["mean_exec_time"],
                    "max_ms": top["max_exec_time"],
                    "share": top["total_exec_time"] / total if total > 0 else 0.0,
                    "rows": top["rows"],
                    "temp_blks_written": top["temp_blks_written"],
                    "query": top["query"],
                },
                columns=STATEMENT_COLUMNS,
            )
        )
    if not parts:
        return pd.DataFrame(columns=STATEMENT_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def is_refused_full(reason: str) -> bool:
    """Whether a connection failure is the server refusing because its slots are full.

    Recognises PostgreSQL's own texts (``FATAL: sorry, too many clients
    already``; ``remaining connection slots are reserved for non-replication
    superuser connections`` before 16; ``... for roles with the SUPERUSER
    attribute`` and ``... for roles with privileges of the
    "pg_use_reserved_connections" role`` on 16+) and the source's reason for
    one. A per-role or per-database ``CONNECTION LIMIT`` is not the server
    being full.

    Parameters
    ----------
    reason
        An error message or an "unavailable" reason.

    Returns
    -------
    bool
    """
    lowered = " ".join(reason.lower().split())
    return any(t in lowered for t in REFUSED_FULL_TEXTS)


def refusal_findings(unavailable: Mapping[str, str]) -> list[Finding]:
    """A finding when the server refused our connection because its slots were full.

    The refusal is evidence of exhaustion in itself: ordinary roles could not
    connect either at that moment.

    Parameters
    ----------
    unavailable
        ``source/name`` -> reason of the evidence that could not be read (the
        runbook's ``unavailable``); only ``postgres/*`` entries are read.

    Returns
    -------
    list of Finding
        One finding (fact ``db:refused-full``, role ``mechanism``), or none.
    """
    refused = sorted(
        key
        for key, why in unavailable.items()
        if key.startswith("postgres/") and is_refused_full(why)
    )
    if not refused:
        return []
    return [
        Finding(
            title="The database refused new connections: its slots are full",
            severity="high",
            summary="Connecting to read "
            + ", ".join(refused)
            + " was refused because every connection slot ordinary roles may use was taken "
            '("too many clients"): the application\'s new connections are refused too. '
            "Connect as a superuser (superuser_reserved_connections) or, on PostgreSQL 16+, "
            "as a role granted pg_use_reserved_connections to see who holds them.",
            fact="db:refused-full",
            role="mechanism",
        )
    ]
