"""Access-log lines (Envoy/istio-proxy, nginx, AWS ALB): requests counted by status class.

A proxy's or a sidecar's access-log line says that a request failed, not why:
it is a symptom. Ranked among error signatures, a 5xx access-log line tops the
table (one line per failed request) and pushes the application's own errors
down. :func:`is_access_log` recognises such lines so that
:func:`incident_lib.analysis.signatures.signatures` can leave them out, and
:func:`access_summary` counts them instead: requests per method and status
class in the incident window next to the baseline.

Recognised formats (on the ``message``, i.e. after the log parser removed a
leading timestamp; the same patterns match the ``raw`` line):

- Envoy / istio-proxy default format and nginx/Apache combined (and common):
  a quoted request line followed by the status,
  ``"POST /api/v1/checkout HTTP/1.1" 503 UO ...``,
  ``10.0.0.1 - - [03/Nov/2026:14:02:11 +0000] "GET / HTTP/1.1" 200 612 ...``;
- AWS Application Load Balancer: the ELB status and the target status, the
  received and sent bytes, then the quoted request line,
  ``... 0.000 0.001 0.000 502 - 34 366 "GET https://shop.example.com:443/ HTTP/1.1" ...``.

The method is one of the HTTP methods (``GET``, ``POST``...): a TCP-proxy line
(``"- - -" 0 UF``) is no HTTP request and is not counted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..core.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = ["ACCESS_COLUMNS", "access_summary", "is_access_log"]

#: columns of the :func:`access_summary` frame, in order
ACCESS_COLUMNS = ("method", "status", "requests", "baseline_requests", "codes")

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
_VERBS = "|".join(_METHODS)
#: Envoy, nginx, Apache: ``"METHOD target PROTOCOL" STATUS``; AWS ALB:
#: ``ELB_STATUS TARGET_STATUS RECEIVED SENT "METHOD url PROTOCOL"``
_ACCESS = re.compile(
    rf'"(?P<m1>{_VERBS}) [^"]*" (?P<s1>[1-5]\d\d)(?![\w.])'
    rf'|(?<!\S)(?P<s2>[1-5]\d\d) (?:\d{{3}}|-) \d+ \d+ "(?P<m2>{_VERBS}) [^"]*"'
)

#: :data:`_ACCESS` for RE2 (no look-around): exact on ASCII text, where ``\\w`` is
#: ``[A-Za-z0-9_]`` and ``\\s`` the six ASCII spaces and ``\\x1c-\\x1f``; lines with
#: other characters go through :data:`_ACCESS` itself
_ACCESS_RE2 = (
    rf'"(?P<m1>{_VERBS}) [^"]*" (?P<s1>[1-5][0-9][0-9])(?:[^A-Za-z0-9_.]|$)'
    rf"|(?:^|[\t\n\x0b\f\r\x1c-\x1f ])(?P<s2>[1-5][0-9][0-9]) (?:[0-9]{{3}}|-) [0-9]+ [0-9]+ "
    rf'"(?P<m2>{_VERBS}) [^"]*"'
)
#: lines matched at a time (a slice's Arrow copy is all the memory it takes)
_SLICE = 65_536

#: at most this many status codes are listed in ``codes``
_CODES_CAP = 3


def _arrow_slice(messages: pd.Series) -> pa.Array:
    """Messages as Arrow ``large_string``; anything but a ``str`` is null."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(messages.dtype, pd.StringDtype):
        texts = pa.array(messages.array)
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        return texts.cast(pa.large_string())
    values = [m if isinstance(m, str) else None for m in messages]
    return pa.array(values, type=pa.large_string())


#: byte -> whether an HTTP method starts with it (the byte after the opening quote)
_LEADS = frozenset(method.encode()[0] for method in _METHODS)


