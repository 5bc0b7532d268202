"""Metric helpers: one series per canonical key, error share, counting rates, a health table.

Counting a rate (``request_rate``, ``error_rate``: per second) integrates it: each
sample counts for the time to the next sample, at most one sampling step (the
median spacing of the series), never past the window end; a hole in the data adds
nothing rather than being guessed at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RATE_COUNTS",
    "baseline_events",
    "error_ratio",
    "health_table",
    "integrate",
    "metric_series",
    "sample_seconds",
    "series",
]

#: per-second rates and what one counted unit of each is (for "N events in the baseline")
RATE_COUNTS: dict[str, str] = {
    "request_rate": "request",
    "error_rate": "failed request",
    "error_ratio": "failed request",
}


def metric_series(metrics: pd.DataFrame, metric: str) -> pd.Series:
    """The time-indexed series of one canonical metric (scopes summed per timestamp).

    Returns an empty float series when the metric is absent.
    """
    import pandas as pd

    rows = metrics[metrics["metric"] == metric]
    if rows.empty:
        return pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"), name=metric)
    series = rows.groupby("time")["value"].sum().sort_index()
    series.name = metric
    return series


def error_ratio(metrics: pd.DataFrame) -> pd.Series:
    """5xx share of requests in percent (``error_rate / request_rate * 100``)."""
    errors = metric_series(metrics, "error_rate")
    requests = metric_series(metrics, "request_rate")
    aligned = (errors / requests.where(requests > 0)).dropna() * 100
    aligned.name = "error_ratio"
    return aligned


def series(metrics: pd.DataFrame, key: str) -> pd.Series:
    """The time series of ``key``: a stored metric, or the derived ``error_ratio``.

    ``error_ratio`` (the 5xx share in percent) is computed from ``error_rate`` and
    ``request_rate``; every other key is read as stored (:func:`metric_series`).
    """
    return error_ratio(metrics) if key == "error_ratio" else metric_series(metrics, key)


def sample_seconds(series: pd.Series, window: Window) -> tuple[pd.Series, pd.Series]:
    """The samples inside ``window`` and the seconds each stands for (see the module docstring).

    Parameters
    ----------
    series
        A time-indexed series (NaN samples are dropped: they are holes).
    window
        The window counted.

    Returns
    -------
    tuple of pandas.Series
        The samples inside the window, and the seconds each stands for (same index).
    """
    import numpy as np
    import pandas as pd

    series = series.dropna().sort_index()
    times = cast("pd.DatetimeIndex", series.index).as_unit("ns").asi8
    spacing = np.diff(times)
    step = int(np.median(spacing[spacing > 0])) if (spacing > 0).any() else 0
    to_next = np.append(spacing, step)
    end = pd.Timestamp(window.end).as_unit("ns").value
    seconds = np.minimum(np.minimum(to_next, step), end - times) / 1e9
    inside = (times >= pd.Timestamp(window.start).as_unit("ns").value) & (times < end)
    return series[inside], pd.Series(seconds[inside], index=series.index[inside])


def integrate(series: pd.Series, window: Window) -> tuple[float, float]:
    """A per-second rate integrated over ``window`` (a count), and the seconds covered."""
    values, seconds = sample_seconds(series, window)
    return float((values * seconds).sum()), float(seconds.sum())


def baseline_events(metrics: pd.DataFrame, key: str, baseline: Window) -> float:
    """What the baseline value of ``key`` rests on: events for a rate, else samples.

    Parameters
    ----------
    metrics
        ``metrics`` contract frame.
    key
        A canonical metric key; for the rates of :data:`RATE_COUNTS` the count is
        the integrated number of requests (or failed requests, for ``error_rate``
        and ``error_ratio``) in the baseline; for any other metric the number of
        samples in the baseline window.
    baseline
        The baseline window.

    Returns
    -------
    float
        The count (0 when there is no data).
    """
    if key in RATE_COUNTS:
        source = "request_rate" if key == "request_rate" else "error_rate"
        return integrate(metric_series(metrics, source), baseline)[0]
    values, _ = sample_seconds(metric_series(metrics, key), baseline)
    return float(len(values))


def _in(series: pd.Series, window: Window) -> pd.Series:
    import pandas as pd

    return series[
        (series.index >= pd.Timestamp(window.start)) & (series.index < pd.Timestamp(window.end))
    ]


def health_table(
    metrics: pd.DataFrame, *, window: Window, baseline: Window, keys: list[str] | None = None
) -> pd.DataFrame:
    """Baseline, peak and latest value per metric, with the peak's ratio to baseline.

    Columns: ``metric``, ``baseline`` (median over the baseline window; for
    ``error_ratio`` the request-weighted share ``Σ errors / Σ requests``, the
    same figure the impact estimate uses), ``peak`` (max over the incident
    window, for every metric), ``peak_at``, ``latest`` (last value in the
    window), ``peak_vs_baseline`` (ratio) and ``baseline_events`` (what the
    baseline rests on, see :func:`baseline_events`).
    """
    import pandas as pd

    keys = keys or ["request_rate", "error_ratio", "latency_p95", "cpu", "db_connections"]
    rows = []
    for key in keys:
        values = series(metrics, key)
        inside = _in(values, window)
        before = _in(values, baseline)
        if inside.empty:
            continue
        base = float(before.median()) if not before.empty else float("nan")
        if key == "error_ratio" and not before.empty:
            requests, _ = integrate(metric_series(metrics, "request_rate"), baseline)
            failed, _ = integrate(metric_series(metrics, "error_rate"), baseline)
            base = failed / requests * 100 if requests > 0 else base
        peak_at = inside.idxmax()
        peak = float(inside.max())
        ratio = peak / base if base and base == base else float("nan")
        rows.append(
            {
                "metric": key,
                "baseline": base,
                "peak": peak,
                "peak_at": peak_at,
                "latest": float(inside.iloc[-1]),
                "peak_vs_baseline": ratio,
                "baseline_events": baseline_events(metrics, key, baseline),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "metric",
            "baseline",
            "peak",
            "peak_at",
            "latest",
            "peak_vs_baseline",
            "baseline_events",
        ],
    )
