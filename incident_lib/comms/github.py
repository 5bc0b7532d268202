"""Filing the post-mortem's action items as GitHub issues, each exactly once.

:func:`file_action_items` drafts one issue per action item (title, body,
labels) without credentials or I/O. Each body ends with a hidden marker,
``<!-- incident-runbooks:INC-2026-0042:<key> -->``, where the key is derived from
the action's text (:func:`item_key`), so the same item always has the same marker.

:class:`GitHub` (configured from the environment only) sends a draft: it first
lists the repository's issues that carry the incident's label (``state=all``,
100 a page, following ``Link: rel="next"``; pull requests, which that endpoint
also returns, are ignored), skips every item whose marker is already in an
issue's body ("already filed (#10)") and creates the others. Filing twice
creates nothing the second time; after a partial filing only the missing
issues are created.

Environment: ``INCIDENT_GITHUB_TOKEN`` (sent as ``Authorization: Bearer``),
``INCIDENT_GITHUB_REPO`` (``owner/name``) and ``INCIDENT_GITHUB_API``
(default ``https://api.github.com``; GitHub Enterprise Server:
``https://HOST/api/v3``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from ..core.errors import InvalidInput
from ..core.incident import Incident
from ..core.postmortem import ActionItem
from ..core.text import md_code, md_text, shorten
from ._http import Call, Http, Reply, check_http_url
from ._model import ChannelName, Draft, Sent

if TYPE_CHECKING:
    import httpx

__all__ = [
    "API_VERSION",
    "DEFAULT_API",
    "ENV_API",
    "ENV_REPO",
    "ENV_TOKEN",
    "FILE_ACTION",
    "FOLLOWUP_LABEL",
    "MARKER_PREFIX",
    "FollowUpLike",
    "GitHub",
    "file_action_items",
    "incident_label",
    "item_key",
    "marker",
]

#: the token, sent as ``Authorization: Bearer <token>``
ENV_TOKEN = "INCIDENT_GITHUB_TOKEN"
#: the repository the issues are filed in, ``owner/name``
ENV_REPO = "INCIDENT_GITHUB_REPO"
#: the REST API's base URL (GitHub Enterprise Server: ``https://HOST/api/v3``)
ENV_API = "INCIDENT_GITHUB_API"
#: GitHub.com's REST API
DEFAULT_API = "https://api.github.com"
#: the REST API version asked for (``X-GitHub-Api-Version``)
API_VERSION = "2022-11-28"
#: what the hidden marker in an issue's body starts with
MARKER_PREFIX = "incident-runbooks"
#: the label every follow-up issue carries (as in the post-mortem's issue texts)
FOLLOWUP_LABEL = "incident-followup"
#: the draft's action
FILE_ACTION = "file action items"

_NAME: ChannelName = "github"
# GitHub logins: letters, digits and single hyphens, at most 39; repository names
# letters, digits, '.', '_' and '-', at most 100, never '.' or '..'
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
# what an incident id and an item key may hold inside a marker and a label
_INCIDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_KEY = re.compile(r"[0-9a-f]{12}(?:-[0-9]+)?")
_LINK = re.compile(r'<([^<>]+)>\s*;\s*rel="?([^",;]+)"?')
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# at most this many pages of 100 issues are read to find earlier filings
_MAX_PAGES = 50
_TITLE_CHARS = 120


class FollowUpLike(Protocol):
    """An action item with its evidence (:class:`incident_lib.report.postmortem.FollowUp`)."""

    @property
    def item(self) -> ActionItem:
        """The action, owner, deadline and priority."""
        ...

    @property
    def refs(self) -> tuple[str, ...]:
        """The evidence it follows from."""
        ...

    @property
    def draft(self) -> bool:
        """Proposed from the evidence, not written by people."""
        ...


# -- drafting (no credentials, no I/O) ---------------------------------------------------------


def item_key(action: str) -> str:
    """The stable key of an action item: 12 hex digits of its text's SHA-256.

    Case and spacing do not matter, so re-generating the post-mortem gives the
    same keys; rewording an action makes it a new item.

    Examples
    --------
    >>> item_key("Alert on pool  usage") == item_key("alert on pool usage")
    True
    """
    normal = " ".join(action.split()).casefold()
    return hashlib.sha256(normal.encode()).hexdigest()[:12]


def marker(incident_id: str, key: str) -> str:
    """The hidden marker of an item's issue: ``<!-- incident-runbooks:INC-1:3f2a... -->``."""
    return f"<!-- {MARKER_PREFIX}:{_check_incident_id(incident_id)}:{key} -->"


