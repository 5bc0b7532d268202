"""The diagnosis on literal timelines: trigger, competing hypotheses, mechanism, next step."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from incident_records import sample_incident

from incident_lib.analysis.changes import changes_timeline, rank_changes
from incident_lib.analysis.diagnosis import Diagnosis, diagnose
from incident_lib.core.incident import Incident
from incident_lib.core.schema import conform, empty_frame
from incident_lib.core.timeline import Event, events_frame, record_events

ONSET = pd.Timestamp("2026-11-03T14:19:00Z")


def _at(hm: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-03T{hm}:00").replace(tzinfo=UTC)


def _incident(**times: str) -> Incident:
    return sample_incident(
        title="Checkout errors", **{k: f"2026-11-03T{v}:00Z" for k, v in times.items()}
    )


def _rollouts(*rows: tuple[int, str, str]) -> pd.DataFrame:
    """(revision, tag, deployed HH:MM) per revision of Deployment api."""
    return conform(
        pd.DataFrame(
            [
                {
                    "deployment": "api",
                    "revision": rev,
                    "replicaset": f"api-{rev}",
                    "images": f"registry.example.com/shop/api:{tag}",
                    "created_at": _at(hm),
                    "deployed_at": _at(hm),
                    "change_cause": f"api {tag}",
                    "replicas": 3,
                    "current": i == len(rows) - 1,
                }
                for i, (rev, tag, hm) in enumerate(rows)
            ]
        ),
        "rollouts",
    )


def _config_event(hm: str, name: str) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "first_seen": _at(hm),
                    "last_seen": _at(hm),
                    "type": "Normal",
                    "reason": "ConfigMapUpdated",
                    "object": f"ConfigMap/{name}",
                    "message": f"ConfigMap {name} updated by argocd",
                    "count": 1,
                }
            ]
        ),
        "k8s_events",
    )


def _onsets(error_peak: float = 12.0) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "metric": "error_ratio",
                "direction": "up",
                "onset_at": ONSET,
                "baseline_level": 0.1,
                "baseline_scale": 0.05,
                "peak": error_peak,
                "peak_at": pd.Timestamp("2026-11-03T14:26:00Z"),
                "change": error_peak - 0.1,
                "ratio": error_peak / 0.1,
                "moved": True,
                "baseline_events": 50.0,
            }
        ]
    )


def _diagnose(
    incident: Incident, changes: pd.DataFrame, extra: list[Event] | None = None
) -> Diagnosis:
    ranked = rank_changes(changes, ONSET)
    events = [
        Event(
            time=row["time"].to_pydatetime(),
            source="changes",
            kind=row["kind"],
            summary=row["label"],
            key=row["label"],
            evidence="kubernetes/rollouts",
            row=i,
            section="03_changes",
        )
        for i, row in enumerate(changes.to_dict("records"))
    ]
    events += record_events(incident) + (extra or [])
    return diagnose(
        incident=incident,
        events=events_frame(events),
        ranked=ranked,
        onset=ONSET,
        onsets=_onsets(),
    )


def test_one_deploy_before_the_onset_is_the_trigger_with_its_evidence_row() -> None:
    changes = changes_timeline(rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:10")))
    d = _diagnose(_incident(detected="14:21"), changes)
    assert d.trigger is not None
    assert "v2.34" in d.trigger.text and "9 min before" in d.trigger.text
    assert "kubernetes/rollouts#row=1" in d.trigger.refs
    assert "v2.33" not in d.trigger.text  # a rollout hours earlier is not named
    assert not d.alternatives and d.tell_apart is None
    assert d.headline.startswith("deploy v2.34")


def test_two_changes_close_to_the_onset_are_competing_hypotheses() -> None:
    changes = changes_timeline(
        rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:12")),
        events=_config_event("14:14", "api-settings"),
    )
    d = _diagnose(_incident(detected="14:21"), changes)
    assert d.trigger is not None
    assert len(d.alternatives) == 1
    named = d.trigger.text + d.alternatives[0].text
    assert "v2.34" in named and "api-settings" in named
    assert d.tell_apart is not None
    assert "new revision" in d.tell_apart.text and "old and new pods" in d.tell_apart.text
    assert "top-ranked hypothesis first" in d.next_step.text


def test_a_metric_that_moved_between_change_and_onset_singles_the_change_out() -> None:
    changes = changes_timeline(
        rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:12")),
        events=_config_event("14:14", "api-settings"),
    )
    moved = Event(
        time=_at("14:12") + pd.Timedelta(seconds=20),
        source="metrics",
        kind="onset",
        summary="DB connections left its baseline",
        key="onset:db_connections",
        evidence="datadog/metrics",
        row=7,
    )
    d = _diagnose(_incident(detected="14:21"), changes, [moved])
    assert d.trigger is not None and "v2.34" in d.trigger.text
    assert "DB connections left its baseline 20 s after it" in d.trigger.text
    assert "api-settings updated at 14:14 UTC came after that had begun" in d.trigger.text
    assert not d.alternatives
    assert any("DB connections" in c.text for c in d.mechanism)


def test_no_change_before_the_onset_sends_the_responder_elsewhere() -> None:
    changes = changes_timeline(rollouts=_rollouts((41, "v2.33", "09:00")))
    d = _diagnose(_incident(detected="14:21"), changes)
    assert d.trigger is None
    assert d.headline.startswith("No change before the onset")
    assert "traffic" in d.next_step.text and "dependencies" in d.next_step.text


def test_unread_change_evidence_makes_the_trigger_unknown_not_absent() -> None:
    empty = changes_timeline(rollouts=empty_frame("rollouts"))
    d = diagnose(
        incident=_incident(detected="14:21"),
        events=events_frame([]),
        ranked=rank_changes(empty, ONSET),
        onset=ONSET,
        onsets=_onsets(),
        unknown=["kubernetes/rollouts"],
    )
    assert d.trigger is not None and d.trigger.text.startswith("Trigger unknown")
    assert "kubernetes/rollouts" in d.trigger.text
    assert d.unknown == ("kubernetes/rollouts",)
    assert d.verdict.text.startswith("Recovery unknown")


def test_actions_list_the_rollback_and_the_response_in_time_order() -> None:
    changes = changes_timeline(
        rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:10"), (43, "v2.33", "14:33"))
    )
    inc = _incident(detected="14:21", acknowledged="14:24", mitigated="14:35", resolved="14:50")
    d = _diagnose(inc, changes)
    texts = [c.text for c in d.actions]
    assert any("rollback to v2.33" in t for t in texts)
    response = next(t for t in texts if t.startswith("Response"))
    assert response.index("detected 14:21") < response.index("resolved 14:50")
    # the rollback is done: the next step follows it rather than proposing a rollback again
    assert "roll back" not in d.next_step.text.lower() or "in place" in d.next_step.text


def test_open_incident_with_a_deploy_trigger_proposes_the_rollback() -> None:
    changes = changes_timeline(rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:10")))
    d = _diagnose(_incident(detected="14:21"), changes)
    assert "roll back deploy v2.34" in d.next_step.text.lower()
    assert "09_mitigate" in d.next_step.refs


def test_to_dict_holds_every_part_with_refs() -> None:
    changes = changes_timeline(rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:10")))
    data = _diagnose(_incident(detected="14:21"), changes).to_dict()
    assert data["trigger"]["refs"]
    assert set(data) >= {"headline", "mechanism", "verdict", "next_step", "alternatives"}


def test_nothing_read_means_unknown_never_none() -> None:
    """Absence of evidence is not evidence of absence: no "no change", no "no errors"."""
    empty = changes_timeline(rollouts=empty_frame("rollouts"))
    d = diagnose(
        incident=_incident(detected="14:21"),
        events=events_frame([]),
        ranked=rank_changes(empty, None),
        onset=None,
        onsets=_onsets().iloc[0:0],
        unknown=["kubernetes/rollouts", "kubernetes/events", "datadog/metrics"],
    )
    assert d.headline.startswith("Trigger unknown → errors unknown")
    assert "No change" not in d.headline and "no sustained" not in d.headline
    assert "could not be read" in d.next_step.text


def _action(at: str, outcome: str, *, dry: bool = False) -> Event:
    from incident_lib.core.actions import Action, ActionResult, action_event

    hh, mm = (int(x) for x in at.split(":"))
    result = ActionResult(
        action=Action(kind="rollback", workload="Deployment/api", namespace="prod"),
        outcome=outcome,  # type: ignore[arg-type]
        dry_run=dry,
        at=datetime(2026, 11, 3, hh, mm, tzinfo=UTC),
        by="alice",
        message="revision 42 -> 41",
    )
    return action_event(result)


def test_a_dry_run_or_a_refused_action_is_not_something_done() -> None:
    changes = changes_timeline(rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:10")))
    extra = [_action("14:30", "planned", dry=True), _action("14:31", "refused")]
    d = _diagnose(_incident(detected="14:21"), changes, extra)
    assert not any("roll back Deployment/api" in c.text for c in d.actions)
    assert "in place" not in d.next_step.text
    assert "roll back deploy v2.34" in d.next_step.text.lower()


def test_an_applied_action_and_its_effect_are_listed_as_done() -> None:
    from incident_lib.core.actions import effect_event

    changes = changes_timeline(rollouts=_rollouts((41, "v2.33", "10:00"), (42, "v2.34", "14:10")))
    applied = _action("14:31", "applied")
    effect = effect_event(
        applied,
        effect="5xx share of requests 11.80 % -> 0.40 % (-97%): helped",
        at=datetime(2026, 11, 3, 14, 41, tzinfo=UTC),
    )
    d = _diagnose(_incident(detected="14:21"), changes, [applied, effect])
    texts = [c.text for c in d.actions]
    assert any(t.startswith("14:31 UTC: roll back Deployment/api") for t in texts)
    assert any(t.startswith("14:41 UTC: effect of roll back Deployment/api") for t in texts)
    assert d.next_step.text.startswith(
        "roll back Deployment/api to the previous revision by alice is in place"
    )
