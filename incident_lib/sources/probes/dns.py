"""DNS: a name's A and AAAA addresses, its CNAME chain and how long resolving took.

The resolver is dnspython's, built by :func:`resolver_from_environment`: the
servers of ``INCIDENT_DNS_SERVERS`` (comma-separated ``address`` or
``address:port``, ``[v6]:port``) when set, else the system's (``/etc/resolv.conf``,
with its search domains, as the service itself resolves). Tests and notebooks
may pass any resolver with dnspython's ``resolve`` method.

Outcomes told apart (``Check.reason``): the name does not exist (``nxdomain``,
failed); it exists but has no A or AAAA record (``no_answer``, failed); no server
answered in time (``timeout``, failed: a DNS outage is itself a finding); every
server refused or failed (``servfail``, failed); no resolver configured
(``no_resolver``, unknown).
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...core.errors import InvalidInput
from ...core.text import shorten
from .target import Check, Status

__all__ = ["DNS_SERVERS_ENV", "parse_servers", "probe_dns", "resolver_from_environment"]

#: comma-separated DNS servers (``address`` or ``address:port``) instead of the system's
DNS_SERVERS_ENV = "INCIDENT_DNS_SERVERS"
_MAX_ADDRESSES = 8


def parse_servers(text: str) -> list[tuple[str, int]]:
    """``(address, port)`` of each server in ``INCIDENT_DNS_SERVERS`` text.

    Raises
    ------
    InvalidInput
        An entry is not an IP address with an optional port.

    Examples
    --------
    >>> parse_servers("10.0.0.10, 127.0.0.1:5353, [::1]:53")
    [('10.0.0.10', 53), ('127.0.0.1', 5353), ('::1', 53)]
    """
    out: list[tuple[str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, port = item, 53
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            if rest.startswith(":"):
                port = _port(rest[1:], item)
        elif item.count(":") == 1:
            host, _, text_port = item.partition(":")
            port = _port(text_port, item)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InvalidInput(
                f"{DNS_SERVERS_ENV}: {item!r} is not an IP address (optionally with :port)"
            ) from None
        out.append((host, port))
    return out


def _port(text: str, item: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidInput(f"{DNS_SERVERS_ENV}: {item!r} has no valid port (1 to 65535)")
    return int(text)


def resolver_from_environment(environ: Mapping[str, str] = os.environ) -> Any:
    """A ``dns.resolver.Resolver``: the servers of ``INCIDENT_DNS_SERVERS``, else the system's.

    Returns ``None`` when the system has no resolver configuration (the DNS
    checks are then ``unknown``).

    Raises
    ------
    InvalidInput
        ``INCIDENT_DNS_SERVERS`` is set but not a list of addresses.
    """
    import dns.nameserver
    import dns.resolver

    servers = parse_servers(environ.get(DNS_SERVERS_ENV, ""))
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in servers]
        return resolver
    try:
        return dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return None


def probe_dns(host: str, resolver: Any, *, timeout: float, slow: float) -> tuple[Check, list[str]]:
    """Resolve ``host`` (A, then AAAA): the check and the addresses found.

    Parameters
    ----------
    host
        The name to resolve.
    resolver
        A ``dns.resolver.Resolver`` (see :func:`resolver_from_environment`), or None.
    timeout
        Most seconds both queries take together.
    slow
        Above these seconds the resolution is ``slow``.

    Returns
    -------
    tuple[Check, list[str]]
        The ``dns`` check and the addresses (IPv4 first; empty when none).
    """
    import dns.exception
    import dns.resolver

    checked_at = datetime.now(UTC)
    if resolver is None:
        return _check(
            "unknown",
            f"no DNS configuration on this machine; set {DNS_SERVERS_ENV}",
            "no_resolver",
            checked_at,
        ), []
    start = time.perf_counter()
    addresses: list[str] = []
    cnames: list[str] = []
    failure: tuple[str, str] | None = None
    for rdtype in ("A", "AAAA"):
        left = timeout - (time.perf_counter() - start)
        if left <= 0:
            failure = failure or ("timeout", f"no DNS answer within {timeout:g} s")
            break
        try:
            answer = resolver.resolve(
                host, rdtype, lifetime=left, raise_on_no_answer=False, search=True
            )
        except dns.resolver.NXDOMAIN:
            failure = ("nxdomain", "the name does not exist (NXDOMAIN)")
            break
        except dns.resolver.LifetimeTimeout:
            failure = failure or ("timeout", f"no DNS server answered within {timeout:g} s")
            break
        except dns.resolver.NoNameservers:
            failure = failure or (
                "servfail",
                "every DNS server failed or refused the query (SERVFAIL / REFUSED)",
            )
            continue
        except dns.exception.DNSException as exc:
            failure = failure or ("error", f"DNS query failed ({type(exc).__name__})")
            continue
        if not cnames:
            cnames = _cnames(answer)
        if answer.rrset is not None:
            addresses += [str(r.address) for r in answer.rrset]
    elapsed = time.perf_counter() - start
    chain = f"; CNAME {' → '.join(cnames)}" if cnames else ""
    if addresses:
        status: Status = "slow" if elapsed > slow else "ok"
        shown = ", ".join(addresses[:_MAX_ADDRESSES])
        more = (
            f" (+{len(addresses) - _MAX_ADDRESSES} more)" if len(addresses) > _MAX_ADDRESSES else ""
        )
        detail = f"{shown}{more}{chain}; resolved in {elapsed * 1000:.0f} ms"
        return _check(status, detail, "", checked_at, elapsed), addresses
    if failure is None:
        failure = ("no_answer", "the name exists but has no A or AAAA record")
    return _check("failed", failure[1] + chain, failure[0], checked_at, elapsed), []


def _cnames(answer: Any) -> list[str]:
    """The CNAME chain of an answer: ``["www.example.com.", "edge.example.net."]``."""
    result = getattr(answer, "chaining_result", None)
    rrsets = getattr(result, "cnames", None) or []
    names: list[str] = []
    for rrset in rrsets:
        if not names:
            names.append(str(rrset.name))
        names += [str(r.target) for r in rrset][:1]
    return names


def _check(
    status: Status,
    detail: str,
    reason: str,
    checked_at: datetime,
    elapsed: float | None = None,
) -> Check:
    return Check(
        check="dns",
        status=status,
        detail=shorten(detail, 300, whole_tokens=True),
        reason=reason,
        latency_ms=elapsed * 1000 if elapsed is not None else float("nan"),
        checked_at=checked_at,
    )
