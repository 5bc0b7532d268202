"""The message back: a Slack-compatible incoming-webhook post and a PagerDuty note, with retries.

:class:`Notifier` sends one :class:`Message` (the incident, its diagnosis headline,
a few plain-text sections and the bundle's link) to every configured channel and
returns one :class:`Delivery` per channel; it never raises for a delivery failure,
so a chat outage never blocks a capture.

* ``slack``: a JSON POST to the incoming-webhook URL with ``text`` (the fallback
  shown in notifications) and Block Kit ``blocks``: a ``header`` (id, severity,
  status, title), a ``section`` with the headline, one ``section`` per part and the
  bundle link (a button for an ``http(s)`` URL, else a ``context`` line). Slack's
  documented limits are kept (header text 150 characters, section text 3000, button
  text 75 and URL 3000, at most 50 blocks) and ``&``, ``<``, ``>`` are escaped as
  ``&amp;``, ``&lt;``, ``&gt;`` (Slack's control characters), so text from the
  evidence never becomes a link, a mention such as ``<!channel>`` or a markup tag.
* ``pagerduty``: ``POST {api}/incidents/{id}/notes`` (REST API v2, ``Authorization:
  Token token=...`` and ``From: <user email>``) with the message as plain text of
  at most 25,000 characters; only for a message from a PagerDuty incident.

Each request goes through :class:`incident_lib.comms.Http` (the Block Kit helpers
are :mod:`incident_lib.comms.slack`'s), tried up to ``attempts`` times: again after a
timeout (a duplicate chat line is better than none from an unattended receiver), a
connection error, a ``429`` (waiting what ``Retry-After`` says, at most ``max_wait``:
a longer wait is cut to ``max_wait``) or a ``5xx`` (exponential back-off); any other
``4xx`` is reported at once, in words. The webhook URL and the token are secrets:
they appear in no :class:`Delivery`, log line, exception message or ``repr``; the
``httpx``/``httpcore`` loggers mask them (``httpx`` logs every request's URL).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..comms import Call, Http, Reply
from ..comms.slack import (
    SLACK_BLOCKS,
    SLACK_HEADER_CHARS,
    SLACK_TEXT_CHARS,
    cut_lines,
    fit_line,
    fit_text,
    link_block,
    mrkdwn_section,
    plain_text,
)
from ..comms.slack import SLACK_BUTTON_CHARS as SLACK_BUTTON_CHARS  # re-exported
from ..comms.slack import SLACK_URL_CHARS as SLACK_URL_CHARS  # re-exported
from ..comms.slack import slack_escape as slack_escape  # re-exported
from ..core.errors import InvalidInput

if TYPE_CHECKING:
    import httpx

__all__ = ["Delivery", "Message", "Notifier"]

logger = logging.getLogger(__name__)

#: PagerDuty's limit on a note's content
PAGERDUTY_NOTE_CHARS = 25_000
PAGERDUTY_ACCEPT = "application/vnd.pagerduty+json;version=2"

#: environment variables read by :meth:`Notifier.from_environment`
ENV_SLACK_URL = "INCIDENT_SLACK_WEBHOOK_URL"
ENV_PAGERDUTY_TOKEN = "INCIDENT_PAGERDUTY_TOKEN"
ENV_PAGERDUTY_FROM = "INCIDENT_PAGERDUTY_FROM"
ENV_PAGERDUTY_API = "INCIDENT_PAGERDUTY_API"

_SLACK_JSON = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Message:
    """What the receiver says about one incident, in plain text.

    Attributes
    ----------
    incident_id
        The incident's id.
    title
        The incident's title.
    severity
        ``SEV-1`` ... ``SEV-4``.
    status
        ``firing``, ``acknowledged`` or ``resolved``.
    headline
        One line: the diagnosis (``deploy v2.34 at 14:10 UTC -> 5xx share up to 14.43 %``).
    sections
        ``(title, text)`` pairs in plain text (``("Trigger", "...")``, ``("Next step", "...")``).
    link
        The bundle's URL or path, ``""`` when none.
    pagerduty_incident
        The PagerDuty incident id when the alert came from PagerDuty, else ``""``.
    """

    incident_id: str
    title: str
    severity: str
    status: str
    headline: str
    sections: tuple[tuple[str, str], ...]
    link: str
    pagerduty_incident: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """How sending to one channel went.

    Attributes
    ----------
    channel
        ``slack`` or ``pagerduty``.
    ok
        Whether the channel accepted the message.
    attempts
        Requests made (1 when the first one was answered for good).
    detail
        ``"200"``, ``"refused: 400 bad request (invalid_blocks)"``, ``"gave up after 4
        attempts: 503"``; never a URL, a token or a secret.
    """

    channel: str
    ok: bool
    attempts: int
    detail: str


class Notifier:
    """Sends a :class:`Message` to Slack and/or PagerDuty, retrying what can be retried.

    Parameters
    ----------
    slack_url
        The Slack (or Slack-compatible) incoming-webhook URL; a secret. None: no Slack.
    pagerduty_token
        A PagerDuty REST API token; a secret. None: no PagerDuty notes.
    pagerduty_from
        The email address of the PagerDuty user the notes are written as (required
        with a token).
    pagerduty_api
        The PagerDuty REST API base URL.
    transport
        An ``httpx`` transport (tests, proxies); None: the default.
    attempts
        Requests per channel at most (first try included).
    timeout
        Seconds to wait for a connection, a write or an answer, per request.
    sleep
        Waits between attempts (injected so that tests do not wait).
    max_wait
        The longest wait between attempts, whatever ``Retry-After`` says.

    Raises
    ------
    InvalidInput
        A URL that is not ``http(s)``, a token without ``pagerduty_from``, or
        ``attempts``, ``timeout`` or ``max_wait`` out of range. The message never
        quotes a secret.
    """

    def __init__(
        self,
        *,
        slack_url: str | None = None,
        pagerduty_token: str | None = None,
        pagerduty_from: str | None = None,
        pagerduty_api: str = "https://api.pagerduty.com",
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
    ) -> None:
        if slack_url is not None and not _is_http_url(slack_url):
            raise InvalidInput(
                "the Slack webhook URL must be an http(s) URL (its value is not shown: it is "
                "a secret)"
            )
        if pagerduty_token is not None and not pagerduty_from:
            raise InvalidInput(
                "a PagerDuty token needs the email of the PagerDuty user the notes are "
                f"written as: set {ENV_PAGERDUTY_FROM}"
            )
        if pagerduty_token is not None and not pagerduty_token.strip():
            raise InvalidInput("the PagerDuty token is empty")
        if not _is_http_url(pagerduty_api):
            raise InvalidInput(f"the PagerDuty API must be an http(s) URL, not {pagerduty_api!r}")
        # checks attempts, timeout and max_wait; masks the secrets in the HTTP loggers
        self._http = Http(
            secrets=(slack_url, pagerduty_token),
            transport=transport,
            attempts=attempts,
            timeout=timeout,
            sleep=sleep,
            max_wait=max_wait,
        )
        self._slack_url = slack_url
        self._token = pagerduty_token
        self._from = pagerduty_from or ""
        self._api = pagerduty_api.rstrip("/")
        self._transport = transport
        self.attempts = attempts
        self.timeout = float(timeout)
        self.max_wait = float(max_wait)
        self._sleep = sleep

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """A notifier configured from the environment.

        ``INCIDENT_SLACK_WEBHOOK_URL``, ``INCIDENT_PAGERDUTY_TOKEN``,
        ``INCIDENT_PAGERDUTY_FROM`` and, optionally, ``INCIDENT_PAGERDUTY_API`` (the
        REST API base URL); an unset or empty variable leaves its channel off.

        Parameters
        ----------
        environ
            The environment (``os.environ`` unless given).

        Returns
        -------
        Notifier
            With the default attempts, timeout and waits.
        """

        def value(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        return cls(
            slack_url=value(ENV_SLACK_URL),
            pagerduty_token=value(ENV_PAGERDUTY_TOKEN),
            pagerduty_from=value(ENV_PAGERDUTY_FROM),
            pagerduty_api=value(ENV_PAGERDUTY_API) or "https://api.pagerduty.com",
        )

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels: ``slack`` and/or ``pagerduty``."""
        found: list[str] = []
        if self._slack_url is not None:
            found.append("slack")
        if self._token is not None and self._from:
            found.append("pagerduty")
        return tuple(found)

    def __repr__(self) -> str:
        return (
            f"Notifier(channels={self.channels!r}, attempts={self.attempts}, "
            f"timeout={self.timeout:g}, max_wait={self.max_wait:g})"
        )

    def send(self, message: Message) -> list[Delivery]:
        """Send ``message`` to every configured channel, one after the other.

        Slack gets every message; PagerDuty only one with ``pagerduty_incident`` set.
        A channel that is not configured is skipped (nothing is sent, no delivery).

        Parameters
        ----------
        message
            What to say.

        Returns
        -------
        list[Delivery]
            One per channel tried, in the order ``slack``, ``pagerduty``; never
            raises for a delivery failure.
        """
        deliveries: list[Delivery] = []
        if self._slack_url is not None:
            call = Call(
                "POST",
                self._slack_url,
                (("Content-Type", _SLACK_JSON),),
                slack_payload(message),
                idempotent=True,
            )
            deliveries.append(self._deliver("slack", call))
        if self._token is not None and self._from and message.pagerduty_incident:
            url = f"{self._api}/incidents/{quote(message.pagerduty_incident, safe='')}/notes"
            headers = (
                ("Authorization", f"Token token={self._token}"),
                ("From", self._from),
                ("Accept", PAGERDUTY_ACCEPT),
                ("Content-Type", "application/json"),
            )
            body = {"note": {"content": pagerduty_note(message)}}
            call = Call("POST", url, headers, body, idempotent=True)
            deliveries.append(self._deliver("pagerduty", call))
        return deliveries

    def _deliver(self, channel: str, call: Call) -> Delivery:
        """Send ``call`` with retries; the outcome as a :class:`Delivery`.

        :class:`~incident_lib.comms.Http` reports a rate limit that asks for longer
        than ``max_wait`` instead of waiting; an unattended receiver waits
        ``max_wait`` and tries again with the attempts left, as it always did.
        """
        left = self.attempts
        made = 0
        http = self._http
        while True:
            reply = http.request(call, label=channel)
            made += reply.attempts
            left -= reply.attempts
            if reply.ok or left < 1 or not _waits_too_long(reply):
                break
            logger.warning(
                "%s: attempt %d failed (%s); trying again in %.1f s",
                channel,
                made,
                reply.detail,
                self.max_wait,
            )
            self._sleep(self.max_wait)
            http = Http(
                secrets=http.secrets,
                transport=self._transport,
                attempts=left,
                timeout=self.timeout,
                sleep=self._sleep,
                max_wait=self.max_wait,
            )
        detail = reply.detail
        gave_up = f"gave up after {reply.attempts} attempt"
        if made != reply.attempts and detail.startswith(gave_up):
            detail = f"gave up after {made} attempts" + detail[len(gave_up) + 1 :]
        return Delivery(channel, reply.ok, made, detail)


