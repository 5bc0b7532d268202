"""Impact estimates and response times on literal frames and on the demo incidents."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from incident_records import sample_incident

from incident_lib import EvidenceStore, Window
from incident_lib.analysis.impact import (
    estimate_impact,
    impact_findings,
    response_times,
)
from incident_lib.core.incident import Incident
from incident_lib.core.schema import conform, empty_frame
from incident_lib.demo import SCENARIOS
from incident_lib.infra.workspace import read_incident

BASELINE = Window(datetime(2026, 11, 3, 13, 50, tzinfo=UTC), datetime(2026, 11, 3, 14, tzinfo=UTC))
WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 14, 10, tzinfo=UTC))
TIMES = pd.date_range(BASELINE.start, WINDOW.end, freq="15s", inclusive="left")


def at(hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-11-03T{hhmm}Z")


def _during(start: str, end: str) -> np.ndarray:
    return TIMES.to_series().between(at(start), at(end), inclusive="left").to_numpy()


def _metrics(requests: pd.Series, errors: pd.Series) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"time": s.index, "metric": name, "query": "", "scope": "", "value": s})
        for name, s in (("request_rate", requests), ("error_rate", errors))
    ]
    return conform(pd.concat(frames, ignore_index=True), "metrics")


def _constant(value: float) -> pd.Series:
    return pd.Series(value, index=TIMES, dtype="float64")


def test_constant_rates_integrate_exactly():
    impact = estimate_impact(
        _metrics(_constant(10), _constant(1)), window=WINDOW, baseline=BASELINE
    )
    assert impact.total_requests == pytest.approx(6000)  # 10 req/s × 600 s
    assert impact.failed_requests == pytest.approx(600)
    assert impact.share_failed == pytest.approx(10)
    assert impact.baseline_error_ratio == pytest.approx(10)
    assert impact.excess_failed == pytest.approx(0)
    assert impact.coverage == pytest.approx(1)
    assert impact.peak_error_ratio == pytest.approx(10)
    assert impact.minutes_degraded == pytest.approx(10)
    assert (impact.degraded_from, impact.degraded_until) == (at("14:00"), at("14:10"))


def test_a_gap_adds_nothing_and_is_reported():
    requests = _constant(10)[~_during("14:05", "14:07")]
    impact = estimate_impact(_metrics(requests, requests * 0), window=WINDOW, baseline=BASELINE)
    assert impact.total_requests == pytest.approx(10 * 480)  # the 2 minutes missing
    assert impact.coverage == pytest.approx(0.8)
    assert "cover only 80%" in impact.summary()


def test_irregular_sampling_counts_each_sample_up_to_the_median_step():
    # 15 s samples, but one minute sampled only every 30 s: the median step stays 15 s,
    # so those samples stand for 15 s each and the holes are not filled in
    requests = _constant(10)[~_during("14:05", "14:06") | (TIMES.second % 30 == 0)]
    impact = estimate_impact(_metrics(requests, requests * 0), window=WINDOW, baseline=BASELINE)
    assert impact.total_requests == pytest.approx(10 * 570)


def test_baseline_errors_are_subtracted():
    errors = _constant(0.1).mask(_during("14:02", "14:06"), 2.0)  # 1 %, then 20 % for 4 min
    impact = estimate_impact(_metrics(_constant(10), errors), window=WINDOW, baseline=BASELINE)
    assert impact.baseline_error_ratio == pytest.approx(1)
    assert impact.failed_requests == pytest.approx(0.1 * 360 + 2.0 * 240)  # 516
    assert impact.excess_failed == pytest.approx(516 - 60)
    assert impact.share_failed == pytest.approx(8.6)
    assert impact.peak_error_ratio == pytest.approx(20) and impact.peak_at == at("14:02")
    assert impact.minutes_degraded == pytest.approx(4)  # 1 % itself is not above 1 %
    assert (impact.degraded_from, impact.degraded_until) == (at("14:02"), at("14:06"))
    assert impact.summary() == (
        "About 516 of 6,000 requests (8.60 %) failed between 14:00 and 14:10 UTC, 456 more "
        "than the baseline 5xx share of requests (1.00 %) would explain. The 5xx share of "
        "requests was above 1 % for 4 min (14:02–14:06 UTC), peaking at 20.00 % at 14:02 UTC."
    )
    first, second = impact_findings(impact, ref="charts/05_metrics-error-rate.png")
    assert first.severity == "high" and first.title == "About 516 requests failed (8.60 %)"
    assert first.ref == "charts/05_metrics-error-rate.png"
    assert second.title == "5xx share of requests above 1 % for 4 min"
    assert second.severity == "medium"


def test_fewer_errors_than_baseline_is_no_excess():
    errors = _constant(1.0).mask(_during("14:00", "14:10"), 0.0)
    impact = estimate_impact(_metrics(_constant(10), errors), window=WINDOW, baseline=BASELINE)
    assert impact.failed_requests == 0 and impact.excess_failed == 0
    (finding,) = impact_findings(impact)
    assert finding.severity == "info"


def test_zero_traffic():
    impact = estimate_impact(_metrics(_constant(0), _constant(0)), window=WINDOW, baseline=BASELINE)
    assert impact.total_requests == 0 and impact.failed_requests == 0
    assert math.isnan(impact.share_failed) and math.isnan(impact.excess_failed)
    assert math.isnan(impact.peak_error_ratio) and impact.peak_at is None
    assert impact.minutes_degraded == 0
    assert impact.summary() == "No requests were recorded between 14:00 and 14:10 UTC."
    (finding,) = impact_findings(impact)
    assert finding.severity == "info" and finding.title == "No request traffic recorded"


def test_no_metrics_at_all():
    impact = estimate_impact(empty_frame("metrics"), window=WINDOW, baseline=BASELINE)
    assert impact.total_requests == 0 and impact.coverage == 0
    assert impact.summary().startswith("No requests were recorded")


def test_large_numbers_are_rounded_for_people():
    errors = _constant(0.0).mask(_during("14:00", "14:10"), 20.575)
    impact = estimate_impact(_metrics(_constant(163.7), errors), window=WINDOW, baseline=BASELINE)
    assert impact.summary().startswith(
        "About 12,300 of 98,200 requests (12.57 %) failed between 14:00 and 14:10 UTC"
    )


# -- response times ------------------------------------------------------------------------


def _incident(**times) -> Incident:
    return sample_incident(title="Checkout returns 500s", service="checkout", **times)


def test_response_times_from_the_record():
    incident = _incident(
        detected="2026-11-03T14:21:00Z",
        acknowledged="2026-11-03T14:24:00Z",
        mitigated="2026-11-03T14:35:00Z",
        resolved="2026-11-03T14:50:00Z",
    )
    times = response_times(incident, impact_start=at("14:19"))
    assert times.time_to_detect == timedelta(minutes=2)
    assert times.time_to_acknowledge == timedelta(minutes=3)
    assert times.time_to_mitigate == timedelta(minutes=14)
    assert times.time_to_resolve == timedelta(minutes=29)
    assert response_times(incident).time_to_detect == timedelta(minutes=21)  # from window start
    frame = times.to_frame()
    assert list(frame["duration"]) == ["2 min", "3 min", "14 min", "29 min"]
    assert list(frame["minutes"]) == [2, 3, 14, 29]
    assert times.summary() == (
        "Detected 2 min after impact began, acknowledged 3 min later, mitigated 14 min "
        "after detection, resolved 29 min after detection."
    )


def test_missing_times_are_none():
    times = response_times(_incident(detected="2026-11-03T14:21:00Z"))
    assert times.time_to_detect == timedelta(minutes=21)
    assert times.time_to_acknowledge is times.time_to_mitigate is times.time_to_resolve is None
    assert times.to_frame()["duration"].tolist()[1:] == ["—", "—", "—"]
    nothing = response_times(_incident())
    assert nothing.time_to_detect is None
    assert nothing.summary() == "No response times recorded yet."


# -- the demo incidents --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "share"),
    [("connection-leak", (1.0, 5.0)), ("traffic-surge", (0.3, 2.0))],
)
def test_demo_impact_matches_the_truth(demo_root, scenario, share):
    truth = SCENARIOS[scenario].truth
    metrics = EvidenceStore(demo_root / scenario).read("datadog", "metrics")
    impact = estimate_impact(metrics, window=truth.window, baseline=truth.baseline)
    assert impact.failed_requests > 500
    assert share[0] < impact.share_failed < share[1]
    assert 0.9 * impact.failed_requests < impact.excess_failed <= impact.failed_requests
    assert impact.coverage > 0.95
    # degraded (error ratio above 1 %) roughly from the onset to the recovery
    degraded = (truth.recovered_at - truth.onset_at) / timedelta(minutes=1)
    assert abs(impact.minutes_degraded - degraded) <= 3
    assert abs(impact.degraded_from - truth.onset_at) <= timedelta(minutes=1)
    assert abs(impact.degraded_until - truth.recovered_at) <= timedelta(minutes=3)
    assert truth.onset_at <= impact.peak_at <= truth.recovered_at
    assert impact_findings(impact)[0].severity in ("medium", "high")


def test_demo_response_times(demo_root):
    truth = SCENARIOS["connection-leak"].truth
    times = response_times(
        read_incident(demo_root / "connection-leak"), impact_start=truth.onset_at
    )
    assert times.time_to_detect == truth.detected_at - truth.onset_at
    assert times.time_to_resolve == truth.resolved_at - truth.detected_at


# -- issue 8: one formatter per unit, growth from few baseline events ---------------------


def test_the_baseline_share_reads_the_same_in_the_health_table_and_the_impact():
    from incident_lib.analysis.metrics import health_table
    from incident_lib.report.tables import format_health

    errors = _constant(0.0).mask(_during("13:55", "13:55:15"), 0.4)  # 6 failed requests
    errors = errors.mask(_during("14:02", "14:06"), 2.0)
    frame = _metrics(_constant(10), errors)
    impact = estimate_impact(frame, window=WINDOW, baseline=BASELINE)
    health = health_table(frame, window=WINDOW, baseline=BASELINE, keys=["error_ratio"])
    shown = format_health(health).iloc[0]
    assert f"({shown['baseline']} %, 6 failed requests in the baseline)" in impact.summary()
    assert shown["baseline"] == "0.10"  # request-weighted, not the median of zeros
    assert shown["peak vs baseline"] == "6 failed requests in the baseline"  # not "200.0×"
    assert (
        "< 0.01 %"
        in estimate_impact(
            _metrics(_constant(1000), _constant(0.0).mask(_during("14:00", "14:00:15"), 0.01)),
            window=WINDOW,
            baseline=BASELINE,
        ).summary()
    )
