"""Runbook.send: the draft and the masked request shown; sent only live with confirm; recorded.

Slack is the fake of tests/comms/slack_server.py (its documented webhook), configured
through the environment as in production.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_runbook import _workspace
from test_runbook import screen as screen  # the fixture

sys.path.insert(0, str(Path(__file__).resolve().parent / "comms"))

from slack_server import WEBHOOK_PATH, SlackServer

from incident_lib.comms import Draft, slack
from incident_lib.infra.timeline import TimelineStore
from incident_lib.runbook import start_runbook

NOW = datetime(2026, 11, 3, 14, 40, tzinfo=UTC)


@pytest.fixture
def hook(monkeypatch) -> Iterator[SlackServer]:
    with SlackServer() as server:
        monkeypatch.setenv("INCIDENT_SLACK_WEBHOOK_URL", server.webhook)
        for name in ("INCIDENT_SLACK_BOT_TOKEN", "INCIDENT_SLACK_CHANNEL"):
            monkeypatch.delenv(name, raising=False)
        yield server


def announcement(rb) -> Draft:
    return slack.announcement(rb.incident, next_update=slack.next_update_at(rb.incident, NOW))


def test_a_dry_run_shows_the_draft_and_the_masked_request_and_sends_nothing(tmp_path, hook, screen):
    rb = start_runbook("01_triage", workspace=_workspace(tmp_path), mode="live")
    assert rb.send(announcement(rb)) is None
    shown = screen.take()
    assert "Draft — slack: announce" in shown and "Checkout returns 500s" in shown
    assert "Dry run: nothing sent" in shown and "POST ***" in shown
    assert WEBHOOK_PATH not in shown and hook.requests == []


def test_confirmed_live_it_posts_once_and_the_timeline_says_who(tmp_path, hook, screen):
    ws = _workspace(tmp_path)
    rb = start_runbook("01_triage", workspace=ws, mode="live")
    sent = rb.send(announcement(rb), confirm=True, by="alice")
    assert sent is not None and sent.ok and len(hook.requests) == 1
    assert "**Sent:** posted \\(200\\)" in screen.take()
    (event,) = [e for e in TimelineStore(ws).read() if e.kind == "message"]
    assert (event.author, event.section) == ("alice", "01_triage")
    assert rb.last_sent("slack") is not None


def test_offline_a_confirmed_send_is_refused_and_the_draft_kept(tmp_path, hook, screen):
    ws = _workspace(tmp_path)
    rb = start_runbook("01_triage", workspace=ws, mode="offline")
    assert rb.send(announcement(rb), confirm=True) is None
    assert "refused offline" in screen.take() and hook.requests == []
    assert len(list((ws / "comms" / "drafts").iterdir())) == 1


def test_an_unconfigured_channel_says_what_to_set_and_writes_nothing_on_a_dry_run(
    tmp_path, monkeypatch, screen
):
    monkeypatch.delenv("INCIDENT_SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("INCIDENT_SLACK_BOT_TOKEN", raising=False)
    ws = _workspace(tmp_path)
    rb = start_runbook("01_triage", workspace=ws, mode="live")
    rb.send(announcement(rb))
    assert "not configured: set INCIDENT\\_SLACK\\_WEBHOOK\\_URL" in screen.take()
    assert not (ws / "comms").exists()
    rb.send(announcement(rb), confirm=True)
    assert "the draft is kept in" in screen.take()
    assert len(list((ws / "comms" / "drafts").iterdir())) == 1
