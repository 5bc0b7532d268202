"""Readable tables for notebooks: display names, units, rounding, times.

Metrics are named and their values rounded from the metric vocabulary
(:mod:`incident_lib.core.metrics`): a row reads ``p95 latency (ms)``, never
``latency_p95``. Missing values read ``—``. Every ``format_*`` function returns a
frame with the same columns and index whether or not it has rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..analysis.changes import relation_label
from ..analysis.metrics import RATE_COUNTS
from ..core.metrics import format_growth, format_share, metric_info
from ..core.time import format_duration

if TYPE_CHECKING:
    import pandas as pd

    from ..analysis.database import Leak, Saturation

__all__ = [
    "format_changes",
    "format_health",
    "format_leaks",
    "format_onsets",
    "format_saturation",
    "format_signatures",
    "format_usage",
    "present",
    "present_database",
]

_MISSING = "—"


def _word(value: Any) -> str:
    """A text cell as text: "" for a missing value."""
    return "" if _is_missing(value) else str(value)


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT or NA."""
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _clock(value: Any, fmt: str = "%H:%M") -> str:
    """A time as ``HH:MM`` (or ``fmt``); ``—`` when missing."""
    return _MISSING if _is_missing(value) else format(value, fmt)


def _times(value: Any, row: Mapping[Any, Any] | None = None, key: str = "") -> str:
    """A ratio as ``3.2×``; ``—`` when missing; the baseline count when it is too thin.

    ``row`` may carry ``baseline_events`` (what the baseline rests on): a ratio over
    fewer events reads ``1 failed request in the baseline`` instead.
    """
    events = None if row is None else row.get("baseline_events")
    counted = None if events is None or _is_missing(events) else float(events)
    ratio = None if _is_missing(value) else float(value)
    return format_growth(ratio, baseline_events=counted, noun=RATE_COUNTS.get(key, "sample"))


def _share(value: Any) -> str:
    """A share (0-1) as a whole percentage; ``—`` when missing."""
    return format_share(None if _is_missing(value) else float(value))


