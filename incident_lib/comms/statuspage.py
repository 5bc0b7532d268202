"""Atlassian Statuspage: open, update and resolve the public incident; the update cadence.

Configured from the environment only (:meth:`Statuspage.from_environment`):

``INCIDENT_STATUSPAGE_API_KEY``
    The API key, sent as ``Authorization: OAuth <key>`` (a secret: never shown).
``INCIDENT_STATUSPAGE_PAGE_ID``
    The page the incidents are posted on (``gytm4qzbx9t6``).
``INCIDENT_STATUSPAGE_API``
    The API root, default ``https://api.statuspage.io/v1``.
``INCIDENT_STATUSPAGE_COMPONENTS``
    Which status-page components each service is shown as, ``service=component_id``
    pairs separated by commas: ``api=8kbf7d35c070,web=vtnh60py4yd7``. A service may
    be named more than once to affect several components. Read by
    :func:`component_map` (it is not a secret: drafts can be built without the key).

Drafts are built from the incident record and the text people will read, with
no credentials and no I/O (:func:`open_incident`, :func:`status_update`,
:func:`resolve_incident`); the body is the documented one
(``{"incident": {name, status, body, component_ids, components,
deliver_notifications}}``). A draft for a service without a mapped component
affects no component and says so; a service named explicitly (``services=``)
without one is refused.

How the record becomes a component status (:func:`component_status`): while
``investigating`` or ``identified``, by severity (SEV-1 ``major_outage``, SEV-2
``partial_outage``, SEV-3 and SEV-4 ``degraded_performance``); ``monitoring`` (a
fix is out, not yet verified) ``degraded_performance``; ``resolved``
``operational``. Statuspage derives the incident's impact from the component
statuses, so ``impact_override`` is never sent.

The cadence (:func:`next_update_due`, :func:`cadence_text`) follows the
severity's :func:`~incident_lib.core.severity.update_interval`: 30 minutes for
SEV-1 and SEV-2, 1 hour for SEV-3, 4 hours for SEV-4.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInput
from ..core.incident import STATUSES, Incident
from ..core.severity import check_severity, update_interval
from ..core.time import format_duration
from ._http import Call, Http, Reply, check_http_url
from ._model import ChannelName, Draft, Sent

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ACTIONS",
    "COMPONENT_STATUSES",
    "DEFAULT_API",
    "ENV_API",
    "ENV_COMPONENTS",
    "ENV_KEY",
    "ENV_PAGE",
    "REF",
    "Statuspage",
    "cadence_text",
    "component_map",
    "component_status",
    "next_update_due",
    "open_incident",
    "open_or_update",
    "parse_components",
    "resolve_incident",
    "status_update",
]

ENV_KEY = "INCIDENT_STATUSPAGE_API_KEY"
ENV_PAGE = "INCIDENT_STATUSPAGE_PAGE_ID"
ENV_API = "INCIDENT_STATUSPAGE_API"
ENV_COMPONENTS = "INCIDENT_STATUSPAGE_COMPONENTS"
DEFAULT_API = "https://api.statuspage.io/v1"
#: the key of :attr:`Sent.refs` holding the status-page incident id
REF = "statuspage_incident"
#: the component statuses Statuspage knows
COMPONENT_STATUSES = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)
#: draft actions: what sending does
OPEN, UPDATE, RESOLVE = "open incident", "status update", "resolve"
ACTIONS = (OPEN, UPDATE, RESOLVE)
#: the longest incident body Statuspage accepts (its API reference)
MAX_BODY = 25_000

_NAME: ChannelName = "statuspage"
# Statuspage ids are 12 lower-case letters and digits; accept any short token (never a path)
_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_SERVICE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# a header value must be one line of visible characters
_KEY = re.compile(r"[\x21-\x7e]{8,512}")
_BY_SEVERITY = {
    "SEV-1": "major_outage",
    "SEV-2": "partial_outage",
    "SEV-3": "degraded_performance",
    "SEV-4": "degraded_performance",
}


# -- configuration ------------------------------------------------------------------
def parse_components(text: str) -> dict[str, tuple[str, ...]]:
    """Service -> status-page component ids, from ``api=8kbf7d35c070,web=vtnh60py4yd7``.

    Parameters
    ----------
    text
        ``service=component_id`` pairs separated by commas (spaces ignored); a
        service named twice affects both components. Empty: no mapping.

    Returns
    -------
    dict
        Service name -> component ids, in the order given.

    Raises
    ------
    InvalidInput
        A pair that is not ``service=component_id``, a service that is not a
        Kubernetes name, or an id that is not a Statuspage id.

    Examples
    --------
    >>> parse_components("api=8kbf7d35c070, api=vtnh60py4yd7,web=k3m9x1b2c4d5")
    {'api': ('8kbf7d35c070', 'vtnh60py4yd7'), 'web': ('k3m9x1b2c4d5',)}
    """
    mapping: dict[str, list[str]] = {}
    for raw in text.split(","):
        pair = raw.strip()
        if not pair:
            continue
        service, sep, component = (part.strip() for part in pair.partition("="))
        if not sep or not service or not component:
            raise InvalidInput(
                f"{ENV_COMPONENTS}: {pair!r} is not service=component_id "
                "(e.g. api=8kbf7d35c070,web=vtnh60py4yd7)"
            )
        if not _SERVICE.fullmatch(service):
            raise InvalidInput(
                f"{ENV_COMPONENTS}: service {service!r} is not a service name "
                "(lower-case letters, digits and '-')"
            )
        if not _ID.fullmatch(component):
            raise InvalidInput(
                f"{ENV_COMPONENTS}: component id {component!r} of {service!r} is not a "
                "Statuspage component id (letters and digits, e.g. 8kbf7d35c070)"
            )
        ids = mapping.setdefault(service, [])
        if component not in ids:
            ids.append(component)
    return {service: tuple(ids) for service, ids in mapping.items()}


def component_map(environ: Mapping[str, str] = os.environ) -> dict[str, tuple[str, ...]]:
    """The service -> component mapping configured in ``INCIDENT_STATUSPAGE_COMPONENTS``.

    Parameters
    ----------
    environ
        Where it is read (``os.environ`` unless given).

    Raises
    ------
    InvalidInput
        A malformed value (:func:`parse_components`).
    """
    return parse_components(environ.get(ENV_COMPONENTS, ""))


# -- what the record means on the page --------------------------------------------
def component_status(severity: str, status: str) -> str:
    """The status the incident's components show, from its severity and status.

    Parameters
    ----------
    severity
        ``SEV-1`` .. ``SEV-4``.
    status
        ``investigating``, ``identified``, ``monitoring`` or ``resolved``.

    Returns
    -------
    str
        ``major_outage`` (SEV-1), ``partial_outage`` (SEV-2) or
        ``degraded_performance`` (SEV-3, SEV-4) while investigating or identified;
        ``degraded_performance`` while monitoring; ``operational`` once resolved.

    Raises
    ------
    InvalidInput
        An unknown severity or status.

    Examples
    --------
    >>> component_status("SEV-2", "identified"), component_status("SEV-1", "resolved")
    ('partial_outage', 'operational')
    """
    level = check_severity(severity)
    state = _check_status(status)
    if state == "resolved":
        return "operational"
    if state == "monitoring":
        return "degraded_performance"
    return _BY_SEVERITY[level]


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return status


# -- drafts (pure) ------------------------------------------------------------------------
def open_incident(
    incident: Incident,
    body: str,
    *,
    components: Mapping[str, Sequence[str]] | None = None,
    services: Iterable[str] = (),
    status: str = "",
    component: str = "",
    name: str = "",
    notify: bool = True,
) -> Draft:
    """A draft that opens the incident on the status page (``POST .../incidents``).

    Parameters
    ----------
    incident
        The record: its title (the incident's name), status, severity and service.
    body
        What subscribers read (e.g. :func:`incident_lib.report.drafts.status_page_draft`).
    components
        Service -> component ids (:func:`component_map`); None: no mapping.
    services
        Other affected services (dependencies); each must have a component.
    status
        The incident status (default the record's).
    component
        The component status (default :func:`component_status` of severity and status).
    name
        The incident's name on the page (default the record's title).
    notify
        Notify the page's subscribers (``deliver_notifications``).

    Returns
    -------
    Draft
        ``action`` ``"open incident"``, no target yet; sending it returns the
        incident id as ``Sent.refs["statuspage_incident"]``.

    Raises
    ------
    InvalidInput
        An empty or too long body, an unknown status or component status, or a
        service in ``services`` without a mapped component.
    """
    return _draft(OPEN, "", incident, body, components, services, status, component, name, notify)


def status_update(
    incident: Incident,
    body: str,
    *,
    incident_id: str,
    components: Mapping[str, Sequence[str]] | None = None,
    services: Iterable[str] = (),
    status: str = "",
    component: str = "",
    name: str = "",
    notify: bool = True,
) -> Draft:
    """A draft that updates the open incident (``PATCH .../incidents/{incident_id}``).

    Parameters
    ----------
    incident_id
        The status-page incident (``sent_refs(workspace)["statuspage_incident"]``).
    incident, body, components, services, status, component, name, notify
        As for :func:`open_incident`.

    Raises
    ------
    InvalidInput
        No or a malformed ``incident_id``, and as :func:`open_incident`.
    """
    target = _check_incident_id(incident_id)
    return _draft(
        UPDATE, target, incident, body, components, services, status, component, name, notify
    )


def resolve_incident(
    incident: Incident,
    body: str,
    *,
    incident_id: str,
    components: Mapping[str, Sequence[str]] | None = None,
    services: Iterable[str] = (),
    name: str = "",
    notify: bool = True,
) -> Draft:
    """A draft that resolves the incident: status ``resolved``, its components ``operational``.

    Parameters
    ----------
    incident_id
        The status-page incident (``sent_refs(workspace)["statuspage_incident"]``).
    incident, body, components, services, name, notify
        As for :func:`open_incident`.
    """
    target = _check_incident_id(incident_id)
    return _draft(
        RESOLVE,
        target,
        incident,
        body,
        components,
        services,
        "resolved",
        "operational",
        name,
        notify,
    )


def open_or_update(
    incident: Incident,
    body: str,
    *,
    refs: Mapping[str, str],
    components: Mapping[str, Sequence[str]] | None = None,
    status: str = "",
    resolve: bool = False,
) -> Draft:
    """The next status-page draft: open the incident, else update it, or resolve it.

    Parameters
    ----------
    incident
        The record.
    body
        What subscribers read.
    refs
        The ids earlier sends returned (``communicating.sent_refs``): with
        :data:`REF` the incident is on the page already and is updated.
    components
        Service -> component ids (:func:`component_map`).
    status
        The incident status to show (default the record's; ignored with ``resolve``).
    resolve
        Resolve it (only once it is open; before, the draft opens it resolved).

    Returns
    -------
    Draft
        :func:`open_incident`, :func:`status_update` or :func:`resolve_incident`.
    """
    known = refs.get(REF, "")
    if not known:
        shown = "resolved" if resolve else status
        return open_incident(incident, body, components=components, status=shown)
    if resolve:
        return resolve_incident(incident, body, incident_id=known, components=components)
    return status_update(incident, body, incident_id=known, components=components, status=status)


def _draft(
    action: str,
    target: str,
    incident: Incident,
    body: str,
    components: Mapping[str, Sequence[str]] | None,
    services: Iterable[str],
    status: str,
    component: str,
    name: str,
    notify: bool,
) -> Draft:
    text = body.strip()
    if not text:
        raise InvalidInput("a status page update needs a body: what customers should read")
    if len(text) > MAX_BODY:
        raise InvalidInput(
            f"the body has {len(text):,} characters; Statuspage accepts at most {MAX_BODY:,}"
        )
    state = _check_status(status or incident.status)
    chosen = component or component_status(incident.severity, state)
    if chosen not in COMPONENT_STATUSES:
        raise InvalidInput(
            f"component status {chosen!r} is not one of {', '.join(COMPONENT_STATUSES)}"
        )
    title = (name or incident.title).strip()
    if not title:
        raise InvalidInput("a status page incident needs a name")
    mapping = {k: tuple(v) for k, v in (components or {}).items()}
    affected, missing = _affected(incident.service, tuple(services), mapping)
    ids = [cid for _, cid in affected]
    payload: dict[str, Any] = {
        "incident": {
            "name": title,
            "status": state,
            "body": text,
            "component_ids": ids,
            "components": {cid: chosen for cid in ids},
            "deliver_notifications": bool(notify),
        }
    }
    if affected:
        shown = ", ".join(f"{service} ({cid})" for service, cid in affected)
        parts = f"Components: {shown} -> {chosen}."
    else:
        parts = "Components: none."
    if missing:
        parts += (
            f" No status-page component is mapped to service {missing!r} ({ENV_COMPONENTS}), "
            "so this update changes no component."
        )
    where = f" {target}" if target else ""
    heading = {OPEN: "open incident", UPDATE: f"update{where}", RESOLVE: f"resolve{where}"}
    lines = [
        f"Status page ({heading[action]}): {title} — {state}",
        parts,
        f"Subscribers notified: {'yes' if notify else 'no'}.",
        "",
        text,
    ]
    return Draft(_NAME, action, "\n".join(lines), payload, target)


def _affected(
    service: str, others: tuple[str, ...], mapping: Mapping[str, tuple[str, ...]]
) -> tuple[list[tuple[str, str]], str]:
    """(service, component id) pairs affected, and the incident's service when unmapped."""
    unknown = [s for s in others if not mapping.get(s)]
    if unknown:
        known = ", ".join(sorted(mapping)) or "none"
        raise InvalidInput(
            f"no status-page component is mapped to {', '.join(map(repr, unknown))} in "
            f"{ENV_COMPONENTS} (mapped services: {known}); add service=component_id or "
            "leave the service out"
        )
    pairs: list[tuple[str, str]] = []
    for name in (service, *others):
        for cid in mapping.get(name, ()):
            if cid not in (c for _, c in pairs):
                pairs.append((name, cid))
    return pairs, ("" if mapping.get(service) else service)


def _check_incident_id(incident_id: str) -> str:
    text = (incident_id or "").strip()
    if not text:
        raise InvalidInput(
            "no status-page incident to update: open one first (sending it keeps its id "
            f"as {REF!r} in the workspace's comms state)"
        )
    if not _ID.fullmatch(text):
        raise InvalidInput(f"{incident_id!r} is not a Statuspage incident id (e.g. p31zjtct2jer)")
    return text


# -- cadence (pure) -------------------------------------------------------------------
def next_update_due(severity: str, last_sent: datetime | None, now: datetime) -> datetime:
    """When the next status-page update is due.

    Parameters
    ----------
    severity
        ``SEV-1`` .. ``SEV-4``: the cadence is its
        :func:`~incident_lib.core.severity.update_interval`.
    last_sent
        When the last update went out; None: none has yet.
    now
        The current time (returned when nothing was sent: the first update is due).

    Returns
    -------
    datetime.datetime
        ``last_sent`` plus the cadence, seconds dropped (as the drafts' "Next
        update by 14:52 UTC" promises), or ``now``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> sent = datetime(2026, 11, 3, 14, 22, 40, tzinfo=UTC)
    >>> next_update_due("SEV-2", sent, sent).strftime("%H:%M")
    '14:52'
    """
    if last_sent is None:
        return now
    due = last_sent + update_interval(severity)
    return due.replace(second=0, microsecond=0)


def cadence_text(severity: str, last_sent: datetime | None, now: datetime) -> str:
    """The next update's deadline in words, as the notebooks show it.

    Returns
    -------
    str
        ``"next update due by 14:52 UTC (in 12 min)"``, ``"next update overdue by
        5 min (it was due by 14:52 UTC)"``, ``"next update due now (14:52 UTC)"``, or
        ``"no status-page update sent yet: the first one is due now"``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> sent = datetime(2026, 11, 3, 14, 22, tzinfo=UTC)
    >>> cadence_text("SEV-2", sent, datetime(2026, 11, 3, 14, 40, tzinfo=UTC))
    'next update due by 14:52 UTC (in 12 min)'
    >>> cadence_text("SEV-2", sent, datetime(2026, 11, 3, 14, 57, tzinfo=UTC))
    'next update overdue by 5 min (it was due by 14:52 UTC)'
    """
    if last_sent is None:
        check_severity(severity)
        return "no status-page update sent yet: the first one is due now"
    due = next_update_due(severity, last_sent, now)
    left = (due - now).total_seconds()
    clock = f"{due:%H:%M} UTC"
    if left >= 60:
        return f"next update due by {clock} (in {_minutes(math.ceil(left / 60))})"
    if left > -60:
        return f"next update due now ({clock})"
    return f"next update overdue by {_minutes(math.floor(-left / 60))} (it was due by {clock})"


def _minutes(minutes: int) -> str:
    return format_duration(timedelta(minutes=minutes))


# -- the channel ----------------------------------------------------------------------
class Statuspage:
    """The Atlassian Statuspage REST API (v1) of one page.

    Build it with :meth:`from_environment`. :meth:`calls` shows the exact
    request a draft makes; :meth:`send` makes it (``POST`` to open, ``PATCH`` to
    update or resolve) and returns the incident id and its short link.

    Parameters
    ----------
    api_key
        The API key (kept inside; never shown, logged or returned).
    page_id
        The page's id.
    api
        The API root.
    components
        Service -> component ids (:func:`component_map`).
    transport, attempts, timeout, sleep, max_wait
        Passed to :class:`~incident_lib.comms.Http`.

    Raises
    ------
    InvalidInput
        A malformed key (not quoted), page id or API URL.
    """

    def __init__(
        self,
        *,
        api_key: str,
        page_id: str,
        api: str = DEFAULT_API,
        components: Mapping[str, Sequence[str]] | None = None,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
    ) -> None:
        key = api_key.strip()
        if not _KEY.fullmatch(key):
            raise InvalidInput(
                f"{ENV_KEY} is not a Statuspage API key: one line of 8 or more visible "
                "characters (its value is not shown: it is a secret)"
            )
        page = page_id.strip()
        if not _ID.fullmatch(page):
            raise InvalidInput(
                f"{ENV_PAGE} {page_id!r} is not a Statuspage page id (e.g. gytm4qzbx9t6)"
            )
        self._auth = f"OAuth {key}"
        self.page_id = page
        self.api = check_http_url(api, ENV_API)
        self.components = {k: tuple(v) for k, v in (components or {}).items()}
        self._http = Http(
            secrets=(key,),
            transport=transport,
            attempts=attempts,
            timeout=timeout,
            sleep=sleep,
            max_wait=max_wait,
        )

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 4,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
    ) -> Statuspage | None:
        """The page configured in ``environ``; None without a key and a page id.

        Raises
        ------
        InvalidInput
            A malformed key (never quoted), page id, API URL or component mapping.
        """
        key = environ.get(ENV_KEY, "").strip()
        page = environ.get(ENV_PAGE, "").strip()
        if not key or not page:
            return None
        return cls(
            api_key=key,
            page_id=page,
            api=environ.get(ENV_API, "").strip() or DEFAULT_API,
            components=component_map(environ),
            transport=transport,
            attempts=attempts,
            timeout=timeout,
            sleep=sleep,
            max_wait=max_wait,
        )

    def __repr__(self) -> str:
        return (
            f"Statuspage(api={self.api!r}, page_id={self.page_id!r}, "
            f"components={len(self.components)} services, key masked)"
        )

    @property
    def name(self) -> ChannelName:
        """``"statuspage"``."""
        return _NAME

    @property
    def http(self) -> Http:
        """The client (it masks the key)."""
        return self._http

    def calls(self, draft: Draft) -> tuple[Call, ...]:
        """The one request sending ``draft`` makes; no I/O.

        Raises
        ------
        InvalidInput
            Not a Statuspage draft, or one these builders did not make.
        """
        if draft.channel != _NAME:
            raise InvalidInput(f"a {draft.channel} draft is not a Statuspage draft")
        if draft.action not in ACTIONS:
            raise InvalidInput(f"Statuspage drafts {', '.join(ACTIONS)}, not {draft.action!r}")
        payload = draft.payload
        if not isinstance(payload, dict) or not isinstance(payload.get("incident"), dict):
            raise InvalidInput("a Statuspage draft's payload is {'incident': {...}}")
        headers = (
            ("Authorization", self._auth),
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
        )
        incidents = f"{self.api}/pages/{self.page_id}/incidents"
        if draft.action == OPEN:
            return (Call("POST", incidents, headers, payload),)
        target = _check_incident_id(draft.target)
        return (Call("PATCH", f"{incidents}/{target}", headers, payload),)

    def send(self, draft: Draft) -> Sent:
        """Open, update or resolve the incident; never raises for an answer.

        Returns
        -------
        Sent
            ``refs`` ``{"statuspage_incident": id}`` and ``links`` (the incident's
            short link) when the page answered with the incident.
        """
        (call,) = self.calls(draft)
        reply = self._http.request(call, label="statuspage")
        if not reply.ok:
            return Sent(draft, False, f"not sent: {reply.detail}", (reply,))
        return self._sent(draft, reply)

    def _sent(self, draft: Draft, reply: Reply) -> Sent:
        body = reply.body if isinstance(reply.body, dict) else {}
        found = str(body.get("id") or "")
        incident_id = found if _ID.fullmatch(found) else ""
        link = str(body.get("shortlink") or "")
        links = (link,) if link.startswith(("https://", "http://")) else ()
        state = str(body.get("status") or draft.payload["incident"]["status"])
        verb = {OPEN: "opened", UPDATE: "updated", RESOLVE: "resolved"}[draft.action]
        if not incident_id:
            note = (
                " but the answer named no incident id: find it on the page before updating"
                if draft.action == OPEN
                else ""
            )
            detail = f"{verb} the status page incident ({reply.status}, {state}){note}"
            return Sent(draft, True, self._http.scrub(detail), (reply,), links)
        detail = f"{verb} status page incident {incident_id} ({reply.status}, {state})"
        return Sent(draft, True, self._http.scrub(detail), (reply,), links, {REF: incident_id})
