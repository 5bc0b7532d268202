"""Each chart is laid out when it is built and saved drawn once, with nothing cut off.

Long text everywhere (metric names, change labels, signature templates, pod and
application names, titles), then: one draw event per save, every text that the
save draws inside the PNG, the PNG the figure's own size (not cropped: no second
measuring draw), y labels of stacked panels aligned, the date ticks of shared
axes computed once.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from activity_rows import activity_row
from chart_figures import T0, close_figures, minute_series  # noqa: F401 (close_figures: autouse)
from matplotlib.text import Text
from PIL import Image

from incident_lib import Window, charts
from incident_lib.analysis.database import BlockingNode
from incident_lib.core.schema import conform
from incident_lib.core.timeline import Event
from incident_lib.runbook import Runbook

WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))
LONG = (
    "ConfigMap checkout-feature-flags-and-payment-provider-routing changed by "
    "kubectl-edit from a very long named automation account"
)
DPI = 110


def _markers() -> pd.DataFrame:
    times = ["13:02", "13:05", "14:10", "14:33"]
    return pd.DataFrame(
        {
            "time": [pd.Timestamp(f"2026-11-03T{t}:00Z") for t in times],
            "label": [LONG, "Feature flag product-reviews-carousel on", "deploy v2.34", LONG],
            "kind": ["config", "config", "deploy", "rollback"],
        }
    )


def _metric_panels() -> Any:
    series = {
        "request_rate": minute_series(25.0),
        "error_ratio": minute_series(0.05),
        "latency_p95": minute_series(180000.0),  # wide tick labels
        "cpu": minute_series(0.4),
        "memory": minute_series(2**30),
        "a_custom_metric_with_a_really_long_name_of_its_own": minute_series(3.0),
    }
    onsets = {"error_ratio": pd.Timestamp("2026-11-03T14:19:00Z")}
    return charts.metric_panels(series, window=WINDOW, markers=_markers(), onsets=onsets)


def _usage_panels() -> Any:
    pods = [f"checkout-5c8d7f9b64-{suffix}-with-a-long-replica-name" for suffix in "abcdefgh"]
    times = pd.date_range(T0, periods=60, freq="2min")
    usage = pd.DataFrame(
        [
            {"time": t, "pod": p, "container": "checkout", "cpu": 0.4 + i / 50, "memory": 7e8}
            for i, p in enumerate(pods)
            for t in times
        ]
    )
    limits = pd.DataFrame(
        {
            "pod": pods,
            "container": "checkout",
            "cpu_limit": 1.0,
            "memory_limit": float(2**30),
            "restarts": [2] + [0] * 7,
            "last_termination_reason": ["OOMKilled"] + [""] * 7,
            "last_termination_at": [pd.Timestamp("2026-11-03T14:08:00Z")] + [pd.NaT] * 7,
        }
    )
    return charts.usage_panels(usage, limits, container="checkout", window=WINDOW)


def _signature_lines() -> Any:
    templates = [f"{LONG} <NUM> {n}" for n in range(3)] + [
        "psycopg.OperationalError: connection to server at <IP>, port <NUM> failed"
    ]
    rows = [
        {"time": t, "signature": f"s{k}", "template": text, "count": 10 * (k + 1)}
        for k, text in enumerate(templates)
        for t in pd.date_range(T0, periods=60, freq="2min")
    ]
    return charts.signature_lines(pd.DataFrame(rows), window=WINDOW, markers=_markers())


def _activity_row(t: pd.Timestamp, pid: int, app: str, state: str, since: float) -> dict[str, Any]:
    idle = state.startswith("idle in")
    return activity_row(
        t,
        pid,
        app=app,
        state=state,
        since=since,
        xact=since if idle else None,
        target="orders-primary-database-in-the-eu-west-region",
        backend_start=T0 - pd.Timedelta(hours=1),
    )


def _activity() -> pd.DataFrame:
    rows = []
    for i in range(40):
        t = T0 + pd.Timedelta(minutes=2 * i)
        rows += [_activity_row(t, 10 + k, f"worker-{k}", "active", 1.0) for k in range(8)]
        rows += [
            _activity_row(t, 100 + k, f"{LONG}-{k % 2}", "idle in transaction", 60.0 * (i - k))
            for k in range(min(i, 90))
        ]
    return conform(pd.DataFrame(rows), "pg_activity")


def _settings() -> pd.DataFrame:
    values = {"max_connections": 40, "superuser_reserved_connections": 3}
    return conform(
        pd.DataFrame(
            {
                "target": "orders-primary-database-in-the-eu-west-region",
                "name": list(values),
                "setting": [str(v) for v in values.values()],
                "unit": "",
            }
        ),
        "pg_settings",
    )


def _blocking_tree() -> Any:
    def node(pid: int, children: tuple[BlockingNode, ...] = ()) -> BlockingNode:
        return BlockingNode(
            pid=pid,
            application_name=LONG,
            waiting_s=300.0,
            children=children,
            usename="orders",
            client_addr="10.0.0.9",
            state="active",
            wait="Lock/transactionid",
            query=f"UPDATE orders SET status = $1 WHERE id = $2 -- {LONG}",
        )

    return charts.blocking_tree_chart([node(1, (node(2, (node(3),)), node(4)))])


def _timeline() -> Any:
    at = datetime(2026, 11, 3, 14, tzinfo=UTC)
    events = [
        Event(
            time=at + timedelta(minutes=3 * n),
            source=source,
            kind=kind,
            summary=f"{LONG} ({n})",
            key=f"k{n}",
            evidence="kubernetes/events",
        )
        for n, (source, kind) in enumerate(
            [("changes", "deploy"), ("kubernetes", "warning"), ("monitors", "alert")] * 5
        )
    ]
    return charts.timeline_chart(events, window=WINDOW, title=f"Incident: {LONG}")


CHARTS = {
    "metric_panels": _metric_panels,
    "usage_panels": _usage_panels,
    "signature_lines": _signature_lines,
    "connections_chart": lambda: charts.connections_chart(_activity(), _settings(), window=WINDOW),
    "connection_growth_chart": lambda: charts.connection_growth_chart(_activity(), window=WINDOW),
    "idle_in_transaction_chart": lambda: charts.idle_in_transaction_chart(
        _activity(), window=WINDOW
    ),
    "blocking_tree_chart": _blocking_tree,
    "empty_blocking_tree_chart": lambda: charts.blocking_tree_chart([]),
    "timeline_chart": _timeline,
}


def _save(fig: Any, tmp_path, monkeypatch) -> tuple[int, list[tuple[str, Any]], bytes]:
    """Save ``fig`` through ``rb.save_chart``: (draw events, drawn texts and extents, PNG)."""
    drawn: list[tuple[str, Any]] = []
    original = Text.draw

    def draw(self: Text, renderer: Any) -> None:
        original(self, renderer)
        if self.get_visible() and self.get_text():
            drawn.append((self.get_text(), self.get_window_extent(renderer)))

    monkeypatch.setattr(Text, "draw", draw)
    draws: list[object] = []
    fig.canvas.mpl_connect("draw_event", draws.append)
    rb = Runbook.__new__(Runbook)  # only what save_chart reads
    rb.run_dir, rb.notebook = tmp_path, "05_metrics"
    rel = rb.save_chart(fig, "chart")
    monkeypatch.setattr(Text, "draw", original)
    return len(draws), drawn, (tmp_path / rel).read_bytes()


@pytest.mark.parametrize("name", list(CHARTS))
def test_a_saved_chart_is_drawn_once_with_every_text_inside(name, tmp_path, monkeypatch):
    fig = CHARTS[name]()
    width, height = (v * DPI for v in fig.get_size_inches())
    draws, drawn, png = _save(fig, tmp_path, monkeypatch)
    assert draws == 1  # no tight_layout draw, no bbox_inches="tight" measuring draw
    size = Image.open(io.BytesIO(png)).size
    assert size == pytest.approx((width, height), abs=1)  # saved as laid out, not cropped
    assert drawn
    outside = [
        (text, box.bounds)
        for text, box in drawn
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5
    ]
    assert outside == []


def test_stacked_panels_share_one_y_label_line_and_keep_their_titles_apart():
    fig = _metric_panels()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lefts = {round(ax.yaxis.label.get_window_extent(renderer).x1, 1) for ax in fig.axes}
    assert len(lefts) == 1  # aligned, as Figure.align_ylabels does
    for upper, lower in zip(fig.axes, fig.axes[1:], strict=False):
        title = lower.title if lower.get_title() else lower._left_title
        above = upper.xaxis.get_tightbbox(renderer) or upper.bbox  # tick labels, if shown
        assert title.get_window_extent(renderer).y1 < min(above.y0, upper.bbox.y0)
        assert title.get_window_extent(renderer).y0 >= lower.bbox.y1  # above its own panel


def test_shared_time_axes_compute_their_ticks_once_per_view(monkeypatch):
    fig = _metric_panels()
    calls = []
    original = mdates.AutoDateLocator.get_locator

    def get_locator(self: Any, dmin: Any, dmax: Any) -> Any:
        calls.append(1)
        return original(self, dmin, dmax)

    monkeypatch.setattr(mdates.AutoDateLocator, "get_locator", get_locator)
    charts.png(fig)
    assert calls == []  # built and measured already: the draw reuses the ticks


def test_a_figure_made_elsewhere_is_still_cropped_to_its_content():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside the figure
    png = charts.png(fig, dpi=100)
    assert Image.open(io.BytesIO(png)).size[0] > 400  # grown to hold the legend


def test_huge_values_never_put_an_offset_under_a_title():
    series = {"request_rate": minute_series(4e7), "error_ratio": minute_series(1e-7)}
    fig = charts.metric_panels(series, window=WINDOW)
    fig.canvas.draw()
    assert [ax.yaxis.offsetText.get_text() for ax in fig.axes] == ["", ""]
