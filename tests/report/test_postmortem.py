"""The post-mortem document on a literal diagnosis, timeline and impact."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from incident_lib.analysis.diagnosis import Clause, Diagnosis
from incident_lib.analysis.impact import Impact, response_times
from incident_lib.core.incident import Incident
from incident_lib.core.postmortem import PostmortemInput
from incident_lib.core.time import Window
from incident_lib.core.timeline import Event, events_frame, status_event
from incident_lib.report.postmortem import (
    DRAFT,
    FOLLOWUP_LABEL,
    MAX_TIMELINE_ROWS,
    action_items,
    action_items_json,
    issue_texts,
    postmortem_html,
    postmortem_markdown,
)

GENERATED = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
SECTIONS = (
    "## Summary",
    "## Impact",
    "## Timeline",
    "## Root cause",
    "## What went well",
    "## What could have gone better",
    "## Action items",
    "## Lessons learned",
    "## Response times",
)
HUMAN_PARTS = (
    "## Root cause",
    "## What went well",
    "## What could have gone better",
    "## Action items",
    "## Lessons learned",
)


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-03T{hhmm}:00+00:00")


def _incident(**times: str) -> Incident:
    recorded = times or {
        "detected": "2026-11-03T14:21:00Z",
        "acknowledged": "2026-11-03T14:24:00Z",
        "mitigated": "2026-11-03T14:35:00Z",
        "resolved": "2026-11-03T14:50:00Z",
    }
    return Incident.create(
        id="DEMO-LEAK-0001",
        title="API returns 5xx",
        service="api",
        namespace="prod",
        severity="SEV-2",
        start="2026-11-03T14:00:00Z",
        end="2026-11-03T15:00:00Z",
        status="resolved" if "resolved" in recorded else "investigating",
        **recorded,
    )


SIGNATURE = "QueuePool limit of size <NUM> overflow <NUM> reached"


def _events() -> list[Event]:
    return [
        Event(
            time=at("14:10"),
            source="changes",
            kind="deploy",
            summary="Deployed api v2.34 (rev 42)",
            key="api rev 42",
            evidence="kubernetes/rollouts",
            row=3,
        ),
        Event(
            time=at("14:12"),
            source="logs",
            kind="new_signature",
            summary=f"New signature: {SIGNATURE}",
            key="sig-1",
            evidence="kubernetes/logs",
            row=120,
        ),
        Event(
            time=at("14:19"),
            source="metrics",
            kind="onset",
            summary="5xx share left its baseline",
            key="onset error_ratio",
            evidence="datadog/metrics",
            row=400,
        ),
        Event(
            time=at("14:21"),
            source="monitors",
            kind="alert",
            summary="[api] 5xx rate high went to alert",
            key="monitor 1 alert",
            evidence="datadog/monitors",
            row=2,
        ),
        Event(
            time=at("14:24"),
            source="metrics",
            kind="saturation",
            summary="orders-db connections at max_connections (100)",
            key="db_connections",
            evidence="datadog/metrics",
            row=800,
        ),
        Event(
            time=at("14:33"),
            source="changes",
            kind="rollback",
            summary="Rolled back api to v2.33 (rev 43)",
            key="api rev 43",
            evidence="kubernetes/rollouts",
            row=4,
        ),
        Event(
            time=at("14:36"),
            source="metrics",
            kind="recovery",
            summary="5xx share back within its baseline",
            key="recovery error_ratio",
            evidence="datadog/metrics",
            row=900,
        ),
        status_event("detected", at("14:21")),
        status_event("acknowledged", at("14:24")),
        status_event("mitigated", at("14:35")),
        status_event("resolved", at("14:50")),
    ]


def _diagnosis() -> Diagnosis:
    return Diagnosis(
        headline="deploy v2.34 (api rev 42) exhausted the database connections; recovered",
        trigger=Clause(
            "Deploy v2.34 (api rev 42) at 14:10, 9 min before the onset.",
            ("kubernetes/rollouts#row=3", "03_changes"),
        ),
        mechanism=(
            Clause(f"New log signature {SIGNATURE} from 14:12", ("kubernetes/logs#row=120",)),
            Clause(
                "orders-db connections reached max_connections at 14:24",
                ("datadog/metrics#row=800", "05_metrics"),
            ),
        ),
        impact=Clause("About 1,230 requests failed (2.37 %)", ("datadog/metrics", "05_metrics")),
        actions=(Clause("Rolled back to v2.33 at 14:33", ("kubernetes/rollouts#row=4",)),),
        verdict=Clause("Recovered and verified", ("10_verify",)),
        next_step=Clause("Write the post-mortem"),
    )


def _impact() -> Impact:
    return Impact(
        window=Window(at("14:00"), at("15:00")),
        total_requests=52000.0,
        failed_requests=1230.4,
        excess_failed=1200.2,
        share_failed=2.366,
        baseline_error_ratio=0.05,
        baseline_failed=20.0,
        peak_error_ratio=14.2,
        peak_at=pd.Timestamp("2026-11-03T14:30Z"),
        degraded_above=1.0,
        minutes_degraded=17.0,
        degraded_from=pd.Timestamp("2026-11-03T14:19Z"),
        degraded_until=pd.Timestamp("2026-11-03T14:36Z"),
        coverage=0.99,
    )


def _document(**changes) -> str:
    incident = changes.pop("incident", _incident())
    inputs = {
        "incident": incident,
        "events": events_frame(_events()),
        "diagnosis": _diagnosis(),
        "impact": _impact(),
        "times": response_times(incident, impact_start=at("14:19")),
        "human": None,
        "generated_at": GENERATED,
        **changes,
    }
    return postmortem_markdown(**inputs)


def _section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    following = text.find("\n## ", start + len(heading))
    return text[start : following if following >= 0 else len(text)]


def test_every_section_is_there_in_order():
    text = _document()
    positions = [text.index(heading + "\n") for heading in SECTIONS]
    assert positions == sorted(positions)
    assert text.startswith("# Post-mortem: DEMO\\-LEAK\\-0001: API returns 5xx\n")
    assert text.endswith("\n")


def test_without_postmortem_yaml_every_human_part_is_a_marked_draft():
    text = _document()
    for heading in HUMAN_PARTS:
        assert f"*{DRAFT}*" in _section(text, heading), heading
    # the facts are drafted from the timeline, each with its evidence
    went_well = _section(text, "## What went well")
    assert "Detection took 2 min after the onset" in went_well
    assert (
        "The rollback took 3 min from the rollback \\(14:33 UTC: Rolled back api to v2\\.33 "
        "\\(rev 43\\)\\) to recovery \\(14:36 UTC: 5xx share back within its baseline\\)"
    ) in went_well
    assert "`kubernetes/rollouts#row=4`, `datadog/metrics#row=900`" in went_well
    better = _section(text, "## What could have gone better")
    assert "The limit was hit 14 min after the trigger" in better
    assert "`kubernetes/rollouts#row=3`, `datadog/metrics#row=800`" in better
    for heading in HUMAN_PARTS:
        bullets = [line for line in _section(text, heading).splitlines() if line[:2] == "- "]
        assert all("(evidence: `" in line for line in bullets), heading
    actions = _section(text, "## Action items")
    assert "Add a test and an alert for: New log signature" in actions
    assert "| unassigned | to set | P2 | `kubernetes/logs#row=120` |" in actions


def test_human_text_is_used_where_given_and_drafts_fill_the_rest():
    human = PostmortemInput.from_yaml(
        """\
