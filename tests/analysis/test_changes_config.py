"""ConfigMap and Secret changes (``k8s_config``) in the changes timeline and its ranking."""

from __future__ import annotations

import pandas as pd

from incident_lib import Window
from incident_lib.analysis.changes import change_findings, changes_timeline, rank_changes
from incident_lib.core.schema import conform, empty_frame

ONSET = pd.Timestamp("2026-11-03T14:19:00Z")


def _config(*rows: tuple[str, str, str, str, str]) -> pd.DataFrame:
    """(kind, name, manager, created_at, changed_at) per field manager entry."""
    return conform(
        pd.DataFrame(
            [
                {
                    "kind": kind,
                    "name": name,
                    "used_by": "Deployment/api",
                    "resource_version": "48213",
                    "created_at": created,
                    "keys": "pool_size,timeout",
                    "data_hash": "ab" * 32,
                    "manager": manager,
                    "operation": "Update",
                    "changed_at": changed,
                }
                for kind, name, manager, created, changed in rows
            ]
        ),
        "k8s_config",
    )


def _rollouts(deployment: str, deployed: str) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "deployment": deployment,
                    "revision": 7,
                    "replicaset": f"{deployment}-7",
                    "images": f"registry.example.com/{deployment}:v3.1",
                    "created_at": deployed,
                    "deployed_at": deployed,
                    "change_cause": "",
                    "replicas": 2,
                    "current": True,
                }
            ]
        ),
        "rollouts",
    )


