"""What the probes share: a target to probe, one check's result, and the settings.

A target is an endpoint as the incident record names it
(:attr:`~incident_lib.core.incident.Incident.endpoints`,
:attr:`~incident_lib.core.incident.Incident.health_url`): ``http(s)://host[:port]/path``,
``tcp://host:port`` or ``host:port``. Each probe (:mod:`.dns`, :mod:`.tcp`,
:mod:`.tls`, :mod:`.http`) returns a :class:`Check`, which becomes one row of the
``dependency_checks`` frame (:mod:`incident_lib.core.schema`).

Statuses: ``ok``; ``slow`` (answered, but slower than the check's threshold in
:class:`ProbeSettings`); ``failed``; ``expiring`` (a valid certificate that expires
within :attr:`ProbeSettings.expiring_days`); ``unknown`` (the check could not run:
an earlier check failed, or the time budget was used up). A check that did not
run is never ``ok``. :attr:`Check.reason` is a short code that tells failures of
one check apart (``nxdomain``, ``no_answer``, ``timeout``, ``refused``, ...).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from ...core.errors import InvalidInput

__all__ = [
    "DEFAULT_SETTINGS",
    "Check",
    "ProbeSettings",
    "Status",
    "Target",
    "is_ip",
    "parse_target",
]

Status = Literal["ok", "slow", "failed", "expiring", "unknown"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (nothing to resolve)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint to probe.

    Attributes
    ----------
    text
        The endpoint as given (the ``target`` column).
    scheme
        ``http``, ``https`` or ``tcp``.
    host
        The host name or address (IPv6 without brackets).
    port
        The port (80 / 443 when an http(s) URL names none).
    path
        Path and query of an http(s) URL (``/`` when none); empty for tcp.
    """

    text: str
    scheme: str
    host: str
    port: int
    path: str = ""

    @property
    def checks(self) -> tuple[str, ...]:
        """The checks that apply: dns (a name), tcp, tls (https), http (http(s))."""
        out: tuple[str, ...] = () if is_ip(self.host) else ("dns",)
        out += ("tcp",)
        if self.scheme == "https":
            out += ("tls",)
        if self.scheme in ("http", "https"):
            out += ("http",)
        return out

    @property
    def authority(self) -> str:
        """``host[:port]`` as a Host header says it (the port only when not the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if _DEFAULT_PORTS.get(self.scheme) == self.port:
            return host
        return f"{host}:{self.port}"


def parse_target(text: str) -> Target:
    """A :class:`Target` from ``http(s)://host[:port]/path``, ``tcp://host:port`` or ``host:port``.

    Raises
    ------
    InvalidInput
        Not an endpoint of those forms, a TCP endpoint without a port, or a URL
        with credentials in it.

    Examples
    --------
    >>> parse_target("https://payments.prod.svc:8443/healthz")
    Target(text='https://payments.prod.svc:8443/healthz', scheme='https', host='payments.prod.svc', port=8443, path='/healthz')
    >>> parse_target("orders-db:5432").checks
    ('dns', 'tcp')
    """  # noqa: E501
    raw = str(text).strip()
    parts = urlsplit(raw if "://" in raw else f"tcp://{raw}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(f"endpoint {raw!r}: the port is not a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "tcp") or not parts.hostname:
        raise InvalidInput(
            f"endpoint {raw!r}: use http(s)://host[:port]/path, tcp://host:port or host:port"
        )
    if parts.username or parts.password:
        raise InvalidInput(f"endpoint {raw!r}: credentials in the URL are not accepted")
    if port is None:
        if scheme == "tcp":
            raise InvalidInput(f"endpoint {raw!r}: a TCP endpoint needs a port (host:port)")
        port = _DEFAULT_PORTS[scheme]
    path = ""
    if scheme != "tcp":
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(text=raw, scheme=scheme, host=parts.hostname, port=port, path=path)


@dataclass(frozen=True, slots=True)
class Check:
    """The result of one check of one target (one ``dependency_checks`` row).

    Attributes
    ----------
    check
        ``dns``, ``tcp``, ``tls`` or ``http``.
    status
        See the module notes.
    detail
        One line for people: what was seen (addresses, status code, certificate).
    reason
        A short code telling failures apart (``nxdomain``, ``timeout``, ``refused``,
        ``self_signed``...); empty when there is nothing to tell.
    latency_ms
        Milliseconds the check took; NaN when not measured.
    expires_at, days_left
        The certificate's not-after and the days left to it (tls only).
    checked_at
        When the check started (UTC).
    """

    check: str
    status: Status
    detail: str
    reason: str = ""
    latency_ms: float = math.nan
    expires_at: datetime | None = None
    days_left: float = math.nan
    checked_at: datetime | None = None

    def row(self, target: Target) -> dict[str, Any]:
        """The ``dependency_checks`` row of this check of ``target`` (plus ``reason``)."""
        return {
            "target": target.text,
            "host": target.host,
            "port": target.port,
            "check": self.check,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
            "checked_at": self.checked_at,
            "expires_at": self.expires_at,
            "days_left": self.days_left,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """Timeouts, tries and thresholds of the probes (seconds unless said).

    The defaults suit a health check during an incident: a dependency that needs
    more than a second to answer a health request is worth a look (``slow``),
    and no check waits long for an answer (the source's time budget bounds all
    of them together as well).

    Attributes
    ----------
    dns_timeout, tcp_timeout, tls_timeout, http_timeout
        Most seconds one check (one HTTP try) waits.
    dns_slow, tcp_slow, tls_slow, http_slow
        Above these seconds an answer is ``slow`` (0.5, 0.5, 1 and 1 s).
    http_tries
        Most HTTP tries (a try is repeated on a 5xx answer or no answer).
    http_backoff
        Seconds before the second try, doubled before each next one.
    http_total
        Most seconds all HTTP tries of one target take together.
    max_redirects
        Redirects followed on the same host (scheme and port); another host is
        never followed, only named.
    expiring_days
        A valid certificate expiring within this many days is ``expiring``.
    workers
        Targets probed at once.
    """

    dns_timeout: float = 2.0
    tcp_timeout: float = 3.0
    tls_timeout: float = 5.0
    http_timeout: float = 5.0
    dns_slow: float = 0.5
    tcp_slow: float = 0.5
    tls_slow: float = 1.0
    http_slow: float = 1.0
    http_tries: int = 3
    http_backoff: float = 0.5
    http_total: float = 15.0
    max_redirects: int = 3
    expiring_days: float = 14.0
    workers: int = 4

    def __post_init__(self) -> None:
        for name in ("dns_timeout", "tcp_timeout", "tls_timeout", "http_timeout", "http_total"):
            if not getattr(self, name) > 0:
                raise InvalidInput(f"probe setting {name} must be above 0 s")
        if self.http_tries < 1 or self.workers < 1 or self.max_redirects < 0:
            raise InvalidInput("http_tries and workers must be at least 1, max_redirects >= 0")


DEFAULT_SETTINGS = ProbeSettings()
