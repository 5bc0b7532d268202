"""A chart's layout, fixed when it is built: margins measured from its own text.

A chart function that makes its figure lays it out once (:func:`fit`): what
sticks out of each axes (title, tick labels, axis labels, the key under it, a
note beside it) is measured from those texts alone, never from the lines and
patches, and the axes are placed so that all of it is inside the figure with a
small margin. The figure is then saved as it is, drawn once (:func:`png`):
no ``tight_layout`` and no ``bbox_inches="tight"``, each of which lays out
every artist again (and ``"tight"`` draws the figure once more to measure it).

Y labels of a column of panels are placed at one distance from the axes
(aligned, as ``Figure.align_ylabels`` would, without its per-draw cost), and
time axes get one date locator whose ticks are computed once per view
interval, however many shared axes ask for them.

matplotlib is imported inside the functions, never at import.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.text import Text
    from matplotlib.ticker import Formatter, Locator
    from matplotlib.transforms import Bbox

__all__ = [
    "date_formatter",
    "date_locator",
    "fit",
    "mark_laid_out",
    "measuring",
    "pack_once",
    "png",
    "text_renderer",
]

#: figures whose layout is fixed (:func:`fit`, or placed by hand): saved as they are
_LAID_OUT: weakref.WeakSet[Figure] = weakref.WeakSet()
_PAD = 0.1  # inches between the content and the figure's edge (as savefig's "tight" pads)
_GAP = 0.135  # inches between the text of one panel and the next (tight_layout's pad)
_MIN_PANEL = 0.6  # inches: the figure grows rather than squeeze a panel below this


def mark_laid_out(fig: Figure) -> Figure:
    """Record that ``fig``'s layout is fixed: :func:`png` saves it as it is."""
    _LAID_OUT.add(fig)
    return fig


def png(fig: Figure, *, dpi: float = 110) -> bytes:
    """``fig`` as PNG bytes, drawn once when its layout is fixed.

    A figure laid out by a chart function of this package is saved as it is
    (one draw). Any other figure is cropped to its content
    (``bbox_inches="tight"``, which draws it once more to measure it), so that
    nothing of it is cut off.

    Parameters
    ----------
    fig
        The figure.
    dpi
        Resolution of the PNG.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    buffer = io.BytesIO()
    if fig in _LAID_OUT:
        fig.savefig(buffer, format="png", dpi=dpi)
    else:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


@contextmanager
def measuring(fig: Figure) -> Iterator[RendererBase]:
    """``fig`` at the resolution charts are saved with, and a renderer to measure text.

    Text is laid out a little differently at each resolution (hinting): a long
    title measured at the screen's 100 dpi comes out about 3 % wider in the
    110 dpi PNG. Measured at the PNG's resolution, the save also finds the
    text laid out already.
    """
    import matplotlib as mpl

    shown = fig.dpi
    saved = mpl.rcParams["savefig.dpi"]
    fig.set_dpi(shown if saved == "figure" else float(saved))
    try:
        yield fig.canvas.get_renderer()  # type: ignore[attr-defined]
    finally:
        fig.set_dpi(shown)


def text_renderer(fig: Figure) -> RendererBase:
    """A renderer to measure text as ``fig`` draws it now (at its current dpi).

    Unlike the canvas's renderer (``fig.canvas.get_renderer()``, which a text's
    ``get_window_extent()`` uses), it leaves the canvas alone: the canvas keeps
    one renderer, with the text sizes it measured, and a renderer at another
    resolution would replace it. A chart measured at the PNG's resolution
    (:func:`measuring`) is then saved with the renderer that measured its text.
    """
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(1, 1, fig.dpi)  # type: ignore[no-untyped-call]


@cache
def _date_locator_class() -> type[AutoDateLocator]:
    import matplotlib.dates as mdates

    class _DateLocator(mdates.AutoDateLocator):
        """``AutoDateLocator`` that computes its ticks once per view interval.

        Axes sharing x share one locator, and each asks for the ticks at every
        draw and measure: the answer depends on the view interval only.
        """

        _memo: tuple[tuple[float, float], Any] | None = None

        def __call__(self) -> Any:
            view = self.axis.get_view_interval() if self.axis is not None else (0.0, 0.0)
            key = (float(view[0]), float(view[1]))
            if self._memo is None or self._memo[0] != key:
                self._memo = (key, super().__call__())  # type: ignore[no-untyped-call]
            return self._memo[1]

    return _DateLocator


def date_locator() -> Locator:
    """The time axes' locator: 4 to 9 ticks at round times, computed once per view."""
    return _date_locator_class()(minticks=4, maxticks=9)


