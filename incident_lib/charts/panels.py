"""Charts: one style, the incident window shaded, changes marked and keyed.

Every function takes an optional ``ax`` (or axes) and returns what it drew on,
so notebooks compose them. matplotlib is imported inside the functions.

Changes are numbered badges at the top of the chart (stacked so that close
changes never overwrite each other) with a key under the chart: number, time,
kind and label, drawn in the change's colour and line style. Text that comes
from the systems under investigation (labels, templates, pod names) is drawn as
plain text: a ``$`` never starts mathtext.

The incident's timeline (:func:`timeline_chart`) draws events in lanes under
the error rate; they are numbered the same way and keyed under the chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from ..core.metrics import format_share, metric_info
from ..core.text import shorten
from ..core.time import Window
from ._layout import fit, mark_laid_out, measuring, pack_once, text_renderer

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

    from ..core.timeline import Event

__all__ = [
    "change_key",
    "mark_changes",
    "metric_panels",
    "shade_window",
    "signature_lines",
    "stack_badges",
    "style",
    "timeline_chart",
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
    "event": "#00897b",
}
#: how each kind of change is named in a chart's key
_KIND_NAME = {
    "deploy": "deploy",
    "rollback": "rollback",
    "config": "config change",
    "scale": "scaling",
    "commit": "commit",
    "event": "event",
}
_LINE_COLOUR = "#333333"
_ONSET_COLOUR = "#b3261e"
_OTHER_POD_COLOUR = "#b5b5b5"
#: colours of the pods a per-pod chart highlights (no red: the limit is red; no grey)
_POD_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#e377c2")
#: the gid of a change's numbered badge (see :func:`mark_changes`)
_BADGE_GID = "incident-change-badge"
_BADGE_PAD = 0.25  # bbox padding of a badge, in font sizes
_KEY_CHARS = 90  # a change's label in the key is cut to this many characters
_ONSET_LABEL = "detected onset (first sustained departure from the baseline)"


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


def _times(values: object) -> np.ndarray[Any, Any]:
    """Times (a series, an index, a list of Timestamps) as naive UTC ``datetime64``.

    matplotlib converts such an array in one vectorised step; tz-aware Timestamps
    (what a series of UTC times gives it) are converted one at a time, again each
    time a line recomputes its path. The numbers drawn are the same.
    """
    import pandas as pd

    index = pd.DatetimeIndex(cast("list[datetime]", values))
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.to_numpy()


def _utc(moment: object) -> pd.Timestamp:
    """A marker's time as a UTC Timestamp (naive times are taken as UTC)."""
    import pandas as pd

    stamp = pd.Timestamp(cast("datetime", moment))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _inside(limits: tuple[float, float], moment: pd.Timestamp) -> bool:
    """Whether ``moment`` lies inside the x ``limits`` of a time axis."""
    import matplotlib.dates as mdates

    lo, hi = sorted(limits)
    return lo <= float(mdates.date2num(moment)) <= hi  # type: ignore[no-untyped-call]


def change_key(number: int, moment: object, kind: str, label: str) -> str:
    """The key text of one numbered change: ``"2 · 17:06 · scaling: HPA checkout scaled up"``.

    Parameters
    ----------
    number
        The number on the change's badge.
    moment
        When the change happened (shown as ``HH:MM`` UTC).
    kind
        ``deploy``, ``rollback``, ``config``, ``scale``, ``commit`` or ``event``;
        other kinds are shown as they are.
    label
        The change's label, cut at a word boundary when long.

    Returns
    -------
    str
        One line of text.
    """
    name = _KIND_NAME.get(kind, kind or "change")
    return f"{number} · {_utc(moment):%H:%M} · {name}: {shorten(label, _KEY_CHARS)}"


def _badge_box(colour: str) -> dict[str, object]:
    """The rounded white box of a numbered badge, edged in ``colour``."""
    return {"boxstyle": f"round,pad={_BADGE_PAD}", "fc": "white", "ec": colour, "lw": 0.8}


