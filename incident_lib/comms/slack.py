"""Slack: the triage announcement, status updates and the resolution, in Block Kit.

Two ways in, both configured from the environment only (:meth:`Slack.from_environment`):

* an **incoming webhook** (``INCIDENT_SLACK_WEBHOOK_URL``; the whole URL is a
  secret): ``POST <url>`` with ``{"text", "blocks"}``; Slack answers ``200 ok``, or
  a ``4xx`` whose body names the problem (``invalid_payload``, ``no_text``,
  ``channel_not_found``, ``channel_is_archived``, ``action_prohibited``...);
* a **bot token** (``INCIDENT_SLACK_BOT_TOKEN`` and ``INCIDENT_SLACK_CHANNEL``;
  ``INCIDENT_SLACK_API`` for another base URL): ``POST {api}/chat.postMessage``
  with ``Authorization: Bearer <token>`` and ``{"channel", "text", "blocks"}``.
  Slack answers ``200`` even when it refuses, with ``{"ok": false, "error": ...}``:
  that is a failed send. The message's ``ts`` is kept as the ``slack_ts`` ref so
  that later posts go in its thread (``thread_ts``). Both set: the bot token is
  used (it can thread).

Drafts (:func:`announcement`, :func:`status_update`, :func:`resolution`) are pure:
built from the incident record and the text, without credentials or I/O. Their
Block Kit stays within Slack's documented limits (header 150 characters, section
text 3000, a field 2000 and at most 10 fields, button text 75 and URL 3000, at
most 50 blocks), and ``&``, ``<``, ``>`` are escaped (Slack's control characters),
so text from the evidence never becomes a mention such as ``<!channel>`` or a link.
``Draft.text`` is the same message in plain text, shown before sending.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..core.errors import InvalidInput
from ..core.incident import Incident
from ..core.severity import ROLE_NAMES, update_interval
from ..core.text import shorten
from ..core.time import format_duration
from ._http import Call, Http, check_http_url
from ._model import ChannelName, Draft, Sent

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ENV_SLACK_API",
    "ENV_SLACK_BOT_TOKEN",
    "ENV_SLACK_CHANNEL",
    "ENV_SLACK_WEBHOOK_URL",
    "SLACK_API",
    "SLACK_BLOCKS",
    "SLACK_BUTTON_CHARS",
    "SLACK_FIELDS",
    "SLACK_FIELD_CHARS",
    "SLACK_HEADER_CHARS",
    "SLACK_TEXT_CHARS",
    "SLACK_URL_CHARS",
    "Slack",
    "announcement",
    "cut_lines",
    "fit_line",
    "fit_text",
    "incident_channel",
    "link_block",
    "mrkdwn_section",
    "next_update_at",
    "plain_text",
    "resolution",
    "slack_escape",
    "status_update",
]

#: Slack's documented Block Kit limits
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000
SLACK_FIELD_CHARS = 2000
SLACK_FIELDS = 10
SLACK_BUTTON_CHARS = 75
SLACK_URL_CHARS = 3000
SLACK_BLOCKS = 50

#: environment variables read by :meth:`Slack.from_environment`
ENV_SLACK_WEBHOOK_URL = "INCIDENT_SLACK_WEBHOOK_URL"
ENV_SLACK_BOT_TOKEN = "INCIDENT_SLACK_BOT_TOKEN"
ENV_SLACK_CHANNEL = "INCIDENT_SLACK_CHANNEL"
ENV_SLACK_API = "INCIDENT_SLACK_API"
#: the Web API's base URL
SLACK_API = "https://slack.com/api"

_JSON = "application/json; charset=utf-8"
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_SPACES = re.compile(r"[ \t\r\f\v]+")
# a message ``ts``: seconds, a dot, microseconds (``1503435956.000247``)
_TS = re.compile(r"\d{1,12}\.\d{1,9}")
# a channel id (C0123ABCD), or a name with or without ``#`` (lower case, -, _)
_CHANNEL = re.compile(r"#?[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
# visible ASCII only: a token goes into a header
_TOKEN = re.compile(r"[\x21-\x7e]{8,}")
_BUTTON = "Open the bundle"  # at most SLACK_BUTTON_CHARS
# what to do about the errors Slack names (Web API ``error`` or webhook body)
_HINTS = {
    "not_in_channel": "invite the app to the channel first",
    "channel_not_found": f"check {ENV_SLACK_CHANNEL} (or the webhook's channel) exists and the "
    "app can see it",
    "is_archived": "the channel is archived: unarchive it or post elsewhere",
    "channel_is_archived": "the channel is archived: unarchive it or make a new webhook",
    "invalid_auth": f"check {ENV_SLACK_BOT_TOKEN}",
    "not_authed": f"set {ENV_SLACK_BOT_TOKEN}",
    "token_revoked": f"the token was revoked: set a new {ENV_SLACK_BOT_TOKEN}",
    "account_inactive": f"the token's user or app is gone: set a new {ENV_SLACK_BOT_TOKEN}",
    "missing_scope": "the token needs the chat:write scope",
    "no_service": f"the webhook was removed or is wrong: check {ENV_SLACK_WEBHOOK_URL}",
    "invalid_token": f"the webhook is no longer valid: check {ENV_SLACK_WEBHOOK_URL}",
    "action_prohibited": "a workspace setting forbids this webhook to post here",
    "msg_too_long": "the message is too long for Slack",
    "invalid_blocks": "Slack refused the blocks",
}


# -- Block Kit helpers (shared with incident_lib.receiver.notify) -------------------------


def slack_escape(text: str) -> str:
    """``text`` with Slack's control characters ``&``, ``<``, ``>`` as HTML entities.

    Examples
    --------
    >>> slack_escape("<!channel> & <http://x|y>")
    '&lt;!channel&gt; &amp; &lt;http://x|y&gt;'
    """
    return text.translate(_SLACK_ESCAPES)


def plain_text(text: str, *, emoji: bool = True) -> dict[str, Any]:
    """A ``plain_text`` text object (``text`` already escaped and within its limit)."""
    return {"type": "plain_text", "text": text, "emoji": emoji}


def mrkdwn_section(text: str) -> dict[str, Any]:
    """A ``section`` block of ``mrkdwn`` text (already escaped and within its limit)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def link_block(link: str, *, label: str = _BUTTON) -> dict[str, Any]:
    """A button for an http(s) URL that fits Slack's limits, else a context line.

    Parameters
    ----------
    link
        A URL or a path.
    label
        The button's text (at most 75 characters).
    """
    link = link.strip()
    if _is_http_url(link) and len(link) <= SLACK_URL_CHARS and not re.search(r"\s", link):
        button = {
            "type": "button",
            "text": plain_text(fit_line(label, SLACK_BUTTON_CHARS)),
            "url": link,
        }
        return {"type": "actions", "elements": [button]}
    text = fit_line(f"Bundle: {link}", SLACK_TEXT_CHARS)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def fit_line(text: str, limit: int) -> str:
    """``text`` on one line, escaped for Slack, at most ``limit`` characters once escaped."""
    width = limit
    while True:
        escaped = slack_escape(shorten(text, width))
        if len(escaped) <= limit or width <= 2:
            return escaped[:limit]
        width = max(2, width - (len(escaped) - limit))