@cache
def _date_formatter_class() -> type[DateFormatter]:
    import matplotlib.dates as mdates

    class _DateFormatter(mdates.DateFormatter):
        """``DateFormatter`` that formats the same ticks once.

        Every measure and draw of an axis formats its tick labels again, each
        through a conversion to ``datetime``: the labels depend on the ticks only.
        """

        _memo: tuple[tuple[float, ...], list[str]] | None = None

        def format_ticks(self, values: Any) -> list[str]:
            key = tuple(float(v) for v in values)
            if self._memo is None or self._memo[0] != key:
                self._memo = (key, super().format_ticks(values))
            else:
                self.set_locs(values)
            return list(self._memo[1])

    return _DateFormatter


def date_formatter(fmt: str) -> Formatter:
    """The time axes' formatter: ``fmt`` in UTC, each set of ticks formatted once."""
    return _date_formatter_class()(fmt, tz="UTC")


class _Memo:
    """One method of one box, computed once per renderer while a legend draws."""

    def __init__(self, method: Any) -> None:
        self.method = method
        self.results: dict[int, Any] = {}

    def __call__(self, renderer: RendererBase) -> Any:
        key = id(renderer)
        if key not in self.results:
            self.results[key] = self.method(renderer)
        return self.results[key]


_PACKING = ("get_bbox", "_get_bbox_and_child_offsets")


class _PackedDraw:
    """A legend's ``draw`` that packs each of its boxes once.

    matplotlib packs a legend's boxes (rows of sample and text, columns, the
    whole key) when it places the legend, then again as it draws each level,
    every text measured at each level above it. Nothing changes while it
    draws: each box's size and its children's offsets are computed once (for
    that draw only: the next draw measures again).
    """

    def __init__(self, legend: Legend) -> None:
        self.legend = legend

    def __call__(self, renderer: RendererBase) -> None:
        from matplotlib.offsetbox import OffsetBox

        legend = self.legend
        boxes: list[Any] = []
        stack = [getattr(legend, "_legend_box", None)]
        while stack:
            box = stack.pop()
            if isinstance(box, OffsetBox):
                boxes.append(box)
                stack.extend(box.get_children())
        for box in boxes:
            for name in _PACKING:
                if hasattr(box, name):
                    setattr(box, name, _Memo(getattr(box, name)))
        try:
            type(legend).draw(legend, renderer)
        finally:
            for box in boxes:
                for name in _PACKING:
                    box.__dict__.pop(name, None)


def pack_once(legend: Legend) -> Legend:
    """Have ``legend`` pack each of its boxes once per draw (it looks the same)."""
    legend.draw = _PackedDraw(legend)  # type: ignore[method-assign]
    return legend


def _union(boxes: Sequence[Bbox | None]) -> Bbox | None:
    from matplotlib.transforms import Bbox

    finite = [b for b in boxes if b is not None and b.width >= 0 and b._is_finite()]
    return Bbox.union(finite) if finite else None