def _top_badge(ax: Axes, number: int, x: float, colour: str) -> None:
    """A numbered badge hanging from the top of ``ax`` at ``x`` (data coordinates)."""
    ax.annotate(
        str(number),
        xy=(x, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(0, -3),
        textcoords="offset points",
        fontsize=8,
        fontweight="bold",
        color=colour,
        va="top",
        ha="center",
        zorder=6,
        gid=_BADGE_GID,
        bbox=_badge_box(colour),
    )


def mark_changes(ax: Axes, markers: pd.DataFrame, *, labels: bool = True) -> Axes:
    """Draw a dashed vertical line per change (``time``, ``label``, ``kind`` columns).

    Colour by ``kind``: deploy blue, rollback green, config purple, scale grey, commit
    gold, other events (a campaign, a manual note) teal. With ``labels``, every change
    inside the x limits gets a numbered badge at the top of the axes, in time order
    (lines are drawn in the order of ``markers``); badges of close
    changes are stacked so that none overlaps another, and they are drawn above
    every line (an onset line never cuts one). Each numbered line carries its key
    text (:func:`change_key`) as its legend label, so ``ax.legend()`` or the
    chart functions of this module show the key. The x limits are kept.

    Parameters
    ----------
    ax
        The axes, with a time x axis.
    markers
        One row per change: ``time``, ``label``, ``kind`` (other columns are ignored).
    labels
        Number the changes and give their lines key labels.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    lo, hi = ax.get_xlim()
    if not len(markers):
        return ax
    moments = [_utc(t) for t in markers["time"]]
    numbers: dict[int, int] = {}
    if labels:
        shown = [i for i, at in enumerate(moments) if _inside((lo, hi), at)]
        first = 1 + len(_badges(ax))
        for n, i in enumerate(sorted(shown, key=lambda i: moments[i]), start=first):
            numbers[i] = n
    for i, (at, kind_value, label) in enumerate(
        zip(moments, markers["kind"], markers["label"], strict=True)
    ):
        kind = str(kind_value)
        colour = _KIND_COLOUR.get(kind, _DEPLOY_COLOUR)
        line = ax.axvline(_x(at), color=colour, lw=1.2, ls="--", zorder=3)
        if i not in numbers:
            continue
        line.set_label(change_key(numbers[i], at, kind, str(label)))
        _top_badge(ax, numbers[i], _x(at), colour)
    ax.set_xlim(lo, hi)
    stack_badges(ax)
    return ax


def _badges(ax: Axes) -> list[Artist]:
    return [t for t in ax.texts if t.get_gid() == _BADGE_GID]


def stack_badges(ax: Axes) -> Axes:
    """Place the change badges of ``ax`` in rows so that no two overlap.

    Badges are taken left to right; each goes into the highest row where it
    clears the badge before it by a small gap. Call it again after the layout of
    the figure changed (the chart functions of this module do).

    Parameters
    ----------
    ax
        Axes that :func:`mark_changes` numbered.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    from matplotlib.text import Annotation

    badges = [b for b in _badges(ax) if isinstance(b, Annotation)]
    if not badges:
        return ax
    dpi = ax.figure.dpi
    for badge in badges:
        badge.xyann = (0.0, -3.0)
    # each badge is measured by the renderer that measured it last (the layout's, once
    # laid out), else by one at the figure's resolution; never the canvas's own renderer,
    # which would replace the one that measured the layout (and saves the figure)
    fresh = None
    spans = []
    for badge in badges:
        renderer = getattr(badge, "_renderer", None)
        if renderer is None:
            renderer = fresh = fresh or text_renderer(cast("Figure", ax.figure))
        box = badge.get_window_extent(renderer)
        size = float(badge.get_fontsize())
        pad = _BADGE_PAD * size * dpi / 72
        spans.append((box.x0 - pad, box.x1 + pad, box.height / dpi * 72, size))
    rows = _assign_rows([(left, right) for left, right, _, _ in spans], gap=3 * dpi / 72)
    for (_, _, height, size), badge, row in zip(spans, badges, rows, strict=True):
        step = height + 2 * _BADGE_PAD * size + 2.5
        badge.xyann = (0.0, -3.0 - row * step)
    return ax


def _assign_rows(spans: Sequence[tuple[float, float]], *, gap: float) -> list[int]:
    """The row of each ``(left, right)`` span so that spans in one row keep ``gap`` apart.

    Spans are taken left to right; each goes into the first row whose last span
    ends at least ``gap`` before it starts (a new row when none does).
    """
    rows = [0] * len(spans)
    rights: list[float] = []
    for i in sorted(range(len(spans)), key=lambda i: spans[i]):
        left, right = spans[i]
        row = next((r for r, edge in enumerate(rights) if edge + gap <= left), len(rights))
        if row == len(rights):
            rights.append(right)
        else:
            rights[row] = right
        rows[i] = row
    return rows


def _key_legend(
    ax: Axes, handles: list[Artist], labels: list[str], *, below: float, ncol: int = 1
) -> Legend:
    """One legend under ``ax`` (``below`` inches under its bottom edge), text as is."""
    from matplotlib.transforms import ScaledTranslation

    fig = ax.figure
    legend = ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(0.0, 0.0),
        bbox_transform=ax.transAxes + ScaledTranslation(0, -below, fig.dpi_scale_trans),
        borderaxespad=0.0,
        ncol=ncol,
        fontsize=8,
        handlelength=2.6,
    )
    for text in legend.get_texts():
        text.set_parse_math(False)  # a `$` in a label is a dollar sign
    return pack_once(legend)


def _legend_entries(axes: Sequence[Axes]) -> tuple[list[Artist], list[str]]:
    """Every labelled artist of ``axes``, each label once, in order."""
    handles: list[Artist] = []
    labels: list[str] = []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