def fit_text(text: str, limit: int) -> str:
    """``text`` (lines kept), escaped for Slack, at most ``limit`` characters once escaped."""
    width = limit
    while True:
        escaped = slack_escape(cut_lines(text.strip(), width))
        if len(escaped) <= limit or width <= 2:
            return escaped[:limit]
        width = max(2, width - (len(escaped) - limit))


def cut_lines(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters: whole lines, then the next one shortened.

    Runs of blanks inside a line become one space; trailing blanks go.
    """
    text = "\n".join(_SPACES.sub(" ", line).rstrip() for line in text.splitlines())
    if len(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for line in text.splitlines():
        room = limit - used - (1 if kept else 0)
        if len(line) <= room:
            kept.append(line)
            used += len(line) + (1 if len(kept) > 1 else 0)
            continue
        if room >= 2 and line.strip():
            kept.append(shorten(line, room))
        elif kept and room < 2:
            kept[-1] = shorten(kept[-1], max(2, len(kept[-1]) - 1))
        break
    return "\n".join(kept)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _fields(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A ``section`` of at most 10 ``*name*\\nvalue`` fields (each within 2000 characters)."""
    fields = []
    for name, value in list(pairs)[:SLACK_FIELDS]:
        label = f"*{fit_line(name, 100)}*\n"
        fields.append(
            {"type": "mrkdwn", "text": label + fit_text(value, SLACK_FIELD_CHARS - len(label))}
        )
    return {"type": "section", "fields": fields}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit_line(text, 3000)}]}


# -- drafts --------------------------------------------------------------------------------


