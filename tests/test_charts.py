"""Charts on small literal frames (Agg backend): names and units, window, markers, empty input."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from incident_lib import Window, charts
from incident_lib.core.errors import InvalidInput
from incident_lib.core.text import shorten

WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))
T0 = pd.Timestamp("2026-11-03T13:30:00Z")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _series(*values: float, step: str = "10min") -> pd.Series:
    return pd.Series(values, index=pd.date_range(T0, periods=len(values), freq=step))


def _markers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [pd.Timestamp("2026-11-03T14:10:00Z"), pd.Timestamp("2026-11-03T14:40:00Z")],
            "label": ["deploy v2.34", "rollback to v2.33"],
            "kind": ["deploy", "rollback"],
        }
    )


def _x(moment: datetime | pd.Timestamp) -> float:
    return float(mdates.date2num(pd.Timestamp(moment)))


def _window_spans(ax) -> list[tuple[float, float]]:
    return [
        (p.get_x(), p.get_x() + p.get_width())
        for p in ax.patches
        if p.get_label() == "incident window"
    ]


def _vlines(ax, style: str) -> list[tuple[float, str]]:
    """x position and colour of every vertical line drawn with ``style``."""
    return [
        (float(line.get_xdata(orig=False)[0]), matplotlib.colors.to_hex(line.get_color()))
        for line in ax.get_lines()
        if line.get_linestyle() == style
    ]


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _legend(fig) -> list[str]:
    """The texts of every legend of ``fig``'s axes, in order."""
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_metric_panels_titles_units_and_display_scale():
    fig = charts.metric_panels(
        {
            "request_rate": _series(20, 22, 30, 28, 21),
            "memory": _series(1, 1, 2, 2, 1) * 2**30,
            "queue_depth": _series(1, 2, 3, 4, 5),
        }
    )
    axes = fig.axes
    assert [ax.get_title(loc="left") for ax in axes] == [
        "Request rate",
        "Memory usage",
        "Queue depth",
    ]
    assert [ax.get_ylabel() for ax in axes] == ["req/s", "GiB", ""]
    assert axes[-1].get_xlabel() == "time (UTC)"
    (memory_line,) = axes[1].get_lines()
    assert max(memory_line.get_ydata()) == pytest.approx(2.0)  # bytes shown in GiB
    assert axes[0].get_ylim()[0] == 0


def test_metric_panels_shade_the_window_and_mark_changes_and_onsets():
    onset = pd.Timestamp("2026-11-03T14:12:00Z")
    fig = charts.metric_panels(
        {"error_ratio": _series(0, 0, 1, 9, 14, 3), "latency_p95": _series(1, 1, 2, 3, 9, 2)},
        window=WINDOW,
        markers=_markers(),
        onsets={"error_ratio": onset, "latency_p95": pd.NaT},
        thresholds={"latency_p95": 5.0},
    )
    top, bottom = fig.axes
    for ax in (top, bottom):
        assert _window_spans(ax) == [pytest.approx((_x(WINDOW.start), _x(WINDOW.end)))]
        changes = _vlines(ax, "--")
        assert [x for x, _ in changes] == pytest.approx([_x(t) for t in _markers()["time"]])
        assert [c for _, c in changes] == ["#2d4f80", "#1e7b34"]  # deploy blue, rollback green
    assert _texts(top) == ["1", "2"]  # numbered on the top panel only, keyed under the chart
    assert _texts(bottom) == []
    assert _legend(fig)[-2:] == [
        "1 · 14:10 · deploy: deploy v2.34",
        "2 · 14:40 · rollback: rollback to v2.33",
    ]
    assert [x for x, _ in _vlines(top, "-.")] == pytest.approx([_x(onset)])
    assert _vlines(bottom, "-.") == []  # NaT: no onset line
    assert [line.get_ydata()[0] for line in bottom.get_lines() if line.get_linestyle() == ":"] == [
        5.0
    ]


