"""The runbook context offline: windows, evidence read back, degraded sections, findings, charts.

Live mode against registered sources is in ``tests/test_runbook_sources.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import matplotlib
import pandas as pd
import pytest

from incident_lib import (
    EvidenceStore,
    Finding,
    Incident,
    InvalidInput,
    Window,
    WorkspaceError,
    create_workspace,
    start_runbook,
)
from incident_lib.core.schema import CONTRACTS, EVIDENCE_KINDS, conform

matplotlib.use("Agg")

START = datetime(2026, 11, 3, 14, tzinfo=UTC)


def _workspace(tmp_path, **fields):
    record = {
        "id": "INC-2026-0042",
        "title": "Checkout returns 500s",
        "service": "checkout",
        "namespace": "prod",
        "severity": "SEV-2",
        "start": START,
        **fields,
    }
    return create_workspace(Incident.create(**record), tmp_path / "ws").path


def test_refuses_a_bad_mode_before_opening_anything(tmp_path):
    with pytest.raises(InvalidInput, match="mode 'online' is not known"):
        start_runbook("02_assess", workspace=tmp_path / "does-not-exist", mode="online")


def test_refuses_a_missing_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist"):
        start_runbook("02_assess", workspace=tmp_path / "nowhere")


def test_refuses_an_unknown_metrics_source(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="metrics_source 'graphite' is not known"):
        start_runbook("05_metrics", workspace=ws, metrics_source="graphite")


def test_windows_of_a_closed_incident(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    rb = start_runbook("05_metrics", workspace=ws, metrics_source="prometheus")
    assert rb.metrics_source == "prometheus"
    assert rb.window == Window(START, START + timedelta(hours=1))
    assert rb.baseline == Window(START - timedelta(hours=1), START)
    assert rb.view == Window(START - timedelta(hours=1), START + timedelta(hours=1))
    assert rb.as_of == START + timedelta(hours=1)


def test_an_ongoing_incident_replayed_offline_ends_at_its_last_capture(tmp_path):
    ws = _workspace(tmp_path)
    captured = START + timedelta(minutes=25)
    EvidenceStore(ws).capture(
        pd.DataFrame({"x": [1]}), source="kubernetes", name="pods", fetched_at=captured
    )
    rb = start_runbook("02_assess", workspace=ws)
    assert rb.as_of == captured
    assert rb.window.end <= captured + timedelta(minutes=1)


def test_offline_evidence_is_the_capture(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    frame = conform(
        pd.DataFrame(
            {
                "pod": ["api-1", "api-2"],
                "container": ["api", "api"],
                "node": ["n1", "n2"],
                "phase": ["Running", "Running"],
                "ready": [True, False],
                "restarts": [0, 3],
                "last_termination_reason": ["", "OOMKilled"],
                "last_termination_at": [pd.NaT, pd.Timestamp("2026-11-03T14:20Z")],
                "started_at": [pd.Timestamp("2026-11-03T10:00Z")] * 2,
                "cpu_request": [0.5, 0.5],
                "cpu_limit": [1.0, 1.0],
                "memory_request": [2.0**29] * 2,
                "memory_limit": [2.0**30] * 2,
            }
        ),
        "pods",
    )
    EvidenceStore(ws).capture(frame, source="kubernetes", name="pods")
    rb = start_runbook("07_resources", workspace=ws)
    pd.testing.assert_frame_equal(rb.evidence("kubernetes", "pods"), frame)
    assert rb.unavailable == {}


def test_a_capture_that_breaks_its_contract_is_unavailable_naming_it(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    EvidenceStore(ws).capture(frame, source="kubernetes", name="pods")
    rb = start_runbook("07_resources", workspace=ws)
    assert rb.evidence("kubernetes", "pods").empty
    assert "pods contract" in rb.missing["kubernetes/pods"]


def test_missing_evidence_degrades_its_section_only(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    run_dir = tmp_path / "run"
    rb = start_runbook("04_logs", workspace=ws, run_dir=run_dir)
    logs = rb.evidence("kubernetes", "logs")
    assert logs.empty
    assert list(logs.columns) == list(CONTRACTS[EVIDENCE_KINDS[("kubernetes", "logs")]].columns)
    assert "kubernetes/logs" in rb.unavailable
    assert "no evidence captured" in rb.unavailable["kubernetes/logs"]
    assert rb.missing == {"kubernetes/logs": rb.unavailable["kubernetes/logs"]}
    # an unavailable source is a fact about the run, not a finding about the incident
    assert json.loads((run_dir / "findings" / "04_logs.json").read_text()) == []
    (read,) = json.loads((run_dir / "availability" / "04_logs.json").read_text())
    assert read["evidence"] == "kubernetes/logs" and not read["ok"]
    assert read["reason"] == "no evidence captured"
    assert f"incident run {ws} --mode live" in read["fix"]


def test_unknown_evidence_is_refused(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    rb = start_runbook("04_logs", workspace=ws)
    with pytest.raises(InvalidInput, match="unknown evidence kubernetes/secrets"):
        rb.evidence("kubernetes", "secrets")


def test_record_persists_redacted_findings_with_the_notebook_name(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    run_dir = tmp_path / "run"
    rb = start_runbook("03_changes", workspace=ws, run_dir=run_dir)
    shown = rb.record(
        [
            Finding(title="Likely trigger", severity="high", summary="deploy v2.34", ref="x.png"),
            Finding(title="Leak", severity="medium", summary="password=hunter2 in a DSN"),
        ]
    )
    assert shown is None  # a notebook's last line must not echo the list as a repr
    assert [f.notebook for f in rb.findings.items] == ["03_changes", "03_changes"]
    written = json.loads((run_dir / "findings" / "03_changes.json").read_text())
    assert [f["title"] for f in written] == ["Likely trigger", "Leak"]
    assert "hunter2" not in json.dumps(written)
    assert written[0]["ref"] == "x.png"


def test_table_caps_rows_and_says_so(tmp_path, capsys):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    rb = start_runbook("04_logs", workspace=ws)
    frame = pd.DataFrame({"n": range(40)})
    shown = rb.table(frame, empty="nothing", limit=10)
    assert shown is not None and len(shown) == 10
    assert rb.table(frame.iloc[:0], empty="nothing") is None


def test_save_chart_writes_into_the_run_folder(tmp_path):
    import matplotlib.pyplot as plt

    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    run_dir = tmp_path / "run"
    rb = start_runbook("05_metrics", workspace=ws, run_dir=run_dir)
    fig, _ = plt.subplots()
    ref = rb.save_chart(fig, "key-metrics")
    assert ref == "charts/05_metrics-key-metrics.png"
    assert (run_dir / ref).read_bytes().startswith(b"\x89PNG")
    interactive = start_runbook("05_metrics", workspace=ws)
    assert interactive.save_chart(fig, "key-metrics") == ""
    plt.close(fig)


class _Screen:
    """What a notebook displayed (the text of each Markdown or HTML object)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def __call__(self, obj) -> None:
        self.items.append(str(getattr(obj, "data", obj)))

    def take(self) -> str:
        out, self.items = "\n".join(self.items), []
        return out


