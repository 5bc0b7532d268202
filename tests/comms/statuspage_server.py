"""A fake Atlassian Statuspage REST API (v1) on loopback, from its published API reference.

Implements what :mod:`incident_lib.comms.statuspage` uses, with the documented
shapes (tests/data/comms/SOURCES_statuspage.md):

* ``POST /v1/pages/{page_id}/incidents`` with ``{"incident": {...}}``: ``201`` and
  the Incident object (``id``, ``name``, ``status``, ``impact``, ``shortlink``,
  ``components``, ``incident_updates``...); ``400`` without a name;
* ``PATCH /v1/pages/{page_id}/incidents/{incident_id}``: ``200`` and the
  updated Incident; ``404`` for an incident or a page it does not know;
* ``Authorization: OAuth <key>`` required (``401`` ``{"message": ...}``
  otherwise); an unknown status or component status, or a component the page
  does not have: ``422``.

Every request is recorded (:class:`Received`). :attr:`StatuspageServer.script`
holds answers given before the API's own, one per request (``429`` with
``Retry-After``, ``500``, ``401``, or ``hang`` for no answer at all).
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

__all__ = ["API_KEY", "PAGE_ID", "Answer", "Received", "StatuspageServer"]

#: the key the fake accepts (a fake value shaped like a real one)
API_KEY = "89a229ce1a8dbcf9ff30430fbe35eb4c0426574bca932061892cefd2138aa4b1"
PAGE_ID = "gytm4qzbx9t6"
HANG_SECONDS = 30.0
_INCIDENT_STATUSES = {
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
}
_COMPONENT_STATUSES = {
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
}
# the impact Statuspage derives from the worst component status
_IMPACT = {
    "major_outage": "critical",
    "partial_outage": "major",
    "degraded_performance": "minor",
    "under_maintenance": "maintenance",
    "operational": "none",
}
_ORDER = ["operational", "under_maintenance", "degraded_performance", "partial_outage"]
_ORDER.append("major_outage")
_INCIDENTS = re.compile(r"/v1/pages/(?P<page>[^/]+)/incidents(?:/(?P<incident>[^/]+))?")
_STAMP = "2026-11-03T14:22:00.000Z"


@dataclass(frozen=True)
class Answer:
    """A scripted answer: status, headers, JSON body, or no answer at all (``hang``)."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False


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
class StatuspageServer(LoopbackServer):
    """The fake API: one page, its components, the incidents created on it."""

    api_key: str = API_KEY
    page_id: str = PAGE_ID
    components: dict[str, str] = field(
        default_factory=lambda: {"8kbf7d35c070": "API", "vtnh60py4yd7": "Website"}
    )
    script: list[Answer] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api(self) -> str:
        """The API root a client is configured with (``INCIDENT_STATUSPAGE_API``)."""
        return self.url + "/v1"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Record, answer from the script, then as the API does."""

        class Handler(BaseHTTPRequestHandler):
            fake: StatuspageServer
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path, _, headers = LoopbackServer.request_parts(self)
                answer = self.fake._answer(Received(self.command, path, headers, raw))
                if answer.hang:
                    self.fake._closing.wait(HANG_SECONDS)
                    self.close_connection = True
                    return
                data = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PATCH = do_GET = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    # -- the API ------------------------------------------------------------------
    def _answer(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            if self.script:
                return self.script.pop(0)
            return self._api(received)

    def _api(self, r: Received) -> Answer:
        if r.headers.get("authorization") != f"OAuth {self.api_key}":
            return Answer(401, {"message": "Could not authenticate"})
        match = _INCIDENTS.fullmatch(r.path)
        if match is None or match["page"] != self.page_id:
            return Answer(404, {"message": "The requested resource could not be found."})
        if not r.headers.get("content-type", "").startswith("application/json"):
            return Answer(400, {"message": "Content-Type must match the JSON body"})
        try:
            data = json.loads(r.body)
        except ValueError:
            return Answer(400, {"message": "Bad request"})
        fields = data.get("incident") if isinstance(data, dict) else None
        if not isinstance(fields, dict):
            return Answer(400, {"message": "incident is missing"})
        problem = self._invalid(fields)
        if problem:
            return Answer(422, {"message": problem})
        incident_id = match["incident"]
        if r.method == "POST" and incident_id is None:
            if not str(fields.get("name") or "").strip():
                return Answer(400, {"message": "name is missing"})
            return Answer(201, self._create(fields))
        if r.method == "PATCH" and incident_id is not None:
            if incident_id not in self.incidents:
                return Answer(404, {"message": "The requested resource could not be found."})
            return Answer(200, self._update(self.incidents[incident_id], fields))
        return Answer(405, {"message": "method not allowed"})

    def _invalid(self, fields: dict[str, Any]) -> str:
        status = fields.get("status")
        if status is not None and status not in _INCIDENT_STATUSES:
            return f"status {status!r} is not valid"
        for cid in fields.get("component_ids") or []:
            if cid not in self.components:
                return f"component {cid!r} is not on this page"
        for cid, state in (fields.get("components") or {}).items():
            if cid not in self.components:
                return f"component {cid!r} is not on this page"
            if state not in _COMPONENT_STATUSES:
                return f"component status {state!r} is not valid"
        return ""

    def _create(self, fields: dict[str, Any]) -> dict[str, Any]:
        number = len(self.incidents) + 1
        incident_id = f"p31zjtct{number:04d}"
        incident: dict[str, Any] = {
            "id": incident_id,
            "page_id": self.page_id,
            "name": fields["name"],
            "status": fields.get("status") or "investigating",
            "impact": "none",
            "impact_override": None,
            "created_at": _STAMP,
            "updated_at": _STAMP,
            "monitoring_at": None,
            "resolved_at": None,
            "shortlink": f"https://stspg.io/{incident_id[-5:]}",
            "components": [],
            "incident_updates": [],
            "metadata": {},
        }
        self.incidents[incident_id] = incident
        return self._update(incident, fields)

    def _update(self, incident: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        if "name" in fields:
            incident["name"] = fields["name"]
        status = fields.get("status") or incident["status"]
        incident["status"] = status
        if status == "monitoring":
            incident["monitoring_at"] = _STAMP
        if status == "resolved":
            incident["resolved_at"] = _STAMP
        states = dict(fields.get("components") or {})
        for cid in fields.get("component_ids") or []:
            states.setdefault(cid, "operational")
        affected = []
        for cid, state in states.items():
            known = next((c for c in incident["components"] if c["id"] == cid), None)
            old = known["status"] if known else "operational"
            if known is None:
                known = {"id": cid, "page_id": self.page_id, "name": self.components[cid]}
                incident["components"].append(known)
            known["status"] = state
            affected.append(
                {"code": cid, "name": self.components[cid], "old_status": old, "new_status": state}
            )
        worst = max((c["status"] for c in incident["components"]), key=_ORDER.index, default="")
        incident["impact"] = _IMPACT.get(worst, "none")
        if fields.get("body"):
            incident["incident_updates"].insert(
                0,
                {
                    "id": f"upd{len(incident['incident_updates']) + 1:09d}",
                    "incident_id": incident["id"],
                    "status": status,
                    "body": fields["body"],
                    "affected_components": affected or None,
                    "deliver_notifications": bool(fields.get("deliver_notifications", True)),
                    "created_at": _STAMP,
                    "display_at": _STAMP,
                },
            )
        return json.loads(json.dumps(incident))
