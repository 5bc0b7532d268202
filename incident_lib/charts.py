"""Charts: one style, the incident window shaded, deploy markers drawn.

Every function takes an optional ``ax`` (or axes) and returns what it drew on,
so notebooks compose them. matplotlib is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .core.time import Window

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "METRIC_LABELS",
    "mark_changes",
    "metric_panels",
    "shade_window",
    "style",
    "usage_panels",
]

#: canonical metric key -> (title, unit label)
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "request_rate": ("Requests", "req/s"),
    "error_rate": ("5xx errors", "errors/s"),
    "error_ratio": ("5xx share of requests", "%"),
    "latency_p95": ("p95 latency", "ms"),
    "cpu": ("CPU used", "cores"),
    "memory": ("Memory used", "GiB"),
    "db_connections": ("DB connections", "connections"),
}

_WINDOW_COLOUR = "#f4c7c3"
_DEPLOY_COLOUR = "#2d4f80"
_ROLLBACK_COLOUR = "#1e7b34"
_KIND_COLOUR = {
    "deploy": _DEPLOY_COLOUR,
    "rollback": _ROLLBACK_COLOUR,
    "config": "#7b3fa0",
    "scale": "#777777",
    "commit": "#b8860b",
    "event": "#c2185b",
}
_LINE_COLOUR = "#333333"


def style() -> None:
    """Apply the one chart style (Agg-safe; idempotent)."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 110,
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
            "axes.titlelocation": "left",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.fontsize": 8,
            "legend.frameon": False,
        }
    )


def shade_window(ax: Axes, window: Window, *, label: str = "incident window") -> Axes:
    """Shade the incident window on ``ax``."""
    import pandas as pd

    ax.axvspan(
        pd.Timestamp(window.start),
        pd.Timestamp(window.end),
        color=_WINDOW_COLOUR,
        alpha=0.35,
        lw=0,
        label=label,
        zorder=0,
    )
    return ax


def mark_changes(ax: Axes, markers: pd.DataFrame, *, labels: bool = True) -> Axes:
    """Draw a vertical line per change (``time``, ``label``, ``kind`` columns).

    Colour by ``kind``: deploy blue, rollback green, config purple, scale grey, commit
    gold, other events magenta; labels sit at the top.
    """
    import pandas as pd

    lo, hi = ax.get_xlim()
    for row in markers.itertuples():
        colour = _KIND_COLOUR.get(row.kind, _DEPLOY_COLOUR)
        ax.axvline(pd.Timestamp(row.time), color=colour, lw=1.2, ls="--", zorder=3)
        if labels:
            ax.annotate(
                row.label,
                xy=(pd.Timestamp(row.time), 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -2),
                textcoords="offset points",
                fontsize=8,
                color=colour,
                va="top",
                ha="left",
                rotation=0,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    ax.set_xlim(lo, hi)
    return ax


def _time_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz="UTC"))


