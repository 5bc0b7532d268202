"""Readable tables for notebooks: units, rounding, times, a capped number of rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..charts import METRIC_LABELS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "format_changes",
    "format_health",
    "format_onsets",
    "format_signatures",
    "format_usage",
    "present",
]

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
    """A copy for display: times as ``HH:MM`` (UTC; with the date when they span
    several days), booleans as ✔, and the first column (or ``index``) as the row
    labels instead of 0, 1, 2..."""
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
    return out


def format_usage(limits: pd.DataFrame) -> pd.DataFrame:
    """The limits-vs-usage table with cores, GiB and percentages of the limit."""
    import pandas as pd

    def pct(value: float) -> str:
        return "—" if value != value else f"{value:.0%}"

    def gib(value: float) -> str:
        return "—" if value != value else f"{value / 2**30:.2f}"

    rows = [
        {
            "pod": r.pod,
            "container": r.container,
            "CPU p95 (cores)": f"{r.cpu_p95:.2f}",
            "CPU peak": f"{r.cpu_peak:.2f}",
            "CPU limit": "—" if r.cpu_limit != r.cpu_limit else f"{r.cpu_limit:g}",
            "CPU % of limit": pct(r.cpu_of_limit),
            "memory peak (GiB)": gib(r.memory_peak),
            "memory limit": gib(r.memory_limit),
            "memory % of limit": pct(r.memory_of_limit),
            "flag": r.flag,
        }
        for r in limits.itertuples()
    ]
    return pd.DataFrame(rows).set_index(["pod", "container"]) if rows else pd.DataFrame()


def format_changes(ranked: pd.DataFrame) -> pd.DataFrame:
    """Ranked changes: time, what, lead to the onset in words, score, candidate mark."""
    import pandas as pd

    def lead(value: pd.Timedelta) -> str:
        if value != value:  # NaT: no onset
            return "—"
        minutes = value / pd.Timedelta(minutes=1)
        if abs(minutes) < 1:
            return "at the onset"
        text = f"{abs(minutes):.0f} min" if abs(minutes) < 120 else f"{abs(minutes) / 60:.1f} h"
        if abs(minutes) >= 2 * 24 * 60:
            text = f"{abs(minutes) / 1440:.0f} days"
        return f"{text} {'before' if minutes > 0 else 'after'}"

    rows = [
        {
            "time (UTC)": f"{r.time:%Y-%m-%d %H:%M}",
            "kind": r.kind,
            "change": r.label,
            "detail": r.detail,
            "to the onset": lead(r.lead),
            "score": f"{r.score:.2f}",
            "candidate": "✔" if r.candidate else "",
        }
        for r in ranked.itertuples()
    ]
    return pd.DataFrame(rows).set_index("time (UTC)") if rows else pd.DataFrame()


def format_signatures(table: pd.DataFrame) -> pd.DataFrame:
    """Error signatures for reading: times as HH:MM, the rate change as ``new`` or ``3.2×``."""
    import math

    import pandas as pd

    def change(row) -> str:
        if row.is_new and not row.baseline_count:
            return "new"
        ratio = row.rate_change
        return "—" if ratio != ratio else ("new" if math.isinf(ratio) else f"{ratio:.1f}×")

    rows = [
        {
            "template": r.template,
            "events": r.count,
            "level": r.level,
            "first (UTC)": f"{r.first_seen:%H:%M}",
            "last (UTC)": f"{r.last_seen:%H:%M}",
            "pods": r.pods,
            "baseline": r.baseline_count,
            "vs baseline": change(r),
        }
        for r in table.itertuples()
    ]
    return pd.DataFrame(rows).set_index("template") if rows else pd.DataFrame()


def format_onsets(table: pd.DataFrame) -> pd.DataFrame:
    """The onset table: metrics that moved first, times as HH:MM:SS, values rounded."""
    import pandas as pd

    def num(value: float) -> str:
        if value != value:
            return "—"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"

    rows = []
    for r in table.itertuples():
        title, unit = METRIC_LABELS.get(r.metric, (r.metric, ""))
        scale = 2**30 if r.metric == "memory" else 1
        rows.append(
            {
                "metric": f"{title} ({unit})" if unit else title,
                "moved": "✔" if r.moved else "",
                "onset (UTC)": "—"
                if r.onset_at is None or r.onset_at != r.onset_at
                else f"{r.onset_at:%H:%M:%S}",
                "baseline": num(r.baseline_level / scale),
                "peak": num(r.peak / scale),
                "peak at": "—" if r.peak_at != r.peak_at else f"{r.peak_at:%H:%M}",
                "× baseline": "—" if r.ratio != r.ratio else f"{r.ratio:.1f}×",
            }
        )
    return pd.DataFrame(rows).set_index("metric") if rows else pd.DataFrame()