def incident_channel(incident: Incident) -> str:
    """The conventional channel of an incident: ``#`` and its id in lower case.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> record = Incident.create(id="INC-2026-0042", title="t", service="api",
    ...     namespace="prod", severity="SEV-2", start=datetime(2026, 11, 3, tzinfo=UTC))
    >>> incident_channel(record)
    '#inc-2026-0042'
    """
    return "#" + incident.id.lower()


def next_update_at(incident: Incident, now: datetime) -> datetime:
    """When the next update is due: ``now`` plus the severity's cadence, up to the minute.

    Parameters
    ----------
    incident
        The record (its severity sets the cadence, :func:`~..core.severity.update_interval`).
    now
        The time of this message.
    """
    due = now + update_interval(incident.severity)
    rounded = due.replace(second=0, microsecond=0)
    return rounded if rounded == due else rounded + timedelta(minutes=1)


def announcement(
    incident: Incident,
    *,
    next_update: datetime,
    headline: str = "",
    join: str = "",
    link: str = "",
) -> Draft:
    """The triage announcement: severity, status, title, roles, where to join, next update.

    Parameters
    ----------
    incident
        The record (id, severity, status, title, roles, impact).
    next_update
        When the next update is due (:func:`next_update_at`).
    headline
        One line from the evidence (the diagnosis); default the record's summary.
    join
        The channel responders join; default :func:`incident_channel`.
    link
        The bundle's URL or path, ``""`` for none.

    Returns
    -------
    Draft
        ``slack: announce``; its payload is ``{"text", "blocks"}``.
    """
    head = _head(incident, incident.status)
    line = (headline or incident.summary).strip()
    room = join.strip() or incident_channel(incident)
    roles = [
        (name[:1].upper() + name[1:], getattr(incident.roles, key) or "unassigned")
        for key, name in ROLE_NAMES.items()
    ]
    cadence = _cadence(incident, next_update)
    texts = [head]
    if line:
        texts.append(line)
    if incident.impact.strip():
        texts.append(f"Impact: {incident.impact.strip()}")
    texts += [f"{name}: {holder}" for name, holder in roles]
    texts += [f"Join {room}", cadence]

    blocks: list[dict[str, Any]] = [_header(head)]
    summary = []
    if line:
        summary.append(line)
    if incident.impact.strip():
        summary.append(f"Impact: {incident.impact.strip()}")
    if summary:
        blocks.append(mrkdwn_section(fit_text("\n".join(summary), SLACK_TEXT_CHARS)))
    blocks.append(_fields(roles))
    blocks.append(mrkdwn_section(fit_line(f"Join {room}", SLACK_TEXT_CHARS)))
    if link.strip():
        blocks.append(link_block(link))
    blocks.append(_context(cadence))
    return _draft("announce", texts, head, line, blocks, "")


def status_update(
    incident: Incident,
    text: str,
    *,
    next_update: datetime,
    thread_ts: str = "",
    link: str = "",
) -> Draft:
    """A status update: the record's status, the text, when the next one is due.

    Parameters
    ----------
    incident
        The record (id, severity, status, title).
    text
        What changed, in plain text (from the evidence; escaped for Slack here).
    next_update
        When the next update is due (:func:`next_update_at`).
    thread_ts
        The announcement's ``ts`` (``sent_refs(workspace)["slack_ts"]``) to post in
        its thread; ``""``: a new message.
    link
        The bundle's URL or path, ``""`` for none.

    Raises
    ------
    InvalidInput
        Empty text or a malformed ``thread_ts``.
    """
    if not text.strip():
        raise InvalidInput("a status update needs text: what changed, what is next")
    head = f"Update: {_head(incident, incident.status)}"
    cadence = _cadence(incident, next_update)
    blocks: list[dict[str, Any]] = [
        _header(head),
        mrkdwn_section(fit_text(text, SLACK_TEXT_CHARS)),
    ]
    if link.strip():
        blocks.append(link_block(link))
    blocks.append(_context(cadence))
    return _draft("status update", [head, text.strip(), cadence], head, text, blocks, thread_ts)


