"""A fake PagerDuty REST API v2 on loopback, as its API reference documents it.

Implements (see tests/data/comms/SOURCES_pagerduty.md):

* ``GET /incidents/{id}``: ``{"incident": {...}}``;
* ``GET /incidents/{id}/log_entries``: classic pagination (``offset``, ``limit``
  default 25 and at most 100, answer echoes them with ``more`` and ``total: null``);
* ``PUT /incidents/{id}``: ``{"incident": {"type": "incident"|"incident_reference",
  "status": "acknowledged"|"resolved"|"triggered", "resolution": ...}}``, ``From``
  required; answers ``200`` with the updated incident and adds the log entry;
* ``POST /incidents/{id}/notes``: ``{"note": {"content": ...}}``, ``From`` required;
  answers ``200`` with the created note (the status the reference gives).

Every request is checked for ``Authorization: Token token=<token>`` (``401`` with
PagerDuty's error body otherwise) and recorded (:class:`Seen`). :attr:`script`
holds answers used first, one per request (``429`` with ``ratelimit-*`` headers,
``500``, a hang...).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from loopback import LoopbackServer

__all__ = ["ACCEPT", "TOKEN", "Answer", "PagerDutyApi", "Seen", "incident_json", "log_entry"]

#: the token the fake accepts (a fake value, shaped like a real one)
TOKEN = "y_NbAkKc66ryYTWUXYEu-FAKEpdTOKEN"
ACCEPT = "application/vnd.pagerduty+json;version=2"
HANG_SECONDS = 30.0
_INCIDENT = re.compile(r"/incidents/([^/]+)(/log_entries|/notes)?")


@dataclass(frozen=True)
class Answer:
    """A scripted answer: status, headers, JSON body; or none at all (``hang``)."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False


