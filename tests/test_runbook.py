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
from incident_lib.core.schema import CONTRACTS, EVIDENCE_KINDS

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
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    EvidenceStore(ws).capture(frame, source="kubernetes", name="pods")
    rb = start_runbook("07_resources", workspace=ws)
    pd.testing.assert_frame_equal(rb.evidence("kubernetes", "pods"), frame)
    assert rb.unavailable == {}


def test_missing_evidence_degrades_its_section_only(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    run_dir = tmp_path / "run"
    rb = start_runbook("04_logs", workspace=ws, run_dir=run_dir)
    logs = rb.evidence("kubernetes", "logs")
    assert logs.empty
    assert list(logs.columns) == list(CONTRACTS[EVIDENCE_KINDS[("kubernetes", "logs")]].columns)
    assert "kubernetes/logs" in rb.unavailable
    assert "no evidence captured" in rb.unavailable["kubernetes/logs"]
    written = json.loads((run_dir / "findings" / "04_logs.json").read_text())
    assert [(f["title"], f["severity"]) for f in written] == [
        ("kubernetes/logs unavailable", "low")
    ]


def test_unknown_evidence_is_refused(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    rb = start_runbook("04_logs", workspace=ws)
    with pytest.raises(InvalidInput, match="unknown evidence kubernetes/secrets"):
        rb.evidence("kubernetes", "secrets")


def test_record_persists_redacted_findings_with_the_notebook_name(tmp_path):
    ws = _workspace(tmp_path, end=START + timedelta(hours=1))
    run_dir = tmp_path / "run"
    rb = start_runbook("03_changes", workspace=ws, run_dir=run_dir)
    recorded = rb.record(
        [
            Finding(title="Likely trigger", severity="high", summary="deploy v2.34", ref="x.png"),
            Finding(title="Leak", severity="medium", summary="password=hunter2 in a DSN"),
        ]
    )
    assert [f.notebook for f in recorded] == ["03_changes", "03_changes"]
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
