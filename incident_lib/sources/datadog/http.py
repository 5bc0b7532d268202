"""Datadog transport: configuration, bounded retries and user-facing failure reasons.

Everything a user may see (a :class:`SourceUnavailable` reason) is built here and
scrubbed: the API and application keys are replaced wherever they would appear
(:func:`incident_lib.sources.base.scrub_secrets`). Other redaction happens where
reasons are shown (the runbook) and frames captured (the evidence store).

Retries
-------
The client's own retries are turned off (``enable_retry=False`` and a urllib3
``Retry(total=False)``, so a timeout is raised as itself and a 429 reaches us)
and :meth:`Caller.call` retries instead, at most ``max_tries`` tries in all:

* 429: sleeps ``min(X-RateLimit-Reset, max_wait)`` seconds (the header is the
  number of seconds until the rate-limit period resets; 1 s without it), but
  only when the reset comes within what is left of the source's time budget
  (:class:`~incident_lib.sources.base.Budget`): a later reset fails at once with
  "rate-limited until HH:MM UTC (429 ...)", never sleeping on it;
* 500, 502, 503, 504: sleeps ``min(2 ** (try - 1), max_wait)`` seconds;
* a connection dropped before the answer (a stale keep-alive connection): at once.

Everything else fails at once: 400, 401, 403, 404, a timeout (another try would
cost the whole timeout again), a refused connection, a name that does not resolve.
A wait longer than what is left of the budget is not started: the call fails
with "time budget of N s used up". The sleep function is injectable so tests never wait.

Bounds
------
Each try's ``(connect, read)`` timeouts are clipped to what is left of the
budget, and the time of every call (its tries and waits) is charged to it.
:func:`cap_replies` makes the client read each answer through a byte cap (a
reply over it is refused with "reply too large: ...") that also checks the budget
between chunks, so a server dripping its answer cannot hold a fetch either.
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from ...core.errors import SourceUnavailable
from ...core.text import shorten
from ..base import (
    DEFAULT_MAX_BYTES,
    MAX_BYTES_ENV,
    TOO_LARGE,
    Budget,
    format_size,
    network_reason,
    scrub_secrets,
)

if TYPE_CHECKING:
    from datadog_api_client import ApiClient, Configuration

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_TRIES",
    "MAX_WAIT",
    "SOURCE",
    "Caller",
    "CappedPool",
    "cap_replies",
    "configuration_from_environment",
    "normalise_site",
    "prepare_configuration",
]

SOURCE = "datadog"
#: (connect, read) seconds of every request, unless the configuration sets its own
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
#: tries in all (the first one included) of a rate-limited or failing (5xx) request
MAX_TRIES = 3
#: longest single wait between two tries, seconds
MAX_WAIT = 60.0
DEFAULT_SITE = "datadoghq.com"
_RETRY_5XX = frozenset((500, 502, 503, 504))
_MISSING = (
    "{names} {verb} not set: create an API key and an application key in Datadog "
    "(Organization Settings) and export DD_API_KEY and DD_APP_KEY (and DD_SITE when the "
    "account is not on datadoghq.com)"
)
T = TypeVar("T")


# -- configuration ---------------------------------------------------------------------
def normalise_site(value: str) -> str:
    """``https://app.datadoghq.eu/`` -> ``datadoghq.eu``: the form ``DD_SITE`` wants."""
    site = value.strip().lower()
    site = re.sub(r"^[a-z]+://", "", site).split("/", 1)[0]
    return re.sub(r"^(app|api)\.", "", site) or DEFAULT_SITE