@dataclass(frozen=True)
class Seen:
    """One recorded request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def user(uid: str, name: str) -> dict[str, Any]:
    """A ``user_reference``."""
    return {
        "id": uid,
        "type": "user_reference",
        "summary": name,
        "self": f"https://api.pagerduty.com/users/{uid}",
        "html_url": f"https://subdomain.pagerduty.com/users/{uid}",
    }


def incident_json(
    ident: str = "PT4KHLK", status: str = "triggered", **extra: Any
) -> dict[str, Any]:
    """An incident as ``GET /incidents/{id}`` shows it (the reference's example, trimmed)."""
    data: dict[str, Any] = {
        "id": ident,
        "type": "incident",
        "summary": "[#1234] The server is on fire.",
        "self": f"https://api.pagerduty.com/incidents/{ident}",
        "html_url": f"https://subdomain.pagerduty.com/incidents/{ident}",
        "incident_number": 1234,
        "title": "The server is on fire.",
        "created_at": "2026-11-03T14:05:00Z",
        "updated_at": "2026-11-03T14:40:23Z",
        "status": status,
        "urgency": "high",
        "service": {
            "id": "PIJ90N7",
            "type": "service_reference",
            "summary": "My Mail Service",
            "self": "https://api.pagerduty.com/services/PIJ90N7",
            "html_url": "https://subdomain.pagerduty.com/service-directory/PIJ90N7",
        },
        "assignments": [{"at": "2026-11-03T14:05:00Z", "assignee": user("PXPGF42", "Earline")}],
        "acknowledgements": [],
        "priority": {"id": "P53ZZH5", "type": "priority_reference", "summary": "P2"},
        "incidents_responders": [
            {"state": "pending", "user": user("PL7A2O4", "Lee Turner")},
        ],
        "first_trigger_log_entry": {"id": "R0TRIGGER", "type": "trigger_log_entry_reference"},
    }
    data.update(extra)
    return data


def log_entry(
    kind: str, at: str, *, ident: str = "PT4KHLK", agent: dict[str, Any] | None = None, n: int = 0
) -> dict[str, Any]:
    """A log entry of ``kind`` (``trigger_log_entry``...) created at ``at``."""
    return {
        "id": f"R{kind[:4].upper()}{n:04d}",
        "type": kind,
        "summary": kind.replace("_", " "),
        "created_at": at,
        "agent": agent
        or {"id": "PIJ90N7", "type": "service_reference", "summary": "My Mail Service"},
        "channel": {"type": "api"},
        "incident": {"id": ident, "type": "incident_reference"},
    }


@dataclass
class PagerDutyApi(LoopbackServer):
    """The fake API: :attr:`incidents` and :attr:`logs` by id, requests in :attr:`requests`."""

    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    script: list[Answer] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    token: str = TOKEN
    clock: str = "2026-11-03T15:00:00Z"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[Seen]:
        """The requests that were not ``GET``."""
        return [r for r in self.requests if r.method != "GET"]

    def answer(self, seen: Seen) -> Answer:
        """Record ``seen`` and answer it: the script first, then the documented behaviour."""
        with self._lock:
            self.requests.append(seen)
            if self.script:
                return self.script.pop(0)
            return self._documented(seen)

    @staticmethod
    def error(status: int, message: str, code: int, *errors: str) -> Answer:
        """PagerDuty's error body."""
        body: dict[str, Any] = {"error": {"message": message, "code": code}}
        if errors:
            body["error"]["errors"] = list(errors)
        return Answer(status, body)

    def _documented(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") != f"Token token={self.token}":
            return self.error(401, "Authentication failed", 2006)
        if seen.headers.get("accept") != ACCEPT:
            return self.error(400, "Invalid Input Provided", 2001, "Accept header")
        match = _INCIDENT.fullmatch(seen.path)
        if match is None:
            return self.error(404, "Not Found", 2100)
        ident, sub = match.group(1), match.group(2) or ""
        incident = self.incidents.get(ident)
        if incident is None:
            return self.error(404, "Not Found", 2100, "Incident Not Found")
        if seen.method == "GET" and not sub:
            return Answer(200, {"incident": incident})
        if seen.method == "GET" and sub == "/log_entries":
            return self._page(self.logs.get(ident, []), seen.query)
        if seen.method not in ("PUT", "POST"):
            return self.error(405, "Method Not Allowed", 2015)
        if "@" not in seen.headers.get("from", ""):
            return self.error(400, "Invalid Input Provided", 2001, "From header is required")
        if seen.headers.get("content-type", "").split(";")[0] != "application/json":
            return self.error(400, "Invalid Input Provided", 2001, "Content-Type")
        try:
            body = seen.json()
        except ValueError:
            return self.error(400, "Invalid Input Provided", 2001, "body is not JSON")
        if seen.method == "POST" and sub == "/notes":
            content = body.get("note", {}).get("content") if isinstance(body, dict) else None
            if not isinstance(content, str) or not content:
                return self.error(400, "Invalid Input Provided", 2001, "note.content")
            note = {
                "id": "PWL7QXS",
                "user": user("PXPGF42", "Earline"),
                "channel": {"summary": "The PagerDuty website or APIs"},
                "content": content,
                "created_at": self.clock,
            }
            return Answer(200, {"note": note})
        if seen.method == "PUT" and not sub:
            change = body.get("incident") if isinstance(body, dict) else None
            if not isinstance(change, dict) or change.get("type") not in (
                "incident",
                "incident_reference",
            ):
                return self.error(400, "Invalid Input Provided", 2001, "incident.type")
            status = change.get("status")
            if status not in (None, "acknowledged", "resolved", "triggered"):
                return self.error(400, "Invalid Status Provided", 1003)
            if incident["status"] == "resolved" and status == "resolved":
                return self.error(400, "Incident Already Resolved", 1001)
            if status:
                incident["status"] = status
                kind = {"acknowledged": "acknowledge_log_entry", "resolved": "resolve_log_entry"}
                if status in kind:
                    self.logs.setdefault(ident, []).append(
                        log_entry(kind[status], self.clock, ident=ident)
                    )
            return Answer(200, {"incident": incident})
        return self.error(404, "Not Found", 2100)

    @staticmethod
    def _page(entries: list[dict[str, Any]], query: dict[str, str]) -> Answer:
        try:
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", "25"))
        except ValueError:
            return PagerDutyApi.error(400, "Invalid Input Provided", 2001, "offset/limit")
        limit = min(max(limit, 1), 100)
        if offset + limit > 10_000:
            return PagerDutyApi.error(400, "Invalid Input Provided", 2001, "offset+limit")
        page = entries[offset : offset + limit]
        body = {
            "log_entries": page,
            "offset": offset,
            "limit": limit,
            "more": offset + limit < len(entries),
            "total": None,
        }
        return Answer(200, body)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Record, then answer."""

        class Handler(BaseHTTPRequestHandler):
            fake: PagerDutyApi
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                path, query, headers = LoopbackServer.request_parts(self)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = self.fake.answer(Seen(self.command, path, query, headers, body))
                if answer.hang:
                    self.fake._closing.wait(HANG_SECONDS)
                    self.close_connection = True
                    return
                data = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
