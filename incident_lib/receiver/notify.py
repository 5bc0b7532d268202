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

Each request is tried up to ``attempts`` times (tenacity): again after a timeout, a
connection error, a ``429`` (waiting what ``Retry-After`` says, at most ``max_wait``)
or a ``5xx`` (exponential back-off); any other ``4xx`` is reported at once. The
webhook URL and the token are secrets: they appear in no :class:`Delivery`, log
line, exception message or ``repr``; the ``httpx``/``httpcore`` loggers get a
filter that masks them, since ``httpx`` logs every request's URL.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..core.errors import InvalidInput
from ..core.text import shorten

if TYPE_CHECKING:
    import httpx
    from tenacity import RetryCallState

__all__ = ["Delivery", "Message", "Notifier"]

logger = logging.getLogger(__name__)

#: Slack's documented Block Kit limits
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000
SLACK_BUTTON_CHARS = 75
SLACK_URL_CHARS = 3000
SLACK_BLOCKS = 50
#: PagerDuty's limit on a note's content
PAGERDUTY_NOTE_CHARS = 25_000
PAGERDUTY_ACCEPT = "application/vnd.pagerduty+json;version=2"

#: environment variables read by :meth:`Notifier.from_environment`
ENV_SLACK_URL = "INCIDENT_SLACK_WEBHOOK_URL"
ENV_PAGERDUTY_TOKEN = "INCIDENT_PAGERDUTY_TOKEN"
ENV_PAGERDUTY_FROM = "INCIDENT_PAGERDUTY_FROM"
ENV_PAGERDUTY_API = "INCIDENT_PAGERDUTY_API"