def _frame(
    rows: Sequence[Mapping[str, object]], columns: Sequence[str], index: str | list[str]
) -> pd.DataFrame:
    """``rows`` as a frame of ``columns`` indexed by ``index`` (the same shape when empty)."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(columns)).set_index(index)


_HEALTH_COLUMNS = ("metric", "baseline", "peak", "peak at (UTC)", "latest", "peak vs baseline")
_ONSET_COLUMNS = (
    "metric",
    "moved",
    "onset (UTC)",
    "baseline",
    "peak",
    "peak at (UTC)",
    "× baseline",
)
_CHANGE_COLUMNS = (
    "time (UTC)",
    "kind",
    "change",
    "detail",
    "to the onset",
    "score",
    "candidate",
)
_SIGNATURE_COLUMNS = (
    "template",
    "events",
    "level",
    "first (UTC)",
    "last (UTC)",
    "pods",
    "baseline",
    "vs baseline",
)


def format_health(health: pd.DataFrame) -> pd.DataFrame:
    """The health table for reading: display names with units, rounded values, HH:MM times.

    Parameters
    ----------
    health
        From :func:`incident_lib.analysis.metrics.health_table`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``metric`` (``p95 latency (ms)``), with ``baseline``, ``peak``,
        ``peak at (UTC)``, ``latest`` and ``peak vs baseline`` (``3.2×``) as text.
    """
    rows = []
    for row in health.to_dict("records"):
        info = metric_info(str(row["metric"]))
        rows.append(
            {
                "metric": info.label,
                "baseline": info.format(row["baseline"], unit=False),
                "peak": info.format(row["peak"], unit=False),
                "peak at (UTC)": _clock(row["peak_at"]),
                "latest": info.format(row["latest"], unit=False),
                "peak vs baseline": _times(row["peak_vs_baseline"], row, str(row["metric"])),
            }
        )
    return _frame(rows, _HEALTH_COLUMNS, "metric")


def present(df: pd.DataFrame, *, index: str | None = None) -> pd.DataFrame:
    """A copy for display: times as ``HH:MM``, booleans as ✔, the first column as row labels,
    snake_case column names as words (``times_fired`` -> ``times fired``).

    Parameters
    ----------
    df
        Any frame.
    index
        The column to use as row labels (default: the first column) instead of
        0, 1, 2...; a frame with a single column keeps its index.

    Returns
    -------
    pandas.DataFrame
        Times in UTC as ``HH:MM``, with the date when they span several days;
        booleans as ``✔`` or empty.
    """
    out = df.copy()
    times = [c for c in out.columns if str(out[c].dtype).startswith("datetime64")]
    days = {d for c in times for d in out[c].dropna().dt.date}
    fmt = "%H:%M" if len(days) <= 1 else "%Y-%m-%d %H:%M"
    for col in out.columns:
        if col in times:
            out[col] = out[col].dt.strftime(fmt)
        elif str(out[col].dtype) == "bool":
            out[col] = out[col].map({True: "✔", False: ""})
    if len(out.columns) > 1:
        out = out.set_index(index or out.columns[0])
    out.columns = [str(c).replace("_", " ") for c in out.columns]
    out.index.name = str(out.index.name).replace("_", " ") if out.index.name else None
    return out


def format_usage(limits: pd.DataFrame) -> pd.DataFrame:
    """The limits-vs-usage table with cores, GiB and percentages of the limit.

    Parameters
    ----------
    limits
        From :func:`incident_lib.analysis.resources.limits_vs_usage` (CPU in
        cores, memory in bytes).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``pod`` and ``container``; CPU and memory columns carry their
        unit (from :mod:`incident_lib.core.metrics`) in the column name. A deleted
        pod's limit reads ``unknown`` when its template was not found, and the
        ``flag`` says whose limit it was compared with when it was.
    """
    cpu, memory = metric_info("cpu"), metric_info("memory")
    columns = (
        "pod",
        "container",
        f"CPU p95 ({cpu.unit})",
        f"CPU peak ({cpu.unit})",
        f"CPU limit ({cpu.unit})",
        "CPU % of limit",
        f"memory peak ({memory.unit})",
        f"memory limit ({memory.unit})",
        "memory % of limit",
        "flag",
    )
    rows = []
    for row in limits.to_dict("records"):
        unknown = "limit unknown" in str(row["flag"])
        source = str(row.get("limit_source") or "")
        rows.append(
            {
                "pod": row["pod"],
                "container": row["container"],
                f"CPU p95 ({cpu.unit})": cpu.format(row["cpu_p95"], unit=False),
                f"CPU peak ({cpu.unit})": cpu.format(row["cpu_peak"], unit=False),
                f"CPU limit ({cpu.unit})": "unknown"
                if unknown
                else cpu.format(row["cpu_limit"], unit=False),
                "CPU % of limit": "unknown" if unknown else _share(row["cpu_of_limit"]),
                f"memory peak ({memory.unit})": memory.format(row["memory_peak"], unit=False),
                f"memory limit ({memory.unit})": "unknown"
                if unknown
                else memory.format(row["memory_limit"], unit=False),
                "memory % of limit": "unknown" if unknown else _share(row["memory_of_limit"]),
                "flag": "; ".join(
                    part for part in (str(row["flag"]), "" if unknown else source) if part
                ),
            }
        )
    return _frame(rows, columns, ["pod", "container"])


def _lead(value: Any) -> str:
    """A change's lead to the onset in words: ``12 min before``, ``at the onset``."""
    import pandas as pd

    if _is_missing(value):  # NaT: no onset
        return _MISSING
    minutes = pd.Timedelta(value) / pd.Timedelta(minutes=1)
    if abs(minutes) < 1:
        return "at the onset"
    if abs(minutes) >= 2 * 24 * 60:
        text = f"{abs(minutes) / 1440:.0f} days"
    elif abs(minutes) >= 120:
        text = f"{abs(minutes) / 60:.1f} h"
    else:
        text = f"{abs(minutes):.0f} min"
    return f"{text} {'before' if minutes > 0 else 'after'}"


