"""Database charts (Agg backend): the limit, its reserved slots and when it was reached,
growth per application, idle-in-transaction ages, the blocking tree; empty input and
untrusted text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from activity_rows import activity_row
from matplotlib.collections import PolyCollection
from matplotlib.patches import FancyBboxPatch

from incident_lib import Window
from incident_lib.analysis.database import BlockingNode
from incident_lib.charts.database import (
    blocking_tree_chart,
    connection_growth_chart,
    connections_chart,
    idle_in_transaction_chart,
)
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import conform, empty_frame

T0 = pd.Timestamp("2026-11-03T14:00:00Z")
WINDOW = Window(datetime(2026, 11, 3, 14, 5, tzinfo=UTC), datetime(2026, 11, 3, 14, 30, tzinfo=UTC))
MATH = r"price $\frac{ test"  # mathtext would fail to parse this


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def _row(t: pd.Timestamp, pid: int, **fields: Any) -> dict[str, Any]:
    """One pg_activity row (see :func:`activity_row`), connected an hour before T0."""
    return activity_row(t, pid, backend_start=T0 - pd.Timedelta(hours=1), **fields)


def _activity(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return empty_frame("pg_activity")
    return conform(pd.DataFrame(rows), "pg_activity")


def _settings(target: str = "default", **values: int) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "target": [target] * len(values),
                "name": list(values),
                "setting": [str(v) for v in values.values()],
                "unit": [""] * len(values),
            }
        ),
        "pg_settings",
    )


def _leak(counts: list[int], *, target: str = "default") -> pd.DataFrame:
    """One sample a minute: 2 active sessions plus ``n`` idle in transaction from ``api``."""
    rows = []
    for i, n in enumerate(counts):
        t = _at(i)
        rows += [_row(t, 10 + k, app="worker", state="active") for k in range(2)]
        rows += [
            _row(t, 100 + k, state="idle in transaction", since=60.0 * (i - k), target=target)
            for k in range(n)
        ]
    frame = _activity(rows)
    frame["target"] = target
    return frame


def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        out.append(ax.get_title(loc="left"))
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    return out


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# -- connections against the limit ---------------------------------------------------------
def test_connections_chart_draws_the_limit_the_reserved_band_and_when_it_was_reached():
    activity = _leak([0, 40, 80, 95, 97, 97])  # 2 active + n: 97 of 97 at 14:03
    fig = connections_chart(
        activity, _settings(max_connections=100, superuser_reserved_connections=3), window=WINDOW
    )
    ax = fig.axes[0]
    limit = [line for line in ax.lines if line.get_label() == "max_connections = 100"]
    assert len(limit) == 1 and list(limit[0].get_ydata()) == [100, 100]
    assert "max_connections = 100" in [t.get_text() for t in ax.texts]
    band = [p for p in ax.patches if p.get_label().startswith("reserved slots: 3 for superusers")]
    assert len(band) == 1
    lo, hi = band[0].get_extents().transformed(ax.transData.inverted()).intervaly
    assert (round(lo), round(hi)) == (97, 100)
    assert "3 reserved slots" in [t.get_text() for t in ax.texts]
    reached = [line for line in ax.lines if line.get_label() == "limit reached at 14:03 UTC"]
    assert len(reached) == 1 and [pd.Timestamp(x) for x in reached[0].get_xdata()] == [_at(3)] * 2
    assert any(t.get_text().startswith("limit reached 14:03 UTC") for t in ax.texts)
    assert "reached at 14:03 UTC" in ax.get_title(loc="left")
    stacks = [c.get_label() for c in ax.collections if isinstance(c, PolyCollection)]
    assert stacks == ["active (peak 2)", "idle in transaction (peak 97)"]
    key = _legend(ax)
    assert "max_connections = 100" in key and "incident window" in key
    assert key[-1] == "incident window"
    assert ax.get_ylim()[1] > 100  # the line is inside the axes
    fig.canvas.draw()


def test_connections_chart_reserved_connections_of_postgres_16_lower_the_limit():
    activity = _leak([0, 50, 93])  # 95 client backends: 100 - 3 - 2
    fig = connections_chart(
        activity,
        _settings(max_connections=100, superuser_reserved_connections=3, reserved_connections=2),
    )
    ax = fig.axes[0]
    labels = [p.get_label() for p in ax.patches]
    assert (
        "reserved slots: 3 for superusers + 2 reserved_connections (95 left for ordinary roles)"
        in labels
    )
    assert any(line.get_label() == "limit reached at 14:02 UTC" for line in ax.lines)


def test_connections_chart_not_reached_says_the_peak_against_the_limit():
    fig = connections_chart(_leak([0, 10, 38]), _settings(max_connections=100))
    ax = fig.axes[0]
    assert "peak 40 of 97 available (41%)" in ax.get_title(loc="left")
    assert not any(line.get_label().startswith("limit reached") for line in ax.lines)
    assert not any(t.get_text().startswith("limit reached") for t in ax.texts)


def test_connections_chart_without_settings_draws_no_limit_and_says_so():
    fig = connections_chart(_leak([0, 10]), empty_frame("pg_settings"))
    ax = fig.axes[0]
    assert "max_connections unknown" in ax.get_title(loc="left")
    assert not any("max_connections =" in line.get_label() for line in ax.lines)


def test_connections_chart_counts_client_backends_only_and_draws_on_given_axes():
    rows = [_row(_at(0), 1, state="active"), _row(_at(0), 2, backend_type="autovacuum worker")]
    _, ax = plt.subplots()
    fig = connections_chart(_activity(rows), _settings(max_connections=10), ax=ax)
    assert fig is ax.figure and fig.axes == [ax]
    assert [c.get_label() for c in ax.collections if isinstance(c, PolyCollection)] == [
        "active (peak 1)"
    ]


def test_several_targets_need_a_choice_and_the_choice_is_drawn():
    both = pd.concat([_leak([5, 6], target="default"), _leak([0, 90], target="orders")])
    settings = pd.concat(
        [_settings("default", max_connections=100), _settings("orders", max_connections=50)]
    )
    with pytest.raises(InvalidInput, match="default, orders"):
        connections_chart(both, settings)
    ax = connections_chart(both, settings, target="orders").axes[0]
    assert "orders" in ax.get_title(loc="left")
    assert any(line.get_label() == "max_connections = 50" for line in ax.lines)
    assert any(line.get_label() == "limit reached at 14:01 UTC" for line in ax.lines)


# -- empty input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "draw",
    [
        lambda a: connections_chart(a, empty_frame("pg_settings")),
        lambda a: connection_growth_chart(a),
        lambda a: idle_in_transaction_chart(a),
    ],
    ids=["connections", "growth", "idle"],
)
@pytest.mark.parametrize(
    "frame",
    [
        lambda: empty_frame("pg_activity"),
        lambda: _activity([_row(_at(0), 1, backend_type="walsender")]),
    ],
    ids=["empty", "no-client-backend"],
)
def test_empty_input_draws_no_sessions_sampled(draw, frame):
    fig = draw(frame())
    assert "no sessions sampled" in _texts(fig)
    fig.canvas.draw()


def test_blocking_tree_chart_without_roots_says_nobody_waited():
    fig = blocking_tree_chart([])
    assert "no blocking: no session waited for another" in _texts(fig)
    with pytest.raises(InvalidInput, match="most"):
        blocking_tree_chart([], most=0)


# -- growth per application ----------------------------------------------------------------
def test_growth_chart_names_the_top_applications_and_sums_the_others():
    rows = []
    for i in range(3):  # app k has k + 1 sessions, growing for app9
        for k in range(10):
            n = k + 1 + (i * 5 if k == 9 else 0)
            rows += [_row(_at(i), 1000 * k + j, app=f"app{k}") for j in range(n)]
    fig = connection_growth_chart(_activity(rows), top=6, window=WINDOW)
    ax = fig.axes[0]
    named = [line.get_label() for line in ax.lines]
    assert named[:6] == [
        "app9: 10 → 20",
        "app8: 9 → 9",
        "app7: 8 → 8",
        "app6: 7 → 7",
        "app5: 6 → 6",
        "app4: 5 → 5",
    ]
    assert named[6] == "others (4 applications): 10 → 10"  # 1 + 2 + 3 + 4
    assert list(ax.lines[6].get_ydata()) == [10, 10, 10]
    assert len(_legend(ax)) == 8  # 6 + others + incident window


def test_growth_chart_gives_the_peak_and_its_time_and_names_a_single_other():
    rows = [_row(_at(i), 100 + j, app="api") for i, n in enumerate([1, 9, 2]) for j in range(n)]
    rows += [_row(_at(i), 900, app="cron") for i in range(3)]
    ax = connection_growth_chart(_activity(rows), top=1).axes[0]
    assert [line.get_label() for line in ax.lines] == [
        "api: 1 → peak 9 at 14:01 → 2",
        "cron: 1 → 1",
    ]


def test_dollar_in_an_application_name_is_plain_text():
    rows = [_row(_at(i), 1, app=MATH) for i in range(2)]
    fig = connection_growth_chart(_activity(rows))
    fig.canvas.draw()  # mathtext would raise on the label
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [f"{MATH}: 1 → 1"]
    assert all(not t.get_parse_math() for t in legend.get_texts())


# -- idle in transaction -------------------------------------------------------------------
def test_idle_in_transaction_chart_counts_and_marks_the_oldest():
    rows = []
    for i in range(12):  # one session idle in transaction since 14:00, one more from 14:05
        t = _at(i)
        rows.append(_row(t, 1, state="idle in transaction", since=60.0 * i, xact=60.0 * i + 5))
        if i >= 5:
            rows.append(_row(t, 2, state="idle in transaction", since=30.0))
        rows.append(_row(t, 3, state="active"))
    fig = idle_in_transaction_chart(_activity(rows), window=WINDOW)
    count_ax, age_ax = fig.axes
    steps = [line for line in count_ax.lines if line.get_label().startswith("sessions idle")]
    assert steps[0].get_label() == "sessions idle in transaction (peak 2)"
    assert list(steps[0].get_ydata()) == [1] * 5 + [2] * 7
    assert age_ax.get_ylabel() == "minutes"
    oldest = [line for line in age_ax.lines if line.get_label().startswith("oldest idle")]
    assert list(oldest[0].get_ydata())[-1] == pytest.approx(11.0)
    assert "oldest 11 min at 14:11 UTC" in [t.get_text() for t in age_ax.texts]
    assert any(line.get_label().startswith("oldest open transaction") for line in age_ax.lines)
    assert _legend(age_ax)[-1] == "incident window"


def test_idle_in_transaction_chart_says_when_nobody_was():
    fig = idle_in_transaction_chart(_activity([_row(_at(i), 1, state="active") for i in range(3)]))
    assert "no session idle in transaction" in _texts(fig)


# -- the blocking tree ---------------------------------------------------------------------
def _node(
    pid: int, *, app: str = "api", children=(), waiting: float = 30.0, **kw: Any
) -> BlockingNode:
    values: dict[str, Any] = {
        "usename": "orders",
        "client_addr": "10.0.0.9",
        "state": "active",
        "wait": "Lock/transactionid",
        "query": "UPDATE orders SET status = $1, updated_at = now() WHERE id = $2 AND tenant = $3",
    }
    values.update(kw)
    return BlockingNode(
        pid=pid, application_name=app, waiting_s=waiting, children=tuple(children), **values
    )


def _root(waiters: int, pid: int = 4242) -> BlockingNode:
    kids = [_node(pid + 1000 + i, waiting=200.0 - i) for i in range(waiters)]
    return _node(
        pid,
        app="orders-worker",
        state="idle in transaction",
        wait="",
        waiting=661.0,
        query="SELECT * FROM orders WHERE id = $1 FOR UPDATE",
        children=kids,
    )


def _boxes(fig) -> list[FancyBboxPatch]:
    return [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]


def test_blocking_tree_one_root_forty_waiters_collapses_beyond_most():
    fig = blocking_tree_chart([_root(40)], most=30)
    texts = _texts(fig)
    assert "Blocking tree: 1 root blocker, 40 sessions waiting" in texts
    assert len(_boxes(fig)) == 31  # 30 sessions and one "+N more"
    assert "+11 more waiting (not drawn)" in texts
    assert "blocks 40" in texts
    assert "pid 4242 · orders-worker · orders" in texts
    assert "idle in transaction · transaction open 11 min 01 s" in texts
    assert "active · waiting 3 min 20 s on Lock/transactionid" in texts
    assert sum(t.startswith("pid 4242") for t in texts) == 1
    assert sum(t.startswith("pid 5") for t in texts) == 29
    # root on the left, waiters to its right, the root level with the first waiter
    root, first = _boxes(fig)[0], _boxes(fig)[1]
    assert root.get_x() + root.get_width() < first.get_x()
    assert root.get_y() == pytest.approx(first.get_y())


def test_blocking_tree_text_stays_inside_its_box():
    long = "x" * 200
    kid = _node(2, app="a-very-long-application-name-" + long, query="SELECT " + long)
    fig = blocking_tree_chart([replace(_root(0), children=(kid,))])
    fig.canvas.draw()
    ax = fig.axes[0]
    boxes = [b.get_window_extent() for b in _boxes(fig)]
    inside = 0
    for text in ax.texts:
        extent = text.get_window_extent()
        holder = [
            b
            for b in boxes
            if b.y0 <= (extent.y0 + extent.y1) / 2 <= b.y1 and b.x0 <= extent.x0 <= b.x1
        ]
        if holder:
            inside += 1
            assert extent.x1 <= holder[0].x1, text.get_text()
    assert inside >= 6  # three lines in each of the two boxes (and the badge)
    assert "…" in " ".join(t.get_text() for t in ax.texts)


def test_blocking_tree_chain_goes_right_and_roots_share_the_budget():
    chain = _node(1, state="idle in transaction", wait="", children=[_node(2, children=[_node(3)])])
    fig = blocking_tree_chart([chain])
    xs = sorted({round(b.get_x(), 3) for b in _boxes(fig)})
    assert len(xs) == 3  # one column per level
    assert "blocks 2" in _texts(fig) and "blocks 1" in _texts(fig)

    fig = blocking_tree_chart([_root(20, pid=100), _root(20, pid=200)], most=10)
    texts = _texts(fig)
    assert "Blocking tree: 2 root blockers, 40 sessions waiting" in texts
    assert sum(t.startswith("pid 11") for t in texts) == 4  # the waiters of root 100
    assert sum(t.startswith("pid 12") for t in texts) == 4  # the waiters of root 200
    assert texts.count("+16 more waiting (not drawn)") == 2


def test_blocking_tree_more_roots_than_most():
    roots = [_root(1, pid=10 + i) for i in range(5)]
    texts = _texts(blocking_tree_chart(roots, most=3))
    assert "+2 more blocking sessions (2 waiting behind them)" in texts
    assert "+1 more waiting (not drawn)" in texts  # the three drawn roots' waiters did not fit


def test_dollar_in_blocking_tree_text_is_plain():
    kid = _node(2, app=MATH, query=MATH)
    root = _node(1, app=MATH, state="idle in transaction", wait="", children=[kid])
    fig = blocking_tree_chart([root])
    fig.canvas.draw()  # mathtext would raise
    drawn = [t for t in fig.axes[0].texts if MATH in t.get_text()]
    assert drawn and all(not t.get_parse_math() for t in drawn)