def _time_axis(ax: Axes) -> None:
    from ._layout import date_formatter, date_locator

    ax.xaxis.set_major_locator(date_locator())
    ax.xaxis.set_major_formatter(date_formatter("%H:%M"))


def _key_rows(markers: pd.DataFrame | None) -> int:
    return 0 if markers is None else len(markers)


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
    """Small multiples sharing the time axis, one panel per series, with a key underneath.

    Each panel is titled with the metric's display name and its y axis labelled
    with the unit (:mod:`incident_lib.core.metrics`); values are shown in display
    units (``memory`` in GiB). An empty series draws "no data". The key under the
    bottom panel names every style drawn: the incident window, the onset line,
    thresholds, and each change by number, time, kind and label (only what is
    there: no change, no change in the key).

    Parameters
    ----------
    series
        Metric key -> time-indexed series, in frame units (unknown keys get a
        humanised title and no unit).
    window
        Shaded on every panel.
    markers
        Changes of any kind (``time``, ``label``, ``kind``): rollouts, config
        changes, scaling, commits, events such as a campaign; e.g. from
        :func:`incident_lib.analysis.changes.changes_timeline`. Lines on every
        panel, numbered on the top panel (:func:`mark_changes`).
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

    from ..core.errors import InvalidInput

    style()
    keys = list(series)
    if not keys:
        raise InvalidInput("metric_panels needs at least one series to draw")
    panels: list[Axes]
    if axes is None:
        key_height = 0.17 * (3 + _key_rows(markers)) + 0.5
        fig, grid = plt.subplots(
            len(keys),
            1,
            sharex=True,
            figsize=(width, 1.9 * len(keys) + 0.6 + key_height),
            squeeze=False,
        )
        panels = [row[0] for row in grid]
    else:
        panels = list(axes)
        if len(panels) != len(keys):
            raise InvalidInput(f"metric_panels got {len(panels)} axes for {len(keys)} series")
        fig = cast("Figure", panels[0].figure)
    onset_drawn = threshold_drawn = False
    for i, (key, ax) in enumerate(zip(keys, panels, strict=True)):
        info = metric_info(key)
        data = series[key] / info.scale
        ax.set_title(info.name, y=1.0 if axes is None else None)  # y: placed once, by fit
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
            ax.plot(_times(data.index), data.to_numpy(), color=_LINE_COLOUR, lw=1.1)
            ax.set_ylim(bottom=0)
        if window is not None:
            shade_window(ax, window)
        if thresholds and key in thresholds:
            ax.axhline(
                thresholds[key] / info.scale,
                color=_ONSET_COLOUR,
                lw=0.9,
                ls=":",
                label="_nolegend_" if threshold_drawn else "threshold",
            )
            threshold_drawn = True
        onset = onsets.get(key) if onsets else None
        if onset is not None and not pd.isna(onset):
            ax.axvline(
                _x(onset),
                color=_ONSET_COLOUR,
                lw=1.3,
                ls="-.",
                zorder=4,
                label="_nolegend_" if onset_drawn else _ONSET_LABEL,
            )
            onset_drawn = True
        if markers is not None and len(markers):
            mark_changes(ax, markers, labels=(i == 0))
        _time_axis(ax)
    panels[-1].set_xlabel("time (UTC)")
    handles, labels = _legend_entries(panels)
    if handles:
        styles = ("incident window", _ONSET_LABEL, "threshold")
        rank = {label: styles.index(label) if label in styles else len(styles) for label in labels}
        pairs = sorted(zip(handles, labels, strict=True), key=lambda p: rank[p[1]])
        _key_legend(panels[-1], [h for h, _ in pairs], [lab for _, lab in pairs], below=0.5)
    if axes is None:
        fit(fig, panels)  # y labels aligned, every text inside: saved as it is
    else:  # the caller's figure: laid out as before
        fig.align_ylabels(panels)
        fig.tight_layout()
    stack_badges(panels[0])
    return fig


def _terminations(limits: pd.DataFrame) -> list[tuple[str, str, pd.Timestamp | None]]:
    """(pod, last termination reason, when or None) of each row of a ``pods`` frame."""
    import pandas as pd

    size = len(limits)
    reasons = limits.get("last_termination_reason", pd.Series([""] * size, index=limits.index))
    moments = limits.get("last_termination_at", pd.Series([pd.NaT] * size, index=limits.index))
    return [
        (str(pod), str(reason), None if pd.isna(at) else _utc(at))
        for pod, reason, at in zip(
            limits["pod"], reasons.fillna("").astype(str), moments, strict=True
        )
    ]


def _pods_that_matter(
    usage: pd.DataFrame,
    pods: pd.DataFrame,
    container: str,
    *,
    window: Window | None,
    most: int,
) -> dict[str, str]:
    """Pod -> why it matters, most important first: OOMKilled, restarted, nearest a limit.

    Every OOMKilled or restarted pod of ``container`` is named; pods with the
    highest peak share of a limit (:func:`incident_lib.analysis.resources.limits_vs_usage`,
    in ``window``: a deleted pod is compared with its template's limit) fill up to ``most``.
    """
    import pandas as pd

    from ..analysis.resources import limits_vs_usage

    limits = pods[pods["container"] == container]
    why: dict[str, str] = {}
    for pod, reason, at in _terminations(limits):
        if "oom" in reason.lower() and str(pod) not in why:
            why[str(pod)] = f"{reason} {at:%H:%M}" if at is not None else reason
    restarts_of = limits["restarts"] if "restarts" in limits else [0] * len(limits)
    for pod, restarts in zip(limits["pod"], restarts_of, strict=True):
        count = 0 if pd.isna(restarts) else int(restarts)
        if count > 0 and str(pod) not in why:
            why[str(pod)] = f"restarted {count}×"
    table = limits_vs_usage(pods, usage[usage["container"] == container], window=window)
    for pod, cpu_share, memory_share in zip(
        table["pod"], table["cpu_of_limit"], table["memory_of_limit"], strict=True
    ):
        if len(why) >= most:
            break
        shares = [(float(v), n) for v, n in ((cpu_share, "cpu"), (memory_share, "memory"))]
        known = [(v, n) for v, n in shares if not pd.isna(v)]
        if str(pod) in why or not known:
            continue
        share, name = max(known)
        why[str(pod)] = f"peak {format_share(share)} of its {name} limit"
    return why


def usage_panels(
    usage: pd.DataFrame,
    pods: pd.DataFrame,
    *,
    container: str,
    window: Window | None = None,
    width: float = 10.0,
    highlight: int = 4,
) -> Figure:
    """CPU and memory of one container across pods, one line per pod, limit dashed.

    The pods that matter are drawn in colour and named in the key under the
    chart, with the reason: OOMKilled (with a ▼ at the limit when it happened),
    restarted, then the highest peak share of a limit; every other pod is a thin
    grey line ("other pods (N)" in the key). With few pods, all are named.

    Parameters
    ----------
    usage
        ``pod_usage`` frame (cpu in cores, memory in bytes).
    pods
        ``pods`` frame, for the container's limits, restarts and terminations.
    container
        The container to draw (usually the service's main container).
    window
        Shaded on both panels.
    width
        Figure width in inches.
    highlight
        At least this many pods are named (every OOMKilled or restarted pod is).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, CPU (cores) above memory (GiB), named as in
        :mod:`incident_lib.core.metrics`; "no data" when the container has no samples.
    """
    import matplotlib.pyplot as plt

    style()
    rows = usage[usage["container"] == container]
    limits = pods[pods["container"] == container]
    names = sorted(str(p) for p in rows["pod"].unique())
    matter = _pods_that_matter(usage, pods, container, window=window, most=highlight)
    if len(names) <= highlight:
        matter |= {p: "" for p in names if p not in matter}
    others = [p for p in names if p not in matter]
    key_rows = len(matter) + (1 if others else 0) + 2
    fig, (cpu_ax, mem_ax) = plt.subplots(
        2, 1, sharex=True, figsize=(width, 4.6 + 0.17 * key_rows + 0.4)
    )
    cpu, memory = metric_info("cpu"), metric_info("memory")
    colours = {p: _POD_COLOURS[i % len(_POD_COLOURS)] for i, p in enumerate(matter)}
    first_other = True
    for pod, group in rows.groupby("pod"):
        name = str(pod)
        group = group.sort_values("time")
        if name in matter:
            style_ = {"color": colours[name], "lw": 1.6, "alpha": 0.95, "zorder": 3}
            reason = matter[name]
            label = f"{name}: {reason}" if reason else name
        else:
            style_ = {"color": _OTHER_POD_COLOUR, "lw": 0.8, "alpha": 0.7, "zorder": 2}
            label = f"other pods ({len(others)})" if first_other else "_nolegend_"
            first_other = False
        stamps = _times(group["time"])
        cpu_ax.plot(stamps, group["cpu"] / cpu.scale, **style_)
        mem_ax.plot(
            stamps,
            group["memory"] / memory.scale,
            label=label,
            **style_,
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
        ax.set_title(f"{info.name} of {container!r} per pod", parse_math=False, y=1.0)
        ax.set_ylabel(info.unit)
        ax.set_ylim(bottom=0)
        if window is not None:
            shade_window(ax, window)
        _time_axis(ax)
    memory_limit = limits["memory_limit"].dropna()
    for pod, reason, at in _terminations(limits):
        if at is not None and "oom" in reason.lower() and pod in colours and len(memory_limit):
            level = float(memory_limit.max()) / memory.scale
            mem_ax.plot([_x(at)], [level], marker="v", ms=8, color=colours[str(pod)], zorder=5)
    if rows.empty:
        for ax in (cpu_ax, mem_ax):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="#777")
    mem_ax.set_xlabel("time (UTC)")
    handles, labels = _legend_entries([mem_ax])
    entries = dict(zip(labels, handles, strict=True))
    named = [f"{p}: {why}" if why else p for p, why in matter.items()]
    order = [*named, f"other pods ({len(others)})", "limit"]
    keep = [label for label in order if label in entries]
    if keep:
        _key_legend(mem_ax, [entries[label] for label in keep], keep, below=0.5)
    return fit(fig, [cpu_ax, mem_ax])


def _signature_labels(series: pd.DataFrame, keys: list[str]) -> dict[str, str]:
    """Legend text of each signature: its template cut at a word boundary, never twice the same.

    Two signatures whose cut templates read the same get their signature id
    appended (numbered when the frame has none).
    """
    templates = (
        dict(zip(series["signature"].astype(str), series["template"].astype(str), strict=True))
        if "signature" in series.columns
        else {k: k for k in keys}
    )
    short = {k: shorten(templates[k], 70) for k in keys}
    seen: dict[str, list[str]] = {}
    for key in keys:
        seen.setdefault(short[key], []).append(key)
    labels = {}
    for text, group in seen.items():
        for n, key in enumerate(group, start=1):
            if len(group) == 1:
                labels[key] = text
            elif "signature" in series.columns:
                labels[key] = f"{text} [{key}]"
            else:
                labels[key] = f"{text} [{n}]"
    return labels


def signature_lines(
    series: pd.DataFrame,
    *,
    window: Window | None = None,
    markers: pd.DataFrame | None = None,
    width: float = 10.0,
) -> Figure:
    """Events per minute of each top signature (long frame: time, template, count).

    One line per signature (per ``signature`` id when the frame has one, else per
    template), labelled with its template cut at a word boundary to 70 characters
    (:func:`incident_lib.core.text.shorten`); two labels that would read the same
    get the signature id appended. The window is shaded, changes are numbered
    and keyed under the chart with the signatures.

    Parameters
    ----------
    series
        From :func:`incident_lib.analysis.signatures.signature_timeseries`:
        ``time``, ``signature``, ``template``, ``count``.
    window
        Shaded, and left out of the legend.
    markers
        Change markers (``time``, ``label``, ``kind``).
    width
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; "no signature to draw" written on it when ``series`` is empty
        (never "no errors": the logs may not have been read).
    """
    import matplotlib.pyplot as plt

    style()
    fig, ax = plt.subplots(figsize=(width, 3.6))
    if series.empty:
        ax.text(0.5, 0.5, "no signature to draw", transform=ax.transAxes, ha="center", color="#777")
    by = "signature" if "signature" in series.columns else "template"
    keys = [str(k) for k in series[by].drop_duplicates()]
    labels = _signature_labels(series, keys)
    for key, group in series.groupby(series[by].astype(str), sort=False):
        ax.plot(_times(group["time"]), group["count"], lw=1.2, label=labels[str(key)])
    ax.set_title("Log events per minute, top signatures", y=1.0)
    ax.set_ylabel("events / min")
    ax.set_ylim(bottom=0)
    if window is not None:
        shade_window(ax, window)
    if markers is not None and len(markers):
        mark_changes(ax, markers)
    _time_axis(ax)
    ax.set_xlabel("time (UTC)")
    handles, names = _legend_entries([ax])
    keep = [(h, lab) for h, lab in zip(handles, names, strict=True) if lab != "incident window"]
    if keep:
        _key_legend(ax, [h for h, _ in keep], [lab for _, lab in keep], below=0.45)
        fig.set_figheight(3.6 + 0.17 * len(keep) + 0.3)
    fit(fig, [ax])
    stack_badges(ax)
    return fig


# -- the incident timeline ----------------------------------------------------------------
#: colour of each lane's markers
_LANE_COLOUR = {
    "changes": _DEPLOY_COLOUR,
    "kubernetes": "#d35400",
    "monitors": "#7b3fa0",
    "metrics": _ONSET_COLOUR,
    "logs": "#00897b",
    "database": "#8c564b",
    "dependencies": "#2e86c1",
    "actions": _ROLLBACK_COLOUR,
    "people": "#333333",
}
#: how a lane is named on the y axis
_LANE_NAME = {"kubernetes": "Kubernetes"}
#: marker of each kind of event (the lane gives the colour)
_KIND_MARKER = {
    "deploy": "^",
    "rollback": "v",
    "config": "P",
    "scale": "h",
    "commit": "o",
    "event": "*",
    "oomkill": "X",
    "crashloop": "8",
    "probe": "o",
    "scheduling": "h",
    "eviction": "p",
    "warning": "o",
    "alert": "^",
    "warn": ">",
    "ok": "v",
    "no_data": "o",
    "new_signature": "o",
    "saturation": "p",
    "blocking": "X",
    "action": ">",
    "detected": "D",
    "acknowledged": "D",
    "mitigated": "D",
    "resolved": "D",
    "note": "s",
}
#: colour and line style of the metric events drawn on the error-rate panel
_METRIC_STYLE = {
    "onset": (_ONSET_COLOUR, "-."),
    "recovery": (_ROLLBACK_COLOUR, ":"),
    "saturation": ("#e07b00", "--"),
}
_LANE_GID = "incident-timeline-badge"  # a numbered badge in a lane
_TL_LEFT, _TL_RIGHT = 1.15, 0.3  # inches beside the panels (lane names on the left)
_TL_TOP_PANEL = 1.6  # height of the error-rate panel, inches
_TL_BOTTOM = 0.5  # time tick labels and axis label under the last lane, inches
_TL_MARKER_Y = 9.0  # height of the markers above a lane's bottom edge, points
_TL_MARKER_SIZE = 7.0
_TL_MIN_LANE = 22.0  # points
_TL_GAP = 3.0  # points between two badges of one row


def _timeline_view(frame: pd.DataFrame, window: Window) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The events' span joined with the window, padded by 4 % on each side (at least 1 min)."""
    import pandas as pd

    lo, hi = _utc(window.start), _utc(window.end)
    if len(frame):
        lo, hi = min(lo, _utc(frame["time"].min())), max(hi, _utc(frame["time"].max()))
    pad = max((hi - lo) * 0.04, pd.Timedelta(minutes=1))
    return lo - pad, hi + pad


def _keyed_rows(frame: pd.DataFrame, most: int) -> list[int]:
    """Positions of the events worth a number, at most ``most``, in the frame's (time) order.

    Status changes, deploys and rollbacks come first; then other changes,
    actions, monitors going into alert and the first event of each lane and
    kind; then notes, metric onsets and recoveries and other monitor
    transitions; then further new log signatures and database episodes (each a
    different fact); then repeats (Kubernetes warnings ...). Within a rank the
    second of each kind comes before the third of any, then the earlier first.
    """
    from ..core.timeline import STATUS_KINDS

    seen: dict[tuple[str, str], int] = {}
    ranked = []
    for i, (lane, kind) in enumerate(zip(frame["source"], frame["kind"], strict=True)):
        nth = seen.get((lane, kind), 0)
        seen[(lane, kind)] = nth + 1
        if (lane == "people" and kind in STATUS_KINDS) or (
            lane == "changes" and kind in ("deploy", "rollback")
        ):
            rank = 0
        elif lane in ("changes", "actions") or (lane, kind) == ("monitors", "alert") or nth == 0:
            rank = 1
        elif lane in ("people", "metrics", "monitors"):
            rank = 2
        elif lane in ("logs", "database", "dependencies"):  # each one a different fact
            rank = 3
        else:  # repeats: the tenth failed probe, the next warning
            rank = 4
        ranked.append((rank, nth, i))
    return sorted(i for _, _, i in sorted(ranked)[: max(most, 0)])


def _marker_handle(lane: str, kind: str) -> Artist:
    """The key's sample of an event: its marker, or its line on the error-rate panel."""
    from matplotlib.lines import Line2D

    if lane == "metrics":
        colour, dash = _METRIC_STYLE.get(kind, (_LANE_COLOUR["metrics"], "-."))
        return Line2D([], [], color=colour, ls=dash, lw=1.3)
    marker = _KIND_MARKER.get(kind, "o")
    return Line2D(
        [],
        [],
        ls="none",
        marker=marker,
        ms=8 if marker == "*" else 6,
        color=_LANE_COLOUR[lane],
        mec="white",
        mew=0.5,
    )


def timeline_chart(
    events: pd.DataFrame | Sequence[Event],
    *,
    errors: pd.Series | None = None,
    window: Window,
    view: Window | None = None,
    title: str = "",
    width: float = 11.6,
    numbered: int = 20,
) -> Figure:
    """The incident's timeline: lanes of events under the error rate, labels keyed below.

    The top panel draws the error rate (the 5xx share in percent) with the
    incident window shaded and the detected metric onsets, recoveries and
    saturations (lane ``metrics``) as vertical lines. Under it, one lane per
    source that has events, in the order of :data:`incident_lib.core.timeline.LANES`
    (changes, Kubernetes, monitors, logs, database, actions, people); each event
    is a marker coloured by lane and shaped by kind (deploy ▲, rollback ▼,
    status change ◆, note ■ ...).

    Summaries are never written on the chart: the most important events (at
    most ``numbered``: status changes, deploys and rollbacks, other changes,
    actions, alerts and the first event of each kind, then the rest) get a
    numbered badge over their marker, and the key under the chart lists
    ``number · HH:MM · summary`` (cut at a word boundary) with the event's
    marker, then how many events are not numbered ("+N more"). Badges of one
    lane are placed in rows, and each lane is made tall enough for its rows,
    so no two badges ever overlap, whatever the number of events or the
    resolution. Summaries are untrusted text and drawn as they are (a ``$``
    never starts mathtext).

    Parameters
    ----------
    events
        A timeline frame (:func:`incident_lib.core.timeline.events_frame`,
        columns :data:`~incident_lib.core.timeline.TIMELINE_COLUMNS`), or the
        events themselves.
    errors
        The 5xx share in percent, indexed by time (as
        ``analysis.metrics.series(metrics, "error_ratio")`` returns); ``None``
        or empty: the panel says "error rate unknown".
    window
        The incident window, shaded on every panel.
    view
        The time range drawn; default: the events' span joined with the
        window, padded. Events outside it are left out (and counted in the key).
    title
        Written above the chart (as plain text).
    width
        Figure width in inches (11.6 in is 1280 px at the 110 dpi charts are saved
        with); wider when the title or the key needs it (nothing is cut off).
    numbered
        At most this many events get a number.

    Returns
    -------
    matplotlib.figure.Figure
        The error-rate panel first (``fig.axes[0]``), then one axes per lane
        (lane name as its y tick label); "no events on the timeline" written in
        place of the lanes when there is no event in the range.

    Raises
    ------
    SchemaError
        ``events`` is a frame that does not meet the ``timeline`` contract.
    InvalidInput
        An event's source is not a lane.
    """
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ..core.errors import InvalidInput
    from ..core.schema import validate
    from ..core.timeline import LANES, events_frame

    style()
    frame = (
        validate(events, "timeline").copy()
        if isinstance(events, pd.DataFrame)
        else events_frame(list(events))
    ).reset_index(drop=True)
    unknown = sorted({str(s) for s in frame["source"]} - set(LANES))
    if unknown:
        raise InvalidInput(f"timeline event source(s) {unknown}: use one of {', '.join(LANES)}")
    if len(frame):
        frame["time"] = [_utc(t) for t in frame["time"]]
        frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
    lo, hi = (_utc(view.start), _utc(view.end)) if view else _timeline_view(frame, window)
    shown = frame[(frame["time"] >= lo) & (frame["time"] <= hi)].reset_index(drop=True)
    outside = len(frame) - len(shown)
    keyed = _keyed_rows(shown, numbered)
    number = {i: n for n, i in enumerate(keyed, start=1)}
    lanes = [lane for lane in LANES if lane != "metrics" and (shown["source"] == lane).any()]

    fig = plt.figure(figsize=(width, 6.0))
    top = fig.add_axes((0.1, 0.5, 0.8, 0.4), label="errors")
    info = metric_info("error_ratio")
    top.set_title(info.name, y=1.0)
    top.set_ylabel(info.unit)
    data = errors.dropna() if errors is not None else None
    if data is None or data.empty:
        top.text(
            0.5,
            0.5,
            "error rate unknown",
            transform=top.transAxes,
            ha="center",
            va="center",
            color="#777",
            fontsize=11,
        )
        top.set_yticks([])
    else:
        top.plot(_times(data.index), data.to_numpy() / info.scale, color=_LINE_COLOUR, lw=1.1)
        top.set_ylim(bottom=0)
    top.set_xlim(_x(lo), _x(hi))
    shade_window(top, window)
    _time_axis(top)
    top.tick_params(labelbottom=False)
    x_lo, x_hi = (float(v) for v in top.get_xlim())

    for i, (moment, kind) in enumerate(zip(shown["time"], shown["kind"], strict=True)):
        if shown["source"].iloc[i] != "metrics":
            continue
        colour, dash = _METRIC_STYLE.get(str(kind), (_LANE_COLOUR["metrics"], "-."))
        top.axvline(_x(moment), color=colour, ls=dash, lw=1.3, zorder=4)
        if i in number:
            at = float(mdates.date2num(moment))  # type: ignore[no-untyped-call]
            _top_badge(top, number[i], at, colour)

    to_pt = 72 / fig.dpi
    renderer = text_renderer(fig)
    plot_pt = (width - _TL_LEFT - _TL_RIGHT) * 72
    lane_axes: list[Axes] = []
    heights: list[float] = []  # points
    for n, lane in enumerate(lanes):
        ax = fig.add_axes((0.1, 0.1, 0.8, 0.1), sharex=top, label=f"lane {lane}")
        lane_axes.append(ax)
        rows = shown[shown["source"] == lane]
        colour = _LANE_COLOUR[lane]
        for kind, group in rows.groupby("kind", sort=False):
            marker = _KIND_MARKER.get(str(kind), "o")
            ax.plot(
                _times(group["time"]),
                [_TL_MARKER_Y] * len(group),
                ls="none",
                marker=marker,
                ms=_TL_MARKER_SIZE + (3 if marker == "*" else 0),  # a star looks small
                color=colour,
                mec="white",
                mew=0.6,
                alpha=0.9,
                zorder=4,
                clip_on=False,
            )
        badges = []
        spans = []
        for i in (i for i in rows.index if i in number):
            at = float(mdates.date2num(shown["time"].iloc[i]))  # type: ignore[no-untyped-call]
            badge = ax.text(
                at,
                0.0,
                str(number[i]),
                fontsize=8,
                fontweight="bold",
                color=colour,
                ha="center",
                va="bottom",
                zorder=6,
                gid=_LANE_GID,
                clip_on=False,
                bbox=_badge_box(colour),
            )
            box = badge.get_window_extent(renderer)
            half = box.width * to_pt / 2 + _BADGE_PAD * 8
            centre = (at - x_lo) / (x_hi - x_lo) * plot_pt
            badges.append((badge, box.height * to_pt))
            spans.append((centre - half, centre + half))
        pad = _BADGE_PAD * 8
        base = _TL_MARKER_Y + _TL_MARKER_SIZE / 2 + 2.0 + pad
        step = max((h for _, h in badges), default=0.0) + 2 * pad + 2.5
        placed = _assign_rows(spans, gap=_TL_GAP)
        for (badge, _), row in zip(badges, placed, strict=True):
            badge.set_y(base + row * step)
        top_edge = base + (max(placed) * step + step - 2.5 - pad + 3.0 if placed else 0.0)
        heights.append(max(_TL_MIN_LANE, top_edge))
        ax.set_facecolor("#f5f5f5" if n % 2 == 0 else "white")
        ax.set_yticks([_TL_MARKER_Y], labels=[_LANE_NAME.get(lane, lane)])
        ax.tick_params(axis="y", length=0, left=False)  # no mark: not drawn at all
        ax.grid(False, axis="y")
        for side in ("left", "top", "right"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_color("#cccccc")
        shade_window(ax, window)
        ax.tick_params(axis="x", labelbottom=False, length=0, bottom=False)
    if not lanes:
        ax = fig.add_axes((0.1, 0.1, 0.8, 0.1), sharex=top, label="no events")
        lane_axes.append(ax)
        heights.append(40.0)
        ax.text(
            0.5,
            0.5,
            "no events on the timeline",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#777",
            fontsize=11,
        )
        ax.set_yticks([])
        shade_window(ax, window)
    bottom = lane_axes[-1]
    bottom.tick_params(axis="x", labelbottom=True, length=3.5, bottom=True)
    bottom.set_xlabel("time (UTC)")
    for ax, height in zip(lane_axes, heights, strict=True):
        if lanes:
            ax.set_ylim(0, height)

    handles: list[Artist] = [Patch(color=_WINDOW_COLOUR, alpha=0.35, lw=0)]
    labels = ["incident window"]
    columns = 2 if len(keyed) > 10 else 1
    for i in keyed:
        source, kind = str(shown["source"].iloc[i]), str(shown["kind"].iloc[i])
        handles.append(_marker_handle(source, kind))
        summary = shorten(str(shown["summary"].iloc[i]), 66 if columns == 2 else 100)
        labels.append(f"{number[i]} · {shown['time'].iloc[i]:%H:%M} · {summary}")
    more = len(shown) - len(keyed)
    if more:
        handles.append(Line2D([], [], ls="none"))
        labels.append(f"+{more} more (not numbered)")
    if outside:
        handles.append(Line2D([], [], ls="none"))
        labels.append(f"+{outside} outside the time range shown")

    head = 0.35 + (0.35 if title else 0.0)  # panel title (and chart title) above
    gap = 0.12
    lanes_in = sum(heights) / 72
    # the key and the title are measured: the chart holds them, however long
    key = _key_legend(bottom, handles, labels, below=_TL_BOTTOM, ncol=columns)
    heading = (
        fig.text(0, 1, title, fontsize=11, fontweight="bold", va="top", ha="left", parse_math=False)
        if title
        else None
    )
    with measuring(fig) as renderer:
        key_box = key.get_window_extent(renderer)
        heading_box = heading.get_window_extent(renderer) if heading else key_box
        widest, key_in = max(key_box.width, heading_box.width), key_box.height
        widest, key_in = widest / fig.dpi, key_in / fig.dpi + 0.1  # inches
    width = max(width, _TL_LEFT + widest + 0.1)
    total = head + _TL_TOP_PANEL + gap + lanes_in + _TL_BOTTOM + key_in
    fig.set_size_inches(width, total)
    left, right = _TL_LEFT / width, 1 - _TL_RIGHT / width
    y = total - head - _TL_TOP_PANEL
    top.set_position((left, y / total, right - left, _TL_TOP_PANEL / total))
    y -= gap
    for ax, height in zip(lane_axes, heights, strict=True):
        y -= height / 72
        ax.set_position((left, y / total, right - left, height / 72 / total))
    if heading is not None:
        heading.set_position((left, 1 - 0.12 / total))
    stack_badges(top)
    return mark_laid_out(fig)  # placed in inches above: saved as it is
