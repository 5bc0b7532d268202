"""Charts: one style, the incident window shaded, deploy markers drawn.

Every function takes an optional ``ax`` (or axes) and returns what it drew on,
so notebooks compose them. matplotlib is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

from .core.metrics import metric_info
from .core.time import Window

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "mark_changes",
    "metric_panels",
    "shade_window",
    "signature_lines",
    "style",
    "usage_panels",
]

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
_ONSET_COLOUR = "#b3261e"


def _x(moment: datetime | pd.Timestamp) -> float:
    """A time as an x value: matplotlib converts it through its date units.

    The stubs of ``axvline``/``axvspan`` only say ``float``; at run time a
    Timestamp is converted like the plotted data (and sets date units on a
    fresh axis), which a number from ``date2num`` would not do.
    """
    import pandas as pd

    return cast(float, pd.Timestamp(moment))


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
    """Shade the incident window on ``ax``.

    Parameters
    ----------
    ax
        The axes, with a time x axis.
    window
        The span to shade.
    label
        Legend label of the shaded span.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    ax.axvspan(
        _x(window.start),
        _x(window.end),
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
    gold, other events magenta; labels sit at the top. The x limits are kept.

    Parameters
    ----------
    ax
        The axes, with a time x axis.
    markers
        One row per change: ``time``, ``label``, ``kind``.
    labels
        Write each change's label at the top of the axes.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    lo, hi = ax.get_xlim()
    for change in markers.to_dict("records"):
        colour = _KIND_COLOUR.get(str(change["kind"]), _DEPLOY_COLOUR)
        at = _x(change["time"])
        ax.axvline(at, color=colour, lw=1.2, ls="--", zorder=3)
        if labels:
            ax.annotate(
                str(change["label"]),
                xy=(at, 1.0),
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

    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.DateFormatter("%H:%M", tz="UTC")  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)


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

    Each panel is titled with the metric's display name and its y axis labelled
    with the unit (:mod:`incident_lib.core.metrics`); values are shown in display
    units (``memory`` in GiB). An empty series draws "no data".

    Parameters
    ----------
    series
        Metric key -> time-indexed series, in frame units (unknown keys get a
        humanised title and no unit).
    window
        Shaded on every panel.
    markers
        Change markers (``time``, ``label``, ``kind``); labelled on the top panel.
    onsets
        Panel key -> detected onset time (``None``/NaT: none), drawn as a red
        dot-dash line.
    thresholds
        Panel key -> a horizontal reference line (e.g. a pool maximum), in frame
        units like the series.
    axes
        Draw into these axes (one per series) instead of a new figure.
    width
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the panels.

    Raises
    ------
    InvalidInput
        No series, or ``axes`` of another length than ``series``.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    from .core.errors import InvalidInput

    style()
    keys = list(series)
    if not keys:
        raise InvalidInput("metric_panels needs at least one series to draw")
    panels: list[Axes]
    if axes is None:
        fig, grid = plt.subplots(
            len(keys), 1, sharex=True, figsize=(width, 1.9 * len(keys) + 0.6), squeeze=False
        )
        panels = [row[0] for row in grid]
    else:
        panels = list(axes)
        if len(panels) != len(keys):
            raise InvalidInput(f"metric_panels got {len(panels)} axes for {len(keys)} series")
        fig = cast("Figure", panels[0].figure)
    for i, (key, ax) in enumerate(zip(keys, panels, strict=True)):
        info = metric_info(key)
        data = series[key] / info.scale
        ax.set_title(info.name)
        ax.set_ylabel(info.unit)
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
            ax.axhline(thresholds[key] / info.scale, color=_ONSET_COLOUR, lw=0.9, ls=":")
        onset = onsets.get(key) if onsets else None
        if onset is not None and not pd.isna(onset):
            ax.axvline(_x(onset), color=_ONSET_COLOUR, lw=1.3, ls="-.", zorder=4)
        if markers is not None and len(markers):
            mark_changes(ax, markers, labels=(i == 0))
        _time_axis(ax)
    panels[-1].set_xlabel("time (UTC)")
    fig.align_ylabels(panels)
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
    width
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, CPU (cores) above memory (GiB), named as in
        :mod:`incident_lib.core.metrics`; "no data" when the container has no samples.
    """
    import matplotlib.pyplot as plt

    style()
    fig, (cpu_ax, mem_ax) = plt.subplots(2, 1, sharex=True, figsize=(width, 4.6))
    cpu, memory = metric_info("cpu"), metric_info("memory")
    rows = usage[usage["container"] == container]
    limits = pods[pods["container"] == container]
    for pod, group in rows.groupby("pod"):
        group = group.sort_values("time")
        cpu_ax.plot(group["time"], group["cpu"] / cpu.scale, lw=0.9, alpha=0.8)
        mem_ax.plot(
            group["time"], group["memory"] / memory.scale, lw=0.9, alpha=0.8, label=str(pod)
        )
    for ax, column, info in ((cpu_ax, "cpu_limit", cpu), (mem_ax, "memory_limit", memory)):
        limit = limits[column].dropna()
        if len(limit):
            top = float(limit.max()) / info.scale
            ax.axhline(top, color=_ONSET_COLOUR, lw=1, ls="--", label="limit")
            ax.annotate(
                "limit",
                xy=(1, top),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                color=_ONSET_COLOUR,
                fontsize=8,
            )
        ax.set_title(f"{info.name} of {container!r} per pod")
        ax.set_ylabel(info.unit)
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

    Parameters
    ----------
    series
        From :func:`incident_lib.analysis.signatures.signature_timeseries`:
        ``time``, ``template``, ``count``.
    window
        Shaded, and left out of the legend.
    markers
        Change markers (``time``, ``label``, ``kind``).
    width
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; "no error events" written on it when ``series`` is empty.
    """
    import matplotlib.pyplot as plt

    style()
    fig, ax = plt.subplots(figsize=(width, 3.6))
    if series.empty:
        ax.text(0.5, 0.5, "no error events", transform=ax.transAxes, ha="center", color="#777")
    for template, group in series.groupby("template", sort=False):
        text = str(template)
        label = text if len(text) <= 70 else text[:67] + "..."
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
