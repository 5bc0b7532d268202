"""TCP: connect to an address and port, and how long the connection took.

Outcomes told apart (``Check.reason``): ``refused`` (the host answered, nothing
listens or a firewall rejects), ``timeout`` (no answer: packets dropped by a
firewall or network policy, or the host is down), ``unreachable`` (no route to
the host or network), ``error`` (any other socket error).
"""

from __future__ import annotations

import errno
import socket
import time
from datetime import UTC, datetime

from .target import Check, Status

__all__ = ["connect_error", "probe_tcp"]

_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}


def connect_error(exc: OSError, where: str, timeout: float) -> tuple[str, str]:
    """``(reason, detail)`` of a failed connection to ``where`` (``"10.0.0.7:443"``)."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused", f"connection to {where} refused (nothing listens there, or rejected)"
    if isinstance(exc, TimeoutError):
        return "timeout", (
            f"no answer from {where} within {timeout:g} s (packets dropped: a firewall, "
            "a network policy, or the host is down)"
        )
    if exc.errno in _UNREACHABLE:
        return "unreachable", f"{where} is unreachable (no route to the host or network)"
    return "error", f"connection to {where} failed ({exc.strerror or type(exc).__name__})"


def probe_tcp(address: str, port: int, *, timeout: float, slow: float) -> Check:
    """Open (and close) a TCP connection to ``address``:``port``.

    Parameters
    ----------
    address
        An IP address (resolved beforehand by :mod:`.dns`) or a name.
    port
        The port.
    timeout
        Most seconds to wait for the connection.
    slow
        Above these seconds the connection is ``slow``.
    """
    checked_at = datetime.now(UTC)
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    start = time.perf_counter()
    try:
        with socket.create_connection((address, port), timeout=timeout):
            elapsed = time.perf_counter() - start
    except OSError as exc:
        elapsed = time.perf_counter() - start
        reason, detail = connect_error(exc, where, timeout)
        return Check(
            check="tcp",
            status="failed",
            detail=detail,
            reason=reason,
            latency_ms=elapsed * 1000,
            checked_at=checked_at,
        )
    status: Status = "slow" if elapsed > slow else "ok"
    return Check(
        check="tcp",
        status=status,
        detail=f"connected to {where} in {elapsed * 1000:.0f} ms",
        latency_ms=elapsed * 1000,
        checked_at=checked_at,
    )
