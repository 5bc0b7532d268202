"""Parse container log text into the ``logs`` frame (one row per log event).

:func:`parse_pod_log` turns the text of one container's log, as served by
``GET .../pods/{pod}/log?timestamps=true``, into a frame meeting contract
``logs`` of :mod:`incident_lib.core.schema`; :func:`parse_line` reads one line on
its own (for sources such as Datadog that already split events).

Time
----
With ``timestamps=True`` every line starts with the kubelet's RFC 3339 time
(``2026-11-03T14:02:11.123456789Z``): it is the event's time, to the
nanosecond, and is stripped from the line (``raw`` never holds it). Otherwise,
or for a line without it, the time comes from the line itself: a JSON or
logfmt key (``time``, ``ts``, ``timestamp``, ``@timestamp``, ``date``, ``@t``, or
``t`` holding text: an ISO
string or epoch seconds / milli- / micro- / nanoseconds, told apart by
magnitude; a float keeps microseconds) or a leading timestamp: ISO-like
(``2026-11-03 14:02:11,123``, ``2026-11-03T14:02:11.123Z``, ``2026/11/03
14:02:11``, optionally in ``[]``), Apache (``[03/Nov/2026:14:02:11 +0000]``,
``[Sun Dec 04 04:47:44 2005]``), ``081109 203615`` (HDFS), ``17/06/09
20:10:40`` (Spark), syslog ``Nov  3 14:02:11`` and glog ``E1103
14:02:11.123456``. Naive times are UTC. A year missing from the line (syslog,
glog) is the year of the last time seen, else the current one (the previous one
when that would put the date more than a day ahead: a log read in January). One token may
precede a leading timestamp (a file or host name: kept in the message), three
an Apache access-log time (``host ident user [time]``).

An event without a time takes the time of the event before it; events before
the first timed event take the time of the first timed one (an upper bound:
they were written no later). If no event has a time at all, every event is
dropped and counted in :attr:`ParsedLog.dropped` (NaT is not allowed in the
contract); with the kubelet prefix this cannot happen.

Level
-----
Levels are ``debug``, ``info``, ``warning``, ``error`` and ``critical``:
``trace``/``fine``/``verbose`` -> ``debug``, ``information``/``notice`` -> ``info``, ``warn``
-> ``warning``, ``err``/``severe`` -> ``error``, ``fatal``/``crit``/``panic``/
``dpanic``/``emerg``/``alert`` -> ``critical`` (any case); pino/bunyan numbers 10, 20, 30,
40, 50, 60 -> ``debug``, ``debug``, ``info``, ``warning``, ``error``,
``critical``. JSON lines take it from ``level``, ``lvl``, ``severity``,
``log.level`` (flat or nested under ``log`` or ``@fields``), ``levelname``,
``@level`` (hclog), ``@l`` (Serilog's CLEF, e.g. ``Information``) or
``loglevel``, keys matched in any case (.NET's ``LogLevel``); logfmt lines
from ``level`` or ``lvl``; logrus on a terminal (``WARN[0042] ...``) from its
``PANI``, ``FATA``, ``ERRO``, ``WARN``, ``INFO``, ``DEBU`` or ``TRAC``. Plain
lines take the level word right after the timestamp, possibly behind a pid
and a ``[thread]`` (also unspaced, as Envoy writes ``[14][warning]``): upper
case (``ERROR``, also
``ERROR:root:`` of Python's default format), bracketed in any case
(``[error]``, ``[core:warn]``, ``<warn>``), or any case when it opens the line
and is followed by ``:`` or a tab (``warning: ...``); glog's letter. So
``Error connecting to db`` names no level and keeps its first word. An
unrecognised value counts as no level. Without a level: an HTTP access-log line
(``"GET /x HTTP/1.1" 503``) is ``warning`` for 4xx, ``error`` for 5xx, else
``info``; an event that is or holds a stack trace is ``error`` (``critical``
for a Go ``panic:`` / ``fatal error:``); anything else is ``info``.

Message
-------
JSON and logfmt lines are read by field: ``msg``, ``message``, ``@message``,
``@m``, ``RenderedMessage``, ``@mt``, ``MessageTemplate``, ``event`` or
``log`` (else the whole object; for a logfmt line, its pairs other than time,
level and ``caller``: go-kit writes lines without a message), behind the
logger (``logger``, ``logger_name``, ``loggerName``, ``log.logger`` flat or
nested, ``@module``, ``SourceContext``, ``Category``; a dotted name
longer than 32 characters abbreviated as logback does,
``c.e.c.p.PaymentClient``) as ``<logger>: <message>``, like the logger a plain
line keeps; when ``error``, ``err``, ``exception``, ``exc_info``,
``stack_trace`` or ``stack`` holds text (or an object with a ``type`` and
``message``, or a ``stack_trace``), or a flattened ``error.*`` /
``exception.*`` object does (ECS, OpenTelemetry: ``error.type``,
``error.message``, ``error.stack_trace``, ``error.stack``) or ``@x`` does, its first line
(the exception line, for a Python traceback) is appended as ``<message> |
<error>`` unless the message already contains it. Plain text: the line without
its timestamp and level token, the separators around them and trailing blanks;
a pid, ``[thread]`` or logger name is kept: it helps tell signatures apart.

A Docker json-file or Fluent Bit record (``{"log": "...\\n", "stream": ...}``
without a level) is the line in its ``log`` field, read as such. logfmt values
lose their quotes and escapes (JSON's and Go's ``\\x1b``, ``\\U0001f600``,
octal). klog's header (``I1128 10:41:17.123456   12345 file.go:42] ``) gives
the level and the time; the ``file.go:42]`` stays, and a structured klog line
(``file.go:42] "message" key="value"``) keeps its message unquoted, its
``err`` appended, its other pairs dropped. A tab-separated line behind a
timestamp and a level (zap's console encoder, as controller-runtime writes
it) loses its caller column (``pkg/file.go:42``) and its trailing JSON
fields, whose error is appended. Terminal colours (ANSI escapes) are ignored
in the message and kept in ``raw``.

Multi-line events
-----------------
One logged failure is one event: the line that logged it and its whole trace.
A line folds into the event before it when it is blank or indented (stack
frames, ``\tat ...``, ``\t... 5 more``), a Java ``Caused by:`` /
``Suppressed:`` / ``... N more`` line, a block header of Reactor
(``Error has been observed at the following site(s):``, ``Original Stack
Trace:``, ``Assembly trace from producer ...``), a Python chain line (``During
handling of the above exception...``, ``The above exception was the direct
cause...``), a Go ``goroutine 1 [running]:`` line, or a Java exception line
(``java.lang.IllegalStateException: ...``) after a plain-text line, or after
a JSON line of level ``warning`` or worse that holds no trace yet (a JSON log
line followed by the raw trace it logged). In an event that holds a Java trace,
frames and Reactor checkpoints fold even without their indentation (``at
...(X.java:1)``, ``*__checkpoint ⇢ ...``, ``|_ checkpoint ⇢ ...``, ``Stack
trace:``). A Go ``panic:`` / ``fatal error:`` line folds into a ``critical``
event that holds no trace yet (zap's ``Panic`` writes its line, then panics),
and so does its goroutine dump. After an event of level ``warning`` or worse
(or one holding a trace) the unindented function line of a Go stack frame
(``sigs.k8s.io/.../controller.(*Controller).reconcileHandler``, ``main.main``)
folds too: zap's console encoder writes the stack trace of an error that
way. A ``Traceback (most recent call last):`` line
folds into a plain-text event of level ``warning`` or worse that holds no
trace yet (``logger.exception``); otherwise, also after a JSON line (a JSON
formatter writes the traceback into a field), it starts an event of its own.
Inside a Python traceback or a Go panic every line folds until one starts an
event: a timestamp, a JSON object, an upper-case or
bracketed level, an uncaught Java exception or Go panic, a ``Traceback`` line
not announced by a chain line. The kubelet prefix of every line is stripped,
folded or not. ``raw`` holds the event's lines joined by ``\n`` (trailing
blank lines dropped); blank lines before the first event are skipped.

The message of a folded event is its first line's message, plus
`` | <exception line>`` for a Python traceback (the final exception, i.e. the
one raised last in a chain, e.g. ``api.app: Exception on /v1/orders [POST] |
sqlalchemy.exc.OperationalError: ... too many clients already``) or for a Java
exception line or a Go panic (unless it repeats the message) right after the
log line. A bare traceback's message is its exception line (``ValueError: bad
batch 7``); an uncaught Java exception and a Go panic keep their first line.

Truncation keeps the *newest* ``max_events`` events: in an incident the
recent end matters most, and the caller reports how many older ones were cut
(:attr:`ParsedLog.events` counts them all).

Speed: one pass over the lines with a few compiled regular expressions (and a
JSON decode for a JSON line), then one DataFrame: about 150,000 lines per
second on one core, kubelet-prefixed JSON or plain text alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ..core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ParsedLine", "ParsedLog", "parse_line", "parse_pod_log"]

# -- levels -------------------------------------------------------------------------

_LEVELS = {
    **dict.fromkeys(("trace", "debug", "dbg", "fine", "finer", "finest", "verbose"), "debug"),
    **dict.fromkeys(("info", "information", "informational", "notice"), "info"),
    **dict.fromkeys(("warn", "warning"), "warning"),
    **dict.fromkeys(("err", "error", "severe"), "error"),
    **dict.fromkeys(
        ("fatal", "crit", "critical", "panic", "dpanic", "emerg", "emergency", "alert"),
        "critical",
    ),
}
_GLOG_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "critical"}
_SEVERE = frozenset(("warning", "error", "critical"))
# Field names, lower case: a JSON object's keys are matched in any case (.NET writes
# ``Level``, ``Message``); CLEF (Serilog) writes ``@t``, ``@l``, ``@m``, ``@mt``, ``@x``,
# hclog ``@level``, ``@message``, ``@module``, Logstash's first format ``@message``.
_JSON_LEVEL_KEYS = (
    "level", "lvl", "severity", "log.level", "levelname", "@level", "@l", "loglevel",
)  # fmt: skip
#: ``t`` (Grafana's logfmt) counts only when it holds a time as text
_JSON_TIME_KEYS = ("time", "ts", "timestamp", "@timestamp", "date", "@t", "t")
_JSON_MESSAGE_KEYS = (
    "msg", "message", "@message", "@m", "renderedmessage", "@mt", "messagetemplate", "event",
    "log",
)  # fmt: skip
_JSON_ERROR_KEYS = ("error", "err", "exception", "exc_info", "stack_trace", "stack", "@x")
#: flattened error objects (ECS ``error.*``, OpenTelemetry ``exception.*``)
_JSON_ERROR_PREFIXES = ("error.", "exception.")
_JSON_LOGGER_KEYS = (
    "logger", "logger_name", "loggername", "log.logger", "@module", "sourcecontext", "category",
)  # fmt: skip
#: pairs left out of the message of a logfmt line without one
_LOGFMT_CONTEXT = frozenset((*_JSON_LEVEL_KEYS, *_JSON_TIME_KEYS, "caller"))
#: objects nested under these keys may hold the level and the logger (ECS, Logstash v0)
_JSON_NESTED_KEYS = ("log", "@fields")
#: a logger name longer than this is abbreviated the way logback does (``c.e.c.PaymentClient``)
_LOGGER_WIDTH = 32
_decode = json.JSONDecoder().raw_decode


def _numeric_level(n: float) -> str:
    """pino / bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal."""
    for floor, level in ((60, "critical"), (50, "error"), (40, "warning"), (30, "info")):
        if n >= floor:
            return level
    return "debug"


def _level_of(value: object) -> str | None:
    """The canonical level of a JSON level value (``None``: unrecognised)."""
    if isinstance(value, str):
        text = value.strip().lower()
        level = _LEVELS.get(text)
        return _numeric_level(int(text)) if level is None and text.isdigit() else level
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _numeric_level(value)
    return None


# -- regular expressions ------------------------------------------------------------

_KUBELET = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) ?")

_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_MONTHS = {m: f"{i:02d}" for i, m in enumerate(_MON.split("|"), start=1)}
_HMS = r"(?P<{0}h>\d\d):(?P<{0}m>\d\d):(?P<{0}s>\d\d)"
_FRAC = r"(?:[.,](?P<{0}f>\d{{1,9}}))?"
# Each alternative is a named group whose name says how to read its fields.
_STAMPS = "|".join(
    f"(?P<{name}>{body.format(name[0])})"
    for name, body in (
        (
            "iso",
            r"(?P<{0}Y>\d{{4}})[-/](?P<{0}M>\d\d)[-/](?P<{0}D>\d\d)[T ]"
            + _HMS
            + _FRAC
            + r"(?:\s?(?P<{0}z>Z|UTC|GMT|[+-]\d\d:?\d\d))?(?![\d:])",
        ),
        (
            "acc",
            r"(?P<{0}D>\d\d)/(?P<{0}M>"
            + _MON
            + r")/(?P<{0}Y>\d{{4}}):"
            + _HMS
            + r"(?:\s(?P<{0}z>[+-]\d{{4}}))?",
        ),
        (
            "ctime",
            r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<{0}M>"
            + _MON
            + r") +(?P<{0}D>\d\d?) "
            + _HMS
            + _FRAC
            + r" (?P<{0}Y>\d{{4}})",
        ),
        (
            "hdfs",
            r"(?P<{0}Y>\d\d)(?P<{0}M>\d\d)(?P<{0}D>\d\d) (?P<{0}h>\d\d)(?P<{0}m>\d\d)"
            r"(?P<{0}s>\d\d)(?!\S)",
        ),
        ("spark", r"(?P<{0}Y>\d\d)/(?P<{0}M>\d\d)/(?P<{0}D>\d\d) " + _HMS + _FRAC + r"(?!\d)"),
        ("glog", r"(?P<{0}L>[IWEF])(?P<{0}M>\d\d)(?P<{0}D>\d\d) " + _HMS + _FRAC + r" +\d+ "),
        ("year_less", r"(?P<{0}M>" + _MON + r") +(?P<{0}D>\d\d?) " + _HMS + _FRAC + r"(?!\d)"),
    )
)
#: a leading timestamp, maybe behind one token (three before an Apache access-log time)
_STAMP = re.compile(
    r"(?:(?P<lead>[^\s\[]\S*[^\s:](?: \S+ \S+(?= \[\d))?) )??\[?(?:" + _STAMPS + r")\]?"
)

_LEVEL_WORDS = (
    "WARNING|WARN|ERROR|ERR|INFORMATIONAL|INFO|DEBUG|DBG|TRACE|FATAL|CRITICAL|CRIT|NOTICE"
    "|SEVERE|PANIC|EMERGENCY|EMERG|ALERT|FINEST|FINER|FINE|VERBOSE"
)
#: a level token near the start: behind at most a pid and a [thread]
_LEVEL = re.compile(
    r"[\s:|-]*(?P<pre>(?:\d+\s+|\[[^\]]*\]\s*){0,2})"
    rf"(?:\[(?:[\w-]+:)?(?P<b>{_LEVEL_WORDS})\]|<(?P<a>{_LEVEL_WORDS})>"
    rf"|(?P<w>{_LEVEL_WORDS})(?P<after>[\s:,|\]]|$))"
    r":?[ \t]*(?:[-|][ \t]+)?",
    re.IGNORECASE,
)

#: one ``key=value`` pair of a logfmt line (logrus, go-kit, Prometheus' components)
_LOGFMT_PAIR = r'([\w.@/-]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)'
_LOGFMT = re.compile(_LOGFMT_PAIR)
#: a line of ``key=value`` pairs and nothing else
_LOGFMT_LINE = re.compile(rf"\s*(?:{_LOGFMT_PAIR}\s+)*{_LOGFMT_PAIR}\s*")
#: the escapes of a Go-quoted string (``\x1b``, ``\u00e9``, ``\U0001f600``, ``\033``, ``\n``)
_GO_QUOTED = re.compile(
    r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3})|(.))", re.DOTALL
)
#: klog's structured form after its header: ``file.go:42] "message" key="value" ...``
_KLOG_STRUCTURED = re.compile(r'(\S+\] )("(?:[^"\\]|\\.)*")(?: +(.*))?$')
#: a caller field of zap's console encoder (``controller/controller.go:326``)
_CALLER = re.compile(r"[\w.@/-]+\.(?:go|py|java|kt|scala|js|ts|rb|rs|cs|cc|cpp|c|h):\d+")
#: logrus' text format on a terminal: ``INFO[0000] message   key=value``
_LOGRUS = re.compile(r"(PANI|FATA|ERRO|WARN|INFO|DEBU|TRAC)\[([^\]]*)\] *")
_LOGRUS_LEVELS = {
    "PANI": "critical", "FATA": "critical", "ERRO": "error", "WARN": "warning",
    "INFO": "info", "DEBU": "debug", "TRAC": "debug",
}  # fmt: skip
_PADDING = re.compile(r"  +")
#: terminal colour and style sequences
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

#: the request and status of an HTTP access-log line (Apache/nginx combined, Envoy)
_ACCESS = re.compile(
    r'"(?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE) [^"]*" ([1-5])\d\d(?!\S)'
)
_ACCESS_LEVELS = {"4": "warning", "5": "error"}

_TRACEBACK = "Traceback (most recent call last):"
_JAVA_EXCEPTION = r"(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Fault)(?::|$)"
#: a Java exception line (``java.lang.IllegalStateException: ...``)
_JAVA_EXC = re.compile(_JAVA_EXCEPTION)
#: lines that begin an exception report, by the named group that matched
_EXC_START = re.compile(
    r"(?P<python>Traceback \(most recent call last\):)|(?P<go>panic: |fatal error: )"
    rf"|(?P<java>Exception in thread )|(?P<header>{_JAVA_EXCEPTION})"
)
_CHAIN = re.compile(
    r"During handling of the above exception|The above exception was the direct cause"
)
#: lines that always continue the event before them (Java, Reactor, Python, Go)
_CONTINUATION = re.compile(
    r"Caused by: |Suppressed: |\.\.\. \d+ (?:more|common frames omitted)"
    r"|Error has been observed at the following site|Original Stack Trace:"
    r"|Assembly trace from producer "
    r"|During handling of the above exception|The above exception was the direct cause"
    r"|goroutine \d+ \["
)
#: lines that continue an event already holding a Java trace, also when a shipper stripped
#: their indentation: frames, Reactor's checkpoints and its older ``Stack trace:`` header
_JAVA_CONTINUATION = re.compile(r"at [\w$./<>-]+\(|Stack trace:|\*__|\|_ ")
#: the function line of a Go stack frame, unindented (``pkg/path.(*T).Method``, ``main.main``)
_GO_FUNCTION = re.compile(
    r"(?:[a-z][\w.@~-]*/)*[a-z][\w-]*\.[\w.()*\[\]{},/~-]*[\w)\]}](?:\(.*\))?"
)
#: a Go panic printed after the line that logged it (zap's ``Panic``, klog's ``Fatal``)
_GO_PANIC = ("panic: ", "fatal error: ")


# -- one line -----------------------------------------------------------------------


#: the fields (year, month, day, hour, minute, second, fraction, zone) of each kind of stamp
_FIELDS = {
    kind: tuple(
        f"{kind[0]}{field}" if f"(?P<{kind[0]}{field}>" in _STAMPS else None for field in "YMDhmsfz"
    )
    for kind in ("iso", "acc", "ctime", "hdfs", "spark", "glog", "year_less")
}


def _iso(m: re.Match[str], year: str | None) -> str:
    """The ISO 8601 text of a :data:`_STAMP` match (``year``: for a line without one)."""
    names = _FIELDS[m.lastgroup or "iso"]
    y, mo, d, h, mi, s, frac, zone = (m[n] if n else None for n in names)
    if y is None and year:
        y = year
    elif y is None:  # this year, unless that puts the date more than a day ahead: last year
        now = datetime.now(UTC)
        ahead = (int(_MONTHS.get(str(mo), str(mo))), int(str(d))) > (now.month, now.day + 1)
        y = str(now.year - 1 if ahead else now.year)
    elif len(y) == 2:
        y = "20" + y
    text = f"{y}-{_MONTHS.get(str(mo), mo)}-{str(d).zfill(2)}T{h}:{mi}:{s}"
    if frac:
        text += "." + frac
    if zone in ("Z", "UTC", "GMT"):
        text += "Z"
    elif zone:
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    return text


def _epoch_iso(value: float) -> str | None:
    """Epoch seconds, milli-, micro- or nanoseconds (by magnitude) -> ISO 8601 text."""
    size = abs(value)
    scale = 10**9 if size < 1e11 else 10**6 if size < 1e14 else 10**3 if size < 1e17 else 1
    # a double holds about 16 digits: a float keeps microseconds, not its rounding noise
    ns = value * scale if isinstance(value, int) else round(value * scale / 1000) * 1000
    seconds, frac = divmod(int(ns), 10**9)
    try:
        stamp = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z"


def _time_of(value: object, year: str | None) -> str | None:
    """The ISO text of a JSON time value (``None``: not a time)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch_iso(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[:1].isdigit() and text.replace(".", "", 1).isdigit():
        return _epoch_iso(float(text))
    m = _STAMP.match(text)
    return _iso(m, year) if m and not m["lead"] else None


def _python_exception(lines: list[str]) -> str | None:
    """The last exception line of a Python traceback: the first line after its frames."""
    exc, after_frames = None, False
    for line in lines:
        if not line.strip():
            continue
        if line[0] in " \t":
            after_frames = True
        elif after_frames:
            exc, after_frames = line.strip(), False
    return exc


def _error_text(value: object) -> str | None:
    """The one-line summary of a JSON error value (text, or an object with a message)."""
    if isinstance(value, dict):
        kind = value.get("type") or value.get("kind")
        text = value.get("message") or value.get("msg")
        parts = [str(p) for p in (kind, text) if p]
        if parts:
            return ": ".join(parts)
        stack = value.get("stack_trace") or value.get("stacktrace") or value.get("stack")
        return _error_text(stack) if isinstance(stack, str) else None
    if not isinstance(value, str) or not value.strip():
        return None
    lines = value.strip().split("\n")
    if lines[0].startswith(_TRACEBACK):
        return _python_exception(lines) or lines[0]
    return lines[0].strip()


def _flat_error(obj: dict[str, Any]) -> str | None:
    """The summary of a flattened error (``error.type``/``error.message``/``error.stack_trace``)."""
    for prefix in _JSON_ERROR_PREFIXES:
        value = {k[len(prefix) :]: v for k, v in obj.items() if k.startswith(prefix)}
        if value and (detail := _error_text(value)):
            return detail
    return None


def _abbreviated(logger: str) -> str:
    """A long dotted logger name with its packages cut to one letter, as logback prints it."""
    if len(logger) <= _LOGGER_WIDTH or "." not in logger:
        return logger
    *packages, name = logger.split(".")
    return ".".join([*(p[:1] for p in packages), name])


def _join(message: str, detail: str | None) -> str:
    return f"{message} | {detail}" if detail and detail not in message else message


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class _Head(NamedTuple):
    """What the first line of an event says."""

    time: str | None  # ISO 8601 text
    level: str | None
    message: str
    plain: bool  # not a JSON object
    trace: str | None  # "python", "go" or "java": the line begins an exception report


def _lookup(obj: dict[str, Any], keys: tuple[str, ...], index: dict[str, str] | None) -> Any:
    """The value of the first of ``keys`` in ``obj`` (with ``index``: in any case)."""
    for key in keys:
        if key in obj:
            return obj[key]
        if index and key in index:
            return obj[index[key]]
    return None


def _json_head(
    obj: dict[str, Any],
    year: str | None,
    want_time: bool,
    pairs: list[tuple[str, str]] | None = None,
) -> _Head:
    """The head of a JSON object or a logfmt line (``pairs``: the logfmt line's)."""
    level = logger = nested = None
    for key in _JSON_NESTED_KEYS:
        if isinstance(value := obj.get(key), dict):
            nested = value
            break
    for key in _JSON_LEVEL_KEYS:
        if key in obj:
            level = obj[key]
            break
    message = None
    for key in _JSON_MESSAGE_KEYS:
        value = obj.get(key)
        if value is not None and not (key == "log" and isinstance(value, dict)):
            message = key, value
            break
    # keys in another case (``Level``, ``RenderedMessage``): looked up when the usual miss
    index = None
    if level is None or message is None:
        index = {k.lower(): k for k in obj if not k.islower()}
        if index:
            level = _lookup(obj, _JSON_LEVEL_KEYS, index) if level is None else level
            message = message or next(
                ((k, obj[index[k]]) for k in _JSON_MESSAGE_KEYS if k in index), None
            )
    if nested is not None:
        nested_index = {k.lower(): k for k in nested if not k.islower()}
        level = _lookup(nested, _JSON_LEVEL_KEYS, nested_index) if level is None else level
        logger = _lookup(nested, _JSON_LOGGER_KEYS, nested_index)
    logger = _lookup(obj, _JSON_LOGGER_KEYS, index) or logger
    time = None
    for key in _JSON_TIME_KEYS if want_time else ():
        value = obj[index[key]] if index and key not in obj and key in index else obj.get(key)
        if (
            value is not None
            and (key != "t" or isinstance(value, str))
            and (time := _time_of(value, year))
        ):
            break
    if (
        message is not None
        and message[0] == "log"
        and isinstance(message[1], str)
        and level is None
        and "stream" in obj
    ):
        # Docker's json-file / Fluent Bit record: the application's line is in ``log``
        inner = _head(message[1].rstrip("\r\n"), year, want_time=time is None)
        assert inner is not None
        return _Head(time or inner.time, inner.level, inner.message, False, inner.trace)
    if message is not None:
        text = _text(message[1])
        if isinstance(logger, str) and (logger := logger.strip()):
            logger = _abbreviated(logger)
            if not text.startswith(logger):
                text = f"{logger}: {text}"
    elif pairs is not None:  # logfmt: its pairs but time, level and caller
        text = " ".join(f"{k}={v}" for k, v in pairs if k.lower() not in _LOGFMT_CONTEXT)
    else:
        text = json.dumps(obj, ensure_ascii=False)
    detail = None
    for key in _JSON_ERROR_KEYS:
        value = obj[index[key]] if index and key not in obj and key in index else obj.get(key)
        if value is not None and (detail := _error_text(value)):
            break
    if detail is None and "." in "".join(obj):
        detail = _flat_error(obj)
    return _Head(time, _level_of(level), _join(text, detail), False, None)


_GO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _go_escape(m: re.Match[str]) -> str:
    code = m[1] or m[2] or m[3]
    if code:
        try:
            return chr(int(code, 16))
        except ValueError:  # beyond Unicode
            return m[0]
    if m[4]:
        return chr(int(m[4], 8))
    return _GO_ESCAPES.get(m[5], m[5])


def _unquote(value: str) -> str:
    """A logfmt value: a quoted one loses its quotes and escapes (JSON's or Go's)."""
    if value[:1] != '"':
        return value
    try:
        text = str(json.loads(value))
        return _ANSI.sub("", text) if "\x1b" in text else text
    except ValueError:
        # Go's strconv.Quote also writes \x1b, \a, \v, \U0001f600 and octal escapes
        text = _GO_QUOTED.sub(_go_escape, value[1:-1] if value[-1:] == '"' else value[1:])
        return _ANSI.sub("", text) if "\x1b" in text else text


def _logfmt(content: str) -> tuple[dict[str, str], list[tuple[str, str]]] | None:
    """The fields and the pairs of a logfmt line.

    ``None`` unless the line has a level or a message field, or is made of two
    or more ``key=value`` pairs and nothing else (go-kit writes lines without a
    message).
    """
    pairs = _LOGFMT.findall(content)
    fields = {key: value if value[:1] != '"' else _unquote(value) for key, value in pairs}
    if "level" in fields or "msg" in fields or "lvl" in fields:
        return fields, pairs
    if len(pairs) < 2 or not _LOGFMT_LINE.fullmatch(content):
        return None
    return fields, pairs


def _klog(rest: str) -> str | None:
    """The message of a structured klog line (``file.go:42] "msg" key="value"``)."""
    m = _KLOG_STRUCTURED.match(rest)
    if m is None:
        return None
    message = m[1] + _unquote(m[2])
    if m[3] and "err" in m[3]:
        fields = dict(_LOGFMT.findall(m[3]))
        for key in ("err", "error"):
            if key in fields and (detail := _error_text(_unquote(fields[key]))):
                return _join(message, detail)
    return message


def _tabbed(rest: str) -> str:
    """The message of a tab-separated line (zap's console encoder, controller-runtime).

    ``logger<TAB>caller<TAB>message<TAB>{json fields}`` -> ``logger<TAB>message``, with
    the error field appended; the caller (``file.go:42``) and other fields are dropped.
    """
    parts = rest.rstrip().split("\t")
    detail = None
    if len(parts) > 1 and parts[-1][:1] == "{":
        try:
            context = json.loads(parts[-1])
        except ValueError:
            context = None
        if isinstance(context, dict):
            parts.pop()
            for key in _JSON_ERROR_KEYS:
                if key in context and (detail := _error_text(context[key])):
                    break
    parts = [p.strip() for p in parts if p.strip() and not _CALLER.fullmatch(p.strip())]
    if not parts:
        return rest.strip()
    return _join("\t".join(parts), detail)


def _head(
    content: str, year: str | None, *, want_time: bool = True, strict: bool = False
) -> _Head | None:
    """Read the first line of an event (``None`` with ``strict``: it starts no event).

    ``want_time`` False skips reading the line's own time (the kubelet's is used).
    ``strict`` is for a line inside a traceback: only a timestamp, a JSON object,
    an upper-case or bracketed level or a new exception report starts an event.
    """
    if content[:1] == "{":
        try:
            obj, end = _decode(content)
        except ValueError:
            obj, end = None, 0
        if isinstance(obj, dict) and not content[end:].strip():
            return _json_head(obj, year, want_time)
    if "\x1b" in content:  # colours: read the text without them (``raw`` keeps them)
        content = _ANSI.sub("", content)
    eq = content.find("=")
    if eq > 0 and " " not in content[:eq] and (logfmt := _logfmt(content)):
        return _json_head(logfmt[0], year, want_time, logfmt[1])
    time = level = None
    lead, rest = "", content
    m = _STAMP.match(content)
    stamped = m is not None and not (strict and m["lead"])
    if stamped:
        assert m is not None
        if want_time:
            time = _iso(m, year)
        lead, rest = m["lead"] or "", content[m.end() :]
        if m.lastgroup == "glog":
            level = _GLOG_LEVELS[m["gL"]]
            if '] "' in rest and (structured := _klog(rest)) is not None:
                rest = structured
    elif lr := _LOGRUS.match(content):  # logrus on a terminal: ``WARN[0042] message``
        level, rest = _LOGRUS_LEVELS[lr[1]], _PADDING.sub(" ", content[lr.end() :])
        if want_time and not lr[2].isdigit():  # a time, not the seconds since start
            time = _time_of(lr[2], year)
    elif (exc := _EXC_START.match(content)) and not (strict and exc["header"]):
        kind = "java" if exc.lastgroup == "header" else exc.lastgroup
        return _Head(None, "critical" if kind == "go" else "error", content, True, kind)
    if level is None and (lv := _LEVEL.match(rest)):
        word = lv["b"] or lv["a"] or lv["w"]
        bare = lv["w"] is not None
        if (
            not bare
            or word.isupper()
            or (not strict and not lv["pre"] and lv["after"] in (":", "\t"))
        ):
            level = _LEVELS[word.lower()]
            rest = lv["pre"] + rest[lv.end() :]
            if stamped and "\t" in rest:
                rest = _tabbed(rest)
    if strict and not stamped and level is None:
        return None
    message = f"{lead} {rest.strip()}" if lead else rest.strip()
    if level is None and (access := _ACCESS.search(rest)):
        level = _ACCESS_LEVELS.get(access[1], "info")
    return _Head(time, level, message, True, None)


class ParsedLine(NamedTuple):
    """One log line read on its own (see :func:`parse_line`)."""

    #: the time the line states, ``None`` when it states none
    time: pd.Timestamp | None
    #: canonical level, ``None`` when nothing on the line sets one
    level: str | None
    #: the line without its timestamp and level token (JSON: see the module docs)
    message: str


def parse_line(line: str) -> ParsedLine:
    """Time, level and message of one log line (no kubelet prefix, nothing folded).

    Parameters
    ----------
    line
        One line as the application wrote it: JSON or plain text.

    Returns
    -------
    ParsedLine
        ``time`` is ``None`` when the line states none (or an impossible one);
        ``level`` is ``error`` (``critical`` for a Go panic) for a line that
        begins a stack trace and names no level.
    """
    import pandas as pd

    head = _head(line.rstrip("\r\n"), None)
    assert head is not None  # only strict reads return None
    if head.time is None:
        return ParsedLine(None, head.level, head.message)
    time = pd.to_datetime(head.time, utc=True, format="ISO8601", errors="coerce")
    return ParsedLine(None if pd.isna(time) else time, head.level, head.message)


# -- events -------------------------------------------------------------------------


class _Folder:
    """Folds lines into events; the finished events are kept as parallel lists."""

    def __init__(self) -> None:
        self.times: list[str | None] = []
        self.levels: list[str] = []
        self.messages: list[str] = []
        self.raws: list[str] = []
        self.year: str | None = None
        self.head: _Head | None = None  # the current event
        self.time: str | None = None  # its time
        self.lines: list[str] = []
        self.mode: str | None = None  # "python" / "go": fold until a line starts an event
        self.chain = False  # the last non-blank line announced a chained traceback
        self.traced = False  # the current event holds a stack trace

    def feed(self, stamp: str | None, content: str) -> None:
        """Add one line (``stamp``: its kubelet time, if any)."""
        if self.head is not None:
            if self._fold(content):
                return
            self.close()
        elif not content.strip():
            return  # a blank line with no event to belong to
        if stamp:
            self.year = stamp[:4]
        head = self.head = _head(content, self.year, want_time=stamp is None)
        assert head is not None
        if head.time and not stamp:
            self.year = head.time[:4]
        self.time = stamp or head.time
        self.lines = [content]
        self.mode = head.trace if head.trace in ("python", "go") else None
        self.traced = head.trace is not None
        self.chain = False

    def _fold(self, content: str) -> bool:
        """Fold ``content`` into the current event if it continues it; say whether it did."""
        head = self.head
        assert head is not None
        first = content[:1]
        if self.mode is None and (first == "{" or first.isdigit()):
            return False  # the common case: a JSON object or a timestamp starts an event
        stripped = content.strip()
        if not stripped or first in " \t":
            trace = stripped.startswith(("at ", "... "))
        elif self.mode is not None:
            if content.startswith(_TRACEBACK):
                if not self.chain:
                    return False
            elif _head(content, self.year, want_time=False, strict=True) is not None:
                return False
            trace = False
        elif _CONTINUATION.match(content) or (self.traced and _JAVA_CONTINUATION.match(content)):
            trace = True
            if content.startswith("goroutine"):
                self.mode = "go"
        elif head.plain and content.startswith(_TRACEBACK):
            if head.level not in _SEVERE or self.traced:
                return False
            trace, self.mode = True, "python"
        elif _JAVA_EXC.match(content):
            # after plain text always; after JSON when it logged a problem and holds no trace
            if not head.plain and (head.level not in _SEVERE or self.traced):
                return False
            trace = True
        elif content.startswith(_GO_PANIC) and head.level == "critical" and not self.traced:
            trace, self.mode = True, "go"
        elif (head.level in _SEVERE or self.traced) and _GO_FUNCTION.fullmatch(content):
            trace = True  # a Go stack trace after the line that logged it (zap's console)
        else:
            return False
        self.lines.append(content)
        self.traced = self.traced or trace
        if stripped:
            self.chain = _CHAIN.match(content) is not None
        return True

    def close(self) -> None:
        """Finish the current event."""
        head = self.head
        if head is None:
            return
        lines = self.lines
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
        message = head.message
        if self.mode == "python" or head.trace == "python":
            exc = _python_exception(lines)
            message = (exc or message) if head.trace == "python" else _join(message, exc)
        elif head.trace is None and len(lines) > 1 and _JAVA_EXC.match(lines[1]):
            message = _join(message, lines[1].strip())
        elif self.mode == "go" and head.trace is None and lines[1].startswith(_GO_PANIC):
            panic = lines[1].strip()
            if panic.partition(": ")[2] not in message:
                message = _join(message, panic)
        self.times.append(self.time)
        self.levels.append(head.level or ("error" if self.traced else "info"))
        self.messages.append(message)
        self.raws.append("\n".join(lines))
        self.head = None


# -- the frame ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedLog:
    """The events of one container's log text.

    Attributes
    ----------
    frame
        Contract ``logs``, one row per event in log order (at most ``max_events``).
    events
        Events found in the text, before truncation and dropping.
    truncated
        ``max_events`` was reached: only the newest ``max_events`` events are kept.
    lines
        Lines in the text.
    dropped
        Events dropped because no event in the text has a time.
    """

    frame: pd.DataFrame
    events: int
    truncated: bool
    lines: int
    dropped: int = 0


def parse_pod_log(
    text: str,
    *,
    pod: str,
    container: str,
    timestamps: bool = True,
    max_events: int | None = None,
) -> ParsedLog:
    """Parse one container's log text into the ``logs`` frame.

    See the module documentation for how time, level and message are read and
    which lines fold into one event.

    Parameters
    ----------
    text
        The log text (``\\n`` or ``\\r\\n`` line ends).
    pod, container
        Written into every row.
    timestamps
        Lines start with the kubelet's RFC 3339 time (``timestamps=true`` in the
        request); it is stripped and used as the event time. A line without it
        is read as if ``timestamps`` were False.
    max_events
        Keep only the newest this many events (``None``: all).

    Returns
    -------
    ParsedLog
        The frame in log order and the counts the caller reports.

    Raises
    ------
    InvalidInput
        ``max_events`` is below 1.
    """
    import pandas as pd

    from ..core.schema import conform, empty_frame

    if max_events is not None and max_events < 1:
        raise InvalidInput(f"max_events must be at least 1 (or None), not {max_events}")
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    folder = _Folder()
    match = _KUBELET.match
    for row in rows:
        line = row[:-1] if row.endswith("\r") else row
        m = match(line) if timestamps else None
        if m:
            folder.feed(m[1], line[m.end() :])
        else:
            folder.feed(None, line)
    folder.close()
    events = len(folder.raws)
    if not events:
        return ParsedLog(empty_frame("logs"), 0, False, len(rows))

    time = pd.to_datetime(
        pd.Series(folder.times, dtype=object), utc=True, format="ISO8601", errors="coerce"
    )
    time = time.ffill().bfill()
    df = pd.DataFrame(
        {
            "time": time,
            "pod": pod,
            "container": container,
            "level": folder.levels,
            "message": folder.messages,
            "raw": folder.raws,
        }
    )
    dropped = events if time.isna().iloc[0] else 0  # after the fills: all or none
    if dropped:
        df = df.iloc[:0]
    truncated = max_events is not None and len(df) > max_events
    if max_events is not None and truncated:
        df = df.iloc[-max_events:]
    return ParsedLog(conform(df, "logs"), events, bool(truncated), len(rows), dropped)
