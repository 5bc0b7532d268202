"""The changes timeline and change-to-onset ranking, on small literal frames and the demos."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from incident_lib import Window
from incident_lib.analysis.changes import (
    KIND_WEIGHTS,
    TIMELINE_COLUMNS,
    change_findings,
    changes_timeline,
    rank_changes,
)
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import conform, empty_frame

ONSET = pd.Timestamp("2026-11-03T14:19:00Z")
MIN = pd.Timedelta("1min")
RANKED = [*TIMELINE_COLUMNS, "lead", "score", "candidate"]


def _rollouts(*rows: tuple[str, int, str, str, str]) -> pd.DataFrame:
    """(deployment, revision, tag, created_at, deployed_at) per revision."""
    return conform(
        pd.DataFrame(
            [
                {
                    "deployment": d,
                    "revision": r,
                    "replicaset": f"{d}-{r}",
                    "images": f"registry.example.com/shop/{d}:{tag}",
                    "created_at": created,
                    "deployed_at": deployed,
                    "change_cause": f"{d} {tag}",
                    "replicas": 3,
                    "current": False,
                }
                for d, r, tag, created, deployed in rows
            ]
        ),
        "rollouts",
    )


def _events(*rows: tuple[str, str, str, str, str]) -> pd.DataFrame:
    """(time, type, reason, object, message) per event."""
    return conform(
        pd.DataFrame(
            [
                {
                    "first_seen": t,
                    "last_seen": t,
                    "type": kind,
                    "reason": reason,
                    "object": obj,
                    "message": message,
                    "count": 1,
                }
                for t, kind, reason, obj, message in rows
            ]
        ),
        "k8s_events",
    )


def _commits(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """(time, sha, subject, author) per commit, as sources.git.commits returns them."""
    return pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] for r in rows], utc=True),
            "sha": [r[1] for r in rows],
            "short_sha": [r[1][:7] for r in rows],
            "author": [r[3] for r in rows],
            "subject": [r[2] for r in rows],
            "files_changed": [2] * len(rows),
        }
    )


def _dd_events(*rows: tuple[str, str, str, str] | tuple[str, str, str, str, str]) -> pd.DataFrame:
    """(time, source_type, title, tags[, text]) per Datadog event (contract ``datadog_events``)."""
    return conform(
        pd.DataFrame(
            [
                {
                    "time": r[0],
                    "title": r[2],
                    "text": r[4] if len(r) > 4 else "",
                    "tags": r[3],
                    "source_type": r[1],
                }
                for r in rows
            ],
            columns=["time", "title", "text", "tags", "source_type"],
        ),
        "datadog_events",
    )


LEAK_ROLLOUTS = _rollouts(
    ("api", 41, "v2.33", "2026-11-01T09:14:00Z", "2026-11-01T09:14:00Z"),
    ("api", 42, "v2.34", "2026-11-03T14:14:00Z", "2026-11-03T14:14:00Z"),
)
COMMIT_SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


def test_timeline_labels_and_kinds():
    timeline = changes_timeline(
        rollouts=LEAK_ROLLOUTS,
        commits=_commits(("2026-11-03T12:49:00Z", COMMIT_SHA, "Fix pool size", "alice")),
    )
    assert list(timeline.columns) == TIMELINE_COLUMNS
    assert list(timeline["label"]) == [
        "deploy v2.33 (api rev 41)",
        "commit 1a2b3c4 Fix pool size (alice)",
        "deploy v2.34 (api rev 42)",
    ]
    assert list(timeline["kind"]) == ["deploy", "commit", "deploy"]
    assert list(timeline["source"]) == ["kubernetes", "git", "kubernetes"]
    assert timeline.loc[2, "detail"] == "api v2.34"
    assert COMMIT_SHA in timeline.loc[1, "detail"]
    assert str(timeline["time"].dtype) == "datetime64[ns, UTC]"


def test_deploy_minutes_before_onset_beats_commit_long_before():
    timeline = changes_timeline(
        rollouts=LEAK_ROLLOUTS,
        commits=_commits(("2026-11-03T12:49:00Z", COMMIT_SHA, "Fix pool size", "alice")),
    )
    ranked = rank_changes(timeline, ONSET)
    assert list(ranked.columns) == RANKED
    top, second = ranked.iloc[0], ranked.iloc[1]
    assert top["label"] == "deploy v2.34 (api rev 42)" and top["lead"] == 5 * MIN
    assert top["score"] == pytest.approx(0.5 ** (5 / 30))
    assert second["kind"] == "commit" and second["candidate"]
    assert second["score"] == pytest.approx(0.5 * 0.5**3)  # weight 0.5, 90 min = 3 half-lives
    old = ranked[ranked["label"] == "deploy v2.33 (api rev 41)"].iloc[0]
    assert not old["candidate"] and old["score"] == 0  # two days before: beyond the lookback


def test_rollback_after_onset_is_context_not_a_candidate():
    rollouts = _rollouts(
        ("api", 42, "v2.34", "2026-11-03T14:14:00Z", "2026-11-03T14:14:00Z"),
        ("api", 43, "v2.33", "2026-11-01T09:14:00Z", "2026-11-03T14:33:00Z"),
    )
    ranked = rank_changes(changes_timeline(rollouts=rollouts), ONSET)
    rollback = ranked[ranked["kind"] == "rollback"].iloc[0]
    assert rollback["label"] == "rollback to v2.33 (api rev 43)"
    assert not rollback["candidate"] and rollback["score"] == 0
    assert rollback["lead"] == -14 * MIN
    assert ranked.iloc[0]["kind"] == "deploy"


def test_change_after_onset_beyond_grace_is_not_a_candidate():
    rollouts = _rollouts(("web", 7, "v1", "2026-11-03T14:25:00Z", "2026-11-03T14:25:00Z"))
    ranked = rank_changes(changes_timeline(rollouts=rollouts), ONSET)
    assert not ranked["candidate"].any() and (ranked["score"] == 0).all()
    within_grace = rank_changes(changes_timeline(rollouts=rollouts), ONSET, grace="10min")
    assert within_grace["candidate"].all()


@pytest.mark.parametrize("onset", [None, pd.NaT])
def test_no_onset_no_candidates(onset):
    ranked = rank_changes(changes_timeline(rollouts=LEAK_ROLLOUTS), onset)
    assert len(ranked) == 2
    assert not ranked["candidate"].any() and (ranked["score"] == 0).all()
    assert ranked["lead"].isna().all()


def test_secret_change_shows_its_name_never_its_data():
    events = _events(
        (
            "2026-11-03T14:05:00Z",
            "Normal",
            "Updated",
            "Secret/db-credentials",
            "secret db-credentials updated: password=hunter2",
        ),
        (
            "2026-11-03T14:06:00Z",
            "Normal",
            "Reloaded",
            "Deployment/api",
            "Changes detected in 'payment-keys' of type 'SECRET' in namespace 'prod'; "
            "updated 'api' of type 'Deployment' (token s3cr3t)",
        ),
        (
            "2026-11-03T14:07:00Z",
            "Normal",
            "ReconciliationSucceeded",
            "Kustomization/api",
            "ConfigMap/prod/api-config configured",
        ),
        (
            "2026-11-03T14:08:00Z",
            "Warning",
            "FailedMount",
            "Pod/api-1",
            'MountVolume.SetUp failed for volume "creds" : secret "other" not found',
        ),
    )
    timeline = changes_timeline(events=events)
    assert list(timeline["label"]) == [
        "Secret db-credentials updated",
        "Secret payment-keys updated",
        "ConfigMap api-config updated",
    ]
    assert (timeline["kind"] == "config").all()
    text = timeline.to_string()
    assert "hunter2" not in text and "s3cr3t" not in text and "password" not in text
    assert "api-config configured" in timeline.loc[2, "detail"]
    ranked = rank_changes(timeline, ONSET)
    assert ranked.iloc[0]["label"] == "ConfigMap api-config updated" and ranked["candidate"].all()


def test_scaling_explained_by_rollout_or_hpa_is_not_listed_twice():
    events = _events(
        # steps of the v2.34 rollout at 14:14
        ("2026-11-03T14:14:00Z", "Normal", "ScalingReplicaSet", "Deployment/api",
         "Scaled up replica set api-42 to 1 from 0"),
        ("2026-11-03T14:14:30Z", "Normal", "ScalingReplicaSet", "Deployment/api",
         "Scaled down replica set api-41 to 2 from 3"),
        # the HPA scales up, the Deployment follows
        ("2026-11-03T14:20:00Z", "Normal", "SuccessfulRescale", "HorizontalPodAutoscaler/api",
         "New size: 5; reason: cpu resource utilization (percentage of request) above target"),
        ("2026-11-03T14:20:00Z", "Normal", "ScalingReplicaSet", "Deployment/api",
         "Scaled up replica set api-42 to 5 from 3"),
        # somebody scales the worker down by hand
        ("2026-11-03T14:16:00Z", "Normal", "ScalingReplicaSet", "Deployment/worker",
         "Scaled down replica set worker-9 to 1 from 4"),
    )  # fmt: skip
    timeline = changes_timeline(rollouts=LEAK_ROLLOUTS, events=events)
    scales = timeline[timeline["kind"] == "scale"]
    assert list(scales["label"]) == [
        "Deployment worker scaled down to 1 from 4",
        "HPA api scaled up to 5",
    ]
    ranked = rank_changes(timeline, ONSET).set_index("label")
    assert not ranked.loc["HPA api scaled up to 5", "candidate"]  # a reaction to load
    worker = ranked.loc["Deployment worker scaled down to 1 from 4"]
    assert worker["candidate"] and worker["score"] == pytest.approx(0.5 * 0.5 ** (3 / 30))


def test_rollout_steps_are_recognised_without_the_rollouts_frame():
    events = _events(
        ("2026-11-03T14:14:00Z", "Normal", "ScalingReplicaSet", "Deployment/api",
         "Scaled up replica set api-42 to 1 from 0"),
        ("2026-11-03T14:14:30Z", "Normal", "ScalingReplicaSet", "Deployment/api",
         "Scaled down replica set api-41 to 2 from 3"),
    )  # fmt: skip
    assert changes_timeline(events=events).empty


def test_ties_are_broken_by_time_then_label():
    rollouts = _rollouts(
        ("web", 3, "v9", "2026-11-03T14:14:00Z", "2026-11-03T14:14:00Z"),
        ("api", 42, "v2.34", "2026-11-03T14:14:00Z", "2026-11-03T14:14:00Z"),
        ("cart", 5, "v1.2", "2026-11-03T14:18:00Z", "2026-11-03T14:18:00Z"),
        ("search", 8, "v4", "2026-11-03T14:20:00Z", "2026-11-03T14:20:00Z"),
    )
    ranked = rank_changes(changes_timeline(rollouts=rollouts), ONSET)
    # 1 min before and 1 min after the onset (inside the grace) score the same
    assert ranked.loc[0, "score"] == pytest.approx(ranked.loc[1, "score"])
    assert list(ranked["label"]) == [
        "deploy v1.2 (cart rev 5)",
        "deploy v4 (search rev 8)",
        "deploy v2.34 (api rev 42)",
        "deploy v9 (web rev 3)",
    ]


def test_empty_inputs_give_empty_frames_with_the_columns():
    for timeline in (
        changes_timeline(),
        changes_timeline(rollouts=empty_frame("rollouts"), events=empty_frame("k8s_events")),
    ):
        assert timeline.empty and list(timeline.columns) == TIMELINE_COLUMNS
        ranked = rank_changes(timeline, ONSET)
        assert ranked.empty and list(ranked.columns) == RANKED


def test_within_keeps_the_half_open_window():
    window = Window(
        datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 14, 14, tzinfo=UTC)
    )
    assert changes_timeline(rollouts=LEAK_ROLLOUTS, within=window).empty
    wider = Window(window.start, datetime(2026, 11, 3, 14, 15, tzinfo=UTC))
    assert len(changes_timeline(rollouts=LEAK_ROLLOUTS, within=wider)) == 1


def test_bad_onset_or_durations_are_refused():
    timeline = changes_timeline(rollouts=LEAK_ROLLOUTS)
    with pytest.raises(InvalidInput, match="timezone"):
        rank_changes(timeline, pd.Timestamp("2026-11-03T14:19:00"))
    with pytest.raises(InvalidInput, match="positive"):
        rank_changes(timeline, ONSET, half_life="0s")
    with pytest.raises(InvalidInput, match="duration"):
        rank_changes(timeline, ONSET, lookback="a while")


# --- Datadog events ---------------------------------------------------------------------

CAMPAIGN = "Black Friday email campaign sent to 2.1M customers"


def test_datadog_deploy_event_of_a_rollout_is_not_counted_twice():
    datadog = _dd_events(
        ("2026-11-03T14:15:30Z", "github", "Deployed api v2.34 to prod",
         "service:api,env:prod,version:v2.34", "GitHub Actions deploy-prod run #1873"),
        ("2026-11-03T14:34:00Z", "my_apps", "Rolled back api to v2.33", "service:api"),
        # not the same change: another version, or too far from the rollout
        ("2026-11-03T14:14:30Z", "jenkins", "Deployed web v2.341", "service:web"),
        ("2026-11-03T14:25:00Z", "github", "Deployed api v2.34 to staging", "env:staging"),
    )  # fmt: skip
    rollouts = _rollouts(
        ("api", 42, "v2.34", "2026-11-03T14:14:00Z", "2026-11-03T14:14:00Z"),
        ("api", 43, "v2.33", "2026-11-01T09:14:00Z", "2026-11-03T14:33:00Z"),
    )
    timeline = changes_timeline(rollouts=rollouts, datadog_events=datadog)
    assert list(timeline["label"]) == [
        "deploy v2.34 (api rev 42)",
        "Deployed web v2.341",
        "Deployed api v2.34 to staging",
        "rollback to v2.33 (api rev 43)",
    ]
    assert list(timeline["source"]) == ["kubernetes", "datadog", "datadog", "kubernetes"]
    assert timeline.loc[0, "detail"] == "api v2.34; Datadog event: Deployed api v2.34 to prod"
    assert timeline.loc[3, "detail"] == "api v2.33; Datadog event: Rolled back api to v2.33"
    ranked = rank_changes(timeline, ONSET)
    v2_34 = ranked[ranked["candidate"] & ranked["label"].str.contains(r"v2\.34\b")]
    assert list(v2_34["label"]) == ["deploy v2.34 (api rev 42)"]  # staging: after the onset


def test_campaign_event_is_a_possible_trigger_of_kind_event():
    datadog = _dd_events(
        ("2026-11-03T14:16:00Z", "my_apps", CAMPAIGN, "team:growth,campaign:bf-2026",
         "%%% Braze campaign bf-2026 delivered to 2,104,337 subscribers %%%"),
    )  # fmt: skip
    timeline = changes_timeline(datadog_events=datadog)
    row = timeline.iloc[0]
    assert (row["kind"], row["source"], row["label"]) == ("event", "datadog", CAMPAIGN)
    assert row["detail"].startswith("my_apps: %%% Braze campaign bf-2026")
    ranked = rank_changes(timeline, ONSET)
    assert ranked.loc[0, "candidate"]
    assert ranked.loc[0, "score"] == pytest.approx(KIND_WEIGHTS["event"] * 0.5 ** (3 / 30))
    (finding,) = change_findings(ranked, ONSET)
    assert finding.title == f"Possible trigger: {CAMPAIGN} 3 min before the error rate onset"
    assert finding.severity == "medium"
    assert "rollback" not in finding.summary and "drove traffic" in finding.summary


@pytest.mark.parametrize(
    ("source_type", "title", "tags", "kind"),
    [
        ("launchdarkly", "Maria Rossi turned on the flag new-checkout", "", "config"),
        ("my_apps", "Feature flag new-checkout turned on in Production", "", "config"),
        ("my_apps", "Pricing service configuration change", "", "config"),
        ("jenkins", "Job shop-api #812 succeeded", "", "deploy"),
        ("argocd", "Application api synced to 7f3c2a1", "", "deploy"),
        ("Spinnaker", "Pipeline api-prod finished", "", "deploy"),
        ("deployment", "api 2.34", "", "deploy"),
        ("my_apps", "Release 2.34", "service:api,event_type:deployment", "deploy"),
        ("my_apps", "Release 2.34", "deploy,service:api", "deploy"),
        ("github", "Deployed api v2.34 to prod", "service:api", "deploy"),
        ("github", "Pull request #4812 merged: order batching", "service:api", "event"),
        ("github", 'Revert "order batching" (#4815)', "service:api", "event"),
        ("jenkins", "Rolled back api to v2.33", "", "rollback"),
        ("my_apps", "Rollback of api to v2.33", "", "rollback"),
        ("my_apps", CAMPAIGN, "team:growth,campaign:bf-2026", "event"),
        ("my_apps", "Note: DBA is vacuuming orders", "", "event"),
    ],
)
def test_datadog_event_kinds(source_type, title, tags, kind):
    datadog = _dd_events(("2026-11-03T14:10:00Z", source_type, title, tags))
    assert changes_timeline(datadog_events=datadog)["kind"].tolist() == [kind]


def test_datadog_label_and_detail_are_short():
    datadog = _dd_events(
        ("2026-11-03T14:10:00Z", "my_apps", "T" * 300, "", "line one " * 60 + "\nline two"),
        ("2026-11-03T14:11:00Z", "", "Untitled", "service:api,env:prod", ""),
    )
    timeline = changes_timeline(datadog_events=datadog)
    assert timeline["label"].str.len().max() <= 80 and timeline.loc[0, "label"].endswith("…")
    assert len(timeline.loc[0, "detail"]) == 200 and "line two" not in timeline.loc[0, "detail"]
    assert timeline.loc[1, "detail"] == "service:api,env:prod"  # no text: the tags


def test_empty_datadog_events_add_nothing():
    timeline = changes_timeline(
        rollouts=LEAK_ROLLOUTS, datadog_events=empty_frame("datadog_events")
    )
    assert timeline.equals(changes_timeline(rollouts=LEAK_ROLLOUTS))


# --- the demo incidents ------------------------------------------------------------------


def _demo(
    demo_root, scenario: str, *, datadog: bool = False
) -> tuple[pd.DataFrame, object, pd.Timestamp]:
    """(ranked changes, truth, detected error-rate onset); ``datadog`` adds its events."""
    from incident_lib.analysis.onset import onset_table
    from incident_lib.demo import SCENARIOS
    from incident_lib.infra.evidence import EvidenceStore

    truth = SCENARIOS[scenario].truth
    store = EvidenceStore(demo_root / scenario)
    timeline = changes_timeline(
        rollouts=store.read("kubernetes", "rollouts"),
        events=store.read("kubernetes", "events"),
        datadog_events=store.read("datadog", "events") if datadog else None,
    )
    onsets = onset_table(
        store.read("datadog", "metrics"),
        baseline=truth.baseline,
        window=truth.window,
        metrics_to_check=["error_rate"],
    )
    onset = onsets.loc[0, "onset_at"]
    return rank_changes(timeline, onset), truth, onset


def test_connection_leak_blames_the_bad_deploy(demo_root):
    ranked, truth, _ = _demo(demo_root, "connection-leak")
    top = ranked.iloc[0]
    assert top["candidate"] and top["label"].startswith(f"deploy {truth.bad_version} ")
    assert top["time"] == pd.Timestamp(truth.deploy_at)
    assert ranked["candidate"].sum() == 1  # the rollback and old deploys are context
    assert not (ranked["kind"] == "scale").any()  # rollout steps are not scaling


def test_traffic_surge_blames_no_change(demo_root):
    ranked, _, _ = _demo(demo_root, "traffic-surge")
    assert not ranked["candidate"].any()
    assert (ranked["kind"] == "scale").sum() == 2  # the HPA's rescales, listed as context


def test_connection_leak_with_datadog_events_still_blames_the_rollout_once(demo_root):
    ranked, truth, onset = _demo(demo_root, "connection-leak", datadog=True)
    top = ranked.iloc[0]
    assert top["candidate"] and top["source"] == "kubernetes"
    assert top["label"].startswith(f"deploy {truth.bad_version} ")
    assert top["detail"].endswith(f"Datadog event: {truth.trigger_event}")
    assert ranked["label"].str.contains(truth.bad_version, regex=False).sum() == 1
    assert ranked["label"].str.contains(truth.good_version, regex=False).sum() == 1  # k8s only
    assert (ranked["source"] == "datadog").sum() == 1  # the flag; deploy and rollback merged
    flag = ranked[ranked["source"] == "datadog"].iloc[0]
    assert flag["kind"] == "config" and flag["candidate"] and flag["score"] < top["score"]
    titles = [f.title for f in change_findings(ranked, onset)]
    assert len(titles) == 1 and titles[0].startswith(f"Likely trigger: deploy {truth.bad_version}")


def test_traffic_surge_with_datadog_events_blames_the_campaign(demo_root):
    ranked, truth, onset = _demo(demo_root, "traffic-surge", datadog=True)
    candidates = ranked[ranked["candidate"]]
    top = candidates.iloc[0]
    assert (top["kind"], top["source"], top["label"]) == ("event", "datadog", truth.trigger_event)
    assert top["time"] == pd.Timestamp(truth.trigger_event_at)
    assert not candidates["kind"].isin(["deploy", "rollback", "config", "commit"]).any()
    assert len(candidates) == 1
    (finding,) = change_findings(ranked, onset)
    assert finding.title == (
        f"Possible trigger: {truth.trigger_event} 3 min before the error rate onset"
    )
    assert "deploy" not in finding.title.lower()