def resolution(incident: Incident, text: str, *, thread_ts: str = "", link: str = "") -> Draft:
    """The resolution message: what fixed it, how long it lasted (from the record's times).

    The duration runs from ``times.detected`` (else the window's start) to
    ``times.resolved`` (else the window's end); without an end it says so.

    Parameters
    ----------
    incident
        The record (id, severity, title, times, window).
    text
        What resolved it, in plain text; ``""``: a one-line default.
    thread_ts
        The announcement's ``ts`` to post in its thread; ``""``: a new message.
    link
        The bundle's URL or path, ``""`` for none.

    Raises
    ------
    InvalidInput
        A malformed ``thread_ts``.
    """
    head = f"Resolved: {incident.id} · {incident.severity}: {incident.title}"
    body = text.strip() or "The incident is resolved."
    began = incident.detected_at
    ended = incident.times.resolved or incident.end
    facts = [("Detected", f"{began:%Y-%m-%d %H:%M} UTC")]
    if ended is not None:
        facts += [
            ("Resolved", f"{ended:%Y-%m-%d %H:%M} UTC"),
            ("Duration", format_duration(ended - began)),
        ]
    else:
        facts.append(("Duration", "not recorded (set times.resolved in incident.yaml)"))
    texts = [head, body, *(f"{name}: {value}" for name, value in facts)]
    blocks: list[dict[str, Any]] = [
        _header(head),
        mrkdwn_section(fit_text(body, SLACK_TEXT_CHARS)),
        _fields(facts),
    ]
    if link.strip():
        blocks.append(link_block(link))
    return _draft("resolution", texts, head, body, blocks, thread_ts)


def _head(incident: Incident, status: str) -> str:
    return f"{incident.id} · {incident.severity} · {status}: {incident.title}"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain_text(fit_line(text, SLACK_HEADER_CHARS), emoji=False)}


def _cadence(incident: Incident, next_update: datetime) -> str:
    every = format_duration(update_interval(incident.severity))
    return f"Next update by {next_update:%H:%M} UTC (every {every} for {incident.severity})."


def _draft(
    action: str,
    texts: list[str],
    head: str,
    line: str,
    blocks: list[dict[str, Any]],
    thread_ts: str,
) -> Draft:
    thread = thread_ts.strip()
    if thread and not _TS.fullmatch(thread):
        raise InvalidInput(
            f"thread_ts {thread_ts!r} is not a Slack message ts such as 1503435956.000247"
        )
    first = next((part.strip() for part in line.splitlines() if part.strip()), "")
    fallback = f"{head}: {first}" if first else head
    payload: dict[str, Any] = {
        "text": fit_line(fallback, SLACK_TEXT_CHARS),
        "blocks": blocks[:SLACK_BLOCKS],
    }
    if thread:
        payload["thread_ts"] = thread
    return Draft("slack", action, "\n".join(texts), payload)


# -- the channel ---------------------------------------------------------------------------


