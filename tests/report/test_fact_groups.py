"""Findings grouped by fact: one entry per fact, causes above symptoms, in the index too."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import pandas as pd
import pytest

from incident_lib import Finding, Incident, InvalidInput
from incident_lib.analysis.assess import assessment_findings
from incident_lib.analysis.changes import change_findings
from incident_lib.core.findings import ROLE_ORDER, change_fact
from incident_lib.report.findings import (
    FindingsLog,
    collect_findings,
    group_findings,
    write_findings,
)
from incident_lib.report.index import write_index

INCIDENT = Incident.from_dict(
    {
        "id": "INC-9",
        "title": "api: elevated 5xx errors",
        "service": "api",
        "namespace": "prod",
        "severity": "SEV-2",
        "window": {"start": "2026-11-03T14:00:00Z", "end": "2026-11-03T15:00:00Z"},
    }
)
END = datetime(2026, 11, 3, 15, tzinfo=UTC)


def _f(title: str, severity: str, notebook: str, fact: str = "", role: str = "symptom") -> Finding:
    return Finding(
        title=title,
        severity=severity,  # type: ignore[arg-type]
        summary=f"about {title}",
        notebook=notebook,
        fact=fact,
        role=role,  # type: ignore[arg-type]
    )


ERRORS = [
    _f("5xx share peaked at 14 %", "high", "02_assess", "errors"),
    _f("5xx share left its baseline", "high", "05_metrics", "errors"),
    _f("5xx share above 1 % for 15 min", "high", "05_metrics", "errors"),
    _f("About 2,120 requests failed", "medium", "05_metrics", "errors", "impact"),
]


def test_the_same_fact_from_two_notebooks_is_one_group():
    (group,) = group_findings(ERRORS)
    assert group.fact == "errors" and group.role == "symptom"
    assert group.headline is ERRORS[0]
    assert group.notebooks == ("02_assess", "05_metrics")
    assert [f.title for f in group.supporting] == [f.title for f in ERRORS[1:]]
    data = group.to_dict()
    assert data["title"] == ERRORS[0].title and data["notebooks"] == ["02_assess", "05_metrics"]
    assert [s["title"] for s in data["supporting"]] == [f.title for f in ERRORS[1:]]
    json.dumps(data)


def test_a_medium_trigger_ranks_above_high_symptoms_and_lone_findings_stay():
    trigger = _f("Possible trigger: campaign", "medium", "03_changes", "change:campaign", "trigger")
    lone_a = _f("Unrelated note", "high", "07_resources")
    lone_b = _f("Another note", "high", "07_resources")
    context = _f("SEV-3: respond within 2 hours", "info", "01_triage", "severity", "context")
    verdict = _f("Recovery verified", "info", "10_verify", "recovery", "response")
    mech = _f("CPU at its limit", "medium", "07_resources", "cpu", "mechanism")
    groups = group_findings([*ERRORS, lone_a, context, verdict, lone_b, mech, trigger])
    assert [g.headline.title for g in groups] == [
        "Possible trigger: campaign",
        "CPU at its limit",
        "5xx share peaked at 14 %",
        "Unrelated note",
        "Another note",
        "Recovery verified",
        "SEV-3: respond within 2 hours",
    ]
    assert [g.role for g in groups] == [
        "trigger",
        "mechanism",
        "symptom",
        "symptom",
        "symptom",
        "response",
        "context",
    ]
    # findings without a fact are not merged with each other
    assert groups[3].fact == "" and groups[3].supporting == ()


def test_a_group_takes_its_most_causal_role_and_ties_go_to_the_cause():
    listed = _f(
        "Deploy v2.34 inside the window", "medium", "02_assess", "change:api rev 42", "context"
    )
    ranked = _f(
        "Possible trigger: deploy v2.34", "medium", "03_changes", "change:api rev 42", "trigger"
    )
    symptom = _f("p95 latency rose", "critical", "02_assess", "latency")
    groups = group_findings([symptom, listed, ranked])
    assert groups[0].role == "trigger" and groups[0].headline is ranked
    assert groups[0].notebooks == ("02_assess", "03_changes")
    assert groups[1].headline is symptom


def test_severity_then_notebook_order_within_a_role():
    a = _f("later, high", "high", "05_metrics", "x")
    b = _f("earlier, high", "high", "02_assess", "y")
    c = _f("earliest, medium", "medium", "01_triage", "z")
    assert [g.headline for g in group_findings([a, c, b])] == [b, a, c]


def test_role_is_validated_and_defaults_to_symptom():
    assert Finding(title="x", severity="low", summary="").role == "symptom"
    with pytest.raises(InvalidInput, match="role 'cause' is not one of trigger"):
        Finding(title="x", severity="low", summary="", role="cause")  # type: ignore[arg-type]
    assert ROLE_ORDER == ("trigger", "mechanism", "symptom", "impact", "response", "context")


def test_fact_and_role_round_trip_and_old_files_still_read(tmp_path):
    log = FindingsLog("03_changes", tmp_path)
    log.extend([_f("Likely trigger: deploy v2.34", "high", "", "change:api rev 42", "trigger")])
    log.add("token=abc123secret leaked", severity="low", summary="s", fact="x", role="context")
    (tmp_path / "findings" / "01_triage.json").write_text(
        json.dumps(
            [
                {
                    "title": "SEV-2",
                    "severity": "info",
                    "summary": "old file",
                    "ref": "",
                    "notebook": "01_triage",
                }
            ]
        )
    )
    found = collect_findings(tmp_path)
    assert [(f.fact, f.role) for f in found] == [
        ("change:api rev 42", "trigger"),
        ("x", "context"),
        ("", "symptom"),
    ]
    assert "abc123secret" not in found[1].title
    write_findings(tmp_path, found)
    again = [Finding(**item) for item in json.loads((tmp_path / "findings.json").read_text())]
    assert again == found and asdict(again[0])["role"] == "trigger"


def test_change_fact_agrees_between_the_assessment_and_the_ranking():
    assert change_fact("deploy v2.34", deployment="api", revision=42) == "change:api rev 42"
    assert change_fact("deploy v2.34 (api rev 42)") == "change:api rev 42"
    assert change_fact("deploy v2.34", deployment="api", revision=float("nan")) == (
        "change:deploy v2.34"
    )
    assert change_fact("Black Friday  campaign") == "change:Black Friday campaign"
    at = pd.Timestamp("2026-11-03T14:10:00Z")
    markers = pd.DataFrame(
        [
            {
                "time": at,
                "label": "deploy v2.34",
                "kind": "deploy",
                "deployment": "api",
                "revision": 42,
            },
            {
                "time": at + pd.Timedelta(minutes=23),
                "label": "rollback to v2.33",
                "kind": "rollback",
                "deployment": "api",
                "revision": 43,
            },
        ]
    )
    health = pd.DataFrame(
        columns=["metric", "peak", "baseline", "peak_at", "latest", "peak_vs_baseline"]
    )
    listed, rollback = assessment_findings(health, markers, pd.DataFrame())
    ranked = pd.DataFrame(
        [
            {
                "time": at,
                "kind": "deploy",
                "source": "kubernetes",
                "label": "deploy v2.34 (api rev 42)",
                "detail": "",
                "lead": pd.Timedelta(minutes=9),
                "score": 0.8,
                "candidate": True,
            }
        ]
    )
    (trigger,) = change_findings(ranked, at + pd.Timedelta(minutes=9))
    assert listed.fact == trigger.fact == "change:api rev 42"
    assert (listed.role, trigger.role, rollback.role) == ("context", "trigger", "response")
    assert rollback.fact == "change:api rev 43"


def test_index_lists_one_entry_per_fact_causes_first_and_the_story(tmp_path):
    trigger = _f("Likely trigger: deploy <v2.34>", "medium", "03_changes", "change:a", "trigger")
    trigger = Finding(**{**asdict(trigger), "ref": "charts/03_changes-changes.png"})
    page = write_index(
        tmp_path,
        INCIDENT,
        [],
        [*ERRORS, trigger],
        run_id="r1",
        mode="offline",
        started=END,
        seconds=1.0,
        story_html="<div id='story'>What happened</div>",
    ).read_text()
    assert "Findings, causes first" in page and "most severe first" not in page
    # the story right after the header, before the findings
    assert page.index("id='story'") < page.index("Findings, causes first")
    assert page.index("Run <code>r1</code>") < page.index("id='story'")
    # escaped, the trigger above the errors, the errors once with their supporting lines
    assert "deploy &lt;v2.34&gt;" in page and "<v2.34>" not in page
    assert page.index("Likely trigger") < page.index("5xx share peaked at 14 %")
    assert page.count("<tr><td><span class='sev'") == 2
    assert page.count("<details>") == 1 and "3 more findings on this" in page
    folded = page[page.index("<details>") : page.index("</details>")]
    assert "About 2,120 requests failed" in folded and "5xx share peaked" not in folded
    assert (
        "<a href='02_assess.html'>02_assess</a>, <a href='05_metrics.html'>05_metrics</a>" in page
    )
    assert "<a href='charts/03_changes-changes.png'>" in page


def test_index_without_a_story_or_sources_box_is_unchanged_otherwise(tmp_path):
    page = write_index(
        tmp_path, INCIDENT, [], [], run_id="r1", mode="offline", started=END, seconds=1.0
    ).read_text()
    assert "No findings were recorded." in page and "id='sources'" not in page


def test_write_findings_with_extra_parts_writes_an_object(tmp_path):
    groups = group_findings(ERRORS)
    write_findings(tmp_path, ERRORS, extra={"facts": [g.to_dict() for g in groups]})
    data = json.loads((tmp_path / "findings.json").read_text())
    assert list(data) == ["facts", "findings"]
    assert data["facts"][0]["fact"] == "errors" and len(data["findings"]) == 4
    write_findings(tmp_path, ERRORS)
    assert isinstance(json.loads((tmp_path / "findings.json").read_text()), list)


def test_a_notebooks_own_finding_and_recorded_ones_keep_fact_and_role(tmp_path):
    from datetime import timedelta

    import matplotlib

    from incident_lib import create_workspace, start_runbook

    matplotlib.use("Agg")
    start = datetime(2026, 11, 3, 14, tzinfo=UTC)
    record = Incident.create(
        id="INC-9",
        title="t",
        service="api",
        namespace="prod",
        severity="SEV-2",
        start=start,
        end=start + timedelta(hours=1),
    )
    ws = create_workspace(record, tmp_path / "ws").path
    rb = start_runbook("06_dependencies", workspace=ws, run_dir=tmp_path / "run")
    rb.finding("orders-db saturated", severity="high", summary="s", fact="db", role="mechanism")
    rb.record([_f("Likely trigger", "high", "", "change:api rev 42", "trigger")])
    found = collect_findings(tmp_path / "run")
    assert [(f.fact, f.role, f.notebook) for f in found] == [
        ("db", "mechanism", "06_dependencies"),
        ("change:api rev 42", "trigger", "06_dependencies"),
    ]
