"""What keeps the charts cheap leaves them as they were.

A fit measures each legend's packed box once and each text once per placement;
laid out, a chart keeps its x label where the fit found it; time labels are
formatted once per set of ticks; badges are measured without replacing the
renderer that measured the layout (the save reuses it). Each is checked against
the plain matplotlib way: the same layout, the same labels, the same pixels.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from chart_figures import T0, close_figures, minute_series  # noqa: F401 (close_figures: autouse)
from matplotlib.backends import backend_agg
from PIL import Image

from incident_lib import Window, charts
from incident_lib.charts import _layout
from incident_lib.charts.panels import _times

WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))


def _markers(rng: random.Random, count: int) -> pd.DataFrame:
    minutes = sorted(rng.sample(range(0, 120), count))
    words = ["deploy", "checkout", "v2.34", "feature", "flag", "payments", "$5", "routing"]
    return pd.DataFrame(
        {
            "time": [T0 + pd.Timedelta(minutes=m) for m in minutes],
            "label": [" ".join(rng.choices(words, k=rng.randint(1, 14))) for _ in minutes],
            "kind": [rng.choice(["deploy", "config", "rollback", "scale"]) for _ in minutes],
        }
    )


def _random_panels(seed: int) -> Any:
    rng = random.Random(seed)
    keys = rng.sample(["request_rate", "error_ratio", "latency_p95", "cpu", "memory"], 3)
    series = {key: minute_series(rng.choice([1e-3, 0.5, 25.0, 2e5, 2**31])) for key in keys}
    return charts.metric_panels(
        series,
        window=WINDOW,
        markers=_markers(rng, rng.randint(0, 6)),
        onsets={keys[0]: T0 + pd.Timedelta(minutes=70)},
        width=rng.choice([6.0, 10.0]),
    )


def _layout_of(fig: Any) -> list[Any]:
    """Everything fit decides, as saved: the figure's size, each axes' box, each label's place."""
    charts.png(fig)  # matplotlib places what it places at the save
    out: list[Any] = [tuple(round(float(v), 9) for v in fig.get_size_inches())]
    with _layout.measuring(fig) as renderer:
        for ax in fig.axes:
            out.append(tuple(round(float(v), 9) for v in ax.get_position().bounds))
            for label in (ax.xaxis.label, ax.yaxis.label):
                box = label.get_window_extent(renderer)
                out.append(tuple(round(float(v), 6) for v in box.bounds))
    return out


class _Plain(_layout._Extents):
    """Every extent measured again, as matplotlib measures it."""

    def text(self, text: Any) -> Any:
        return text.get_window_extent(self.renderer)

    def legend(self, legend: Any) -> Any:
        return legend.get_window_extent(self.renderer)


@pytest.mark.parametrize("seed", range(6))
def test_the_layout_is_the_one_measured_without_caches(seed, monkeypatch):
    cached = _layout_of(_random_panels(seed))
    monkeypatch.setattr(_layout, "_Extents", _Plain)
    monkeypatch.setattr(_layout, "_fix_xlabel", lambda ax: None)  # matplotlib places it
    assert _layout_of(_random_panels(seed)) == cached


def _keyed(label: str) -> tuple[Any, Any]:
    fig, ax = plt.subplots(figsize=(8.0, 3.0))
    ax.plot([0, 1], [0, 1], label=label)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the axes
    return fig, ax


def test_a_key_changed_after_a_fit_is_measured_again():
    fig, ax = _keyed("short")
    _layout.fit(fig, [ax])
    before = ax.get_position().bounds
    longer = "a longer entry in the key"
    ax.get_legend().get_texts()[0].set_text(longer)
    _layout.fit(fig, [ax])
    assert ax.get_position().bounds != before  # narrower, for the wider key
    fresh, fresh_ax = _keyed(longer)
    _layout.fit(fresh, [fresh_ax])
    assert ax.get_position().bounds == fresh_ax.get_position().bounds


