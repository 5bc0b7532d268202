"""`incident note` and `incident status`: the record and the timeline, end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from incident_lib.cli import main
from incident_lib.core.incident import Times
from incident_lib.core.timeline import status_event
from incident_lib.demo import PLANTED_SECRETS
from incident_lib.infra.workspace import (
    TIMELINE_FILE,
    open_workspace,
    read_incident,
    write_incident,
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("incident: error:") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def open_incident(demo_copy):
    """A copy of the connection-leak demo, reopened: detected 14:21, nothing after, no end."""
    folder = demo_copy("connection-leak")
    ws = open_workspace(folder)
    reopened = replace(
        ws.incident,
        status="investigating",
        end=None,
        times=Times(detected=ws.incident.times.detected),
    )
    write_incident(reopened, folder, overwrite=True)
    return folder


def timeline(folder) -> list[dict]:
    path = folder / TIMELINE_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_response_recorded_step_by_step(open_incident, capsys):
    ws = str(open_incident)
    code, out, err = run(capsys, "status", ws, "acknowledged", "--at", "2026-11-03T14:24:00Z",
                         "--author", "alice.nguyen")  # fmt: skip
    assert code == 0, err
    assert "DEMO-LEAK-0001: acknowledged at 2026-11-03T14:24:00Z" in out
    assert "times.acknowledged: unset -> 2026-11-03T14:24:00Z" in out
    assert "next: capture the evidence" in err

    code, out, err = run(capsys, "note", ws, "rolled back api to v2.33", "--at",
                         "2026-11-03T14:31:00Z", "--author", "bruno.silva")  # fmt: skip
    assert code == 0, err
    assert out.strip() == (
        "2026-11-03T14:31:00Z  note         rolled back api to v2.33  (bruno.silva)"
    )

    code, out, _ = run(capsys, "status", ws, "mitigated", "--at", "2026-11-03T14:35:00Z")
    assert code == 0 and "status: investigating -> monitoring" in out

    code, out, err = run(capsys, "status", ws, "resolved", "--at", "2026-11-03T14:50:00Z")
    assert code == 0
    assert "status: monitoring -> resolved" in out
    assert "window.end: open -> 2026-11-03T14:50:00Z" in out
    assert f"next: write the post-mortem: incident postmortem {ws}" in err

    record = read_incident(open_incident)
    assert record.status == "resolved"
    assert [record.times.acknowledged, record.times.mitigated, record.times.resolved] == [
        status_event(k, t).time
        for k, t in [
            ("acknowledged", "2026-11-03T14:24:00Z"),
            ("mitigated", "2026-11-03T14:35:00Z"),
            ("resolved", "2026-11-03T14:50:00Z"),
        ]
    ]
    events = timeline(open_incident)
    assert [(e["kind"], e["time"][11:16]) for e in events] == [
        ("acknowledged", "14:24"),
        ("note", "14:31"),
        ("mitigated", "14:35"),
        ("resolved", "14:50"),
    ]
    assert events[0]["author"] == "alice.nguyen" and events[1]["author"] == "bruno.silva"
    # the status events are the ones the record gives: the same ids
    assert {e["id"] for e in events} >= {
        status_event(k, getattr(record.times, k)).id
        for k in ("acknowledged", "mitigated", "resolved")
    }


def test_the_same_status_twice_writes_nothing_twice(open_incident, capsys):
    ws = str(open_incident)
    argv = ("status", ws, "acknowledged", "--at", "2026-11-03T14:24:00Z")
    assert run(capsys, *argv)[0] == 0
    record = (open_incident / "incident.yaml").read_bytes()
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "was already recorded" in out
    assert (open_incident / "incident.yaml").read_bytes() == record
    assert len(timeline(open_incident)) == 1


def test_a_corrected_time_says_the_timeline_keeps_the_first(open_incident, capsys):
    ws = str(open_incident)
    run(capsys, "status", ws, "acknowledged", "--at", "2026-11-03T14:24:00Z")
    code, out, _ = run(capsys, "status", ws, "acknowledged", "--at", "2026-11-03T14:25:00Z")
    assert code == 0
    assert "times.acknowledged: 2026-11-03T14:24:00Z -> 2026-11-03T14:25:00Z" in out
    assert "the timeline keeps the acknowledged event at 2026-11-03T14:24:00Z" in out
    assert len(timeline(open_incident)) == 2


def test_status_defaults_to_now(open_incident, capsys):
    code, _, _ = run(capsys, "status", str(open_incident), "acknowledged")
    assert code == 0
    acked = read_incident(open_incident).times.acknowledged
    assert acked is not None and acked.microsecond == 0
    assert timeline(open_incident)[0]["kind"] == "acknowledged"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("acknowledged", "--at", "2099-01-01T00:00:00Z"), "is in the future"),
        (("acknowledged", "--at", "2026-11-03T14:10:00Z"), "before it was detected"),
        (("resolved", "--at", "2026-11-03T14:20:00Z"), "before it was detected"),
        (("detected", "--at", "2026-11-03T13:00:00Z"), "before the incident window starts"),
        (("acknowledged", "--at", "2026-11-03T14:30:00"), "has no timezone"),
        (("acknowledged", "--at", "yesterday"), "is not an ISO 8601 timestamp"),
    ],
)
def test_impossible_status_changes_exit_2_and_write_nothing(open_incident, capsys, argv, fragment):
    record = (open_incident / "incident.yaml").read_bytes()
    code, out, err = run(capsys, "status", str(open_incident), *argv)
    assert code == 2 and out == ""
    assert fragment in one_error_line(err)
    assert (open_incident / "incident.yaml").read_bytes() == record
    assert not (open_incident / TIMELINE_FILE).exists()


def test_resolved_before_mitigated_exits_2(open_incident, capsys):
    ws = str(open_incident)
    assert run(capsys, "status", ws, "mitigated", "--at", "2026-11-03T14:35:00Z")[0] == 0
    code, _, err = run(capsys, "status", ws, "resolved", "--at", "2026-11-03T14:30:00Z")
    assert code == 2
    assert "before it was mitigated (2026-11-03T14:35:00Z)" in one_error_line(err)
    assert [e["kind"] for e in timeline(open_incident)] == ["mitigated"]


def test_an_unknown_status_is_a_usage_error(open_incident, capsys):
    with pytest.raises(SystemExit) as info:
        main(["status", str(open_incident), "fixed"])
    assert info.value.code == 2
    assert "invalid choice: 'fixed'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("   ",), "a note needs text"),
        (("x" * 501,), "keep it under 500"),
        (("later", "--at", "2099-01-01T00:00:00Z"), "is in the future"),
    ],
)
def test_bad_notes_exit_2_and_write_nothing(open_incident, capsys, argv, fragment):
    code, out, err = run(capsys, "note", str(open_incident), *argv)
    assert code == 2 and out == ""
    assert fragment in one_error_line(err)
    assert not (open_incident / TIMELINE_FILE).exists()


def test_a_note_is_redacted_and_written_once(open_incident, capsys):
    secret = PLANTED_SECRETS[0]
    argv = ("note", str(open_incident), f"curl -H 'Authorization: Bearer {secret}' worked",
            "--at", "2026-11-03T14:40:00Z")  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert code == 0 and secret not in out and "[REDACTED]" in out
    code, out, err = run(capsys, *argv)
    assert code == 0 and "already on the timeline" in err
    raw = (open_incident / TIMELINE_FILE).read_text(encoding="utf-8")
    assert secret not in raw and len(raw.splitlines()) == 1


def test_not_a_workspace_exits_2(tmp_path, capsys):
    for argv in (("note", str(tmp_path / "nope"), "text"), ("status", str(tmp_path), "resolved")):
        code, _, err = run(capsys, *argv)
        assert code == 2
        assert "incident" in one_error_line(err)


def test_a_damaged_timeline_exits_1_before_the_record_changes(open_incident, capsys):
    path = open_incident / TIMELINE_FILE
    path.write_text("garbage\n", encoding="utf-8")
    record = (open_incident / "incident.yaml").read_bytes()
    code, _, err = run(capsys, "status", str(open_incident), "acknowledged", "--at",
                       "2026-11-03T14:24:00Z")  # fmt: skip
    assert code == 1
    assert f"{path}: line 1 is not a timeline event" in one_error_line(err)
    assert (open_incident / "incident.yaml").read_bytes() == record
    code, _, err = run(capsys, "note", str(open_incident), "text")
    assert code == 1 and "line 1" in err
    assert path.read_text(encoding="utf-8") == "garbage\n"


def test_help_lists_the_new_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "status" in out and "note" in out
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    out = capsys.readouterr().out
    assert "acknowledged" in out and "resolved before mitigated" in out
