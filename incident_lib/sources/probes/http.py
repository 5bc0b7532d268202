"""HTTP: a GET of the endpoint's path: the status code, how long it took, a few tries.

The request goes to the address :mod:`.dns` found, with the name in the Host
header (and as the TLS server name): the check sees what a client of the
service sees. A try is repeated (at most :attr:`~.target.ProbeSettings.http_tries`,
with a short doubling backoff) when the server answers 5xx or not at all, and
all tries of one target together take at most
:attr:`~.target.ProbeSettings.http_total` seconds. The latency is the time to the
response's headers; the body is never read, so nothing of it is kept.

Redirects are followed on the same host (scheme and port) only, at most
:attr:`~.target.ProbeSettings.max_redirects`; a redirect elsewhere is not followed
and the check says where it pointed (scheme, host and path: never a query,
which may carry a token), as ``unknown``: the endpoint's health was not seen.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

from ...core.text import shorten
from .target import Check, ProbeSettings, Status, Target

__all__ = ["probe_http", "status_text"]

_USER_AGENT = "incident-runbooks-probe"


def status_text(code: int) -> str:
    """``"503 Service Unavailable"`` (the code alone when it has no standard phrase)."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def probe_http(
    target: Target,
    address: str,
    *,
    settings: ProbeSettings,
    context: ssl.SSLContext | None = None,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Check:
    """GET ``target``'s path from ``address``, with bounded tries.

    Parameters
    ----------
    target
        An http or https target.
    address
        Where to connect (resolved by :mod:`.dns`, or the target's own address).
    settings
        Timeouts, tries, backoff, the total bound, the slow threshold, redirects.
    context
        The verifying TLS context for https (see :func:`.tls.tls_context`).
    deadline
        A ``time.monotonic()`` instant no try may run past (the source's budget);
        the tries stop there.
    sleep
        Waits between tries (tests pass a recorder).
    """
    import httpx

    checked_at = datetime.now(UTC)
    start = time.monotonic()
    end = start + settings.http_total
    if deadline is not None:
        end = min(end, deadline)
    host = f"[{address}]" if ":" in address else address
    path = target.path or "/"
    outcomes: list[str] = []
    latency = float("nan")
    code: int | None = None
    with httpx.Client(
        verify=context if context is not None else True,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": _USER_AGENT, "Host": target.authority},
    ) as client:
        for attempt in range(settings.http_tries):
            if attempt:
                pause = min(settings.http_backoff * 2 ** (attempt - 1), end - time.monotonic())
                if pause > 0:
                    sleep(pause)
            left = end - time.monotonic()
            if left <= 0:
                break
            per_try = min(settings.http_timeout, left)
            try:
                code, latency, location, hops = _get(
                    client, target, host, path, per_try, settings.max_redirects
                )
            except httpx.TimeoutException:
                code = None
                outcomes.append(f"no answer within {per_try:g} s")
                continue
            except httpx.TransportError as exc:
                code = None
                outcomes.append(_transport_text(exc))
                continue
            if location is not None:
                return Check(
                    check="http",
                    status="unknown",
                    detail=shorten(
                        f"answered {status_text(code)} redirecting to {location} (another "
                        "host, scheme or port): not followed; probe that URL if it is the "
                        "dependency",
                        400,
                        whole_tokens=True,
                    ),
                    reason="redirect_off_host",
                    latency_ms=latency * 1000,
                    checked_at=checked_at,
                )
            if hops > settings.max_redirects:
                return _check(
                    "failed",
                    f"more than {settings.max_redirects} redirects",
                    "redirects",
                    latency,
                    checked_at,
                )
            outcomes.append(status_text(code))
            if code < 500:
                break
    tries = len(outcomes)
    history = _history(outcomes)
    if code is not None and code < 400:
        status: Status = "slow" if latency > settings.http_slow else "ok"
        return _check(status, f"{history} in {latency * 1000:.0f} ms", "", latency, checked_at)
    if code is not None and code < 500:
        hint = " (needs credentials?)" if code in (401, 403) else ""
        return _check("failed", f"{history}{hint}", f"http_{code}", latency, checked_at)
    if not tries:
        return _check(
            "unknown", "not tried: no time left in the time budget", "budget", latency, checked_at
        )
    reason = f"http_{code}" if code is not None else "no_answer"
    said = f"{history}; gave up after {tries} {'try' if tries == 1 else 'tries'}"
    return _check("failed", said, reason, latency, checked_at)


def _history(outcomes: list[str]) -> str:
    """``"answered 200 OK"``, ``"answered 200 OK (before: 503 Service Unavailable)"``..."""
    if not outcomes:
        return "no try"
    last = outcomes[-1]
    said = f"answered {last}" if last[:1].isdigit() else last
    earlier = outcomes[:-1]
    if earlier and all(o == last for o in earlier):
        return f"{said} on each of {len(outcomes)} tries"
    if earlier:
        return f"{said} (before: {', '.join(earlier)})"
    return said


def _get(
    client: Any, target: Target, host: str, path: str, timeout: float, max_redirects: int
) -> tuple[int, float, str | None, int]:
    """One try: ``(status code, seconds to headers, off-host redirect or None, hops)``.

    Same-origin redirects are followed (counted in hops); the body is never read.
    """
    hops = 0
    elapsed = 0.0
    while True:
        url = f"{target.scheme}://{host}:{target.port}{path}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = client.build_request("GET", url, timeout=timeout, extensions=extensions)
        begin = time.perf_counter()
        response = client.send(request, stream=True)
        elapsed += time.perf_counter() - begin
        response.close()
        code = int(response.status_code)
        location = response.headers.get("location")
        if not (300 <= code < 400 and location):
            return code, elapsed, None, hops
        origin = f"{target.scheme}://{target.authority}{path}"
        moved = urlsplit(urljoin(origin, location))
        same = (
            moved.scheme == target.scheme
            and (moved.hostname or "") == target.host.lower()
            and (moved.port or {"http": 80, "https": 443}.get(moved.scheme)) == target.port
        )
        if not same:
            where = f"{moved.scheme}://{moved.netloc.rpartition('@')[2]}{moved.path}"
            return code, elapsed, where, hops
        hops += 1
        if hops > max_redirects:
            return code, elapsed, None, hops
        path = (moved.path or "/") + (f"?{moved.query}" if moved.query else "")


def _transport_text(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "certificate" in text or "ssl" in text:
            return "TLS failed (the certificate is not accepted)"
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection without a valid answer"
    return f"no answer ({type(exc).__name__})"


def _check(status: Status, detail: str, reason: str, latency: float, checked_at: datetime) -> Check:
    return Check(
        check="http",
        status=status,
        detail=shorten(detail, 400, whole_tokens=True),
        reason=reason,
        latency_ms=latency * 1000,
        checked_at=checked_at,
    )