root_cause: v2.34 leaks one pooled connection per aborted flush.
went_well: [The rollback was quick.]
action_items:
  - {action: Set idle_in_transaction_session_timeout, owner: alice, deadline: 2026-12-15,
     priority: P1}
"""
    )
    text = _document(human=human)
    root = _section(text, "## Root cause")
    assert "v2\\.34 leaks one pooled connection per aborted flush\\." in root
    assert DRAFT not in root
    assert DRAFT not in _section(text, "## What went well")
    assert "- The rollback was quick\\." in text
    actions = _section(text, "## Action items")
    assert DRAFT not in actions
    assert "| 1 | Set idle\\_in\\_transaction\\_session\\_timeout | alice | 2026-12-15 | P1 |" in (
        actions
    )
    assert "Add a test" not in actions
    # parts left out are still drafted
    assert f"*{DRAFT}*" in _section(text, "## What could have gone better")
    assert f"*{DRAFT}*" in _section(text, "## Lessons learned")


def test_deterministic_apart_from_the_generated_line():
    first = _document()
    events = _events()
    random.Random(7).shuffle(events)
    again = _document(events=events, generated_at=GENERATED + timedelta(days=3))
    differ = [(a, b) for a, b in zip(first.splitlines(), again.splitlines(), strict=True) if a != b]
    assert len(differ) == 1
    assert differ[0][0].startswith("Generated 2026-11-05 09:00:00Z")
    assert _document() == first


def test_impact_states_the_numbers_and_the_method():
    impact = _section(_document(), "## Impact")
    assert "Failed requests: 1,230 (2.37 %), 1,200 beyond the baseline share" in impact
    assert "Requests affected: 52,000 requests" in impact
    assert "17 min, from 14:19 UTC to 14:36 UTC" in impact
    assert "Method: counts are the request and 5xx rates" in impact
    assert "(evidence: `datadog/metrics`, `05_metrics`)" in impact


def test_timeline_table_lists_events_with_their_reference():
    timeline = _section(_document(), "## Timeline")
    assert "| time | lane | what | reference |" in timeline
    assert (
        "| 14:10:00 | changes | Deployed api v2\\.34 \\(rev 42\\) | `kubernetes/rollouts#row=3` |"
        in timeline
    )
    assert "| 14:50:00 | people | Incident resolved | `01_triage` |" in timeline
    assert "\\<NUM\\>" in timeline and "<NUM>" not in timeline


def test_a_long_timeline_is_capped_keeping_the_key_events():
    noise = [
        Event(
            time=at("14:00") + timedelta(seconds=20 * i),
            source="kubernetes",
            kind="warning",
            summary=f"Readiness probe failed {i}",
            key=f"probe {i}",
            evidence="kubernetes/k8s_events",
            row=i,
        )
        for i in range(200)
    ]
    text = _document(events=_events() + noise)
    timeline = _section(text, "## Timeline")
    rows = [line for line in timeline.splitlines() if re.match(r"\| \d\d:\d\d:\d\d \|", line)]
    assert len(rows) == MAX_TIMELINE_ROWS
    assert f"{len(_events()) + 200 - MAX_TIMELINE_ROWS} more in `timeline.jsonl`" in timeline
    for key in ("Deployed api v2\\.34", "Rolled back api", "Incident detected", "max\\_conn"):
        assert key in timeline, key


def test_response_times_with_definitions_and_unknowns():
    incident = _incident(detected="2026-11-03T14:21:00Z")
    text = _document(incident=incident)
    table = _section(text, "## Response times")
    assert (
        "| time to detect (TTD) | 2 min | from when impact began (the error-rate onset) until "
        "the incident was detected | onset 14:19 UTC | detected 14:21 UTC |  |" in table
    )
    assert "| time to acknowledge (TTA) | unknown |" in table
    assert "acknowledged (not recorded) | acknowledged not recorded |" in table
    assert "| 0 s |" not in table and "| 0 min |" not in table


def test_times_default_to_the_record_and_the_onset_event():
    assert _document(times=None) == _document()


def test_a_record_error_is_flagged():
    incident = _incident()
    broken = replace(incident, times=replace(incident.times, acknowledged=at("14:15")))
    text = _document(incident=broken)
    table = _section(text, "## Response times")
    assert "| time to acknowledge (TTA) | unknown |" in table
    assert "record error: acknowledged \\(2026\\-11\\-03 14:15:00Z\\) is before detected" in table
    assert "The time to acknowledge \\(TTA\\) is unknown: record error" in _section(
        text, "## What could have gone better"
    )


def test_slow_detection_is_something_to_improve_with_an_action_item():
    incident = _incident(detected="2026-11-03T14:30:00Z", resolved="2026-11-03T14:50:00Z")
    text = _document(incident=incident)
    better = _section(text, "## What could have gone better")
    assert "Detection took 11 min after the onset" in better
    assert "Detection took" not in _section(text, "## What went well")
    assert "Detect earlier: alert within 5 min" in _section(text, "## Action items")


def test_nothing_known_still_gives_every_section():
    incident = _incident(detected="2026-11-03T14:21:00Z")
    text = postmortem_markdown(
        incident=incident,
        events=[],
        diagnosis=None,
        impact=None,
        times=None,
        human=None,
        generated_at=GENERATED,
    )
    for heading in SECTIONS:
        assert heading + "\n" in text
    assert "Impact unknown" in text
    assert "No events on the timeline." in text
    assert "Unknown from the evidence: write `root_cause` in postmortem.yaml." in text
    assert "| time to detect (TTD) | 21 min |" in text  # from the window start
    assert "window start 14:00 UTC" in text


def test_untrusted_text_stays_text_in_html():
    hostile = Event(
        time=at("14:15"),
        source="logs",
        kind="new_signature",
        summary="<img src=x onerror=alert(1)> [click](javascript:alert(1)) | pipe",
        key="hostile",
        evidence="kubernetes/logs",
        row=7,
    )
    text = _document(events=[*_events(), hostile])
    page = postmortem_html(text)
    assert "<img" not in page and "javascript:" not in page.replace("javascript:alert", "")
    assert 'href="javascript' not in page
    assert "&lt;img" in page
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Post-mortem: DEMO-LEAK-0001: API returns 5xx</title>" in page
    assert page.count("<table>") == 3


def test_action_items_as_json_and_issue_texts():
    incident = _incident()
    items = action_items(incident=incident, events=_events(), diagnosis=_diagnosis(), human=None)
    assert [f.draft for f in items] == [True] * len(items)
    assert len(items) == 3  # two mechanisms and the trigger's review
    data = json.loads(action_items_json(items, incident=incident))
    assert data["incident"]["id"] == "DEMO-LEAK-0001"
    first = data["action_items"][0]
    assert first["labels"] == [FOLLOWUP_LABEL, "P2"]
    assert first["evidence"] == ["kubernetes/logs#row=120"]
    assert first["draft"] is True and first["owner"] == "" and first["deadline"] is None
    issues = issue_texts(items, incident=incident)
    names = [name for name, _ in issues]
    assert names[0].startswith("01-add-a-test-and-an-alert-for")
    assert len(set(names)) == len(issues)
    body = issues[0][1]
    assert body.startswith('---\ntitle: "Add a test and an alert for: ')
    assert 'labels: ["incident-followup", "P2"]' in body
    assert "`DEMO-LEAK-0001`" in body and "`kubernetes/logs#row=120`" in body
    assert DRAFT in body
    assert action_items_json(items, incident=incident) == action_items_json(
        items, incident=incident
    )


def test_written_action_items_are_not_drafts():
    human = PostmortemInput.from_yaml(
        "action_items:\n"
        "  - {action: Fix the leak, owner: bob, deadline: 2026-12-01, priority: P1}\n"
    )
    incident = _incident()
    items = action_items(incident=incident, events=_events(), diagnosis=None, human=human)
    assert len(items) == 1 and not items[0].draft
    _, body = issue_texts(items, incident=incident)[0]
    assert 'labels: ["incident-followup", "P1"]' in body
    assert "- Owner: bob" in body and "- Deadline: 2026-12-01" in body
    assert DRAFT not in body


@pytest.mark.parametrize("severity", ["SEV-1", "SEV-4"])
def test_draft_priority_follows_the_severity(severity):
    incident = replace(_incident(), severity=severity)
    items = action_items(incident=incident, events=_events(), diagnosis=_diagnosis(), human=None)
    assert {f.item.priority for f in items} == {f"P{severity[-1]}"}


def test_the_error_ratio_onset_and_recovery_mark_the_impact():
    # an earlier cause metric's onset (connections climbing) is not when impact began
    earlier = [
        Event(
            time=at("14:11"),
            source="metrics",
            kind="onset",
            summary="DB connections left its baseline",
            key="onset:db_connections",
            evidence="datadog/metrics",
            row=10,
        ),
        Event(
            time=at("14:19"),
            source="metrics",
            kind="onset",
            summary="5xx share of requests left its baseline",
            key="onset:error_ratio",
            evidence="datadog/metrics",
            row=400,
        ),
        Event(
            time=at("14:34"),
            source="metrics",
            kind="recovery",
            summary="p95 latency back within its baseline band",
            key="recovery:latency_p95",
            evidence="datadog/metrics",
            row=870,
        ),
        Event(
            time=at("14:36"),
            source="metrics",
            kind="recovery",
            summary="5xx share of requests back within its baseline band",
            key="recovery:error_ratio",
            evidence="datadog/metrics",
            row=900,
        ),
    ]
    events = [e for e in _events() if e.kind not in ("onset", "recovery")] + earlier
    text = _document(events=events, times=None)
    assert "Detection took 2 min after the onset \\(14:19 UTC\\)" in text
    assert "| time to detect (TTD) | 2 min |" in text
    assert "The rollback took 3 min" in text


def test_the_same_event_twice_is_listed_once():
    events = [*_events(), status_event("detected", at("14:21"))]
    text = _document(events=events)
    assert text.count("| people | Incident detected |") == 1
    assert text == _document()


def test_the_trigger_is_the_change_the_diagnosis_cites():
    # the flag flip is closer to the onset, but the diagnosis cites the deploy's captured row
    flag = Event(
        time=at("14:15"),
        source="changes",
        kind="config",
        summary="Feature flag checkout-v2 turned on",
        key="flag",
        evidence="datadog/events",
        row=0,
    )
    deploy = replace(_events()[0], file="evidence/0001-kubernetes-rollouts.parquet")
    events = [deploy, flag, *_events()[1:]]
    cited = replace(
        _diagnosis(),
        trigger=Clause("Deploy v2.34", ("evidence/0001-kubernetes-rollouts.parquet#row=3",)),
    )
    text = _document(events=events, diagnosis=cited)
    assert "Review how Deployed api v2\\.34 \\(rev 42\\) reached production" in text
    assert "after Deployed api v2\\.34 \\(rev 42\\) \\(14:10 UTC\\)" in text
    # without a diagnosis the last change before the onset is taken
    text = _document(events=events, diagnosis=None)
    assert "Review how Feature flag checkout\\-v2 turned on reached production" in text
    # without a diagnosis the drafts come from the mechanism events
    assert "Add a test and an alert for: New signature: QueuePool" in text


def test_an_outside_event_is_planned_for_not_reviewed():
    campaign = Event(
        time=at("14:10"),
        source="changes",
        kind="event",
        summary="Black Friday email campaign sent to 2.1M customers",
        key="campaign",
        evidence="datadog/events",
        row=0,
    )
    events = [campaign, *_events()[1:]]
    text = _document(events=events, diagnosis=None)
    assert "Plan capacity for events like Black Friday email campaign" in text
    assert "How could we have seen Black Friday email campaign" in text
    assert "reached production" not in text


def test_the_connection_leak_demo(demo_copy):
    """The issue's acceptance check: v2.34, the connection exhaustion, the rollback, and
    durations that match the scenario, from the captured evidence alone."""
    from incident_lib.demo import SCENARIOS
    from incident_lib.infra.workspace import open_workspace
    from incident_lib.report.story import build_story

    truth = SCENARIOS["connection-leak"].truth
    story = build_story(open_workspace(demo_copy("connection-leak")), record=False)
    times = response_times(story.incident, impact_start=story.onset)
    text = postmortem_markdown(
        incident=story.incident,
        events=story.timeline,
        diagnosis=story.diagnosis,
        impact=story.impact,
        times=times,
        human=None,
        generated_at=GENERATED,
    )
    assert "v2\\.34" in _section(text, "## Root cause")
    assert "max\\_connections" in _section(text, "## Root cause")
    assert "The rollback took" in _section(text, "## What went well")
    table = _section(text, "## Response times")
    ttd = (truth.detected_at - truth.onset_at).total_seconds() / 60
    assert abs(times.measures()[0].minutes - ttd) <= 1
    assert "| time to acknowledge (TTA) | 3 min |" in table
    assert "| time to mitigate (TTM) | 14 min |" in table
    assert "| time to resolve (TTR) | 29 min |" in table
    rollback = re.search(r"The rollback took (\d+) min", text)
    assert rollback is not None
    expected = (truth.recovered_at - truth.rollback_at) / timedelta(minutes=1)
    assert abs(int(rollback.group(1)) - expected) <= 3
