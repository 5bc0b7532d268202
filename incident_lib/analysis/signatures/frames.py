"""The frame API: signature tables and time series over a ``logs`` frame.

:func:`signatures` groups the events of a ``logs`` frame (the contract of
:mod:`incident_lib.core.schema`) by signature and compares the incident window
with a baseline; :func:`signature_timeseries` counts the top signatures per time
bin for charting. pandas is imported inside them, so the pure
:func:`~incident_lib.analysis.signatures.mask` /
:func:`~incident_lib.analysis.signatures.signature_ids` path needs no pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from ...core.errors import InvalidInput
from ..access_logs import is_access_log
from .grouping import _group, _matcher, _skeleton
from .masking import _keys, _masked
from .ranking import rank_signatures

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "NEW_RATE_RATIO",
    "POD_NAMES_CAP",
    "SIGNATURE_COLUMNS",
    "TIMESERIES_COLUMNS",
    "SignatureLines",
    "signature_timeseries",
    "signatures",
    "signatures_with_lines",
    "with_raw_examples",
]

#: a signature is new when its baseline rate is at most this fraction of its incident rate
NEW_RATE_RATIO = 0.1
#: how many pod names ``pod_names`` lists before "(+N more)"
POD_NAMES_CAP = 5

#: columns of the :func:`signatures` frame, in order
SIGNATURE_COLUMNS = (
    "signature",
    "template",
    "count",
    "level",
    "first_seen",
    "last_seen",
    "pods",
    "pod_names",
    "example",
    "baseline_count",
    "rate_change",
    "is_new",
)
#: columns of the :func:`signature_timeseries` frame, in order
TIMESERIES_COLUMNS = ("time", "signature", "template", "count")

_SIGNATURE_DTYPES = {
    "signature": "str",
    "template": "str",
    "count": "int64",
    "level": "str",
    "first_seen": "datetime64[ns, UTC]",
    "last_seen": "datetime64[ns, UTC]",
    "pods": "int64",
    "pod_names": "str",
    "example": "str",
    "baseline_count": "int64",
    "rate_change": "float64",
    "is_new": "bool",
}

# Most severe first; a level not listed ranks below all of them.
_SEVERITY = {
    name: rank
    for rank, names in enumerate(
        reversed(
            [
                ("emergency", "emerg", "panic"),
                ("alert",),
                ("fatal", "critical", "crit"),
                ("error", "err", "severe"),
                ("warning", "warn"),
                ("notice",),
                ("info", "information", "informational"),
                ("debug",),
                ("trace", "verbose"),
            ]
        )
    )
    for name in names
}


def _timestamp(value: object, what: str) -> pd.Timestamp:
    import pandas as pd

    from ...core.time import parse_time

    return pd.Timestamp(parse_time(value, field=what))


def _window(value: object, what: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """A ``(start, end)`` pair (or an object with ``start``/``end``) as UTC Timestamps."""
    if value is None:
        return None
    if hasattr(value, "start") and hasattr(value, "end"):
        value = (value.start, value.end)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidInput(f"{what}: expected a (start, end) pair of timestamps, got {value!r}")
    start, end = _timestamp(value[0], f"{what} start"), _timestamp(value[1], f"{what} end")
    if not start < end:
        raise InvalidInput(f"{what}: start {start} is not before end {end}")
    return start, end


# ``raw`` is optional: without it, examples are messages (a big capture is read without
# its raw text, which is most of its memory; see :func:`with_raw_examples`)
_REQUIRED = ("time", "pod", "level", "message")


def _check_logs(logs: pd.DataFrame, required: tuple[str, ...] = _REQUIRED) -> None:
    """Raise :class:`InvalidInput` unless ``logs`` has the ``required`` columns of the
    ``logs`` contract and a timezone-aware ``time`` (no copy)."""
    import pandas as pd

    if not isinstance(logs, pd.DataFrame):
        raise InvalidInput(f"logs: expected a DataFrame, got {type(logs).__name__}")
    missing = [c for c in required if c not in logs.columns]
    if missing:
        raise InvalidInput(
            f"logs frame is missing columns {missing}; it needs {list(required)} "
            "(the 'logs' contract in incident_lib.core.schema)"
        )
    time = logs["time"]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise InvalidInput(
            f"logs: column 'time' must be timezone-aware datetimes (UTC), got {time.dtype}"
        )


def _minutes(window: tuple[pd.Timestamp, pd.Timestamp]) -> float:
    return (window[1] - window[0]).total_seconds() / 60.0


def _empty_signatures() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {c: pd.Series(dtype=d) for c, d in _SIGNATURE_DTYPES.items()}, columns=SIGNATURE_COLUMNS
    )


def _no_lines() -> SignatureLines:
    import pandas as pd

    return SignatureLines(
        _empty_signatures(),
        pd.Series(dtype="str", name="signature"),
        pd.Series(dtype="int64", name="row", index=pd.Index([], dtype="str", name="signature")),
    )


def _pod_names(pods: pd.Series) -> str:
    names = sorted({p for p in pods if isinstance(p, str) and p})
    if len(names) <= POD_NAMES_CAP:
        return ", ".join(names)
    return f"{', '.join(names[:POD_NAMES_CAP])} (+{len(names) - POD_NAMES_CAP} more)"


class SignatureLines(NamedTuple):
    """What :func:`signatures_with_lines` returns: the table, each line's signature and
    each signature's example line."""

    #: the :func:`signatures` frame
    table: pd.DataFrame
    #: the signature id of each line grouped (those in the window or the baseline, at the
    #: levels asked for, access-log lines left out), indexed by the line's label in ``logs``
    lines: pd.Series
    #: the label in ``logs`` of each signature's ``example`` line (its first in the window),
    #: indexed by signature id: an event can point at that row of the capture
    examples: pd.Series


