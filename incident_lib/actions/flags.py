"""Feature flags: turn a flag on or off through the HTTP endpoint named in configuration.

Configuration (its own, never the read-only sources'):

* ``INCIDENT_FLAG_URL``: a URL template with ``{flag}``
  (``https://flags.example.com/api/flags/{flag}``); the flag's name is
  percent-encoded into it. Credentials in the URL's user part are refused (put
  them in the token); the values of query parameters named like credentials
  (``api_key``, ``token``, ``sig``...) are masked wherever the URL is shown.
* ``INCIDENT_FLAG_TOKEN``: the bearer token (``Authorization: Bearer ...``). It is
  never shown: plans, dry runs, results and refusals show ``$INCIDENT_FLAG_TOKEN``
  or ``[REDACTED]``, whatever the server echoes back.
* ``INCIDENT_FLAG_METHOD``: ``PUT`` (default) or ``POST``.

The request is ``<METHOD> <url>`` with the JSON body ``{"enabled": true}`` (or
``false``). :meth:`FlagActor.plan` builds it (no request), :meth:`FlagActor.dry_run`
shows it exactly, token masked (the endpoint has no dry-run mode: nothing is
sent), and :meth:`FlagActor.apply` sends it only with ``confirm=True`` and the
flag named as ``target``; without ``confirm`` it is a dry run.

Bounds and failures: each try waits at most ``timeout`` seconds (connect and
read); a 5xx answer or no answer (refused, dropped, timed out) is tried once more
after ``backoff`` seconds, never more. A 401 or 403 (the token), a 404 (no such
flag) and a 409 (the flag changed hands) are refusals (:class:`ActionRefused`,
nothing changed, the message says how to fix it); any other failure is an
:class:`ActionResult` with outcome ``failed`` and the status code: after a 5xx or
a timeout the flag's state is unknown, and the message says to check it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from ..core.actions import Action, ActionPlan, ActionResult, confirmation
from ..core.errors import ActionRefused
from ..core.text import shorten
from ..sources.base import REDACTED, scrub_secrets

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_TIMEOUT",
    "FLAG_METHOD_ENV",
    "FLAG_TOKEN_ENV",
    "FLAG_URL_ENV",
    "MAX_TRIES",
    "FlagActor",
]

FLAG_URL_ENV = "INCIDENT_FLAG_URL"
FLAG_TOKEN_ENV = "INCIDENT_FLAG_TOKEN"
FLAG_METHOD_ENV = "INCIDENT_FLAG_METHOD"
#: seconds each try may take (connect, then the answer)
DEFAULT_TIMEOUT = 10.0
#: tries in all: the first and one retry on a 5xx or no answer
MAX_TRIES = 2
_METHODS = ("PUT", "POST")
_CONTENT_TYPE = "application/json"
#: a flag name as flag services write them: letters, digits, ``-``, ``_``, ``.``, ``:``
_FLAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
#: refusals: status -> how to fix it
_REFUSALS = {
    401: f"the flag endpoint did not accept the token: check {FLAG_TOKEN_ENV}",
    403: f"the token of {FLAG_TOKEN_ENV} may not change this flag: ask for write rights on it",
    404: "the flag endpoint does not know this flag: check its name (and "
    f"{FLAG_URL_ENV}'s template)",
    409: "the flag endpoint refused the change as conflicting (the flag changed since): "
    "look at its state, then plan again",
}


def _status(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _check_template(template: str) -> str:
    text = template.strip()
    if not text:
        raise ActionRefused(
            f"{FLAG_URL_ENV} is not set: set it to the flag endpoint's URL with {{flag}} "
            "where the flag's name goes (https://flags.example.com/api/flags/{flag})"
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionRefused(f"{FLAG_URL_ENV} must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise ActionRefused(
            f"{FLAG_URL_ENV} carries credentials: take them out and set {FLAG_TOKEN_ENV}"
        )
    if "{flag}" not in text or re.search(r"\{(?!flag\})", text):
        raise ActionRefused(
            f"{FLAG_URL_ENV} must hold {{flag}} (and no other {{...}}) where the flag's name goes"
        )
    return text


#: query parameters whose values are credentials
_SECRET_PARAM = re.compile(r"token|key|secret|sig|pass|auth|cred|session", re.IGNORECASE)


def _query_secrets(url: str) -> list[str]:
    """The values of ``url``'s query parameters named like credentials (``api_key=...``)."""
    query = urlsplit(url).query
    return [v for k, v in parse_qsl(query, keep_blank_values=True) if _SECRET_PARAM.search(k)]


