"""The incident timeline chart (Agg backend): lanes, markers, numbered badges and their key."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from incident_lib import Window, charts
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import SchemaError
from incident_lib.core.timeline import Event, events_frame, note_event, status_event

WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))
LANE_ORDER = ["changes", "Kubernetes", "monitors", "logs", "database", "actions", "people"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _at(hhmm: str, seconds: int = 0) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(2026, 11, 3, hour, minute, tzinfo=UTC) + timedelta(seconds=seconds)


SIGNATURES = [
    "QueuePool limit of size <NUM> overflow <NUM> reached, connection timed out",
    "FATAL: remaining connection slots are reserved for non-replication superuser",
    "GET /orders/<ID> 500 Internal Server Error",
    "psycopg.OperationalError: connection to server failed",
    "worker timeout (pid:<NUM>)",
    "upstream request timeout on /cart",
    "sqlalchemy.exc.TimeoutError: QueuePool checkout",
    "health check /readyz failed: database unavailable",
]


def _demo_events() -> list[Event]:
    """The connection-leak story, by hand: a rollout, the onset, alerts, status changes,
    a rollback, eight new log signatures and thirty probe warnings."""
    events = [
        Event(
            time=_at("14:10"),
            source="changes",
            kind="deploy",
            summary="api rollout to v2.34 (rev 42): image api:v2.34",
            key="api rev 42",
            evidence="kubernetes/rollouts",
            row=3,
        ),
        Event(
            time=_at("14:33"),
            source="changes",
            kind="rollback",
            summary="api rolled back to v2.33 (rev 43)",
            key="api rev 43",
            evidence="kubernetes/rollouts",
            row=4,
        ),
        Event(
            time=_at("14:18"),
            source="metrics",
            kind="onset",
            summary="5xx share left its baseline",
            key="error_ratio onset",
        ),
        Event(
            time=_at("14:19"),
            source="metrics",
            kind="onset",
            summary="p95 latency left its baseline",
            key="latency onset",
        ),
        Event(
            time=_at("14:36"),
            source="metrics",
            kind="recovery",
            summary="5xx share back within its baseline",
            key="error_ratio recovery",
        ),
        Event(
            time=_at("14:21"),
            source="monitors",
            kind="alert",
            summary="[P2] api 5xx rate above 1% went to Alert",
            key="m1@14:21",
        ),
        Event(
            time=_at("14:22"),
            source="monitors",
            kind="alert",
            summary="api p95 latency above 2 s went to Alert",
            key="m2@14:22",
        ),
        Event(
            time=_at("14:40"),
            source="monitors",
            kind="ok",
            summary="[P2] api 5xx rate above 1% recovered",
            key="m1@14:40",
        ),
        status_event("detected", _at("14:21"), author="alice.nguyen"),
        status_event("acknowledged", _at("14:24"), author="alice.nguyen"),
        status_event("mitigated", _at("14:35")),
        status_event("resolved", _at("14:50")),
        note_event(
            "Rolling back v2.34: pool exhausted since the deploy", _at("14:31"), author="bruno"
        ),
    ]
    for n, text in enumerate(SIGNATURES):
        events.append(
            Event(
                time=_at("14:18", 40 * n),
                source="logs",
                kind="new_signature",
                summary=f"new log signature: {text}",
                key=f"sig{n}",
            )
        )
    for n in range(30):
        events.append(
            Event(
                time=_at("14:20", 30 * n),
                source="kubernetes",
                kind="probe",
                summary=f"Readiness probe failed: pod api-7c9f-{n:02d} HTTP 503",
                key=f"probe{n}",
            )
        )
    return events


@pytest.fixture(scope="module")
def errors() -> pd.Series:
    from incident_lib.analysis.metrics import series
    from incident_lib.demo import ensure_demo
    from incident_lib.infra.workspace import open_workspace

    metrics = open_workspace(ensure_demo("connection-leak")).evidence.read("datadog", "metrics")
    return series(metrics, "error_ratio")


def _lanes(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes[1:] for t in ax.get_yticklabels()]


def _key(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def _badges(fig) -> list:
    return [t for ax in fig.axes for t in ax.texts if t.get_bbox_patch() is not None]


def _draw(fig, dpi: float):
    fig.savefig(io.BytesIO(), dpi=dpi, bbox_inches="tight")  # as rb.save_chart does
    fig.set_dpi(dpi)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _assert_no_label_overlaps(fig, dpi: float) -> int:
    """Badges (text and box), key lines and lane names: no two overlap; badges stay in their
    axes. Returns the number of badges."""
    renderer = _draw(fig, dpi)
    badges = _badges(fig)
    boxes = [b.get_bbox_patch().get_window_extent(renderer) for b in badges]
    texts = [b.get_window_extent(renderer) for b in badges]
    key = [
        t.get_window_extent(renderer)
        for ax in fig.axes
        if ax.get_legend()
        for t in ax.get_legend().get_texts()
    ]
    names = [t.get_window_extent(renderer) for ax in fig.axes[1:] for t in ax.get_yticklabels()]
    for group in (boxes, texts, key + boxes, names + boxes, names + key):
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                assert not a.overlaps(b), (a, b)
    for badge, box in zip(badges, boxes, strict=True):
        area = badge.axes.get_window_extent(renderer)
        if badge.axes is not fig.axes[0]:  # a lane is tall enough for its rows of badges
            assert area.y0 - 0.5 <= box.y0 and box.y1 <= area.y1 + 0.5, (box, area)
    return len(badges)


def test_one_lane_per_source_present_in_lane_order(errors):
    fig = charts.timeline_chart(events_frame(_demo_events()), errors=errors, window=WINDOW)
    assert _lanes(fig) == ["changes", "Kubernetes", "monitors", "logs", "people"]
    assert fig.axes[0].get_title(loc="left") == "5xx share of requests"
    assert fig.axes[-1].get_xlabel() == "time (UTC)"
    # every lane is a separate band under the error panel, top to bottom, none overlapping
    _draw(fig, 110)
    tops = [ax.get_position() for ax in fig.axes]
    assert all(a.y0 >= b.y1 - 1e-9 for a, b in itertools.pairwise(tops))
    # every lane source appears: all seven when every lane has an event
    everything = [
        Event(
            time=_at("14:30", n),
            source=lane,
            kind="event" if lane == "changes" else "note",
            summary=lane,
        )
        for n, lane in enumerate(
            ["people", "actions", "database", "logs", "monitors", "kubernetes", "changes"]
        )
    ]
    fig = charts.timeline_chart(everything, window=WINDOW)
    assert _lanes(fig) == LANE_ORDER


@pytest.mark.parametrize("dpi", [100, 110])
def test_badges_and_key_never_overlap(errors, dpi):
    fig = charts.timeline_chart(events_frame(_demo_events()), errors=errors, window=WINDOW)
    assert _assert_no_label_overlaps(fig, dpi) == 20


def test_a_dense_cluster_still_never_overlaps():
    burst = [
        Event(
            time=_at("14:10", 5 * n),
            source="changes",
            kind=("deploy", "config", "scale")[n % 3],
            summary=f"change number {n} of a busy minute",
        )
        for n in range(24)
    ]
    fig = charts.timeline_chart(burst, window=WINDOW, numbered=24)
    assert _assert_no_label_overlaps(fig, 110) == 24
    assert _assert_no_label_overlaps(fig, 100) == 24


def test_the_key_numbers_the_important_events_and_counts_the_rest(errors):
    events = _demo_events()
    fig = charts.timeline_chart(events_frame(events), errors=errors, window=WINDOW)
    key = _key(fig)
    assert key[0] == "incident window"
    numbered = key[1:-1]
    assert [line.split(" · ")[0] for line in numbered] == [str(n) for n in range(1, 21)]
    assert key[-1] == f"+{len(events) - 20} more (not numbered)"
    # times in order, HH:MM UTC
    times = [line.split(" · ")[1] for line in numbered]
    assert times == sorted(times)
    text = "\n".join(numbered)
    for must in (
        "14:10 · api rollout to v2.34",
        "14:33 · api rolled back to v2.33",
        "Incident detected by alice.nguyen",
        "Incident acknowledged",
        "Incident mitigated",
        "Incident resolved",
        "5xx share left its baseline",
        "went to Alert",
        "Readiness probe failed",  # the first of its kind
        "new log signature: QueuePool",
    ):
        assert must in text, must
    assert text.count("Readiness probe failed") == 1  # not 30 of them
    # badge numbers on the chart are exactly the key's numbers
    assert sorted(int(b.get_text()) for b in _badges(fig)) == list(range(1, 21))
    # a long summary is cut at a word boundary
    assert all(len(line.split(" · ", 2)[2]) <= 66 for line in numbered)


def test_markers_are_coloured_by_lane_and_shaped_by_kind():
    fig = charts.timeline_chart(_demo_events(), window=WINDOW)
    lanes = dict(zip(_lanes(fig), fig.axes[1:], strict=True))
    changes = {line.get_marker() for line in lanes["changes"].get_lines()}
    assert changes == {"^", "v"}  # deploy, rollback reversed
    people = {line.get_marker() for line in lanes["people"].get_lines()}
    assert people == {"D", "s"}  # status changes diamonds, the note a square
    colours = {matplotlib.colors.to_hex(line.get_color()) for line in lanes["changes"].get_lines()}
    assert len(colours) == 1
    assert colours != {
        matplotlib.colors.to_hex(line.get_color()) for line in lanes["people"].get_lines()
    }
    (probes,) = lanes["Kubernetes"].get_lines()
    assert len(probes.get_xdata()) == 30


def test_error_panel_window_view_and_metric_markers(errors):
    view = Window(_at("13:45"), _at("15:05"))
    fig = charts.timeline_chart(_demo_events(), errors=errors, window=WINDOW, view=view)
    top = fig.axes[0]
    assert top.get_xlim() == pytest.approx(
        (mdates.date2num(pd.Timestamp(view.start)), mdates.date2num(pd.Timestamp(view.end)))
    )
    assert all(ax.get_xlim() == top.get_xlim() for ax in fig.axes)  # one shared time axis
    spans = [p for p in top.patches if p.get_label() == "incident window"]
    assert len(spans) == 1
    assert [
        ax.xaxis.get_major_formatter()(mdates.date2num(pd.Timestamp(_at("14:30"))))
        for ax in fig.axes[:1]
    ] == ["14:30"]
    onsets = [line for line in top.get_lines() if line.get_linestyle() == "-."]
    recoveries = [line for line in top.get_lines() if line.get_linestyle() == ":"]
    assert len(onsets) == 2 and len(recoveries) == 1
    assert float(onsets[0].get_xdata(orig=False)[0]) == pytest.approx(
        mdates.date2num(pd.Timestamp(_at("14:18")))
    )
    (series,) = [line for line in top.get_lines() if line.get_linestyle() == "-"]
    assert max(series.get_ydata()) == pytest.approx(errors.max())
    # the metrics lane is drawn on the error panel, not as a lane
    assert "metrics" not in _lanes(fig)


def test_default_view_spans_the_events_and_the_window():
    late = [note_event("post-incident review booked", _at("15:30"))]
    fig = charts.timeline_chart(late, window=WINDOW)
    lo, hi = fig.axes[0].get_xlim()
    assert lo < mdates.date2num(pd.Timestamp(WINDOW.start))
    assert hi > mdates.date2num(pd.Timestamp(_at("15:30")))


def test_events_outside_the_view_are_counted():
    view = Window(_at("14:00"), _at("14:30"))
    fig = charts.timeline_chart(_demo_events(), window=WINDOW, view=view)
    assert any(line.endswith("outside the time range shown") for line in _key(fig))


def test_no_error_series_says_error_rate_unknown():
    for errors in (None, pd.Series([], dtype=float)):
        fig = charts.timeline_chart(_demo_events()[:2], errors=errors, window=WINDOW)
        assert "error rate unknown" in [t.get_text() for t in fig.axes[0].texts]


def test_no_events_says_so():
    fig = charts.timeline_chart(events_frame([]), window=WINDOW, title="api incident")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no events on the timeline" in texts
    assert _lanes(fig) == []
    assert _key(fig) == ["incident window"]
    _draw(fig, 110)


def test_untrusted_summaries_are_drawn_literally():
    odd = [
        r"price $\frac{ test_x",
        r"cost $5 to $6 for user_id \n",
        r"path C:\temp\new_file $HOME",
    ]
    events = [
        Event(time=_at("14:1" + str(n)), source="logs", kind="new_signature", summary=text)
        for n, text in enumerate(odd)
    ]
    fig = charts.timeline_chart(events, window=WINDOW, title=r"a $title_with \alpha")
    _draw(fig, 110)  # mathtext would fail on the first summary
    key = _key(fig)
    assert key[1:] == [f"{n + 1} · 14:1{n} · {text}" for n, text in enumerate(odd)]
    legend_texts = [t for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert not any(t.get_parse_math() for t in legend_texts)
    assert r"a $title_with \alpha" in [t.get_text() for t in fig.texts]
    assert not any(t.get_parse_math() for t in fig.texts)


def test_unknown_lane_or_another_frame_is_refused():
    frame = events_frame(_demo_events()[:1]).assign(source="elsewhere")
    with pytest.raises(InvalidInput, match="elsewhere"):
        charts.timeline_chart(frame, window=WINDOW)
    with pytest.raises(SchemaError, match="summary"):
        charts.timeline_chart(frame.drop(columns="summary"), window=WINDOW)


def test_readable_at_1280_px(errors, tmp_path):
    fig = charts.timeline_chart(
        events_frame(_demo_events()), errors=errors, window=WINDOW, title="api: elevated 5xx"
    )
    target = tmp_path / "timeline.png"
    fig.savefig(target, dpi=110, bbox_inches="tight")
    from matplotlib.image import imread

    height, width = imread(target).shape[:2]
    assert 1150 <= width <= 1350
    assert height < 1600
