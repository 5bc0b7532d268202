"""communicate(): drafts kept, dry run by default, refused offline and on demos, sends recorded.

The channel is a minimal one written here against the ``Channel`` protocol, sending
through httpx's ``MockTransport`` (every request recorded); the real channels have
their own tests against local servers of their APIs (tests/comms/).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from records import INCIDENT

from incident_lib.comms import Call, Draft, Http, Sent
from incident_lib.communicating import (
    channel_for,
    communicate,
    last_sent,
    remember_refs,
    sent_refs,
)
from incident_lib.core.errors import ActionRefused, InvalidInput, SourceUnavailable
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import DEMO_MARKER, create_workspace

TOKEN = "xoxb-FAKE-0123456789-abcdefABCDEFghij"
AT = datetime(2026, 11, 3, 14, 30, tzinfo=UTC)


class EchoChannel:
    """A Slack-like channel: one POST per draft, the answer's ``ts`` kept as a ref."""

    name = "slack"

    def __init__(self, answers: list[httpx.Response]) -> None:
        self.seen: list[httpx.Request] = []

        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return answers.pop(0) if answers else httpx.Response(200, json={"ts": "1.2"})

        self.http = Http(
            secrets=[TOKEN], transport=httpx.MockTransport(handle), sleep=lambda s: None
        )

    def calls(self, draft: Draft) -> tuple[Call, ...]:
        auth = (("Authorization", f"Bearer {TOKEN}"),)
        return (Call("POST", "https://chat.test/api/chat.postMessage", auth, draft.payload),)

    def send(self, draft: Draft) -> Sent:
        reply = self.http.request(self.calls(draft)[0])
        refs = {"slack_ts": reply.body["ts"]} if reply.ok and reply.body else {}
        return Sent(draft, reply.ok, reply.detail, (reply,), (), refs)


DRAFT = Draft(
    channel="slack",
    action="announce",
    text="INC-2026-0042 SEV-2 investigating: api returns 500s\nNext update by 15:00 UTC",
    payload={"channel": "C1", "text": "INC-2026-0042 SEV-2"},
)


@pytest.fixture
def workspace(tmp_path):
    return create_workspace(INCIDENT, tmp_path / "INC-2026-0042")


def people(workspace):
    return [e for e in TimelineStore(workspace.path).read() if e.source == "people"]


def test_a_dry_run_sends_and_writes_nothing_and_shows_the_masked_request(workspace):
    channel = EchoChannel([])
    done = communicate(workspace, DRAFT, channel, live=True, clock=lambda: AT)
    assert done.dry_run and channel.seen == []
    assert done.requests.splitlines()[:2] == [
        "POST https://chat.test/api/chat.postMessage",
        "Authorization: ***",
    ]
    assert done.kept is None and not (workspace.path / "comms").exists()  # nothing written
    assert people(workspace) == []


def test_confirm_sends_once_records_who_and_the_answer_and_keeps_the_ref(workspace):
    channel = EchoChannel([])
    done = communicate(
        workspace,
        DRAFT,
        channel,
        live=True,
        confirm=True,
        by="alice",
        section="01_triage",
        clock=lambda: AT,
    )
    assert len(channel.seen) == 1 and json.loads(channel.seen[0].content) == DRAFT.payload
    assert done.sent is not None and done.sent.ok
    assert done.kept is not None and done.kept.parent == workspace.path / "comms" / "drafts"
    kept = done.kept.read_text()
    assert "Next update by 15:00 UTC" in kept and TOKEN not in kept
    assert "POST https://chat.test/api/chat.postMessage\nAuthorization: " in kept
    (event,) = people(workspace)
    assert (event.kind, event.author, event.section, event.time) == (
        "message",
        "alice",
        "01_triage",
        AT,
    )
    assert event.summary.startswith("slack: announce by alice: 200; INC-2026-0042 SEV-2")
    assert sent_refs(workspace) == {"slack_ts": "1.2"}
    state = json.loads((workspace.path / "comms" / "state.json").read_text())
    assert state["sent"][0]["by"] == "alice" and state["sent"][0]["ok"] is True
    assert last_sent(workspace, "slack") == AT
    assert last_sent(workspace, "statuspage") is None


