"""Findings files, parameter planning and the status-update drafts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import nbformat
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