def incident_label(incident_id: str) -> str:
    """The label that ties an issue to its incident: ``incident:INC-2026-0042``."""
    return f"incident:{_check_incident_id(incident_id)}"


def _check_incident_id(incident_id: str) -> str:
    if not _INCIDENT_ID.fullmatch(incident_id):
        raise InvalidInput(
            f"incident id {incident_id!r} cannot go into an issue label or marker: use letters, "
            "digits, '.', '_' and '-' (at most 40), e.g. INC-2026-0042"
        )
    return incident_id


def _check_repo(repo: str, what: str) -> str:
    owner, sep, name = repo.strip().partition("/")
    if (
        not sep
        or not _OWNER.fullmatch(owner)
        or not _REPO.fullmatch(name)
        or name in {".", ".."}
        or "--" in owner
    ):
        raise InvalidInput(f"{what} must be owner/name (e.g. acme/api), not {repo!r}")
    return f"{owner}/{name}"


def _as_follow_up(item: ActionItem | FollowUpLike) -> tuple[ActionItem, tuple[str, ...], bool]:
    if isinstance(item, ActionItem):
        return item, (), False
    return item.item, tuple(item.refs), bool(item.draft)


def file_action_items(
    incident: Incident | str,
    items: Sequence[ActionItem | FollowUpLike],
    *,
    repo: str = "",
) -> Draft:
    """Draft one GitHub issue per action item of the post-mortem.

    Parameters
    ----------
    incident
        The incident (its id and title go into each issue), or just its id.
    items
        The post-mortem's action items:
        :func:`incident_lib.report.postmortem.action_items` (``FollowUp``
        values: drafts say so in the body, with their evidence) or
        :class:`~incident_lib.core.postmortem.ActionItem` values.
    repo
        ``owner/name`` the draft is meant for (shown; a channel configured for
        another repository refuses it); ``""``: whichever is configured.

    Returns
    -------
    Draft
        ``payload = {"incident": id, "issues": [{"key", "title", "body",
        "labels"}, ...]}`` in item order; ``text`` lists the issues.

    Raises
    ------
    InvalidInput
        An incident id that cannot be a label, or a malformed ``repo``.
    """
    incident_id = incident.id if isinstance(incident, Incident) else incident
    _check_incident_id(incident_id)
    title = incident.title if isinstance(incident, Incident) else ""
    target = _check_repo(repo, "repo") if repo else ""
    seen: dict[str, int] = {}
    issues: list[dict[str, Any]] = []
    lines: list[str] = []
    for entry in items:
        item, refs, drafted = _as_follow_up(entry)
        base = item_key(item.action)
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}-{seen[base]}"
        issue_title = shorten(item.action, _TITLE_CHARS)
        labels = [FOLLOWUP_LABEL, incident_label(incident_id), item.priority]
        issues.append(
            {
                "key": key,
                "title": issue_title,
                "body": _body(incident_id, title, item, refs, drafted, key),
                "labels": labels,
            }
        )
        owner = item.owner or "unassigned"
        due = f", due {item.deadline.isoformat()}" if item.deadline else ""
        lines.append(f"- [{item.priority}] {issue_title} ({owner}{due})")
    where = f" in {target}" if target else ""
    if issues:
        head = (
            f"File {len(issues)} action item{'s' if len(issues) != 1 else ''} of "
            f"{incident_id} as GitHub issues{where}:"
        )
        foot = (
            "An item already filed (its marker is in an issue's body) is not filed again; "
            f"labels: {FOLLOWUP_LABEL}, {incident_label(incident_id)} and the priority."
        )
        text = "\n".join([head, *lines, "", foot])
    else:
        text = f"No action items of {incident_id} to file{where}."
    return Draft(
        channel=_NAME,
        action=FILE_ACTION,
        text=text,
        payload={"incident": incident_id, "issues": issues},
        target=target,
    )