def _candidates(texts: pa.Array) -> np.ndarray:
    """Rows of ``texts`` (``large_string``) that both patterns need to search, in order.

    A line can match only if it holds a double quote followed by a space (the
    old quick filter, kept: it is part of what counts as an access-log line)
    and a double quote followed by the first letter of an HTTP method. Both are
    found over the slice's bytes at once (``"`` is one byte in UTF-8 and is
    never part of another character), not line by line: the text is scanned
    once for quotes, and only the few quotes are looked at.
    """
    import numpy as np

    n = len(texts)
    buffers = texts.buffers()
    if n == 0 or buffers[2] is None:
        return np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(buffers[1], dtype=np.int64, count=texts.offset + n + 1)
    offsets = offsets[texts.offset :]
    data = np.frombuffer(buffers[2], dtype=np.uint8, count=int(offsets[-1]))
    low = int(offsets[0])
    quotes = np.flatnonzero(data[low:] == ord('"')) + low
    rows = np.searchsorted(offsets, quotes, side="right") - 1
    inside = quotes + 1 < offsets[rows + 1]  # (the next byte is on the same line)
    quotes, rows = quotes[inside], rows[inside]
    following = data[quotes + 1]
    leads = np.zeros(256, dtype=bool)
    leads[list(_LEADS)] = True
    spaced = np.zeros(n, dtype=bool)
    spaced[rows[following == ord(" ")]] = True
    led = np.zeros(n, dtype=bool)
    led[rows[leads[following]]] = True
    return np.flatnonzero(spaced & led)


