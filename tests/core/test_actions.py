"""Mitigation actions as values: validated, described, and put on the timeline once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incident_lib.core.actions import Action, ActionResult, action_event
from incident_lib.core.errors import ActionRefused, InvalidInput

AT = datetime(2026, 11, 3, 14, 40, tzinfo=UTC)


def test_actions_describe_themselves():
    rollback = Action(kind="rollback", workload="Deployment/api", params={"revision": 41})
    assert rollback.describe() == "roll back Deployment/api to revision 41"
    assert rollback.params == {"revision": "41"} and rollback.name == "api"
    assert (
        Action(kind="rollback", workload="Deployment/api")
        .describe()
        .endswith("the previous revision")
    )
    scale = Action(kind="scale", workload="StatefulSet/db", params={"replicas": "5"})
    assert scale.describe() == "scale StatefulSet/db to 5 replicas"
    limit = Action(
        kind="set_limit",
        workload="Deployment/api",
        params={"container": "api", "memory": "768Mi"},
    )
    assert limit.describe() == "set the limit of Deployment/api container api: memory 768Mi"
    flag = Action(
        kind="feature_flag", workload="FeatureFlag/new-checkout", params={"enabled": "false"}
    )
    assert flag.describe() == "turn feature flag new-checkout off"


@pytest.mark.parametrize(
    ("kind", "workload", "message"),
    [
        ("delete", "Deployment/api", "action 'delete' is not one of rollback"),
        ("scale", "api", "write it Kind/name"),
        ("scale", "Pod/api-1", "write it Kind/name"),
        ("scale", "Deployment/", "write it Kind/name"),
    ],
)
def test_invalid_actions_are_refused(kind, workload, message):
    with pytest.raises(InvalidInput, match=message):
        Action(kind=kind, workload=workload)  # type: ignore[arg-type]


def test_a_refusal_is_invalid_input():
    assert issubclass(ActionRefused, InvalidInput)


def test_results_land_on_the_timeline_once_with_their_mode():
    action = Action(kind="rollback", workload="Deployment/api", params={"revision": "41"})
    dry = ActionResult(action=action, outcome="planned", dry_run=True, at=AT, by="bruno")
    real = ActionResult(
        action=action,
        outcome="applied",
        dry_run=False,
        at=AT,
        by="bruno",
        message="rollout complete in 84 s",
        before="5xx 11.8%",
        after="5xx 0.3%",
        effect="helped",
    )
    dry_event, real_event = action_event(dry), action_event(real)
    assert (dry_event.source, dry_event.kind, real_event.kind) == (
        "actions",
        "dry_rollback",
        "rollback",
    )
    assert dry_event.summary == "dry run: roll back Deployment/api to revision 41 by bruno: planned"
    assert real_event.summary == (
        "roll back Deployment/api to revision 41 by bruno: applied; effect helped "
        "(5xx 11.8% -> 5xx 0.3%); rollout complete in 84 s"
    )
    assert action_event(real).id == real_event.id  # recorded twice, one event
    assert real_event.section == "09_mitigate" and real_event.author == "bruno"
    with pytest.raises(InvalidInput, match="outcome 'done'"):
        ActionResult(action=action, outcome="done", dry_run=False, at=AT)  # type: ignore[arg-type]


def test_actions_parse_from_text():
    from incident_lib.core.actions import parse_action

    action = parse_action("rollback", "Deployment/api", " revision=41 ", namespace="prod")
    assert action.params == {"revision": "41"} and action.namespace == "prod"
    assert parse_action("restart", "Deployment/api").params == {}
    with pytest.raises(InvalidInput, match="scale takes no parameter \\['revision'\\]; it takes"):
        parse_action("scale", "Deployment/api", "revision=41")
    with pytest.raises(InvalidInput, match="write it key=value"):
        parse_action("scale", "Deployment/api", "replicas")
    with pytest.raises(InvalidInput, match="action 'nuke'"):
        parse_action("nuke", "Deployment/api")


def test_the_confirmation_gate_every_actor_passes():
    from incident_lib.core.actions import ActionPlan, confirmation

    action = Action(kind="restart", workload="Deployment/api")
    plan = ActionPlan(
        action=action, resource_version="7", patch="{}", content_type="x", diff="", command=""
    )
    dry = confirmation(plan, confirm=False, target="api", at=AT, by="bo", what="restart 4 pods")
    assert dry is not None and dry.outcome == "planned" and dry.dry_run
    assert dry.message == (
        "nothing changed: restart 4 pods; to apply it, pass confirm=True and target='api'"
    )
    assert confirmation(plan, confirm=True, target=" api ", at=AT, by="", what="") is None
    with pytest.raises(ActionRefused, match="target='api', not 'web'; nothing was changed"):
        confirmation(plan, confirm=True, target="web", at=AT, by="", what="")


def test_action_taken_reads_the_outcome_of_the_recorded_event() -> None:
    from incident_lib.core.actions import EFFECT_KIND, action_taken

    assert action_taken("rollback", "roll back Deployment/api by alice: applied; rev 42 -> 41")
    assert action_taken("scale", "scale Deployment/api to 8 replicas: timed_out")
    assert not action_taken("rollback", "roll back Deployment/api: refused; forbidden")
    assert not action_taken("dry_rollback", "dry run: roll back Deployment/api: planned")
    assert not action_taken(EFFECT_KIND, "effect of roll back Deployment/api: applied")
    # an outcome word later in the message is not the outcome
    assert not action_taken("restart", "restart the pods: failed; earlier run: applied")


def test_an_effect_event_has_one_key_per_action() -> None:
    from datetime import UTC, datetime

    from incident_lib.core.actions import effect_event
    from incident_lib.core.timeline import Event

    action = Event(
        time=datetime(2026, 11, 3, 14, 31, tzinfo=UTC),
        source="actions",
        kind="rollback",
        summary="roll back Deployment/api by alice: applied; rollout complete",
        key="rollback Deployment/api@2026-11-03T14:31:00Z",
    )
    at = datetime(2026, 11, 3, 14, 41, tzinfo=UTC)
    one = effect_event(action, effect="5xx 11.8% -> 0.4%: helped", at=at, evidence="p/metrics")
    two = effect_event(action, effect="5xx 11.8% -> 0.3%: helped", at=at)
    assert one.kind == "effect" and one.source == "actions" and one.time == at
    assert one.summary == (
        "effect of roll back Deployment/api by alice: applied: 5xx 11.8% -> 0.4%: helped"
    )
    assert one.key == two.key == "effect of rollback Deployment/api@2026-11-03T14:31:00Z"
    assert one.evidence == "p/metrics"