def signatures(
    logs: pd.DataFrame,
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    baseline: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    levels: Iterable[str] | None = None,
    access_logs: bool = False,
) -> pd.DataFrame:
    """Group log events into signatures and compare the incident window with a baseline.

    Parameters
    ----------
    logs
        A frame meeting the ``logs`` contract: ``time`` (``datetime64[ns, UTC]``),
        ``pod``, ``container``, ``level`` (lower case), ``message``, ``raw``
        (``container`` is not needed).
    window
        The incident window ``[start, end)`` (timezone-aware; an
        :class:`incident_lib.core.time.Window` works too). None: from the first to
        the last event that is not in ``baseline`` (at least one minute long).
    baseline
        The baseline window ``[start, end)``. None: the window of the same length
        just before ``window``; no baseline when ``window`` is None as well. When
        ``logs`` does not cover the baseline, every signature looks new.
    levels
        Keep only events with these levels (compared in lower case), e.g.
        ``("error", "critical")``; a single string is one level. None: all levels.
    access_logs
        Keep HTTP access-log lines (Envoy/istio-proxy, nginx, ALB: see
        :mod:`incident_lib.analysis.access_logs`). By default they are left out:
        a 5xx access-log line is a symptom, one per failed request, and would
        crowd out the application's own errors; count them with
        :func:`incident_lib.analysis.access_logs.access_summary` instead.

    Returns
    -------
    pandas.DataFrame
        One row per signature seen in the window, columns :data:`SIGNATURE_COLUMNS`:

        - ``signature``: stable id (hash of the canonical template),
        - ``template``: the masked template,
        - ``count``: events in the window,
        - ``level``: the most severe level seen in the window (fatal/critical >
          error > warning > notice > info > debug > trace > anything else),
        - ``first_seen``, ``last_seen``: first and last event in the window,
        - ``pods``: distinct pods in the window; ``pod_names`` the first
          :data:`POD_NAMES_CAP` of them sorted, comma-joined, ``(+N more)``,
        - ``example``: the ``raw`` line (``message`` when ``raw`` is empty) of
          the first event in the window, as given (frames reach analysis from
          the evidence store, which redacted them at capture),
        - ``baseline_count``: events in the baseline window,
        - ``rate_change``: events per minute in the window divided by events
          per minute in the baseline; ``inf`` when the baseline has none, NaN
          without a baseline window,
        - ``is_new``: the baseline rate is at most :data:`NEW_RATE_RATIO` (10 %)
          of the window rate, which includes "absent from the baseline";
          always False without a baseline window.

        Sorted new signatures first, then by ``count`` descending (then
        ``first_seen``); :func:`~incident_lib.analysis.signatures.rank_signatures`
        sorts by what changed instead. No events: an empty frame with the same
        columns.

    Raises
    ------
    InvalidInput
        A missing column, a ``time`` column without timezone, a malformed or
        naive window.

    Notes
    -----
    Lines in the window and in the baseline are grouped together in one call of
    the grouping (see :mod:`.grouping`), so their ids agree.
    """
    return signatures_with_lines(
        logs, window=window, baseline=baseline, levels=levels, access_logs=access_logs
    ).table


