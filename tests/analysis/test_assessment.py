"""Quick-assessment analysis on small literal frames: metrics, changes, alerts, findings."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from incident_lib import Window
from incident_lib.analysis import alerts, assess, changes, metrics
from incident_lib.core.schema import conform, empty_frame

T = pd.Timestamp("2026-11-03T14:00:00Z")
WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))
BASELINE = WINDOW.preceding()


def _metrics(**series: list[float]) -> pd.DataFrame:
    rows = []
    for metric, values in series.items():
        times = pd.date_range(BASELINE.start, periods=len(values), freq="10min")
        rows += [
            {"time": t, "metric": metric, "query": "q", "scope": "s", "value": v}
            for t, v in zip(times, values, strict=True)
        ]
    return conform(pd.DataFrame(rows), "metrics")


def test_metric_series_sums_scopes_and_sorts():
    frame = _metrics(request_rate=[1.0, 2.0])
    doubled = pd.concat([frame, frame.assign(scope="other")])
    series = metrics.metric_series(doubled, "request_rate")
    assert list(series) == [2.0, 4.0] and series.index.is_monotonic_increasing
    assert metrics.metric_series(frame, "absent").empty


def test_error_ratio_in_percent_skips_zero_traffic():
    frame = _metrics(request_rate=[100, 0, 50], error_rate=[1, 1, 25])
    assert list(metrics.error_ratio(frame)) == [1.0, 50.0]


def test_health_table_baseline_peak_latest():
    # 6 points in the baseline hour, 6 in the incident hour
    frame = _metrics(latency_p95=[100, 100, 100, 100, 100, 100, 120, 400, 800, 300, 150, 110])
    row = metrics.health_table(frame, window=WINDOW, baseline=BASELINE, keys=["latency_p95"]).iloc[
        0
    ]
    assert (row.baseline, row.peak, row.latest) == (100, 800, 110)
    assert row.peak_at == T + pd.Timedelta(minutes=20) and row.peak_vs_baseline == 8


def _rollouts() -> pd.DataFrame:
    old = pd.Timestamp("2026-10-30T10:00:00Z")
    return conform(
        pd.DataFrame(
            {
                "deployment": ["api"] * 3,
                "revision": [41, 42, 43],
                "replicaset": ["api-a", "api-b", "api-a"],
                "images": ["reg/api:v2.33", "reg/api:v2.34", "reg/api:v2.33"],
                "created_at": [old, T, old],
                "deployed_at": [old, T, T + pd.Timedelta(minutes=23)],
                "change_cause": ["v2.33", "v2.34", None],
                "replicas": [0, 0, 4],
                "current": [False, False, True],
            }
        ),
        "rollouts",
    )


def test_rollback_is_recognised_and_labelled():
    markers = changes.deploy_markers(_rollouts(), within=WINDOW)
    assert list(markers["label"]) == ["deploy v2.34", "rollback to v2.33"]
    assert list(markers["kind"]) == ["deploy", "rollback"]


def test_recent_rollouts_newest_first():
    table = changes.recent_rollouts(_rollouts(), limit=2)
    assert list(table["revision"]) == [43, 42] and list(table["version"]) == ["v2.33", "v2.34"]


def test_image_tag():
    assert changes.image_tag("registry.example.com:5000/shop/api:v2.34") == "v2.34"
    assert changes.image_tag("api") == "api"


def test_empty_inputs_give_empty_outputs():
    assert changes.deploy_markers(empty_frame("rollouts")).empty
    assert alerts.alert_summary(empty_frame("monitor_events"), as_of=WINDOW.end).empty
    assert metrics.health_table(empty_frame("metrics"), window=WINDOW, baseline=BASELINE).empty


def _monitor_events() -> pd.DataFrame:
    rows = [
        (T + pd.Timedelta(minutes=12), "m1", "[api] 5xx high", "alert"),
        (T + pd.Timedelta(minutes=30), "m1", "[api] 5xx high", "ok"),
        (T + pd.Timedelta(minutes=14), "m2", "[db] connections", "warn"),
        (T - pd.Timedelta(minutes=30), "m3", "[old] flapping", "alert"),
        (T - pd.Timedelta(minutes=20), "m3", "[old] flapping", "ok"),
    ]
    return conform(
        pd.DataFrame(rows, columns=["time", "monitor_id", "monitor", "state"]).assign(message=""),
        "monitor_events",
    )


def test_alert_summary_firing_first_and_only_window():
    summary = alerts.alert_summary(_monitor_events(), as_of=WINDOW.end, window=WINDOW)
    assert list(summary["monitor"]) == ["[db] connections", "[api] 5xx high"]
    assert list(summary["firing"]) == [True, False]


def test_alert_summary_as_of_the_past():
    as_of = (T + pd.Timedelta(minutes=13)).to_pydatetime()
    summary = alerts.alert_summary(_monitor_events(), as_of=as_of, window=WINDOW)
    assert list(summary["monitor"]) == ["[api] 5xx high"] and summary["firing"].all()


def test_assessment_findings_report_moves_deploys_and_alerts():
    frame = _metrics(request_rate=[100] * 12, error_rate=[0.1] * 6 + [0.1, 5, 30, 10, 1, 0.1])
    health = metrics.health_table(frame, window=WINDOW, baseline=BASELINE)
    markers = changes.deploy_markers(_rollouts(), within=WINDOW)
    fired = alerts.alert_summary(_monitor_events(), as_of=WINDOW.end, window=WINDOW)
    found = assess.assessment_findings(health, markers, fired, ref="charts/x.png")
    titles = [f.title for f in found]
    assert (
        titles[0] == "5xx share of requests peaked at 30.00 %" and found[0].severity == "critical"
    )
    assert "Deploy v2.34 at 14:00 UTC inside the incident window" in titles
    assert any(t.startswith("2 monitor(s) fired, 1 still firing") for t in titles)


def test_latency_finding_uses_the_metric_vocabulary():
    frame = _metrics(latency_p95=[1000] * 6 + [1200, 4000, 8000, 3000, 1500, 1100])
    health = metrics.health_table(frame, window=WINDOW, baseline=BASELINE)
    empty = changes.deploy_markers(empty_frame("rollouts"))
    fired = alerts.alert_summary(empty_frame("monitor_events"), as_of=WINDOW.end)
    (found,) = assess.assessment_findings(health, empty, fired)
    assert found.title == "p95 latency rose 8.0× to 8,000 ms" and found.severity == "high"
    assert found.summary == "Peak at 14:20 UTC (baseline 1,000 ms); latest 1,100 ms."


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ([0.1] * 12, "We are looking into reports"),
        ([0.1] * 6 + [20] * 6, "some requests are failing"),
    ],
)
def test_customer_impact(errors, expected):
    frame = _metrics(request_rate=[100] * 12, error_rate=errors)
    health = metrics.health_table(frame, window=WINDOW, baseline=BASELINE)
    assert expected in assess.customer_impact(health, "api")


def test_renumbered_rollback_is_recognised():
    """Kubernetes renumbers the re-used ReplicaSet: revision 41 vanishes, 43 is old."""
    history = _rollouts()
    history.loc[0, "images"] = "reg/api:v2.32"  # 41 is gone; 40 was v2.32
    history.loc[0, "revision"] = 40
    history.loc[2, "created_at"] = pd.Timestamp("2026-11-01T09:00:00Z")
    markers = changes.deploy_markers(history, within=WINDOW)
    assert list(markers["label"]) == ["deploy v2.34", "rollback to v2.33"]


@pytest.mark.parametrize(
    ("state", "expected", "never"),
    [
        ("investigating", "may notice that some requests are failing", "failed"),
        ("monitoring", "may have noticed that some requests failed", "are failing"),
        ("resolved", "may have noticed that some requests failed", "are failing"),
    ],
)
def test_customer_impact_follows_the_records_status(state, expected, never):
    """A resolved incident's draft never says requests *are* failing."""
    frame = _metrics(request_rate=[100] * 12, error_rate=[0.1] * 6 + [20] * 6)
    health = metrics.health_table(frame, window=WINDOW, baseline=BASELINE)
    text = assess.customer_impact(health, "api", state=state)
    assert expected in text and never not in text
