"""Changes carry the service they concern, and are ranked by how it relates to this one."""

from __future__ import annotations

import pandas as pd

from incident_lib.analysis.changes import (
    change_findings,
    changes_timeline,
    deploy_markers,
    rank_changes,
)
from incident_lib.analysis.related import service_relations
from incident_lib.analysis.signatures import signature_findings, signatures
from incident_lib.core.schema import conform
from incident_lib.core.time import Window

ONSET = pd.Timestamp("2026-11-03T14:19:00Z")
RELATIONS = service_relations("checkout", dependencies=["payments"])


def _at(minutes_before: float) -> pd.Timestamp:
    return ONSET - pd.Timedelta(minutes=minutes_before)


def _rollouts(*rows: tuple[str, float]) -> pd.DataFrame:
    """(deployment, minutes before the onset) per rollout."""
    return conform(
        pd.DataFrame(
            [
                {
                    "deployment": deployment,
                    "revision": 7,
                    "replicaset": f"{deployment}-5d8f9c7b6",
                    "images": f"registry.example.com/{deployment}:v3.1",
                    "created_at": _at(before),
                    "deployed_at": _at(before),
                    "change_cause": "",
                    "replicas": 2,
                    "current": True,
                }
                for deployment, before in rows
            ]
        ),
        "rollouts",
    )


def _config(used_by: str, before: float) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "kind": "ConfigMap",
                    "name": "checkout-config",
                    "used_by": used_by,
                    "resource_version": "48213",
                    "created_at": _at(600),
                    "keys": "pool_size",
                    "data_hash": "ab" * 32,
                    "manager": "kubectl-edit",
                    "operation": "Update",
                    "changed_at": _at(before),
                }
            ]
        ),
        "k8s_config",
    )


def _events(*rows: tuple[float, str, str, str]) -> pd.DataFrame:
    """(minutes before, reason, object, message) per Normal event."""
    return conform(
        pd.DataFrame(
            [
                {
                    "first_seen": _at(before),
                    "last_seen": _at(before),
                    "type": "Normal",
                    "reason": reason,
                    "object": obj,
                    "message": message,
                    "count": 1,
                }
                for before, reason, obj, message in rows
            ]
        ),
        "k8s_events",
    )


def _datadog(*rows: tuple[float, str, str]) -> pd.DataFrame:
    """(minutes before, title, tags) per Datadog event."""
    return conform(
        pd.DataFrame(
            [
                {"time": _at(before), "title": title, "text": "", "tags": tags, "source_type": ""}
                for before, title, tags in rows
            ]
        ),
        "datadog_events",
    )


def test_another_services_rollout_is_never_the_likely_trigger() -> None:
    timeline = changes_timeline(
        rollouts=_rollouts(("search", 3.5)), config=_config("Deployment/checkout", 10)
    )
    assert dict(zip(timeline["kind"], timeline["service"], strict=True)) == {
        "deploy": "search",
        "config": "checkout",
    }
    before = rank_changes(timeline, ONSET)
    assert before.iloc[0]["service"] == "search" and before.iloc[0]["score"] > 0.9  # the defect
    ranked = rank_changes(timeline, ONSET, relations=RELATIONS)
    top = ranked.iloc[0]
    assert (top["kind"], top["relation"]) == ("config", "this")
    assert top["score"] >= 0.5
    other = ranked[ranked["service"] == "search"].iloc[0]
    assert other["relation"] == "other" and other["candidate"] and other["score"] < 0.5
    findings = change_findings(ranked, ONSET, relations=RELATIONS)
    likely = [f for f in findings if f.title.startswith("Likely")]
    assert len(likely) == 1 and "ConfigMap checkout-config" in likely[0].title
    possible = next(f for f in findings if "search" in f.title)
    assert possible.title.startswith(
        "Possible trigger: deploy v3.1 (search rev 7; another service)"
    )
    assert "not a known dependency" in possible.summary
    assert possible.fact == "change:search rev 7"  # the same fact as 02_assess names it


def test_even_a_deploy_at_the_onset_of_an_unrelated_service_stays_possible() -> None:
    ranked = rank_changes(
        changes_timeline(rollouts=_rollouts(("search", 0))), ONSET, relations=RELATIONS
    )
    assert ranked.iloc[0]["score"] < 0.5
    assert change_findings(ranked, ONSET)[0].severity == "medium"


def test_a_dependencys_deploy_ranks_between_ours_and_an_unrelated_one() -> None:
    timeline = changes_timeline(rollouts=_rollouts(("checkout", 6), ("payments", 6), ("search", 6)))
    ranked = rank_changes(timeline, ONSET, relations=RELATIONS)
    assert list(ranked["service"]) == ["checkout", "payments", "search"]
    assert list(ranked["relation"]) == ["this", "dependency", "other"]
    scores = list(ranked["score"])
    assert scores[0] > scores[1] > scores[2]
    findings = change_findings(ranked, ONSET, relations=RELATIONS)
    dependency = next(f for f in findings if "payments" in f.title)
    assert "a dependency" in dependency.title
    assert "named in the incident record" in dependency.summary