@pytest.fixture
def screen(monkeypatch) -> _Screen:
    import incident_lib.runbook as runbook

    seen = _Screen()
    monkeypatch.setattr(runbook, "_display", seen)
    return seen


def test_an_empty_table_over_missing_evidence_says_unknown_not_none(tmp_path, screen):
    """Absence of evidence is never shown as evidence of absence."""
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    EvidenceStore(ws).capture(
        pd.DataFrame({"x": [1]}), source="kubernetes", name="pods", fetched_at=START
    )
    rb = start_runbook("02_assess", workspace=ws)
    logs = rb.evidence("kubernetes", "logs")  # never captured
    screen.take()
    empty = "No error or critical log events in the window."

    assert rb.table(logs, empty=empty, evidence="kubernetes/logs") is None
    out = screen.take()
    assert "Unknown" in out and "kubernetes/logs" in out and "No error" not in out

    rb.table(logs.iloc[:0], empty="No pods.", evidence=["kubernetes/pods"])
    assert "No pods." in screen.take()  # read and empty: then it is a fact

    shown = rb.table(
        pd.DataFrame({"n": [1]}), empty="x", evidence=("kubernetes/pods", "kubernetes/logs")
    )
    assert shown is not None and "Possibly incomplete" in screen.take()


def test_missing_evidence_is_announced_once_however_often_it_is_read(tmp_path, screen):
    """02/04 read the logs, then the rows of their examples: one warning, not two."""
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    rb = start_runbook("04_logs", workspace=ws)
    logs = rb.evidence("kubernetes", "logs", columns=["time", "message"])
    lines = rb.evidence("kubernetes", "logs", columns=["time", "raw"], at=[])
    assert logs.empty and lines.empty and list(lines.columns) == ["time", "raw"]
    assert screen.take().count("kubernetes/logs unavailable") == 1
    assert "kubernetes/logs" in rb.missing
    # read twice the same way: said once too
    rb.evidence("kubernetes", "logs", columns=["time", "message"])
    assert "unavailable" not in screen.take()
    rb.evidence("kubernetes", "events")  # another evidence is announced as ever
    assert screen.take().count("kubernetes/events unavailable") == 1