def _events(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """(time, reason, object, message) per Normal event."""
    return conform(
        pd.DataFrame(
            [
                {
                    "first_seen": t,
                    "last_seen": t,
                    "type": "Normal",
                    "reason": reason,
                    "object": obj,
                    "message": message,
                    "count": 1,
                }
                for t, reason, obj, message in rows
            ]
        ),
        "k8s_events",
    )


CREATED = "2026-10-01T09:00:00Z"
API_CONFIG = _config(
    ("ConfigMap", "api-config", "helm", CREATED, CREATED),
    ("ConfigMap", "api-config", "kubectl-edit", CREATED, "2026-11-03T14:17:00Z"),
)


def test_a_configmap_edited_2_min_before_the_onset_ranks_over_an_unrelated_rollout_8_min_before():
    timeline = changes_timeline(
        rollouts=_rollouts("search", "2026-11-03T14:11:00Z"), config=API_CONFIG
    )
    ranked = rank_changes(timeline, ONSET)

    top = ranked.iloc[0]
    assert top["label"] == "ConfigMap api-config changed by kubectl-edit"
    assert top["kind"] == "config" and top["source"] == "kubernetes"
    assert top["candidate"] and top["lead"] == pd.Timedelta("2min")
    assert ranked.iloc[1]["label"].startswith("deploy v3.1 (search rev 7)")
    assert top["score"] > ranked.iloc[1]["score"]
    findings = change_findings(ranked, ONSET)
    assert findings[0].title.startswith(
        "Likely trigger: ConfigMap api-config changed by kubectl-edit 2 min before"
    )
    assert findings[0].severity == "high" and findings[0].role == "trigger"


def test_a_config_change_weighs_like_a_deploy():
    timeline = changes_timeline(
        rollouts=_rollouts("api", "2026-11-03T14:17:00Z"), config=API_CONFIG
    )
    ranked = rank_changes(timeline, ONSET)
    top = ranked.head(2)
    assert sorted(top["kind"]) == ["config", "deploy"]
    assert top["score"].iloc[0] == top["score"].iloc[1] > 0.9


def test_creation_is_named_and_old_changes_are_context():
    timeline = changes_timeline(config=API_CONFIG)
    assert list(timeline["label"]) == [
        "ConfigMap api-config created by helm",
        "ConfigMap api-config changed by kubectl-edit",
    ]
    detail = timeline.loc[1, "detail"]
    assert "Update by field manager kubectl-edit" in detail
    assert "used by Deployment/api" in detail and "resourceVersion 48213" in detail
    ranked = rank_changes(timeline, ONSET)
    assert list(ranked["candidate"]) == [True, False]


def test_only_changes_inside_the_view_with_within():
    view = Window(
        pd.Timestamp("2026-11-03T13:00:00Z").to_pydatetime(),
        pd.Timestamp("2026-11-03T15:00:00Z").to_pydatetime(),
    )
    timeline = changes_timeline(config=API_CONFIG, within=view)
    assert list(timeline["label"]) == ["ConfigMap api-config changed by kubectl-edit"]


def test_an_object_changed_and_reported_by_an_event_is_one_row():
    events = _events(
        # Reloader saw the same change a few seconds later
        (
            "2026-11-03T14:17:05Z",
            "Reloaded",
            "Deployment/api",
            "Changes detected in 'api-config' of type 'CONFIGMAP'",
        ),
        # another ConfigMap, only known from its event: kept
        ("2026-11-03T14:05:00Z", "ReconciliationSucceeded", "Kustomization/web",
         "ConfigMap/prod/web-config configured"),
        # the same object, an hour earlier: another change
        ("2026-11-03T13:10:00Z", "ReconciliationSucceeded", "Kustomization/api",
         "ConfigMap/prod/api-config configured"),
    )  # fmt: skip
    timeline = changes_timeline(events=events, config=API_CONFIG)
    config = timeline[timeline["kind"] == "config"]
    assert list(config["label"]) == [
        "ConfigMap api-config created by helm",
        "ConfigMap api-config updated",
        "ConfigMap web-config updated",
        "ConfigMap api-config changed by kubectl-edit",
    ]
    assert "event: Reloaded: Changes detected in 'api-config'" in config.iloc[3]["detail"]


def test_a_secret_change_shows_no_value():
    config = _config(
        ("Secret", "db-credentials", "argocd-controller", CREATED, "2026-11-03T14:10:00Z")
    )
    events = _events(
        ("2026-11-03T14:10:02Z", "Updated", "Secret/db-credentials", "password=hunter2 rotated"),
    )
    timeline = changes_timeline(events=events, config=config)
    assert list(timeline["label"]) == ["Secret db-credentials changed by argocd-controller"]
    assert "hunter2" not in timeline.to_string()
    assert "message not shown" in timeline.loc[0, "detail"]


def test_rows_without_a_change_time_and_empty_frames_add_nothing():
    no_time = _config(("ConfigMap", "ca-bundle", "", CREATED, None))  # type: ignore[arg-type]
    assert changes_timeline(config=no_time).empty
    assert changes_timeline(config=empty_frame("k8s_config")).empty
    rollouts = _rollouts("api", "2026-11-03T14:11:00Z")
    assert changes_timeline(rollouts=rollouts, config=empty_frame("k8s_config")).equals(
        changes_timeline(rollouts=rollouts)
    )


def test_the_incident_timeline_points_at_the_config_row():
    from incident_lib.analysis.timeline import timeline_events
    from incident_lib.core.incident import Incident

    incident = Incident.create(
        id="INC-1",
        title="t",
        service="api",
        namespace="prod",
        severity="SEV-2",
        start="2026-11-03T14:00:00Z",
        end="2026-11-03T15:00:00Z",
    )
    events = timeline_events(
        {"kubernetes/config": API_CONFIG},
        incident=incident,
        window=incident.window,
        baseline=incident.window.preceding(),
    )
    config = [e for e in events if e.evidence == "kubernetes/config"]
    assert [(e.kind, e.row) for e in config] == [("config", 1)]
    assert config[0].key == "ConfigMap/api-config kubectl-edit@2026-11-03T14:17:00Z"
    assert config[0].summary.startswith("ConfigMap api-config changed by kubectl-edit: Update")