def test_a_failed_send_is_recorded_as_failed_and_the_draft_is_kept(workspace):
    channel = EchoChannel([httpx.Response(401, json={"error": "invalid_auth"})])
    done = communicate(workspace, DRAFT, channel, live=True, confirm=True, clock=lambda: AT)
    assert done.sent is not None and not done.sent.ok
    assert "the token was refused" in done.sent.detail
    (event,) = people(workspace)
    assert event.kind == "message_failed" and TOKEN not in event.summary
    assert done.kept is not None and "Next update by 15:00 UTC" in done.kept.read_text()
    assert sent_refs(workspace) == {}
    assert last_sent(workspace, "slack") is None  # a failed send starts no cadence


def test_confirm_is_refused_offline_and_on_a_demo_workspace_before_any_request(workspace):
    channel = EchoChannel([])
    with pytest.raises(ActionRefused, match="refused offline"):
        communicate(workspace, DRAFT, channel, live=False, confirm=True)
    (workspace.path / DEMO_MARKER).write_text("connection-leak\n")
    with pytest.raises(ActionRefused, match="demo workspace"):
        communicate(workspace, DRAFT, channel, live=True, confirm=True)
    assert channel.seen == [] and people(workspace) == []
    assert len(list((workspace.path / "comms" / "drafts").iterdir())) == 2  # both kept


def test_a_draft_for_another_channel_is_refused(workspace):
    other = Draft(channel="github", action="file action items", text="x")
    with pytest.raises(InvalidInput, match="cannot be sent through slack"):
        communicate(workspace, other, EchoChannel([]), live=True)


def test_refs_accumulate_and_a_broken_state_file_is_named(workspace):
    remember_refs(workspace, {"pagerduty_incident": "PT4KHLK"})
    remember_refs(workspace, {"statuspage_incident": "p31zjtct2jer"})
    assert sent_refs(workspace) == {
        "pagerduty_incident": "PT4KHLK",
        "statuspage_incident": "p31zjtct2jer",
    }
    (workspace.path / "comms" / "state.json").write_text("{not json")
    with pytest.raises(InvalidInput, match=r"comms/state\.json is not readable JSON"):
        sent_refs(workspace)


@pytest.mark.parametrize("name", ["pagerduty", "slack", "statuspage", "github"])
def test_an_unconfigured_channel_names_the_variables_to_set(name):
    with pytest.raises(SourceUnavailable, match="not configured: set INCIDENT_"):
        channel_for(name, environ={})


def test_an_unknown_channel_is_refused():
    with pytest.raises(InvalidInput, match="is not one of pagerduty, slack"):
        channel_for("email", environ={})


def test_what_leaves_the_machine_is_redacted_like_everything_shown(workspace):
    leaked = "postgres://app:hunter2@db.prod:5432/orders"
    draft = Draft(
        channel="slack",
        action="status update",
        text=f"errors mention {leaked}",
        payload={"channel": "C1", "text": f"errors mention {leaked}"},
    )
    channel = EchoChannel([])
    done = communicate(workspace, draft, channel, live=True, confirm=True, clock=lambda: AT)
    sent = json.loads(channel.seen[0].content)
    assert "hunter2" not in sent["text"] and sent["text"].startswith("errors mention ")
    assert done.kept is not None and "hunter2" not in done.kept.read_text()
    assert "hunter2" not in done.requests


class ManyLinks(EchoChannel):
    name = "github"

    def send(self, draft: Draft) -> Sent:
        links = tuple(f"https://github.com/acme/api/issues/{n}" for n in range(1, 13))
        return Sent(draft, True, "created 12 issues", (), links, {})


def test_every_link_of_a_send_lands_on_the_timeline_even_past_a_summarys_length(workspace):
    draft = Draft(channel="github", action="file action items", text="12 items", payload=[])
    communicate(workspace, draft, ManyLinks([]), live=True, confirm=True, clock=lambda: AT)
    main, *each = people(workspace)
    assert main.kind == "message" and len(main.summary) <= 500
    assert [e.kind for e in each] == ["message_link"] * 12
    assert {e.summary.rsplit(" ", 1)[1] for e in each} == {
        f"https://github.com/acme/api/issues/{n}" for n in range(1, 13)
    }
    communicate(workspace, draft, ManyLinks([]), live=True, confirm=True, clock=lambda: AT)
    assert len(people(workspace)) == 13  # filed again: the same links are not added twice


def test_two_sends_within_one_second_are_two_events(workspace):
    first = datetime(2026, 11, 3, 14, 30, 0, 100_000, tzinfo=UTC)
    second = datetime(2026, 11, 3, 14, 30, 0, 900_000, tzinfo=UTC)
    for at in (first, second):
        communicate(
            workspace, DRAFT, EchoChannel([]), live=True, confirm=True, clock=lambda at=at: at
        )
    assert [e.time for e in people(workspace)] == [first, second]
