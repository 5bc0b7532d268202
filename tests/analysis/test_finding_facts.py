"""Findings of the demo incidents grouped by fact: the trigger first, one entry per cause.

The analysis functions run on each demo's captured evidence as the notebooks
call them; the findings are then grouped as the bundle index shows them.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from incident_lib.analysis import alerts, assess, changes, impact, metrics, onset, resources
from incident_lib.analysis import signatures as sig
from incident_lib.core.findings import ROLE_ORDER, Finding
from incident_lib.demo import SCENARIOS
from incident_lib.infra.evidence import EvidenceStore
from incident_lib.report.findings import FactGroup, group_findings


def _as(notebook: str, found: list[Finding]) -> list[Finding]:
    return [replace(f, notebook=notebook) for f in found]


def _findings(demo_root, scenario: str) -> list[Finding]:
    """The findings of 02, 03, 04, 05 and 07 on the demo's evidence (no notebook run)."""
    truth = SCENARIOS[scenario].truth
    store = EvidenceStore(demo_root / scenario)
    window, baseline = truth.window, truth.baseline
    frame = store.read("datadog", "metrics")
    rollouts = store.read("kubernetes", "rollouts")
    events = store.read("kubernetes", "events")
    # 02_assess
    health = metrics.health_table(frame, window=window, baseline=baseline)
    fired = alerts.alert_summary(
        store.read("datadog", "monitor_events"), as_of=window.end, window=window
    )
    in_window = changes.deploy_markers(rollouts, within=window)
    found = _as("02_assess", assess.assessment_findings(health, in_window, fired))
    # 03_changes
    error_onset = onset.detect_onset(metrics.error_ratio(frame), baseline=baseline, window=window)
    timeline = changes.changes_timeline(
        rollouts=rollouts, events=events, datadog_events=store.read("datadog", "events")
    )
    ranked = changes.rank_changes(timeline, error_onset.onset_at)
    found += _as("03_changes", changes.change_findings(ranked, error_onset.onset_at))
    # 04_logs
    table = sig.rank_signatures(
        sig.signatures(
            store.read("kubernetes", "logs"),
            window=window,
            baseline=baseline,
            levels=["warning", "error", "critical"],
        )
    )
    found += _as("04_logs", sig.signature_findings(table, in_window))
    # 05_metrics
    onsets = onset.onset_table(frame, baseline=baseline, window=window)
    estimate = impact.estimate_impact(frame, window=window, baseline=baseline)
    found += _as("05_metrics", [*onset.onset_findings(onsets), *impact.impact_findings(estimate)])
    # 07_resources
    pods = store.read("kubernetes", "pods")
    limits = resources.limits_vs_usage(pods, store.read("kubernetes", "pod_usage"), window=window)
    warnings = resources.warning_events(events, window=window, service=truth.service, pods=pods)
    found += _as(
        "07_resources", resources.resource_findings(resources.pod_problems(pods), limits, warnings)
    )
    return found


def _group(groups: list[FactGroup], text: str) -> FactGroup:
    (group,) = [g for g in groups if any(text in f.title for f in g.findings)]
    return group


def _assert_causes_first(groups: list[FactGroup]) -> None:
    ranks = [ROLE_ORDER.index(g.role) for g in groups]
    assert ranks == sorted(ranks), [(g.role, g.headline.title) for g in groups]


def test_connection_leak_groups_the_deploy_the_pool_exhaustion_and_the_errors(demo_root):
    truth = SCENARIOS["connection-leak"].truth
    found = _findings(demo_root, "connection-leak")
    assert all(f.fact for f in found), [f.title for f in found if not f.fact]
    groups = group_findings(found)
    _assert_causes_first(groups)
    first = groups[0]
    assert first.role == "trigger"
    assert first.headline.title.startswith(f"Likely trigger: deploy {truth.bad_version} ")
    # 02_assess's "deploy in the window" and 03_changes' trigger are one fact
    assert first.fact == f"change:{truth.service} rev {truth.bad_revision}"
    assert first.notebooks == ("02_assess", "03_changes")
    assert [f.title for f in first.supporting] == [
        f"Deploy {truth.bad_version} at 14:10 UTC inside the incident window"
    ]
    # every new signature after the deploy (the faces of one pool exhaustion): one entry
    pool = _group(groups, "QueuePool limit")
    assert pool.role == "mechanism" and pool is groups[1]
    assert pool.fact == f"logs:change:{truth.service} rev {truth.bad_revision}"
    logged = " ".join(f.summary for f in pool.findings)
    for text in truth.new_signatures:  # templates mask the numbers: compare the words
        words = [w for w in text.split() if not w.isdigit()][:3]
        assert " ".join(words) in logged, text
    assert len(pool.findings) == 5
    assert sum(g.fact.startswith("logs:") for g in groups) == 1
    # the 5xx share: peak, onset, time above 1 % and failed requests are one fact
    errors = _group(groups, "requests failed")
    assert errors.fact == "errors" and errors.role == "symptom"
    assert errors.notebooks == ("02_assess", "05_metrics") and len(errors.findings) == 4
    assert errors.headline.title.startswith("5xx share of requests peaked")
    # what moved first is the mechanism; the rollback is the response
    assert _group(groups, "DB connections left its baseline").role == "mechanism"
    rollback = _group(groups, f"Rollback to {truth.good_version}")
    assert rollback.role == "response"
    assert rollback.fact == f"change:{truth.service} rev {truth.rollback_revision}"
    assert len(groups) < len(found) - 6


def test_traffic_surge_puts_the_campaign_above_every_symptom(demo_root):
    truth = SCENARIOS["traffic-surge"].truth
    found = _findings(demo_root, "traffic-surge")
    groups = group_findings(found)
    _assert_causes_first(groups)
    first = groups[0]
    assert first.role == "trigger" and first.severity == "medium"
    assert first.headline.title.startswith(f"Possible trigger: {truth.trigger_event}")
    # medium, yet above the high symptoms
    assert any(g.role == "symptom" and g.severity == "high" for g in groups)
    assert [g.role for g in groups].count("trigger") == 1
    assert not any("deploy" in g.headline.title.lower() for g in groups)
    # the cause metric moved first: the mechanism
    assert _group(groups, "Request rate (req/s) left its baseline").role == "mechanism"
    # OOMKilled, the memory limit, the OOMKilling event and memory's onset: one fact
    memory = _group(groups, "OOMKilled")
    assert memory.fact == "memory" and memory.role == "mechanism"
    assert memory.notebooks == ("05_metrics", "07_resources") and len(memory.findings) >= 3
    cpu = _group(groups, "cpu limit")
    assert cpu.fact == "cpu" and cpu.role == "mechanism"
    assert _group(groups, "Unhealthy").role == "symptom"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_demo_finding_has_a_valid_role(demo_root, scenario):
    for f in _findings(demo_root, scenario):
        assert f.role in ROLE_ORDER
