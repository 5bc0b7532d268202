"""`incident send`: the draft and masked requests shown, sent only with --confirm, exit codes.

Against the fakes of tests/comms (Slack's incoming webhook, GitHub's issues API),
configured through the environment as in production.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from github_server import GitHubServer
from records import INCIDENT
from slack_server import WEBHOOK_PATH, Answer, SlackServer

from incident_lib.cli import main
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import DEMO_MARKER, create_workspace


@pytest.fixture
def ws(tmp_path) -> Path:
    return create_workspace(INCIDENT, tmp_path / "INC-2026-0042").path


@pytest.fixture
def hook(monkeypatch) -> Iterator[SlackServer]:
    with SlackServer() as server:
        monkeypatch.setenv("INCIDENT_SLACK_WEBHOOK_URL", server.webhook)
        monkeypatch.delenv("INCIDENT_SLACK_BOT_TOKEN", raising=False)
        yield server


def test_without_confirm_it_shows_draft_and_requests_and_sends_nothing(ws, hook, capsys):
    assert main(["send", str(ws), "slack-announce"]) == 0
    out = capsys.readouterr()
    assert "draft (slack: announce):" in out.out and "api returns 500s" in out.out
    assert "dry run: nothing sent" in out.out and "POST ***" in out.out
    assert WEBHOOK_PATH not in out.out + out.err
    assert hook.requests == [] and TimelineStore(ws).read() == []


def test_confirm_sends_it_once_and_records_who(ws, hook, capsys):
    assert main(["send", str(ws), "slack-update", "--text", "Rolled back.", "--confirm",
                 "--by", "alice"]) == 0  # fmt: skip
    assert len(hook.requests) == 1 and "Rolled back." in json.dumps(hook.requests[0].json())
    assert capsys.readouterr().out.splitlines()[-1].startswith("sent: ")
    (event,) = TimelineStore(ws).read()
    assert (event.kind, event.author, event.section) == ("message", "alice", "cli")


def test_a_refused_send_exits_1_and_keeps_the_draft(ws, hook, capsys):
    hook.script = [Answer(status=400, body=b"invalid_blocks")]
    assert main(["send", str(ws), "slack-resolve", "--text", "Fixed.", "--confirm"]) == 1
    captured = capsys.readouterr()
    assert "FAILED: refused: 400" in captured.out and "the draft is kept in" in captured.err
    (kept,) = (ws / "comms" / "drafts").iterdir()
    assert "Fixed." in kept.read_text()


def test_refusals_before_sending_exit_2(ws, hook, capsys, monkeypatch):
    assert main(["send", str(ws), "status-update"]) == 2
    assert "status-update needs --text" in capsys.readouterr().err
    assert main(["send", str(ws), "page-ack"]) == 2
    assert "give --pagerduty PD_ID" in capsys.readouterr().err
    assert main(["send", str(ws), "status-update", "--text", "x"]) == 2
    assert "statuspage is not configured: set INCIDENT_STATUSPAGE_API_KEY" in (
        capsys.readouterr().err
    )
    (ws / DEMO_MARKER).write_text("connection-leak\n")
    assert main(["send", str(ws), "slack-announce", "--confirm"]) == 2
    assert "refused on a demo workspace" in capsys.readouterr().err
    assert hook.requests == []


POSTMORTEM = """\
action_items:
  - action: Alert when orders-db connections exceed 80 % of max_connections
    owner: alice
    priority: P2
  - action: Set idle_in_transaction_session_timeout
    priority: P1
"""


def test_issues_are_filed_once_and_the_postmortem_lists_them(ws, monkeypatch, capsys):
    (ws / "postmortem.yaml").write_text(POSTMORTEM)
    with GitHubServer() as server:
        monkeypatch.setenv("INCIDENT_GITHUB_TOKEN", server.token)
        monkeypatch.setenv("INCIDENT_GITHUB_REPO", f"{server.owner}/{server.repo}")
        monkeypatch.setenv("INCIDENT_GITHUB_API", server.api)
        assert main(["send", str(ws), "issues", "--confirm", "--by", "bob"]) == 0
        created = len(server.writes())
        assert created == 2
        assert main(["send", str(ws), "issues", "--confirm"]) == 0
        assert len(server.writes()) == created  # filed once
    document = (ws / "postmortem.md").read_text()
    assert "Filed as issues (from the timeline):" in document
    filed = document.split("Filed as issues (from the timeline):", 1)[1]
    assert filed.count(f"/{server.owner}/{server.repo}/issues/") == created
    timeline = document.split("## Timeline", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in timeline.splitlines() if "github: file action items" in line]
    assert len(rows) == 2  # one row per send, not one more per issue
    assert server.token not in document + capsys.readouterr().out


def test_a_page_note_carries_the_latest_bundles_diagnosis_and_link(ws, monkeypatch, capsys):
    from pagerduty_server import TOKEN, PagerDutyApi, incident_json

    run = ws / "runs" / "20261103T143000Z"
    run.mkdir(parents=True)
    diagnosis = {
        "headline": "deploy v2.34 -> 5xx share up to 12 %",
        "trigger": {"text": "deploy v2.34 at 14:10 UTC", "refs": []},
        "next_step": {"text": "roll back Deployment/api", "refs": []},
    }
    (run / "findings.json").write_text(json.dumps({"diagnosis": diagnosis, "findings": []}))
    with PagerDutyApi() as api:
        api.incidents["PT4KHLK"] = incident_json()
        monkeypatch.setenv("INCIDENT_PAGERDUTY_TOKEN", TOKEN)
        monkeypatch.setenv("INCIDENT_PAGERDUTY_FROM", "alice@example.com")
        monkeypatch.setenv("INCIDENT_PAGERDUTY_API", api.url)
        code = main(["send", str(ws), "page-note", "--pagerduty", "PT4KHLK", "--confirm"])
        assert code == 0, capsys.readouterr().err
        (note,) = api.writes()
    content = note.json()["note"]["content"]
    assert "deploy v2.34 -> 5xx share up to 12 %" in content
    assert "Next step: roll back Deployment/api" in content
    assert str(run / "index.html") in content


def test_a_page_note_without_a_bundle_or_text_says_what_to_do(ws, capsys):
    assert main(["send", str(ws), "page-note", "--pagerduty", "PT4KHLK"]) == 2
    assert "no bundle with a diagnosis" in capsys.readouterr().err
