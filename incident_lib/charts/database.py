"""Database charts: connections against the limit, growth per application, idle
transactions and the blocking tree.

The time charts share the style of :mod:`.panels` (incident window shaded, times
in UTC, the key under the chart). They count client backends only (the sessions
that use up ``max_connections``), for one target at a time. Text that comes from
the database (application names, queries, users) is drawn as plain text: a ``$``
never starts mathtext. Empty input draws a figure that says so, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from ..core.text import shorten
from ..core.time import Window, format_duration
from ._layout import fit, mark_laid_out
from .panels import (
    _LINE_COLOUR,
    _ONSET_COLOUR,
    _OTHER_POD_COLOUR,
    _POD_COLOURS,
    _key_legend,
    _legend_entries,
    _time_axis,
    _times,
    _utc,
    _x,
    shade_window,
    style,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from ..analysis.database import BlockingNode, ConnectionLimit

__all__ = [
    "blocking_tree_chart",
    "connection_growth_chart",
    "connections_chart",
    "idle_in_transaction_chart",
]

_NO_SESSIONS = "no sessions sampled"
_GREY = "#777777"
_LIMIT_COLOUR = _ONSET_COLOUR
_RESERVED_COLOUR = "#f2b8b5"
_IDLE_TX_COLOUR = "#e07b00"
#: stacking order (bottom first) and colour of each backend state
_STATE_COLOUR = {
    "active": "#1f77b4",
    "idle in transaction": _IDLE_TX_COLOUR,
    "idle in transaction (aborted)": "#8c564b",
    "fastpath function call": "#9467bd",
    "disabled": "#7f7f7f",
    "idle": "#c7c7c7",
}
_UNKNOWN_STATE_COLOUR = "#e8e8e8"
_NO_APPLICATION = "(no application_name)"
_KEY_ROW = 0.17  # inches per line of a key under a chart


# -- helpers ------------------------------------------------------------------------------
def _pick_target(activity: pd.DataFrame, target: str | None) -> str | None:
    """``target`` itself, else the only one present (``None``: no rows).

    Raises
    ------
    InvalidInput
        No ``target`` given and ``activity`` holds several (never a sum of two servers).
    """
    from ..core.errors import InvalidInput

    if target is not None:
        return target
    present = sorted({str(t) for t in activity["target"].dropna()})
    if len(present) > 1:
        raise InvalidInput(
            f"the activity holds {len(present)} databases ({', '.join(present)}); "
            "pass target= one of them"
        )
    return present[0] if present else None


def _say(ax: Axes, text: str) -> None:
    """``text`` in grey in the middle of ``ax``, nothing else on it."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=_GREY,
        fontsize=11,
        parse_math=False,
    )
    ax.set_yticks([])


def _of(target: str | None) -> str:
    return f" · {target}" if target else ""


def _clock(moment: object) -> str:
    return f"{_utc(moment):%H:%M} UTC"


def _new_axes(ax: Axes | None, height: float, width: float = 10.0) -> tuple[Figure, Axes, bool]:
    """``ax`` and its figure, or a new figure of the given size (``True``: new)."""
    import matplotlib.pyplot as plt

    if ax is not None:
        return cast("Figure", ax.figure), ax, False
    fig, new = plt.subplots(figsize=(width, height))
    return fig, new, True


