"""Strict input (issue 10): the record, the workspace and the evidence a notebook reads.

Every refusal is one clear line (an :class:`IncidentError`, exit 2 through the
CLI), never an internal error (exit 70) nor a silent wrong answer.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import tempfile
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from incident_lib import Incident, IncidentError, InvalidIncident, WorkspaceError
from incident_lib.cli import main
from incident_lib.core.findings import Finding
from incident_lib.core.schema import CONTRACTS, empty_frame
from incident_lib.infra.evidence import EvidenceStore
from incident_lib.infra.files import atomic_path, atomic_write_text
from incident_lib.infra.workspace import (
    MAX_RECORD_BYTES,
    create_workspace,
    open_workspace,
    read_incident,
    write_incident,
)
from incident_lib.runbook import start_runbook

START = datetime(2026, 11, 3, 14, tzinfo=UTC)

RECORD = """\
id: INC-2026-0042
title: Checkout returns 500s
service: checkout
namespace: prod
severity: SEV-2
window:
  start: 2026-11-03T14:00:00Z
  end: 2026-11-03T15:00:00Z
"""


def _ws(tmp_path, **fields):
    record = {
        "id": "INC-2026-0042",
        "title": "Checkout returns 500s",
        "service": "checkout",
        "namespace": "prod",
        "severity": "SEV-2",
        "start": START,
        "end": START + timedelta(hours=1),
        **fields,
    }
    return create_workspace(Incident.create(**record), tmp_path / "ws").path


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


# -- the record: duplicate keys, size, encoding ------------------------------------------


@pytest.mark.parametrize(
    ("extra", "key", "line"),
    [
        ("namespace: attacker\n", "namespace", 9),
        ("id: INC-2026-0666\n", "id", 9),
    ],
)
def test_a_duplicate_top_level_key_is_refused_naming_key_and_line(tmp_path, extra, key, line):
    file = tmp_path / "incident.yaml"
    file.write_text(RECORD + extra)
    with pytest.raises(InvalidIncident) as caught:
        read_incident(file)
    message = str(caught.value)
    assert f"duplicate key '{key}'" in message
    assert f"line {line}" in message
    assert str(file) in message


def test_a_duplicate_nested_key_is_refused(tmp_path):
    text = RECORD.replace(
        "  end: 2026-11-03T15:00:00Z\n",
        "  end: 2026-11-03T15:00:00Z\n  start: 2026-11-03T10:00:00Z\n",
    )
    with pytest.raises(InvalidIncident, match=r"line 9: duplicate key 'start'"):
        Incident.from_yaml(text)
    roles = RECORD + "roles:\n  scribe: alice\n  scribe: mallory\n"
    with pytest.raises(InvalidIncident, match="duplicate key 'scribe'"):
        Incident.from_yaml(roles)


def test_yaml_merge_keys_are_not_duplicates():
    # a key given beside a merge (`<<`) overrides the merged one on purpose
    text = RECORD.replace(
        "  start: 2026-11-03T14:00:00Z\n",
        "  <<: {start: 2026-11-03T14:00:00Z, end: 2026-11-03T16:00:00Z}\n",
    )
    assert Incident.from_yaml(text).end == START + timedelta(hours=1)


def test_a_duplicate_key_exits_2_through_the_cli(tmp_path, capsys):
    ws = _ws(tmp_path)
    (ws / "incident.yaml").write_text((ws / "incident.yaml").read_text() + "namespace: other\n")
    code, err = _cli(capsys, "run", ws, "--notebooks", "01")
    assert code == 2
    assert "duplicate key 'namespace'" in err
    assert not any((ws / "runs").iterdir())


def test_an_oversized_record_is_refused(tmp_path, capsys):
    ws = _ws(tmp_path)
    padding = "# " + "x" * 100 + "\n"
    text = (ws / "incident.yaml").read_text()
    (ws / "incident.yaml").write_text(text + padding * (MAX_RECORD_BYTES // len(padding) + 1))
    with pytest.raises(InvalidIncident, match="larger than 64 KiB"):
        read_incident(ws)
    code, err = _cli(capsys, "run", ws)
    assert code == 2
    assert "incident.yaml: larger than 64 KiB" in err


def test_a_record_that_is_not_utf8_is_refused_naming_the_file(tmp_path, capsys):
    ws = _ws(tmp_path)
    text = (ws / "incident.yaml").read_text().replace("Checkout", "Caf\xe9")
    (ws / "incident.yaml").write_bytes(text.encode("latin-1"))
    with pytest.raises(InvalidIncident, match=r"not UTF-8 text .*save it as UTF-8"):
        read_incident(ws)
    code, err = _cli(capsys, "run", ws)
    assert code == 2
    assert f"{ws / 'incident.yaml'}: not UTF-8" in err
    assert "internal error" not in err


def test_a_record_that_is_a_fifo_is_refused(tmp_path):
    ws = _ws(tmp_path)
    (ws / "incident.yaml").unlink()
    os.mkfifo(ws / "incident.yaml")  # opening it must not hang

    def hung(*_):
        raise TimeoutError("reading a FIFO as the record hangs")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        with pytest.raises(InvalidIncident, match="not a regular file"):
            read_incident(ws / "incident.yaml")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- the workspace: a file, read-only -----------------------------------------------


def test_a_workspace_path_that_is_a_file_is_refused(tmp_path, capsys):
    ws = _ws(tmp_path)
    with pytest.raises(WorkspaceError, match=f"is a file, not a folder; pass its folder, {ws}"):
        open_workspace(ws / "incident.yaml")
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    code, err = _cli(capsys, "run", other)
    assert code == 2
    assert "is a file, not a folder" in err


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_a_read_only_workspace_says_what_failed_and_the_fix(tmp_path, monkeypatch, capsys, code):
    ws = _ws(tmp_path)

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    # as root chmod does not stop writes: make the folder refuse them instead
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(WorkspaceError) as caught:
        write_incident(open_workspace(ws).incident, ws, overwrite=True)
    message = str(caught.value)
    assert f"cannot write in {ws}" in message
    assert "read-only" in message and "--output DIR" in message
    code_, err = _cli(capsys, "status", ws, "acknowledged", "--at", "2026-11-03T14:10:00Z")
    assert code_ == 2
    assert "read-only" in err and "internal error" not in err


def test_a_full_disk_during_a_write_is_a_clear_error(tmp_path):
    ws = _ws(tmp_path)
    target = ws / "runs" / "r1" / "findings.json"
    with pytest.raises(WorkspaceError, match="disk or quota is full"), atomic_path(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not any(p.name.startswith(".tmp-") for p in target.parent.iterdir())


# -- record text: control characters and newlines ------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "Checkout down\nid: INC-1-1", "title contains a line break"),
        ("title", "Checkout \x1b[31mdown", "title contains the control character U+001B"),
        ("title", "Checkout\tdown", "U+0009"),
        ("title", "Checkout \u202edown", "U+202E"),
        ("title", "Checkout\u2028down", "U+2028"),
        ("selector", "app=api\nteam=x", "selector contains a line break"),
        ("impact", "half of checkouts fail\x07", "impact contains the control character U+0007"),
    ],
)
def test_control_characters_in_record_text_are_refused(field, value, message):
    fields = {
        "id": "INC-2026-0042",
        "title": "Checkout returns 500s",
        "service": "checkout",
        "namespace": "prod",
        "severity": "SEV-2",
        "start": START,
        field: value,
    }
    with pytest.raises(InvalidIncident, match=re.escape(message)):
        Incident.create(**fields)


def test_role_holders_are_one_line(valid_record):
    valid_record["roles"] = {"scribe": "alice\nbob"}
    with pytest.raises(InvalidIncident, match=r"roles\.scribe contains a line break"):
        Incident.from_dict(valid_record)


def test_multi_line_summary_stays_allowed(valid_record):
    valid_record["summary"] = "first paragraph\n\tsecond line"
    assert Incident.from_dict(valid_record).summary == "first paragraph\n\tsecond line"


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "INC-2026-0042\n"), ("service", "checkout\n"), ("namespace", "prod\n")],
)
def test_names_with_a_trailing_newline_are_refused(valid_record, field, value):
    # `$` in a pattern matches before a final newline: the names are matched whole
    valid_record[field] = value
    with pytest.raises(InvalidIncident, match=r"is invalid|is not a Kubernetes name"):
        Incident.from_dict(valid_record)


def test_a_newline_in_the_title_of_incident_new_exits_2(tmp_path, capsys):
    folder = tmp_path / "new"
    code, err = _cli(
        capsys,
        "new",
        "--id",
        "INC-2026-0042",
        "--title",
        "Checkout\n## injected heading",
        "--service",
        "checkout",
        "--namespace",
        "prod",
        "--severity",
        "SEV-2",
        "--start",
        "2026-11-03T14:00:00Z",
        "--workspace",
        folder,
    )
    assert code == 2
    assert "title contains a line break" in err
    assert not folder.exists()


# -- symbolic links never lead out of the workspace ------------------------------------


def test_runs_as_a_symlink_is_refused_and_nothing_is_written_elsewhere(tmp_path, capsys):
    ws = _ws(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ws / "runs").rmdir()
    (ws / "runs").symlink_to(elsewhere)
    with pytest.raises(WorkspaceError, match="runs is a symbolic link"):
        open_workspace(ws)
    code, err = _cli(capsys, "run", ws, "--notebooks", "01")
    assert code == 2
    assert "symbolic link" in err
    assert list(elsewhere.iterdir()) == []


def test_a_link_made_after_opening_is_refused_at_the_write(tmp_path):
    ws = _ws(tmp_path)
    opened = open_workspace(ws)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ws / "runs").rmdir()
    (ws / "runs").symlink_to(elsewhere)
    with pytest.raises(WorkspaceError, match="symbolic link"):
        _ = opened.runs_dir
    with pytest.raises(WorkspaceError, match="symbolic link"):
        atomic_write_text(ws / "runs" / "r1" / "findings.json", "[]")
    assert list(elsewhere.iterdir()) == []


def test_incident_yaml_as_a_symlink_is_refused(tmp_path):
    ws = _ws(tmp_path)
    outside = tmp_path / "other.yaml"
    shutil.move(ws / "incident.yaml", outside)
    (ws / "incident.yaml").symlink_to(outside)
    with pytest.raises(WorkspaceError, match=r"incident\.yaml is a symbolic link"):
        open_workspace(ws)
    with pytest.raises(InvalidIncident, match="symbolic link"):
        read_incident(ws)
    with pytest.raises(InvalidIncident, match="symbolic link"):
        write_incident(Incident.from_yaml(outside.read_text()), ws, overwrite=True)
    assert outside.read_text().startswith("id: INC-2026-0042")


def test_evidence_as_a_symlink_is_refused(tmp_path):
    ws = _ws(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ws / "evidence").rmdir()
    (ws / "evidence").symlink_to(elsewhere)
    with pytest.raises(WorkspaceError, match="evidence is a symbolic link"):
        open_workspace(ws)
    # a capture through the store itself never lands outside either
    with pytest.raises(IncidentError, match="symbolic link"):
        EvidenceStore(ws).capture(empty_frame("pods"), source="kubernetes", name="pods")
    assert list(elsewhere.iterdir()) == []


def test_a_file_in_a_workspace_that_is_a_symlink_is_never_replaced(tmp_path):
    ws = _ws(tmp_path)
    outside = tmp_path / "outside.json"
    outside.write_text("keep")
    (ws / "runs" / "r1").mkdir()
    (ws / "runs" / "r1" / "findings.json").symlink_to(outside)
    with pytest.raises(WorkspaceError, match="symbolic link"):
        atomic_write_text(ws / "runs" / "r1" / "findings.json", "[]")
    assert outside.read_text() == "keep"


# -- evidence a notebook cannot use --------------------------------------------------


def test_a_capture_that_breaks_its_contract_is_unavailable_naming_the_capture(tmp_path):
    ws = _ws(tmp_path)
    broken = pd.DataFrame(
        {"time": pd.to_datetime([START], utc=True), "value": [1.0], "scope": ["x"], "query": ["q"]}
    )
    EvidenceStore(ws).capture(broken, source="datadog", name="metrics")
    rb = start_runbook("05_metrics", workspace=ws)
    frame = rb.evidence("datadog", "metrics")
    assert list(frame.columns) == list(CONTRACTS["metrics"].columns)
    assert frame.empty
    reason = rb.unavailable["datadog/metrics"]
    assert "capture #1 (0001-datadog-metrics.parquet)" in reason
    assert "metrics contract" in reason and "missing columns ['metric']" in reason
    assert "datadog/metrics" in rb.missing


def test_evidence_far_outside_the_window_is_not_read_as_no_traffic(tmp_path, demo_copy):
    ws = demo_copy("connection-leak")
    record = Incident.create(
        id="INC-1900-0001",
        title="An incident in 1900",
        service="api",
        namespace="prod",
        severity="SEV-2",
        start="1900-01-01T10:00:00Z",
        end="1900-01-01T11:00:00Z",
    )
    write_incident(record, ws, overwrite=True)
    rb = start_runbook("01_triage", workspace=ws)
    metrics = rb.evidence("datadog", "metrics")
    assert metrics.empty
    reason = rb.unavailable["datadog/metrics"]
    assert "outside this incident's window" in reason
    assert "covers 2026-11-03" in reason
    rb.record(
        [Finding(title="No request traffic recorded", severity="info", summary="none")],
        evidence="datadog/metrics",
    )
    assert rb.findings.items == []
    # snapshots and histories (rollouts) are not samples of the window: read as they are
    assert not rb.evidence("kubernetes", "rollouts").empty


def test_samples_all_outside_the_window_are_flagged_without_a_query_span(tmp_path):
    ws = _ws(tmp_path)
    later = START + timedelta(days=400)
    samples = pd.DataFrame(
        {
            "time": pd.to_datetime([later, later + timedelta(minutes=1)], utc=True),
            "metric": ["requests", "requests"],
            "query": ["q", "q"],
            "scope": ["s", "s"],
            "value": [1.0, 2.0],
        }
    )
    EvidenceStore(ws).capture(samples, source="prometheus", name="metrics")
    rb = start_runbook("05_metrics", workspace=ws, metrics_source="prometheus")
    assert rb.evidence("prometheus", "metrics").empty
    assert f"covers {later:%Y-%m-%d}" in rb.unavailable["prometheus/metrics"]


def test_samples_inside_the_window_are_read_as_captured(tmp_path):
    ws = _ws(tmp_path)
    inside = pd.DataFrame(
        {
            "time": pd.to_datetime([START + timedelta(minutes=5)], utc=True),
            "metric": ["requests"],
            "query": ["q"],
            "scope": ["s"],
            "value": [1.0],
        }
    )
    EvidenceStore(ws).capture(inside, source="prometheus", name="metrics")
    rb = start_runbook("05_metrics", workspace=ws, metrics_source="prometheus")
    assert len(rb.evidence("prometheus", "metrics")) == 1
    assert rb.unavailable == {}
