"""Datadog API answers -> contract frames (pure functions, no I/O).

The decisions are documented in :mod:`incident_lib.sources.datadog`. The
functions take the client's model objects (or anything with the same ``get``)
and return rows or frames. Text is returned as Datadog gave it: the evidence
store redacts text columns when a frame is captured. This module is public: the
demo builds its Datadog evidence with these converters, so that it has the
shapes of a live capture.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.schema import CONTRACTS, conform, empty_frame
from ...core.text import shorten

if TYPE_CHECKING:
    import pandas as pd

    from ...core.time import Window

__all__ = [
    "EVENT_COLUMNS",
    "MIN_POINTS",
    "ROLLUP_STEPS",
    "current_state_row",
    "event_row",
    "event_text",
    "events_frame",
    "log_row",
    "logs_frame",
    "lookback",
    "metrics_frame",
    "monitor_frame",
    "monitor_rows",
    "monitor_transition",
    "plain_text",
    "rollup_interval",
    "scope_of",
    "strip_title",
    "tag_map",
    "unit_factor",
]

#: the rollups (seconds) a window may get; see :func:`rollup_interval`
ROLLUP_STEPS = (10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
#: points a window should get at least (when the finest rollup, 10 s, allows)
MIN_POINTS = 120
#: columns of :meth:`DatadogSource.events` (a ``datadog_events`` contract to be)
EVENT_COLUMNS = ("time", "title", "text", "tags", "source_type")
EVENT_TEXT_CHARS = 500
MONITOR_MESSAGE_CHARS = 300

# -- units -------------------------------------------------------------------------------
#: Datadog unit name -> (family, size in the family's base unit: second, core, byte)
_UNITS: dict[str, tuple[str, float]] = {
    "nanosecond": ("time", 1e-9),
    "microsecond": ("time", 1e-6),
    "millisecond": ("time", 1e-3),
    "second": ("time", 1.0),
    "minute": ("time", 60.0),
    "hour": ("time", 3600.0),
    "nanocore": ("cpu", 1e-9),
    "microcore": ("cpu", 1e-6),
    "millicore": ("cpu", 1e-3),
    "core": ("cpu", 1.0),
    "bit": ("bytes", 0.125),
    "byte": ("bytes", 1.0),
    "kibibyte": ("bytes", 1024.0),
    "mebibyte": ("bytes", 1024.0**2),
    "gibibyte": ("bytes", 1024.0**3),
    "tebibyte": ("bytes", 1024.0**4),
}
#: canonical key -> (family, base units per canonical unit, unit assumed when none is reported)
_CANONICAL: dict[str, tuple[str, float, str]] = {
    "latency": ("time", 1e-3, "second"),  # milliseconds; APM durations are in seconds
    "cpu": ("cpu", 1.0, "nanocore"),  # cores; kubernetes.cpu.* is in nanocores
    "memory": ("bytes", 1.0, "byte"),  # bytes
}


def _canonical(key: str) -> tuple[str, float, str] | None:
    if key.startswith("latency"):
        return _CANONICAL["latency"]
    return _CANONICAL.get(key)


def unit_factor(key: str, unit: str | None) -> tuple[float, str | None]:
    """Multiplier taking values of ``unit`` to the canonical unit of ``key``, and a note.

    Keys without a canonical unit keep their values (factor 1). ``unit`` is the
    name Datadog reports for the series (``None``: it reports none, and the usual
    unit of the default query is assumed). A unit of another family is left alone
    and noted.
    """
    target = _canonical(key)
    if target is None:
        return 1.0, None
    family, per_canonical, assumed = target
    name = (unit or assumed).lower()
    known = _UNITS.get(name)
    if known is None or known[0] != family:
        return 1.0, f"{key}: Datadog reports unit '{name}', values left unconverted"
    return known[1] / per_canonical, None


# -- metrics -----------------------------------------------------------------------------
def rollup_interval(window: Window) -> int:
    """The rollup (seconds) for ``window``: the largest step giving at least 120 points.

    Steps are :data:`ROLLUP_STEPS`, never under 10 s (Datadog's finest metric
    resolution): 15 min -> 10 s (90 points), 2 h -> 60 s, 6 h -> 120 s,
    24 h -> 600 s, 7 days -> 3600 s.
    """
    seconds = window.duration.total_seconds()
    fitting = [s for s in ROLLUP_STEPS if seconds / s >= MIN_POINTS]
    return fitting[-1] if fitting else ROLLUP_STEPS[0]


_BRACES = re.compile(r"\{([^{}]*)\}")


def scope_of(query: str, group_tags: Iterable[str] = ()) -> str:
    """The scope of a series: the query's tag filter and the series' group tags, comma-joined.

    ``sum:x{service:api,env:prod} by {pod_name}`` with group ``pod_name:api-1``
    -> ``service:api,env:prod,pod_name:api-1``; ``*`` is no tag.
    """
    match = _BRACES.search(query)
    tags = [t.strip() for t in match.group(1).split(",")] if match else []
    out: list[str] = []
    for tag in [*tags, *group_tags]:
        if tag and tag != "*" and tag not in out:
            out.append(tag)
    return ",".join(out)


def metrics_frame(
    response: Any, queries: Sequence[tuple[str, str]], notes: list[str]
) -> pd.DataFrame:
    """One ``v2`` timeseries answer -> rows of the ``metrics`` contract.

    ``queries`` are ``(key, query)`` in formula order (``query_index`` refers to
    it). Null points are dropped; values are converted to the key's canonical
    unit. Problems go to ``notes``.
    """
    import numpy as np
    import pandas as pd

    errors = response.get("errors")
    if errors:
        notes.append(f"Datadog reported: {str(errors).strip()[:300]}")
    data = response.get("data")
    attributes = data.get("attributes") if data is not None else None
    if attributes is None:
        return empty_frame("metrics")
    times = np.asarray(_items(attributes.get("times")), dtype="int64")
    series = _items(attributes.get("series"))
    values = _items(attributes.get("values"))
    parts = []
    for position, item in enumerate(series):
        index = item.get("query_index")
        index = position if index is None else int(index)
        if not 0 <= index < len(queries) or position >= len(values):
            continue
        key, query = queries[index]
        unit = item.get("unit")
        name = unit[0].get("name") if unit and unit[0] is not None else None
        factor, note = unit_factor(key, name)
        if note and note not in notes:
            notes.append(note)
        raw = [math.nan if v is None else float(v) for v in _items(values[position])]
        column = np.asarray(raw, dtype="float64")[: times.size]
        keep = ~np.isnan(column)
        group = [str(t) for t in _items(item.get("group_tags"))]
        parts.append(
            pd.DataFrame(
                {
                    "time": pd.to_datetime(times[: column.size][keep], unit="ms", utc=True),
                    "metric": key,
                    "query": query,
                    "scope": scope_of(query, group),
                    "value": column[keep] * factor,
                }
            )
        )
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_frame("metrics")
    return conform(pd.concat(parts, ignore_index=True), "metrics")


def _items(value: Any) -> list[Any]:
    """The list inside a list model (``TimeseriesResponseTimes``...), or the list itself."""
    if value is None:
        return []
    return list(getattr(value, "value", value))


# -- logs --------------------------------------------------------------------------------
_STATUS = {
    **dict.fromkeys(("emerg", "emergency", "alert", "critical", "crit", "fatal"), "critical"),
    **dict.fromkeys(("error", "err"), "error"),
    **dict.fromkeys(("warn", "warning"), "warning"),
    **dict.fromkeys(("info", "notice", "ok", "informational"), "info"),
    **dict.fromkeys(("debug", "trace"), "debug"),
}


def tag_map(tags: Iterable[str]) -> dict[str, str]:
    """``["pod_name:a", "env:prod"]`` -> ``{"pod_name": "a", "env": "prod"}`` (first wins)."""
    out: dict[str, str] = {}
    for tag in tags:
        key, sep, value = str(tag).partition(":")
        if sep and key not in out:
            out[key] = value
    return out


def log_row(log: Any) -> dict[str, Any]:
    """One v2 ``Log`` -> one ``logs`` row.

    pod: tag ``pod_name`` / ``kube_pod_name``, else the host; container: tag
    ``container_name`` / ``kube_container_name``; level: Datadog's ``status``
    mapped to our levels, else read from the line (:func:`parse_line`); message:
    the first line without its timestamp and level token (a JSON line gives its
    ``msg``), followed by the message's other lines (a stack trace stays with
    its event); raw: the message as Datadog holds it, or its attributes as JSON
    when it has no message.
    """
    from ..logparse import parse_line

    attributes = log.get("attributes")
    get = attributes.get if attributes is not None else (lambda *_: None)
    tags = tag_map(get("tags") or [])
    text = str(get("message") or "").rstrip()
    raw = text or json.dumps(get("attributes") or {}, default=str, sort_keys=True)
    first, _, rest = raw.partition("\n")
    parsed = parse_line(first)
    level = _STATUS.get(str(get("status") or "").strip().lower()) or parsed.level or "info"
    headline = parsed.message or first.strip()
    return {
        "time": get("timestamp"),
        "pod": tags.get("pod_name") or tags.get("kube_pod_name") or get("host"),
        "container": tags.get("container_name") or tags.get("kube_container_name"),
        "level": level,
        "message": headline + (f"\n{rest}" if rest else ""),
        "raw": raw,
    }


def logs_frame(rows: list[dict[str, Any]], window: Window) -> pd.DataFrame:
    """``logs`` frame of ``rows`` inside ``window``, sorted by time (then pod, container)."""
    import pandas as pd

    if not rows:
        return empty_frame("logs")
    frame = conform(pd.DataFrame(rows), "logs")
    frame = frame[(frame["time"] >= window.start) & (frame["time"] < window.end)]
    frame = frame.sort_values(["time", "pod", "container"], kind="stable")
    return frame.reset_index(drop=True)


# -- monitors and events -----------------------------------------------------------------
_PREFIX = re.compile(r"^\s*((?:\[[^\]]*\]\s*)+)")
_TOKEN = re.compile(r"\[([^\]]*)\]")
_EVENT_STATUS = {
    "error": "alert",
    "failure": "alert",
    "warn": "warn",
    "warning": "warn",
    "success": "ok",
    "ok": "ok",
}


def monitor_transition(title: str, status: str | None) -> tuple[str, bool] | None:
    """(state, renotification) of a monitor alert event, or None when it is no transition.

    The title's bracketed prefix decides (``[P1] [Triggered on {host:a}] name``):
    ``Triggered`` -> alert, ``Warn`` -> warn, ``Recovered`` (also ``Warn
    Recovered``) -> ok, ``No Data`` -> no_data; ``Re-`` marks a renotification.
    Without one, the event status: error / failure -> alert, warn(ing) -> warn,
    success / ok -> ok.
    """
    match = _PREFIX.match(title or "")
    for token in _TOKEN.findall(match.group(1) if match else ""):
        word = token.strip().lower()
        renotify = word.startswith("re-")
        word = word.removeprefix("re-")
        if "recovered" in word:
            return "ok", renotify
        if word.startswith("triggered"):
            return "alert", renotify
        if word.startswith("warn"):
            return "warn", renotify
        if word.startswith("no data"):
            return "no_data", renotify
    state = _EVENT_STATUS.get(str(status or "").lower())
    return (state, False) if state else None


def strip_title(title: str) -> str:
    """The title without its bracketed prefix (``[Triggered] x`` -> ``x``)."""
    return _PREFIX.sub("", title or "").strip()


# -- Markdown -> plain text ----------------------------------------------------------------
_HOLD = "\x00{}\x00"
_HELD = re.compile(r"\x00(\d+)\x00")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~<>\"'$%])")
_MD_CODE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_MD_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_MD_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^>\s]+)>", re.IGNORECASE)
_MD_STRONG = re.compile(
    r"(?<![\w*])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"
)
_MD_EM = re.compile(
    r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])|(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"
)
_MD_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_MD_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_MD_QUOTE = re.compile(r"^[ \t]{0,3}(?:>[ \t]?)+", re.MULTILINE)
_MD_BULLET = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+", re.MULTILINE)
_MD_RULE = re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)


def plain_text(markdown: str | None) -> str:
    """Datadog Markdown as plain text, on one line.

    ``%%%`` fences go; ``**bold**``, ``*em*``, ``_em_``, ``~~strike~~`` keep
    their words; ``[label](url)`` keeps its label, ``![alt](url)`` its alt text,
    ``<https://x>`` its URL; code spans keep their content verbatim; headings,
    quotes, bullets and rules lose their marks; backslash escapes give the
    character. Underscores inside words (``pod_name``) and lone ``*`` stay.

    Examples
    --------
    >>> plain_text("%%%\\nFlag **checkout-v2** on in *Production*: [docs](https://x)\\n%%%")
    'Flag checkout-v2 on in Production: docs'
    """
    text = str(markdown or "").replace("\x00", "").replace("%%%", "\n")
    held: list[str] = []

    def hold(value: str) -> str:
        held.append(value)
        return _HOLD.format(len(held) - 1)

    text = _MD_ESCAPE.sub(lambda m: hold(m.group(1)), text)
    text = _MD_CODE.sub(lambda m: hold(m.group(2).strip()), text)
    text = _MD_AUTOLINK.sub(lambda m: hold(m.group(1)), text)
    text = _MD_RULE.sub(" ", text)
    text = _MD_HEADING.sub(r"\1", text)
    text = _MD_QUOTE.sub("", text)
    text = _MD_BULLET.sub("", text)
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_REF_LINK.sub(r"\1", text)
    for _ in range(3):  # nested emphasis: ***x***, **_x_**
        text = _MD_STRONG.sub(lambda m: m.group(1) or m.group(2), text)
        text = _MD_EM.sub(lambda m: m.group(1) or m.group(2), text)
        text = _MD_STRIKE.sub(r"\1", text)
    for _ in range(2):  # a held code span may hold an escape's placeholder
        text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return re.sub(r"\s+", " ", text).strip()


def event_text(message: str | None, limit: int) -> str:
    """An event's text as plain text on one line (:func:`plain_text`), cut at ``limit``.

    The cut is at a word boundary with ``…`` (:func:`incident_lib.core.text.shorten`),
    never inside a token: redaction comes later, at capture, and half a key would
    no longer match its pattern.
    """
    text = plain_text(message)
    return shorten(text, limit, whole_tokens=True) if text else ""


def monitor_rows(
    monitors: Mapping[int, str], events: Iterable[Any], window: Window
) -> list[dict[str, Any]]:
    """State changes of ``monitors`` (id -> name) from v2 alert events.

    In the window: every transition; a renotification (``Re-Triggered``) only
    when it differs from the state before it. Before the window: only each
    monitor's last transition, i.e. its state when the window opened.
    """
    changes: list[tuple[datetime, int, str, str, bool]] = []
    for event in events:
        outer = event.get("attributes")
        inner = outer.get("attributes") if outer is not None else None
        if inner is None:
            continue
        monitor_id = inner.get("monitor_id")
        when = outer.get("timestamp")
        if monitor_id is None or int(monitor_id) not in monitors or when is None:
            continue
        title = str(inner.get("title") or "")
        status = inner.get("status")
        found = monitor_transition(title, str(status) if status is not None else None)
        if found is None or when >= window.end:
            continue
        state, renotify = found
        text = event_text(outer.get("message"), MONITOR_MESSAGE_CHARS) or strip_title(title)
        changes.append((when, int(monitor_id), state, text, renotify))
    rows: list[dict[str, Any]] = []
    last: dict[int, str] = {}
    before: dict[int, dict[str, Any]] = {}
    for when, monitor_id, state, text, renotify in sorted(changes, key=lambda c: c[:2]):
        row = {
            "time": when,
            "monitor_id": str(monitor_id),
            "monitor": monitors[monitor_id],
            "state": state,
            "message": text,
        }
        if when < window.start:
            before[monitor_id] = row
        elif not (renotify and last.get(monitor_id) == state):
            rows.append(row)
        last[monitor_id] = state
    return sorted([*before.values(), *rows], key=lambda r: (r["time"], r["monitor_id"]))


def current_state_row(
    monitor_id: int, name: str, state: str, overall: str, now: datetime, previous: str | None
) -> dict[str, Any] | None:
    """A row for a monitor's current state when it adds to its transitions (else None)."""
    if state == previous or (previous is None and state == "ok"):
        return None
    return {
        "time": now,
        "monitor_id": str(monitor_id),
        "monitor": name,
        "state": state,
        "message": f"current state {overall} (Datadog overall_state when fetched)",
    }


