"""Charts: one style, the incident window shaded, changes marked and keyed.

Every function takes an optional ``ax`` (or axes) and returns what it drew on,
so notebooks compose them. matplotlib is imported inside the functions.

Changes are numbered badges at the top of the chart (stacked so that close
changes never overwrite each other) with a key under the chart: number, time,
kind and label, drawn in the change's colour and line style. Text that comes
from the systems under investigation (labels, templates, pod names) is drawn as
plain text: a ``$`` never starts mathtext.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

from .core.metrics import format_share, metric_info
from .core.text import shorten
from .core.time import Window

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

__all__ = [
    "change_key",
    "mark_changes",
    "metric_panels",
    "shade_window",
    "signature_lines",
    "stack_badges",
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
        ax.annotate(
            str(numbers[i]),
            xy=(_x(at), 1.0),
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
            bbox={
                "boxstyle": f"round,pad={_BADGE_PAD}",
                "fc": "white",
                "ec": colour,
                "lw": 0.8,
            },
        )
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
    spans = []
    for badge in badges:
        box = badge.get_window_extent()
        size = float(badge.get_fontsize())
        pad = _BADGE_PAD * size * dpi / 72
        spans.append((box.x0 - pad, box.x1 + pad, box.height / dpi * 72, size))
    gap = 3 * dpi / 72
    rights: list[float] = []
    for (left, right, height, size), badge in sorted(
        zip(spans, badges, strict=True), key=lambda s: (s[0][0], s[0][1])
    ):
        row = next((r for r, edge in enumerate(rights) if edge + gap <= left), len(rights))
        if row == len(rights):
            rights.append(right)
        else:
            rights[row] = right
        step = height + 2 * _BADGE_PAD * size + 2.5
        badge.xyann = (0.0, -3.0 - row * step)
    return ax


def _key_legend(ax: Axes, handles: list[Artist], labels: list[str], *, below: float) -> Legend:
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
        ncol=1,
        fontsize=8,
        handlelength=2.6,
    )
    for text in legend.get_texts():
        text.set_parse_math(False)  # a `$` in a label is a dollar sign
    return legend


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
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.DateFormatter("%H:%M", tz="UTC")  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)


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

    from .core.errors import InvalidInput

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
    fig.align_ylabels(panels)
    handles, labels = _legend_entries(panels)
    if handles:
        styles = ("incident window", _ONSET_LABEL, "threshold")
        rank = {label: styles.index(label) if label in styles else len(styles) for label in labels}
        pairs = sorted(zip(handles, labels, strict=True), key=lambda p: rank[p[1]])
        _key_legend(panels[-1], [h for h, _ in pairs], [lab for _, lab in pairs], below=0.5)
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

    from .analysis.resources import limits_vs_usage

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
        cpu_ax.plot(group["time"], group["cpu"] / cpu.scale, **style_)
        mem_ax.plot(
            group["time"],
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
        ax.set_title(f"{info.name} of {container!r} per pod", parse_math=False)
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
    fig.tight_layout()
    return fig


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
        ax.plot(group["time"], group["count"], lw=1.2, label=labels[str(key)])
    ax.set_title("Log events per minute, top signatures")
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
    fig.tight_layout()
    stack_badges(ax)
    return fig