def _shown_url(url: str) -> str:
    """``url`` with the values of its credential-like query parameters masked."""
    parts = urlsplit(url)
    if not _query_secrets(url):
        return url
    query = "&".join(
        f"{quote(k, safe='')}={REDACTED if _SECRET_PARAM.search(k) else quote(v, safe='')}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(query=query))


@dataclass(frozen=True, slots=True)
class FlagActor:
    """Turns feature flags on and off through one HTTP endpoint (see the module notes).

    Parameters
    ----------
    url_template
        The endpoint, ``{flag}`` where the flag's name goes.
    token
        The bearer token ("" none: plans and dry runs work, :meth:`apply` refuses).
    method
        ``PUT`` or ``POST``.
    timeout
        Seconds each try may take.
    backoff
        Seconds between the two tries.
    sleep
        How to wait between tries (tests pass a recorder).
    clock
        The time of a result (aware).
    """

    url_template: str
    token: str = field(default="", repr=False)
    method: str = "PUT"
    timeout: float = DEFAULT_TIMEOUT
    backoff: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url_template", _check_template(self.url_template))
        method = self.method.strip().upper()
        if method not in _METHODS:
            raise ActionRefused(f"{FLAG_METHOD_ENV} must be PUT or POST, not {self.method!r}")
        object.__setattr__(self, "method", method)
        if not 0 < self.timeout <= 60:
            raise ActionRefused(f"the flag endpoint's timeout must be 0-60 s, not {self.timeout}")

    def __repr__(self) -> str:
        token = "set" if self.token else "not set"
        return (
            f"FlagActor(url_template={_shown_url(self.url_template)!r}, token {token}, "
            f"method={self.method!r}, timeout={self.timeout:g})"
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> FlagActor:
        """An actor from ``INCIDENT_FLAG_URL``, ``INCIDENT_FLAG_TOKEN``, ``INCIDENT_FLAG_METHOD``.

        Raises
        ------
        ActionRefused
            The URL is not set or not usable (the message says what to set).
        """
        return cls(
            url_template=environ.get(FLAG_URL_ENV, ""),
            token=environ.get(FLAG_TOKEN_ENV, "").strip(),
            method=environ.get(FLAG_METHOD_ENV, "") or "PUT",
        )

    # -- the request ---------------------------------------------------------------------
    def _url(self, flag: str) -> str:
        return self.url_template.replace("{flag}", quote(flag, safe=""))

    def _scrub(self, text: str) -> str:
        return scrub_secrets(text, [self.token, *_query_secrets(self.url_template)])

    def plan(self, action: Action) -> ActionPlan:
        """What :meth:`apply` would send for ``action``; nothing is sent.

        Raises
        ------
        ActionRefused
            Not a feature-flag action, a flag name that is not one, or ``enabled``
            not ``true``/``false``.
        """
        if action.kind != "feature_flag" or action.kind_of_workload != "FeatureFlag":
            raise ActionRefused(
                f"{action.describe()}: the flag endpoint only turns feature flags on and off "
                "(workload FeatureFlag/<name>)"
            )
        if not _FLAG_NAME.match(action.name):
            raise ActionRefused(
                f"flag {action.name!r}: a flag name is letters, digits, '-', '_', '.' or ':'"
            )
        enabled = action.params.get("enabled", "").strip().lower()
        if enabled not in ("true", "false"):
            raise ActionRefused(
                f"turn flag {action.name} on or off: set enabled to 'true' or 'false', "
                f"not {action.params.get('enabled', '')!r}"
            )
        url = _shown_url(self._url(action.name))
        body = json.dumps({"enabled": enabled == "true"})
        auth = f"Authorization: Bearer ${FLAG_TOKEN_ENV}" if self.token else ""
        words = [f"curl -sS -X {self.method}"]
        words += [f'-H "{auth}"'] if auth else []  # double quotes: the shell expands the token
        words += [
            f"-H {shlex.quote('Content-Type: ' + _CONTENT_TYPE)}",
            f"-d {shlex.quote(body)} {shlex.quote(url)}",
        ]
        command = " ".join(words)
        state = "on" if enabled == "true" else "off"
        return ActionPlan(
            action=action,
            resource_version="",
            patch=body,
            content_type=_CONTENT_TYPE,
            diff=f"  feature flag {action.name}\n- enabled: (not read: the endpoint is "
            f"write-only here)\n+ enabled: {enabled}",
            command=self._scrub(command),
            summary=f"turn feature flag {action.name} {state}: {self.method} {url} {body}",
        )

    def dry_run(self, plan: ActionPlan) -> str:
        """The exact request :meth:`apply` would send, token masked; nothing is sent.

        The endpoint has no dry-run mode of its own, so nothing reaches it.
        """
        lines = [f"{self.method} {_shown_url(self._url(plan.action.name))}"]
        if self.token:
            lines.append(f"Authorization: Bearer {REDACTED}")
        else:
            lines.append(f"(no Authorization header: {FLAG_TOKEN_ENV} is not set)")
        lines += [f"Content-Type: {plan.content_type}", "", plan.patch]
        return self._scrub("\n".join(lines))

    # -- applying ------------------------------------------------------------------------
    def apply(
        self, plan: ActionPlan, *, confirm: bool = False, target: str = "", by: str = ""
    ) -> ActionResult:
        """Send the plan's request, only with ``confirm=True`` and ``target`` the flag's name.

        Parameters
        ----------
        plan
            From :meth:`plan`.
        confirm
            False (default): a dry run, nothing is sent (outcome ``planned``).
        target
            The flag's name, written out by the responder (``"new-checkout"``).
        by
            Who applies it.

        Returns
        -------
        ActionResult
            ``planned`` (dry run), ``applied`` (a 2xx answer) or ``failed`` (the
            status code, or no answer, in the message).

        Raises
        ------
        ActionRefused
            ``target`` is not the flag, no token is set, a plan not made by
            :meth:`plan` for its action, or the endpoint refused the
            token (401/403), the flag (404) or the change (409): nothing changed.
        """
        action = plan.action
        what = f"{self.dry_run(plan).splitlines()[0]} {plan.patch} (not sent)"
        gate = confirmation(plan, confirm=confirm, target=target, at=self.clock(), by=by, what=what)
        if gate is not None:
            return gate
        if not self.token:
            raise ActionRefused(
                f"{FLAG_TOKEN_ENV} is not set: set it to a token of the flag endpoint with "
                "write rights on this flag"
            )
        if self.plan(action).patch != plan.patch or plan.content_type != _CONTENT_TYPE:
            raise ActionRefused(
                f"this plan was not made for the flag endpoint: plan {action.describe()} "
                "again with this actor; nothing was sent"
            )
        outcome, message = self._send(plan)
        return ActionResult(
            action=action,
            outcome=outcome,
            dry_run=False,
            at=self.clock(),
            by=by,
            message=self._scrub(message),
        )

    def _send(self, plan: ActionPlan) -> tuple[Literal["applied", "failed"], str]:
        import httpx

        url = self._url(plan.action.name)
        shown = f"{self.method} {_shown_url(url)}"
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": plan.content_type,
            "Accept": "application/json",
        }
        why = ""
        with httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False) as client:
            for attempt in range(1, MAX_TRIES + 1):
                if attempt > 1:
                    self.sleep(self.backoff)
                try:
                    response = client.request(
                        self.method, url, content=plan.patch.encode(), headers=headers
                    )
                except httpx.TimeoutException:
                    why = f"no answer within {self.timeout:g} s"
                    continue
                except httpx.TransportError as exc:
                    why = f"no answer ({_transport_reason(exc)})"
                    continue
                code = response.status_code
                if 200 <= code < 300:
                    return "applied", f"{shown}: {_status(code)}"
                body = self._scrub(shorten(" ".join(response.text.split()), 200))
                said = f" ({body})" if body else ""
                if code in _REFUSALS:
                    raise ActionRefused(
                        self._scrub(f"{shown}: {_status(code)}{said}: {_REFUSALS[code]}")
                    )
                why = f"{_status(code)}{said}"
                if code < 500:
                    return "failed", f"{shown}: {why}: the flag was not changed"
        tries = f"{MAX_TRIES} tries" if MAX_TRIES > 1 else "1 try"
        return (
            "failed",
            f"{shown}: {why} after {tries}: the flag's state is unknown, check it before "
            "trying again",
        )


def _transport_reason(exc: httpx.TransportError) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "no connection"
    return type(exc).__name__