class _Extents:
    """What the axes of one placement draw, each artist measured once (pixels).

    A legend's packed box (the costly part of its extent: every entry's text and
    sample) does not change when its axes move, only where it is: ``packed``
    holds it across the placements of one :func:`fit`, and each placement puts
    it where its legend anchors it now. Texts are measured once per placement.
    """

    def __init__(self, renderer: RendererBase, packed: dict[int, Bbox]) -> None:
        self.renderer = renderer
        self.packed = packed
        self._texts: dict[int, Bbox] = {}

    def text(self, text: Text) -> Bbox:
        """``text.get_window_extent``, measured once in this placement."""
        box = self._texts.get(id(text))
        if box is None:
            box = self._texts[id(text)] = text.get_window_extent(self.renderer)
        return box

    def legend(self, legend: Legend) -> Bbox:
        """``legend.get_window_extent``, its box packed once in the fit."""
        box = getattr(legend, "_legend_box", None)
        if box is None:  # not the legend of the matplotlib we know: measure it all
            return legend.get_window_extent(self.renderer)
        packed = self.packed.get(id(legend))
        if packed is None:
            packed = self.packed[id(legend)] = box.get_bbox(self.renderer)
        x, y = box.get_offset(packed, self.renderer)
        return cast("Bbox", packed.translated(x, y))


def _texts(ax: Axes) -> list[Text]:
    """The visible, non-empty texts of ``ax`` that are not clipped to it."""
    from matplotlib.text import Text

    return [
        child
        for child in ax.get_children()
        if isinstance(child, Text)
        and child.get_visible()
        and child.get_text()
        and not (child.get_clip_on() and (child.get_clip_box() or child.get_clip_path()))
    ]


def _decorations(ax: Axes, extents: _Extents) -> Bbox | None:
    """What ``ax`` draws around its data: axes' text, titles, notes, its key (pixels).

    Text clipped to the axes never sticks out and is left out; so are lines and
    patches (clipped to the axes by the chart functions).
    """
    renderer = extents.renderer
    boxes: list[Bbox | None] = [
        ax.xaxis.get_tightbbox(renderer),
        ax.yaxis.get_tightbbox(renderer),
    ]
    boxes.extend(extents.text(text) for text in _texts(ax))
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        boxes.append(extents.legend(legend))
    return _union(boxes)


def _outside(ax: Axes, extents: _Extents) -> tuple[float, float, float, float]:
    """How far ``ax``'s decorations reach beyond its box: left, right, top, bottom (inches)."""
    box = _decorations(ax, extents)
    if box is None:
        return 0.0, 0.0, 0.0, 0.0
    frame = ax.bbox
    dpi = ax.figure.dpi
    return (
        max(0.0, frame.x0 - box.x0) / dpi,
        max(0.0, box.x1 - frame.x1) / dpi,
        max(0.0, box.y1 - frame.y1) / dpi,
        max(0.0, frame.y0 - box.y0) / dpi,
    )


def _reach(ax: Axes, extents: _Extents) -> float:
    """How far right of ``ax``'s left edge its left-aligned title and its key reach (inches)."""
    boxes = []
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        boxes.append(extents.legend(legend))
    from matplotlib.text import Text

    title = ax.get_title(loc="left")
    for child in ax.get_children() if title else ():
        if isinstance(child, Text) and child.get_text() == title and child.get_visible():
            boxes.append(extents.text(child))
    return max((b.x1 - ax.bbox.x0 for b in boxes), default=0.0) / ax.figure.dpi


def _fix_xlabel(ax: Axes) -> None:
    """Keep ``ax``'s x label where the last measure put it (under the tick labels).

    matplotlib places an x label at every draw, from the extents of the tick
    labels, measured for it a second time. Once laid out, the place is known:
    the label is fixed there, at a distance in inches (the same at any resolution).
    """
    from matplotlib.transforms import ScaledTranslation

    axis = ax.xaxis
    if not getattr(axis, "_autolabelpos", False) or axis.get_label_position() != "bottom":
        return
    fig = ax.figure
    x, y = axis.label.get_position()
    below = (ax.bbox.y0 - y) / fig.dpi
    offset = ScaledTranslation(0, -below, fig.dpi_scale_trans)
    axis.set_label_coords(x, 0.0, transform=ax.transAxes + offset)


