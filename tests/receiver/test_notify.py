"""The message back: real HTTP against local fakes of a Slack webhook and the PagerDuty API.

The fakes (``chat_servers``) record every request and answer from a script (429 with
``Retry-After``, 503, 400, or no answer at all); ``sleep`` is injected and records
the waits, so nothing here waits for a back-off and nothing asserts on time.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from chat_servers import SLACK_PATH, Answer, PagerDutyServer, SlackServer

from incident_lib.core.errors import InvalidInput
from incident_lib.receiver.notify import (
    PAGERDUTY_NOTE_CHARS,
    SLACK_BLOCKS,
    SLACK_HEADER_CHARS,
    SLACK_TEXT_CHARS,
    Delivery,
    Message,
    Notifier,
    pagerduty_note,
    slack_payload,
)

TOKEN = "u+FakePagerDutyToken-0123456789"
FROM = "oncall@example.com"
SECRET_PARTS = ("fakeWebhookSecret0123456789", SLACK_PATH, TOKEN)

MESSAGE = Message(
    incident_id="INC-20261128-ab12",
    title="api 5xx <!channel>",
    severity="SEV-2",
    status="firing",
    headline="deploy v2.34 at 14:10 UTC -> 5xx share up to 14.43 % & rising",
    sections=(
        ("Trigger", "log line: <!channel> see <http://x|y>"),
        ("Next step", "roll back\nthen verify"),
    ),
    link="https://bundles.example/INC-20261128-ab12/index.html",
    pagerduty_incident="PT4KHLK",
)


class Sleeps(list[float]):
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyServer]:
    with PagerDutyServer() as server:
        yield server


def notifier(
    slack: SlackServer | None = None,
    pagerduty: PagerDutyServer | None = None,
    sleeps: Sleeps | None = None,
    **options: Any,
) -> Notifier:
    return Notifier(
        slack_url=slack.webhook if slack is not None else None,
        pagerduty_token=TOKEN if pagerduty is not None else None,
        pagerduty_from=FROM if pagerduty is not None else None,
        pagerduty_api=pagerduty.url if pagerduty is not None else "https://api.pagerduty.com",
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


# --- the exact requests ---------------------------------------------------------------


def test_slack_body_is_block_kit_with_evidence_text_escaped(slack: SlackServer) -> None:
    deliveries = notifier(slack).send(MESSAGE)

    assert deliveries == [Delivery("slack", True, 1, "200")]
    [request] = slack.requests
    assert (request.method, request.path) == ("POST", SLACK_PATH)
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    head = "INC-20261128-ab12 · SEV-2 · firing: api 5xx &lt;!channel&gt;"
    headline = "deploy v2.34 at 14:10 UTC -&gt; 5xx share up to 14.43 % &amp; rising"
    assert request.json() == {
        "text": f"{head}: {headline}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head, "emoji": False}},
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Trigger*\nlog line: &lt;!channel&gt; see &lt;http://x|y&gt;",
                },
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Next step*\nroll back\nthen verify"},
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the bundle", "emoji": True},
                        "url": "https://bundles.example/INC-20261128-ab12/index.html",
                    }
                ],
            },
        ],
    }
    # no raw control character from the evidence survives anywhere in the body
    body = request.body.decode()
    assert "<!channel>" not in body and "<http://x|y>" not in body


def test_pagerduty_note_request(pagerduty: PagerDutyServer) -> None:
    deliveries = notifier(pagerduty=pagerduty).send(MESSAGE)

    assert deliveries == [Delivery("pagerduty", True, 1, "201")]
    [request] = pagerduty.requests
    assert (request.method, request.path) == ("POST", "/incidents/PT4KHLK/notes")
    assert request.headers["authorization"] == f"Token token={TOKEN}"
    assert request.headers["from"] == FROM
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "note": {
            "content": (
                "INC-20261128-ab12 SEV-2 firing: api 5xx <!channel>\n"
                "deploy v2.34 at 14:10 UTC -> 5xx share up to 14.43 % & rising\n"
                "Bundle: https://bundles.example/INC-20261128-ab12/index.html\n"
                "\n"
                "Trigger: log line: <!channel> see <http://x|y>\n"
                "Next step: roll back\nthen verify"
            )
        }
    }


def test_pagerduty_incident_id_cannot_leave_the_notes_path(pagerduty: PagerDutyServer) -> None:
    message = replace(MESSAGE, pagerduty_incident="../../users/P1?x=1")
    [delivery] = notifier(pagerduty=pagerduty).send(message)

    assert delivery.ok
    assert pagerduty.requests[0].path == "/incidents/..%2F..%2Fusers%2FP1%3Fx%3D1/notes"


def test_both_channels_are_sent(slack: SlackServer, pagerduty: PagerDutyServer) -> None:
    sender = notifier(slack, pagerduty)

    assert sender.channels == ("slack", "pagerduty")
    assert [d.channel for d in sender.send(MESSAGE)] == ["slack", "pagerduty"]
    assert len(slack.requests) == len(pagerduty.requests) == 1


# --- retries --------------------------------------------------------------------------


def test_429_honours_retry_after_and_503_backs_off_then_succeeds(slack: SlackServer) -> None:
    slack.script += [
        Answer(429, b"rate_limited", (("Retry-After", "7"),)),
        Answer(503, b"service unavailable"),
    ]
    sleeps = Sleeps()

    deliveries = notifier(slack, sleeps=sleeps).send(MESSAGE)

    assert deliveries == [Delivery("slack", True, 3, "200")]
    assert len(slack.requests) == 3
    assert sleeps == [7.0, 1.0]
    assert len({r.body for r in slack.requests}) == 1  # the same message each time


def test_retry_after_is_capped_at_max_wait(pagerduty: PagerDutyServer) -> None:
    pagerduty.script.append(Answer(429, b"", (("Retry-After", "3600"),)))
    sleeps = Sleeps()

    [delivery] = notifier(pagerduty=pagerduty, sleeps=sleeps, max_wait=12.0).send(MESSAGE)

    assert delivery == Delivery("pagerduty", True, 2, "201")
    assert sleeps == [12.0]


def test_retry_after_as_a_past_http_date_waits_nothing(slack: SlackServer) -> None:
    slack.script.append(Answer(429, b"", (("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),)))
    sleeps = Sleeps()

    [delivery] = notifier(slack, sleeps=sleeps).send(MESSAGE)

    assert delivery.ok and sleeps == [0.0]


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (400, b"invalid_blocks", "refused: 400 bad request (invalid_blocks)"),
        (
            401,
            b"",
            "refused: 401 unauthorized: the token was refused (check it is set and valid)",
        ),
        (
            403,
            b"invalid_token",
            "refused: 403 forbidden: the token lacks a permission (or a rate limit) "
            "(invalid_token)",
        ),
        (
            404,
            b"no_service",
            "refused: 404 not found (check the id and that the token can see it) (no_service)",
        ),
    ],
)
def test_other_4xx_are_not_retried(
    slack: SlackServer, status: int, body: bytes, detail: str
) -> None:
    slack.script.append(Answer(status, body))
    sleeps = Sleeps()

    deliveries = notifier(slack, sleeps=sleeps).send(MESSAGE)

    assert deliveries == [Delivery("slack", False, 1, detail)]
    assert len(slack.requests) == 1
    assert sleeps == []


def test_gives_up_after_the_attempts(pagerduty: PagerDutyServer) -> None:
    pagerduty.script += [Answer(503, b"")] * 5
    sleeps = Sleeps()

    deliveries = notifier(pagerduty=pagerduty, sleeps=sleeps, attempts=4).send(MESSAGE)

    assert deliveries == [Delivery("pagerduty", False, 4, "gave up after 4 attempts: 503")]
    assert len(pagerduty.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_a_hanging_server_is_bounded_by_the_timeout(slack: SlackServer) -> None:
    slack.script.append(Answer(hang=True))

    deliveries = notifier(slack, timeout=0.5, attempts=2).send(MESSAGE)

    assert deliveries == [Delivery("slack", True, 2, "200")]


def test_a_server_that_never_answers_is_given_up(slack: SlackServer) -> None:
    slack.script += [Answer(hang=True)] * 2

    deliveries = notifier(slack, timeout=0.3, attempts=2).send(MESSAGE)

    assert deliveries == [
        Delivery("slack", False, 2, "gave up after 2 attempts: no answer within 0.3 s")
    ]


def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = Notifier(slack_url=f"http://127.0.0.1:{port}{SLACK_PATH}", attempts=2, sleep=Sleeps())

    [delivery] = sender.send(MESSAGE)

    assert not delivery.ok and delivery.attempts == 2
    assert delivery.detail == "gave up after 2 attempts: no connection (ConnectError)"


# --- configuration --------------------------------------------------------------------


def test_nothing_is_sent_for_an_unconfigured_channel(
    slack: SlackServer, pagerduty: PagerDutyServer
) -> None:
    assert Notifier().channels == ()
    assert Notifier().send(MESSAGE) == []

    only_slack = notifier(slack).send(MESSAGE)
    assert [d.channel for d in only_slack] == ["slack"]
    assert pagerduty.requests == []

    not_from_pagerduty = replace(MESSAGE, pagerduty_incident="")
    assert notifier(pagerduty=pagerduty).send(not_from_pagerduty) == []
    assert pagerduty.requests == []
    assert len(slack.requests) == 1


def test_from_environment() -> None:
    environ = {
        "INCIDENT_SLACK_WEBHOOK_URL": "https://hooks.slack.com" + SLACK_PATH,
        "INCIDENT_PAGERDUTY_TOKEN": TOKEN,
        "INCIDENT_PAGERDUTY_FROM": FROM,
    }
    assert Notifier.from_environment(environ).channels == ("slack", "pagerduty")
    assert Notifier.from_environment({"INCIDENT_SLACK_WEBHOOK_URL": " "}).channels == ()
    assert Notifier.from_environment({}).channels == ()
    with pytest.raises(InvalidInput, match="INCIDENT_PAGERDUTY_FROM"):
        Notifier.from_environment({"INCIDENT_PAGERDUTY_TOKEN": TOKEN})


@pytest.mark.parametrize(
    "options",
    [
        {"slack_url": "hooks.slack.com" + SLACK_PATH},
        {"slack_url": "ftp://hooks.slack.com" + SLACK_PATH},
        {"pagerduty_token": TOKEN},
        {"attempts": 0},
        {"timeout": 0},
    ],
)
def test_bad_settings_are_refused_without_quoting_secrets(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as error:
        Notifier(**options)
    assert not any(part in str(error.value) for part in SECRET_PARTS)


# --- secrets --------------------------------------------------------------------------


def test_secrets_never_in_details_logs_or_repr(
    slack: SlackServer, pagerduty: PagerDutyServer, caplog: pytest.LogCaptureFixture
) -> None:
    # error answers that echo the secrets back, and a retry in between
    slack.script += [
        Answer(503, f"upstream failed for {SLACK_PATH}".encode()),
        Answer(400, f"bad request to {slack.webhook}".encode()),
    ]
    pagerduty.script += [Answer(401, json.dumps({"error": f"token {TOKEN} invalid"}).encode())]
    caplog.set_level(logging.DEBUG)

    sender = notifier(slack, pagerduty)
    deliveries = sender.send(MESSAGE)

    assert [(d.channel, d.ok) for d in deliveries] == [("slack", False), ("pagerduty", False)]
    assert deliveries[0].detail.startswith("refused: 400 bad request (bad request to ")
    shown = " ".join([repr(sender), str(sender), caplog.text, *(d.detail for d in deliveries)])
    shown += " ".join(str(record.args) for record in caplog.records)
    for part in SECRET_PARTS:
        assert part not in shown
    # httpx logs each request's URL: it is there, masked
    assert any("HTTP Request" in r.getMessage() and "***" in r.getMessage() for r in caplog.records)


# --- Slack's limits -------------------------------------------------------------------


def test_slack_limits_hold_even_when_escaping_lengthens_the_text() -> None:
    message = Message(
        incident_id="INC-1",
        title="<" * 400,
        severity="SEV-1",
        status="firing",
        headline="& " * 3000,
        sections=tuple((f"part {i}", "<x> " * 2000) for i in range(80)),
        link="/srv/bundles/INC-1/index.html",
    )
    payload = slack_payload(message)
    blocks = payload["blocks"]

    assert len(blocks) == SLACK_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= SLACK_HEADER_CHARS
    assert len(payload["text"]) <= SLACK_TEXT_CHARS
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(0 < len(text) <= SLACK_TEXT_CHARS for text in sections)
    assert all("<" not in text and ">" not in text for text in sections)
    assert sections[-1].startswith("*More*\n34 more sections in the bundle: part 46, part 47")
    # a path is not a URL: a context line, not a button
    assert blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Bundle: /srv/bundles/INC-1/index.html"}],
    }


def test_pagerduty_note_fits_its_limit() -> None:
    message = replace(MESSAGE, sections=(("Log", "word " * 20_000),))
    note = pagerduty_note(message)

    assert len(note) <= PAGERDUTY_NOTE_CHARS
    assert note.endswith("…")
    assert "Bundle: https://bundles.example/INC-20261128-ab12/index.html" in note


def test_a_long_rate_limit_then_failures_counts_every_attempt(slack: SlackServer) -> None:
    slack.script += [Answer(429, b"rate_limited", (("Retry-After", "3600"),))]
    slack.script += [Answer(503, b"")] * 3
    sleeps = Sleeps()

    deliveries = notifier(slack, sleeps=sleeps, attempts=4, max_wait=12.0).send(MESSAGE)

    assert deliveries == [Delivery("slack", False, 4, "gave up after 4 attempts: 503")]
    assert len(slack.requests) == 4
    assert sleeps == [12.0, 0.5, 1.0]