def signatures_with_lines(
    logs: pd.DataFrame,
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    baseline: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    levels: Iterable[str] | None = None,
    access_logs: bool = False,
) -> SignatureLines:
    """:func:`signatures`, and the signature of each line it grouped.

    For a chart of the same lines (:func:`signature_timeseries` with
    ``line_signatures=``) without keying their messages a second time.

    Parameters
    ----------
    logs, window, baseline, levels, access_logs
        As for :func:`signatures`.

    Returns
    -------
    SignatureLines
        ``table``: the :func:`signatures` frame; ``lines``: the signature id
        (``str``) of each line grouped, i.e. each line at ``levels`` in the
        window or the baseline (access-log lines left out unless
        ``access_logs``), indexed by the line's label in ``logs``, in time
        order; ``examples``: the label in ``logs`` of each signature's example
        line, by signature id. Empty when ``table`` is empty.

    Raises
    ------
    InvalidInput
        As :func:`signatures`.
    """
    import numpy as np
    import pandas as pd

    # Memory: only the narrow columns (time, level, pod) are read for every line;
    # message is taken for the lines kept, raw for one example line per signature.
    _check_logs(logs)
    win = _window(window, "window")
    base = _window(baseline, "baseline")
    if isinstance(levels, str):
        levels = (levels,)
    times = pd.DatetimeIndex(logs["time"]).tz_convert("UTC").as_unit("ns")
    pos = np.arange(len(logs))
    # levels as codes (Arrow-backed text is encoded without a Python string per line)
    lev_codes, lev_index = pd.factorize(logs["level"], use_na_sentinel=True)
    lev_uniques = np.asarray(lev_index, dtype=object)
    if levels is not None:
        wanted = {str(level).lower() for level in levels}
        ok = [isinstance(u, str) and u.lower() in wanted for u in lev_uniques]
        pos = pos[np.asarray([*ok, False], dtype=bool)[lev_codes]]
    if win is not None:
        if base is None:
            base = (win[0] - (win[1] - win[0]), win[0])
        kept = times[pos]
        in_span = (kept >= win[0]) & (kept < win[1]) | (kept >= base[0]) & (kept < base[1])
        pos = pos[np.asarray(in_span, dtype=bool)]
    filtered = access_logs
    if not access_logs and win is None and len(pos):  # (the window found ignores them)
        pos = pos[~is_access_log(logs["message"].iloc[pos]).to_numpy()]
        filtered = True
    if not len(pos):
        return _no_lines()
    if win is None:
        kept = times[pos]
        if base is not None:
            kept = kept[(kept < base[0]) | (kept >= base[1])]
        if kept.empty:
            return _no_lines()
        start = kept.min()
        win = (start, max(kept.max() + pd.Timedelta(1, "ns"), start + pd.Timedelta(1, "min")))
    kept = times[pos]
    in_win = np.asarray((kept >= win[0]) & (kept < win[1]), dtype=bool)
    in_base = (
        np.asarray((kept >= base[0]) & (kept < base[1]), dtype=bool)
        if base is not None
        else np.zeros(len(pos), dtype=bool)
    )
    if not in_win.any():
        return _no_lines()
    chosen = in_win | in_base
    pos, in_win, in_base = pos[chosen], in_win[chosen], in_base[chosen]
    order = np.argsort(times.asi8[pos], kind="stable")
    pos, in_win, in_base = pos[order], in_win[order], in_base[order]
    messages = logs["message"].iloc[pos]  # the one copy of the kept lines' text
    if not filtered:
        keep = ~is_access_log(messages).to_numpy()
        if not keep.all():
            pos, in_win, in_base = pos[keep], in_win[keep], in_base[keep]
            messages = messages.iloc[np.flatnonzero(keep)]
        if not in_win.any():
            return _no_lines()
    grouping = _group(_text_array(messages))
    del messages
    ids = np.asarray(grouping.ids, dtype=object)

    # the window's lines, in time order: one small numeric frame
    cur = pos[in_win]
    sig_codes, sig_ids = pd.factorize(ids[in_win])
    pod_codes, pod_index = pd.factorize(logs["pod"].iloc[cur], use_na_sentinel=True)
    pod_values = np.asarray(pod_index, dtype=object)
    lev_rank = [_SEVERITY.get(u.lower(), -1) if isinstance(u, str) else -1 for u in lev_uniques]
    current = pd.DataFrame(
        {
            "signature": sig_codes,
            "time": times[cur],
            "pod": np.where(pod_codes >= 0, pod_codes, np.nan),
            "rank": np.asarray([*lev_rank, -1], dtype="int64")[lev_codes[cur]],
        }
    )
    by_sig = current.groupby("signature", sort=True)
    out = by_sig.agg(
        count=("time", "size"),
        first_seen=("time", "min"),
        last_seen=("time", "max"),
        pods=("pod", "nunique"),
    )
    out.index = pd.Index(np.asarray(sig_ids, dtype=object)[out.index], name="signature")
    pairs = current[["signature", "pod"]].dropna().drop_duplicates()
    names = pd.Series(pod_values.take(pairs["pod"].to_numpy(dtype="int64")), dtype=object)
    pod_lists = names.groupby(pairs["signature"].to_numpy()).agg(_pod_names)
    out["pod_names"] = [pod_lists.get(code, "") for code in range(len(sig_ids))]
    most_severe = current["rank"].groupby(current["signature"]).idxmax()  # code -> row
    out["level"] = np.asarray([*lev_uniques, None], dtype=object)[
        lev_codes[cur[most_severe.sort_index().to_numpy()]]
    ]
    _, first_rows = np.unique(sig_codes, return_index=True)  # rows in time order
    first = cur[first_rows]
    message = pd.Series(logs["message"].iloc[first].to_numpy(dtype=object), index=out.index)
    if "raw" in logs.columns:
        raw = pd.Series(logs["raw"].iloc[first].to_numpy(dtype=object), index=out.index)
        message = raw.where(raw.fillna("") != "", message)
    out["example"] = message.fillna("").map(str)
    out["template"] = out.index.map(grouping.templates)

    if base is not None:
        base_counts = pd.Series(ids[in_base]).value_counts()
        out["baseline_count"] = base_counts.reindex(out.index, fill_value=0).astype("int64")
        rate = out["count"] / _minutes(win)
        base_rate = out["baseline_count"] / _minutes(base)
        with np.errstate(divide="ignore"):
            out["rate_change"] = np.where(base_rate > 0, rate / base_rate, np.inf)
        out["is_new"] = base_rate <= NEW_RATE_RATIO * rate
    else:
        out["baseline_count"] = 0
        out["rate_change"] = np.nan
        out["is_new"] = False

    out = out.reset_index().sort_values(
        ["is_new", "count", "first_seen", "signature"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    out = out[list(SIGNATURE_COLUMNS)].reset_index(drop=True)
    lines = pd.Series(ids, index=logs.index[pos], dtype="str", name="signature")
    examples = pd.Series(
        np.asarray(logs.index[first]), index=pd.Index(sig_ids, dtype="str", name="signature")
    ).rename("row")
    return SignatureLines(out.astype(_SIGNATURE_DTYPES), lines, examples)


def _text_array(messages: pd.Series) -> pa.Array | list[object]:
    """The messages as one Arrow text array (Arrow-backed text: no copy of the values),
    or as a list of Python objects when they are not all text."""
    import pyarrow as pa

    try:
        array = pa.array(messages.array)
    except (pa.ArrowException, TypeError, ValueError):
        return list(messages.tolist())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return list(messages.tolist())
    return array


def with_raw_examples(signature_frame: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Each signature's example as its raw line, when ``signatures`` had none.

    :func:`signatures` over a frame without ``raw`` (a big capture is read
    without it) gives the first event's message as the example; this puts that
    event's raw line in its place, read for those events only (e.g.
    ``rb.evidence("kubernetes", "logs", columns=["time", "message", "raw"],
    at=found["first_seen"])``).

    Parameters
    ----------
    signature_frame
        A frame from :func:`signatures` (or ranked by
        :func:`~incident_lib.analysis.signatures.rank_signatures`).
    lines
        Log lines with ``time``, ``message`` and ``raw``: the events at the
        signatures' ``first_seen``.

    Returns
    -------
    pandas.DataFrame
        A copy of ``signature_frame`` whose ``example`` is the ``raw`` text of
        the line at ``first_seen`` whose message is the example (the first such
        line); unchanged where there is no such line or its raw text is empty.

    Raises
    ------
    InvalidInput
        ``lines`` without ``time``, ``message`` and ``raw``, or
        ``signature_frame`` without ``first_seen`` and ``example``.
    """
    import pandas as pd

    if not {"time", "message", "raw"} <= set(lines.columns):
        raise InvalidInput("lines need 'time', 'message' and 'raw' columns")
    if not {"first_seen", "example"} <= set(signature_frame.columns):
        raise InvalidInput("signature_frame needs 'first_seen' and 'example' columns")
    out = signature_frame.copy()
    if out.empty or lines.empty:
        return out
    known = lines[lines["raw"].fillna("") != ""]
    times = pd.DatetimeIndex(known["time"]).tz_convert("UTC").as_unit("ns").asi8
    raw_of: dict[tuple[int, str], str] = {}
    for time, message, raw in zip(times, known["message"], known["raw"], strict=True):
        raw_of.setdefault((int(time), str(message)), str(raw))
    first = pd.DatetimeIndex(out["first_seen"]).tz_convert("UTC").as_unit("ns").asi8
    out["example"] = [
        raw_of.get((int(time), str(example)), example)
        for time, example in zip(first, out["example"], strict=True)
    ]
    return out.astype({"example": "str"})


def signature_timeseries(
    logs: pd.DataFrame,
    signature_frame: pd.DataFrame,
    *,
    freq: str = "1min",
    top: int | None = 5,
    labels: bool = False,
    line_signatures: pd.Series | None = None,
) -> pd.DataFrame:
    """Events per time bin of the top signatures, long format, for charting.

    Parameters
    ----------
    logs
        A ``logs`` frame (as for :func:`signatures`; only ``time`` and
        ``message`` are needed); filter it first (levels, time range) to chart
        only part of it.
    signature_frame
        A frame from :func:`signatures`; its first ``top`` rows are charted, in
        its order (new ones first, then by count): sort or filter it to choose.
    freq
        Bin width, a pandas frequency string (``"1min"``, ``"5min"``, ``"1h"``).
    top
        How many signatures; None for all rows of ``signature_frame``.
    labels
        Put each signature's ``label`` (``#1 template…`` from
        :func:`~incident_lib.analysis.signatures.rank_signatures`, distinct
        and short) in the ``template`` column instead of its template, so that
        a chart legend tells signatures apart; ``signature_frame`` is ranked
        first when it has no ``label`` column.
    line_signatures
        The ``lines`` of :func:`signatures_with_lines` over the frame ``logs``
        was taken from (rows keep their labels, e.g. through
        :meth:`~incident_lib.core.time.Window.select`): a line found there
        counts for the signature it was grouped into, without keying its
        message again; the other lines (outside that call's window and baseline,
        or at other levels) are keyed as without it. Ignored when its labels are
        not unique.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIMESERIES_COLUMNS`: ``time`` (bin start, UTC),
        ``signature``, ``template``, ``count`` (``int64``). Every chosen
        signature has a row for every bin from the first to the last event of
        ``logs`` (zeros included), so lines in a chart do not skip gaps. Events
        are matched to a signature by their template, the same way
        :func:`signatures` grouped them (or by ``line_signatures``).

    Raises
    ------
    InvalidInput
        A malformed ``logs`` frame, a ``signature_frame`` without ``signature``
        and ``template`` columns, a negative ``top`` or an unknown ``freq``.
    """
    import numpy as np
    import pandas as pd

    # only the two columns used are read and copied (a big capture is read without the rest)
    _check_logs(logs, ("time", "message"))
    frame = logs[["time", "message"]].reset_index(drop=True)
    frame["time"] = frame["time"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if not {"signature", "template"} <= set(signature_frame.columns):
        raise InvalidInput("signature_frame needs 'signature' and 'template' columns")
    if top is not None and top < 0:
        raise InvalidInput(f"top must be >= 0 or None, got {top}")
    try:
        pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise InvalidInput(f"freq: {freq!r} is not a pandas frequency such as '1min'") from None
    if labels and "label" not in signature_frame.columns:
        signature_frame = rank_signatures(signature_frame)
    chosen = signature_frame if top is None else signature_frame.head(top)
    templates = dict(zip(chosen["signature"], chosen["template"], strict=True))
    shown = dict(zip(chosen["signature"], chosen["label" if labels else "template"], strict=True))
    empty = pd.DataFrame(
        {
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "signature": pd.Series(dtype="str"),
            "template": pd.Series(dtype="str"),
            "count": pd.Series(dtype="int64"),
        }
    )
    if frame.empty or not templates:
        return empty

    if line_signatures is not None and line_signatures.index.is_unique:
        known = line_signatures.reindex(logs.index).astype("str")
        rest = np.flatnonzero(known.isna().to_numpy())  # lines that call did not group
        sig = known.where(known.isin(list(templates))).set_axis(frame.index)
    else:
        sig = pd.Series(np.full(len(frame), None, dtype=object), index=frame.index, dtype="str")
        rest = np.arange(len(frame))
    if len(rest):
        match = _matcher(templates)
        keys = _keys(frame["message"].iloc[rest].tolist())
        sig_of = {k: match(_skeleton(m)) for k, m in _masked(keys).items()}
        sig.iloc[rest] = pd.Series(
            list(map(sig_of.__getitem__, keys)), index=frame.index[rest], dtype="str"
        )
    bins = frame["time"].dt.floor(freq)
    grid = pd.date_range(bins.min(), bins.max(), freq=freq)
    hit = sig.notna()
    counts = (
        pd.DataFrame({"time": bins[hit], "signature": sig[hit]})
        .groupby(["signature", "time"])
        .size()
    )
    index = pd.MultiIndex.from_product([list(templates), grid], names=["signature", "time"])
    counts = counts.reindex(index, fill_value=0)
    out = counts.rename("count").reset_index()
    out["template"] = out["signature"].map(shown)
    out = out[list(TIMESERIES_COLUMNS)]
    return out.astype(
        {"time": "datetime64[ns, UTC]", "signature": "str", "template": "str", "count": "int64"}
    )
