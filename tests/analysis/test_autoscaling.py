"""Autoscalers at their maximum: spans from SuccessfulRescale events and the hpa frame's status.

The story (UTC, 2026-11-10): HPA ``checkout`` (4-10 replicas) scales 4 -> 5 at 17:06:45 and
5 -> 10 at 17:07:45, then, in one variant, back down to 6 at 17:24:10; the ``hpa`` frame is
captured at 17:46.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from incident_lib.analysis.autoscaling import (
    at_max_spans,
    autoscaler_findings,
    autoscaler_line,
    autoscaler_table,
    limited_by,
    replica_history,
)
from incident_lib.analysis.recovery import check_recovery
from incident_lib.core.schema import conform, empty_frame
from incident_lib.core.time import Window

REASON = "cpu resource utilization (percentage of request) above target"
LIMIT_MSG = "the desired replica count is more than the maximum replica count"


def at(hms: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-11-10T{hms}Z")


CAPTURED = at("17:46:05")


def _events(*rescales: tuple[str, int], obj: str = "HorizontalPodAutoscaler/checkout"):
    rows = [
        {
            "first_seen": at(hms),
            "last_seen": at(hms),
            "type": "Normal",
            "reason": "SuccessfulRescale",
            "object": obj,
            "message": f"New size: {size}; reason: {REASON}",
            "count": 1,
        }
        for hms, size in rescales
    ]
    rows.append(
        {
            "first_seen": at("17:06:45.2"),
            "last_seen": at("17:06:45.2"),
            "type": "Normal",
            "reason": "ScalingReplicaSet",
            "object": "Deployment/checkout",
            "message": "Scaled up replica set checkout-5c8d7f9b64 to 10",
            "count": 1,
        }
    )
    return conform(pd.DataFrame(rows), "k8s_events")


SCALE_UP = (("17:06:45.1", 5), ("17:07:45.2", 10))


def _hpa(
    current: int,
    *,
    limited: str | None = None,
    limited_at: str = "17:07:45",
    name: str = "checkout",
    maximum: int = 10,
    captured: pd.Timestamp = CAPTURED,
):
    base = {
        "hpa": name,
        "target": f"Deployment/{name}",
        "min_replicas": 4,
        "max_replicas": maximum,
        "current_replicas": current,
        "desired_replicas": current,
        "metrics": "cpu 92%/70%",
        "captured_at": captured,
    }
    conditions = [
        ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"),
        ("ScalingActive", "True", "ValidMetricFound", "the HPA was able to compute"),
        (
            "ScalingLimited",
            "True" if limited else "False",
            limited or "DesiredWithinRange",
            LIMIT_MSG if limited else "the desired count is within the acceptable range",
        ),
    ]
    rows = [
        {
            **base,
            "condition": c,
            "status": s,
            "reason": r,
            "message": m,
            "transitioned_at": at(limited_at) if c == "ScalingLimited" else at("09:00"),
        }
        for c, s, r, m in conditions
    ]
    return conform(pd.DataFrame(rows), "hpa")


# -- spans ------------------------------------------------------------------------------------
def test_an_hpa_at_max_gives_a_finding_with_the_right_span():
    events = _events(*SCALE_UP, ("17:24:10", 6))
    hpa = _hpa(6, limited_at="17:24:10")

    spans = at_max_spans(hpa, events)

    assert len(spans) == 1
    span = spans[0]
    assert (span.hpa, span.max_replicas, span.start, span.end) == (
        "checkout",
        10,
        at("17:07:45.2"),
        at("17:24:10"),
    )
    assert not span.ongoing
    (finding,) = autoscaler_findings(spans)
    assert finding.title == "HPA checkout at max replicas (10) from 17:07 to 17:24 UTC"
    assert (finding.fact, finding.role, finding.severity) == ("autoscaler", "mechanism", "medium")


def test_an_hpa_still_at_max_says_so_and_what_limited_it():
    hpa = _hpa(10, limited="TooManyReplicas")

    (span,) = at_max_spans(hpa, _events(*SCALE_UP))

    # the condition's transition (17:07:45) dates it as well as the rescale event (17:07:45.2)
    assert span.ongoing and span.start == at("17:07:45")
    assert span.limited_by == f"TooManyReplicas: {LIMIT_MSG}"
    (finding,) = autoscaler_findings([span])
    assert finding.title == (
        "HPA checkout at max replicas (10) since 17:07 UTC, still at max when captured at 17:46 UTC"
    )
    assert "TooManyReplicas" in finding.summary and finding.severity == "high"
    assert limited_by(hpa, "checkout").startswith("TooManyReplicas")


def test_without_events_the_scaling_limited_transition_dates_the_span():
    # events expired (the API server keeps them an hour): the condition still tells when
    hpa = _hpa(10, limited="TooManyReplicas", limited_at="17:08:00")

    (span,) = at_max_spans(hpa, empty_frame("k8s_events"))

    assert span.start == at("17:08:00") and span.ongoing


def test_an_hpa_that_never_reaches_max_has_no_span():
    events = _events(("17:06:45.1", 5), ("17:30:00", 4))
    hpa = _hpa(4)

    assert at_max_spans(hpa, events) == []
    assert autoscaler_findings([]) == []
    line = autoscaler_line(hpa, events)
    assert "never at max" in line and "4 replicas (4–10)" in line


def test_rescales_of_another_autoscaler_are_not_counted():
    events = _events(*SCALE_UP, obj="HorizontalPodAutoscaler/search")
    history = replica_history(_hpa(6), events)

    assert list(history["source"]) == ["capture"]
    assert at_max_spans(_hpa(6), events) == []


def test_an_aggregated_event_counts_at_its_first_and_last_time():
    events = _events(*SCALE_UP, ("17:24:10", 6))
    events.loc[events["message"].str.startswith("New size: 10"), ["last_seen", "count"]] = [
        at("17:12:00"),
        3,
    ]

    history = replica_history(_hpa(6), events)

    assert list(history.loc[history["replicas"] == 10, "time"]) == [
        at("17:07:45.2"),
        at("17:12:00"),
    ]


def test_findings_outside_the_window_are_left_out():
    span = at_max_spans(_hpa(6), _events(*SCALE_UP, ("17:24:10", 6)))
    assert autoscaler_findings(span, window=Window(at("18:00"), at("19:00"))) == []
    assert len(autoscaler_findings(span, window=Window(at("17:00"), at("17:30")))) == 1


def test_one_line_for_the_one_page_view():
    line = autoscaler_line(_hpa(10, limited="TooManyReplicas"), _events(*SCALE_UP))
    assert line == (
        "HPA `checkout`: at max replicas (10) since 17:07 UTC, still at max when captured at "
        "17:46 UTC (TooManyReplicas)"
    )
    assert autoscaler_line(empty_frame("hpa"), empty_frame("k8s_events")) == ""


# -- the recovery check -----------------------------------------------------------------------
def _verdict(as_of: pd.Timestamp, **kw):
    return check_recovery(
        metrics=empty_frame("metrics"),
        monitor_events=empty_frame("monitor_events"),
        pods=empty_frame("pods"),
        baseline=Window(at("16:00"), at("17:00")),
        as_of=as_of.to_pydatetime(),
        **kw,
    )


def _check(verdict):
    return {c.name: c for c in verdict.checks}.get("autoscaler below max")


def test_recovery_fails_while_the_autoscaler_is_at_max():
    verdict = _verdict(
        at("17:45"), hpa=_hpa(10, limited="TooManyReplicas"), k8s_events=_events(*SCALE_UP)
    )
    check = _check(verdict)

    assert check is not None and check.passed is False
    assert "autoscaler below max" in verdict.failing
    assert "checkout 10 of max 10 at 17:46 UTC" in check.observed
    assert "since 17:07 UTC" in check.detail and "(TooManyReplicas)" in check.detail


@pytest.mark.parametrize(
    ("as_of", "passed"),
    [
        (at("17:45"), True),  # back to 6 at 17:24: the 15-min period from 17:30 is clean
        (at("17:35"), False),  # the period 17:20-17:35 still holds minutes at max
    ],
)
def test_recovery_passes_once_back_below_max_for_the_whole_period(as_of, passed):
    verdict = _verdict(
        as_of, hpa=_hpa(6, limited_at="17:24:10"), k8s_events=_events(*SCALE_UP, ("17:24:10", 6))
    )
    assert _check(verdict).passed is passed


def test_no_autoscaler_no_check():
    assert _check(_verdict(at("17:45"))) is None
    assert _check(_verdict(at("17:45"), hpa=empty_frame("hpa"))) is None


def test_an_autoscaler_captured_before_the_period_is_unknown():
    old = _hpa(6, captured=at("17:10"))
    check = _check(_verdict(at("17:45"), hpa=old, k8s_events=_events(*SCALE_UP)))
    assert check.passed is None and "before the period" in check.detail


def test_the_check_span_reaches_the_capture_for_an_open_span():
    # as of well after the scale-up, captured later still: at max throughout
    verdict = _verdict(
        at("17:45") - timedelta(minutes=1),
        hpa=_hpa(10, limited="TooManyReplicas"),
        k8s_events=_events(*SCALE_UP),
    )
    assert _check(verdict).passed is False


def test_at_max_spans_at_the_capture_use_utc():
    (span,) = at_max_spans(_hpa(10, limited="TooManyReplicas"), _events(*SCALE_UP))
    assert span.captured_at == pd.Timestamp(datetime(2026, 11, 10, 17, 46, 5, tzinfo=UTC))


def test_the_table_for_07_resources():
    table = autoscaler_table(_hpa(10, limited="TooManyReplicas"), _events(*SCALE_UP))
    row = table.iloc[0].to_dict()
    assert row == {
        "hpa": "checkout",
        "target": "Deployment/checkout",
        "replicas": "10 (4–10)",
        "desired": 10,
        "metrics": "cpu 92%/70%",
        "at max": "since 17:07 UTC, still at max when captured at 17:46 UTC",
        "limited by": "TooManyReplicas",
    }
    assert autoscaler_table(_hpa(6), _events(("17:06:45.1", 5)))["at max"].tolist() == ["never"]


# -- the demos ---------------------------------------------------------------------------------
def test_the_traffic_surge_hpa_is_at_max_from_its_scale_up_to_the_capture(demo_root):
    from incident_lib.infra.workspace import open_workspace

    ws = open_workspace(demo_root / "traffic-surge")
    hpa, events = ws.evidence.read("kubernetes", "hpa"), ws.evidence.read("kubernetes", "events")

    (span,) = at_max_spans(hpa, events)
    (finding,) = autoscaler_findings([span], window=ws.incident.window)
    assert finding.title == (
        "HPA checkout at max replicas (10) since 17:07 UTC, still at max when captured at 18:00 UTC"
    )
    assert "TooManyReplicas" in finding.summary
    # the same rescales as the events: 4 -> 5 -> 10, then held
    history = replica_history(hpa, events)
    assert list(history.loc[history["source"] == "event", "replicas"]) == [5, 10]


def test_the_connection_leak_hpa_never_reaches_max(demo_root):
    from incident_lib.infra.workspace import open_workspace

    ws = open_workspace(demo_root / "connection-leak")
    hpa, events = ws.evidence.read("kubernetes", "hpa"), ws.evidence.read("kubernetes", "events")

    assert len(hpa) and at_max_spans(hpa, events) == []
    assert (events["reason"] != "SuccessfulRescale").all()


@pytest.mark.parametrize(
    ("scenario", "passed"), [("traffic-surge", False), ("connection-leak", True)]
)
def test_the_demos_recovery_check_as_10_verify_runs_it(demo_root, scenario, passed):
    from incident_lib.infra.workspace import open_workspace

    ws = open_workspace(demo_root / scenario)
    read = ws.evidence.read
    verdict = check_recovery(
        metrics=read("datadog", "metrics"),
        monitor_events=read("datadog", "monitor_events"),
        pods=read("kubernetes", "pods"),
        baseline=ws.incident.baseline_window,
        as_of=ws.incident.window.end,
        window=ws.incident.window,
        hpa=read("kubernetes", "hpa"),
        k8s_events=read("kubernetes", "events"),
    )
    assert _check(verdict).passed is passed
    # the surge still holds 10 replicas at the capture: accepting the HPA monitor is not enough
    assert ("autoscaler below max" in verdict.failing) is not passed


def test_an_autoscaler_kept_at_max_on_purpose_can_be_accepted_and_the_hint_says_how(demo_root):
    from incident_lib.analysis.recovery import RecoveryThresholds, recovery_findings
    from incident_lib.infra.workspace import open_workspace

    ws = open_workspace(demo_root / "traffic-surge")
    read = ws.evidence.read

    def verdict(**thresholds):
        return check_recovery(
            metrics=read("datadog", "metrics"),
            monitor_events=read("datadog", "monitor_events"),
            pods=read("kubernetes", "pods"),
            baseline=ws.incident.baseline_window,
            as_of=ws.incident.window.end,
            window=ws.incident.window,
            hpa=read("kubernetes", "hpa"),
            k8s_events=read("kubernetes", "events"),
            thresholds=RecoveryThresholds(**thresholds),
        )

    blocked = verdict()
    assert "accept_hpa_at_max=True" in blocked.summary()
    (finding, *_) = recovery_findings(blocked)
    assert "accept_hpa_at_max=True" in finding.summary
    firing = tuple(blocked.firing)
    assert firing  # the HPA-at-max monitor fires too
    accepted = verdict(ignore_monitors=firing, accept_hpa_at_max=True)
    check = _check(accepted)
    assert check.skipped and "accepted" in check.detail
    assert "autoscaler below max" not in accepted.failing
    assert "accept_hpa_at_max" not in accepted.summary()