_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MASK = "***"
# first back-off after a timeout, a connection error or a 5xx; doubles each attempt
_BACKOFF = 0.5
# characters of an error answer's body quoted in a Delivery's detail
_BODY_CHARS = 120
_BUTTON = "Open the bundle"  # at most SLACK_BUTTON_CHARS
_SPACES = re.compile(r"[ \t\r\f\v]+")


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
        ``"200"``, ``"refused: 400 (invalid_blocks)"``, ``"gave up after 4 attempts:
        503"``; never a URL, a token or a secret.
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
        if attempts < 1:
            raise InvalidInput(f"attempts must be at least 1, not {attempts}")
        if not timeout > 0:
            raise InvalidInput(f"timeout must be positive, not {timeout}")
        if not max_wait >= 0:
            raise InvalidInput(f"max_wait must not be negative, not {max_wait}")
        self._slack_url = slack_url
        self._token = pagerduty_token
        self._from = pagerduty_from or ""
        self._api = pagerduty_api.rstrip("/")
        self._transport = transport
        self.attempts = attempts
        self.timeout = float(timeout)
        self.max_wait = float(max_wait)
        self._sleep = sleep
        self._secrets = _secret_forms(slack_url, pagerduty_token)
        _LOG_MASK.add(self._secrets)

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
        import httpx

        deliveries: list[Delivery] = []
        with httpx.Client(
            transport=self._transport,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
        ) as client:
            if self._slack_url is not None:
                deliveries.append(
                    self._post(
                        client,
                        "slack",
                        self._slack_url,
                        {"Content-Type": "application/json; charset=utf-8"},
                        slack_payload(message),
                    )
                )
            if self._token is not None and self._from and message.pagerduty_incident:
                url = f"{self._api}/incidents/{quote(message.pagerduty_incident, safe='')}/notes"
                headers = {
                    "Authorization": f"Token token={self._token}",
                    "From": self._from,
                    "Accept": PAGERDUTY_ACCEPT,
                    "Content-Type": "application/json",
                }
                body = {"note": {"content": pagerduty_note(message)}}
                deliveries.append(self._post(client, "pagerduty", url, headers, body))
        return deliveries

    def _post(
        self,
        client: httpx.Client,
        channel: str,
        url: str,
        headers: Mapping[str, str],
        payload: Mapping[str, Any],
    ) -> Delivery:
        """POST ``payload`` as JSON with retries; the outcome as a :class:`Delivery`."""
        import httpx
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        content = json.dumps(payload, ensure_ascii=False).encode()
        made = 0

        def once() -> str:
            nonlocal made
            made += 1
            try:
                response = client.post(url, content=content, headers=dict(headers))
            except httpx.TimeoutException:
                raise _Retryable(f"no answer within {self.timeout:g} s") from None
            except httpx.TransportError as exc:
                raise _Retryable(f"no connection ({type(exc).__name__})") from None
            code = response.status_code
            if 200 <= code < 300:
                return str(code)
            said = self._said(response.text)
            if code == 429:
                wait = _retry_after(response.headers.get("retry-after", ""))
                raise _Retryable(f"{code}{said}", wait)
            if code >= 500:
                raise _Retryable(f"{code}{said}")
            raise _Refused(f"{code}{said}")

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            logger.warning(
                "%s: attempt %d failed (%s); trying again in %.1f s",
                channel,
                state.attempt_number,
                self._scrub(str(error)),
                wait,
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            detail = retrying(once)
        except _Retryable as exc:
            tries = f"{made} attempts" if made != 1 else "1 attempt"
            detail = self._scrub(f"gave up after {tries}: {exc}")
            logger.warning("%s: %s", channel, detail)
            return Delivery(channel, False, made, detail)
        except _Refused as exc:
            detail = self._scrub(f"refused: {exc}")
            logger.warning("%s: %s", channel, detail)
            return Delivery(channel, False, made, detail)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a protocol error, a bad URL
            detail = f"failed: {type(exc).__name__}"
            logger.warning("%s: %s", channel, detail)
            return Delivery(channel, False, max(made, 1), detail)
        logger.info("%s: delivered (%s) after %d attempt(s)", channel, detail, made)
        return Delivery(channel, True, made, detail)

    def _wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: ``Retry-After`` if given, else back-off."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retryable) and error.wait is not None:
            return min(error.wait, self.max_wait)
        return min(_BACKOFF * 2.0 ** (state.attempt_number - 1), self.max_wait)

    def _said(self, text: str) -> str:
        """`` (first words of an error answer)``, masked, or ``""``."""
        flat = " ".join(text.split())
        return f" ({self._scrub(shorten(flat, _BODY_CHARS))})" if flat else ""

    def _scrub(self, text: str) -> str:
        return _mask(text, self._secrets)


class _Retryable(Exception):
    """A failed attempt worth repeating; ``wait`` is what the server asked for."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class _Refused(Exception):
    """An answer that another attempt would not change (a 4xx other than 429)."""


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
        {"type": "header", "text": _plain(_fit_line(head, SLACK_HEADER_CHARS), emoji=False)}
    ]
    if message.headline.strip():
        blocks.append(_section(_fit_text(message.headline, SLACK_TEXT_CHARS)))
    link = _link_block(message.link) if message.link.strip() else None
    room = SLACK_BLOCKS - len(blocks) - (1 if link is not None else 0)
    parts = list(message.sections)
    if len(parts) > room:
        kept, rest = parts[: room - 1], parts[room - 1 :]
        names = ", ".join(title for title, _ in rest)
        parts = [*kept, ("More", f"{len(rest)} more sections in the bundle: {names}")]
    for title, text in parts:
        name = _fit_line(title, 100) if title.strip() else ""
        label = f"*{name}*\n" if name else ""
        body = _fit_text(text, SLACK_TEXT_CHARS - len(label)) if text.strip() else "—"
        blocks.append(_section(label + body))
    if link is not None:
        blocks.append(link)
    fallback = f"{head}: {message.headline}" if message.headline.strip() else head
    return {"text": _fit_line(fallback, SLACK_TEXT_CHARS), "blocks": blocks}


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
    return _cut_lines("\n".join(lines).strip(), PAGERDUTY_NOTE_CHARS)


def slack_escape(text: str) -> str:
    """``text`` with Slack's control characters ``&``, ``<``, ``>`` as HTML entities.

    Examples
    --------
    >>> slack_escape("<!channel> & <http://x|y>")
    '&lt;!channel&gt; &amp; &lt;http://x|y&gt;'
    """
    return text.translate(_SLACK_ESCAPES)


def _plain(text: str, *, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": emoji}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _link_block(link: str) -> dict[str, Any]:
    """A button for an http(s) URL that fits Slack's limit, else a context line."""
    link = link.strip()
    if _is_http_url(link) and len(link) <= SLACK_URL_CHARS and not re.search(r"\s", link):
        button = {
            "type": "button",
            "text": _plain(_BUTTON),
            "url": link,
        }
        return {"type": "actions", "elements": [button]}
    text = _fit_line(f"Bundle: {link}", SLACK_TEXT_CHARS)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _fit_line(text: str, limit: int) -> str:
    """``text`` on one line, escaped for Slack, at most ``limit`` characters once escaped."""
    width = limit
    while True:
        escaped = slack_escape(shorten(text, width))
        if len(escaped) <= limit or width <= 2:
            return escaped[:limit]
        width = max(2, width - (len(escaped) - limit))


def _fit_text(text: str, limit: int) -> str:
    """``text`` (lines kept), escaped for Slack, at most ``limit`` characters once escaped."""
    width = limit
    while True:
        escaped = slack_escape(_cut_lines(text.strip(), width))
        if len(escaped) <= limit or width <= 2:
            return escaped[:limit]
        width = max(2, width - (len(escaped) - limit))


def _cut_lines(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters: whole lines, then the next one shortened."""
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


def _retry_after(value: str) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), None when absent or bad."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _secret_forms(slack_url: str | None, token: str | None) -> tuple[str, ...]:
    """Every form of the secrets that could show up in text: the URL, its path, the token."""
    forms: set[str] = set()
    if slack_url:
        forms.add(slack_url)
        parts = urlsplit(slack_url)
        if len(parts.path.strip("/")) >= 8:
            forms.add(parts.path)
        if parts.query:
            forms.add(parts.query)
    if token:
        forms.add(token)
    return tuple(sorted((f for f in forms if len(f) >= 4), key=len, reverse=True))


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


class _SecretLogFilter(logging.Filter):
    """Masks the notifiers' secrets in the records of the HTTP client's loggers."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, secrets: tuple[str, ...]) -> None:
        with self._lock:
            known = set(self._secrets) | set(secrets)
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if secrets:
            text = record.getMessage()
            masked = _mask(text, secrets)
            if masked != text:
                record.msg, record.args = masked, None
        return True


_LOG_MASK = _SecretLogFilter()
# filters apply to the logger a record is made on, not to its parents: name each one
for _name in (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
):
    logging.getLogger(_name).addFilter(_LOG_MASK)
