"""Onset detection: when did a metric first leave its baseline, and for how long?

The method, per metric
----------------------
1. **Baseline.** Over the baseline window: the median ``m`` and a robust scale
   ``s = max(1.4826 * MAD, 1 % of |m|, 0.1 % of the series' magnitude)``, the
   magnitude being the largest ``|value|`` in the baseline and incident windows.
   The floors keep a flat baseline (all zeros, a constant connection count)
   from having a zero scale, where the tiniest wobble would depart, yet let a
   real rise from zero show; lone blips are left to the sustain rule (3).
2. **Departure.** A sample in the incident window departs when it lies beyond
   ``m ± threshold * s`` *and* differs from ``m`` by at least ``min_change * |m|``
   (a relative floor: noise-free series still need a material change), in the
   direction(s) asked for, *and* lies beyond what the baseline itself reached
   routinely (its 95th percentile up, its 5th down). A mostly-zero baseline (rare
   errors, ``rate()`` over sparse counts) has a MAD of 0: without this rule its
   everyday blips would pass for an onset.
3. **Sustained run.** Consecutive departing samples (same direction) form a
   run. Its duration is the *observed* time it covers: each sample counts for
   the time to the next sample, at most one sampling step (the median spacing
   of the series). A stretch without samples of up to ``max_gap`` does not end
   a run but adds no time to it; a longer stretch ends it. So a gap never joins
   two runs that are far apart nor makes two lone spikes look sustained, and a
   real step with a hole in its data is still found where it began.
4. **Onset.** The first run lasting at least ``sustain`` confirms a departure;
   its onset is dated back to where the series left the noise band: walking
   back from the run's first sample over the samples just before it that still
   lie beyond ``m ± threshold/2 * s`` (same direction, no hole over
   ``max_gap``). A step is dated at the step (give or take a sample); a noisy
   ramp near where its mean crosses two robust standard deviations, not where
   the noise at last stops dipping under the full threshold (that can be
   minutes later on a slow ramp). A departure still shorter than ``sustain``
   when the window ends is not an onset (yet).

``peak`` is the extreme value in the incident window in the direction checked
(for ``both``: the largest departure either way), ``change = peak - baseline``
and ``ratio = peak / baseline`` when the baseline is above zero.

Pure functions over pandas objects: no I/O, no plotting.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from ..core.errors import InvalidInput
from ..core.findings import Finding, Level, Role
from ..core.metrics import METRICS, Direction, Metric, format_growth, metric_info
from ..core.time import Window
from .metrics import RATE_COUNTS, baseline_events
from .metrics import series as metric_values

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "DEFAULT_DIRECTIONS",
    "Direction",
    "Onset",
    "describe",
    "detect_onset",
    "onset_findings",
    "onset_table",
]

#: direction checked per canonical metric in :func:`onset_table`: the direction that is
#: bad in the metric vocabulary (:data:`incident_lib.core.metrics.METRICS`); others ``both``
DEFAULT_DIRECTIONS: dict[str, Direction] = {key: m.bad for key, m in METRICS.items()}

_TABLE_DTYPES = {
    "metric": "str",
    "direction": "str",
    "onset_at": "datetime64[ns, UTC]",
    "baseline_level": "float64",
    "baseline_scale": "float64",
    "peak": "float64",
    "peak_at": "datetime64[ns, UTC]",
    "change": "float64",
    "ratio": "float64",
    "moved": "bool",
    "baseline_events": "float64",
}
_MAD_TO_SIGMA = 1.4826
_REL_SCALE_FLOOR = 0.01
_MAGNITUDE_SCALE_FLOOR = 1e-3
#: a value the baseline reached in at least this share of its samples (either way) is routine
_ROUTINE_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Onset:
    """The first sustained departure of one metric from its baseline.

    Attributes
    ----------
    metric
        The metric's name (the series' name).
    direction
        The direction checked: ``up``, ``down`` or ``both``.
    onset_at
        Where the first sustained departure left the noise band, or ``None``.
    baseline_level
        Median over the baseline window (NaN without baseline data).
    baseline_scale
        Robust scale of the baseline (MAD-based, with floors).
    peak, peak_at
        Extreme value in the incident window in the direction checked, and when.
    change
        ``peak - baseline_level``.
    ratio
        ``peak / baseline_level`` when the baseline is above zero, else NaN.
    moved
        Whether a sustained departure was found (``onset_at is not None``).
    """

    metric: str
    direction: str
    onset_at: pd.Timestamp | None
    baseline_level: float
    baseline_scale: float
    peak: float
    peak_at: pd.Timestamp | None
    change: float
    ratio: float
    moved: bool


def _timedelta(value: pd.Timedelta | timedelta | str, name: str) -> pd.Timedelta:
    import pandas as pd

    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: {value!r} is not a duration; write it like '2min'") from None
    if pd.isna(delta) or delta < pd.Timedelta(0):
        raise InvalidInput(f"{name}: {value!r} must be a duration of zero or more")
    return delta


def _clean(series: pd.Series) -> pd.Series:
    """Finite float values on a sorted UTC index (NaN samples dropped: they are gaps)."""
    import numpy as np
    import pandas as pd

    if not isinstance(series.index, pd.DatetimeIndex):
        raise InvalidInput("detect_onset needs a time-indexed series (a DatetimeIndex in UTC)")
    if series.index.tz is None:
        raise InvalidInput("detect_onset: the series' index has no timezone; localize it to UTC")
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    values = values[np.isfinite(values.to_numpy())]
    return values.sort_index()


def _inside(series: pd.Series, window: Window) -> pd.Series:
    import pandas as pd

    index = series.index
    return series[(index >= pd.Timestamp(window.start)) & (index < pd.Timestamp(window.end))]


def _first_sustained(
    times: np.ndarray,
    departs: np.ndarray,
    *,
    step: int,
    sustain: int,
    max_gap: int,
) -> int | None:
    """Index of the first sample of the first departing run covering ``sustain`` ns.

    Each sample covers the time to the next sample, at most ``step``; a hole of
    more than ``max_gap`` between two departing samples ends the run.
    """
    import numpy as np

    to_next = np.append(np.diff(times), step)
    covers = np.minimum(to_next, step)
    start: int | None = None
    covered = 0
    for i, departing in enumerate(departs):
        if not departing:
            start = None
            continue
        if start is None or times[i] - times[i - 1] > max_gap:
            start, covered = i, 0
        covered += int(covers[i])
        if covered >= sustain:
            return start
    return None


def _left_noise_at(times: np.ndarray, outside: np.ndarray, first: int, *, max_gap: int) -> int:
    """Walk back from ``first`` over the samples just before it still outside the noise band."""
    while first > 0 and outside[first - 1] and times[first] - times[first - 1] <= max_gap:
        first -= 1
    return first


def detect_onset(
    series: pd.Series,
    *,
    baseline: Window,
    window: Window,
    direction: Direction = "up",
    sustain: pd.Timedelta | str = "2min",
    min_change: float = 0.2,
    threshold: float = 4.0,
    max_gap: pd.Timedelta | str = "5min",
) -> Onset:
    """Find the first sustained departure of ``series`` from its baseline.

    See the module docstring for the method.

    Parameters
    ----------
    series
        Values indexed by UTC time, any resolution (10-60 s), gaps allowed (NaN
        values count as missing). Its ``name`` becomes :attr:`Onset.metric`.
    baseline
        The window that defines normal (usually the hour before the incident).
    window
        The incident window searched for the onset.
    direction
        ``up`` (rises only), ``down`` (drops only) or ``both``.
    sustain
        How long (observed time) a departure must last to be an onset.
    min_change
        Smallest change from the baseline level that counts, as a fraction of
        ``|baseline_level|`` (0.2: 20 %). Has no effect on a zero baseline.
    threshold
        Departure threshold in robust standard deviations of the baseline.
    max_gap
        Longest stretch without samples that does not end a departing run.

    Returns
    -------
    Onset
        With ``onset_at=None`` and ``moved=False`` when nothing sustained was
        found, or when either window holds no data (the levels are then NaN).

    Raises
    ------
    InvalidInput
        An unknown direction, a bad duration, or a series without a UTC time index.
    """
    import numpy as np
    import pandas as pd

    if direction not in ("up", "down", "both"):
        raise InvalidInput(f"direction {direction!r} is not one of 'up', 'down', 'both'")
    sustain_ns = _timedelta(sustain, "sustain").value
    max_gap_ns = _timedelta(max_gap, "max_gap").value
    name = "" if series.name is None else str(series.name)
    values = _clean(series)
    base = _inside(values, baseline)
    inside = _inside(values, window)
    nan = float("nan")
    if base.empty or inside.empty:
        level = float(base.median()) if not base.empty else nan
        return Onset(
            metric=name,
            direction=direction,
            onset_at=None,
            baseline_level=level,
            baseline_scale=nan,
            peak=nan,
            peak_at=None,
            change=nan,
            ratio=nan,
            moved=False,
        )

    level = float(base.median())
    mad = float((base - level).abs().median())
    magnitude = float(max(base.abs().max(), inside.abs().max()))
    scale = max(
        _MAD_TO_SIGMA * mad, _REL_SCALE_FLOOR * abs(level), _MAGNITUDE_SCALE_FLOOR * magnitude
    )
    bar = max(threshold * scale, min_change * abs(level))
    deviation = inside.to_numpy() - level
    times = cast("pd.DatetimeIndex", inside.index).as_unit("ns").asi8
    spacing = np.diff(cast("pd.DatetimeIndex", values.index).as_unit("ns").asi8)
    spacing = spacing[spacing > 0]
    step = int(np.median(spacing)) if spacing.size else 0

    # what the baseline itself did routinely is never a departure: with mostly-zero
    # baselines (rare errors, rate() over sparse counts) the MAD is 0 and the floors
    # are tiny, so its everyday blips would otherwise pass for an onset
    routine_up = float(base.quantile(1 - _ROUTINE_SHARE)) - level
    routine_down = float(base.quantile(_ROUTINE_SHARE)) - level
    masks = {
        "up": (deviation > bar) & (deviation > routine_up),
        "down": (deviation < -bar) & (deviation < routine_down),
    }
    checked = ["up", "down"] if direction == "both" else [direction]
    band = threshold * scale / 2
    noise_band = {
        "up": (deviation > band) & (deviation > routine_up),
        "down": (deviation < -band) & (deviation < routine_down),
    }
    starts = []
    for d in checked:
        first = _first_sustained(times, masks[d], step=step, sustain=sustain_ns, max_gap=max_gap_ns)
        if first is not None:
            starts.append(_left_noise_at(times, noise_band[d], first, max_gap=max_gap_ns))
    onset_at = inside.index[min(starts)] if starts else None

    if direction == "up":
        at = int(np.argmax(deviation))
    elif direction == "down":
        at = int(np.argmin(deviation))
    else:
        at = int(np.argmax(np.abs(deviation)))
    peak = float(inside.iloc[at])
    return Onset(
        metric=name,
        direction=direction,
        onset_at=None if onset_at is None else pd.Timestamp(onset_at),
        baseline_level=level,
        baseline_scale=float(scale),
        peak=peak,
        peak_at=pd.Timestamp(inside.index[at]),
        change=peak - level,
        ratio=peak / level if level > 0 else nan,
        moved=onset_at is not None,
    )


def onset_table(
    metrics: pd.DataFrame,
    *,
    baseline: Window,
    window: Window,
    metrics_to_check: Sequence[str] | None = None,
    directions: Mapping[str, Direction] | None = None,
    sustain: pd.Timedelta | str = "2min",
) -> pd.DataFrame:
    """One :class:`Onset` per metric, the metrics that moved first, by onset time.

    Parameters
    ----------
    metrics
        A long ``metrics`` contract frame (time, metric, query, scope, value);
        scopes of one metric are summed per timestamp.
    baseline, window
        The baseline and incident windows.
    metrics_to_check
        Canonical metric names; ``error_ratio`` is the 5xx share computed from
        ``error_rate`` and ``request_rate``. Default: every metric in the frame,
        plus ``error_ratio`` when both of its inputs are there.
    directions
        Direction per metric, overriding :data:`DEFAULT_DIRECTIONS` (metrics in
        neither are checked both ways).
    sustain
        Passed to :func:`detect_onset`.

    Returns
    -------
    pandas.DataFrame
        Columns: the fields of :class:`Onset`, then ``baseline_events``: what the
        baseline level rests on (events in the baseline for a rate, else samples;
        see :func:`incident_lib.analysis.metrics.baseline_events`). Metrics that
        moved come first, ordered by ``onset_at``; the others follow in the order
        checked.
    """
    import pandas as pd

    if metrics_to_check is None:
        present = list(dict.fromkeys(metrics["metric"].astype(str)))
        has_ratio = {"error_rate", "request_rate"} <= set(present)
        metrics_to_check = present + (["error_ratio"] if has_ratio else [])
    chosen = {**DEFAULT_DIRECTIONS, **(directions or {})}
    rows = []
    for key in metrics_to_check:
        series = metric_values(metrics, key)
        series.name = key
        onset = detect_onset(
            series,
            baseline=baseline,
            window=window,
            direction=chosen.get(key, "both"),
            sustain=sustain,
        )
        rows.append(asdict(onset) | {"baseline_events": baseline_events(metrics, key, baseline)})
    columns = [f.name for f in fields(Onset)] + ["baseline_events"]
    table = pd.DataFrame(rows, columns=columns).astype(_TABLE_DTYPES)
    table["order"] = range(len(table))
    table = table.sort_values(["moved", "onset_at", "order"], ascending=[False, True, True])
    return table.drop(columns="order").reset_index(drop=True)


def describe(found: Onset, *, label: str | None = None, unit: str | None = None) -> str:
    """One sentence for a notebook: when a metric left its baseline, from what to what.

    Parameters
    ----------
    found
        From :func:`detect_onset`; its ``metric`` picks the name, unit and
        rounding from the metric vocabulary (:mod:`incident_lib.core.metrics`).
    label
        Say this instead of the metric's display name (``"The 5xx share"``).
    unit
        Say this unit instead of the vocabulary's (``""``: none).

    Returns
    -------
    str
        Markdown, e.g. ``p95 latency left its baseline 142 ms at **14:13:45 UTC** and
        peaked at 30,045 ms at 14:30 UTC.``
    """
    info = metric_info(found.metric)
    if unit is not None:
        info = replace(info, unit=unit)
    name = label if label is not None else info.name
    base = (
        "no baseline data"
        if math.isnan(found.baseline_level)
        else f"baseline {info.format(found.baseline_level)}"
    )
    if found.onset_at is None:
        return f"{name} shows no sustained departure from its {base} in the incident window."
    return (
        f"{name} left its {base} at **{found.onset_at:%H:%M:%S} UTC** and peaked at "
        f"{info.format(found.peak)} at {found.peak_at:%H:%M} UTC."
    )


#: how loud a moved metric is in the findings (others: ``low``)
_ONSET_SEVERITY: dict[str, Level] = {
    "error_ratio": "high",
    "error_rate": "high",
    "latency_p95": "high",
    "db_connections": "medium",
    "cpu": "medium",
    "memory": "medium",
    "request_rate": "medium",
}


def _amount(info: Metric, value: float) -> str:
    """A value with its unit; a metric without one is named: ``queue depth 7``."""
    if info.unit or info.noun:
        return info.format(value)
    return f"{info.name[:1].lower()}{info.name[1:]} {info.format(value)}"


def _growth(info: Metric, row: Mapping[Hashable, object]) -> str:
    """``3.2× its baseline``, or what the baseline rests on when it is too thin for a ratio."""
    ratio = float(cast("float", row["ratio"]))
    events = row.get("baseline_events")
    counted = float(cast("float", events)) if events is not None else math.nan
    noun = RATE_COUNTS.get(info.key, "sample")
    text = format_growth(ratio, baseline_events=counted, noun=noun)
    if text.endswith("×"):
        return f"{text} its baseline"
    if text == "—":
        return "up from its baseline"
    return text


def _fact_role(key: str, *, first: bool, change: float) -> tuple[str, Role]:
    """The fact and role of a metric's onset.

    Errors and latency are what users see (facts ``errors`` and ``latency``,
    symptoms). Any other metric is its own fact: the first to move, and one
    that rose (traffic, CPU, memory, connections: load and resources between
    a trigger and the symptoms) are the mechanism; one that fell later
    (traffic dropping as requests fail) is a symptom.
    """
    if key.startswith("error_"):
        return "errors", "symptom"
    if key.startswith("latency"):
        return "latency", "symptom"
    if first or not change < 0:
        return key, "mechanism"
    return key, "symptom"


def onset_findings(table: pd.DataFrame, *, ref: str = "") -> list[Finding]:
    """One finding per metric that moved, earliest first (from :func:`onset_table`).

    Metrics are named by their display label (``p95 latency (ms) left its
    baseline ...``) and values carry their unit (``Peak 30,045 ms``), from
    :mod:`incident_lib.core.metrics`. ``error_rate`` is left out when
    ``error_ratio`` moved too (the same story twice); the first metric to move is
    called out as where to look first, and metrics that moved at the same sample
    are called out as a tie (``first to move, tied with DB connections``). A
    growth ratio is stated only when the baseline holds enough events
    (:func:`~incident_lib.core.metrics.format_growth`).

    Facts and roles: the 5xx share or error rate is the fact ``errors`` and the
    latency ``latency`` (symptoms, stated by 02_assess too); any other metric is
    the fact of its key, the mechanism when it moved first or rose, a symptom
    when it fell later.

    Parameters
    ----------
    table
        From :func:`onset_table`.
    ref
        A chart or file the findings point to.

    Returns
    -------
    list of Finding
        Empty when nothing moved.
    """
    moved = table[table["moved"]]
    if {"error_rate", "error_ratio"} <= set(moved["metric"]):
        moved = moved[moved["metric"] != "error_rate"]
    out: list[Finding] = []
    rows = moved.to_dict("records")
    earliest = min((row["onset_at"] for row in rows), default=None)
    tied = [str(row["metric"]) for row in rows if row["onset_at"] == earliest]
    for row in rows:
        key = str(row["metric"])
        info = metric_info(key)
        first = ""
        fact, role = _fact_role(key, first=key in tied, change=float(row["change"]))
        if len(rows) > 1 and key in tied:
            others = [metric_info(k).name for k in tied if k != key]
            first = (
                f" — first to move, tied with {' and '.join(others)}"
                if others
                else " — the first metric to move"
            )
        out.append(
            Finding(
                title=f"{info.label} left its baseline at {row['onset_at']:%H:%M:%S} UTC{first}",
                severity=_ONSET_SEVERITY.get(key, "low"),
                summary=f"Peak {_amount(info, row['peak'])} at {row['peak_at']:%H:%M} UTC, "
                f"{_growth(info, row)} (baseline median {info.format(row['baseline_level'])}).",
                ref=ref,
                fact=fact,
                role=role,
            )
        )
    return out