def _scan(messages: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions, methods (indexes into :data:`_METHODS`) and statuses of the
    access-log lines among ``messages``.

    A slice at a time: the lines that may match are found over the slice's
    bytes (:func:`_candidates`), then RE2 over Arrow extracts method and status
    from them; the few with non-ASCII characters are matched by Python's ``re``
    (whose ``\\w``, ``\\s`` and ``\\d`` are Unicode).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    code = {m: i for i, m in enumerate(_METHODS)}
    positions: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    methods: list[np.ndarray] = [np.zeros(0, dtype=np.int8)]
    statuses: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    search = _ACCESS.search
    for start in range(0, len(messages), _SLICE):
        texts = _arrow_slice(messages.iloc[start : start + _SLICE])
        candidates = _candidates(texts)
        if not len(candidates):
            continue
        lines = texts.take(pa.array(candidates))
        ascii_ = pc.fill_null(pc.string_is_ascii(lines), False)
        where = pc.indices_nonzero(ascii_)
        if len(where):  # (in line order, as the candidates)
            parts = pc.extract_regex(pc.take(lines, where), _ACCESS_RE2)
            hit = pc.is_valid(parts)
            m1, s1, s2, m2 = (pc.filter(parts.field(i), hit) for i in range(4))
            method = pc.index_in(pc.if_else(pc.equal(m1, ""), m2, m1), pa.array(_METHODS))
            status = pc.cast(pc.if_else(pc.equal(s1, ""), s2, s1), pa.int64())
            positions.append(candidates[pc.filter(where, hit).to_numpy()] + start)
            methods.append(method.to_numpy(zero_copy_only=False).astype(np.int8))
            statuses.append(status.to_numpy(zero_copy_only=False).astype(np.int64))
        others = pc.indices_nonzero(pc.and_(pc.is_valid(lines), pc.invert(ascii_)))
        rows_others = candidates[others.to_numpy()].tolist()
        found: list[tuple[int, int, int]] = []
        for row, text in zip(rows_others, pc.take(lines, others).to_pylist(), strict=True):
            if m := search(text):
                found.append((row + start, code[m["m1"] or m["m2"]], int(m["s1"] or m["s2"])))
        if found:
            rows_, methods_, statuses_ = zip(*found, strict=True)
            positions.append(np.asarray(rows_, dtype=np.int64))
            methods.append(np.asarray(methods_, dtype=np.int8))
            statuses.append(np.asarray(statuses_, dtype=np.int64))
    at = np.concatenate(positions)
    order = np.argsort(at, kind="stable")  # (the non-ASCII lines among the others)
    return at[order], np.concatenate(methods)[order], np.concatenate(statuses)[order]


def is_access_log(messages: pd.Series) -> pd.Series:
    """Which messages are HTTP access-log lines (see the module documentation).

    Parameters
    ----------
    messages
        Log messages (``message`` of a ``logs`` frame); missing values are not
        access-log lines.

    Returns
    -------
    pandas.Series
        Booleans with the index of ``messages``.
    """
    import numpy as np
    import pandas as pd

    flags = np.zeros(len(messages), dtype=bool)
    flags[_scan(messages)[0]] = True
    return pd.Series(flags, index=messages.index, dtype=bool)


def _requests(logs: pd.DataFrame) -> pd.DataFrame:
    """``time``, ``method`` and ``status`` (an int) of each access-log line of ``logs``."""
    import pandas as pd

    at, methods, statuses = _scan(logs["message"])
    times = logs["time"].iloc[at].reset_index(drop=True)
    return pd.DataFrame(
        {
            "time": pd.Series(times, dtype="datetime64[ns, UTC]"),
            "method": pd.Series(
                pd.Categorical.from_codes(methods, categories=pd.Index(list(_METHODS))), dtype="str"
            ),
            "status": pd.Series(statuses, dtype="int64"),
        }
    )


def _window(value: object, what: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    import pandas as pd

    from ..core.time import parse_time

    if hasattr(value, "start") and hasattr(value, "end"):
        value = (value.start, value.end)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidInput(f"{what}: expected a (start, end) pair of timestamps, got {value!r}")
    start = pd.Timestamp(parse_time(value[0], field=f"{what} start"))
    end = pd.Timestamp(parse_time(value[1], field=f"{what} end"))
    if not start < end:
        raise InvalidInput(f"{what}: start {start} is not before end {end}")
    return start, end


def _codes(status: pd.Series) -> str:
    counts = status.value_counts()
    listed = [f"{code} ×{n}" for code, n in counts.head(_CODES_CAP).items()]
    more = len(counts) - _CODES_CAP
    return ", ".join(listed) + (f" (+{more} more)" if more > 0 else "")


def access_summary(
    logs: pd.DataFrame,
    *,
    window: object,
    baseline: object | None = None,
) -> pd.DataFrame:
    """Requests seen in access-log lines, per method and status class, window vs baseline.

    Parameters
    ----------
    logs
        A ``logs`` frame (``time`` timezone-aware, ``message``), all levels: a
        2xx line is ``info``, a 5xx line ``error``.
    window
        The incident window ``(start, end)`` (an :class:`incident_lib.core.time.Window`
        works too).
    baseline
        The baseline window; ``None``: no baseline columns are filled (zeros).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ACCESS_COLUMNS`, one row per (``method``, ``status``
        class such as ``5xx``) seen in the window or the baseline:
        ``requests`` in the window, ``baseline_requests`` in the baseline
        window, and the most frequent status ``codes`` in the window
        (``503 ×812, 504 ×97``). Sorted by method (most requests in the window
        first), then status class. No access-log line: an empty frame with
        these columns. A proxy often logs only some requests (istio's default
        filter, sampling): compare counts, not shares of a total.

    Raises
    ------
    InvalidInput
        ``logs`` lacks ``time`` or ``message``, or a window is malformed.
    """
    import pandas as pd

    missing = [c for c in ("time", "message") if c not in logs.columns]
    if missing:
        raise InvalidInput(f"logs frame is missing columns {missing}")
    win = _window(window, "window")
    base = _window(baseline, "baseline") if baseline is not None else None
    requests = _requests(logs)
    requests = requests.assign(status_class=(requests["status"] // 100).astype(str) + "xx")

    def counted(span: tuple[pd.Timestamp, pd.Timestamp] | None) -> pd.DataFrame:
        if span is None:
            part = requests.iloc[:0]
        else:
            part = requests[(requests["time"] >= span[0]) & (requests["time"] < span[1])]
        grouped = part.groupby(["method", "status_class"])
        counts = grouped.size().rename("requests").to_frame()
        counts["codes"] = grouped["status"].agg(_codes) if len(part) else ""
        return counts

    now, before = counted(win), counted(base)
    out = now.join(before.add_prefix("baseline_"), how="outer")
    out[["requests", "baseline_requests"]] = (
        out[["requests", "baseline_requests"]].fillna(0).astype("int64")
    )
    out["codes"] = out["codes"].fillna("")
    out = out.drop(columns=["baseline_codes"]).reset_index()
    out = out.rename(columns={"status_class": "status"})
    volume = out.groupby("method")["requests"].transform("sum")
    out = (
        out.assign(_volume=volume)
        .sort_values(["_volume", "method", "status"], ascending=[False, True, True])
        .drop(columns="_volume")
    )
    return pd.DataFrame(out[list(ACCESS_COLUMNS)].reset_index(drop=True)).astype(
        {
            "method": "str",
            "status": "str",
            "requests": "int64",
            "baseline_requests": "int64",
            "codes": "str",
        }
    )
