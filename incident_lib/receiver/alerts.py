"""Alert payloads in, :class:`Notice` values out: the three senders the receiver accepts.

Each parser takes the raw request body and the request headers (names lower-cased),
validates the body against the sender's documented shape (pydantic models written
from the vendors' documentation) and returns normalised :class:`Notice` values:

* :func:`parse_alertmanager`: the Prometheus Alertmanager ``webhook_config`` payload,
  version ``"4"``; one notice per delivery (a delivery is one alert group).
* :func:`pagerduty_parser`: PagerDuty Webhooks v3; checks ``X-PagerDuty-Signature``
  (``v1=<hex HMAC-SHA256 of the raw body>``, several comma-separated signatures
  allowed) when a secret is configured. ``incident.triggered``, ``incident.acknowledged``
  and ``incident.resolved`` are notices; other event types are accepted and give none.
* :func:`parse_datadog`: the Datadog Webhooks integration's payload (the documented
  default template, and the variables ``$ALERT_ID``, ``$ALERT_TRANSITION``,
  ``$ALERT_SCOPE``, ``$TAGS``... under the names the documentation gives them).

Anything else raises :class:`PayloadRejected` with the HTTP status to answer and a
reason naming the field: 400 (not JSON), 401 (a missing or wrong signature), 415
(not a JSON content type), 422 (the shape). Pure: no I/O; a reason never contains a
secret or a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ..core.errors import InvalidInput
from ..core.text import shorten

__all__ = [
    "Notice",
    "NoticeStatus",
    "Parser",
    "PayloadRejected",
    "pagerduty_parser",
    "parse_alertmanager",
    "parse_datadog",
]

NoticeStatus = Literal["firing", "acknowledged", "resolved"]
NoticeSource = Literal["alertmanager", "pagerduty", "datadog"]

#: Alertmanager's "no end time" (Go's zero time)
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert notification, whatever sent it.

    Attributes
    ----------
    source
        ``alertmanager``, ``pagerduty`` or ``datadog``.
    key
        One incident per key: ``alertmanager:<groupKey>``, ``pagerduty:<incident id>``,
        ``datadog:<monitor id>:<scope or aggregation key>``.
    delivery
        Identifies this delivery for duplicate detection: the same notification
        delivered twice has the same value (a hash of the normalised content, or the
        vendor's event id).
    status
        ``firing``, ``acknowledged`` or ``resolved``.
    name
        The alert name, the incident title or the monitor name.
    labels
        Labels or tags (``k:v`` tags split at the first colon).
    severity
        As the sender gave it (``critical``, ``P1``, ``""`` when none).
    starts_at
        When the problem started (aware, UTC).
    ends_at
        When it ended (resolved notices), else None.
    summary
        One line for people.
    url
        A link back to the sender (``generatorURL``, ``html_url``, ``link``), ``""``.
    alerts
        How many alerts the delivery carried.
    """

    source: NoticeSource
    key: str
    delivery: str
    status: NoticeStatus
    name: str
    labels: Mapping[str, str] = field(hash=False)  # compared, not hashed (a dict)
    severity: str
    starts_at: datetime
    ends_at: datetime | None
    summary: str
    url: str
    alerts: int


