"""TLS: the handshake, the certificate (subject, issuer, names, expiry) and its chain.

The handshake verifies the certificate against the system's CA store, or against
the file named by ``INCIDENT_CA_BUNDLE`` instead (an internal CA), and the name
probed. When verification fails, the certificate is read a second time without
verification, so the check still says whose certificate it is, who issued it,
the names it is valid for and when it expires; what is wrong is said plainly:
self-signed, issued by an authority not trusted here, expired, not yet valid, or
issued for other names (``Check.reason``: ``self_signed``, ``untrusted``,
``expired``, ``not_yet_valid``, ``hostname_mismatch``). A verified certificate
expiring within :attr:`~.target.ProbeSettings.expiring_days` is ``expiring``.
Certificates are parsed with ``cryptography``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...core.errors import InvalidInput
from ...core.text import shorten
from .target import Check, Status
from .tcp import connect_error

__all__ = [
    "CA_BUNDLE_ENV",
    "Certificate",
    "describe_certificate",
    "hostname_matches",
    "probe_tls",
    "tls_context",
]

#: a PEM file of the authorities to trust instead of the system's store
CA_BUNDLE_ENV = "INCIDENT_CA_BUNDLE"
_DER = 2  # ssl's ENCODING_DER, for the chain's certificates before Python 3.13
#: OpenSSL's X509_V_ERR_* codes -> reason
_VERIFY_CODES = {
    9: "not_yet_valid",
    10: "expired",
    18: "self_signed",
    19: "self_signed",
    2: "untrusted",
    20: "untrusted",
    21: "untrusted",
    62: "hostname_mismatch",
    64: "hostname_mismatch",
}


def tls_context(environ: Mapping[str, str] = os.environ) -> ssl.SSLContext:
    """A verifying client context: the system's CA store, or ``INCIDENT_CA_BUNDLE`` instead.

    Raises
    ------
    InvalidInput
        ``INCIDENT_CA_BUNDLE`` names a file that does not exist or holds no certificate.
    """
    bundle = environ.get(CA_BUNDLE_ENV, "").strip()
    if bundle and not Path(bundle).is_file():
        raise InvalidInput(f"{CA_BUNDLE_ENV}: no file {bundle!r}")
    try:
        return ssl.create_default_context(cafile=bundle or None)
    except ssl.SSLError:
        raise InvalidInput(f"{CA_BUNDLE_ENV}: {bundle!r} holds no PEM certificate") from None


@dataclass(frozen=True, slots=True)
class Certificate:
    """What a certificate says, for people.

    Attributes
    ----------
    subject, issuer
        Distinguished names (RFC 4514).
    names
        Subject alternative names (DNS names and IP addresses).
    not_before, not_after
        Its validity (UTC).
    self_signed
        Whether it is its own issuer.
    """

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    self_signed: bool

    def days_left(self, now: datetime) -> float:
        """Days from ``now`` to :attr:`not_after` (negative once expired)."""
        return (self.not_after - now).total_seconds() / 86400


def describe_certificate(der: bytes) -> Certificate:
    """Parse a DER certificate (``cryptography``)."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        names += [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        names=tuple(names),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=cert.subject == cert.issuer,
    )


