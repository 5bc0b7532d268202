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