def test_metric_panels_empty_series_says_no_data():
    empty = pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))
    fig = charts.metric_panels({"cpu": empty, "db_connections": _series(10, 11)}, window=WINDOW)
    cpu, db = fig.axes
    assert _texts(cpu) == ["no data"] and cpu.get_lines() == []
    assert _texts(db) == [] and (cpu.get_title(loc="left"), db.get_title(loc="left")) == (
        "CPU usage",
        "DB connections",
    )
    assert _window_spans(cpu)  # the window is still shaded


def test_metric_panels_into_given_axes_and_refusals():
    fig, axes = plt.subplots(2, 1)
    out = charts.metric_panels({"cpu": _series(1, 2), "memory": _series(1, 2)}, axes=list(axes))
    assert out is fig and [ax.get_title(loc="left") for ax in axes] == ["CPU usage", "Memory usage"]
    with pytest.raises(InvalidInput, match="at least one series"):
        charts.metric_panels({})
    with pytest.raises(InvalidInput, match="1 axes for 2 series"):
        charts.metric_panels({"cpu": _series(1), "memory": _series(1)}, axes=[axes[0]])


def test_mark_changes_keeps_the_limits_and_can_leave_labels_out():
    _fig, ax = plt.subplots()
    ax.plot(_series(1, 2, 3, 4, 5, 6, 7).index, range(7))
    limits = ax.get_xlim()
    markers = _markers()
    markers.loc[2] = [pd.Timestamp("2026-11-03T14:20:00Z"), "replicas 4 -> 8", "scale"]
    charts.mark_changes(ax, markers, labels=False)
    assert ax.get_xlim() == limits and _texts(ax) == []
    assert [c for _, c in _vlines(ax, "--")] == ["#2d4f80", "#1e7b34", "#777777"]
    charts.mark_changes(ax, markers.iloc[:0])
    assert len(_vlines(ax, "--")) == 3  # no markers: nothing drawn


def test_shade_window_on_a_fresh_axes():
    _fig, ax = plt.subplots()
    assert charts.shade_window(ax, WINDOW, label="outage") is ax
    (span,) = ax.patches
    assert span.get_label() == "outage"
    assert (span.get_x(), span.get_x() + span.get_width()) == pytest.approx(
        (_x(WINDOW.start), _x(WINDOW.end))
    )


def _usage() -> tuple[pd.DataFrame, pd.DataFrame]:
    times = pd.date_range("2026-11-03T14:00:00Z", periods=3, freq="5min")
    usage = pd.DataFrame(
        {
            "time": list(times) * 2,
            "pod": ["api-1"] * 3 + ["api-2"] * 3,
            "container": "api",
            "cpu": [0.2, 0.5, 0.9, 0.1, 0.2, 0.3],
            "memory": [x * 2**30 for x in (0.5, 0.6, 0.7, 0.4, 0.4, 0.5)],
        }
    )
    pods = pd.DataFrame(
        {
            "pod": ["api-1", "api-2"],
            "container": "api",
            "cpu_limit": [1.0, 1.0],
            "memory_limit": [2**30, 2**30],
        }
    )
    return usage, pods


def test_usage_panels_names_units_and_limits():
    usage, pods = _usage()
    fig = charts.usage_panels(usage, pods, container="api", window=WINDOW)
    cpu, memory = fig.axes
    assert cpu.get_title(loc="left") == "CPU usage of 'api' per pod" and cpu.get_ylabel() == "cores"
    assert (
        memory.get_title(loc="left") == "Memory usage of 'api' per pod"
        and memory.get_ylabel() == "GiB"
    )
    limits = [line for line in memory.get_lines() if line.get_label() == "limit"]
    assert [line.get_ydata()[0] for line in limits] == [1.0]  # 1 GiB, not 2**30
    per_pod = [line for line in memory.get_lines() if line.get_label().startswith("api-")]
    assert max(max(line.get_ydata()) for line in per_pod) == pytest.approx(0.7)
    assert _window_spans(cpu) and _window_spans(memory)


def test_usage_panels_without_samples():
    usage, pods = _usage()
    fig = charts.usage_panels(usage, pods, container="sidecar")
    assert all(_texts(ax) == ["no data"] for ax in fig.axes)


