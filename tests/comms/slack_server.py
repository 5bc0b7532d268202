"""A fake Slack on loopback: incoming webhooks and the Web API's ``chat.postMessage``.

Built from Slack's published references (tests/data/comms/SOURCES_slack.md):

* ``POST /services/T.../B.../<secret>`` (an incoming webhook): a JSON body with
  ``text`` and/or ``blocks`` is answered ``200`` ``ok`` (``text/plain``); a body
  that is not JSON ``400 invalid_payload``; neither text nor blocks
  ``400 no_text``; another path ``404 no_service``.
* ``POST /api/chat.postMessage`` with ``Authorization: Bearer <token>`` and a JSON
  body ``{"channel", "text", "blocks", "thread_ts"?}``: always HTTP ``200`` with
  ``{"ok": true, "channel": "C...", "ts": "...", "message": {...}}``, or
  ``{"ok": false, "error": ...}`` (``not_authed`` without a token,
  ``invalid_auth`` for another token, ``channel_not_found``, ``no_text``).

Every request is recorded (:class:`Received`); :attr:`SlackServer.script` holds
answers used one per request before the documented behaviour (``429`` with
``Retry-After``, ``500``, ``hang=True`` for no answer until the server closes).
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from loopback import LoopbackServer

__all__ = ["BOT_TOKEN", "CHANNEL_ID", "WEBHOOK_PATH", "Answer", "Received", "SlackServer"]

#: the secret part of an incoming-webhook URL, shaped as Slack shapes it (fake)
WEBHOOK_PATH = "/services/T0FAKE001/B0FAKE001/fakeSlackHookSecret0123456789ab"
#: the only bot token the fake accepts (fake)
BOT_TOKEN = "xoxb-0000000000-1111111111-FakeSlackBotToken01"
#: the channel id the fake answers with (``#incidents`` is its name)
CHANNEL_ID = "C0FAKE0INC"
_CHANNELS = {CHANNEL_ID: CHANNEL_ID, "#incidents": CHANNEL_ID, "incidents": CHANNEL_ID}
# seconds a hanging answer waits at most (released at once when the server closes)
HANG_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    """One scripted answer: status, headers, body, or no answer at all (``hang``)."""

    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain"),)
    hang: bool = False

    @classmethod
    def web(cls, payload: dict[str, Any], status: int = 200) -> Answer:
        """A Web API answer: JSON, ``200`` unless told."""
        return cls(status, json.dumps(payload).encode(), (("Content-Type", "application/json"),))


@dataclass(frozen=True)
class Received:
    """One recorded request (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class SlackServer(LoopbackServer):
    """Records requests; answers from :attr:`script`, then as Slack documents."""

    script: list[Answer] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clock: int = 1_700_000_000

    @property
    def webhook(self) -> str:
        """The incoming-webhook URL (a secret, as a real one is)."""
        return f"{self.url}{WEBHOOK_PATH}"

    @property
    def api(self) -> str:
        """The Web API's base URL (``INCIDENT_SLACK_API``)."""
        return f"{self.url}/api"

    def answer(self, received: Received) -> Answer:
        """The scripted answer, else what Slack documents for this request."""
        with self._lock:
            self.requests.append(received)
            if self.script:
                return self.script.pop(0)
            if received.path == "/api/chat.postMessage":
                return self._post_message(received)
            if received.path.startswith("/services/"):
                return self._webhook(received)
            return Answer(404, b"not found")

    def _webhook(self, received: Received) -> Answer:
        if received.path != WEBHOOK_PATH:
            return Answer(404, b"no_service")
        try:
            body = json.loads(received.body)
        except ValueError:
            return Answer(400, b"invalid_payload")
        if not isinstance(body, dict):
            return Answer(400, b"invalid_payload")
        if not body.get("text") and not body.get("blocks"):
            return Answer(400, b"no_text")
        self.posted.append(body)
        return Answer()

    def _post_message(self, received: Received) -> Answer:
        auth = received.headers.get("authorization", "")
        if not auth:
            return Answer.web({"ok": False, "error": "not_authed"})
        if auth != f"Bearer {BOT_TOKEN}":
            return Answer.web({"ok": False, "error": "invalid_auth"})
        if not received.headers.get("content-type", "").startswith("application/json"):
            return Answer.web({"ok": False, "error": "invalid_form_data"})
        try:
            body = json.loads(received.body)
        except ValueError:
            return Answer.web({"ok": False, "error": "invalid_json"})
        channel = _CHANNELS.get(str(body.get("channel", "")))
        if channel is None:
            return Answer.web({"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return Answer.web({"ok": False, "error": "no_text"})
        thread = body.get("thread_ts")
        self._clock += 1
        ts = f"{self._clock}.000100"
        message = {"type": "message", "subtype": "bot_message", "text": body.get("text", "")}
        message |= {"ts": ts, "bot_id": "B0FAKEBOT"}
        if thread is not None:
            message["thread_ts"] = thread
        if "blocks" in body:
            message["blocks"] = body["blocks"]
        self.posted.append(message)
        return Answer.web({"ok": True, "channel": channel, "ts": ts, "message": message})

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Record, then answer."""

        class Handler(BaseHTTPRequestHandler):
            fake: SlackServer
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = self.fake.answer(Received("POST", self.path, headers, body))
                if answer.hang:
                    self.fake._closing.wait(HANG_SECONDS)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