def metric_panels(
    series: Mapping[str, pd.Series],
    *,
    window: Window | None = None,
    markers: pd.DataFrame | None = None,
    onsets: Mapping[str, pd.Timestamp] | None = None,
    thresholds: Mapping[str, float] | None = None,
    axes: Sequence[Axes] | None = None,
    width: float = 10.0,
) -> Figure:
    """Small multiples sharing the time axis, one panel per series.

    Parameters
    ----------
    series
        Panel key (see :data:`METRIC_LABELS`) -> time-indexed series.
    window
        Shaded on every panel.
    markers
        Change markers (``time``, ``label``, ``kind``); labelled on the top panel.
    onsets
        Panel key -> detected onset time, drawn as a red dot-dash line.
    thresholds
        Panel key -> a horizontal reference line (e.g. a pool maximum).
    axes
        Draw into these axes instead of a new figure.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    style()
    keys = list(series)
    if axes is None:
        fig, axes = plt.subplots(
            len(keys), 1, sharex=True, figsize=(width, 1.9 * len(keys) + 0.6), squeeze=False
        )
        axes = [a[0] for a in axes]
    else:
        fig = axes[0].figure
    for i, (key, ax) in enumerate(zip(keys, axes, strict=True)):
        data = series[key]
        title, unit = METRIC_LABELS.get(key, (key, ""))
        if key == "memory":
            data = data / 2**30
        ax.set_title(title)
        ax.set_ylabel(unit)
        if data.empty:
            ax.text(
                0.5,
                0.5,
                "no data",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="#777",
                fontsize=11,
            )
            ax.set_yticks([])
        else:
            ax.plot(data.index, data.to_numpy(), color=_LINE_COLOUR, lw=1.1)
            ax.set_ylim(bottom=0)
        if window is not None:
            shade_window(ax, window)
        if thresholds and key in thresholds:
            ax.axhline(thresholds[key], color="#b3261e", lw=0.9, ls=":")
        if onsets and onsets.get(key) is not None and not pd.isna(onsets[key]):
            ax.axvline(onsets[key], color="#b3261e", lw=1.3, ls="-.", zorder=4)
        if markers is not None and len(markers):
            mark_changes(ax, markers, labels=(i == 0))
        _time_axis(ax)
    axes[-1].set_xlabel("time (UTC)")
    fig.align_ylabels(axes)
    fig.tight_layout()
    return fig


def usage_panels(
    usage: pd.DataFrame,
    pods: pd.DataFrame,
    *,
    container: str,
    window: Window | None = None,
    width: float = 10.0,
) -> Figure:
    """CPU and memory of one container across pods, one thin line per pod, limit dashed.

    Parameters
    ----------
    usage
        ``pod_usage`` frame (cpu in cores, memory in bytes).
    pods
        ``pods`` frame, for the container's limits.
    container
        The container to draw (usually the service's main container).
    window
        Shaded on both panels.
    """
    import matplotlib.pyplot as plt

    style()
    fig, (cpu_ax, mem_ax) = plt.subplots(2, 1, sharex=True, figsize=(width, 4.6))
    rows = usage[usage["container"] == container]
    limits = pods[pods["container"] == container]
    for pod, group in rows.groupby("pod"):
        group = group.sort_values("time")
        cpu_ax.plot(group["time"], group["cpu"], lw=0.9, alpha=0.8)
        mem_ax.plot(group["time"], group["memory"] / 2**30, lw=0.9, alpha=0.8, label=pod)
    for ax, column, scale, title, unit in (
        (cpu_ax, "cpu_limit", 1, f"CPU of {container!r} per pod", "cores"),
        (mem_ax, "memory_limit", 2**30, f"Memory of {container!r} per pod", "GiB"),
    ):
        limit = limits[column].dropna()
        if len(limit):
            ax.axhline(limit.max() / scale, color="#b3261e", lw=1, ls="--", label="limit")
            ax.annotate(
                "limit",
                xy=(1, limit.max() / scale),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                color="#b3261e",
                fontsize=8,
            )
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        if window is not None:
            shade_window(ax, window)
        _time_axis(ax)
    if rows.empty:
        for ax in (cpu_ax, mem_ax):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="#777")
    mem_ax.set_xlabel("time (UTC)")
    fig.tight_layout()
    return fig


def signature_lines(
    series: pd.DataFrame,
    *,
    window: Window | None = None,
    markers: pd.DataFrame | None = None,
    width: float = 10.0,
) -> Figure:
    """Events per minute of each top signature (long frame: time, template, count).

    One line per signature, labelled with its template cut to 70 characters;
    the window shaded and changes marked.
    """
    import matplotlib.pyplot as plt

    style()
    fig, ax = plt.subplots(figsize=(width, 3.6))
    if series.empty:
        ax.text(0.5, 0.5, "no error events", transform=ax.transAxes, ha="center", color="#777")
    for template, group in series.groupby("template", sort=False):
        label = template if len(template) <= 70 else template[:67] + "..."
        ax.plot(group["time"], group["count"], lw=1.2, label=label)
    ax.set_title("Error events per minute, top signatures")
    ax.set_ylabel("events / min")
    ax.set_ylim(bottom=0)
    if window is not None:
        shade_window(ax, window)
    if markers is not None and len(markers):
        mark_changes(ax, markers)
    _time_axis(ax)
    ax.set_xlabel("time (UTC)")
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels, strict=True) if lab != "incident window"]
    if keep:
        ax.legend(
            *zip(*keep, strict=True),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.22),
            ncol=1,
            fontsize=8,
        )
    fig.tight_layout()
    return fig