def test_a_laid_out_x_label_stays_under_the_tick_labels_at_any_resolution():
    fig = _random_panels(1)
    bottom = fig.axes[-1]
    for dpi in (72, 110, 200):
        fig.set_dpi(dpi)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ticks = [t.get_window_extent(renderer) for t in bottom.get_xticklabels() if t.get_text()]
        label = bottom.xaxis.label.get_window_extent(renderer)
        assert label.y1 < min(t.y0 for t in ticks)  # under them
        gap = (min(t.y0 for t in ticks) - label.y1) * 72 / dpi
        assert gap == pytest.approx(bottom.xaxis.labelpad, abs=1.5)  # at the usual distance


def test_time_labels_are_formatted_once_per_set_of_ticks_and_read_the_same():
    plain = mdates.DateFormatter("%H:%M", tz="UTC")
    formatter = _layout.date_formatter("%H:%M")
    ticks = [float(v) for v in mdates.date2num(pd.date_range(T0, periods=7, freq="10min"))]
    first = formatter.format_ticks(ticks)
    assert first == plain.format_ticks(ticks)
    first.append("changed by the caller")
    calls: list[object] = []
    original = mdates.DateFormatter.__call__
    mdates.DateFormatter.__call__ = lambda self, x, pos=0: calls.append(x) or original(self, x, pos)
    try:
        assert formatter.format_ticks(ticks) == plain.format_ticks(ticks)  # not the caller's list
        assert len(calls) == 7  # only plain's: the same ticks are not formatted again
        later = [v + 1 / 24 for v in ticks]
        assert formatter.format_ticks(later) == plain.format_ticks(later)
    finally:
        mdates.DateFormatter.__call__ = original


def test_times_are_drawn_at_the_numbers_of_their_timestamps():
    stamps = [T0 + pd.Timedelta(seconds=s) for s in (0, 15, 61, 3600)]
    expected = [float(mdates.date2num(t)) for t in stamps]
    for values in (
        stamps,
        pd.Series(stamps),
        pd.DatetimeIndex(stamps),
        pd.DatetimeIndex(stamps).tz_convert("Europe/Paris"),
        pd.DatetimeIndex(stamps).tz_localize(None),  # naive: taken as UTC
    ):
        assert list(mdates.date2num(_times(values))) == expected


def test_the_save_reuses_the_renderer_that_measured_the_layout(monkeypatch):
    rng = random.Random(3)
    fig = charts.metric_panels(
        {"request_rate": minute_series(25.0), "error_ratio": minute_series(0.05)},
        window=WINDOW,
        markers=_markers(rng, 4),
    )
    made: list[object] = []
    original = backend_agg.RendererAgg.__init__

    def init(self: Any, *args: Any) -> None:
        made.append(args)
        original(self, *args)

    monkeypatch.setattr(backend_agg.RendererAgg, "__init__", init)
    charts.png(fig)
    assert made == []  # its text is measured already: no second measure at another size


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _key_figure(label: str) -> tuple[Any, Any]:
    fig = charts.metric_panels(
        {"request_rate": minute_series(25.0)}, window=WINDOW, markers=_markers(random.Random(5), 3)
    )
    legend = fig.axes[-1].get_legend()
    legend.get_texts()[-1].set_text(label)
    return fig, legend


def test_a_key_packed_once_per_draw_looks_as_matplotlib_draws_it():
    fig, legend = _key_figure("a label")
    packed = _pixels(charts.png(fig))
    del legend.draw  # matplotlib's own draw, packing at every level
    assert np.array_equal(_pixels(charts.png(fig)), packed)


def test_each_draw_of_a_key_packs_it_anew():
    fig, legend = _key_figure("short")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    narrow = legend.get_window_extent(renderer).width
    legend.get_texts()[-1].set_text("a label much longer than any other in the key " * 2)
    fig.canvas.draw()  # the same renderer: nothing kept from the draw before
    assert legend.get_window_extent(renderer).width > narrow + 100
    boxes, left = [legend._legend_box], []
    while boxes:
        box = boxes.pop()
        left += [name for name in ("get_bbox", "_get_bbox_and_child_offsets") if name in vars(box)]
        boxes += [c for c in box.get_children() if hasattr(c, "get_offset")]
    assert left == []  # no measure kept on the boxes