def _waits_too_long(reply: Reply) -> bool:
    """Whether ``reply`` is a rate limit refused for asking a wait longer than ``max_wait``."""
    limited = reply.status == 429 or (
        reply.status == 403 and reply.headers.get("x-ratelimit-remaining", "").strip() == "0"
    )
    return limited and reply.detail.startswith("refused:")


def slack_payload(message: Message) -> dict[str, Any]:
    """The incoming-webhook body for ``message``: ``text`` and Block Kit ``blocks``.

    Every text is escaped for Slack (``&``, ``<``, ``>``) and fits Slack's limits;
    sections beyond the 50-block limit are summarised in the last one.

    Parameters
    ----------
    message
        What to say.

    Returns
    -------
    dict
        ``{"text": ..., "blocks": [...]}`` ready for ``json.dumps``.
    """
    head = f"{message.incident_id} · {message.severity} · {message.status}: {message.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain_text(fit_line(head, SLACK_HEADER_CHARS), emoji=False)}
    ]
    if message.headline.strip():
        blocks.append(mrkdwn_section(fit_text(message.headline, SLACK_TEXT_CHARS)))
    link = link_block(message.link) if message.link.strip() else None
    room = SLACK_BLOCKS - len(blocks) - (1 if link is not None else 0)
    parts = list(message.sections)
    if len(parts) > room:
        kept, rest = parts[: room - 1], parts[room - 1 :]
        names = ", ".join(title for title, _ in rest)
        parts = [*kept, ("More", f"{len(rest)} more sections in the bundle: {names}")]
    for title, text in parts:
        name = fit_line(title, 100) if title.strip() else ""
        label = f"*{name}*\n" if name else ""
        body = fit_text(text, SLACK_TEXT_CHARS - len(label)) if text.strip() else "—"
        blocks.append(mrkdwn_section(label + body))
    if link is not None:
        blocks.append(link)
    fallback = f"{head}: {message.headline}" if message.headline.strip() else head
    return {"text": fit_line(fallback, SLACK_TEXT_CHARS), "blocks": blocks}


def pagerduty_note(message: Message) -> str:
    """``message`` as the plain text of a PagerDuty note (at most 25,000 characters).

    Parameters
    ----------
    message
        What to say.

    Returns
    -------
    str
        The id, severity, status and title on the first line, the headline, the
        bundle's link, then each section as ``Title: text``.
    """
    lines = [f"{message.incident_id} {message.severity} {message.status}: {message.title}"]
    if message.headline.strip():
        lines.append(message.headline.strip())
    if message.link.strip():  # before the sections: a cut never loses it
        lines.append(f"Bundle: {message.link.strip()}")
    lines.append("")
    for title, text in message.sections:
        lines.append(f"{title}: {text.strip()}" if title.strip() else text.strip())
    return cut_lines("\n".join(lines).strip(), PAGERDUTY_NOTE_CHARS)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)
