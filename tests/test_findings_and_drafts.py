"""Findings files, parameter planning and the status-update drafts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from incident_lib import Finding, Incident, InvalidInput, InvalidParameter
from incident_lib.report import drafts
from incident_lib.report.findings import FindingsLog, collect_findings, write_findings
from incident_lib.report.parameters import coerce_value, plan_parameters


def test_findings_are_persisted_per_notebook_and_merged_by_severity(tmp_path):
    a = FindingsLog("02_assess", tmp_path)
    a.add("latency up", severity="medium", summary="p95 x3")
    a.add("token=abc123secret in a log", severity="critical", summary="Bearer abc.def.ghi")
    FindingsLog("01_triage", tmp_path).add("SEV-2", severity="info", summary="respond")
    merged = collect_findings(tmp_path)
    assert [f.severity for f in merged] == ["critical", "medium", "info"]
    assert "abc123secret" not in merged[0].title
    write_findings(tmp_path, merged)
    assert json.loads((tmp_path / "findings.json").read_text())[0]["notebook"] == "02_assess"


def test_rerun_starts_a_notebooks_findings_afresh(tmp_path):
    FindingsLog("01_triage", tmp_path).add("old", severity="low", summary="x")
    FindingsLog("01_triage", tmp_path)
    assert collect_findings(tmp_path) == []


def test_bad_finding_severity():
    with pytest.raises(InvalidInput, match="not one of critical"):
        Finding(title="x", severity="urgent", summary="")


def _params_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(
        'workspace: str = ""\nmode: str = "offline"\nrun_dir: str = ""\ntop: int = 5\n'
        'ratio: float = 0.5\nflag: bool = False\nlabel: str = "x"'
    )
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, path)
    return path


def test_plan_parameters_types_and_injection(tmp_path):
    nb = _params_notebook(tmp_path / "01_x.ipynb")
    plan = plan_parameters(
        {"top": 3, "ratio": 2, "flag": True},
        [nb],
        base={"workspace": "/w", "mode": "offline", "run_dir": "/r"},
    )
    assert plan["01_x"] == {
        "workspace": "/w",
        "mode": "offline",
        "run_dir": "/r",
        "top": 3,
        "ratio": 2,
        "flag": True,
    }


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"api_token": "x"}, "refused"),
        ({"label": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}, "refused"),
        ({"label": "postgres://u:p4ss@db/x"}, "refused"),
        ({"nope": 1}, "unknown parameter(s) ['nope']"),
        ({"mode": "live"}, "set by the runner"),
        ({"top": "five"}, "expects int"),
        ({"flag": 1}, "expects bool"),
    ],
)
def test_plan_parameters_refusals(tmp_path, given, fragment):
    nb = _params_notebook(tmp_path / "01_x.ipynb")
    with pytest.raises(
        InvalidParameter,
        match=fragment.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        plan_parameters(given, [nb], base={})


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("2.5", 2.5), ("true", True), ("False", False), ("v2.34", "v2.34")],
)
def test_coerce_value(text, value):
    assert coerce_value(text) == value and type(coerce_value(text)) is type(value)


INC = Incident.from_dict(
    {
        "id": "INC-2026-0042",
        "title": "Checkout 500s",
        "service": "checkout",
        "namespace": "prod",
        "severity": "SEV-2",
        "window": {"start": "2026-11-03T14:00:00Z"},
        "times": {"detected": "2026-11-03T14:05:00Z"},
        "roles": {"incident_commander": "ann"},
    }
)
AS_OF = datetime(2026, 11, 3, 14, 20, tzinfo=UTC)


def test_status_page_draft():
    text = drafts.status_page_draft(INC, as_of=AS_OF, impact="Some checkouts fail.")
    assert text.startswith("**Investigating** — Checkout 500s")
    assert "first saw this at 14:05 UTC" in text and "Next update by 14:50 UTC" in text


def test_stakeholder_draft_and_no_secret():
    text = drafts.stakeholder_draft(
        INC,
        as_of=AS_OF,
        impact="5 % of checkouts fail",
        facts=["pool exhausted; dsn postgresql://api:hunter2@db/orders"],
        actions=["rollback"],
    )
    assert (
        "[SEV-2] INC-2026-0042" in text
        and "15 min ago" in text
        and "incident commander: ann" in text
    )
    assert "hunter2" not in text and "**Next update:** 14:50 UTC" in text


@pytest.mark.parametrize(
    ("severity", "due"),
    [("SEV-1", "14:50"), ("SEV-2", "14:50"), ("SEV-3", "15:20"), ("SEV-4", "18:20")],
)
def test_next_update_follows_the_severity_cadence(severity, due):
    from dataclasses import replace

    from incident_lib.core.severity import SEVERITY_LEVELS, update_interval

    incident = replace(INC, severity=severity)
    at = drafts.next_update_at(incident, AS_OF.replace(second=42))
    assert f"{at:%H:%M}" == due and at.second == 0
    assert AS_OF + update_interval(severity) == at
    assert update_interval(severity.lower()) == SEVERITY_LEVELS[severity].update_every
    assert not hasattr(drafts, "UPDATE_EVERY")  # one cadence table: the severity's


def _health(*rows: tuple[str, float, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "metric": metric,
                "baseline": base,
                "peak": peak,
                "peak_at": pd.Timestamp("2026-11-03T14:30:00Z"),
                "latest": latest,
                "peak_vs_baseline": ratio,
            }
            for metric, base, peak, latest, ratio in rows
        ]
    )


def test_quick_facts_name_metrics_and_units_from_the_vocabulary():
    health = _health(
        ("latency_p95", 142, 30045, 149, 30045 / 142),
        ("error_ratio", 0.0, 14.43, 0.28, float("nan")),  # no baseline: not a "move"
        ("error_rate", 0.1, 3.5, 0.2, 35),  # the ratio tells it
        ("cpu", 0.36, 0.4, 0.39, 1.1),  # too small a move
        ("memory", 2**30, 2 * 2**30, 1.5 * 2**30, 2.0),
        ("queue_depth", 2, 40, 3, 20),
    )
    empty = pd.DataFrame(columns=["time", "label", "deployment", "revision"])
    alerts = pd.DataFrame(columns=["monitor", "firing"])
    facts = drafts.quick_facts(health=health, markers=empty, alerts=alerts)
    assert facts == [
        "p95 latency peaked at 30,045 ms at 14:30 UTC (baseline 142 ms); latest 149 ms.",
        "Memory usage peaked at 2.00 GiB at 14:30 UTC (baseline 1.00 GiB); latest 1.50 GiB.",
        "Queue depth peaked at 40 at 14:30 UTC (baseline 2); latest 3.",
    ]


def test_quick_facts_when_nothing_moved():
    facts = drafts.quick_facts(
        health=_health(("cpu", 0.36, 0.4, 0.39, 1.1)),
        markers=pd.DataFrame(columns=["time", "label", "deployment", "revision"]),
        alerts=pd.DataFrame(columns=["monitor", "firing"]),
    )
    assert facts == ["No metric, change or alert has moved yet; still gathering evidence."]


# --- drafts follow the record's status and what was done ----------------------------------

RESOLVED = Incident.from_dict(
    {
        "id": "DEMO-LEAK-0001",
        "title": "api: elevated 5xx errors",
        "service": "api",
        "namespace": "prod",
        "severity": "SEV-2",
        "status": "resolved",
        "window": {"start": "2026-11-03T14:00:00Z", "end": "2026-11-03T15:00:00Z"},
        "times": {
            "detected": "2026-11-03T14:21:00Z",
            "mitigated": "2026-11-03T14:35:00Z",
            "resolved": "2026-11-03T14:50:00Z",
        },
    }
)
END = datetime(2026, 11, 3, 15, tzinfo=UTC)


def _markers(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "time": pd.Timestamp(f"2026-11-03T{at}:00Z"),
                "label": label,
                "kind": kind,
                "deployment": "api",
                "revision": 42 + i,
            }
            for i, (at, label, kind) in enumerate(rows)
        ],
        columns=["time", "label", "kind", "deployment", "revision"],
    )


ROLLED_BACK = _markers(
    ("14:10", "deploy v2.34", "deploy"), ("14:33", "rollback to v2.33", "rollback")
)


def test_drafts_of_a_resolved_rolled_back_incident_do_not_say_investigating():
    done = drafts.mitigations(RESOLVED, ROLLED_BACK)
    assert [m.at.strftime("%H:%M") for m in done] == ["14:33"]  # the record's 14:35 is that
    page = drafts.status_page_draft(RESOLVED, as_of=END, impact="Orders failed.", done=done)
    note = drafts.stakeholder_draft(
        RESOLVED, as_of=END, facts=["x"], impact="Orders failed.", done=done
    )
    for text in (page, note):
        assert "nvestigating" not in text and "reparing a mitigation" not in text
    assert page.startswith("**Resolved**") and "rolled back a recent change at 14:33 UTC" in page
    assert "Next update" not in page and "v2" not in page  # no internal versions in public
    assert "— resolved**" in note and "**What we have done**" in note
    assert "Rollback to v2\\.33 of `api` at 14:33 UTC" in note
    assert "resolved 14:50 UTC, 29 min later" in note
    assert drafts.status_check(RESOLVED, done) is None


def test_an_open_record_with_a_rollback_says_what_was_done_and_flags_the_status():
    from dataclasses import replace

    open_record = replace(RESOLVED, status="investigating")
    done = drafts.mitigations(open_record, ROLLED_BACK)
    page = drafts.status_page_draft(open_record, as_of=END, impact="Orders fail.", done=done)
    assert "We rolled back a recent change at 14:33 UTC" in page and "Next update by" in page
    note = drafts.stakeholder_draft(open_record, as_of=END, facts=[], impact="x", done=done)
    assert "reparing a mitigation" not in note and "10_verify" in note
    check = drafts.status_check(open_record, done)
    assert check is not None and "investigating" in check and "monitoring" in check
    # nothing done yet: the investigating wording stays
    nothing = drafts.mitigations(
        replace(open_record, times=replace(open_record.times, mitigated=None)), _markers()
    )
    assert nothing == []
    assert "Our engineers are investigating" in drafts.status_page_draft(
        open_record, as_of=END, impact="x", done=nothing
    )


def test_untrusted_text_in_drafts_stays_text():
    import mistune

    errors = pd.DataFrame(
        {
            "template": ["QueuePool limit of size <NUM> overflow <NUM> `x` ![i](/etc/hostname)"],
            "count": [1474],
        }
    )
    facts = drafts.quick_facts(
        health=_health(("cpu", 0.36, 0.4, 0.39, 1.1)),
        markers=_markers(("14:33", "rollback to <b>v2.33</b>", "rollback")),
        alerts=pd.DataFrame({"monitor": ["<script>alert(1)</script>"], "firing": [True]}),
        errors=errors,
    )
    page = mistune.html(
        drafts.stakeholder_draft(
            INC, as_of=AS_OF, facts=facts, impact="[x](javascript:a)", actions=[]
        )
    )
    assert "QueuePool limit of size &lt;NUM&gt; overflow &lt;NUM&gt;" in page
    assert "<num>" not in page.lower() and "<script" not in page and "<b>" not in page
    assert "<img" not in page and 'href="javascript' not in page
    assert "(1,474 events)" in " ".join(facts)  # a number carries its unit


def test_quick_facts_never_claim_nothing_moved_when_evidence_is_missing():
    facts = drafts.quick_facts(
        health=_health(("cpu", 0.36, 0.4, 0.39, 1.1)),
        markers=_markers(),
        alerts=pd.DataFrame(columns=["monitor", "firing"]),
        unknown=["datadog/metrics", "kubernetes/logs"],
    )
    text = " ".join(facts)
    assert "No metric" not in text and "unknown" in text and "`datadog/metrics`" in text


# --- sources that did not answer: once each, with the fix ---------------------------------


def _unconfigured_run(run_dir: Path) -> None:
    from incident_lib.report.availability import AvailabilityLog, EvidenceRead, fix_for

    kube = "no kubeconfig found (set KUBECONFIG) and not running in a cluster"
    dd = "DD_API_KEY and DD_APP_KEY are not set"
    reads = {
        "02_assess": ["datadog/metrics", "kubernetes/rollouts", "kubernetes/logs"],
        "04_logs": ["kubernetes/logs", "kubernetes/rollouts"],
        "07_resources": ["kubernetes/pods", "kubernetes/pod_usage", "kubernetes/events"],
    }
    for notebook, names in reads.items():
        log = AvailabilityLog(notebook, run_dir)
        for name in names:
            source = name.split("/")[0]
            log.add(
                EvidenceRead(
                    name,
                    ok=False,
                    reason=kube if source == "kubernetes" else dd,
                    fix=fix_for(source, "live"),
                )
            )
    AvailabilityLog("01_triage", run_dir).add(EvidenceRead("git/commits", ok=True))


def test_unavailable_sources_are_merged_once_per_source(tmp_path):
    from incident_lib.report.availability import collect_availability

    _unconfigured_run(tmp_path)
    found = collect_availability(tmp_path)
    assert [p.source for p in found.problems] == ["datadog", "kubernetes"]
    kube = found.problems[1]
    assert kube.evidence == (
        "kubernetes/events",
        "kubernetes/logs",
        "kubernetes/pod_usage",
        "kubernetes/pods",
        "kubernetes/rollouts",
    )
    assert kube.notebooks == ("02_assess", "04_logs", "07_resources")
    assert "KUBECONFIG" in kube.fix and "fix:" in kube.line()
    assert found.answered == {"git"}
    assert found.failed(["git", "kubernetes", "prometheus", "kubernetes/logs"]) == {
        "kubernetes": kube.reason,
        "prometheus": "not asked by any notebook run",
        "kubernetes/logs": kube.reason,
    }
    assert found.as_dict()["unavailable"][1]["source"] == "kubernetes"


def test_index_shows_the_sources_box_once_and_no_source_findings(tmp_path):
    from incident_lib.report.availability import collect_availability
    from incident_lib.report.index import write_index

    _unconfigured_run(tmp_path)
    page = write_index(
        tmp_path,
        RESOLVED,
        [],
        [],
        run_id="r1",
        mode="live",
        started=END,
        seconds=1.0,
        availability=collect_availability(tmp_path),
    ).read_text()
    assert page.count("id='sources'") == 1
    assert page.count("<b>kubernetes</b>") == 1 and page.count("<b>datadog</b>") == 1
    assert "unknown</b>, not absent" in page and "Fix: set KUBECONFIG" in page
    assert "No findings were recorded." in page and "record status <b>resolved</b>" in page