def format_changes(ranked: pd.DataFrame) -> pd.DataFrame:
    """Ranked changes: time, what, lead to the onset in words, score, candidate mark.

    Parameters
    ----------
    ranked
        From :func:`incident_lib.analysis.changes.rank_changes`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``time (UTC)`` (date and time), with ``kind``, ``change``
        (saying whose change it is for a dependency's or another service's, when
        ``ranked`` has the ``relation`` column), ``detail``, ``to the onset``
        (``12 min before``, ``at the onset``), ``score`` (two decimals) and
        ``candidate`` (``✔``).
    """
    rows = [
        {
            "time (UTC)": _clock(row["time"], "%Y-%m-%d %H:%M"),
            "kind": row["kind"],
            "change": relation_label(
                str(row["label"]), _word(row.get("service")), _word(row.get("relation"))
            ),
            "detail": row["detail"],
            "to the onset": _lead(row["lead"]),
            "score": f"{float(row['score']):.2f}",
            "candidate": "✔" if row["candidate"] else "",
        }
        for row in ranked.to_dict("records")
    ]
    return _frame(rows, _CHANGE_COLUMNS, "time (UTC)")


def _rate_change(row: Mapping[Any, Any]) -> str:
    """``new`` for a signature absent from the baseline, else its rate ratio as ``3.2×``."""
    if row["is_new"] and not row["baseline_count"]:
        return "new"
    ratio = row["rate_change"]
    if _is_missing(ratio):
        return _MISSING
    return "new" if math.isinf(float(ratio)) else _times(ratio)


def format_signatures(table: pd.DataFrame) -> pd.DataFrame:
    """Error signatures for reading: times as HH:MM, the rate change as ``new`` or ``3.2×``.

    Parameters
    ----------
    table
        A signatures table (``template``, ``count``, ``level``, ``first_seen``,
        ``last_seen``, ``pods``, ``baseline_count``, ``is_new``, ``rate_change``),
        or one ranked by :func:`incident_lib.analysis.signatures.rank_signatures`
        (``rank``, ``same_as`` and the words of ``change`` are shown then).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``template``, with ``events``, ``level``, ``first (UTC)``,
        ``last (UTC)``, ``pods``, ``baseline`` and ``vs baseline``; a ranked
        table starts with ``#`` and ``same as`` (the failure it repeats).
    """
    ranked = "rank" in table.columns
    rows = []
    for row in table.to_dict("records"):
        out: dict[str, object] = {}
        if ranked:
            out["#"] = row["rank"]
            out["same as"] = f"#{row['same_as']}" if row.get("same_as") else ""
        out |= {
            "template": row["template"],
            "events": row["count"],
            "level": row["level"],
            "first (UTC)": _clock(row["first_seen"]),
            "last (UTC)": _clock(row["last_seen"]),
            "pods": row["pods"],
            "baseline": row["baseline_count"],
            "vs baseline": row["change"] if "change" in row else _rate_change(row),
        }
        rows.append(out)
    columns = ("#", "same as", *_SIGNATURE_COLUMNS) if ranked else _SIGNATURE_COLUMNS
    return _frame(rows, columns, "template")


def format_onsets(table: pd.DataFrame) -> pd.DataFrame:
    """The onset table: metrics that moved first, times as HH:MM:SS, values rounded.

    Parameters
    ----------
    table
        From :func:`incident_lib.analysis.onset.onset_table`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``metric`` (display name with unit), with ``moved`` (``✔``),
        ``onset (UTC)``, ``baseline``, ``peak`` (display units, e.g. memory in
        GiB), ``peak at (UTC)`` and ``× baseline``.
    """
    rows = []
    for row in table.to_dict("records"):
        info = metric_info(str(row["metric"]))
        rows.append(
            {
                "metric": info.label,
                "moved": "✔" if row["moved"] else "",
                "onset (UTC)": _clock(row["onset_at"], "%H:%M:%S"),
                "baseline": info.format(row["baseline_level"], unit=False),
                "peak": info.format(row["peak"], unit=False),
                "peak at (UTC)": _clock(row["peak_at"]),
                "× baseline": _times(row["ratio"], row, str(row["metric"])),
            }
        )
    return _frame(rows, _ONSET_COLUMNS, "metric")


_SATURATION_COLUMNS = (
    "database",
    "slots for ordinary roles",
    "first",
    "peak",
    "peak at (UTC)",
    "limit reached (UTC)",
    "full in",
    "last",
)
_LEAK_COLUMNS = (
    "who",
    "sessions",
    "from (UTC)",
    "to (UTC)",
    "per minute",
    "idle in transaction",
    "oldest idle",
    "query",
)


