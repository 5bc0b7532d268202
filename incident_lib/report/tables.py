"""Readable tables for notebooks: units, rounding, times, a capped number of rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..charts import METRIC_LABELS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["format_health", "present"]

_FORMATS = {
    "request_rate": "{:.0f}",
    "error_ratio": "{:.2f}",
    "latency_p95": "{:.0f}",
    "cpu": "{:.2f}",
    "memory": "{:.1f}",
    "db_connections": "{:.0f}",
}


def format_health(health: pd.DataFrame) -> pd.DataFrame:
    """The health table with labels, units, rounded values and HH:MM times."""
    import pandas as pd

    rows = []
    for r in health.itertuples():
        title, unit = METRIC_LABELS.get(r.metric, (r.metric, ""))
        fmt = _FORMATS.get(r.metric, "{:.2f}")
        ratio = "—" if r.peak_vs_baseline != r.peak_vs_baseline else f"{r.peak_vs_baseline:.1f}×"
        rows.append(
            {
                "metric": f"{title} ({unit})" if unit else title,
                "baseline": fmt.format(r.baseline),
                "peak": fmt.format(r.peak),
                "peak at (UTC)": f"{r.peak_at:%H:%M}",
                "latest": fmt.format(r.latest),
                "peak vs baseline": ratio,
            }
        )
    return pd.DataFrame(rows).set_index("metric") if rows else pd.DataFrame()


def present(df: pd.DataFrame, *, index: str | None = None) -> pd.DataFrame:
    """A copy for display: times as ``YYYY-MM-DD HH:MM`` (UTC), booleans as ✔, and the
    first column (or ``index``) as the row labels instead of 0, 1, 2..."""
    out = df.copy()
    for col in out.columns:
        if str(out[col].dtype).startswith("datetime64"):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M")
        elif str(out[col].dtype) == "bool":
            out[col] = out[col].map({True: "✔", False: ""})
    if len(out.columns) > 1:
        out = out.set_index(index or out.columns[0])
    return out
