"""Metric helpers: one series per canonical key, error share, a health table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["error_ratio", "health_table", "metric_series"]


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


def _in(series: pd.Series, window: Window) -> pd.Series:
    import pandas as pd

    return series[
        (series.index >= pd.Timestamp(window.start)) & (series.index < pd.Timestamp(window.end))
    ]


def health_table(
    metrics: pd.DataFrame, *, window: Window, baseline: Window, keys: list[str] | None = None
) -> pd.DataFrame:
    """Baseline, peak and latest value per metric, with the peak's ratio to baseline.

    Columns: ``metric``, ``baseline`` (median over the baseline window), ``peak``
    (max over the incident window, for every metric), ``peak_at``,
    ``latest`` (last value in the window), ``peak_vs_baseline`` (ratio).
    """
    import pandas as pd

    keys = keys or ["request_rate", "error_ratio", "latency_p95", "cpu", "db_connections"]
    rows = []
    for key in keys:
        series = error_ratio(metrics) if key == "error_ratio" else metric_series(metrics, key)
        inside = _in(series, window)
        before = _in(series, baseline)
        if inside.empty:
            continue
        base = float(before.median()) if not before.empty else float("nan")
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
            }
        )
    return pd.DataFrame(
        rows, columns=["metric", "baseline", "peak", "peak_at", "latest", "peak_vs_baseline"]
    )
