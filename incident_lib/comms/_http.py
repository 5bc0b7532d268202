"""One HTTP request to a communication service: shown exactly, sent with retries, secrets masked.

A :class:`Call` is the exact request a send makes (method, URL, headers, JSON
body). :meth:`Call.shown` is what a dry run displays: the same request with the
``Authorization`` header and every known secret replaced by ``***``.

:class:`Http` sends calls with ``httpx`` and retries what can be retried
(``tenacity``): a connection that never opened, a ``5xx``, a ``429`` or a rate
limit answer (waiting what ``Retry-After`` or the reset header says, at most
``max_wait``; a longer wait is reported, not slept). A timeout after the request
left is retried only for an idempotent call (``GET``, ``PUT``, ``PATCH``,
``DELETE`` by default): a ``POST`` that may have been applied is not sent twice.
It never raises for an answer: the outcome is a :class:`Reply` whose ``detail``
says what went wrong in words (``401``: the token was refused; ``403``: it lacks a
permission; ``429``: when the limit resets) and never quotes a secret.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..core.errors import InvalidInput
from ..core.text import shorten

if TYPE_CHECKING:
    import httpx
    from tenacity import RetryCallState

__all__ = [
    "MASK",
    "Call",
    "Http",
    "Reply",
    "check_http_url",
    "mask_secrets",
    "secret_forms",
]

logger = logging.getLogger(__name__)

#: what a secret is replaced with wherever it would be shown
MASK = "***"
#: header names whose values are never shown (lower case)
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "dd-api-key", "dd-application-key"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
# first back-off after a timeout, a connection error or a 5xx; doubles each attempt
_BACKOFF = 0.5
# characters of an error answer's body quoted in a reply's detail
_BODY_CHARS = 160
_MEANING = {
    400: "bad request",
    401: "unauthorized: the token was refused (check it is set and valid)",
    403: "forbidden: the token lacks a permission (or a rate limit)",
    404: "not found (check the id and that the token can see it)",
    409: "conflict",
    410: "gone",
    422: "the service refused the content",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One request, exactly as it is sent.

    Attributes
    ----------
    method
        ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
    url
        The full URL (it may hold a secret, e.g. a Slack webhook: :meth:`shown` masks it).
    headers
        ``(name, value)`` pairs.
    body
        The JSON body (a dict or list), None for none.
    idempotent
        Whether sending it twice does no harm (default: by method); a timeout is
        retried only then.
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    idempotent: bool | None = None

    def retry_unsure(self) -> bool:
        """Whether a request that may have reached the server may be sent again."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in _IDEMPOTENT

    def content(self) -> bytes | None:
        """The body as UTF-8 JSON, None without a body."""
        if self.body is None:
            return None
        return json.dumps(self.body, ensure_ascii=False).encode()

    def shown(self, secrets: Iterable[str] = ()) -> str:
        """The request as a dry run shows it: secret headers and ``secrets`` masked.

        Examples
        --------
        >>> auth = (("Authorization", "Bearer t0k"),)
        >>> print(Call("POST", "https://x.test/a", auth, {"a": 1}).shown())
        POST https://x.test/a
        Authorization: ***
        <BLANKLINE>
        {
          "a": 1
        }
        """
        forms = tuple(secrets)
        lines = [f"{self.method.upper()} {mask_secrets(self.url, forms)}"]
        for name, value in self.headers:
            shown = MASK if name.lower() in SECRET_HEADERS else mask_secrets(value, forms)
            lines.append(f"{name}: {shown}")
        if self.body is not None:
            text = json.dumps(self.body, ensure_ascii=False, indent=2)
            lines += ["", mask_secrets(text, forms)]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Reply:
    """How one call went.

    Attributes
    ----------
    ok
        A ``2xx`` answer.
    status
        The last HTTP status, ``0`` when no answer came.
    attempts
        Requests made.
    detail
        ``"201"``, ``"refused: 401 unauthorized: ..."``, ``"gave up after 4 attempts:
        503"``; never a secret.
    body
        The answer's JSON (None when not JSON or no answer).
    headers
        The answer's headers, names in lower case (empty without an answer).
    """

    ok: bool
    status: int
    attempts: int
    detail: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Http:
    """Sends :class:`Call` values, retrying what can be retried, masking secrets.

    Parameters
    ----------
    secrets
        Every value that must never be shown (tokens, webhook URLs); their
        forms are masked in details, log lines and :meth:`Call.shown`.
    transport
        An ``httpx`` transport (tests, proxies); None: the default.
    attempts
        Requests per call at most (first try included).
    timeout
        Seconds to wait for a connection, a write or an answer, per request.
    sleep
        Waits between attempts (injected so that tests do not wait).
    max_wait
        The longest wait between attempts; a server asking for longer is
        reported (with when to try again), not waited for.

    Raises
    ------
    InvalidInput
        ``attempts``, ``timeout`` or ``max_wait`` out of range.
    """

    def __init__(
        self,
        *,
        secrets: Iterable[str | None] = (),
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
    ) -> None:
        if attempts < 1:
            raise InvalidInput(f"attempts must be at least 1, not {attempts}")
        if not timeout > 0:
            raise InvalidInput(f"timeout must be positive, not {timeout}")
        if not max_wait >= 0:
            raise InvalidInput(f"max_wait must not be negative, not {max_wait}")
        self.secrets = secret_forms(*secrets)
        self._transport = transport
        self.attempts = attempts
        self.timeout = float(timeout)
        self.max_wait = float(max_wait)
        self._sleep = sleep
        LOG_MASK.add(self.secrets)

    def __repr__(self) -> str:
        return (
            f"Http(attempts={self.attempts}, timeout={self.timeout:g}, "
            f"max_wait={self.max_wait:g}, secrets={len(self.secrets)} masked)"
        )

    def scrub(self, text: str) -> str:
        """``text`` with every form of this client's secrets masked."""
        return mask_secrets(text, self.secrets)

    def shown(self, call: Call) -> str:
        """``call`` as a dry run shows it (see :meth:`Call.shown`)."""
        return call.shown(self.secrets)

    def request(self, call: Call, *, label: str = "") -> Reply:
        """Send ``call`` with retries; never raises for a failed answer.

        Parameters
        ----------
        call
            What to send.
        label
            A name for log lines (``"slack"``, ``"github"``); default the host.

        Returns
        -------
        Reply
            The last answer (or none) and what it means.
        """
        import httpx
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        name = label or (urlsplit(call.url).hostname or "request")
        content = call.content()
        headers = dict(call.headers)
        if content is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json; charset=utf-8"
        made = 0
        last: list[httpx.Response] = []

        def once() -> str:
            nonlocal made
            made += 1
            try:
                with httpx.Client(
                    transport=self._transport,
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=False,
                ) as client:
                    response = client.request(
                        call.method.upper(), call.url, content=content, headers=headers
                    )
                    response.read()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise _Retryable(f"no connection ({type(exc).__name__})") from None
            except httpx.TimeoutException:
                reason = f"no answer within {self.timeout:g} s"
                if call.retry_unsure():
                    raise _Retryable(reason) from None
                raise _Refused(
                    f"{reason}; it may or may not have been applied: check before sending again"
                ) from None
            except httpx.TransportError as exc:
                reason = f"connection lost ({type(exc).__name__})"
                if call.retry_unsure():
                    raise _Retryable(reason) from None
                raise _Refused(
                    f"{reason}; it may or may not have been applied: check before sending again"
                ) from None
            last[:] = [response]
            code = response.status_code
            if 200 <= code < 300:
                return str(code)
            said = self._said(response.text)
            limited = code == 429 or (
                code == 403 and response.headers.get("x-ratelimit-remaining", "").strip() == "0"
            )
            if limited:
                wait = rate_limit_wait(response.headers)
                if wait is not None and wait > self.max_wait:
                    raise _Refused(
                        f"{code} rate limited{said}: the limit resets in {wait:.0f} s "
                        f"(at {_clock(wait)} UTC); try again then"
                    )
                raise _Retryable(f"{code} rate limited{said}", wait)
            if code >= 500:
                raise _Retryable(f"{code}{said}")
            meaning = _MEANING.get(code, "")
            raise _Refused(f"{code} {meaning}{said}".replace("  ", " ").strip())

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            logger.warning(
                "%s: attempt %d failed (%s); trying again in %.1f s",
                name,
                state.attempt_number,
                self.scrub(str(error)),
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
            detail = self.scrub(f"gave up after {tries}: {exc}")
            logger.warning("%s: %s", name, detail)
            return self._reply(False, last, made, detail)
        except _Refused as exc:
            detail = self.scrub(f"refused: {exc}")
            logger.warning("%s: %s", name, detail)
            return self._reply(False, last, made, detail)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a protocol error, a bad URL
            detail = f"failed: {type(exc).__name__}"
            logger.warning("%s: %s", name, detail)
            return self._reply(False, last, max(made, 1), detail)
        logger.info("%s: %s %s after %d attempt(s)", name, call.method.upper(), detail, made)
        return self._reply(True, last, made, detail)

    def _reply(self, ok: bool, last: list[httpx.Response], made: int, detail: str) -> Reply:
        if not last:
            return Reply(ok=ok, status=0, attempts=made, detail=detail)
        response = last[0]
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        headers = {k.lower(): self.scrub(v) for k, v in response.headers.items()}
        return Reply(ok, response.status_code, made, detail, _scrubbed(body, self.secrets), headers)

    def _wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: what the server asked for, else back-off."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retryable) and error.wait is not None:
            return min(error.wait, self.max_wait)
        return min(_BACKOFF * 2.0 ** (state.attempt_number - 1), self.max_wait)

    def _said(self, text: str) -> str:
        """`` (first words of an error answer)``, masked, or ``""``."""
        flat = " ".join(text.split())
        return f" ({self.scrub(shorten(flat, _BODY_CHARS))})" if flat else ""


def _scrubbed(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` (parsed JSON) with the secrets masked in every string (an echo of a token)."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_secrets(value, secrets)
    if isinstance(value, dict):
        return {k: _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secrets) for v in value]
    return value


class _Retryable(Exception):
    """A failed attempt worth repeating; ``wait`` is what the server asked for."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class _Refused(Exception):
    """An answer that another attempt would not change."""


def rate_limit_wait(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds a rate-limited answer asks to wait, None when it does not say.

    Reads ``Retry-After`` (seconds or an HTTP date), then ``X-RateLimit-Reset``
    (GitHub: epoch seconds) and ``RateLimit-Reset`` (seconds from now).

    Parameters
    ----------
    headers
        The answer's headers (any case).
    now
        The current epoch time (default: the clock).
    """
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    clock = time.time() if now is None else now
    after = lower.get("retry-after", "")
    if after:
        try:
            return max(0.0, float(after))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(after)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - clock)
    for name, absolute in (("x-ratelimit-reset", True), ("ratelimit-reset", False)):
        value = lower.get(name, "")
        try:
            number = float(value)
        except ValueError:
            continue
        return max(0.0, number - clock) if absolute else max(0.0, number)
    return None


def _clock(seconds_from_now: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds_from_now, UTC).strftime("%H:%M:%S")


def check_http_url(url: str, what: str, *, secret: bool = False) -> str:
    """``url`` when it is an ``http(s)`` URL with a host, else :class:`InvalidInput`.

    Parameters
    ----------
    url
        The URL to check.
    what
        What it is, for the message (``"the Slack webhook URL"``).
    secret
        Never quote it in the message.
    """
    try:
        parts = urlsplit(url)
        good = parts.scheme in {"http", "https"} and bool(parts.netloc)
    except ValueError:
        good = False
    if not good:
        shown = "(its value is not shown: it is a secret)" if secret else f"not {url!r}"
        raise InvalidInput(f"{what} must be an http(s) URL {shown}")
    return url.rstrip("/")


def secret_forms(*secrets: str | None) -> tuple[str, ...]:
    """Every form of ``secrets`` that could show up in text, longest first.

    A URL adds its path and query (a Slack webhook's secret is its path); values
    shorter than 4 characters are not masked (they would mask ordinary text).
    """
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.add(secret)
        if secret.startswith(("http://", "https://")):
            parts = urlsplit(secret)
            if len(parts.path.strip("/")) >= 8:
                forms.add(parts.path)
            if parts.query:
                forms.add(parts.query)
    return tuple(sorted((f for f in forms if len(f) >= 4), key=len, reverse=True))


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``secrets`` replaced by :data:`MASK`."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


class _SecretLogFilter(logging.Filter):
    """Masks the clients' secrets in the records of the HTTP client's loggers."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, secrets: tuple[str, ...]) -> None:
        if not secrets:
            return
        with self._lock:
            known = set(self._secrets) | set(secrets)
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if secrets:
            text = record.getMessage()
            masked = mask_secrets(text, secrets)
            if masked != text:
                record.msg, record.args = masked, None
        return True


#: the filter on ``httpx``/``httpcore`` loggers (``httpx`` logs every request's URL)
LOG_MASK = _SecretLogFilter()
# filters apply to the logger a record is made on, not to its parents: name each one
for _name in (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
):
    logging.getLogger(_name).addFilter(LOG_MASK)
