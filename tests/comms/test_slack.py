"""Slack: drafts in Block Kit, and real HTTP against a local fake of the webhook and Web API.

The fake (``slack_server``) implements the documented request and response shapes
(tests/data/comms/SOURCES_slack.md) and records every request; ``sleep`` is
injected and records the waits, so nothing here waits for a back-off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from incident_records import sample_incident
from slack_server import BOT_TOKEN, CHANNEL_ID, WEBHOOK_PATH, Answer, SlackServer

from incident_lib.comms.slack import (
    SLACK_BLOCKS,
    SLACK_FIELD_CHARS,
    SLACK_HEADER_CHARS,
    SLACK_TEXT_CHARS,
    Slack,
    announcement,
    next_update_at,
    resolution,
    status_update,
)
from incident_lib.communicating import communicate, sent_refs
from incident_lib.core.errors import ActionRefused, InvalidInput
from incident_lib.core.incident import Times
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import DEMO_MARKER, Workspace, create_workspace

AT = datetime(2026, 11, 3, 14, 10, 20, tzinfo=UTC)
INCIDENT = sample_incident(
    end=None,
    title="api 5xx <!channel>",
    start=datetime(2026, 11, 3, 14, 0, tzinfo=UTC),
    roles={"incident_commander": "alice", "communications": "bruno"},
    impact="checkout fails for 14 % of requests & rising",
    detected=datetime(2026, 11, 3, 14, 5, tzinfo=UTC),
)
RESOLVED = INCIDENT.with_changes(
    status="resolved",
    times=Times(
        detected=datetime(2026, 11, 3, 14, 5, tzinfo=UTC),
        resolved=datetime(2026, 11, 3, 15, 17, tzinfo=UTC),
    ),
)
HEAD = "INC-2026-0042 · SEV-2 · investigating: api 5xx &lt;!channel&gt;"
JSON = "application/json; charset=utf-8"
SECRETS = (BOT_TOKEN, WEBHOOK_PATH, "fakeSlackHookSecret0123456789ab")


class Sleeps(list[float]):
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[SlackServer]:
    with SlackServer() as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return create_workspace(INCIDENT, tmp_path / "INC-2026-0042")


def webhook(server: SlackServer, sleeps: Sleeps | None = None, **options: Any) -> Slack:
    environ = {"INCIDENT_SLACK_WEBHOOK_URL": server.webhook}
    channel = Slack.from_environment(environ)
    assert channel is not None and channel.mode == "webhook"
    return Slack(
        webhook_url=server.webhook, sleep=sleeps if sleeps is not None else Sleeps(), **options
    )


def bot(server: SlackServer, sleeps: Sleeps | None = None, **options: Any) -> Slack:
    return Slack(
        bot_token=BOT_TOKEN,
        channel="#incidents",
        api=server.api,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


def announce() -> Any:
    return announcement(INCIDENT, next_update=next_update_at(INCIDENT, AT), headline="deploy v2.34")


def send(workspace: Workspace, draft: Any, channel: Slack, **options: Any) -> Any:
    return communicate(
        workspace, draft, channel, live=True, confirm=True, by="alice", clock=lambda: AT, **options
    )


def events(workspace: Workspace) -> list[tuple[str, str]]:
    return [(e.kind, e.summary) for e in TimelineStore(workspace).read() if e.source == "people"]


# --- drafts ----------------------------------------------------------------------------


def test_announcement_is_block_kit_with_roles_channel_and_next_update() -> None:
    draft = announce()

    assert (draft.channel, draft.action, draft.target) == ("slack", "announce", "")
    assert draft.text == (
        "INC-2026-0042 · SEV-2 · investigating: api 5xx <!channel>\n"
        "deploy v2.34\n"
        "Impact: checkout fails for 14 % of requests & rising\n"
        "Incident commander: alice\n"
        "Tech lead: unassigned\n"
        "Communications lead: bruno\n"
        "Scribe: unassigned\n"
        "Join #inc-2026-0042\n"
        "Next update by 14:41 UTC (every 30 min for SEV-2)."
    )
    assert draft.payload == {
        "text": f"{HEAD}: deploy v2.34",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": HEAD, "emoji": False}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        "deploy v2.34\nImpact: checkout fails for 14 % of requests &amp; rising"
                    ),
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Incident commander*\nalice"},
                    {"type": "mrkdwn", "text": "*Tech lead*\nunassigned"},
                    {"type": "mrkdwn", "text": "*Communications lead*\nbruno"},
                    {"type": "mrkdwn", "text": "*Scribe*\nunassigned"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "Join #inc-2026-0042"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "Next update by 14:41 UTC (every 30 min for SEV-2)."}
                ],
            },
        ],
    }
    assert "<!channel>" not in json.dumps(draft.payload)


def test_next_update_follows_the_severity_cadence() -> None:
    assert next_update_at(INCIDENT, AT) == datetime(2026, 11, 3, 14, 41, tzinfo=UTC)
    sev3 = INCIDENT.with_changes(severity="SEV-3")
    on_the_minute = datetime(2026, 11, 3, 14, 10, tzinfo=UTC)
    assert next_update_at(sev3, on_the_minute) == datetime(2026, 11, 3, 15, 10, tzinfo=UTC)
    draft = status_update(sev3, "rolled back", next_update=next_update_at(sev3, on_the_minute))
    assert draft.text.endswith("Next update by 15:10 UTC (every 1 h 00 min for SEV-3).")


def test_status_update_in_the_thread_and_resolution_with_its_duration() -> None:
    update = status_update(
        INCIDENT,
        "rolled back to v2.33 <@U123>\n5xx share back to 0.1 %",
        next_update=datetime(2026, 11, 3, 15, 0, tzinfo=UTC),
        thread_ts="1700000001.000100",
    )
    assert update.action == "status update"
    assert update.payload["thread_ts"] == "1700000001.000100"
    assert update.payload["blocks"][1]["text"]["text"] == (
        "rolled back to v2.33 &lt;@U123&gt;\n5xx share back to 0.1 %"
    )
    assert (
        update.text.splitlines()[0] == f"Update: {HEAD.replace('&lt;', '<').replace('&gt;', '>')}"
    )

    done = resolution(RESOLVED, "rolled back to v2.33")
    assert done.action == "resolution"
    assert done.text == (
        "Resolved: INC-2026-0042 · SEV-2: api 5xx <!channel>\n"
        "rolled back to v2.33\n"
        "Detected: 2026-11-03 14:05 UTC\n"
        "Resolved: 2026-11-03 15:17 UTC\n"
        "Duration: 1 h 12 min"
    )
    assert done.payload["blocks"][2]["fields"][-1] == {
        "type": "mrkdwn",
        "text": "*Duration*\n1 h 12 min",
    }
    ongoing = resolution(INCIDENT, "")
    assert "Duration: not recorded (set times.resolved in incident.yaml)" in ongoing.text


@pytest.mark.parametrize("thread_ts", ["abc", "1700000001", "1.2.3", "1700000001.1 x"])
def test_a_malformed_thread_ts_or_an_empty_update_is_refused(thread_ts: str) -> None:
    with pytest.raises(InvalidInput, match="thread_ts"):
        resolution(INCIDENT, "done", thread_ts=thread_ts)
    with pytest.raises(InvalidInput, match="needs text"):
        status_update(INCIDENT, "  ", next_update=AT)


def test_limits_hold_even_when_escaping_lengthens_the_text() -> None:
    huge = INCIDENT.with_changes(title="<" * 190, impact="& " * 240)
    draft = announcement(
        huge, next_update=AT, headline="<x> " * 3000, join="#" + "c" * 79, link="/srv/b"
    )
    update = status_update(huge, "<x> " * 5000, next_update=AT)
    for payload in (draft.payload, update.payload):
        blocks = payload["blocks"]
        assert len(blocks) <= SLACK_BLOCKS
        assert len(blocks[0]["text"]["text"]) <= SLACK_HEADER_CHARS
        assert len(payload["text"]) <= SLACK_TEXT_CHARS
        for block in blocks[1:]:
            for text in _texts(block):
                assert 0 < len(text) <= SLACK_TEXT_CHARS
                assert "<" not in text and ">" not in text
        for block in blocks:
            for field in block.get("fields", []):
                assert len(field["text"]) <= SLACK_FIELD_CHARS


def _texts(block: dict[str, Any]) -> list[str]:
    found = [block["text"]["text"]] if "text" in block else []
    found += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return found + [f["text"] for f in block.get("fields", [])]


# --- the exact requests -----------------------------------------------------------------


def test_webhook_post_on_confirm_and_the_timeline(
    server: SlackServer, workspace: Workspace
) -> None:
    draft = announce()
    done = send(workspace, draft, webhook(server), section="01_triage")

    [request] = server.requests
    assert (request.method, request.path) == ("POST", WEBHOOK_PATH)
    assert request.headers["content-type"] == JSON
    assert "authorization" not in request.headers
    assert request.json() == draft.payload
    assert done.sent is not None and done.sent.ok
    assert done.sent.detail == "posted (200)" and done.sent.refs == {}
    [(kind, summary)] = events(workspace)
    assert kind == "message"
    assert summary.startswith("slack: announce by alice: posted (200); INC-2026-0042 · SEV-2")
    [entry] = TimelineStore(workspace).read()
    assert (entry.section, entry.author, entry.time) == ("01_triage", "alice", AT)


def test_bot_post_keeps_the_ts_and_the_update_goes_in_its_thread(
    server: SlackServer, workspace: Workspace
) -> None:
    channel = bot(server)
    first = send(workspace, announce(), channel)

    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/api/chat.postMessage")
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert request.headers["content-type"] == JSON
    assert request.json() == {"channel": "#incidents", **announce().payload}
    assert first.sent is not None and first.sent.ok
    ts = "1700000001.000100"
    assert first.sent.detail == f"posted to {CHANNEL_ID} (ts {ts})"
    assert sent_refs(workspace) == {"slack_ts": ts, "slack_channel": CHANNEL_ID}

    update = status_update(
        INCIDENT, "rolled back", next_update=AT, thread_ts=sent_refs(workspace)["slack_ts"]
    )
    second = send(workspace, update, channel)

    assert server.requests[1].json()["thread_ts"] == ts
    assert second.sent is not None and second.sent.ok
    assert (
        second.sent.detail == f"posted to {CHANNEL_ID} in the thread of {ts} (ts 1700000002.000100)"
    )
    assert sent_refs(workspace)["slack_ts"] == ts  # the thread's parent stays the ref
    assert [kind for kind, _ in events(workspace)] == ["message", "message"]


def test_dry_run_sends_nothing_and_shows_the_request_masked(
    server: SlackServer, workspace: Workspace
) -> None:
    for channel in (webhook(server), bot(server)):
        done = communicate(workspace, announce(), channel, live=True, clock=lambda: AT)
        assert done.dry_run and done.sent is None
        assert '"blocks": [' in done.requests
        for secret in SECRETS:
            assert secret not in done.requests
    assert server.requests == []
    assert events(workspace) == []
    bot_shown = communicate(workspace, announce(), bot(server), live=True).requests
    assert bot_shown.splitlines()[:3] == [
        f"POST {server.api}/chat.postMessage",
        "Authorization: ***",
        f"Content-Type: {JSON}",
    ]
    hook_shown = communicate(workspace, announce(), webhook(server), live=True).requests
    assert hook_shown.splitlines()[:2] == ["POST ***", f"Content-Type: {JSON}"]


def test_refused_offline_and_on_a_demo_workspace_with_the_draft_kept(
    server: SlackServer, workspace: Workspace
) -> None:
    with pytest.raises(ActionRefused, match="refused offline"):
        communicate(workspace, announce(), bot(server), live=False, confirm=True)
    (workspace.path / DEMO_MARKER).write_text("connection-leak\n")
    with pytest.raises(ActionRefused, match="demo workspace"):
        communicate(workspace, announce(), webhook(server), live=True, confirm=True)

    assert server.requests == []
    assert events(workspace) == []
    kept = sorted((workspace.path / "comms" / "drafts").glob("*.md"))
    assert len(kept) == 2
    assert all("Incident commander: alice" in f.read_text() for f in kept)


# --- failures ---------------------------------------------------------------------------


def test_ok_false_is_a_failed_send_with_the_draft_kept(
    server: SlackServer, workspace: Workspace
) -> None:
    server.script.append(Answer.web({"ok": False, "error": "not_in_channel"}))

    done = send(workspace, announce(), bot(server))

    assert done.sent is not None and not done.sent.ok
    assert done.sent.detail == (
        "refused: chat.postMessage: not_in_channel: invite the app to the channel first"
    )
    assert sent_refs(workspace) == {}
    [(kind, summary)] = events(workspace)
    assert kind == "message_failed" and "not_in_channel" in summary
    assert "Incident commander: alice" in done.kept.read_text()


def test_the_documented_web_api_refusals(server: SlackServer) -> None:
    wrong = Slack(bot_token="xoxb-wrong-token-0000", channel="#incidents", api=server.api)
    assert wrong.send(announce()).detail == (
        "refused: chat.postMessage: invalid_auth: check INCIDENT_SLACK_BOT_TOKEN"
    )
    elsewhere = Slack(bot_token=BOT_TOKEN, channel="#nowhere", api=server.api)
    detail = elsewhere.send(announce()).detail
    assert detail.startswith("refused: chat.postMessage: channel_not_found: check ")
    server.script.append(
        Answer.web({"ok": False, "error": "missing_scope", "needed": "chat:write"})
    )
    assert bot(server).send(announce()).detail == (
        "refused: chat.postMessage: missing_scope (needs chat:write): the token needs the "
        "chat:write scope"
    )


def test_429_is_retried_after_retry_after(server: SlackServer, workspace: Workspace) -> None:
    server.script.append(Answer(429, b"rate_limited", (("Retry-After", "7"),)))
    sleeps = Sleeps()

    done = send(workspace, announce(), webhook(server, sleeps))

    assert done.sent is not None and done.sent.ok
    assert sleeps == [7.0]
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


def test_a_rate_limit_longer_than_max_wait_is_reported_with_its_reset(
    server: SlackServer,
) -> None:
    server.script.append(Answer.web({"ok": False, "error": "ratelimited"}, status=429))
    server.script[-1] = Answer(429, server.script[-1].body, (("Retry-After", "600"),))
    sleeps = Sleeps()

    sent = bot(server, sleeps, max_wait=30).send(announce())

    assert not sent.ok and sleeps == [] and len(server.requests) == 1
    assert sent.detail.startswith("refused: 429 rate limited")
    assert "the limit resets in 600 s (at " in sent.detail and sent.detail.endswith(
        "UTC); try again then"
    )


@pytest.mark.parametrize(
    ("answers", "detail"),
    [
        (
            [Answer(400, b"invalid_payload")],
            "refused: 400 bad request (invalid_payload)",
        ),
        (
            [Answer(401, b"")],
            "refused: 401 unauthorized: the token was refused (check it is set and valid)",
        ),
        (
            [Answer(403, b"invalid_token")],
            "refused: 403 forbidden: the token lacks a permission (or a rate limit) "
            "(invalid_token): the webhook is no longer valid: check INCIDENT_SLACK_WEBHOOK_URL",
        ),
        (
            [Answer(404, b"no_service")],
            "refused: 404 not found (check the id and that the token can see it) (no_service): "
            "the webhook was removed or is wrong: check INCIDENT_SLACK_WEBHOOK_URL",
        ),
        (
            [Answer(410, b"channel_is_archived")],
            "refused: 410 gone (channel_is_archived): the channel is archived: unarchive it or "
            "make a new webhook",
        ),
        ([Answer(500, b"rollup_error")] * 4, "gave up after 4 attempts: 500 (rollup_error)"),
    ],
)
def test_failures_are_reported_clearly_with_the_draft_kept(
    server: SlackServer, workspace: Workspace, answers: list[Answer], detail: str
) -> None:
    server.script += answers
    sleeps = Sleeps()

    done = send(workspace, announce(), webhook(server, sleeps))

    assert done.sent is not None and not done.sent.ok
    assert done.sent.detail == detail
    assert len(server.requests) == len(answers)
    assert sleeps == ([0.5, 1.0, 2.0] if len(answers) == 4 else [])
    [(kind, summary)] = events(workspace)
    assert kind == "message_failed" and detail.split(":")[0] in summary
    assert "Incident commander: alice" in done.kept.read_text()


def test_a_timed_out_post_is_not_sent_twice(server: SlackServer, workspace: Workspace) -> None:
    server.script.append(Answer(hang=True))

    done = send(workspace, announce(), bot(server, timeout=0.3))

    assert done.sent is not None and not done.sent.ok
    assert done.sent.detail == (
        "refused: no answer within 0.3 s; it may or may not have been applied: check before "
        "sending again"
    )
    assert len(server.requests) == 1
    assert events(workspace)[0][0] == "message_failed"


def test_a_non_json_answer_from_the_web_api_is_a_failure(server: SlackServer) -> None:
    server.script.append(Answer(200, b"<html>proxy</html>", (("Content-Type", "text/html"),)))

    sent = bot(server).send(announce())

    assert not sent.ok
    assert sent.detail == "failed: chat.postMessage answered 200 without Slack's JSON"


# --- configuration ----------------------------------------------------------------------


def test_from_environment() -> None:
    hook = "https://hooks.slack.com" + WEBHOOK_PATH
    assert Slack.from_environment({}) is None
    assert Slack.from_environment({"INCIDENT_SLACK_WEBHOOK_URL": " "}) is None
    only_hook = Slack.from_environment({"INCIDENT_SLACK_WEBHOOK_URL": hook})
    assert only_hook is not None and only_hook.mode == "webhook"
    both = Slack.from_environment(
        {
            "INCIDENT_SLACK_WEBHOOK_URL": hook,
            "INCIDENT_SLACK_BOT_TOKEN": BOT_TOKEN,
            "INCIDENT_SLACK_CHANNEL": "C0FAKE0INC",
            "INCIDENT_SLACK_API": "https://slack.example/api/",
        }
    )
    assert both is not None and both.mode == "bot" and both.name == "slack"
    [call] = both.calls(announce())
    assert call.url == "https://slack.example/api/chat.postMessage"
    assert call.body["channel"] == "C0FAKE0INC"


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"INCIDENT_SLACK_BOT_TOKEN": BOT_TOKEN}, "INCIDENT_SLACK_CHANNEL"),
        (
            {"INCIDENT_SLACK_BOT_TOKEN": BOT_TOKEN, "INCIDENT_SLACK_CHANNEL": "#a b"},
            "INCIDENT_SLACK_CHANNEL",
        ),
        (
            {
                "INCIDENT_SLACK_BOT_TOKEN": "xoxb-" + BOT_TOKEN[5:] + " x",
                "INCIDENT_SLACK_CHANNEL": "C1",
            },
            "one word",
        ),
        ({"INCIDENT_SLACK_WEBHOOK_URL": "hooks.slack.com" + WEBHOOK_PATH}, "http"),
        ({"INCIDENT_SLACK_WEBHOOK_URL": "ftp://hooks.slack.com" + WEBHOOK_PATH}, "http"),
    ],
)
def test_malformed_settings_are_refused_without_quoting_a_secret(
    environ: dict[str, str], match: str
) -> None:
    with pytest.raises(InvalidInput, match=match) as error:
        Slack.from_environment(environ)
    for secret in (*SECRETS, BOT_TOKEN[5:]):
        assert secret not in str(error.value)


def test_a_draft_of_another_channel_is_refused(server: SlackServer) -> None:
    from incident_lib.comms import Draft

    with pytest.raises(InvalidInput, match="github draft"):
        bot(server).calls(Draft("github", "file action items", "x", {"text": "x"}))
    with pytest.raises(InvalidInput, match="text or blocks"):
        bot(server).calls(Draft("slack", "announce", "x", {"blocks": []}))


# --- secrets ----------------------------------------------------------------------------


def test_no_secret_anywhere(
    server: SlackServer, workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # answers that echo the secrets back, a retry in between
    server.script += [
        Answer(503, f"upstream failed for {WEBHOOK_PATH}".encode()),
        Answer(400, f"bad request to {server.webhook}".encode()),
    ]
    hook = webhook(server)
    failed = send(workspace, announce(), hook)
    server.script.append(Answer.web({"ok": False, "error": f"invalid_auth {BOT_TOKEN}"}))
    channel = bot(server)
    refused = send(workspace, announce(), channel)
    posted = send(workspace, announce(), channel)

    assert failed.sent is not None and failed.sent.detail.startswith(
        "refused: 400 bad request (bad request to "
    )
    assert posted.sent is not None and posted.sent.ok
    shown = [repr(hook), repr(channel), str(hook.http), caplog.text]
    for done in (failed, refused, posted):
        assert done.sent is not None
        shown += [done.sent.detail, done.requests, repr(done.sent.draft), done.kept.read_text()]
    shown += [str(record.args) for record in caplog.records]
    shown.append((workspace.path / "timeline.jsonl").read_text())
    shown.append((workspace.path / "comms" / "state.json").read_text())
    text = "\n".join(shown)
    for secret in SECRETS:
        assert secret not in text
    assert any("HTTP Request" in r.getMessage() and "***" in r.getMessage() for r in caplog.records)