def _duration(value: Any) -> str:
    """A timedelta (or seconds) as ``11 min``; ``—`` when missing."""
    if _is_missing(value):
        return _MISSING
    if isinstance(value, timedelta):
        return format_duration(value)
    return format_duration(timedelta(seconds=float(value)))


def format_saturation(found: Sequence[Saturation]) -> pd.DataFrame:
    """Client connections of each database against the slots ordinary roles may use.

    Parameters
    ----------
    found
        From :func:`incident_lib.analysis.database.saturation`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``database``: the slots (``97 of 100 (3 reserved)``), the first,
        peak and last counts, when the peak was and when the limit was reached,
        and ``full in`` (the time left at the recent growth) when it was not.
    """
    rows = []
    for sat in found:
        limit = sat.limit
        reserved = 0 if limit is None else limit.superuser_reserved + limit.reserved
        slots = (
            "unknown (settings not captured)"
            if limit is None
            else f"{limit.available} of {limit.max_connections} ({reserved} reserved)"
        )
        peak = f"{sat.peak}" if sat.share is None else f"{sat.peak} ({_share(sat.share)})"
        rows.append(
            {
                "database": sat.target,
                "slots for ordinary roles": slots,
                "first": sat.first,
                "peak": peak,
                "peak at (UTC)": _clock(sat.peak_at, "%H:%M:%S"),
                "limit reached (UTC)": _clock(sat.reached_at, "%H:%M:%S")
                if sat.reached_at is not None
                else "not reached",
                "full in": _duration(sat.time_to_exhaustion),
                "last": sat.last,
            }
        )
    return _frame(rows, _SATURATION_COLUMNS, "database")


def format_leaks(leaks: Sequence[Leak]) -> pd.DataFrame:
    """Applications or clients leaking connections, for reading.

    Parameters
    ----------
    leaks
        From :func:`incident_lib.analysis.database.find_leaks`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``who`` (application, client): sessions ``12 → 96``, when,
        sessions added per minute, those idle in transaction, the oldest idle
        time and their most frequent query.
    """
    rows = [
        {
            "who": leak.who,
            "sessions": f"{leak.first} → {leak.last}",
            "from (UTC)": _clock(leak.first_at),
            "to (UTC)": _clock(leak.last_at),
            "per minute": f"{leak.per_minute:.1f}",
            "idle in transaction": leak.idle_in_transaction,
            "oldest idle": _duration(leak.oldest_idle_s) if leak.idle_in_transaction else _MISSING,
            "query": leak.queries[0] if leak.queries else _MISSING,
        }
        for leak in leaks
    ]
    return _frame(rows, _LEAK_COLUMNS, "who")


def _amount(value: Any) -> str:
    """A float for reading: ``3,190`` from 100 up, three significant digits below."""
    if _is_missing(value):
        return _MISSING
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"


#: how a seconds column of a database table reads once it holds durations
_DURATION_NAMES = {
    "idle": "idle for",
    "xact": "in transaction for",
    "query": "running for",
    "waiting": "waiting for",
    "total": "total time",
}


def present_database(df: pd.DataFrame, *, index: str | None = None) -> pd.DataFrame:
    """A database table for reading: :func:`present`, with ``target`` dropped when the
    frame holds one database, ``*_s`` columns as durations (``idle_s`` -> ``idle for``:
    ``14 min 12 s``), ``share`` as a percentage and other decimals rounded (``3,190``,
    ``6.3``).

    Parameters
    ----------
    df
        A table of :mod:`incident_lib.analysis.database` (``target`` first).
    index
        The column to use as row labels (default: the first one left).

    Returns
    -------
    pandas.DataFrame
    """
    out = df.copy()
    if "target" in out.columns and out["target"].nunique() <= 1:
        out = out.drop(columns="target")
    for col in list(out.columns):
        name = str(col)
        if name.endswith("_s") and str(out[col].dtype).startswith("float"):
            out[col] = out[col].map(_duration)
            stem = name.removesuffix("_s")
            out = out.rename(columns={col: _DURATION_NAMES.get(stem, f"{stem} time")})
        elif name == "share":
            out[col] = out[col].map(_share)
        elif str(out[col].dtype).startswith("float"):
            out[col] = out[col].map(_amount)
    return present(out, index=index)
