"""Feature flags through an HTTP endpoint, against a local server started here.

The server records every request (method, path, headers, body) and answers from a script
of status codes; nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from incident_lib.actions.flags import FlagActor
from incident_lib.core.actions import Action, action_event
from incident_lib.core.errors import ActionRefused, InvalidInput

TOKEN = "s3cr3t-flag-token-0123456789"
QUERY_KEY = "qk-9f8e7d6c5b4a"
AT = datetime(2026, 11, 3, 14, 30, tzinfo=UTC)
OFF = Action(
    kind="feature_flag",
    workload="FeatureFlag/new-checkout",
    params={"enabled": "false"},
    why="Feature flag new-checkout turned on is the likely trigger",
)


@dataclass
class Endpoint:
    """What the server saw, and the status codes it answers with, in order (then 200)."""

    url: str
    requests: list[dict[str, object]] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": self.rfile.read(length).decode(),
                }
            )
            if state.delay:
                time.sleep(state.delay)
            code = state.script.pop(0) if state.script else 200
            # a careless server echoes the Authorization header back
            body = json.dumps({"status": code, "auth": self.headers.get("Authorization")}).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_PUT = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    port = server.server_address[1]
    state.url = f"http://127.0.0.1:{port}/api/flags/{{flag}}?env=prod&api_key={QUERY_KEY}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _actor(
    endpoint: Endpoint, *, method: str = "PUT", timeout: float = 2.0
) -> tuple[FlagActor, list[float]]:
    waits: list[float] = []
    environ = {"INCIDENT_FLAG_URL": endpoint.url, "INCIDENT_FLAG_TOKEN": TOKEN}
    base = FlagActor.from_environment(environ)
    actor = FlagActor(
        url_template=base.url_template,
        token=base.token,
        method=method,
        timeout=timeout,
        backoff=0.0,
        sleep=waits.append,
        clock=lambda: AT,
    )
    return actor, waits


def _no_token(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and TOKEN[:12] not in text and QUERY_KEY not in text


def test_plan_and_dry_run_send_nothing_and_show_the_exact_request(endpoint: Endpoint) -> None:
    actor, _ = _actor(endpoint)
    plan = actor.plan(OFF)
    assert plan.patch == '{"enabled": false}' and plan.content_type == "application/json"
    assert "+ enabled: false" in plan.diff
    assert plan.command.startswith(
        'curl -sS -X PUT -H "Authorization: Bearer $INCIDENT_FLAG_TOKEN"'
    )
    # a key in the query is masked, other parameters are shown as sent
    assert "/api/flags/new-checkout?env=prod&api_key=[REDACTED]'" in plan.command
    shown = actor.dry_run(plan)
    assert shown.splitlines() == [
        f"PUT {endpoint.url.replace('{flag}', 'new-checkout').replace(QUERY_KEY, '[REDACTED]')}",
        "Authorization: Bearer [REDACTED]",
        "Content-Type: application/json",
        "",
        '{"enabled": false}',
    ]
    result = actor.apply(plan)  # no confirm: a dry run
    assert (result.outcome, result.dry_run) == ("planned", True)
    assert result.message.endswith("to apply it, pass confirm=True and target='new-checkout'")
    assert action_event(result).kind == "dry_feature_flag"
    assert endpoint.requests == []
    _no_token(repr(actor), repr(plan), shown, result.message, plan.summary)


def test_confirm_with_the_flag_named_sends_exactly_one_request(endpoint: Endpoint) -> None:
    actor, waits = _actor(endpoint)
    result = actor.apply(actor.plan(OFF), confirm=True, target="new-checkout", by="alice")
    (request,) = endpoint.requests
    assert (request["method"], request["path"], request["body"]) == (
        "PUT",
        f"/api/flags/new-checkout?env=prod&api_key={QUERY_KEY}",
        '{"enabled": false}',
    )
    headers = request["headers"]
    assert isinstance(headers, dict)
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert (result.outcome, result.dry_run, result.by, result.at) == ("applied", False, "alice", AT)
    assert result.message.endswith(": 200 OK") and waits == []
    event = action_event(result)
    assert event.kind == "feature_flag" and "turn feature flag new-checkout off" in event.summary
    _no_token(result.message, event.summary)


def test_post_is_configurable(endpoint: Endpoint) -> None:
    actor, _ = _actor(endpoint, method="post")
    on = Action(
        kind="feature_flag", workload="FeatureFlag/new-checkout", params={"enabled": "TRUE"}
    )
    actor.apply(actor.plan(on), confirm=True, target="new-checkout")
    assert [(r["method"], r["body"]) for r in endpoint.requests] == [("POST", '{"enabled": true}')]


def test_confirm_without_the_right_target_or_token_refuses_and_sends_nothing(
    endpoint: Endpoint,
) -> None:
    actor, _ = _actor(endpoint)
    plan = actor.plan(OFF)
    with pytest.raises(ActionRefused, match="target='new-checkout'"):
        actor.apply(plan, confirm=True)
    with pytest.raises(ActionRefused, match="not 'old-checkout'"):
        actor.apply(plan, confirm=True, target="old-checkout")
    forged = dataclasses.replace(plan, patch='{"enabled": true, "owner": "me"}')
    with pytest.raises(ActionRefused, match="not made for the flag endpoint"):
        actor.apply(forged, confirm=True, target="new-checkout")
    tokenless = FlagActor(url_template=endpoint.url)
    assert "no Authorization header" in tokenless.dry_run(tokenless.plan(OFF))
    with pytest.raises(ActionRefused, match="INCIDENT_FLAG_TOKEN is not set"):
        tokenless.apply(tokenless.plan(OFF), confirm=True, target="new-checkout")
    assert endpoint.requests == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (401, "did not accept the token: check INCIDENT_FLAG_TOKEN"),
        (403, "may not change this flag"),
        (404, "does not know this flag"),
    ],
)
def test_refusals_name_the_fix_and_never_the_token(
    endpoint: Endpoint, code: int, words: str
) -> None:
    actor, waits = _actor(endpoint)
    endpoint.script = [code]
    with pytest.raises(ActionRefused) as refused:
        actor.apply(actor.plan(OFF), confirm=True, target="new-checkout")
    message = str(refused.value)
    assert str(code) in message and words in message
    assert "[REDACTED]" in message  # the echoed Authorization header, masked
    _no_token(message)
    assert len(endpoint.requests) == 1 and waits == []  # no retry


def test_a_5xx_is_tried_once_more(endpoint: Endpoint) -> None:
    actor, waits = _actor(endpoint)
    endpoint.script = [503]
    result = actor.apply(actor.plan(OFF), confirm=True, target="new-checkout")
    assert result.outcome == "applied" and len(endpoint.requests) == 2 and waits == [0.0]


def test_two_5xx_fail_with_the_status_code_and_an_unknown_state(endpoint: Endpoint) -> None:
    actor, _ = _actor(endpoint)
    endpoint.script = [500, 500, 200]
    result = actor.apply(actor.plan(OFF), confirm=True, target="new-checkout")
    assert (result.outcome, result.dry_run) == ("failed", False)
    assert "500 Internal Server Error" in result.message and "after 2 tries" in result.message
    assert "state is unknown" in result.message
    assert len(endpoint.requests) == 2  # bounded: never a third
    _no_token(result.message, action_event(result).summary)


def test_a_4xx_fails_at_once(endpoint: Endpoint) -> None:
    actor, waits = _actor(endpoint)
    endpoint.script = [422]
    result = actor.apply(actor.plan(OFF), confirm=True, target="new-checkout")
    assert result.outcome == "failed" and "422 Unprocessable" in result.message
    assert "was not changed" in result.message and len(endpoint.requests) == 1 and waits == []


def test_a_slow_endpoint_is_bounded(endpoint: Endpoint) -> None:
    actor, waits = _actor(endpoint, timeout=0.3)
    endpoint.delay = 1.0
    started = time.monotonic()
    result = actor.apply(actor.plan(OFF), confirm=True, target="new-checkout")
    assert time.monotonic() - started < 3
    assert result.outcome == "failed" and "no answer within 0.3 s" in result.message
    assert len(endpoint.requests) == 2 and waits == [0.0]


def test_a_refused_connection_is_tried_twice_then_fails() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    actor = FlagActor(
        url_template=f"http://127.0.0.1:{port}/flags/{{flag}}",
        token=TOKEN,
        backoff=0.0,
        sleep=waits.append,
    )
    result = actor.apply(actor.plan(OFF), confirm=True, target="new-checkout")
    assert result.outcome == "failed" and "connection refused" in result.message
    assert waits == [0.0]


def test_configuration_is_checked() -> None:
    with pytest.raises(ActionRefused, match="INCIDENT_FLAG_URL is not set"):
        FlagActor.from_environment({})
    with pytest.raises(ActionRefused, match="carries credentials"):
        FlagActor(url_template="https://user:pw@flags.example.com/{flag}")
    with pytest.raises(ActionRefused, match=r"must hold \{flag\}"):
        FlagActor(url_template="https://flags.example.com/flags")
    with pytest.raises(ActionRefused, match="PUT or POST"):
        FlagActor(url_template="https://flags.example.com/{flag}", method="DELETE")
    assert issubclass(ActionRefused, InvalidInput)  # the CLI exits 2 with the message


def test_only_flag_actions_with_a_clear_state_are_planned() -> None:
    actor = FlagActor(url_template="https://flags.example.com/{flag}", token=TOKEN)
    with pytest.raises(ActionRefused, match="only turns feature flags"):
        actor.plan(Action(kind="restart", workload="Deployment/api"))
    with pytest.raises(ActionRefused, match="'true' or 'false'"):
        actor.plan(Action(kind="feature_flag", workload="FeatureFlag/x", params={"enabled": "yes"}))
    with pytest.raises(ActionRefused, match="a flag name is"):
        actor.plan(Action(kind="feature_flag", workload="FeatureFlag/../admin", params=OFF.params))