def _body(
    incident_id: str,
    title: str,
    item: ActionItem,
    refs: tuple[str, ...],
    drafted: bool,
    key: str,
) -> str:
    about = f": {md_text(title)}" if title else ""
    lines = [
        f"Follow-up of incident {md_code(incident_id)}{about} "
        "(see its post-mortem, `postmortem.md`).",
        "",
        md_text(item.action),
        "",
        f"- Owner: {md_text(item.owner) or 'unassigned'}",
        f"- Deadline: {item.deadline.isoformat() if item.deadline else 'to set'}",
        f"- Priority: {item.priority}",
    ]
    if refs:
        lines.append(f"- Evidence: {', '.join(md_code(r) for r in refs)}")
    if drafted:
        lines += ["", "*Drafted from the evidence by the incident runbooks: check it.*"]
    lines += ["", marker(incident_id, key)]
    return "\n".join(lines) + "\n"


# -- the channel ---------------------------------------------------------------------------------


class GitHub:
    """Files issues in one repository through the GitHub REST API.

    Parameters
    ----------
    token
        The token (use :meth:`from_environment`: credentials come from the
        environment only). It needs to read and create issues (fine-grained:
        "Issues" read and write); without push access GitHub silently drops
        the labels.
    repo
        ``owner/name``.
    api
        The REST API's base URL: :data:`DEFAULT_API`, or
        ``https://HOST/api/v3`` for GitHub Enterprise Server. Plain ``http``
        only for a local host (tests).
    transport, attempts, timeout, sleep, max_wait
        Passed to :class:`~incident_lib.comms._http.Http`.

    Raises
    ------
    InvalidInput
        An empty token, a malformed ``repo`` or ``api`` (never quoting the token).
    """

    def __init__(
        self,
        *,
        token: str,
        repo: str,
        api: str = DEFAULT_API,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
    ) -> None:
        if not token.strip():
            raise InvalidInput(f"the GitHub token is empty: set {ENV_TOKEN}")
        self.repo = _check_repo(repo, ENV_REPO)
        self.api = _check_api(api)
        self._token = token.strip()
        self._http = Http(
            secrets=(self._token,),
            transport=transport,
            attempts=attempts,
            timeout=timeout,
            sleep=sleep,
            max_wait=max_wait,
        )

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
    ) -> GitHub | None:
        """The channel configured by :data:`ENV_TOKEN`, :data:`ENV_REPO` and :data:`ENV_API`.

        Returns
        -------
        GitHub or None
            None when the token or the repository is not set.

        Raises
        ------
        InvalidInput
            A malformed repository or API URL (the token is never quoted).
        """
        token = environ.get(ENV_TOKEN, "").strip()
        repo = environ.get(ENV_REPO, "").strip()
        if not token or not repo:
            return None
        return cls(
            token=token,
            repo=repo,
            api=environ.get(ENV_API, "").strip() or DEFAULT_API,
            transport=transport,
            attempts=attempts,
            timeout=timeout,
            sleep=sleep,
            max_wait=max_wait,
        )

    def __repr__(self) -> str:
        return f"GitHub(repo={self.repo!r}, api={self.api!r}, token=***)"

    @property
    def name(self) -> ChannelName:
        """``"github"``."""
        return _NAME

    @property
    def http(self) -> Http:
        """The client that sends (it masks the token)."""
        return self._http

    # -- requests ------------------------------------------------------------------------------

    def _headers(self) -> tuple[tuple[str, str], ...]:
        return (
            ("Accept", "application/vnd.github+json"),
            ("Authorization", f"Bearer {self._token}"),
            ("X-GitHub-Api-Version", API_VERSION),
            ("User-Agent", "incident-runbooks"),
        )

    def _issues_url(self) -> str:
        owner, name = self.repo.split("/")
        return f"{self.api}/repos/{quote(owner, safe='')}/{quote(name, safe='')}/issues"

    def listing(self, incident_id: str) -> Call:
        """The first read of a send: the incident's issues, open or closed, 100 a page.

        Oldest first, so that when two issues hold one marker the first filed counts.
        """
        query = {
            "state": "all",
            "labels": incident_label(incident_id),
            "sort": "created",
            "direction": "asc",
            "per_page": "100",
        }
        return Call("GET", f"{self._issues_url()}?{urlencode(query)}", self._headers())

    def calls(self, draft: Draft) -> tuple[Call, ...]:
        """The issues a confirmed send creates, one ``POST`` each; no I/O.

        Items already filed (found by their marker when sending) are skipped,
        so a send makes at most these writes.
        """
        _, issues = _payload(draft)
        return tuple(self._create(issue) for issue in issues)

    def _create(self, issue: Mapping[str, Any]) -> Call:
        body = {"title": issue["title"], "body": issue["body"], "labels": list(issue["labels"])}
        return Call("POST", self._issues_url(), self._headers(), body)

    # -- sending -------------------------------------------------------------------------------

    def send(self, draft: Draft) -> Sent:
        """File the draft's issues that are not filed yet; never raises for an answer.

        Returns
        -------
        Sent
            ``links``: every item's issue URL (created or found), in item order;
            ``refs``: ``{"github_issue:<key>": url}``; ``detail`` such as
            ``"created 2 issues (#12, #13); 1 already filed (#10)"``.
        """
        try:
            incident_id, issues = _payload(draft)
        except InvalidInput as exc:
            return Sent(draft, False, f"nothing filed: {exc}")
        if draft.target and draft.target != self.repo:
            return Sent(
                draft,
                False,
                f"nothing filed: drafted for {draft.target}, but {ENV_REPO} is {self.repo}",
            )
        if not issues:
            return Sent(draft, True, "nothing to file: no action items")
        found, replies, problem = self._filed(incident_id)
        if problem:
            return Sent(
                draft,
                False,
                f"nothing filed: could not list the issues of {self.repo} to find earlier "
                f"filings ({problem})",
                self._clean(replies),
            )
        links: list[str] = []
        refs: dict[str, str] = {}
        created: list[str] = []
        already: list[str] = []
        unlabelled: list[str] = []
        failure = ""
        left = 0
        for i, issue in enumerate(issues):
            key = str(issue["key"])
            if key in found:
                number, url = found[key]
                already.append(f"#{number}")
            else:
                reply = self._http.request(self._create(issue), label="github")
                replies.append(reply)
                made = _issue_of(reply)
                if not reply.ok or made is None:
                    why = (
                        reply.detail if not reply.ok else f"{reply.status}: no issue in the answer"
                    )
                    failure = f"failed to create {shorten(str(issue['title']), 60)!r}: {why}"
                    left = len(issues) - i - 1
                    break
                number, url, labels = made
                created.append(f"#{number}")
                if incident_label(incident_id) not in labels:
                    unlabelled.append(f"#{number}")
            links.append(url)
            refs[f"github_issue:{key}"] = url
        parts = []
        if created:
            parts.append(f"created {_issues(len(created))} ({', '.join(created)})")
        if already:
            parts.append(f"{len(already)} already filed ({', '.join(already)})")
        if unlabelled:
            parts.append(
                f"labels not applied to {', '.join(unlabelled)} (the token lacks push access?): "
                "filing again cannot find them"
            )
        if failure:
            parts.append(failure)
            if left:
                parts.append(f"{left} not tried")
        detail = self._http.scrub("; ".join(parts))
        return Sent(draft, not failure, detail, self._clean(replies), tuple(links), refs)

    def _clean(self, replies: Sequence[Reply]) -> tuple[Reply, ...]:
        """``replies`` with the token masked in their bodies (an answer may quote it)."""
        out = []
        for reply in replies:
            text = json.dumps(reply.body, ensure_ascii=False)
            masked = self._http.scrub(text)
            out.append(reply if masked == text else replace(reply, body=json.loads(masked)))
        return tuple(out)

    def _filed(self, incident_id: str) -> tuple[dict[str, tuple[int, str]], list[Reply], str]:
        """Issues (not pull requests) holding a marker of the incident: key -> (number, URL).

        Returns the markers found, the replies and what went wrong (``""``).
        """
        pattern = re.compile(
            rf"<!--\s*{re.escape(MARKER_PREFIX)}:{re.escape(incident_id)}:({_KEY.pattern})\s*-->"
        )
        found: dict[str, tuple[int, str]] = {}
        replies: list[Reply] = []
        call = self.listing(incident_id)
        for _ in range(_MAX_PAGES):
            reply = self._http.request(call, label="github")
            replies.append(reply)
            if not reply.ok:
                return found, replies, reply.detail
            if not isinstance(reply.body, list):
                return found, replies, f"{reply.status}: the answer is not a list of issues"
            for issue in reply.body:
                if not isinstance(issue, dict) or "pull_request" in issue:
                    continue  # the issues endpoint also returns pull requests
                number, url = issue.get("number"), issue.get("html_url")
                text = issue.get("body")
                if not isinstance(number, int) or not isinstance(url, str):
                    continue
                for key in pattern.findall(text if isinstance(text, str) else ""):
                    found.setdefault(key, (number, url))
            following = _next_link(reply.headers.get("link", ""))
            if not following:
                return found, replies, ""
            if not _same_origin(following, self.api):
                return (
                    found,
                    replies,
                    f"the next page is on another host ({urlsplit(following).hostname}); "
                    "not following it with the token",
                )
            call = Call("GET", following, self._headers())
        return found, replies, f"more than {_MAX_PAGES} pages of issues"