def test_datadog_events_take_their_service_from_tags() -> None:
    timeline = changes_timeline(
        datadog_events=_datadog(
            (4, "Deployed search v9", "service:search,env:prod"),
            (5, "Feature flag new-pricing turned on", "kube_deployment:checkout"),
            (6, "Marketing campaign started", "env:prod"),
            (7, "Deployed payments v2", "kube_service:payments"),
        )
    )
    services = dict(zip(timeline["label"], timeline["service"], strict=True))
    assert services == {
        "Deployed search v9": "search",
        "Feature flag new-pricing turned on": "checkout",
        "Marketing campaign started": "",
        "Deployed payments v2": "payments",
    }
    ranked = rank_changes(timeline, ONSET, relations=RELATIONS)
    relation = dict(zip(ranked["label"], ranked["relation"], strict=True))
    assert relation["Deployed search v9"] == "other"
    assert relation["Marketing campaign started"] == "unknown"
    assert ranked.iloc[0]["label"] == "Feature flag new-pricing turned on"


def test_kubernetes_events_name_the_workload_of_their_object() -> None:
    rollouts = _rollouts(("checkout", 100))
    timeline = changes_timeline(
        rollouts=rollouts,
        events=_events(
            (5, "Reloaded", "Pod/checkout-5d8f9c7b6-x2x7q", "ConfigMap checkout-flags reloaded"),
            (6, "Reloaded", "Pod/search-6c7d8e9f7-abc12", "ConfigMap search-flags reloaded"),
            (7, "ConfigUpdated", "Kustomization/apps", "ConfigMap/prod/shared configured"),
            (8, "SuccessfulRescale", "HorizontalPodAutoscaler/search", "New size: 4; reason: x"),
            (
                9,
                "ScalingReplicaSet",
                "Deployment/search",
                "Scaled down replica set search-6c7d8e9f7 to 1",
            ),
        ),
    )
    services = dict(zip(timeline["label"], timeline["service"], strict=True))
    assert services["ConfigMap checkout-flags updated"] == "checkout"
    assert services["ConfigMap search-flags updated"] == "search"
    assert services["ConfigMap shared updated"] == ""  # a Flux object is no workload
    assert services["HPA search rescaled to 4"] == "search"
    assert services["Deployment search scaled down to 1"] == "search"


def test_a_config_event_names_the_workloads_that_use_the_object() -> None:
    timeline = changes_timeline(
        events=_events(
            (30, "ConfigUpdated", "Kustomization/apps", "ConfigMap/prod/checkout-config configured")
        ),
        config=_config("Deployment/checkout-worker,Deployment/search", 60),
    )
    event = timeline[timeline["label"] == "ConfigMap checkout-config updated"].iloc[0]
    assert event["service"] == "checkout-worker,search"
    ranked = rank_changes(timeline, ONSET, relations=RELATIONS)
    assert set(ranked["relation"]) == {"this"}


def test_commits_concern_no_named_service_and_count_in_full() -> None:
    commits = pd.DataFrame(
        {
            "time": [_at(5)],
            "sha": ["a" * 40],
            "short_sha": ["aaaaaaa"],
            "author": ["Dana"],
            "subject": ["Raise the pool size"],
            "files_changed": [2],
        }
    )
    ranked = rank_changes(changes_timeline(commits=commits), ONSET, relations=RELATIONS)
    assert ranked.iloc[0]["service"] == "" and ranked.iloc[0]["relation"] == "unknown"
    assert (
        ranked.iloc[0]["score"]
        == rank_changes(changes_timeline(commits=commits), ONSET).iloc[0]["score"]
    )


def test_a_job_weighs_like_a_deploy_and_says_what_to_check() -> None:
    timeline = pd.DataFrame(
        {
            "time": [_at(5)],
            "kind": ["job"],
            "source": ["kubernetes"],
            "label": ["Job reindex-29100 started"],
            "detail": ["CronJob reindex"],
            "service": ["reindex"],
        }
    )
    ranked = rank_changes(timeline, ONSET)
    assert (
        ranked.iloc[0]["score"]
        == rank_changes(timeline.assign(kind="deploy"), ONSET).iloc[0]["score"]
    )
    finding = change_findings(ranked, ONSET)[0]
    assert "shared resources (06_database)" in finding.summary


def _logs() -> pd.DataFrame:
    rows = [
        {
            "time": _at(-2) + pd.Timedelta(seconds=i),
            "pod": "checkout-5d8f9c7b6-x2x7q",
            "container": "app",
            "level": "error",
            "message": "payment gateway timeout after 3000 ms",
            "raw": "payment gateway timeout after 3000 ms",
        }
        for i in range(20)
    ]
    return conform(pd.DataFrame(rows), "logs")


def test_04_logs_never_says_after_deploy_of_another_deployment() -> None:
    window = Window(_at(30).to_pydatetime(), (ONSET + pd.Timedelta(minutes=30)).to_pydatetime())
    baseline = Window(_at(90).to_pydatetime(), _at(30).to_pydatetime())
    table = signatures(_logs(), window=window, baseline=baseline)
    rollouts = _rollouts(("search", 5))
    unlabelled = signature_findings(table, deploy_markers(rollouts, within=window))
    assert "after deploy" in unlabelled[0].title  # the defect without relations
    markers = deploy_markers(rollouts, within=window, relations=RELATIONS)
    assert list(markers["relation"]) == ["other"]
    found = signature_findings(table, markers)
    assert found and all("after deploy" not in f.title for f in found)
    ours = deploy_markers(
        _rollouts(("checkout", 5), ("search", 3)), within=window, relations=RELATIONS
    )
    pinned = signature_findings(table, ours)[0]
    assert pinned.title.startswith("New error signature after deploy v3.1")
    assert pinned.fact == "logs:change:checkout rev 7"