def _signatures(template: str) -> pd.DataFrame:
    times = pd.date_range("2026-11-03T14:00:00Z", periods=3, freq="1min")
    return pd.DataFrame(
        {
            "time": list(times) * 2,
            "template": [template] * 3 + ["short one"] * 3,
            "count": [1, 5, 2, 0, 1, 0],
        }
    )


def test_signature_lines_legend_window_and_markers():
    long = "QueuePool limit of size <NUM> overflow <NUM> reached, connection timed out, " * 2
    fig = charts.signature_lines(_signatures(long), window=WINDOW, markers=_markers())
    (ax,) = fig.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [  # no "incident window" entry; the changes' key after the signatures
        shorten(long, 70),
        "short one",
        "1 · 14:10 · deploy: deploy v2.34",
        "2 · 14:40 · rollback: rollback to v2.33",
    ]
    assert len(legend[0]) <= 70 and legend[0].endswith("…")
    assert _window_spans(ax) and len(_vlines(ax, "--")) == 2
    assert ax.get_ylabel() == "events / min" and ax.get_xlabel() == "time (UTC)"


def test_signature_lines_without_events():
    empty = pd.DataFrame({"time": [], "template": [], "count": []})
    fig = charts.signature_lines(empty, window=WINDOW)
    (ax,) = fig.axes
    assert _texts(ax) == ["no signature to draw"] and ax.get_legend() is None


def _notebook_names() -> set[tuple[str, str]]:
    """(module, name) for every ``il.charts.X`` and ``<imported module>.X`` in the notebooks."""
    used: set[tuple[str, str]] = set()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        aliases = {"il.charts": "incident_lib.charts"}
        for package, names in re.findall(r"from (incident_lib\.\w+) import ([\w, ]+)", code):
            for name in names.split(","):
                aliases[name.strip()] = f"{package}.{name.strip()}"
        for alias, module in aliases.items():
            for name in re.findall(rf"(?<![\w.]){re.escape(alias)}\.(\w+)", code):
                used.add((module, name))
    return used


# the modules of this part of the library whose names notebooks use
_OWN = {
    "incident_lib.charts",
    "incident_lib.report.tables",
    "incident_lib.report.drafts",
    "incident_lib.analysis.metrics",
    "incident_lib.analysis.onset",
    "incident_lib.analysis.impact",
    "incident_lib.analysis.recovery",
    "incident_lib.analysis.assess",
}


def test_every_name_notebooks_use_is_public():
    used = {(m, n) for m, n in _notebook_names() if m in _OWN}
    assert ("incident_lib.charts", "signature_lines") in used
    missing = sorted(f"{m}.{n}" for m, n in used if n not in import_module(m).__all__)
    assert missing == []


# -- labels never collide; every style is keyed ---------------------------------------------
def _clustered() -> pd.DataFrame:
    """Four changes within three minutes (the traffic-surge pattern) and a deploy."""
    return pd.DataFrame(
        {
            "time": pd.to_datetime(
                [
                    "2026-11-03T14:04:00Z",
                    "2026-11-03T14:05:10Z",
                    "2026-11-03T14:06:45Z",
                    "2026-11-03T14:07:00Z",
                    "2026-11-03T14:30:00Z",
                ],
                utc=True,
            ),
            "label": [
                "Black Friday early-access email campaign sent to 2.1M customers",
                "ConfigMap checkout-config updated",
                "HPA checkout scaled up to 5",
                "HPA checkout scaled up to 10",
                "deploy v2.35 (checkout rev 12)",
            ],
            "kind": ["event", "config", "scale", "scale", "deploy"],
        }
    )


def _badge_boxes(fig, renderer) -> list:
    """Window extents of every change label (a boxed text on an axes): its text and its box."""
    boxes = []
    for ax in fig.axes:
        for text in ax.texts:
            if text.get_bbox_patch() is not None:
                boxes.append(text.get_window_extent(renderer))
                boxes.append(text.get_bbox_patch().get_window_extent(renderer))
    return boxes