class Slack:
    """Posts Slack drafts through an incoming webhook or ``chat.postMessage``.

    Parameters
    ----------
    webhook_url
        An incoming-webhook URL (a secret); or:
    bot_token
        A bot token (``xoxb-...``, a secret) with the ``chat:write`` scope, and
    channel
        the channel it posts to (an id such as ``C0123456789``, or a name).
    api
        The Web API's base URL.
    transport, attempts, timeout, sleep, max_wait
        Passed to :class:`~._http.Http`.

    Raises
    ------
    InvalidInput
        Neither or both of ``webhook_url`` and ``bot_token``, a token without a
        channel, a malformed value; the message never quotes a secret.
    """

    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        bot_token: str | None = None,
        channel: str | None = None,
        api: str = SLACK_API,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
    ) -> None:
        if (webhook_url is None) == (bot_token is None):
            raise InvalidInput(
                f"Slack needs either a webhook URL ({ENV_SLACK_WEBHOOK_URL}) or a bot token "
                f"and a channel ({ENV_SLACK_BOT_TOKEN}, {ENV_SLACK_CHANNEL}), not "
                + ("both" if webhook_url is not None else "neither")
            )
        if webhook_url is not None:
            webhook_url = check_http_url(webhook_url, "the Slack webhook URL", secret=True)
        if bot_token is not None:
            if not _TOKEN.fullmatch(bot_token):
                raise InvalidInput(
                    "the Slack bot token must be one word of visible characters, such as "
                    "xoxb-... (its value is not shown: it is a secret)"
                )
            if not channel or not _CHANNEL.fullmatch(channel):
                raise InvalidInput(
                    f"a Slack bot token needs the channel it posts to: set {ENV_SLACK_CHANNEL} "
                    "to a channel id (C0123456789) or name (#incidents)"
                    + (f", not {channel!r}" if channel else "")
                )
        self._webhook = webhook_url
        self._token = bot_token
        self._channel = channel or ""
        self._api = check_http_url(api, "the Slack API URL")
        self._http = Http(
            secrets=(webhook_url, bot_token),
            transport=transport,
            attempts=attempts,
            timeout=timeout,
            sleep=sleep,
            max_wait=max_wait,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Slack | None:
        """The Slack channel configured in ``environ``, None when it is not.

        ``INCIDENT_SLACK_BOT_TOKEN`` with ``INCIDENT_SLACK_CHANNEL`` (and optionally
        ``INCIDENT_SLACK_API``), else ``INCIDENT_SLACK_WEBHOOK_URL``; empty values
        count as unset.

        Raises
        ------
        InvalidInput
            A malformed value, a token without a channel (never quoting a secret).
        """

        def value(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        token, webhook = value(ENV_SLACK_BOT_TOKEN), value(ENV_SLACK_WEBHOOK_URL)
        api = value(ENV_SLACK_API) or SLACK_API
        if token is not None:
            return cls(bot_token=token, channel=value(ENV_SLACK_CHANNEL), api=api)
        if webhook is not None:
            return cls(webhook_url=webhook, api=api)
        return None

    @property
    def name(self) -> ChannelName:
        """``slack``."""
        return "slack"

    @property
    def http(self) -> Http:
        """The client that sends (it masks the webhook URL and the token)."""
        return self._http

    @property
    def mode(self) -> str:
        """``webhook`` or ``bot``."""
        return "bot" if self._token is not None else "webhook"

    def __repr__(self) -> str:
        where = f", channel={self._channel!r}, api={self._api!r}" if self._token else ""
        return f"Slack(mode={self.mode!r}{where}, {self._http!r})"

    def calls(self, draft: Draft) -> tuple[Call, ...]:
        """The one ``POST`` a confirmed send of ``draft`` makes; no I/O.

        Raises
        ------
        InvalidInput
            Not a Slack draft, or a payload without ``text`` and ``blocks``.
        """
        payload = self._payload(draft)
        if self._webhook is not None:
            return (Call("POST", self._webhook, (("Content-Type", _JSON),), payload),)
        headers = (("Authorization", f"Bearer {self._token}"), ("Content-Type", _JSON))
        body = {"channel": self._channel, **payload}
        return (Call("POST", f"{self._api}/chat.postMessage", headers, body),)

    def send(self, draft: Draft) -> Sent:
        """Post ``draft``; never raises for an answer.

        Returns
        -------
        Sent
            ``ok`` when Slack accepted it (webhook: a ``2xx``; bot: ``"ok": true``);
            with the bot token, ``refs`` holds ``slack_ts`` (the thread's parent:
            the message itself, or the thread it went in) and ``slack_channel``.
        """
        [call] = self.calls(draft)
        reply = self._http.request(call, label="slack")
        replies = (reply,)
        if not reply.ok:
            return Sent(draft, False, self._hinted(reply.detail), replies)
        if self._webhook is not None:
            return Sent(draft, True, f"posted ({reply.status})", replies)
        answer = reply.body
        if not isinstance(answer, dict):
            detail = f"failed: chat.postMessage answered {reply.status} without Slack's JSON"
            return Sent(draft, False, detail, replies)
        if answer.get("ok") is not True:
            error = str(answer.get("error") or "no error named")
            detail = f"refused: chat.postMessage: {error}"
            if error == "missing_scope" and answer.get("needed"):
                detail += f" (needs {answer.get('needed')})"
            return Sent(draft, False, self._hinted(detail), replies)
        ts = str(answer.get("ts") or "")
        channel = str(answer.get("channel") or self._channel)
        thread = str(call.body.get("thread_ts") or "")
        where = f" in the thread of {thread}" if thread else ""
        refs = {"slack_ts": thread or ts, "slack_channel": channel} if ts else {}
        detail = self._http.scrub(f"posted to {channel}{where} (ts {ts or 'not given'})")
        return Sent(draft, True, detail, replies, refs=refs)

    def _payload(self, draft: Draft) -> dict[str, Any]:
        if draft.channel != "slack":
            raise InvalidInput(f"a {draft.channel} draft cannot be sent through slack")
        payload = draft.payload
        if not isinstance(payload, Mapping) or not (payload.get("text") or payload.get("blocks")):
            raise InvalidInput(
                "a Slack draft's payload needs text or blocks: build it with "
                "slack.announcement, status_update or resolution"
            )
        return dict(payload)

    def _hinted(self, detail: str) -> str:
        words = set(re.findall(r"[a-z_]+", detail))
        hints = [hint for code, hint in _HINTS.items() if code in words]
        text = f"{detail}: {hints[0]}" if hints else detail
        return self._http.scrub(text)
