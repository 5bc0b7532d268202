"""Response times (TTD, TTA, TTM, TTR) with their definitions, on literal timelines."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from incident_records import sample_incident

from incident_lib.analysis.impact import response_times
from incident_lib.core.incident import Incident, Times


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-03T{hhmm}:00+00:00")


def _incident(**times: str) -> Incident:
    return sample_incident(title="Checkout returns 500s", service="checkout", **times)


FULL = {
    "detected": "2026-11-03T14:21:00Z",
    "acknowledged": "2026-11-03T14:24:00Z",
    "mitigated": "2026-11-03T14:35:00Z",
    "resolved": "2026-11-03T14:50:00Z",
}


def test_each_measure_has_its_definition_and_moments():
    measures = response_times(_incident(**FULL), impact_start=at("14:19")).measures()
    assert [m.name for m in measures] == [
        "time to detect (TTD)",
        "time to acknowledge (TTA)",
        "time to mitigate (TTM)",
        "time to resolve (TTR)",
    ]
    assert [(m.start, m.end) for m in measures] == [
        ("onset", "detected"),
        ("detected", "acknowledged"),
        ("detected", "mitigated"),
        ("detected", "resolved"),
    ]
    assert [m.text for m in measures] == ["2 min", "3 min", "14 min", "29 min"]
    assert [m.minutes for m in measures] == [2, 3, 14, 29]
    assert all(m.problem == "" and m.valid for m in measures)
    assert "onset" in measures[0].definition and "detected" in measures[0].definition
    assert "acknowledged" in measures[1].definition
    assert all(m.definition for m in measures)
    assert measures[0].start_at == at("14:19") and measures[0].end_at == at("14:21")


def test_without_an_onset_the_window_start_is_named():
    ttd = response_times(_incident(**FULL)).measures()[0]
    assert ttd.start == "window start"
    assert ttd.text == "21 min"


def test_missing_timestamps_are_unknown_never_zero():
    times = response_times(_incident(detected="2026-11-03T14:21:00Z"), impact_start=at("14:19"))
    measures = times.measures()
    assert measures[0].text == "2 min"
    for m in measures[1:]:
        assert m.text == "unknown"
        assert math.isnan(m.minutes)
        assert m.duration is None
        assert m.problem == f"{m.end} not recorded"
    assert times.problems() == []  # missing is not a record error
    nothing = response_times(_incident()).measures()
    assert [m.text for m in nothing] == ["unknown"] * 4
    assert nothing[1].problem == "detected and acknowledged not recorded"
    frame = response_times(_incident()).measures_frame()
    assert list(frame.columns) == [
        "measure",
        "definition",
        "from",
        "to",
        "duration",
        "minutes",
        "problem",
    ]
    assert frame["duration"].tolist() == ["unknown"] * 4
    assert frame["minutes"].isna().all()


def test_a_zero_duration_is_zero_not_unknown():
    ttd = response_times(_incident(**FULL), impact_start=at("14:21")).measures()[0]
    assert ttd.text == "0 s"
    assert ttd.minutes == 0
    assert ttd.problem == ""


def test_negative_durations_are_record_errors():
    # the record refuses this order when loaded, so build it past validation, as a
    # record edited elsewhere or an onset estimated after the detection would give
    incident = replace(
        _incident(),
        times=Times(
            detected=at("14:21"),
            acknowledged=at("14:18"),
            mitigated=at("14:40"),
            resolved=at("14:30"),
        ),
    )
    times = response_times(incident, impact_start=at("14:25"))
    ttd, tta, ttm, ttr = times.measures()
    assert tta.text == "unknown" and math.isnan(tta.minutes)
    assert tta.problem.startswith("record error: acknowledged")
    assert "is before detected" in tta.problem and "check incident.yaml" in tta.problem
    assert ttd.text == "unknown"
    assert "detected (2026-11-03 14:21:00Z) is before onset (2026-11-03 14:25:00Z)" in ttd.problem
    assert ttm.problem == "" and ttm.text == "19 min"
    # resolved after detected but before mitigated: the record is inconsistent
    assert "resolved (2026-11-03 14:30:00Z) is before mitigated" in ttr.problem
    assert ttr.text == "9 min"  # the duration itself is not negative: shown, and flagged
    assert len(times.problems()) == 3


def test_the_existing_api_is_unchanged():
    times = response_times(_incident(**FULL), impact_start=at("14:19"))
    assert times.time_to_detect == timedelta(minutes=2)
    assert list(times.to_frame()["duration"]) == ["2 min", "3 min", "14 min", "29 min"]
    assert times.summary().startswith("Detected 2 min after impact began")


@pytest.mark.parametrize("label", ["onset", "first alert"])
def test_the_impact_start_can_be_named(label):
    times = response_times(_incident(**FULL), impact_start=at("14:19"), label=label)
    assert times.measures()[0].start == label
    assert times.impact_start == at("14:19").astimezone(UTC)