def hostname_matches(host: str, names: tuple[str, ...]) -> bool:
    """Whether ``host`` is one of ``names`` (a ``*.`` wildcard covers one label).

    Examples
    --------
    >>> hostname_matches("api.prod.example.com", ("*.prod.example.com",))
    True
    >>> hostname_matches("example.com", ("*.example.com",))
    False
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    host = host.lower().rstrip(".")
    for name in names:
        if address is not None:
            try:
                if ipaddress.ip_address(name) == address:
                    return True
            except ValueError:
                continue
            continue
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def probe_tls(
    host: str,
    address: str,
    port: int,
    *,
    context: ssl.SSLContext,
    timeout: float,
    slow: float,
    expiring_days: float,
    now: datetime | None = None,
) -> Check:
    """Handshake with ``address``:``port`` as ``host`` and check its certificate.

    Parameters
    ----------
    host
        The name the certificate must be valid for (sent as SNI).
    address
        Where to connect (resolved by :mod:`.dns`).
    port
        The port.
    context
        A verifying context (:func:`tls_context`).
    timeout
        Most seconds for the connection and the handshake.
    slow
        Above these seconds the handshake is ``slow``.
    expiring_days
        A valid certificate expiring within this many days is ``expiring``.
    now
        The time to count days left from (default: now).
    """
    checked_at = datetime.now(UTC)
    now = now or checked_at
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    try:
        der, chain, version, elapsed = _handshake(address, port, host, context, timeout)
        failure: ssl.SSLCertVerificationError | None = None
    except ssl.SSLCertVerificationError as exc:
        failure = exc
        try:
            der, chain, version, elapsed = _handshake(address, port, host, _unverified(), timeout)
        except (OSError, ssl.SSLError) as again:
            return _failed(
                f"certificate verification failed ({exc.verify_message}); it could not be "
                f"read again ({type(again).__name__})",
                _VERIFY_CODES.get(exc.verify_code, "untrusted"),
                checked_at,
            )
    except ssl.SSLError as exc:
        return _failed(
            f"TLS handshake with {where} failed ({exc.reason or exc}): not TLS on this port, "
            "or no protocol or cipher in common",
            "handshake",
            checked_at,
        )
    except OSError as exc:
        reason, detail = connect_error(exc, where, timeout)
        return _failed(f"TLS: {detail}", reason, checked_at)
    if not der:
        return _failed("the server sent no certificate", "no_certificate", checked_at)
    cert = describe_certificate(der)
    days = cert.days_left(now)
    said = _certificate_text(cert, days, chain, version)
    extra: dict[str, Any] = {
        "latency_ms": elapsed * 1000,
        "expires_at": cert.not_after,
        "days_left": days,
        "checked_at": checked_at,
    }
    if failure is not None:
        problems = _problems(failure, cert, host, now)
        text = "certificate not valid: " + "; ".join(p for _, p in problems) + f". {said}"
        return Check(
            check="tls",
            status="failed",
            detail=shorten(text, 500, whole_tokens=True),
            reason=problems[0][0],
            **extra,
        )
    status: Status = "ok"
    reason = ""
    if days < expiring_days:
        status, reason = "expiring", "expiring"
    elif elapsed > slow:
        status = "slow"
    text = f"valid; {said}; handshake in {elapsed * 1000:.0f} ms"
    return Check(
        check="tls",
        status=status,
        detail=shorten(text, 500, whole_tokens=True),
        reason=reason,
        **extra,
    )


def _problems(
    failure: ssl.SSLCertVerificationError, cert: Certificate, host: str, now: datetime
) -> list[tuple[str, str]]:
    """``(reason, words)`` of each problem: OpenSSL's first, then what the certificate shows."""
    out: dict[str, str] = {}
    days = cert.days_left(now)
    words = {
        "self_signed": "self-signed (not issued by an authority trusted here)",
        "untrusted": f"issued by {_short(cert.issuer)}, an authority not trusted here "
        f"(an internal CA: set {CA_BUNDLE_ENV})",
        "expired": f"expired on {cert.not_after:%Y-%m-%d %H:%M} UTC ({-days:.1f} days ago)",
        "not_yet_valid": f"not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC",
        "hostname_mismatch": f"issued for {', '.join(cert.names) or _short(cert.subject)}, "
        f"not for {host}",
    }
    first = _VERIFY_CODES.get(failure.verify_code)
    if first is not None:
        out[first] = words[first]
    if cert.self_signed:
        out.setdefault("self_signed", words["self_signed"])
    if days < 0:
        out.setdefault("expired", words["expired"])
    if now < cert.not_before:
        out.setdefault("not_yet_valid", words["not_yet_valid"])
    if not hostname_matches(host, cert.names):
        out.setdefault("hostname_mismatch", words["hostname_mismatch"])
    if not out:
        out["untrusted"] = f"{failure.verify_message or 'verification failed'}"
    return list(out.items())


def _certificate_text(
    cert: Certificate, days: float, chain: list[Certificate], version: str
) -> str:
    when = f"in {days:.1f} days" if days >= 0 else f"{-days:.1f} days ago"
    names = ", ".join(cert.names[:6]) + (" …" if len(cert.names) > 6 else "")
    parts = [
        version,
        f"subject {_short(cert.subject)}",
        f"issuer {_short(cert.issuer)}",
        f"names {names or 'none'}",
        f"expires {cert.not_after:%Y-%m-%d %H:%M} UTC ({when})",
    ]
    if chain:
        issuers = " ← ".join(_short(c.issuer) for c in chain)
        parts.append(f"chain of {len(chain)} (issuers {issuers})")
    return ", ".join(p for p in parts if p)


def _short(name: str) -> str:
    """The CN of a distinguished name when it has one, else the whole name."""
    for part in name.split(","):
        if part.startswith("CN="):
            return part
    return name or "?"


def _failed(detail: str, reason: str, checked_at: datetime) -> Check:
    return Check(
        check="tls",
        status="failed",
        detail=shorten(detail, 500, whole_tokens=True),
        reason=reason,
        checked_at=checked_at,
    )


def _unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _handshake(
    address: str, port: int, host: str, context: ssl.SSLContext, timeout: float
) -> tuple[bytes | None, list[Certificate], str, float]:
    """``(leaf DER, chain, protocol version, handshake seconds)``."""
    with socket.create_connection((address, port), timeout=timeout) as raw:
        start = time.perf_counter()
        with context.wrap_socket(raw, server_hostname=host) as tls:
            elapsed = time.perf_counter() - start
            der = tls.getpeercert(binary_form=True)
            verified = context.verify_mode != ssl.CERT_NONE
            chain = [describe_certificate(d) for d in _chain(tls, verified)]
            return der, chain, tls.version() or "", elapsed


def _chain(sock: ssl.SSLSocket, verified: bool) -> list[bytes]:
    """The chain's certificates as DER, leaf first (verified: up to the trusted root).

    Public from Python 3.13 (``get_verified_chain``); before, the same methods of
    the socket's ``_sslobj``. Empty when neither is there.
    """
    name = "get_verified_chain" if verified else "get_unverified_chain"
    method = getattr(sock, name, None) or getattr(getattr(sock, "_sslobj", None), name, None)
    if method is None:
        return []
    try:
        certs: list[Any] = list(method() or [])
        return [c if isinstance(c, bytes) else bytes(c.public_bytes(_DER)) for c in certs]
    except Exception:  # the chain is extra information, never a failure
        return []