def _assert_apart(fig, dpi: float) -> int:
    import io

    fig.savefig(io.BytesIO(), dpi=dpi, bbox_inches="tight")  # as rb.save_chart does
    fig.set_dpi(dpi)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = _badge_boxes(fig, renderer)
    badges = list(zip(boxes[::2], boxes[1::2], strict=True))
    for i, (text_a, patch_a) in enumerate(badges):
        for text_b, patch_b in badges[i + 1 :]:
            assert not text_a.overlaps(text_b), (text_a, text_b)
            assert not patch_a.overlaps(patch_b), (patch_a, patch_b)
    return len(badges)


@pytest.mark.parametrize("dpi", [100, 110])
def test_clustered_change_labels_never_overlap(dpi):
    onset = pd.Timestamp("2026-11-03T14:05:30Z")
    fig = charts.metric_panels(
        {"request_rate": _series(20, 22, 30, 28, 21, 20), "error_ratio": _series(0, 0, 1, 9, 3)},
        window=WINDOW,
        markers=_clustered(),
        onsets={"request_rate": onset, "error_ratio": onset},
    )
    assert _assert_apart(fig, dpi) == 5
    top = fig.axes[0]
    onset_line = next(line for line in top.get_lines() if line.get_linestyle() == "-.")
    assert all(t.get_zorder() > onset_line.get_zorder() for t in top.texts)  # never cut


def test_clustered_change_labels_never_overlap_on_signature_lines():
    fig = charts.signature_lines(_signatures("timeout"), window=WINDOW, markers=_clustered())
    assert _assert_apart(fig, 110) == 5


def test_metric_panels_key_names_every_style_and_each_change():
    onset = pd.Timestamp("2026-11-03T14:05:30Z")
    fig = charts.metric_panels(
        {"error_ratio": _series(0, 0, 1, 9, 14, 3), "latency_p95": _series(1, 1, 2, 3, 9, 2)},
        window=WINDOW,
        markers=_clustered(),
        onsets={"error_ratio": onset, "latency_p95": onset},
        thresholds={"latency_p95": 5.0},
    )
    assert _legend(fig) == [
        "incident window",
        "detected onset (first sustained departure from the baseline)",
        "threshold",
        "1 · 14:04 · event: Black Friday early-access email campaign sent to 2.1M customers",
        "2 · 14:05 · config change: ConfigMap checkout-config updated",
        "3 · 14:06 · scaling: HPA checkout scaled up to 5",
        "4 · 14:07 · scaling: HPA checkout scaled up to 10",
        "5 · 14:30 · deploy: deploy v2.35 (checkout rev 12)",
    ]
    # each key entry is drawn in its change's colour and style
    (legend,) = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    handles = legend.legend_handles[3:]
    assert [matplotlib.colors.to_hex(h.get_color()) for h in handles] == [
        "#00897b",
        "#7b3fa0",
        "#777777",
        "#777777",
        "#2d4f80",
    ]
    assert {h.get_linestyle() for h in handles} == {"--"}


def test_no_rollouts_no_rollout_in_the_key():
    campaign = _clustered().iloc[:1]
    fig = charts.metric_panels({"error_ratio": _series(0, 1, 9)}, window=WINDOW, markers=campaign)
    assert not any("rollout" in text or "deploy" in text for text in _legend(fig))
    fig = charts.metric_panels({"error_ratio": _series(0, 1, 9)}, window=WINDOW)
    assert _legend(fig) == ["incident window"]  # no change, no change in the key


def test_a_dollar_in_a_label_is_a_dollar():
    markers = _markers().assign(label=[r"price $\frac{ test", "rollback $5 to $6"])
    fig = charts.metric_panels({"error_ratio": _series(0, 1, 9, 3, 1, 2, 1, 1, 1)}, markers=markers)
    fig.canvas.draw()  # mathtext would fail on the first label
    assert _legend(fig) == [
        r"1 · 14:10 · deploy: price $\frac{ test",
        "2 · 14:40 · rollback: rollback $5 to $6",
    ]


