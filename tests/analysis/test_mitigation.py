"""Proposing the action the evidence points to, and whether an action helped.

The story (UTC, 2026-11-03): ``api`` ran v2.32 (rev 40), v2.33 (rev 41) and deployed v2.34
(rev 42) at 14:14, five minutes before the 5xx onset at 14:19; ``search`` is another service,
``payments`` a dependency.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from incident_lib.analysis.changes import changes_timeline, rank_changes
from incident_lib.analysis.mitigation import (
    MEMORY_FACTOR,
    action_effect,
    propose_actions,
)
from incident_lib.analysis.related import Relations, service_relations
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import conform, empty_frame

ONSET = pd.Timestamp("2026-11-03T14:19:00Z")
RELATIONS = service_relations("api", dependencies=["payments"])
MI = 2**20


def _at(minutes_before: float) -> pd.Timestamp:
    return ONSET - pd.Timedelta(minutes=minutes_before)


def _rollouts(*rows: tuple[str, int, str, float], current: int | None = None) -> pd.DataFrame:
    """(deployment, revision, tag, minutes before the onset); the highest revision is live."""
    top = current if current is not None else max(r[1] for r in rows)
    return conform(
        pd.DataFrame(
            [
                {
                    "deployment": name,
                    "revision": revision,
                    "replicaset": f"{name}-5d8f9c7b{revision}",
                    "images": f"registry.example.com/{name}:{tag}",
                    "created_at": _at(before),
                    "deployed_at": _at(before),
                    "change_cause": "",
                    "replicas": 2 if revision == top else 0,
                    "current": revision == top,
                }
                for name, revision, tag, before in rows
            ]
        ),
        "rollouts",
    )


API = (("api", 40, "v2.32", 3000), ("api", 41, "v2.33", 1500), ("api", 42, "v2.34", 5))


def _ranked(relations: Relations | None = RELATIONS, **evidence: Any) -> pd.DataFrame:
    return rank_changes(changes_timeline(**evidence), ONSET, relations=relations)


def _terminations(*rows: tuple[str, str, str, float]) -> pd.DataFrame:
    """(workload, container, reason, minutes before the onset)."""
    return conform(
        pd.DataFrame(
            [
                {
                    "pod": f"{workload}-7d9f8c6b5-x2x7{i}",
                    "container": container,
                    "node": "node-1",
                    "workload": workload,
                    "reason": reason,
                    "exit_code": 137.0 if reason == "OOMKilled" else 1.0,
                    "finished_at": _at(before),
                    "source": "status",
                    "pod_deleted": False,
                    "message": "",
                }
                for i, (workload, container, reason, before) in enumerate(rows)
            ]
        ),
        "k8s_terminations",
    )


def _pods(
    *rows: tuple[str, str, float], reason: str = "", restarts: int = 0, before: float = 1
) -> pd.DataFrame:
    """(pod, container, memory limit in bytes)."""
    return conform(
        pd.DataFrame(
            [
                {
                    "pod": pod,
                    "container": container,
                    "node": "node-1",
                    "phase": "Running",
                    "ready": True,
                    "restarts": restarts,
                    "last_termination_reason": reason,
                    "last_termination_at": _at(before) if reason else pd.NaT,
                    "started_at": _at(60),
                    "cpu_request": 0.5,
                    "cpu_limit": 1.0,
                    "memory_request": limit,
                    "memory_limit": limit,
                }
                for pod, container, limit in rows
            ]
        ),
        "pods",
    )


def _hpa(
    metrics: str, current: int = 10, maximum: int = 10, limited: bool = False, target: str = "api"
) -> pd.DataFrame:
    conditions = [("AbleToScale", "True", "ReadyForNewScale")]
    if limited:
        conditions.append(("ScalingLimited", "True", "TooManyReplicas"))
    return conform(
        pd.DataFrame(
            [
                {
                    "hpa": target,
                    "target": f"Deployment/{target}",
                    "min_replicas": 2,
                    "max_replicas": maximum,
                    "current_replicas": current,
                    "desired_replicas": current,
                    "metrics": metrics,
                    "condition": condition,
                    "status": status,
                    "reason": reason,
                    "message": "",
                    "transitioned_at": _at(10),
                    "captured_at": _at(-20),
                }
                for condition, status, reason in conditions
            ]
        ),
        "hpa",
    )


# -- rollbacks -----------------------------------------------------------------------------
def test_a_likely_trigger_deploy_is_rolled_back_to_the_revision_before_it() -> None:
    rollouts = _rollouts(*API)
    actions = propose_actions(_ranked(rollouts=rollouts), rollouts=rollouts, relations=RELATIONS)
    first = actions[0]
    assert (first.kind, first.workload, dict(first.params)) == (
        "rollback",
        "Deployment/api",
        {"revision": "41"},
    )
    assert first.describe() == "roll back Deployment/api to revision 41"
    assert first.why.startswith("deploy v2.34 (api rev 42) is the likely trigger, 5 min before")
    assert "revision 41 ran v2.33" in first.why


def test_the_revision_before_is_the_highest_lower_one() -> None:
    # a rollback renumbers the revision it re-uses: numbers have gaps
    rollouts = _rollouts(("api", 38, "v2.31", 3000), ("api", 35, "v2.30", 4000), API[2])
    actions = propose_actions(_ranked(rollouts=rollouts), rollouts=rollouts, relations=RELATIONS)
    assert actions[0].params == {"revision": "38"} and "revision 38 ran v2.31" in actions[0].why


def test_another_services_or_a_dependencys_deploy_is_never_acted_on() -> None:
    for other in ("search", "payments"):
        rollouts = _rollouts((other, 6, "v3.0", 900), (other, 7, "v3.1", 3))
        ranked = _ranked(rollouts=rollouts)
        assert ranked.iloc[0]["candidate"]  # it is ranked, as a possible trigger at most
        assert propose_actions(ranked, rollouts=rollouts, relations=RELATIONS) == []
        # without relations, the ranking's relation column still keeps it out
        assert propose_actions(ranked, rollouts=rollouts) == []


def test_a_trigger_already_rolled_back_is_not_rolled_back_again() -> None:
    rollouts = _rollouts(*API, ("api", 43, "v2.33", 1))
    assert propose_actions(_ranked(rollouts=rollouts), rollouts=rollouts) == []


def test_without_an_earlier_revision_nothing_is_proposed_and_without_rollouts_the_previous() -> (
    None
):
    only = _rollouts(API[2])
    assert propose_actions(_ranked(rollouts=only), rollouts=only) == []
    rollouts = _rollouts(*API)
    (action,) = propose_actions(_ranked(rollouts=rollouts), relations=RELATIONS)
    assert action.params == {} and action.describe().endswith("to the previous revision")
    assert "the rollouts were not captured" in action.why


def test_a_crash_loop_after_a_deploy_rolls_back_even_without_an_onset() -> None:
    rollouts = _rollouts(*API)
    crashes = _terminations(*[("api", "api", "BackOff", 4 - i) for i in range(3)])
    ranked = rank_changes(changes_timeline(rollouts=rollouts), None)
    (action,) = propose_actions(ranked, rollouts=rollouts, terminations=crashes)
    assert action.kind == "rollback" and action.params == {"revision": "41"}
    assert action.why.startswith("api crash-looping since deploy v2.34 (rev 42) at 14:14 UTC")
    assert "BackOff x3" in action.why
    # crashes before the deploy are not the deploy's
    early = _terminations(*[("api", "api", "BackOff", 30 + i) for i in range(5)])
    assert propose_actions(ranked, rollouts=rollouts, terminations=early) == []
    # restarts of the current pods count too
    pods = _pods(("api-7d9f8c6b5-abcde", "api", 512 * MI), reason="Error", restarts=4)
    (action,) = propose_actions(ranked, rollouts=rollouts, pods=pods)
    assert "restarts x4" in action.why


def test_a_trigger_and_a_crash_loop_make_one_rollback_with_both_reasons() -> None:
    rollouts = _rollouts(*API)
    crashes = _terminations(*[("api", "api", "BackOff", 4 - i) for i in range(3)])
    actions = propose_actions(
        _ranked(rollouts=rollouts), rollouts=rollouts, terminations=crashes, relations=RELATIONS
    )
    assert len(actions) == 1
    assert "likely trigger" in actions[0].why and "; also api crash-looping" in actions[0].why


# -- config, flags -------------------------------------------------------------------------
def _config(kind: str, name: str, before: float, applied: str | None = None) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "kind": kind,
                    "name": name,
                    "used_by": "Deployment/api",
                    "resource_version": "48213",
                    "created_at": _at(600),
                    "keys": "app.yaml",
                    "data_hash": "ab" * 32,
                    "manager": "kubectl-patch",
                    "operation": "Update",
                    "changed_at": _at(before),
                    "applied_hash": applied,
                }
            ]
        ),
        "k8s_config",
    )


def test_a_config_trigger_is_reverted_when_the_evidence_holds_its_applied_content() -> None:
    config = _config("ConfigMap", "api-config", 4, applied="cd" * 32)
    (action,) = propose_actions(_ranked(config=config), config=config, relations=RELATIONS)
    assert (action.kind, action.workload) == ("config_revert", "ConfigMap/api-config")
    assert "likely trigger" in action.why and "differs from its last kubectl apply" in action.why
    secret = _config("Secret", "api-keys", 4, applied="cd" * 32)
    assert propose_actions(_ranked(config=secret), config=secret) == []


@pytest.mark.parametrize("applied", [None, "ab" * 32], ids=["no annotation", "same content"])
def test_no_revert_is_proposed_when_the_previous_content_is_unknown(applied) -> None:
    config = _config("ConfigMap", "api-config", 4, applied=applied)
    ranked = _ranked(config=config)
    assert propose_actions(ranked, config=config, relations=RELATIONS) == []
    assert propose_actions(ranked, relations=RELATIONS) == []  # no config frame given


def test_a_feature_flag_turned_on_before_the_onset_is_turned_off() -> None:
    events = conform(
        pd.DataFrame(
            [
                {
                    "time": _at(3),
                    "title": "Feature flag new-checkout turned on",
                    "text": "",
                    "tags": "service:api",
                    "source_type": "",
                }
            ]
        ),
        "datadog_events",
    )
    (action,) = propose_actions(_ranked(datadog_events=events), relations=RELATIONS)
    assert (action.kind, action.workload, dict(action.params)) == (
        "feature_flag",
        "FeatureFlag/new-checkout",
        {"enabled": "false"},
    )
    assert action.namespace == "" and action.describe() == "turn feature flag new-checkout off"


# -- memory limits, scaling ----------------------------------------------------------------
def test_oom_kills_raise_the_containers_memory_limit_by_half() -> None:
    ooms = _terminations(*[("api", "api", "OOMKilled", 10 - i) for i in range(3)])
    pods = _pods(("api-7d9f8c6b5-abcde", "api", 512 * MI), ("api-7d9f8c6b5-fghij", "api", 512 * MI))
    empty = _ranked()
    (action,) = propose_actions(empty, terminations=ooms, pods=pods, relations=RELATIONS)
    assert MEMORY_FACTOR == 1.5
    assert (action.kind, action.workload, dict(action.params)) == (
        "set_limit",
        "Deployment/api",
        {"container": "api", "memory": "768Mi"},
    )
    assert "OOMKilled 3 times, last 14:11 UTC at its 512Mi memory limit" in action.why
    # an odd limit is rounded up to a whole Mi
    odd = _pods(("api-7d9f8c6b5-abcde", "api", 300 * MI + 1))
    assert propose_actions(empty, terminations=ooms, pods=odd)[0].params["memory"] == "451Mi"
    # without the pods frame the current limit is unknown: nothing to compute from
    assert propose_actions(empty, terminations=ooms) == []
    # the pods frame's own last termination is enough; a StatefulSet's pods say its kind
    sts = _pods(("db-0", "postgres", 1024 * MI), reason="OOMKilled")
    (action,) = propose_actions(empty, pods=sts)
    assert action.workload == "StatefulSet/db" and action.params["memory"] == "1536Mi"
    # another service's OOM kills are not ours to fix
    assert propose_actions(empty, pods=sts, relations=RELATIONS) == []


def test_a_saturated_autoscaler_at_max_scales_to_what_its_metric_asks_for() -> None:
    empty = _ranked()
    (action,) = propose_actions(empty, hpa=_hpa("cpu 92%/70%"), relations=RELATIONS)
    assert (action.kind, action.workload, action.params["replicas"]) == (
        "scale",
        "Deployment/api",
        "14",  # ceil(10 x 92 / 70)
    )
    assert "at its maximum (10 replicas)" in action.why and "maxReplicas" in action.why
    # capped at twice the maximum, at least one more
    assert propose_actions(empty, hpa=_hpa("cpu 500%/70%"))[0].params["replicas"] == "20"
    assert propose_actions(empty, hpa=_hpa("rps 101/100"))[0].params["replicas"] == "11"
    # limited without a readable metric: max x 1.5
    limited = _hpa("cpu ?/70%", current=9, limited=True)
    assert propose_actions(empty, hpa=limited)[0].params["replicas"] == "15"
    # not at max, or not saturated: nothing
    assert propose_actions(empty, hpa=_hpa("cpu 92%/70%", current=6)) == []
    assert propose_actions(empty, hpa=_hpa("cpu 40%/70%")) == []
    assert (
        propose_actions(empty, hpa=_hpa("cpu 92%/70%", target="search"), relations=RELATIONS) == []
    )


def test_actions_come_best_first() -> None:
    rollouts = _rollouts(*API)
    ooms = _terminations(("api", "api", "OOMKilled", 2))
    pods = _pods(("api-7d9f8c6b5-abcde", "api", 512 * MI))
    actions = propose_actions(
        _ranked(rollouts=rollouts),
        rollouts=rollouts,
        hpa=_hpa("cpu 92%/70%"),
        terminations=ooms,
        pods=pods,
        relations=RELATIONS,
        namespace="prod",
    )
    assert [a.kind for a in actions] == ["rollback", "set_limit", "scale"]
    assert {a.namespace for a in actions} == {"prod"}


def test_no_evidence_no_action() -> None:
    assert propose_actions(_ranked()) == []
    assert (
        propose_actions(
            _ranked(),
            rollouts=empty_frame("rollouts"),
            hpa=empty_frame("hpa"),
            terminations=empty_frame("k8s_terminations"),
            pods=empty_frame("pods"),
        )
        == []
    )


# -- whether an action helped --------------------------------------------------------------
AT = pd.Timestamp("2026-11-03T14:30:00Z")


def _metrics(ratio_before: float, ratio_after: float, *, until: float = 12) -> pd.DataFrame:
    """100 req/s; the 5xx share ``ratio_before`` % up to AT, ``ratio_after`` % from it."""
    rows = []
    for minute in range(-12, int(until)):
        time = AT + pd.Timedelta(minutes=minute)
        share = ratio_before if minute < 0 else ratio_after
        rows.append({"time": time, "metric": "request_rate", "value": 100.0})
        rows.append({"time": time, "metric": "error_rate", "value": share})
        rows.append({"time": time, "metric": "latency_p95", "value": 900.0 if minute < 0 else 850})
    frame = pd.DataFrame(rows).assign(query="q", scope="")
    return conform(frame, "metrics")


def test_an_action_that_cut_the_errors_helped() -> None:
    effect = action_effect(_metrics(12.0, 0.4), at=AT)
    assert (effect.before, effect.after, effect.verdict) == (12.0, 0.4, "helped")
    assert effect.change == pytest.approx(0.4 / 12 - 1)
    assert (effect.before_samples, effect.after_samples) == (10, 10)
    assert effect.before_text == "5xx share of requests 12.00 %"
    assert effect.describe() == "5xx share of requests 12.00 % -> 0.40 % (-97%): helped"


def test_worse_no_change_and_the_noise_floor() -> None:
    assert action_effect(_metrics(2.0, 6.0), at=AT).verdict == "worse"
    assert action_effect(_metrics(10.0, 9.0), at=AT).verdict == "no change"  # -10 %
    assert action_effect(_metrics(0.02, 0.01), at=AT).verdict == "no change"  # halved, but tiny
    latency = action_effect(_metrics(1, 1), at=AT, metric="latency_p95")
    assert latency.verdict == "no change"  # 900 -> 850 ms: under 25 %


def test_too_early_before_the_after_period_has_passed() -> None:
    early = action_effect(_metrics(12.0, 0.4, until=4), at=AT)
    assert early.verdict == "too early" and early.after == 0.4
    assert action_effect(_metrics(12.0, 0.4), at=AT, now=AT + pd.Timedelta(minutes=5)).verdict == (
        "too early"
    )
    assert action_effect(_metrics(12.0, 0.4), at=AT, after="5min").verdict == "helped"


def test_unknown_without_data() -> None:
    none = action_effect(empty_frame("metrics"), at=AT)
    assert (none.verdict, none.before, none.after, none.change) == ("unknown", None, None, None)
    assert none.before_text == "" and "—" in none.describe()
    sparse = _metrics(12.0, 0.4)
    sparse = sparse[(sparse["time"] >= AT - pd.Timedelta(minutes=2))]
    assert action_effect(sparse, at=AT).verdict == "unknown"  # 2 samples before


def test_bad_times_are_refused() -> None:
    with pytest.raises(InvalidInput, match="timezone"):
        action_effect(_metrics(1, 1), at="2026-11-03T14:30:00")
    with pytest.raises(InvalidInput, match="duration"):
        action_effect(_metrics(1, 1), at=AT, after="soon")