def _finish(
    fig: Figure,
    ax: Axes,
    handles: list[Artist],
    labels: list[str],
    *,
    created: bool,
    height: float,
    ncol: int = 1,
    column: Sequence[Axes] = (),
) -> None:
    """Key under ``ax``, the figure grown to hold it and laid out (only a figure made here;
    ``column``: all its axes, top to bottom, when ``ax`` is not the only one)."""
    pairs = sorted(zip(handles, labels, strict=True), key=lambda p: p[1] == "incident window")
    handles, labels = [h for h, _ in pairs], [label for _, label in pairs]
    rows = -(-len(labels) // ncol)
    if handles:
        _key_legend(ax, handles, labels, below=0.5, ncol=ncol)
    if created:
        fig.set_figheight(height + _KEY_ROW * rows + 0.45)
        fit(fig, column or [ax])


def _span(ax: Axes, times: Sequence[pd.Timestamp]) -> None:
    """The x limits of a time axis: the samples' span (a minute each side of one sample)."""
    import pandas as pd

    pad = pd.Timedelta(minutes=1) if times[0] == times[-1] else pd.Timedelta(0)
    ax.set_xlim(_x(times[0] - pad), _x(times[-1] + pad))


def _whole_numbers(ax: Axes) -> None:
    """Counts on the y axis: whole-number ticks only."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def _has_clients(activity: pd.DataFrame, target: str | None) -> bool:
    """Whether ``target`` has a client backend in ``activity``."""
    rows = activity[(activity["target"] == target) & (activity["backend_type"] == "client backend")]
    return not rows.empty


def _limits(settings: pd.DataFrame, target: str | None) -> ConnectionLimit | None:
    from ..analysis.database import connection_limits

    if target is None or settings.empty:
        return None
    return connection_limits(settings).get(target)


def _reserved_text(limit: ConnectionLimit) -> str:
    """``"3 reserved for superusers + 2 reserved_connections"``."""
    parts = []
    if limit.superuser_reserved:
        parts.append(f"{limit.superuser_reserved} for superusers")
    if limit.reserved:
        parts.append(f"{limit.reserved} reserved_connections")
    return " + ".join(parts)


# -- connections against the limit ---------------------------------------------------------
def _right_label(ax: Axes, text: str, y: float, *, above: bool) -> None:
    """``text`` just right of the plot at height ``y``: above the line (bold) or below it."""
    ax.annotate(
        text,
        xy=(1.0, y),
        xycoords=("axes fraction", "data"),
        xytext=(4, 1 if above else -2),
        textcoords="offset points",
        ha="left",
        va="bottom" if above else "top",
        color=_LIMIT_COLOUR,
        fontsize=8 if above else 7.5,
        fontweight="bold" if above else "normal",
        annotation_clip=False,
    )


def connections_chart(
    activity: pd.DataFrame,
    settings: pd.DataFrame,
    *,
    window: Window | None = None,
    target: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Client connections by state, stacked, against ``max_connections``.

    The stack shows how many client backends were active, idle in transaction,
    idle ... at each sample (each state's peak in the key). A red line marks
    ``max_connections`` (labelled with its value), the slots ordinary roles cannot
    use (``superuser_reserved_connections``, and ``reserved_connections`` on
    PostgreSQL 16+) are a band just under it, and the first sample where the
    client backends filled every slot left to ordinary roles is marked with a
    vertical line and its time. The title says when the limit was reached, or
    the peak against it.

    Parameters
    ----------
    activity
        ``pg_activity`` samples.
    settings
        ``pg_settings`` of the same targets (for the limit; empty: no limit drawn).
    window
        The incident window, shaded.
    target
        The database to draw; default: the only one, else the one with the most
        client sessions in one sample.
    ax
        Draw on these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (``"no sessions sampled"`` written on it when there is no
        client session of the target).
    """
    from ..analysis.database import connections_over_time

    style()
    target = _pick_target(activity, target)
    fig, ax, created = _new_axes(ax, 3.8)
    counts = (
        connections_over_time(activity, by="state", target=target) if target is not None else None
    )
    if counts is None or counts.empty or not counts.to_numpy().any():
        ax.set_title(f"Client connections by state{_of(target)}", parse_math=False, y=1.0)
        _say(ax, _NO_SESSIONS)
        if created:
            fit(fig, [ax])
        return fig
    known = [s for s in _STATE_COLOUR if s in counts.columns]
    rest = [str(s) for s in counts.columns if s not in _STATE_COLOUR]
    idle = [s for s in known if s == "idle"]
    order = [s for s in known if s != "idle"] + rest + idle  # idle on top of the stack
    labels = [f"{s or '(state unknown)'} (peak {int(counts[s].max())})" for s in order]
    colours = [_STATE_COLOUR.get(s, _UNKNOWN_STATE_COLOUR) for s in order]
    times = list(counts.index)
    stamps = _times(counts.index)
    ax.stackplot(
        stamps,
        *[counts[s].to_numpy() for s in order],
        labels=labels,
        colors=colours,
        lw=0,
        alpha=0.9,
        zorder=2,
    )
    total = counts.sum(axis=1)
    ax.plot(stamps, total.to_numpy(), color=_LINE_COLOUR, lw=0.8, zorder=3)
    peak = int(total.max())
    limit = _limits(settings, target)
    title = f"Client connections by state{_of(target)}"
    top = float(peak)
    if limit is None:
        title += f" · peak {peak} (max_connections unknown)"
    else:
        top = max(top, float(limit.max_connections))
        ceiling = limit.max_connections
        ax.axhline(
            ceiling,
            color=_LIMIT_COLOUR,
            lw=1.4,
            zorder=4,
            label=f"max_connections = {ceiling}",
        )
        _right_label(ax, f"max_connections = {ceiling}", ceiling, above=True)
        available = limit.available
        if available < ceiling:
            reserved = _reserved_text(limit)
            ax.axhspan(
                available,
                ceiling,
                fc=_RESERVED_COLOUR,
                ec=_LIMIT_COLOUR,
                alpha=0.6,
                lw=0,
                hatch="////",
                zorder=1,
                label=f"reserved slots: {reserved} ({available} left for ordinary roles)",
            )
            _right_label(ax, f"{ceiling - available} reserved slots", ceiling, above=False)
        full = total[total >= available]
        if len(full) and available > 0:
            reached = full.index[0]
            ax.axvline(
                _x(reached),
                color=_LIMIT_COLOUR,
                lw=1.2,
                ls="-.",
                zorder=4,
                label=f"limit reached at {_clock(reached)}",
            )
            ax.annotate(
                f"limit reached {_clock(reached)}\nall {available} slots for ordinary roles in use",
                xy=(_x(reached), float(full.iloc[0])),
                xytext=(-8, -22),
                textcoords="offset points",
                ha="right",
                va="top",
                color=_LIMIT_COLOUR,
                fontsize=8,
                fontweight="bold",
                zorder=6,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": _LIMIT_COLOUR, "lw": 0.8},
                arrowprops={"arrowstyle": "->", "color": _LIMIT_COLOUR, "lw": 0.9},
            )
            title += f" · limit for ordinary roles ({available}) reached at {_clock(reached)}"
        else:
            share = peak / available if available > 0 else float("nan")
            title += f" · peak {peak} of {available} available ({share:.0%})"
    ax.set_title(title, parse_math=False, y=1.0)
    ax.set_ylabel("client connections")
    _whole_numbers(ax)
    ax.set_ylim(0, top * 1.1 + 1)
    _span(ax, times)
    if window is not None:
        shade_window(ax, window)
    _time_axis(ax)
    ax.set_xlabel("time (UTC)")
    handles, names = _legend_entries([ax])
    _finish(fig, ax, handles, names, created=created, height=3.8, ncol=2)
    return fig


# -- growth per application ----------------------------------------------------------------
def _course(counts: pd.Series) -> str:
    """``"12 → peak 96 at 14:24 → 3"``: first, peak (and when), last."""
    first, last, peak = int(counts.iloc[0]), int(counts.iloc[-1]), int(counts.max())
    if peak in (first, last):
        return f"{first} → {last}"
    return f"{first} → peak {peak} at {_utc(counts.idxmax()):%H:%M} → {last}"


def connection_growth_chart(
    activity: pd.DataFrame,
    *,
    window: Window | None = None,
    target: str | None = None,
    top: int = 6,
    ax: Axes | None = None,
) -> Figure:
    """Client connections per application over time: who is taking the slots.

    The ``top`` applications with the highest peak get a coloured line, named in
    the key with their first, last and peak count (``api: 12 → 96, peak 96``);
    every other application is summed into one grey "others" line.

    Parameters
    ----------
    activity
        ``pg_activity`` samples.
    window
        The incident window, shaded.
    target
        The database to draw (default as in :func:`connections_chart`).
    top
        How many applications are named.
    ax
        Draw on these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (``"no sessions sampled"`` written on it when empty).
    """
    from ..analysis.database import connections_over_time

    style()
    target = _pick_target(activity, target)
    fig, ax, created = _new_axes(ax, 3.6)
    ax.set_title(f"Client connections per application{_of(target)}", parse_math=False, y=1.0)
    counts = (
        connections_over_time(activity, by="application_name", target=target)
        if target is not None
        else None
    )
    if counts is None or counts.empty or not counts.to_numpy().any():
        _say(ax, _NO_SESSIONS)
        if created:
            fit(fig, [ax])
        return fig
    peaks = counts.max().sort_values(ascending=False, kind="stable")
    shown = max(top, 0)
    if len(peaks) == shown + 1:  # a line for one other is the line of that one: name it
        shown += 1
    named = [str(a) for a in peaks.index[:shown]]
    others = [a for a in counts.columns if str(a) not in named]
    times = list(counts.index)
    stamps = _times(counts.index)
    for i, app in enumerate(named):
        name = _NO_APPLICATION if app in ("", "(none)") else shorten(app, 48)
        ax.plot(
            stamps,
            counts[app].to_numpy(),
            color=_POD_COLOURS[i % len(_POD_COLOURS)],
            lw=1.6,
            zorder=3,
            label=f"{name}: {_course(counts[app])}",
        )
    if others:
        rest = counts[others].sum(axis=1)
        apps = f"{len(others)} application{'s' if len(others) != 1 else ''}"
        ax.plot(
            stamps,
            rest.to_numpy(),
            color=_OTHER_POD_COLOUR,
            lw=1.2,
            zorder=2,
            label=f"others ({apps}): {_course(rest)}",
        )
    ax.set_ylabel("client connections")
    _whole_numbers(ax)
    ax.set_ylim(bottom=0)
    _span(ax, times)
    if window is not None:
        shade_window(ax, window)
    _time_axis(ax)
    ax.set_xlabel("time (UTC)")
    handles, names = _legend_entries([ax])
    _finish(fig, ax, handles, names, created=created, height=3.6, ncol=2 if len(names) > 4 else 1)
    return fig


# -- idle in transaction ------------------------------------------------------------------
def _age_unit(seconds: float) -> tuple[str, float]:
    """The unit ages are drawn in (name, seconds per unit) for a largest age of ``seconds``."""
    if seconds >= 3 * 3600:
        return "hours", 3600.0
    if seconds >= 120:
        return "minutes", 60.0
    return "seconds", 1.0


def idle_in_transaction_chart(
    activity: pd.DataFrame,
    *,
    window: Window | None = None,
    target: str | None = None,
) -> Figure:
    """Sessions idle in transaction: how many, and how old the oldest one is.

    The top panel counts the client sessions idle in transaction at each
    sample; the bottom one draws the age of the oldest of them since its last
    statement (how long it has been holding its locks and snapshot doing
    nothing) and, dashed, the age of the oldest of their transactions (since
    ``BEGIN``). The largest age is marked with its value and time. An age that
    keeps growing is a session that never commits: a leak.

    Parameters
    ----------
    activity
        ``pg_activity`` samples.
    window
        The incident window, shaded on both panels.
    target
        The database to draw (default as in :func:`connections_chart`).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (count above, ages below); ``"no sessions sampled"`` when
        there is no client session, ``"no session idle in transaction"`` when
        none was.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from ..analysis.database import idle_in_transaction_series

    style()
    target = _pick_target(activity, target)
    fig, (count_ax, age_ax) = plt.subplots(2, 1, sharex=True, figsize=(10.0, 4.8))
    count_ax.set_title(f"Sessions idle in transaction{_of(target)}", parse_math=False, y=1.0)
    age_ax.set_title("Age of the oldest session idle in transaction", y=1.0)
    if target is None or not _has_clients(activity, target):
        for ax in (count_ax, age_ax):
            _say(ax, _NO_SESSIONS)
        return fit(fig, [count_ax, age_ax])
    series = idle_in_transaction_series(activity, target=target)
    times = list(series.index)
    stamps = _times(series.index)
    sessions = series["sessions"].fillna(0).to_numpy(dtype=float)
    count_ax.fill_between(stamps, sessions, step="post", color=_IDLE_TX_COLOUR, alpha=0.3, lw=0)
    count_ax.step(
        stamps,
        sessions,
        where="post",
        color=_IDLE_TX_COLOUR,
        lw=1.4,
        label=f"sessions idle in transaction (peak {int(sessions.max())})",
    )
    count_ax.set_ylabel("sessions")
    _whole_numbers(count_ax)
    count_ax.set_ylim(bottom=0, top=max(1.0, float(sessions.max()) * 1.15))
    oldest = series["oldest"].to_numpy(dtype=float)
    xact = series["oldest_xact"].to_numpy(dtype=float)
    if not sessions.any() or np.isnan(oldest).all():
        _say(age_ax, "no session idle in transaction")
    else:
        largest = float(np.nanmax(np.concatenate([oldest, xact])))
        unit, per = _age_unit(largest)
        age_ax.plot(
            stamps,
            oldest / per,
            color="#b3261e",
            lw=1.6,
            label="oldest idle in transaction (since its last statement)",
        )
        if not np.isnan(xact).all():
            age_ax.plot(
                stamps,
                xact / per,
                color="#8c564b",
                lw=1.1,
                ls="--",
                label="oldest open transaction among them (since BEGIN)",
            )
        at = int(np.nanargmax(oldest))
        age_ax.annotate(
            f"oldest {format_duration(timedelta(seconds=float(oldest[at])))} "
            f"at {_clock(times[at])}",
            xy=(_x(times[at]), oldest[at] / per),
            xytext=(-8, -4),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=8,
            fontweight="bold",
            color="#b3261e",
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#b3261e", "lw": 0.8},
        )
        age_ax.plot([_x(times[at])], [oldest[at] / per], "o", color="#b3261e", ms=4, zorder=5)
        age_ax.set_ylabel(unit)
        age_ax.set_ylim(bottom=0, top=largest / per * 1.15)
    for ax in (count_ax, age_ax):
        _span(ax, times)
        if window is not None:
            shade_window(ax, window)
        _time_axis(ax)
    age_ax.set_xlabel("time (UTC)")
    handles, names = _legend_entries([count_ax, age_ax])
    _finish(fig, age_ax, handles, names, created=True, height=4.8, column=[count_ax, age_ax])
    return fig


# -- the blocking tree ---------------------------------------------------------------------
_BOX_W = 3.7  # inches, at most
_MIN_BOX_W = 2.6
_MAX_WIDTH = 14.0  # the boxes narrow down to fit the depth in this width
_BOX_H = 0.54
_MORE_H = 0.32
_PITCH = 0.63  # inches from one row to the next
_GAP = 0.7  # inches between two columns of boxes
_MARGIN = 0.3
_HEAD = 0.95  # title, subtitle and column headers
_PAD = 0.1  # text inside a box, from its left edge
_ROOT_EDGE, _ROOT_FILL = "#b3261e", "#fdecea"
_WAIT_EDGE, _WAIT_FILL = "#e07b00", "#fff4e5"
_MORE_EDGE = "#999999"


@dataclass
class _Box:
    """One box of the drawn tree: a session, or ``+N more`` for what is left out."""

    depth: int
    node: BlockingNode | None
    more: str = ""
    children: list[_Box] = field(default_factory=list)
    y: float = 0.0


def _waited(node: BlockingNode) -> float:
    return node.waiting_s if node.waiting_s == node.waiting_s else 0.0  # NaN: 0


def _waiting_order(nodes: Sequence[BlockingNode]) -> list[BlockingNode]:
    """Children in drawing order: most sessions behind them first, then longest waiting."""
    return sorted(nodes, key=lambda n: (-n.blocked, -_waited(n)))


def _more_text(nodes: Sequence[BlockingNode], depth: int) -> str:
    """The text of the box that stands for ``nodes`` (left out)."""
    if depth == 0:
        behind = sum(n.blocked for n in nodes)
        return f"+{len(nodes)} more blocking sessions ({behind} waiting behind them)"
    return f"+{sum(1 + n.blocked for n in nodes)} more waiting (not drawn)"


def _select(roots: Sequence[BlockingNode], most: int) -> list[_Box]:
    """The boxes to draw, roots first.

    At most ``most`` sessions, level by level; within a level siblings are taken
    in turns across parents (the first child of each, then the second ...), so
    no parent starves the others. What is left out of a parent becomes one
    ``+N more`` box after its drawn children.
    """
    top: list[_Box] = []
    level: list[tuple[list[_Box], list[BlockingNode], int]] = [(top, list(roots), 0)]
    budget = most
    while level:
        following: list[tuple[list[_Box], list[BlockingNode], int]] = []
        taken = [0] * len(level)
        rank = 0
        while budget > 0 and any(rank < len(nodes) for _, nodes, _ in level):
            for i, (into, nodes, depth) in enumerate(level):
                if rank < len(nodes) and budget > 0:
                    box = _Box(depth, nodes[rank])
                    into.append(box)
                    following.append(
                        (box.children, _waiting_order(nodes[rank].children), depth + 1)
                    )
                    taken[i] += 1
                    budget -= 1
            rank += 1
        for (into, nodes, depth), count in zip(level, taken, strict=True):
            if count < len(nodes):
                into.append(_Box(depth, None, more=_more_text(nodes[count:], depth)))
        level = following
    return top


def _place(boxes: list[_Box], row: list[float]) -> None:
    """Rows top-down in inches: a leaf takes the next row, a parent sits level with its
    first child (a root stays at the top, however many wait behind it)."""
    for box in boxes:
        if box.children:
            _place(box.children, row)
            box.y = box.children[0].y
        else:
            box.y = row[0]
            row[0] += _PITCH if box.node is not None else _MORE_H + _PITCH - _BOX_H


def _walk(boxes: list[_Box]) -> list[_Box]:
    out: list[_Box] = []
    for box in boxes:
        out.append(box)
        out.extend(_walk(box.children))
    return out


def _sessions(nodes: Sequence[BlockingNode]) -> set[int]:
    """The pids of ``nodes`` and of everything behind them."""
    pids: set[int] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        pids.add(node.pid)
        stack.extend(node.children)
    return pids


def _box_lines(node: BlockingNode, depth: int) -> tuple[list[str], str, str]:
    """A session's box: who (longest first), what it is doing and for how long, its query."""
    app = node.application_name.strip() or _NO_APPLICATION
    who = [f"pid {node.pid} · {app}"]
    if node.usename:
        who.insert(0, f"{who[0]} · {node.usename}")
    seconds = node.waiting_s
    known = seconds == seconds and seconds >= 0  # not NaN
    age = format_duration(timedelta(seconds=float(seconds))) if known else "unknown time"
    state = node.state or "state unknown"
    if depth == 0:
        doing = f"{state} · transaction open {age}"
    else:
        doing = f"{state} · waiting {age}" + (f" on {node.wait}" if node.wait else "")
    query = node.query.strip() or "(no query text)"
    return who, doing, query


def _fit(text: Text, candidates: Sequence[str], width: float) -> None:
    """The first of ``candidates`` that fits in ``width`` pixels, else the last one
    shortened (at word boundaries) until it does."""
    for candidate in candidates:
        text.set_text(shorten(candidate, 120))
        if text.get_window_extent().width <= width:
            return
    full = candidates[-1]
    chars = min(len(full), 120)
    while chars > 8 and text.get_window_extent().width > width:
        chars = int(chars * 0.9)
        text.set_text(shorten(full, chars))


def blocking_tree_chart(roots: Sequence[BlockingNode], *, most: int = 30) -> Figure:
    """Who blocks whom, drawn as a tree: root blockers on the left, waiters to the right.

    Each session is a box: pid, application and user; its state and for how
    long (a root: how long its transaction has been open; a waiter: how long it
    has been waiting, and on what); its query, shortened to the box (literals
    are masked by the source); and, top right, how many sessions wait behind
    it. Lines join each session to the ones waiting for it, which are drawn in
    the next column. Roots are red, waiters orange.

    At most ``most`` sessions are drawn, level by level, siblings taken in turns
    across parents; what is left out of a parent is one ``+N more`` box. The
    figure grows with the rows (about 0.7 in each) and, past four levels, with
    the depth.

    Parameters
    ----------
    roots
        From :func:`incident_lib.analysis.database.blocking_tree`.
    most
        How many sessions to draw at most.

    Returns
    -------
    matplotlib.figure.Figure
        One axes in inch coordinates (y down); ``"no blocking: no session waited
        for another"`` written on it when ``roots`` is empty.

    Raises
    ------
    InvalidInput
        ``most`` is below 1.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from ..core.errors import InvalidInput

    if most < 1:
        raise InvalidInput(f"blocking_tree_chart draws at least one session; got most={most}")
    style()
    if not roots:
        fig, ax = plt.subplots(figsize=(8.0, 1.6))
        ax.set_title("Blocking tree", y=1.0)
        _say(ax, "no blocking: no session waited for another")
        ax.axis("off")
        return fit(fig, [ax])
    boxes = _select(roots, most)
    _place(boxes, [_HEAD + _BOX_H / 2])
    drawn = _walk(boxes)
    depth = max(b.depth for b in drawn) + 1
    box_w = max(_MIN_BOX_W, min(_BOX_W, (_MAX_WIDTH - 2 * _MARGIN - (depth - 1) * _GAP) / depth))
    height = max(b.y + (_BOX_H if b.node else _MORE_H) / 2 for b in drawn) + _MARGIN
    width = max(8.0, 2 * _MARGIN + depth * box_w + (depth - 1) * _GAP)
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    px = fig.dpi  # pixels per inch

    def left(d: int) -> float:
        return _MARGIN + d * (box_w + _GAP)

    waiting = _sessions([kid for root in roots for kid in root.children])
    blockers = len(roots)
    ax.text(
        _MARGIN,
        0.12,
        f"Blocking tree: {blockers} root blocker{'s' if blockers != 1 else ''}, "
        f"{len(waiting)} session{'s' if len(waiting) != 1 else ''} waiting",
        fontsize=11,
        fontweight="bold",
        va="top",
    )
    ax.text(
        _MARGIN,
        0.42,
        "each box: pid · application · user / state, for how long / query (literals masked);"
        " top right: sessions waiting behind it",
        fontsize=8,
        color=_GREY,
        va="top",
    )
    for d in range(depth):
        head = "blocking (waits for nobody)" if d == 0 else "waiting for the session on its left"
        ax.text(left(d), _HEAD - 0.12, head, fontsize=8, color=_GREY, fontstyle="italic")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for box in drawn:
        x0 = left(box.depth)
        if box.children:
            bus = x0 + box_w + _GAP / 2
            last = box.children[-1].y
            ax.plot([x0 + box_w, bus], [box.y, box.y], color=_GREY, lw=1.0, zorder=1)
            ax.plot([bus, bus], [box.y, last], color=_GREY, lw=1.0, zorder=1)
            for kid in box.children:
                ax.plot([bus, bus + _GAP / 2], [kid.y, kid.y], color=_GREY, lw=1.0, zorder=1)
        if box.node is None:
            ax.add_patch(
                FancyBboxPatch(
                    (x0, box.y - _MORE_H / 2),
                    box_w,
                    _MORE_H,
                    boxstyle="round,pad=0,rounding_size=0.05",
                    fc="white",
                    ec=_MORE_EDGE,
                    ls="--",
                    lw=0.9,
                    zorder=2,
                )
            )
            ax.text(x0 + _PAD, box.y, box.more, fontsize=8, va="center", color="#555555")
            continue
        root = box.depth == 0
        ax.add_patch(
            FancyBboxPatch(
                (x0, box.y - _BOX_H / 2),
                box_w,
                _BOX_H,
                boxstyle="round,pad=0,rounding_size=0.05",
                fc=_ROOT_FILL if root else _WAIT_FILL,
                ec=_ROOT_EDGE if root else _WAIT_EDGE,
                lw=1.6 if root else 1.0,
                zorder=2,
            )
        )
        room = (box_w - 2 * _PAD) * px
        line_y = box.y - _BOX_H / 2 + 0.11
        if box.node.blocked:
            badge = ax.text(
                x0 + box_w - _PAD,
                line_y,
                f"blocks {box.node.blocked}",
                fontsize=8,
                fontweight="bold",
                color=_ROOT_EDGE,
                ha="right",
                va="center",
                zorder=3,
            )
            room_first = room - badge.get_window_extent(renderer).width - 0.1 * px
        else:
            room_first = room
        who, doing, query = _box_lines(box.node, box.depth)
        rows: list[tuple[Sequence[str], float, str, str, str]] = [
            # (candidates, room in pixels, weight, colour, family)
            (who, room_first, "bold", "black", "sans-serif"),
            ([doing], room, "normal", _ROOT_EDGE if root else "#8a4500", "sans-serif"),
            ([query], room, "normal", "#333333", "monospace"),
        ]
        for n, (lines, space, weight, colour, family) in enumerate(rows):
            text = ax.text(
                x0 + _PAD,
                line_y + n * 0.16,
                "",
                va="center",
                ha="left",
                fontsize=7.5 if family == "monospace" else 8,
                fontweight=weight,
                color=colour,
                family=family,
                parse_math=False,
                zorder=3,
            )
            _fit(text, lines, space)
    return mark_laid_out(fig)  # placed in inches above: saved as it is
