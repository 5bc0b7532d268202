"""comms._http: exact requests shown with secrets masked, retries that never send a POST twice.

The transport is httpx's own ``MockTransport`` (the boundary ``Http`` takes), so
each answer, header and timeout is scripted and every request recorded.
"""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from incident_lib.comms import Call, Http
from incident_lib.comms._http import check_http_url, rate_limit_wait, secret_forms
from incident_lib.core.errors import InvalidInput

TOKEN = "ghp_FAKEfakeFAKEfake0123456789abcdefABCD"


def scripted(*answers: httpx.Response | type[Exception]) -> tuple[httpx.MockTransport, list]:
    """A transport answering from ``answers`` in order (an exception class is raised)."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if queue else httpx.Response(200, json={"ok": True})
        if isinstance(answer, type):
            raise answer("scripted", request=request)
        return answer

    return httpx.MockTransport(handle), seen


def client(transport: httpx.MockTransport, waits: list[float], **kwargs) -> Http:
    return Http(secrets=[TOKEN], transport=transport, sleep=waits.append, **kwargs)


CALL = Call(
    "POST",
    "https://api.example.test/repos/o/r/issues",
    (("Authorization", f"Bearer {TOKEN}"), ("Accept", "application/vnd.github+json")),
    {"title": "t", "body": "b"},
)


def test_shown_is_the_exact_request_with_the_secrets_masked():
    webhook = "https://hooks.slack.test/services/T0/B0/secretPart0123456789"
    call = Call("POST", webhook, (("X-Token", TOKEN),), {"text": f"tok {TOKEN}"})
    shown = call.shown(secret_forms(webhook, TOKEN))
    assert TOKEN not in shown and "secretPart0123456789" not in shown
    assert shown.splitlines()[0] == "POST ***"
    assert "X-Token: ***" in shown
    assert '"text": "tok ***"' in shown
    assert CALL.shown().splitlines()[1] == "Authorization: ***"  # by name, even unknown


def test_a_2xx_is_sent_once_with_its_json_body_and_headers():
    transport, seen = scripted(httpx.Response(201, json={"number": 7}))
    reply = client(transport, []).request(CALL)
    assert (reply.ok, reply.status, reply.attempts, reply.body) == (True, 201, 1, {"number": 7})
    assert seen[0].method == "POST"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert seen[0].headers["content-type"] == "application/json; charset=utf-8"
    assert seen[0].content == b'{"title": "t", "body": "b"}'


def test_429_waits_what_retry_after_says_then_succeeds():
    transport, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"),
        httpx.Response(200, json={}),
    )
    waits: list[float] = []
    reply = client(transport, waits).request(CALL)
    assert reply.ok and reply.attempts == 2 and len(seen) == 2
    assert waits == [7.0]


def test_a_github_rate_limit_403_waits_for_the_reset():
    reset = time.time() + 12
    transport, seen = scripted(
        httpx.Response(
            403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": f"{reset:.0f}"}
        ),
        httpx.Response(201, json={}),
    )
    waits: list[float] = []
    assert client(transport, waits).request(CALL).ok
    assert len(waits) == 1 and 10 <= waits[0] <= 13 and len(seen) == 2


def test_a_reset_beyond_max_wait_is_reported_with_its_time_not_slept():
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    waits: list[float] = []
    reply = client(transport, waits, max_wait=30).request(CALL)
    assert not reply.ok and waits == [] and len(seen) == 1
    assert reply.detail.startswith("refused: 429 rate limited: the limit resets in 3600 s (at ")
    assert reply.detail.endswith("UTC); try again then")


def test_5xx_backs_off_and_gives_up_after_the_attempts():
    transport, seen = scripted(*[httpx.Response(503, text="down")] * 4)
    waits: list[float] = []
    reply = client(transport, waits, attempts=3).request(CALL)
    assert (reply.ok, reply.status, reply.attempts, len(seen)) == (False, 503, 3, 3)
    assert reply.detail == "gave up after 3 attempts: 503 (down)"
    assert waits == [0.5, 1.0]


def test_401_and_403_say_what_they_mean_and_are_not_retried():
    for code, words in ((401, "the token was refused"), (403, "lacks a permission")):
        transport, _ = scripted(httpx.Response(code, json={"message": f"bad {TOKEN}"}))
        reply = client(transport, []).request(CALL)
        assert not reply.ok and reply.attempts == 1 and reply.status == code
        assert words in reply.detail
        assert TOKEN not in reply.detail and "***" in reply.detail


def test_a_post_that_timed_out_is_not_sent_again():
    transport, seen = scripted(httpx.ReadTimeout)
    reply = client(transport, []).request(CALL)
    assert not reply.ok and len(seen) == 1 and reply.status == 0
    assert "may or may not have been applied" in reply.detail


def test_an_idempotent_call_is_retried_after_a_timeout():
    transport, seen = scripted(httpx.ReadTimeout, httpx.Response(200, json={}))
    put = Call("PUT", "https://api.example.test/incidents/P1", (), {"a": 1})
    assert client(transport, []).request(put).ok and len(seen) == 2


def test_a_connection_that_never_opened_is_retried_even_for_a_post():
    transport, seen = scripted(httpx.ConnectError, httpx.Response(201, json={}))
    assert client(transport, []).request(CALL).ok and len(seen) == 2


def test_no_secret_in_log_lines_or_repr(caplog):
    transport, _ = scripted(httpx.Response(500, text=f"echo {TOKEN}"), httpx.Response(200))
    http = client(transport, [])
    with caplog.at_level(logging.DEBUG):
        http.request(Call("GET", f"https://api.example.test/x?token={TOKEN}"))
    assert caplog.records and TOKEN not in caplog.text
    assert TOKEN not in repr(http)


def test_rate_limit_wait_reads_each_header_form():
    assert rate_limit_wait({"Retry-After": "5"}) == 5.0
    assert rate_limit_wait({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert rate_limit_wait({"X-RateLimit-Reset": "1000"}, now=990.0) == 10.0
    assert rate_limit_wait({"RateLimit-Reset": "4"}) == 4.0
    assert rate_limit_wait({}) is None


def test_bad_settings_and_urls_are_refused_without_quoting_a_secret():
    with pytest.raises(InvalidInput, match="attempts"):
        Http(attempts=0)
    with pytest.raises(InvalidInput) as caught:
        check_http_url(f"ftp://x/{TOKEN}", "the webhook URL", secret=True)
    assert TOKEN not in str(caught.value)
    assert check_http_url("https://api.test/v1/", "the API") == "https://api.test/v1"


def test_an_answer_that_echoes_the_secret_is_masked_in_the_reply():
    transport, _ = scripted(
        httpx.Response(200, json={"echo": {"auth": f"Bearer {TOKEN}"}, "list": [TOKEN]})
    )
    reply = client(transport, []).request(CALL)
    assert reply.body == {"echo": {"auth": "Bearer ***"}, "list": ["***"]}
    assert TOKEN not in repr(reply)