def test_signature_legend_never_shows_two_signatures_the_same():
    head = "QueuePool limit of size <NUM> overflow <NUM> reached, connection timed out, "
    times = pd.date_range("2026-11-03T14:00:00Z", periods=2, freq="1min")
    series = pd.DataFrame(
        {
            "time": list(times) * 3,
            "signature": ["aaaa111111"] * 2 + ["bbbb222222"] * 2 + ["cccc333333"] * 2,
            "template": [head + "timeout <NUM>"] * 2
            + [head + "pool of orders-db"] * 2
            + ["short one"] * 2,
            "count": [1, 2, 3, 4, 5, 6],
        }
    )
    fig = charts.signature_lines(series)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(set(legend)) == 3
    assert legend[0].startswith(shorten(head, 70)) and legend[0].endswith("[aaaa111111]")
    assert legend[1].endswith("[bbbb222222]") and legend[2] == "short one"
    # without signature ids, numbered
    fig = charts.signature_lines(series.drop(columns="signature"))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:2] == [f"{shorten(head + 'timeout <NUM>', 70)} [1]", legend[1]]
    assert legend[1].endswith("[2]")


def _many_pods() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ten pods: one OOMKilled, one restarted twice, one near its cpu limit, seven alike."""
    times = pd.date_range("2026-11-03T14:00:00Z", periods=4, freq="5min")
    names = [f"checkout-5c8d7f9b64-p{i:04d}" for i in range(10)]
    rows = []
    for i, pod in enumerate(names):
        for j, t in enumerate(times):
            cpu = 0.97 if (i == 5 and j == 2) else 0.4
            memory = (0.95 if (i == 3 and j == 2) else 0.6) * 2**30
            rows.append({"time": t, "pod": pod, "container": "checkout", "cpu": cpu})
            rows[-1]["memory"] = memory
    pods = pd.DataFrame(
        {
            "pod": names,
            "container": "checkout",
            "restarts": [0, 0, 0, 1, 0, 0, 0, 2, 0, 0],
            "last_termination_reason": [None] * 3
            + ["OOMKilled"]
            + [None] * 3
            + ["Error"] * 1
            + [None] * 2,
            "last_termination_at": [pd.NaT] * 3
            + [pd.Timestamp("2026-11-03T14:10:30Z")]
            + [pd.NaT] * 3
            + [pd.Timestamp("2026-11-03T14:12:00Z")]
            + [pd.NaT] * 2,
            "started_at": pd.Timestamp("2026-11-01T00:00:00Z"),
            "cpu_limit": 1.0,
            "memory_limit": float(2**30),
        }
    )
    return pd.DataFrame(rows), pods


def test_usage_panels_highlight_the_pods_that_matter_and_grey_the_rest():
    usage, pods = _many_pods()
    fig = charts.usage_panels(usage, pods, container="checkout", window=WINDOW, highlight=3)
    cpu, memory = fig.axes
    legend = [t.get_text() for t in memory.get_legend().get_texts()]
    assert legend == [
        "checkout-5c8d7f9b64-p0003: OOMKilled 14:10",
        "checkout-5c8d7f9b64-p0007: restarted 2×",
        "checkout-5c8d7f9b64-p0005: peak 97% of its cpu limit",
        "other pods (7)",
        "limit",
    ]
    for ax in (cpu, memory):
        per_pod = [line for line in ax.get_lines() if line.get_label() != "limit"]
        per_pod = [line for line in per_pod if line.get_marker() != "v"]
        grey = [line for line in per_pod if matplotlib.colors.to_hex(line.get_color()) == "#b5b5b5"]
        coloured = [line for line in per_pod if line not in grey]
        assert len(grey) == 7 and len(coloured) == 3
        assert len({matplotlib.colors.to_hex(line.get_color()) for line in coloured}) == 3
        assert all(line.get_zorder() > grey[0].get_zorder() for line in coloured)
    # the OOM kill is marked on the memory panel at the limit, in the pod's colour
    (kill,) = [line for line in memory.get_lines() if line.get_marker() == "v"]
    assert kill.get_ydata()[0] == pytest.approx(1.0)
