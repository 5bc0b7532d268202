"""PagerDuty (REST API v2): acknowledge, resolve and annotate an incident; import its times.

Writes are drafted without credentials or I/O (:func:`pagerduty_acknowledge`,
:func:`pagerduty_resolve`, :func:`pagerduty_note`) and sent by :class:`PagerDuty`:

* acknowledge / resolve: ``PUT {api}/incidents/{id}`` with
  ``{"incident": {"type": "incident_reference", "status": ...}}`` (a resolution
  text goes in ``incident.resolution``, which PagerDuty adds to the resolve log entry);
* note: ``POST {api}/incidents/{id}/notes`` with ``{"note": {"content": ...}}``.

Every request carries ``Authorization: Token token=...`` and
``Accept: application/vnd.pagerduty+json;version=2``; writes also ``From: <user email>``
(required by the API for writes). The token comes from ``INCIDENT_PAGERDUTY_TOKEN``
only and is never shown.

Reads (:meth:`PagerDuty.fetch_incident`) take ``GET /incidents/{id}`` and every page
of ``GET /incidents/{id}/log_entries`` so that the incident's times come from the
pager's clock (the trigger, first acknowledge and resolve log entries);
:func:`apply_pagerduty` and :func:`incident_from_pagerduty` put them into the record
with its own validation. The vendor pages these shapes come from are listed in
``tests/data/comms/SOURCES_pagerduty.md``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from ..core.errors import InvalidIncident, InvalidInput, SourceUnavailable
from ..core.incident import Incident
from ..core.severity import SEVERITIES
from ..core.text import shorten
from ..core.time import parse_time
from ._http import Call, Http, Reply, check_http_url
from ._model import ChannelName, Draft, Sent

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ENV_PAGERDUTY_API",
    "ENV_PAGERDUTY_FROM",
    "ENV_PAGERDUTY_TOKEN",
    "PAGERDUTY_ACCEPT",
    "PAGERDUTY_API",
    "PAGERDUTY_NOTE_CHARS",
    "PagerDuty",
    "PagerDutyIncident",
    "apply_pagerduty",
    "check_pagerduty_id",
    "incident_from_pagerduty",
    "pagerduty_acknowledge",
    "pagerduty_note",
    "pagerduty_resolve",
]

#: environment variables :meth:`PagerDuty.from_environment` reads
ENV_PAGERDUTY_TOKEN = "INCIDENT_PAGERDUTY_TOKEN"
ENV_PAGERDUTY_FROM = "INCIDENT_PAGERDUTY_FROM"
ENV_PAGERDUTY_API = "INCIDENT_PAGERDUTY_API"
#: the REST API base URL
PAGERDUTY_API = "https://api.pagerduty.com"
#: the versioning ``Accept`` header of REST API v2
PAGERDUTY_ACCEPT = "application/vnd.pagerduty+json;version=2"
#: the longest note content sent. The API reference gives no limit for a note's
#: content (only "at most 2000 notes per incident"); 25,000 is the receiver's
#: assumption, unconfirmed by the vendor's documentation.
PAGERDUTY_NOTE_CHARS = 25_000

# an incident id as PagerDuty makes them (``PT4KHLK``) or an incident number
_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# classic pagination: at most 100 a page, offset + limit at most 10,000
_PAGE = 100
_MAX_RECORDS = 10_000
_ACTIONS = {"acknowledge": "acknowledged", "resolve": "resolved", "note": ""}
# log entry types (the API reference lists both spellings of the acknowledge one)
_TRIGGER = frozenset({"trigger_log_entry"})
_ACKNOWLEDGE = frozenset({"acknowledge_log_entry", "acknowledgement_log_entry"})
_RESOLVE = frozenset({"resolve_log_entry"})
_NAME_CHARS = 200


def check_pagerduty_id(value: str, what: str = "PagerDuty incident id") -> str:
    """``value`` when it is a PagerDuty id (letters and digits, e.g. ``PT4KHLK``).

    Raises
    ------
    InvalidInput
        Anything else (a slash, a space, a URL...), before any request is made.

    Examples
    --------
    >>> check_pagerduty_id(" PT4KHLK ")
    'PT4KHLK'
    """
    text = value.strip() if isinstance(value, str) else ""
    if not _ID.fullmatch(text):
        shown = shorten(repr(value), 60)
        raise InvalidInput(
            f"{what} {shown} is not a PagerDuty id: give the letters and digits of the "
            "incident's id, e.g. PT4KHLK (the last part of its URL)"
        )
    return text


# -- drafts (pure: no credentials, no I/O) --------------------------------------------


def pagerduty_acknowledge(incident_id: str, *, incident: Incident | None = None) -> Draft:
    """The draft acknowledging PagerDuty incident ``incident_id`` (it stops the escalation).

    Parameters
    ----------
    incident_id
        The PagerDuty incident id (``PT4KHLK``).
    incident
        The record it belongs to, named in the text.

    Raises
    ------
    InvalidInput
        ``incident_id`` is not a PagerDuty id.
    """
    ident = check_pagerduty_id(incident_id)
    text = f"Acknowledge PagerDuty incident {ident}{_about(incident)}."
    payload = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    return Draft("pagerduty", "acknowledge", text, payload, ident)


def pagerduty_resolve(
    incident_id: str, resolution: str = "", *, incident: Incident | None = None
) -> Draft:
    """The draft resolving PagerDuty incident ``incident_id``.

    Parameters
    ----------
    incident_id
        The PagerDuty incident id.
    resolution
        What resolved it; PagerDuty adds it to the resolve log entry as a note.
    incident
        The record it belongs to, named in the text.

    Raises
    ------
    InvalidInput
        ``incident_id`` is not a PagerDuty id.
    """
    ident = check_pagerduty_id(incident_id)
    body: dict[str, str] = {"type": "incident_reference", "status": "resolved"}
    lines = [f"Resolve PagerDuty incident {ident}{_about(incident)}."]
    if resolution.strip():
        body["resolution"] = resolution.strip()
        lines += ["", f"Resolution: {resolution.strip()}"]
    return Draft("pagerduty", "resolve", "\n".join(lines), {"incident": body}, ident)


def pagerduty_note(
    incident_id: str, text: str, *, link: str = "", incident: Incident | None = None
) -> Draft:
    """The draft adding ``text`` (and ``link``, the bundle) as a note on the incident.

    The content is cut to :data:`PAGERDUTY_NOTE_CHARS` characters (``…`` at the end).

    Parameters
    ----------
    incident_id
        The PagerDuty incident id.
    text
        The note, plain text (e.g. the diagnosis summary).
    link
        A URL added on its own last line (the incident bundle).
    incident
        The record it belongs to, named in the first line.

    Raises
    ------
    InvalidInput
        ``incident_id`` is not a PagerDuty id, or there is nothing to say.
    """
    ident = check_pagerduty_id(incident_id)
    lines = [f"{incident.id} ({incident.severity}): {incident.title}"] if incident else []
    if text.strip():
        lines.append(text.strip())
    if link.strip():
        lines.append(f"Bundle: {link.strip()}")
    if not text.strip() and not link.strip():
        raise InvalidInput("a PagerDuty note needs some text or a link")
    content = "\n\n".join(lines)
    if len(content) > PAGERDUTY_NOTE_CHARS:
        content = content[: PAGERDUTY_NOTE_CHARS - 1].rstrip() + "…"
    return Draft("pagerduty", "note", content, {"note": {"content": content}}, ident)


def _about(incident: Incident | None) -> str:
    return f" ({incident.id}: {incident.title})" if incident is not None else ""


# -- what an import reads --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PagerDutyIncident:
    """A PagerDuty incident as :meth:`PagerDuty.fetch_incident` read it.

    Times are aware UTC datetimes taken from the incident's log entries (the
    pager's clock), None when there is no such entry.

    Attributes
    ----------
    id
        The PagerDuty id (``PT4KHLK``).
    number
        The incident number (``1234``), None when not given.
    title
        The incident title.
    status
        ``triggered``, ``acknowledged`` or ``resolved``.
    urgency
        ``high`` or ``low`` (``""`` when not given).
    priority
        The priority's name (``P2``), ``""`` without one.
    service
        The service's name as PagerDuty shows it.
    html_url
        The incident's page.
    created_at
        When PagerDuty created it.
    triggered
        The first trigger log entry's time.
    acknowledged
        The first acknowledge log entry's time.
    resolved
        The last resolve log entry's time, when the incident is resolved now.
    acknowledged_by
        Who acknowledged first (the agent of that log entry), ``""`` when unknown.
    assignees
        Who the incident is assigned to, names.
    responders
        Who was asked to respond, names (``incidents_responders``).
    log_entries
        How many log entries were read.
    """

    id: str
    number: int | None
    title: str
    status: str
    urgency: str
    priority: str
    service: str
    html_url: str
    created_at: datetime | None
    triggered: datetime | None
    acknowledged: datetime | None
    resolved: datetime | None
    acknowledged_by: str = ""
    assignees: tuple[str, ...] = ()
    responders: tuple[str, ...] = ()
    log_entries: int = 0

    @property
    def detected(self) -> datetime | None:
        """When it was detected: the trigger, else when PagerDuty created it."""
        return self.triggered or self.created_at

    @property
    def commander(self) -> str:
        """Who leads by default: the first acknowledger, else the first assignee."""
        return self.acknowledged_by or (self.assignees[0] if self.assignees else "")


# -- the channel ----------------------------------------------------------------------


class PagerDuty:
    """The PagerDuty REST API v2, configured from the environment (:meth:`from_environment`).

    Parameters
    ----------
    token
        A REST API token (account or user); a secret, never shown.
    sender
        The email of the PagerDuty user the writes are made as (the ``From``
        header); ``""``: reads only (a write is refused, naming the variable).
    api
        The REST API base URL.
    transport, attempts, timeout, sleep, max_wait
        Passed to :class:`~incident_lib.comms._http.Http`.

    Raises
    ------
    InvalidInput
        An empty or malformed token, a ``sender`` that is not an email, an API
        that is not an http(s) URL; the message never quotes the token.
    """

    def __init__(
        self,
        token: str,
        sender: str = "",
        *,
        api: str = PAGERDUTY_API,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
    ) -> None:
        if not token or not token.strip():
            raise InvalidInput(f"the PagerDuty token is empty: set {ENV_PAGERDUTY_TOKEN}")
        if any(c.isspace() or not c.isprintable() for c in token.strip()):
            raise InvalidInput(
                f"{ENV_PAGERDUTY_TOKEN} contains spaces or control characters (its value "
                "is not shown: it is a secret); give the token alone"
            )
        sender = sender.strip()
        if sender and not _EMAIL.fullmatch(sender):
            raise InvalidInput(
                f"{ENV_PAGERDUTY_FROM} must be the email of a PagerDuty user, not {sender!r}"
            )
        self._token = token.strip()
        self.sender = sender
        self.api = check_http_url(api.strip(), f"{ENV_PAGERDUTY_API} (the PagerDuty API)")
        self._http = Http(
            secrets=[self._token],
            transport=transport,
            attempts=attempts,
            timeout=timeout,
            sleep=sleep,
            max_wait=max_wait,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PagerDuty | None:
        """The channel from ``INCIDENT_PAGERDUTY_TOKEN``, ``_FROM`` and ``_API``.

        None when the token is unset or empty. Without ``INCIDENT_PAGERDUTY_FROM``
        the channel reads (imports) but refuses to write.

        Raises
        ------
        InvalidInput
            A malformed value (never quoting the token).
        """
        token = environ.get(ENV_PAGERDUTY_TOKEN, "").strip()
        if not token:
            return None
        return cls(
            token,
            environ.get(ENV_PAGERDUTY_FROM, ""),
            api=environ.get(ENV_PAGERDUTY_API, "").strip() or PAGERDUTY_API,
        )

    def __repr__(self) -> str:
        sender = self.sender or "unset"
        return f"PagerDuty(api={self.api!r}, from={sender!r}, token=***)"

    @property
    def name(self) -> ChannelName:
        """``"pagerduty"``."""
        return "pagerduty"

    @property
    def http(self) -> Http:
        """The client (it masks the token)."""
        return self._http

    # -- writes --------------------------------------------------------------------
    def calls(self, draft: Draft) -> tuple[Call, ...]:
        """The one write a confirmed send of ``draft`` makes; no I/O.

        Raises
        ------
        InvalidInput
            Not a PagerDuty draft, an unknown action, a target that is not a
            PagerDuty id, or no ``From`` email configured.
        """
        if draft.channel != "pagerduty":
            raise InvalidInput(f"a {draft.channel} draft cannot be sent through pagerduty")
        if draft.action not in _ACTIONS:
            raise InvalidInput(
                f"PagerDuty cannot {draft.action!r}: use one of {', '.join(_ACTIONS)}"
            )
        ident = check_pagerduty_id(draft.target)
        if not self.sender:
            raise InvalidInput(
                f"PagerDuty writes are made as a user: set {ENV_PAGERDUTY_FROM} to that "
                "user's email"
            )
        headers = (*self._headers(), ("From", self.sender), ("Content-Type", "application/json"))
        url = f"{self.api}/incidents/{quote(ident, safe='')}"
        if draft.action == "note":
            return (Call("POST", f"{url}/notes", headers, draft.payload, idempotent=False),)
        return (Call("PUT", url, headers, draft.payload),)

    def send(self, draft: Draft) -> Sent:
        """Send ``draft``; never raises for an answer (the detail says what happened).

        Returns
        -------
        Sent
            ``refs`` holds ``pagerduty_incident``; ``links`` the incident's page
            when the answer gives it.
        """
        (call,) = self.calls(draft)
        reply = self._http.request(call, label="pagerduty")
        ident = draft.target.strip()
        links: tuple[str, ...] = ()
        if reply.ok:
            done = {
                "acknowledge": f"acknowledged {ident}",
                "resolve": f"resolved {ident}",
                "note": f"note added to {ident}",
            }[draft.action]
            detail = f"{done} ({reply.status})"
            found = _dig(reply.body, "incident", "html_url")
            if isinstance(found, str) and found.startswith(("https://", "http://")):
                links = (found,)
        else:
            detail = f"{draft.action} {ident} failed: {reply.detail}"
        refs = {"pagerduty_incident": ident}
        return Sent(draft, reply.ok, self._http.scrub(detail), (reply,), links, refs)

    # -- reads ---------------------------------------------------------------------
    def fetch_incident(self, incident_id: str) -> PagerDutyIncident:
        """Read the incident and all its log entries; times from the log entries.

        Parameters
        ----------
        incident_id
            The PagerDuty id (``PT4KHLK``).

        Raises
        ------
        InvalidInput
            ``incident_id`` is not a PagerDuty id (no request is made).
        SourceUnavailable
            PagerDuty refused or did not answer, or answered something unexpected;
            the reason says which, never quoting the token.
        """
        ident = check_pagerduty_id(incident_id)
        base = f"{self.api}/incidents/{quote(ident, safe='')}"
        body = self._get(base, f"incident {ident}")
        incident = body.get("incident")
        if not isinstance(incident, dict):
            raise SourceUnavailable("pagerduty", f"incident {ident}: the answer has no incident")
        entries: list[dict[str, Any]] = []
        offset = 0
        while True:
            query = urlencode(
                {"offset": offset, "limit": _PAGE, "is_overview": "false", "time_zone": "UTC"}
            )
            page = self._get(f"{base}/log_entries?{query}", f"incident {ident} log entries")
            found = page.get("log_entries")
            if not isinstance(found, list):
                raise SourceUnavailable(
                    "pagerduty", f"incident {ident}: the log entries answer has no log_entries"
                )
            entries += [e for e in found if isinstance(e, dict)]
            offset += len(found)
            if page.get("more") is not True or not found:
                break
            if offset + _PAGE > _MAX_RECORDS:
                break  # the API serves at most 10,000 records; the first ones hold the times
        return _incident(ident, incident, entries)

    def _headers(self) -> tuple[tuple[str, str], ...]:
        return (("Authorization", f"Token token={self._token}"), ("Accept", PAGERDUTY_ACCEPT))

    def _get(self, url: str, what: str) -> dict[str, Any]:
        reply: Reply = self._http.request(Call("GET", url, self._headers()), label="pagerduty")
        if not reply.ok:
            raise SourceUnavailable("pagerduty", self._http.scrub(f"{what}: {reply.detail}"))
        if not isinstance(reply.body, dict):
            raise SourceUnavailable("pagerduty", f"{what}: the answer is not a JSON object")
        return reply.body


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _name(reference: Any) -> str:
    """The shown name of a PagerDuty reference (``summary``), one line."""
    summary = _dig(reference, "summary")
    return shorten(summary, _NAME_CHARS) if isinstance(summary, str) and summary.strip() else ""


def _time(value: Any, what: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_time(value, field=what)
    except InvalidInput as exc:
        raise SourceUnavailable("pagerduty", f"unexpected answer: {exc}") from None


def _names(items: Any, key: str) -> tuple[str, ...]:
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        name = _name(_dig(item, key))
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _incident(ident: str, data: dict[str, Any], entries: list[dict[str, Any]]) -> PagerDutyIncident:
    timed: list[tuple[datetime, str, dict[str, Any]]] = []
    for entry in entries:
        kind = entry.get("type")
        if isinstance(kind, str) and kind in _TRIGGER | _ACKNOWLEDGE | _RESOLVE:
            moment = _time(entry.get("created_at"), f"log entry {entry.get('id', '?')}")
            if moment is not None:
                timed.append((moment, str(kind), entry))
    timed.sort(key=lambda item: item[0])
    triggers = [t for t, kind, _ in timed if kind in _TRIGGER]
    acks = [(t, e) for t, kind, e in timed if kind in _ACKNOWLEDGE]
    resolves = [t for t, kind, _ in timed if kind in _RESOLVE]
    status = str(data.get("status") or "")
    acknowledger = ""
    if acks:
        agent = acks[0][1].get("agent")
        if _dig(agent, "type") in ("user_reference", "user"):
            acknowledger = _name(agent)
    number = data.get("incident_number")
    priority = _dig(data, "priority", "summary") or _dig(data, "priority", "name") or ""
    title = data.get("title") or data.get("summary") or ""
    return PagerDutyIncident(
        id=str(data.get("id") or ident),
        number=number if isinstance(number, int) else None,
        title=shorten(str(title), 500) if title else "",
        status=status,
        urgency=str(data.get("urgency") or ""),
        priority=str(priority),
        service=_name(data.get("service")),
        html_url=str(data.get("html_url") or ""),
        created_at=_time(data.get("created_at"), "incident created_at"),
        triggered=triggers[0] if triggers else None,
        acknowledged=acks[0][0] if acks else None,
        resolved=resolves[-1] if resolves and status == "resolved" else None,
        acknowledged_by=acknowledger,
        assignees=_names(data.get("assignments"), "assignee"),
        responders=_names(data.get("incidents_responders"), "user"),
        log_entries=len(entries),
    )


# -- into the record (pure) ------------------------------------------------------------


def apply_pagerduty(incident: Incident, found: PagerDutyIncident) -> Incident:
    """``incident`` with the pager's times, status and, where unset, its commander.

    ``times.detected`` / ``acknowledged`` / ``resolved`` become the trigger, first
    acknowledge and resolve log entries' times (the pager's clock replaces a
    time typed by hand); a resolved incident gets status ``resolved`` and, when
    its window is open, ends then. The incident commander becomes the first
    acknowledger (else the first assignee) only when the record has none: a role
    already held is never overwritten.

    Raises
    ------
    InvalidInput
        The pager's times contradict the record (a trigger before the window
        starts, a resolution before the recorded mitigation); the message says
        which, and the record is unchanged.
    """
    times = incident.times
    changes: dict[str, Any] = {}
    moments = {
        "detected": found.detected,
        "acknowledged": found.acknowledged,
        "resolved": found.resolved,
    }
    given = {k: v for k, v in moments.items() if v is not None}
    if given:
        changes["times"] = replace(times, **given)
    if found.resolved is not None:
        changes["status"] = "resolved"
        if incident.end is None:
            changes["end"] = found.resolved
    if not incident.roles.incident_commander and found.commander:
        changes["roles"] = replace(incident.roles, incident_commander=found.commander)
    if not changes:
        return incident
    try:
        return incident.with_changes(**changes)
    except InvalidIncident as exc:
        detail = str(exc).removeprefix("incident: ")
        raise InvalidInput(
            f"cannot import PagerDuty incident {found.id} into {incident.id}: {detail}"
        ) from None


def incident_from_pagerduty(
    found: PagerDutyIncident,
    *,
    id: str,
    service: str,
    namespace: str,
    severity: str = "",
    base: Incident | None = None,
) -> Incident:
    """A record for ``found``: ``base`` updated, or a new one starting at the trigger.

    Parameters
    ----------
    found
        What :meth:`PagerDuty.fetch_incident` read.
    id, service, namespace
        The new record's id and Kubernetes names (PagerDuty's service name is
        not a Kubernetes name); ignored with ``base``.
    severity
        ``SEV-1``..``SEV-4``; default: from a ``P1``..``P4`` priority.
    base
        An existing record to update (see :func:`apply_pagerduty`).

    Raises
    ------
    InvalidInput
        No severity given or derivable, invalid names, or times that contradict
        ``base``.
    """
    if base is not None:
        return apply_pagerduty(base, found)
    start = found.detected
    if start is None:
        raise InvalidInput(
            f"PagerDuty incident {found.id} has no trigger time: create the record by hand"
        )
    if not severity:
        level = found.priority.strip().upper()
        if re.fullmatch(r"P[1-4]", level):
            severity = SEVERITIES[int(level[1]) - 1]
        else:
            raise InvalidInput(
                f"PagerDuty incident {found.id} has no P1-P4 priority: give the severity "
                "(SEV-1..SEV-4)"
            )
    record = Incident.create(
        id=id,
        title=found.title or f"PagerDuty incident {found.id}",
        service=service,
        namespace=namespace,
        severity=severity,
        start=start,
    )
    return apply_pagerduty(record, found)