def _issues(count: int) -> str:
    return f"{count} issue{'s' if count != 1 else ''}"


def _payload(draft: Draft) -> tuple[str, list[Mapping[str, Any]]]:
    """The incident id and the issues of a :func:`file_action_items` draft."""
    if draft.channel != _NAME:
        raise InvalidInput(f"a {draft.channel} draft is not a GitHub draft")
    payload = draft.payload
    issues = payload.get("issues") if isinstance(payload, Mapping) else None
    incident_id = payload.get("incident") if isinstance(payload, Mapping) else None
    if not isinstance(issues, list) or not isinstance(incident_id, str):
        raise InvalidInput("the draft holds no issues: draft it with file_action_items")
    _check_incident_id(incident_id)
    for issue in issues:
        if (
            not isinstance(issue, Mapping)
            or not isinstance(issue.get("key"), str)
            or not _KEY.fullmatch(issue["key"])
            or not isinstance(issue.get("title"), str)
            or not isinstance(issue.get("body"), str)
            or not isinstance(issue.get("labels"), list)
        ):
            raise InvalidInput("the draft's issues are malformed: draft it with file_action_items")
    return incident_id, issues


def _issue_of(reply: Reply) -> tuple[int, str, list[str]] | None:
    """The number, URL and label names of a created issue, None when the answer lacks them."""
    body = reply.body
    if not isinstance(body, dict):
        return None
    number, url = body.get("number"), body.get("html_url")
    if not isinstance(number, int) or not isinstance(url, str):
        return None
    labels = [
        label.get("name") if isinstance(label, dict) else label
        for label in body.get("labels") or []
    ]
    return number, url, [name for name in labels if isinstance(name, str)]


def _next_link(header: str) -> str:
    """The ``rel="next"`` URL of a ``Link`` header, ``""`` when there is none."""
    for found in _LINK.finditer(header):
        if "next" in found.group(2).split():
            return found.group(1).strip()
    return ""


def _same_origin(url: str, base: str) -> bool:
    one, two = urlsplit(url), urlsplit(base)
    return (one.scheme, one.netloc.lower()) == (two.scheme, two.netloc.lower())


def _check_api(api: str) -> str:
    url = check_http_url(api, ENV_API, secret=True)
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput(f"{ENV_API} must be a base URL without credentials, query or fragment")
    if parts.scheme != "https" and (parts.hostname or "") not in _LOCAL_HOSTS:
        raise InvalidInput(f"{ENV_API} must be an https URL (the token is sent to it), not {url!r}")
    return url
