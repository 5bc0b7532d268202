"""Kubernetes API failures -> :class:`SourceUnavailable` reasons, with secrets masked.

Every failure a user will meet says what to do (refresh the token, grant an
RBAC verb, install metrics-server); tokens and anything shaped like one are
masked, and the API server's URL is shown without a ``user:password`` part.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...core.text import shorten
from ..base import network_reason

__all__ = [
    "EXPIRED",
    "SOURCE",
    "api_reason",
    "first_line",
    "forbidden_user",
    "mask",
    "safe_host",
    "status_message",
    "status_text",
    "timed_out",
]

SOURCE = "kubernetes"
_SECRETISH = re.compile(r"[A-Za-z0-9+/=_.\-]{32,}")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
#: the reason of a 401: the credentials expired or were revoked
EXPIRED = (
    "credentials rejected (401): refresh your kubeconfig token, "
    "e.g. re-run your cloud's get-credentials"
)


def api_reason(
    exc: Exception,
    *,
    verb: str,
    resource: str,
    namespace: str,
    api_client: Any,
    timeout: tuple[float, float],
    not_found: str | None = None,
) -> str | None:
    """The user-facing reason for ``exc``, or None when it is not an API/network error.

    Parameters
    ----------
    exc
        What the client raised.
    verb, resource, namespace
        What was asked (named in a 403 reason: the RBAC rule to grant).
    api_client
        The ``kubernetes.client.ApiClient`` (its host is named, without credentials).
    timeout
        The ``(connect, read)`` request timeout (named in a timeout reason).
    not_found
        The reason of a 404 (default: the namespace does not exist).
    """
    import urllib3
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, urllib3.exceptions.HTTPError):
        return network_reason(exc, f"API server {safe_host(api_client)}", timeout)
    if not isinstance(exc, ApiException):
        return None
    status = exc.status
    if status == 401:
        return EXPIRED
    if status == 403:
        who = forbidden_user(exc.body)
        return (
            f"forbidden (403): RBAC must allow '{verb}' on '{resource}' in namespace "
            f"'{namespace}'" + (f" for {who}" if who else "")
        )
    if status == 404:
        return not_found or f"namespace '{namespace}' not found"
    if status == 503 and resource.endswith("metrics.k8s.io"):
        return (
            "metrics.k8s.io is registered but not answering (503): metrics-server "
            "may be down; resource usage unavailable"
        )
    if not status:  # TLS and similar, raised by the client before any answer
        first = str(exc.reason or "").splitlines()[0:1]
        return f"could not talk to API server {safe_host(api_client)}: " + (
            mask(first[0]) if first else "connection error"
        )
    message = status_message(exc.body)
    return f"API server answered {status} {exc.reason or ''} to {verb} {resource}".rstrip() + (
        f": {message}" if message else ""
    )


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is urllib3's connect or read timeout (wrapped in a retry error or not)."""
    import urllib3.exceptions as u

    inner = exc.reason if isinstance(exc, u.MaxRetryError) and exc.reason else exc
    return isinstance(inner, u.TimeoutError)


def safe_host(api_client: Any) -> str:
    """The API server URL without any user:password part."""
    from urllib.parse import urlsplit

    host = str(getattr(api_client.configuration, "host", "") or "")
    parts = urlsplit(host)
    if parts.hostname is None:
        return host
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def status_text(body: Any) -> str:
    """The first line of the ``message`` of a Kubernetes Status body (or of the body)."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message = str(data.get("message", "") if isinstance(data, dict) else text).strip()
    return shorten(message.splitlines()[0], 300, whole_tokens=True) if message else ""


def status_message(body: Any) -> str:
    """:func:`status_text`, with anything shaped like a token hidden."""
    return mask(status_text(body))


def forbidden_user(body: Any) -> str:
    match = re.search(r'User "([^"]+)"', status_text(body))
    return f"user '{match.group(1)}'" if match else ""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return shorten(text.splitlines()[0], 200, whole_tokens=True) if text else type(exc).__name__


def mask(text: str) -> str:
    """Hide anything shaped like a token or key.

    A run of 32+ base64 / URL-safe characters mixing upper case, lower case and
    digits (JWTs, cloud keys), or of 32+ hex digits. Kubernetes object names are
    lower case, so pod and ReplicaSet names stay readable.
    """

    def hide(match: re.Match[str]) -> str:
        run = match.group()
        mixed = not run.islower() and not run.isupper() and any(c.isdigit() for c in run)
        return "[redacted]" if mixed or _HEX.fullmatch(run) else run

    return _SECRETISH.sub(hide, text)