def _align_ylabels(column: Sequence[Axes], renderer: RendererBase) -> None:
    """Put the y labels of ``column`` at one distance left of the axes, clear of the
    widest y tick labels."""
    from matplotlib.transforms import ScaledTranslation

    fig = column[0].figure
    dpi = fig.dpi
    ticks = 0.0
    for ax in column:
        extents = [t.get_window_extent(renderer) for t in ax.yaxis.get_majorticklabels()]
        if extents:
            ticks = max(ticks, (ax.bbox.x0 - min(e.x0 for e in extents)) / dpi)
    for ax in column:
        at = ticks + ax.yaxis.labelpad / 72
        offset = ScaledTranslation(-at, 0, fig.dpi_scale_trans)
        ax.yaxis.set_label_coords(0.0, 0.5, transform=ax.transAxes + offset)


def _place(fig: Figure, column: Sequence[Axes], renderer: RendererBase) -> None:
    """:func:`fit`'s measures and placement."""
    width, height = (float(v) for v in fig.get_size_inches())
    packed: dict[int, Bbox] = {}  # the keys' packed boxes: they move, they do not change
    # vertical: titles, x tick labels, x labels and keys; none depends on the widths
    outside = [_outside(ax, _Extents(renderer, packed)) for ax in column]
    for ax in column:  # titles are fixed at the top (y=1): an offset text would hit them
        if ax.yaxis.offsetText.get_visible() and ax.yaxis.offsetText.get_text():
            ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    top = outside[0][2] + _PAD
    bottom = outside[-1][3] + _PAD
    gap = max((a[3] + b[2] for a, b in pairwise(outside)), default=0.0)
    gap += _GAP
    count = len(column)
    needed = top + bottom + (count - 1) * gap + count * _MIN_PANEL
    if height < needed:
        height = needed
        fig.set_figheight(height)
    panel = (height - top - bottom - (count - 1) * gap) / count
    fig.subplots_adjust(
        left=(max(a[0] for a in outside) + _PAD) / width,
        right=1 - (max(a[1] for a in outside) + _PAD) / width,
        top=1 - top / height,
        bottom=bottom / height,
        hspace=gap / panel,
    )
    # horizontal: y tick labels follow the panels' height (labels aligned after them);
    # then x tick labels and notes beside the axes, at that width
    _align_ylabels(column, renderer)
    extents = _Extents(renderer, packed)
    outside = [_outside(ax, extents) for ax in column]
    for ax in column:  # measured for the panels' final height: it stays
        _fix_xlabel(ax)
    left = max(a[0] for a in outside) + _PAD
    right = max(a[1] for a in outside) + _PAD
    # a title or key longer than the figure is wide widens it (the axes keep their width)
    reach = max(_reach(ax, extents) for ax in column)
    if left + reach + _PAD > width:
        plot = width - left - right
        width = left + reach + _PAD
        fig.set_figwidth(width)
        right = width - left - plot
    fig.subplots_adjust(left=left / width, right=1 - right / width)


def fit(fig: Figure, column: Sequence[Axes]) -> Figure:
    """Lay out ``column`` (axes top to bottom, the figure's width) around its text.

    The margins and the gap between panels are measured from what each axes
    draws outside its box; the panels share the height left (the figure grows
    when they would get too little, and widens for a title or key longer than
    it is wide). Y labels are aligned. The layout is then
    fixed: :func:`png` saves the figure as it is.

    Parameters
    ----------
    fig
        The figure holding ``column`` (made with ``plt.subplots``).
    column
        Its axes, top to bottom.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig``.
    """
    with measuring(fig) as renderer:
        _place(fig, column, renderer)
    return mark_laid_out(fig)
