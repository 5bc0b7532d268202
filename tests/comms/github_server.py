"""A fake GitHub REST API on loopback: list and create a repository's issues.

Implements the documented shapes (tests/data/comms/SOURCES_github.md) of

- ``GET /repos/{owner}/{repo}/issues``: ``state`` (``open`` by default, ``closed``,
  ``all``), ``labels`` (comma-separated; an issue must carry every one), ``sort``
  (``created``/``updated``), ``direction`` (``desc`` by default), ``per_page``
  (30 by default, at most 100), ``page``; ``200`` with a JSON list that holds pull
  requests too (they have a ``pull_request`` key) and a ``Link`` header
  (``rel="next"``, ``"last"``, ``"first"``, ``"prev"``) when there are more pages;
- ``POST /repos/{owner}/{repo}/issues``: ``title`` required (else ``422 Validation
  Failed``), ``body``, ``labels`` (names or ``{"name": ...}``; silently dropped when
  the token has no push access); ``201`` with the issue and a ``Location`` header;
- ``401 Bad credentials`` without ``Authorization: Bearer <token>`` (or ``token``),
  ``404 Not Found`` for another repository.

Every request is recorded (:class:`Received`). :attr:`GitHubServer.script` holds
answers used one per request, in order, before the API answers (``429`` with rate
limit headers, ``500``, ``hang=True`` for no answer at all).
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from loopback import LoopbackServer

__all__ = ["FAKE_TOKEN", "Answer", "GitHubServer", "Received"]

#: the token the fake accepts (fake value, shaped like a fine-grained token)
FAKE_TOKEN = "github_pat_11FAKE0000_fakeTokenValue0123456789abcdefABCDEF"
# seconds a hanging answer waits at most (released when the server closes)
HANG_SECONDS = 30.0
_DOCS = "https://docs.github.com/rest/issues/issues"


@dataclass(frozen=True)
class Answer:
    """One scripted answer: status, JSON body, headers, or no answer at all (``hang``).

    ``apply``: the API handles the request first (a created issue exists), then
    the scripted answer is given (with ``hang``: applied, but no answer came).
    """

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False
    apply: bool = False


@dataclass(frozen=True)
class Received:
    """One recorded request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class GitHubServer(LoopbackServer):
    """The issues of one repository, ``owner/repo``, behind ``prefix`` (``/api/v3`` for GHES)."""

    owner: str = "acme"
    repo: str = "api"
    token: str = FAKE_TOKEN
    prefix: str = ""
    push_access: bool = True
    html_base: str = "https://github.com"
    issues: list[dict[str, Any]] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api(self) -> str:
        """The base URL a client is configured with (``INCIDENT_GITHUB_API``)."""
        return self.url + self.prefix

    @property
    def issues_path(self) -> str:
        """``/repos/acme/api/issues`` (after the prefix)."""
        return f"{self.prefix}/repos/{self.owner}/{self.repo}/issues"

    def writes(self) -> list[Received]:
        """The recorded requests that are not reads."""
        return [r for r in self.requests if r.method != "GET"]

    def reads(self) -> list[Received]:
        """The recorded ``GET`` requests."""
        return [r for r in self.requests if r.method == "GET"]

    def add_issue(
        self,
        title: str,
        body: str = "",
        labels: tuple[str, ...] = (),
        *,
        pull_request: bool = False,
        state: str = "open",
    ) -> dict[str, Any]:
        """Store an issue (or a pull request) as if filed earlier; returns it."""
        with self._lock:
            return self._store(title, body, list(labels), pull_request=pull_request, state=state)

    def _store(
        self,
        title: str,
        body: str | None,
        labels: list[str],
        *,
        pull_request: bool = False,
        state: str = "open",
    ) -> dict[str, Any]:
        number = max((i["number"] for i in self.issues), default=0) + 1
        repo_api = f"https://api.github.com/repos/{self.owner}/{self.repo}"
        kind = "pull" if pull_request else "issues"
        stamp = f"2026-11-{1 + number % 28:02d}T10:00:{number % 60:02d}Z"
        issue: dict[str, Any] = {
            "id": 1000 + number,
            "node_id": f"I_kwFAKE{number}",
            "url": f"{repo_api}/issues/{number}",
            "repository_url": repo_api,
            "labels_url": f"{repo_api}/issues/{number}/labels{{/name}}",
            "comments_url": f"{repo_api}/issues/{number}/comments",
            "events_url": f"{repo_api}/issues/{number}/events",
            "html_url": f"{self.html_base}/{self.owner}/{self.repo}/{kind}/{number}",
            "number": number,
            "state": state,
            "state_reason": "completed" if state == "closed" else None,
            "title": title,
            "body": body,
            "user": {"login": "octocat", "id": 1, "type": "User"},
            "labels": [
                {
                    "id": 2000 + n,
                    "node_id": f"LA_kwFAKE{n}",
                    "url": f"{repo_api}/labels/{name}",
                    "name": name,
                    "description": None,
                    "color": "ededed",
                    "default": False,
                }
                for n, name in enumerate(labels)
            ],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": 0,
            "closed_at": stamp if state == "closed" else None,
            "created_at": stamp,
            "updated_at": stamp,
            "closed_by": None,
            "author_association": "OWNER",
        }
        if pull_request:
            issue["pull_request"] = {
                "url": f"{repo_api}/pulls/{number}",
                "html_url": issue["html_url"],
                "diff_url": f"{issue['html_url']}.diff",
                "patch_url": f"{issue['html_url']}.patch",
                "merged_at": None,
            }
        self.issues.append(issue)
        return issue

    # -- the API -------------------------------------------------------------------------------

    def _answer(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            if self.script:
                scripted = self.script.pop(0)
                if scripted.apply:
                    self._api(received)
                return scripted
            return self._api(received)

    def _api(self, received: Received) -> Answer:
        """What the API answers (called with the lock held)."""
        auth = received.headers.get("authorization", "")
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return _error(401, "Bad credentials")
        if received.path != self.issues_path:
            return _error(404, "Not Found")
        if received.method == "GET":
            return self._list(received.query)
        if received.method == "POST":
            return self._create(received.body)
        return _error(404, "Not Found")

    def _list(self, query: dict[str, str]) -> Answer:
        state = query.get("state", "open")
        wanted = [name.strip() for name in query.get("labels", "").split(",") if name.strip()]
        chosen = [
            i
            for i in self.issues
            if (state == "all" or i["state"] == state)
            and all(name in {lab["name"] for lab in i["labels"]} for name in wanted)
        ]
        sort = query.get("sort", "created")
        field_name = "updated_at" if sort == "updated" else "created_at"
        chosen.sort(key=lambda i: (i[field_name], i["number"]))
        if query.get("direction", "desc") == "desc":
            chosen.reverse()
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        last = max(1, -(-len(chosen) // per_page))
        shown = chosen[(page - 1) * per_page : page * per_page]

        def link(to: int) -> str:
            return f"{self.url}{self.issues_path}?{urlencode({**query, 'page': str(to)})}"

        rels = []
        if page > 1:
            rels += [f'<{link(page - 1)}>; rel="prev"', f'<{link(1)}>; rel="first"']
        if page < last:
            rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        headers = _rate_headers()
        if rels:
            headers += (("Link", ", ".join(rels)),)
        return Answer(200, shown, headers)

    def _create(self, raw: bytes) -> Answer:
        try:
            data = json.loads(raw)
        except ValueError:
            return _error(400, "Problems parsing JSON")
        if not isinstance(data, dict):
            return _error(400, "Problems parsing JSON")
        title = data.get("title")
        if not isinstance(title, (str, int)) or title == "":
            return Answer(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                    "documentation_url": f"{_DOCS}#create-an-issue",
                    "status": "422",
                },
                (("Content-Type", "application/json; charset=utf-8"),),
            )
        labels = [
            label["name"] if isinstance(label, dict) else str(label)
            for label in data.get("labels") or []
        ]
        if not self.push_access:
            labels = []  # "Labels are silently dropped otherwise"
        issue = self._store(str(title), data.get("body"), labels)
        location = f"https://api.github.com/repos/{self.owner}/{self.repo}/issues/{issue['number']}"
        return Answer(201, issue, (*_rate_headers(), ("Location", location)))

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Record, then answer from the script or as the API does."""

        class Handler(BaseHTTPRequestHandler):
            fake: GitHubServer
            protocol_version = "HTTP/1.1"

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query, keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = self.fake._answer(Received(method, url.path, query, headers, body))
                if answer.hang:
                    self.fake._closing.wait(HANG_SECONDS)
                    self.close_connection = True
                    return
                content = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                names = {name.lower() for name, _ in answer.headers}
                if content and "content-type" not in names:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def _rate_headers() -> tuple[tuple[str, str], ...]:
    return (
        ("X-RateLimit-Limit", "5000"),
        ("X-RateLimit-Remaining", "4999"),
        ("X-RateLimit-Reset", "1795000000"),
        ("X-RateLimit-Used", "1"),
        ("X-RateLimit-Resource", "core"),
    )


def _error(status: int, message: str) -> Answer:
    return Answer(
        status,
        {"message": message, "documentation_url": _DOCS, "status": str(status)},
        (("Content-Type", "application/json; charset=utf-8"),),
    )
