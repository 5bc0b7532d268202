"""Incident.with_status: status changes on the record, impossible orders refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from incident_records import sample_incident

from incident_lib.core.errors import InvalidInput
from incident_lib.core.incident import STATUS_CHANGES, Incident
from incident_lib.core.timeline import STATUS_KINDS

NOW = datetime(2026, 11, 3, 16, 0, tzinfo=UTC)


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 11, 3, int(hours), int(minutes), tzinfo=UTC)


@pytest.fixture
def ongoing() -> Incident:
    """Detected at 14:05, nothing else recorded, window still open."""
    return sample_incident(
        end=None, title="Checkout returns 500s", service="checkout", detected="2026-11-03T14:05:00Z"
    )


def test_the_status_kinds_match_the_timeline():
    assert STATUS_CHANGES == STATUS_KINDS


def test_acknowledged_sets_only_its_time(ongoing):
    updated = ongoing.with_status("acknowledged", at("14:10"), now=NOW)
    assert updated.times.acknowledged == at("14:10")
    assert updated.status == "investigating" and updated.end is None
    assert ongoing.times.acknowledged is None  # the original is unchanged


@pytest.mark.parametrize(("before", "after"), [("investigating", "monitoring"),
                                                ("identified", "monitoring"),
                                                ("monitoring", "monitoring")])  # fmt: skip
def test_mitigated_moves_the_status_to_monitoring(ongoing, before, after):
    record = ongoing.with_changes(status=before)
    updated = record.with_status("mitigated", "2026-11-03T14:35:00Z", now=NOW)
    assert updated.times.mitigated == at("14:35") and updated.status == after


def test_resolved_sets_status_and_closes_an_open_window(ongoing):
    updated = ongoing.with_status("mitigated", at("14:35"), now=NOW).with_status(
        "resolved", at("14:50"), now=NOW
    )
    assert updated.status == "resolved"
    assert updated.times.resolved == at("14:50") and updated.end == at("14:50")
    assert Incident.from_yaml(updated.to_yaml()) == updated


def test_resolved_keeps_a_window_end_already_set(ongoing):
    record = ongoing.with_changes(end=at("15:00"))
    assert record.with_status("resolved", at("14:50"), now=NOW).end == at("15:00")


def test_detected_can_be_recorded_and_the_window_start_stands_in_for_it(ongoing):
    record = ongoing.with_changes(times=type(ongoing.times)())
    assert record.with_status("detected", at("14:02"), now=NOW).times.detected == at("14:02")
    # without a detection time, the window start is the detection
    assert record.with_status("acknowledged", at("14:01"), now=NOW).times.acknowledged


def test_recording_again_corrects_the_time(ongoing):
    first = ongoing.with_status("acknowledged", at("14:10"), now=NOW)
    assert first.with_status("acknowledged", at("14:12"), now=NOW).times.acknowledged == at("14:12")


def test_a_time_a_few_seconds_ahead_of_the_clock_is_accepted(ongoing):
    assert ongoing.with_status("acknowledged", NOW + timedelta(seconds=30), now=NOW)


@pytest.mark.parametrize(
    ("kind", "moment", "fragments"),
    [
        ("resolved", NOW + timedelta(minutes=5), ["is in the future", "give the time"]),
        ("acknowledged", at("14:03"), ["before it was detected (2026-11-03T14:05:00Z)"]),
        ("mitigated", at("14:04"), ["before it was detected", "record the detection first"]),
        ("resolved", at("14:01"), ["before it was detected"]),
        ("detected", at("13:59"), ["before the incident window starts", "widen the window"]),
        ("status", at("14:10"), ["is not one of detected, acknowledged, mitigated, resolved"]),
    ],
)
def test_impossible_changes_are_refused_with_what_to_do(ongoing, kind, moment, fragments):
    with pytest.raises(InvalidInput) as info:
        ongoing.with_status(kind, moment, now=NOW)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_before_the_window_start_when_no_detection_is_recorded(ongoing):
    record = ongoing.with_changes(times=type(ongoing.times)())
    with pytest.raises(InvalidInput, match=r"before the window starts \(no detection time\)"):
        record.with_status("acknowledged", at("13:50"), now=NOW)


def test_resolved_before_mitigated_is_refused(ongoing):
    mitigated = ongoing.with_status("mitigated", at("14:35"), now=NOW)
    with pytest.raises(InvalidInput, match=r"before it was mitigated \(2026-11-03T14:35:00Z\)"):
        mitigated.with_status("resolved", at("14:30"), now=NOW)


@pytest.mark.parametrize("kind", ["acknowledged", "mitigated"])
def test_nothing_after_the_resolution(ongoing, kind):
    resolved = ongoing.with_status("resolved", at("14:50"), now=NOW)
    with pytest.raises(InvalidInput, match="already resolved at 2026-11-03T14:50:00Z"):
        resolved.with_status(kind, at("14:55"), now=NOW)
    assert getattr(resolved.with_status(kind, at("14:20"), now=NOW).times, kind) == at("14:20")


def test_a_detection_after_later_steps_is_refused(ongoing):
    acked = ongoing.with_status("acknowledged", at("14:10"), now=NOW)
    with pytest.raises(InvalidInput, match="acknowledged at 2026-11-03T14:10:00Z, earlier"):
        acked.with_status("detected", at("14:20"), now=NOW)


def test_a_record_rule_the_change_would_break_is_explained(ongoing):
    # a resolution that would make the window longer than 24 h: the record's rule, explained
    record = ongoing.with_changes(times=type(ongoing.times)(detected=at("14:05")))
    with pytest.raises(InvalidInput, match=r"cannot record resolved at .*24 h"):
        record.with_status("resolved", at("14:05") + timedelta(days=2), now=NOW + timedelta(days=3))
