"""Fake chat endpoints on loopback: a Slack incoming webhook and the PagerDuty REST API.

Both record every request (:class:`Received`: method, path, headers with lower-case
names, raw body) and answer from a script: :attr:`ChatServer.script` is a list of
:class:`Answer` values used one per request, in order; once it is used up every
request gets the server's default (Slack: ``200 ok``; PagerDuty: ``201`` with the
created note). An :class:`Answer` with ``hang=True`` answers nothing until the
server closes, for client timeouts.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from loopback import LoopbackServer

__all__ = [
    "SLACK_PATH",
    "Answer",
    "ChatServer",
    "PagerDutyServer",
    "Received",
    "SlackServer",
]

#: the secret part of a Slack webhook URL, as Slack shapes it (fake values)
SLACK_PATH = "/services/T0FAKE000/B0FAKE000/fakeWebhookSecret0123456789"
# seconds a hanging answer waits at most (released at once when the server closes)
HANG_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    """One scripted answer: status, headers, body, or no answer at all (``hang``)."""

    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain"),)
    hang: bool = False


@dataclass(frozen=True)
class Received:
    """One recorded request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class ChatServer(LoopbackServer):
    """Records requests and answers from :attr:`script`, then with :meth:`default`."""

    script: list[Answer] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def default(self) -> Answer:
        """The answer once the script is used up."""
        return Answer()

    def _next(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            return self.script.pop(0) if self.script else self.default()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Record, then answer from the script."""

        class Handler(BaseHTTPRequestHandler):
            fake: ChatServer
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = self.fake._next(Received("POST", self.path, headers, body))
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


@dataclass
class SlackServer(ChatServer):
    """A Slack incoming webhook at :data:`SLACK_PATH`: ``200 ok`` by default."""

    @property
    def webhook(self) -> str:
        """The webhook URL (a secret, as a real one is)."""
        return self.url + SLACK_PATH


@dataclass
class PagerDutyServer(ChatServer):
    """The PagerDuty REST API: ``201`` with the created note by default."""

    def default(self) -> Answer:
        """What ``POST /incidents/{id}/notes`` answers when it works."""
        note = {
            "note": {
                "id": "PWL7QXS",
                "user": {"id": "PXPGF42", "type": "user_reference"},
                "content": "...",
                "created_at": "2026-11-28T10:00:00Z",
            }
        }
        return Answer(
            status=201,
            body=json.dumps(note).encode(),
            headers=(("Content-Type", "application/json"),),
        )
