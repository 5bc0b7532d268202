"""Jobs, releases and config changes on one change timeline, ranked against the onset.

A CronJob run is a change candidate like a deploy (a batch job on a shared
database is a common trigger no deploy explains); a Helm release that a rollout
carried out is one change, not two; a field manager that only stamped an
annotation changed nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from incident_lib.analysis.changes import changes_timeline, rank_changes
from incident_lib.analysis.related import service_relations
from incident_lib.core.schema import conform

ONSET = pd.Timestamp(datetime(2026, 11, 3, 14, 10, tzinfo=UTC))


def at(hh: int, mm: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(2026, 11, 3, hh, mm, tzinfo=UTC))


def jobs(*rows: tuple[str, str, pd.Timestamp, pd.Timestamp | None, str]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "job": job,
                    "cronjob": cronjob,
                    "started_at": started,
                    "finished_at": finished,
                    "status": status,
                    "succeeded": int(status == "succeeded"),
                    "failed": int(status == "failed"),
                    "exit_codes": "",
                    "reason": None,
                    "message": None,
                    "pods": f"{job}-x1y2z",
                    "images": "registry/reindex:v3",
                }
                for job, cronjob, started, finished, status in rows
            ]
        ),
        "k8s_jobs",
    )


def rollouts(*rows: tuple[str, int, pd.Timestamp]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "deployment": name,
                    "revision": revision,
                    "replicaset": f"{name}-{revision}abc",
                    "images": f"registry/{name}:v{revision}",
                    "created_at": moment,
                    "deployed_at": moment,
                    "change_cause": "",
                    "replicas": 3,
                    "current": False,
                }
                for name, revision, moment in rows
            ]
        ),
        "rollouts",
    )


def pg_activity(*apps: str) -> pd.DataFrame:
    rows = [
        {
            "target": "default",
            "sampled_at": at(14, 12),
            "pid": 100 + i,
            "datname": "orders",
            "usename": "app",
            "application_name": app,
            "client_addr": "10.0.0.9",
            "backend_type": "client backend",
            "state": "active",
            "wait_event_type": None,
            "wait_event": None,
            "backend_start": at(14, 0),
            "xact_start": at(14, 11),
            "query_start": at(14, 11),
            "state_change": at(14, 11),
            "backend_age": 720.0,
            "xact_age": 60.0,
            "query_age": 60.0,
            "backend_xid_age": float("nan"),
            "backend_xmin_age": float("nan"),
            "blocking_pids": "",
            "query": "UPDATE orders SET total = $1",
        }
        for i, app in enumerate(apps)
    ]
    return conform(pd.DataFrame(rows), "pg_activity")


def test_a_cronjob_run_before_the_onset_is_a_candidate_on_the_same_database():
    timeline = changes_timeline(
        jobs=jobs(("nightly-reindex-2989", "nightly-reindex", at(14, 6), None, "running")),
        rollouts=rollouts(("checkout", 12, at(14, 2))),  # another service, 8 min before
    )
    relations = service_relations(
        "api", pg_activity=pg_activity("api", "nightly-reindex")
    )  # the job connects to the service's database

    ranked = rank_changes(timeline, ONSET, relations=relations)

    top = ranked.iloc[0]
    assert top["kind"] == "job" and top["service"] == "nightly-reindex"
    assert top["candidate"] and top["relation"] == "dependency"
    other = ranked[ranked["service"] == "checkout"].iloc[0]
    assert other["relation"] == "other" and other["score"] < top["score"]


def test_a_helm_release_carried_out_by_a_rollout_is_one_change():
    releases = conform(
        pd.DataFrame(
            [
                {
                    "tool": "helm",
                    "name": "api",
                    "revision": "12",
                    "version": "",
                    "status": "deployed",
                    "deployed_at": at(14, 1),
                    "target": "",
                    "detail": "",
                }
            ]
        ),
        "releases",
    )

    timeline = changes_timeline(rollouts=rollouts(("api", 42, at(14, 2))), releases=releases)

    assert list(timeline["kind"]) == ["deploy"]
    assert timeline.loc[0, "source"] == "kubernetes"
    assert "Helm release api revision 12" in timeline.loc[0, "detail"]
    alone = changes_timeline(releases=releases)  # no rollout carried it out: the release is listed
    assert list(alone["source"]) == ["helm"] and alone.loc[0, "service"] == "api"


def test_a_manager_that_only_stamped_metadata_is_not_a_change():
    config = conform(
        pd.DataFrame(
            [
                {
                    "kind": "ConfigMap",
                    "name": "api-config",
                    "used_by": "api",
                    "resource_version": "1042",
                    "created_at": at(9, 0),
                    "keys": "pool_size",
                    "data_hash": "ab12",
                    "manager": manager,
                    "operation": operation,
                    "changed_at": moment,
                }
                for manager, operation, moment in (
                    ("kubectl-edit", "Update", at(14, 8)),
                    ("argocd-controller", "Apply (metadata only)", at(14, 9)),
                )
            ]
        ),
        "k8s_config",
    )

    timeline = changes_timeline(config=config)

    assert list(timeline["label"]) == ["ConfigMap api-config changed by kubectl-edit"]