class PayloadRejected(InvalidInput):
    """A payload the receiver refuses; ``status`` is the HTTP status to answer.

    Parameters
    ----------
    status
        400 (not JSON), 401 (signature), 413 (too large), 415 (content type) or
        422 (shape).
    reason
        One line naming the field; never contains a secret, token or signature.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Parser = Callable[[bytes, Mapping[str, str]], list[Notice]]

# -- helpers -----------------------------------------------------------------------


class _Model(BaseModel):
    """Vendors add fields over time: unknown ones are ignored, known ones checked."""

    model_config = ConfigDict(extra="ignore", frozen=True)


_M = TypeVar("_M", bound=_Model)


def _check_content_type(headers: Mapping[str, str], sender: str) -> None:
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise PayloadRejected(
            415, f"{sender} payload: content type {content_type!r} is not application/json"
        )


def _load_json(body: bytes, sender: str) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PayloadRejected(400, f"{sender} payload: the body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise PayloadRejected(
            422, f"{sender} payload: expected a JSON object, got {type(data).__name__}"
        )
    return data


def _validate(model: type[_M], data: dict[str, Any], sender: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False)[:3]:
            where = ".".join(str(part) for part in error["loc"]) or "(top)"
            problems.append(f"{where}: {error['msg']}")
        more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
        raise PayloadRejected(422, f"{sender} payload: " + "; ".join(problems) + more) from None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _split_tags(text: str) -> dict[str, str]:
    """``"env:prod, role:db,standalone"`` -> ``{"env": "prod", "role": "db", "standalone": ""}``."""
    labels: dict[str, str] = {}
    for item in text.split(","):
        tag = item.strip()
        if tag:
            key, _, value = tag.partition(":")
            labels[key.strip()] = value.strip()
    return labels


# -- Alertmanager ------------------------------------------------------------------


class _AmAlert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class _AmPayload(_Model):
    version: Literal["4"]
    groupKey: str = Field(min_length=1)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[_AmAlert] = Field(min_length=1)


def parse_alertmanager(body: bytes, headers: Mapping[str, str]) -> list[Notice]:
    """Parse an Alertmanager webhook (payload version ``"4"``) into one notice.

    Parameters
    ----------
    body
        The raw request body.
    headers
        The request headers, names lower-cased.

    Returns
    -------
    list of Notice
        One notice for the group: key ``alertmanager:<groupKey>``, labels the group's
        and common labels, starts at the earliest alert, ends (when resolved) at the
        latest ``endsAt``; ``delivery`` hashes the normalised content, so a repeated
        notification of an unchanged group has the same value.

    Raises
    ------
    PayloadRejected
        Not JSON (400), not a JSON content type (415), not the documented shape or not
        version 4 (422).
    """
    _check_content_type(headers, "alertmanager")
    payload = _validate(_AmPayload, _load_json(body, "alertmanager"), "alertmanager")
    first = payload.alerts[0]
    labels = {**payload.groupLabels, **payload.commonLabels}
    name = labels.get("alertname") or first.labels.get("alertname", "")
    annotations = payload.commonAnnotations or first.annotations
    summary = annotations.get("summary") or annotations.get("description", "")
    starts_at = min(_utc(alert.startsAt) for alert in payload.alerts)
    ends_at: datetime | None = None
    if payload.status == "resolved":
        ends = [
            _utc(a.endsAt) for a in payload.alerts if a.endsAt is not None and a.endsAt > _ZERO_TIME
        ]
        ends_at = max(ends) if ends else None
    alerts = sorted(
        (
            a.fingerprint or _digest(a.labels),
            a.status,
            _utc(a.startsAt).isoformat(),
            _utc(a.endsAt).isoformat() if a.status == "resolved" and a.endsAt else "",
        )
        for a in payload.alerts
    )
    return [
        Notice(
            source="alertmanager",
            key=f"alertmanager:{payload.groupKey}",
            delivery="alertmanager:"
            + _digest(payload.groupKey, payload.status, alerts, payload.truncatedAlerts),
            status=payload.status,
            name=name,
            labels=labels,
            severity=labels.get("severity", ""),
            starts_at=starts_at,
            ends_at=ends_at,
            summary=summary,
            url=first.generatorURL or payload.externalURL,
            alerts=len(payload.alerts),
        )
    ]


# -- PagerDuty ---------------------------------------------------------------------

#: event type -> notice status; other event types are accepted and give no notice
_PAGERDUTY_EVENTS: dict[str, NoticeStatus] = {
    "incident.triggered": "firing",
    "incident.acknowledged": "acknowledged",
    "incident.resolved": "resolved",
}


class _PdReference(_Model):
    id: str = ""
    summary: str = ""
    html_url: str = ""


class _PdIncident(_Model):
    id: str = Field(min_length=1)
    type: Literal["incident"]
    self: str = ""
    html_url: str = ""
    number: int | None = None
    status: str = ""
    incident_key: str | None = None
    created_at: AwareDatetime
    title: str
    service: _PdReference | None = None
    assignees: list[_PdReference] = Field(default_factory=list)
    escalation_policy: _PdReference | None = None
    teams: list[_PdReference] = Field(default_factory=list)
    priority: _PdReference | None = None
    urgency: str | None = None
    resolve_reason: object = None


class _PdEvent(_Model):
    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str
    occurred_at: AwareDatetime
    agent: dict[str, Any] | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any]


class _PdEnvelope(_Model):
    event: _PdEvent


class _PdIncidentData(_Model):
    data: _PdIncident


def _signature_ok(secret: str, body: bytes, header: str) -> bool:
    expected = "v1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    offered = [item.strip() for item in header.split(",") if item.strip().startswith("v1=")]
    # compare with every offered signature (no early exit on the first match)
    matches = [hmac.compare_digest(expected.encode(), item.encode()) for item in offered]
    return any(matches)


def pagerduty_parser(secret: str | None) -> Parser:
    """A parser for PagerDuty v3 webhooks, checking signatures when ``secret`` is set.

    Parameters
    ----------
    secret
        The webhook subscription's signing secret; None or ``""`` accepts unsigned
        payloads (a bearer token must then authenticate the sender).

    Returns
    -------
    Parser
        ``parse(body, headers) -> list[Notice]``: one notice for ``incident.triggered``
        (``firing``), ``incident.acknowledged`` and ``incident.resolved``, with key
        ``pagerduty:<incident id>`` and delivery ``pagerduty:<event id>``; ``[]`` for
        other event types.
    """

    def parse(body: bytes, headers: Mapping[str, str]) -> list[Notice]:
        if secret:
            header = headers.get("x-pagerduty-signature", "")
            if not header:
                raise PayloadRejected(401, "pagerduty payload: X-PagerDuty-Signature is missing")
            if not _signature_ok(secret, body, header):
                raise PayloadRejected(
                    401, "pagerduty payload: no X-PagerDuty-Signature matches the secret"
                )
        _check_content_type(headers, "pagerduty")
        event = _validate(_PdEnvelope, _load_json(body, "pagerduty"), "pagerduty").event
        status = _PAGERDUTY_EVENTS.get(event.event_type)
        if status is None:
            return []
        # the reason names the field as event.data.<field>
        incident = _validate(_PdIncidentData, {"data": event.data}, "pagerduty event").data
        labels = {"pagerduty_service": "", "pagerduty_service_id": ""}
        if incident.service is not None:
            labels = {
                "pagerduty_service": incident.service.summary,
                "pagerduty_service_id": incident.service.id,
            }
        if incident.urgency:
            labels["urgency"] = incident.urgency
        if incident.priority is not None and incident.priority.summary:
            labels["priority"] = incident.priority.summary
        if incident.teams:
            labels["team"] = incident.teams[0].summary
        if incident.escalation_policy is not None:
            labels["escalation_policy"] = incident.escalation_policy.summary
        severity = labels.get("priority") or incident.urgency or ""
        return [
            Notice(
                source="pagerduty",
                key=f"pagerduty:{incident.id}",
                delivery=f"pagerduty:{event.id}",
                status=status,
                name=incident.title,
                labels={k: v for k, v in labels.items() if v},
                severity=severity,
                starts_at=_utc(incident.created_at),
                ends_at=_utc(event.occurred_at) if status == "resolved" else None,
                summary=incident.title,
                url=incident.html_url,
                alerts=1,
            )
        ]

    return parse


# -- Datadog -----------------------------------------------------------------------

_DATADOG_RESOLVED = {"recovered", "resolved", "ok"}
_DATADOG_FIRING = {
    "triggered",
    "re-triggered",
    "warn",
    "re-warn",
    "no data",
    "re-no data",
    "renotify",
    "alert",
}


class _DdOrg(_Model):
    id: str | int = ""
    name: str = ""


class _DdPayload(_Model):
    """The Webhooks integration's default template, plus the documented variables.

    Every value is a template variable (``"$ALERT_ID"``) rendered as text; Datadog
    leaves a variable that does not apply empty.
    """

    id: str | int  # $ID: the event's id
    title: str = Field(min_length=1)  # $EVENT_TITLE
    date: str | int  # $DATE: epoch milliseconds
    body: str = ""  # $EVENT_MSG
    event_type: str = ""  # $EVENT_TYPE
    last_updated: str | int = ""  # $LAST_UPDATED
    org: _DdOrg | None = None  # $ORG_ID, $ORG_NAME
    alert_id: str | int = ""  # $ALERT_ID: the monitor's id
    alert_title: str = ""  # $ALERT_TITLE
    alert_transition: str = ""  # $ALERT_TRANSITION: Triggered, Recovered, ...
    alert_type: str = ""  # $ALERT_TYPE: error, warning, success, info
    alert_priority: str = ""  # $ALERT_PRIORITY: P1..P5
    alert_status: str = ""  # $ALERT_STATUS
    alert_metric: str = ""  # $ALERT_METRIC
    alert_scope: str = ""  # $ALERT_SCOPE: comma-separated tags
    alert_cycle_key: str = ""  # $ALERT_CYCLE_KEY
    aggreg_key: str = ""  # $AGGREG_KEY
    tags: str | list[str] = ""  # $TAGS: comma-separated tags
    link: str = ""  # $LINK
    host_name: str = ""  # $HOSTNAME
    priority: str = ""  # $PRIORITY: normal, low


def _datadog_date(value: str | int) -> datetime:
    text = str(value).strip()
    if text.isdigit():
        number = int(text)
        seconds = number / 1000 if number > 100_000_000_000 else number  # $DATE is in ms
        return datetime.fromtimestamp(seconds, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadRejected(
            422, "datadog payload: date: expected epoch milliseconds ($DATE)"
        ) from None
    if parsed.tzinfo is None:
        raise PayloadRejected(422, "datadog payload: date: a timestamp without a time zone")
    return _utc(parsed)


def _datadog_title(title: str) -> tuple[str, str]:
    """``"[P1] [Triggered] CPU high"`` -> (``"Triggered"``, ``"CPU high"``)."""
    transition = ""
    rest = title.strip()
    while rest.startswith("["):
        closing = rest.find("]")
        if closing < 0:
            break
        word = rest[1:closing].strip()
        if word.lower() in _DATADOG_RESOLVED | _DATADOG_FIRING:
            transition = word
        elif not (word[:1] in "Pp" and word[1:].isdigit()):
            break
        rest = rest[closing + 1 :].strip()
    return transition, rest


def parse_datadog(body: bytes, headers: Mapping[str, str]) -> list[Notice]:
    """Parse a Datadog monitor notification (the Webhooks integration) into one notice.

    The status comes from ``alert_transition`` (``$ALERT_TRANSITION``), else from the
    ``[Triggered]`` / ``[Recovered]`` prefix of the title (the default template),
    else from ``alert_type`` (``success`` is resolved). The key is
    ``datadog:<alert_id>:<alert_scope or aggreg_key>``; with the default template
    (no ``$ALERT_ID``) the monitor is named by its title without the prefixes.
    Labels are the tags of ``tags`` and ``alert_scope``.

    Parameters
    ----------
    body
        The raw request body.
    headers
        The request headers, names lower-cased.

    Returns
    -------
    list of Notice
        One notice; ``delivery`` is ``datadog:<event id>``.

    Raises
    ------
    PayloadRejected
        Not JSON (400), not a JSON content type (415), not the documented shape or an
        unknown transition (422).
    """
    _check_content_type(headers, "datadog")
    payload = _validate(_DdPayload, _load_json(body, "datadog"), "datadog")
    title_transition, bare_title = _datadog_title(payload.title)
    transition = (payload.alert_transition or title_transition).strip()
    status: NoticeStatus
    if transition:
        if transition.lower() in _DATADOG_RESOLVED:
            status = "resolved"
        elif transition.lower() in _DATADOG_FIRING:
            status = "firing"
        else:
            raise PayloadRejected(
                422, f"datadog payload: alert_transition {shorten(transition, 40)!r} is not known"
            )
    elif payload.alert_type:
        status = "resolved" if payload.alert_type.strip().lower() == "success" else "firing"
    else:
        raise PayloadRejected(
            422,
            "datadog payload: no alert_transition ($ALERT_TRANSITION), no [Triggered]/"
            "[Recovered] title prefix and no alert_type: cannot tell firing from resolved",
        )
    tags = payload.tags if isinstance(payload.tags, str) else ",".join(payload.tags)
    labels = {**_split_tags(tags), **_split_tags(payload.alert_scope)}
    monitor = str(payload.alert_id).strip() or "title:" + bare_title
    scope = payload.alert_scope.strip() or payload.aggreg_key.strip()
    moment = _datadog_date(payload.date)
    name = payload.alert_title.strip() or bare_title
    return [
        Notice(
            source="datadog",
            key=f"datadog:{monitor}:{scope}",
            delivery=f"datadog:{payload.id}",
            status=status,
            name=name,
            labels=labels,
            severity=payload.alert_priority.strip() or payload.alert_type.strip(),
            starts_at=moment,
            ends_at=moment if status == "resolved" else None,
            summary=payload.alert_status.strip() or name,
            url=payload.link.strip(),
            alerts=1,
        )
    ]