def configuration_from_environment(
    environ: Mapping[str, str] = os.environ,
    *,
    host: str | None = None,
    request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Configuration:
    """A client ``Configuration`` from ``DD_API_KEY``, ``DD_APP_KEY`` and ``DD_SITE``.

    ``host`` (e.g. a test server's URL) replaces the site's API host.

    Raises
    ------
    SourceUnavailable
        A key is not set (the reason names which).
    """
    missing = [name for name in ("DD_API_KEY", "DD_APP_KEY") if not environ.get(name)]
    if missing:
        names = " and ".join(missing)
        raise SourceUnavailable(
            SOURCE, _MISSING.format(names=names, verb="are" if len(missing) > 1 else "is")
        )
    from datadog_api_client import Configuration

    keys = {"apiKeyAuth": environ["DD_API_KEY"], "appKeyAuth": environ["DD_APP_KEY"]}
    site = normalise_site(environ.get("DD_SITE") or DEFAULT_SITE)
    configuration = Configuration(host=host, api_key=keys, request_timeout=request_timeout)  # type: ignore[no-untyped-call]
    # The client reads os.environ itself; ``environ`` is what counts here.
    configuration.server_variables = {"site": site}
    if host is None:
        configuration.server_index = 2  # "https://{subdomain}.{site}", any site
    return configuration


def prepare_configuration(configuration: Configuration) -> Configuration:
    """A copy of ``configuration`` set up for :class:`Caller`.

    Keys are checked, the client's own retries turned off and a request timeout
    set when there is none.

    Raises
    ------
    SourceUnavailable
        The configuration lacks the API or the application key.
    """
    import urllib3

    keys = configuration.api_key or {}
    missing = [
        env
        for env, key in (("DD_API_KEY", "apiKeyAuth"), ("DD_APP_KEY", "appKeyAuth"))
        if not keys.get(key)
    ]
    if missing:
        names = " and ".join(missing)
        raise SourceUnavailable(
            SOURCE, _MISSING.format(names=names, verb="are" if len(missing) > 1 else "is")
        )
    prepared = copy.deepcopy(configuration)
    prepared.enable_retry = False
    prepared.retry_policy = urllib3.util.Retry(total=False)
    if not prepared.request_timeout:
        prepared.request_timeout = DEFAULT_TIMEOUT
    return prepared


# -- calls -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Failure:
    """What a failed try means: wait ``retry_in`` seconds and try again, or give up."""

    reason: str
    retry_in: float | None = None
    #: the reason once the tries are used up (``{tries}`` is filled in)
    exhausted: str = ""
    #: seconds until the rate limit resets (a 429 with ``X-RateLimit-Reset``)
    reset: float | None = None


class Caller:
    """Calls Datadog API methods with bounded retries; failures become SourceUnavailable.

    Parameters
    ----------
    api_client
        A ``datadog_api_client.ApiClient`` over a configuration prepared by
        :func:`prepare_configuration`.
    sleep
        Called with the seconds to wait between tries (``time.sleep``; tests inject).
    max_tries
        Tries in all for a 429 or a 5xx answer.
    max_wait
        Longest single wait, seconds.
    budget
        The source's time budget (default: none); each call is charged to it.
    now
        The current time (tests inject one), for "rate-limited until HH:MM UTC".
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        sleep: Callable[[float], object] = time.sleep,
        max_tries: int = MAX_TRIES,
        max_wait: float = MAX_WAIT,
        budget: Budget | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_client = api_client
        self.sleep = sleep
        self.max_tries = max(1, max_tries)
        self.max_wait = max_wait
        self.budget = budget if budget is not None else Budget.unlimited(SOURCE)
        self.now = now

    @property
    def netloc(self) -> str:
        """The API host (``api.datadoghq.eu``, ``127.0.0.1:8123``), without credentials."""
        parts = urlsplit(str(self.api_client.configuration.host))
        if parts.hostname is None:
            return str(self.api_client.configuration.host)
        return parts.hostname + (f":{parts.port}" if parts.port else "")

    @property
    def site(self) -> str:
        """The configured site (``DD_SITE``), or the API host when it was overridden."""
        configuration = self.api_client.configuration
        if configuration.server_index is None:
            return self.netloc
        return str(configuration.server_variables.get("site") or DEFAULT_SITE)

    def call(self, what: str, method: Callable[..., T], /, **kwargs: Any) -> T:
        """``method(**kwargs)``, retried on 429 / 5xx; ``what`` names it in reasons.

        Raises
        ------
        SourceUnavailable
            Refused, not answering, or still failing after ``max_tries`` tries.
        """
        with self.budget.spending():
            outcome = self._tries(what, method, kwargs)
        if not isinstance(outcome, _Failure):
            return outcome
        # raised outside the handler: the client's exception (headers, body) is not chained
        raise SourceUnavailable(SOURCE, self.scrub(outcome.reason))

    def _tries(self, what: str, method: Callable[..., T], kwargs: dict[str, Any]) -> T | _Failure:
        """``method``'s answer, or the :class:`_Failure` to raise once the tries are over."""
        configuration = self.api_client.configuration
        configured = configuration.request_timeout
        timeout = _timeouts(configured)
        tries = 0
        while True:
            tries += 1
            clipped = self.budget.clip_pair(timeout)
            configuration.request_timeout = clipped
            try:
                return method(**kwargs)
            except Exception as exc:
                failure = self._failure(exc, what, tries)
                if failure is None:
                    raise
                if clipped != timeout and _timed_out(exc):  # the budget's end, not the timeout
                    return _Failure(self.budget.used_up(f"{self.netloc} did not answer").reason)
            finally:
                configuration.request_timeout = configured
            wait = failure.retry_in
            if wait is None:
                return failure
            left = self.budget.remaining()
            if failure.reset is not None and failure.reset >= left:
                return _Failure(self._rate_limited(failure.reset, left))
            if tries >= self.max_tries:
                return _Failure(failure.exhausted.format(tries=tries))
            if wait >= left:
                detail = f"{failure.reason}; the next try was {wait:g} s away"
                return _Failure(self.budget.used_up(detail).reason)
            if wait > 0:
                self.sleep(wait)

    def _rate_limited(self, reset: float, left: float) -> str:
        """Why a 429 whose rate limit resets after the budget's end is not waited for."""
        until = self.now().astimezone(UTC) + timedelta(seconds=reset)
        return (
            f"rate-limited until {until:%H:%M} UTC (429: the limit resets in {reset:g} s, "
            f"after the {left:.0f} s left of the time budget of {self.budget.seconds:g} s)"
        )

    def scrub(self, text: str) -> str:
        """``text`` with the configured API and application keys replaced by ``[REDACTED]``."""
        keys = (self.api_client.configuration.api_key or {}).values()
        return scrub_secrets(text, (str(key) for key in keys if key))

    # -- failure reasons ---------------------------------------------------------------
    def _failure(self, exc: Exception, what: str, tries: int) -> _Failure | None:
        import urllib3
        from datadog_api_client.exceptions import ApiException

        if isinstance(exc, urllib3.exceptions.HTTPError):
            reason = self._network_reason(exc)
            inner = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
            if isinstance(inner, urllib3.exceptions.ProtocolError):  # dropped: try again
                return _Failure(reason, 0.0, reason + " after {tries} tries")
            return _Failure(reason)
        if not isinstance(exc, ApiException):
            return None
        status = int(exc.status or 0)
        detail = _error_detail(exc.body)
        if status == 429:
            reset = _reset_seconds(exc.headers)
            wait = min(reset if reset is not None else 1.0, self.max_wait)
            left = f"; reset in {reset:g} s" if reset is not None else ""
            return _Failure(
                "rate limited (429)",
                wait,
                f"rate limited (429) after {{tries}} tries{left}",
                reset=reset,
            )
        if status in (401, 403):
            said = (
                f"; Datadog said: {detail}"
                if detail and detail.lower() not in ("forbidden", "unauthorized")
                else ""
            )
            return _Failure(
                f"API key rejected ({status}): check DD_API_KEY/DD_APP_KEY and "
                f"DD_SITE={self.site}{said}"
            )
        if status == 0:  # TLS and the like, raised by the client before any answer
            return _Failure(f"could not talk to {self.netloc}: {_first_line(exc.reason)}")
        said = f": {detail}" if detail else ""
        if status == 400:
            return _Failure(f"Datadog rejected the {what} (400){said}")
        if status == 404:
            return _Failure(
                f"{self.netloc} has no {what} endpoint (404): check DD_SITE={self.site}"
            )
        answered = f"Datadog answered {status} {exc.reason or ''}".rstrip() + f" to the {what}"
        if status in _RETRY_5XX:
            wait = min(2.0 ** (tries - 1), self.max_wait)
            return _Failure(answered + said, wait, answered + " after {tries} tries" + said)
        return _Failure(answered + said)

    def _network_reason(self, exc: Exception) -> str:
        timeouts = _timeouts(self.api_client.configuration.request_timeout)
        return network_reason(exc, self.netloc, timeouts, unresolved_hint=f"DD_SITE={self.site}")


def _timed_out(exc: Exception) -> bool:
    """Whether ``exc`` is urllib3's connect or read timeout (wrapped or not)."""
    import urllib3.exceptions as u

    inner = exc.reason if isinstance(exc, u.MaxRetryError) and exc.reason else exc
    return isinstance(inner, u.TimeoutError)


# -- reading replies -------------------------------------------------------------------
class _Reply:
    """An answer read in full (what the client needs of a urllib3 response)."""

    def __init__(self, response: Any, data: bytes) -> None:
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers
        self.data = data

    def getheaders(self) -> Any:
        """The headers (as urllib3 responses have them)."""
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        """One header."""
        value = self.headers.get(name, default)
        return None if value is None else str(value)


class CappedPool:
    """A urllib3 pool manager whose answers are read through a byte cap and the budget.

    Parameters
    ----------
    pool
        The client's ``urllib3.PoolManager`` (every other attribute is its own).
    max_bytes
        Most bytes (decoded) one answer may hold.
    budget
        Checked between chunks: a server dripping its answer stops when it runs out.
    """

    def __init__(self, pool: Any, max_bytes: int, budget: Budget) -> None:
        self.pool = pool
        self.max_bytes = max_bytes
        self.budget = budget
        #: bytes read so far, over every answer
        self.bytes_read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Send the request; read the answer whole unless it is over the cap.

        Raises
        ------
        SourceUnavailable
            The answer is over :attr:`max_bytes`, or the budget ran out while reading.
        """
        if kwargs.get("preload_content", True) is False:
            return self.pool.request(method, url, *args, **kwargs)
        kwargs["preload_content"] = False
        response = self.pool.request(method, url, *args, **kwargs)
        try:
            data = self._read(response)
        except BaseException:
            response.close()
            raise
        response.release_conn()
        return _Reply(response, data)

    def _read(self, response: Any) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.stream(65536):
            size += len(chunk)
            self.bytes_read += len(chunk)
            if size > self.max_bytes:
                raise self._too_large(size, more=True)
            chunks.append(chunk)
            self.budget.check("Datadog was still sending its answer")
        return b"".join(chunks)

    def _too_large(self, size: int, *, more: bool = False) -> SourceUnavailable:
        over = "over " if more else ""
        return SourceUnavailable(
            SOURCE,
            f"{TOO_LARGE} (an answer of {over}{format_size(size)}; the cap is "
            f"{format_size(self.max_bytes)}, {MAX_BYTES_ENV})",
        )


def cap_replies(
    api_client: ApiClient, *, max_bytes: int = DEFAULT_MAX_BYTES, budget: Budget
) -> CappedPool:
    """Make ``api_client`` read every answer through a :class:`CappedPool`; return it."""
    rest = api_client.rest_client
    pool = rest.pool_manager
    capped = pool if isinstance(pool, CappedPool) else CappedPool(pool, max_bytes, budget)
    capped.max_bytes, capped.budget = max_bytes, budget
    rest.pool_manager = capped
    return capped


def _timeouts(value: Any) -> tuple[float, float]:
    if isinstance(value, tuple) and len(value) == 2:
        return float(value[0]), float(value[1])
    if isinstance(value, int | float):
        return float(value), float(value)
    return DEFAULT_TIMEOUT


def _reset_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``X-RateLimit-Reset`` (seconds until the rate-limit period resets), any case."""
    for name, value in (headers or {}).items():
        if name.lower() == "x-ratelimit-reset":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _error_detail(body: Any) -> str:
    """The errors of a Datadog error body (``{"errors": [...]}``), on one short line."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            parts = [
                str(e.get("detail") or e.get("title") or "") if isinstance(e, dict) else str(e)
                for e in errors
            ]
            return _first_line("; ".join(p for p in parts if p))
        return ""
    return _first_line(body)


def _first_line(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
    text = text.strip()
    return shorten(text.splitlines()[0], 300, whole_tokens=True) if text else ""