def monitor_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``monitor_events`` frame of ``rows``, sorted by time."""
    import pandas as pd

    if not rows:
        return empty_frame("monitor_events")
    frame = conform(pd.DataFrame(rows), "monitor_events")
    return frame.sort_values(["time", "monitor_id"], kind="stable").reset_index(drop=True)


def event_row(event: Any) -> dict[str, Any] | None:
    """One v2 event -> a row of :data:`EVENT_COLUMNS` (None without a timestamp)."""
    outer = event.get("attributes")
    if outer is None or outer.get("timestamp") is None:
        return None
    inner = outer.get("attributes")
    get = inner.get if inner is not None else (lambda *_: None)
    tags = [str(t) for t in (outer.get("tags") or get("tags") or [])]
    message = outer.get("message")
    title = plain_text(str(get("title") or "")) or event_text(message, 120)
    source = get("source_type_name") or tag_map(tags).get("source")
    return {
        "time": outer.get("timestamp"),
        "title": title,
        "text": event_text(message, EVENT_TEXT_CHARS),
        "tags": ",".join(tags),
        "source_type": source,
    }


def events_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Frame of :data:`EVENT_COLUMNS` (time UTC, the rest text), sorted by time.

    Conformed to contract ``datadog_events`` once :mod:`incident_lib.core.schema` has it.
    """
    import pandas as pd

    if "datadog_events" in CONTRACTS:
        if not rows:
            return empty_frame("datadog_events")
        frame = conform(pd.DataFrame(rows), "datadog_events")
    else:
        data = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
        frame = pd.DataFrame(
            {
                "time": pd.to_datetime(data["time"], utc=True).astype("datetime64[ns, UTC]"),
                **{c: data[c].astype("str") for c in EVENT_COLUMNS[1:]},
            }
        )
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def lookback(window: Window) -> timedelta:
    """How far before the window alert events are read: the window's length, at least 1 h."""
    return max(window.duration, timedelta(hours=1))
