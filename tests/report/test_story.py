"""The story of a workspace: timeline persisted once, notes in it, safe rendering, summary size."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from incident_lib.analysis.diagnosis import Clause
from incident_lib.cli import main
from incident_lib.core.errors import InvalidInput
from incident_lib.demo import SCENARIOS, ensure_demo
from incident_lib.infra.timeline import TimelineStore, add_note
from incident_lib.infra.workspace import open_workspace
from incident_lib.report.story import (
    SUMMARY_LIMIT,
    build_story,
    read_story_evidence,
    resolve_ref,
    story_html,
    summary_markdown,
)


@pytest.fixture(scope="module")
def leak_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(ensure_demo("connection-leak"))
    target = tmp_path_factory.mktemp("story") / "leak"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("runs", "timeline.jsonl"))
    return target


@pytest.fixture
def leak(leak_copy: Path, tmp_path: Path) -> Path:
    target = tmp_path / "leak"
    shutil.copytree(leak_copy, target)
    return target


def test_rebuilding_the_story_appends_nothing_twice(leak: Path) -> None:
    ws = open_workspace(leak)
    first = build_story(ws)
    lines = (leak / "timeline.jsonl").read_text().splitlines()
    second = build_story(ws)
    assert (leak / "timeline.jsonl").read_text().splitlines() == lines
    assert list(first.timeline["id"]) == list(second.timeline["id"])
    assert first.diagnosis == second.diagnosis


def test_without_record_the_timeline_file_is_not_written(leak: Path) -> None:
    story = build_story(open_workspace(leak), record=False)
    assert not (leak / "timeline.jsonl").exists()
    assert len(story.timeline) and story.timeline["id"].is_unique


def test_events_point_at_the_captured_file_they_came_from(leak: Path) -> None:
    story = build_story(open_workspace(leak), record=False)
    with_rows = story.timeline[story.timeline["row"] >= 0]
    assert len(with_rows)
    for file in set(with_rows["file"]):
        assert file.startswith("evidence/") and (leak / file).exists()


def test_a_human_note_is_on_the_timeline_and_in_what_was_done(leak: Path) -> None:
    add_note(leak, "paused the batch worker", at="2026-11-03T14:30:00Z", author="alice")
    story = build_story(open_workspace(leak))
    done = " ".join(c.text for c in story.diagnosis.actions)
    assert "14:30 UTC: paused the batch worker (alice)" in done
    assert sum(1 for e in TimelineStore(leak).read() if e.kind == "note") == 1


def test_a_status_recorded_with_the_cli_is_one_event_with_the_record(leak: Path) -> None:
    """`incident status` writes an event the story would derive from the record: no duplicate."""
    record = (leak / "incident.yaml").read_text()
    (leak / "incident.yaml").write_text(
        record.replace("resolved: '2026-11-03T14:50:00Z'", "resolved: null")
        .replace("resolved: 2026-11-03T14:50:00Z", "resolved: null")
        .replace("status: resolved", "status: monitoring")
    )
    assert open_workspace(leak).incident.times.resolved is None
    assert main(["status", str(leak), "resolved", "--at", "2026-11-03T14:50:00Z"]) == 0
    story = build_story(open_workspace(leak))
    resolved = story.timeline[story.timeline["kind"] == "resolved"]
    assert len(resolved) == 1


def test_story_html_quotes_text_from_the_systems(leak: Path) -> None:
    story = build_story(open_workspace(leak), record=False)
    hostile = Clause("<script>alert(1)</script> & <b>bold</b>", ("kubernetes/logs#row=3",))
    story = replace(story, diagnosis=replace(story.diagnosis, mechanism=(hostile,)))
    page = story_html(story, notebooks=["04_logs"])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>bold</b>" not in page
    assert "href='../../evidence/" in page  # the row reference links to the captured file


def test_references_resolve_to_files_pages_or_plain_text() -> None:
    files = {"kubernetes/rollouts": "evidence/0001-kubernetes-rollouts.parquet"}
    kw = {"files": files, "notebooks": ["03_changes"], "workspace_href": "../../"}
    assert resolve_ref("kubernetes/rollouts#row=3", **kw) == (
        "kubernetes/rollouts row 3",
        "../../evidence/0001-kubernetes-rollouts.parquet",
    )
    assert resolve_ref("evidence/0001-kubernetes-rollouts.parquet#row=4", **kw) == (
        "kubernetes/rollouts row 4",
        "../../evidence/0001-kubernetes-rollouts.parquet",
    )
    assert resolve_ref("03_changes", **kw) == ("03_changes", "03_changes.html")
    assert resolve_ref("09_mitigate", **kw) == ("09_mitigate", "")  # not in this run
    assert resolve_ref("timeline", **kw) == ("timeline", "../../timeline.jsonl")


def test_summary_stays_under_the_limit_however_long_the_clauses(leak: Path) -> None:
    story = build_story(open_workspace(leak), record=False)
    long = Clause("x" * 3000 + " " + "word " * 800, ("04_logs",))
    d = replace(story.diagnosis, mechanism=(long,) * 5, symptoms=long, impact=long)
    text = summary_markdown(replace(story, diagnosis=d), bundle="runs/x/index.html")
    assert len(text) <= SUMMARY_LIMIT
    assert "Trigger" in text and "Next step" in text


def test_missing_evidence_is_unknown_in_the_story(leak: Path) -> None:
    manifest = leak / "evidence" / "manifest.jsonl"
    kept = [line for line in manifest.read_text().splitlines() if '"rollouts"' not in line]
    # drop the rollouts capture: the chain no longer verifies, but the story reads what is left
    manifest.write_text("\n".join(kept) + "\n")
    story = build_story(open_workspace(leak), record=False)
    assert "kubernetes/rollouts" in story.diagnosis.unknown
    trigger = story.diagnosis.trigger
    assert trigger is not None
    # the Datadog deploy event still points at v2.34, but the gap is said, not hidden
    assert "kubernetes/rollouts could not be read" in trigger.text


def test_postmortem_refuses_an_invalid_postmortem_yaml(leak: Path, capsys) -> None:
    (leak / "postmortem.yaml").write_text("root_cause: 42\nsurprise: yes\n")
    assert main(["postmortem", str(leak)]) == 2
    err = capsys.readouterr().err
    assert "postmortem.yaml" in err and "surprise" in err
    assert not (leak / "postmortem.md").exists()


def test_postmortem_uses_the_humans_words_where_given(leak: Path) -> None:
    truth = SCENARIOS["connection-leak"].truth
    (leak / "postmortem.yaml").write_text(
        "root_cause: The batch flush left transactions open on abort.\n"
        "action_items:\n"
        "  - action: Set idle_in_transaction_session_timeout on orders-db\n"
        "    owner: bruno.silva\n"
        "    deadline: 2026-12-01\n"
        "    priority: P1\n"
    )
    assert main(["postmortem", str(leak)]) == 0
    document = (leak / "postmortem.md").read_text()
    assert "The batch flush left transactions open on abort" in document
    assert "bruno\\.silva" in document or "bruno.silva" in document
    assert truth.bad_version in document.replace("\\", "")


def test_evidence_read_ahead_gives_the_same_story_with_what_the_timeline_got_since(
    leak: Path,
) -> None:
    """A bundle reads the evidence while its notebooks run; a note added meanwhile is in."""
    ws = open_workspace(leak)
    ahead = read_story_evidence(ws)
    assert not (leak / "timeline.jsonl").exists()  # reading writes nothing
    add_note(ws, "rolled back orders-api to v41", at="2026-11-03T14:20:00Z", author="ana")
    story = build_story(ws, evidence=ahead)
    fresh = build_story(ws)
    assert "rolled back orders-api to v41" in set(story.timeline["summary"])
    assert list(story.timeline["id"]) == list(fresh.timeline["id"])
    assert story.diagnosis == fresh.diagnosis
    assert (story.as_of, story.window, story.onset) == (fresh.as_of, fresh.window, fresh.onset)
    assert story.errors.equals(fresh.errors)


def test_evidence_read_for_another_moment_is_refused(leak: Path) -> None:
    ws = open_workspace(leak)
    ahead = read_story_evidence(ws)
    other = ahead.as_of - timedelta(minutes=5)
    with pytest.raises(InvalidInput, match="read_story_evidence"):
        build_story(ws, as_of=other, evidence=ahead)
    assert build_story(ws, as_of=ahead.as_of, evidence=ahead).as_of == ahead.as_of