def test_statements_and_findings_over_missing_evidence_are_not_made(tmp_path, screen):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    run_dir = tmp_path / "run"
    rb = start_runbook("05_metrics", workspace=ws, run_dir=run_dir)
    rb.evidence("datadog", "metrics")
    screen.take()

    rb.show("No request traffic recorded.", evidence="datadog/metrics")
    out = screen.take()
    assert "No request traffic" not in out and "Unknown" in out

    rb.record(
        [Finding(title="No request traffic recorded", severity="info", summary="none")],
        evidence="datadog/metrics",
    )
    assert rb.findings.items == [] and "Unknown" in screen.take()
    assert rb.finding("x", severity="low", summary="y", evidence="datadog/metrics") is None
    assert json.loads((run_dir / "findings" / "05_metrics.json").read_text()) == []


def test_a_misspelt_evidence_name_is_refused(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    rb = start_runbook("02_assess", workspace=ws)
    with pytest.raises(InvalidInput, match="unknown evidence 'kubernetes/log'"):
        rb.table(pd.DataFrame(), empty="x", evidence="kubernetes/log")


def test_header_labels_the_status_as_the_records_and_quotes_the_title(tmp_path, screen):
    ws = _workspace(
        tmp_path,
        title="Pool size <NUM> ![x](/etc/hostname) [y](javascript:alert(1))",
        end=START + timedelta(hours=1),
        status="resolved",
        times={
            "detected": START,
            "mitigated": START + timedelta(minutes=33),
            "resolved": START + timedelta(minutes=50),
        },
    )
    rb = start_runbook("02_assess", workspace=ws)
    rb.header()
    out = screen.take()
    assert "record status **resolved** (mitigated 14:33 UTC, resolved 14:50 UTC)" in out
    assert "<NUM>" not in out and "![x](" not in out and "](javascript:" not in out
    assert r"\<NUM\>" in out


def test_note_lands_on_the_timeline_redacted_and_is_shown(tmp_path, screen):
    from incident_lib.demo import PLANTED_SECRETS
    from incident_lib.infra.timeline import TimelineStore

    ws = _workspace(tmp_path)
    rb = start_runbook("09_mitigate", workspace=ws)
    secret = PLANTED_SECRETS[0]
    rb.note(f"scaled the batch worker to 0; token {secret}", at="2026-11-03T14:30:00Z", author="al")
    events = TimelineStore(ws).read()
    assert len(events) == 1 and events[0].kind == "note" and events[0].author == "al"
    assert secret not in events[0].summary
    assert "Note added at 14:30 UTC" in screen.take()
    with pytest.raises(InvalidInput):
        rb.note("   ")
