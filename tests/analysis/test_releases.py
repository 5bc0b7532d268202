"""Releases on the change timeline: labels, rollbacks, and one fact once with rollouts."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from incident_lib.analysis.changes import TIMELINE_COLUMNS
from incident_lib.analysis.releases import CAUSE_COLUMNS, release_causes, release_changes
from incident_lib.core.schema import conform, empty_frame

SHA_A = "9b1e0c47d2a3f5e6b7c8d9e0f1a2b3c4d5e6f7a8"
SHA_B = "3f2a9c1d5e7b9a0c2e4f6a8b0d1c3e5f7a9b1d3f"


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 3, hh, mm, tzinfo=UTC)


def release(tool, name, revision, status, moment, *, version="", target="", detail=""):
    return {
        "tool": tool,
        "name": name,
        "revision": revision,
        "version": version,
        "status": status,
        "deployed_at": moment,
        "target": target,
        "detail": detail,
    }


def frame(*rows):
    return conform(pd.DataFrame(list(rows)), "releases")


def rollouts(*rows):
    return conform(
        pd.DataFrame(
            [
                {
                    "deployment": d,
                    "revision": r,
                    "replicaset": f"{d}-{r}",
                    "images": f"registry/{d}:v{r}",
                    "created_at": t,
                    "deployed_at": t,
                    "change_cause": "",
                    "replicas": 3,
                    "current": False,
                }
                for d, r, t in rows
            ]
        ),
        "rollouts",
    )


def test_labels_kinds_and_services():
    releases = frame(
        release("helm", "api", "12", "deployed", at(14, 2), detail="status deployed since x"),
        release("argocd", "api", SHA_B, "synced", at(14, 3), target="main"),
        release("argocd", "api", SHA_B, "failed", at(14, 21), detail="operation Failed"),
        release("flux", "Kustomization/apps", f"main@sha1:{SHA_B}", "applied", at(14, 5)),
        release("flux", "HelmRelease/cache", "4", "deployed", at(14, 6), version="redis 1.2.0"),
    )
    timeline = release_changes(releases)
    assert list(timeline.columns) == TIMELINE_COLUMNS
    assert str(timeline["time"].dtype) == "datetime64[ns, UTC]"
    assert list(zip(timeline["kind"], timeline["source"], timeline["label"], strict=True)) == [
        ("deploy", "helm", "Helm release api revision 12 deployed"),
        ("deploy", "argocd", "Argo CD synced api to 3f2a9c1"),
        ("deploy", "flux", "Flux applied Kustomization apps main@3f2a9c1"),
        ("deploy", "flux", "Flux upgraded HelmRelease cache to redis 1.2.0"),
        ("deploy", "argocd", "Argo CD sync of api to 3f2a9c1 failed"),
    ]
    assert list(timeline["service"]) == ["api", "api", "apps", "cache", "api"]
    assert timeline["detail"][0] == "status deployed; status deployed since x"
    assert timeline["detail"][1] == "status synced; target main"


def test_a_revision_deployed_again_is_a_rollback():
    releases = frame(
        release("argocd", "api", SHA_A, "synced", at(9, 0)),
        release("argocd", "api", SHA_B, "synced", at(14, 3)),
        release("argocd", "api", SHA_B, "synced", at(14, 10)),  # a re-sync: not a rollback
        release("argocd", "api", SHA_A, "synced", at(14, 30)),
        release("helm", "web", "7", "pending-rollback", at(14, 31)),
    )
    timeline = release_changes(releases)
    assert list(zip(timeline["kind"], timeline["label"], strict=True)) == [
        ("deploy", "Argo CD synced api to 9b1e0c4"),
        ("deploy", "Argo CD synced api to 3f2a9c1"),
        ("deploy", "Argo CD synced api to 3f2a9c1"),
        ("rollback", "Argo CD rolled api back to 9b1e0c4"),
        ("rollback", "Helm release web rolled back (revision 7)"),
    ]


def test_a_helm_chart_version_deployed_again_is_a_rollback():
    releases = frame(
        release("flux", "HelmRelease/api", "11", "superseded", at(9, 0), version="api 1.4.1"),
        release("flux", "HelmRelease/api", "12", "superseded", at(14, 2), version="api 1.4.2"),
        release("flux", "HelmRelease/api", "13", "deployed", at(14, 40), version="api 1.4.1"),
    )
    assert list(release_changes(releases)["kind"]) == ["deploy", "deploy", "rollback"]


def test_a_release_followed_by_its_rollout_is_that_rollouts_cause():
    releases = frame(
        release("helm", "api", "12", "deployed", at(14, 2)),
        release("argocd", "api", SHA_B, "synced", at(14, 3)),  # recorded when the sync ended
        release("helm", "worker", "5", "deployed", at(14, 2)),  # another service
        release("helm", "api", "11", "superseded", at(9, 0)),  # no rollout follows
    )
    done = rollouts(("api-server", 42, at(14, 2)), ("web", 3, at(14, 2)))
    timeline = release_changes(releases, done)
    assert list(timeline["label"]) == [
        "Helm release api revision 11 deployed",
        "Helm release worker revision 5 deployed",
    ]
    causes = release_causes(releases, done)
    assert list(causes.columns) == CAUSE_COLUMNS
    assert causes.to_dict("records") == [
        {
            "deployment": "api-server",
            "revision": 42,
            "cause": "Helm release api revision 12 deployed; Argo CD synced api to 3f2a9c1",
        }
    ]


def test_a_rollout_long_after_the_release_is_not_its_doing():
    releases = frame(release("helm", "api", "12", "deployed", at(14, 2)))
    done = rollouts(("api", 42, at(14, 8)))
    assert len(release_changes(releases, done)) == 1
    assert release_causes(releases, done).empty


def test_empty_and_timeless():
    assert list(release_changes(empty_frame("releases")).columns) == TIMELINE_COLUMNS
    releases = frame(release("flux", "Kustomization/apps", "x", "progressing", None))
    assert release_changes(releases).empty
