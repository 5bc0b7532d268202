"""The incident record (``incident.yaml``): fields, validation, YAML text in and out.

Reading and writing the file is the workspace's job (:mod:`incident_lib.infra.workspace`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from .errors import InvalidIncident, InvalidInput
from .severity import ROLE_NAMES, check_severity
from .time import Window, parse_time

if TYPE_CHECKING:
    import yaml

__all__ = ["STATUSES", "STATUS_CHANGES", "Incident", "Roles", "Times"]

STATUSES = ("investigating", "identified", "monitoring", "resolved")
#: the status changes :meth:`Incident.with_status` records (the keys of ``times``)
STATUS_CHANGES = ("detected", "acknowledged", "mitigated", "resolved")
MAX_WINDOW = timedelta(hours=24)
# how far ahead of the clock a status change may be dated (clock skew between machines)
_FUTURE_SLACK = timedelta(minutes=1)
# (earlier, later): pairs of ``times`` that must come in this order
_TIME_ORDER = (
    ("detected", "acknowledged"),
    ("detected", "mitigated"),
    ("mitigated", "resolved"),
    ("detected", "resolved"),
)

# matched whole (fullmatch): ``$`` alone would let a trailing newline through
_ID = re.compile(r"[A-Z][A-Z0-9]{1,15}(-[A-Z0-9]{1,16}){1,4}")
# Kubernetes DNS-1123 label: what a namespace or a Deployment/Service name may be.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# text fields that may span several lines (the others are one line)
_MULTILINE = frozenset({"impact", "summary"})
# C0/C1 controls, DEL, bidirectional overrides and isolates (they reorder what a
# reader sees), zero-width and line/paragraph separators; tab and newline are
# handled apart (allowed only in multi-line fields)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_TOP_KEYS = {
    "id",
    "title",
    "service",
    "namespace",
    "severity",
    "status",
    "window",
    "baseline",
    "roles",
    "times",
    "impact",
    "summary",
    "selector",
    "allow_long_window",
    "dependencies",
    "workloads",
    "queries",
    "endpoints",
    "health_url",
}
#: metric sources whose queries a record may set (``queries:``)
QUERY_SOURCES = ("prometheus", "datadog")
#: the metric keys a record may give a query for (``error_ratio`` is derived, never queried)
QUERY_KEYS = ("request_rate", "error_rate", "latency_p95", "cpu", "memory", "db_connections")
_MAX_QUERY_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Roles:
    """Who holds each incident role (names or handles; empty when unassigned)."""

    incident_commander: str = ""
    tech_lead: str = ""
    communications: str = ""
    scribe: str = ""

    def assigned(self) -> dict[str, str]:
        """Role key -> holder, for the roles that are filled."""
        return {k: getattr(self, k) for k in ROLE_NAMES if getattr(self, k)}


@dataclass(frozen=True, slots=True)
class Times:
    """Key moments of the response (aware UTC datetimes or ``None``)."""

    detected: datetime | None = None
    acknowledged: datetime | None = None
    mitigated: datetime | None = None
    resolved: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """One incident, as stored in ``incident.yaml``.

    Build one with :meth:`create` (validated from plain values) or :meth:`load`.
    ``end`` of the window may be unknown while the incident is ongoing; then
    :meth:`window_at` closes it at a given moment.
    """

    id: str
    title: str
    service: str
    namespace: str
    severity: str
    start: datetime
    end: datetime | None = None
    baseline: Window | None = None
    status: str = "investigating"
    roles: Roles = field(default_factory=Roles)
    times: Times = field(default_factory=Times)
    impact: str = ""
    summary: str = ""
    selector: str = ""
    allow_long_window: bool = False
    dependencies: tuple[str, ...] = ()
    workloads: tuple[str, ...] = ()
    queries: dict[str, dict[str, str]] = field(default_factory=dict, hash=False)
    endpoints: tuple[str, ...] = ()
    health_url: str = ""

    # -- derived ---------------------------------------------------------------
    @property
    def window(self) -> Window:
        """The incident window; an ongoing incident is closed at the current minute."""
        return self.window_at(datetime.now(UTC))

    def window_at(self, now: datetime) -> Window:
        """The incident window, closed at ``now`` when the end is not yet known."""
        if self.end is not None:
            return Window(self.start, self.end)
        end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return Window(self.start, max(end, self.start + timedelta(minutes=1)))

    @property
    def baseline_window(self) -> Window:
        """The baseline window: as given, or the same length just before the incident."""
        return self.baseline or self.window.preceding()

    @property
    def label_selector(self) -> str:
        """Kubernetes label selector of the service's pods (default ``app=<service>``)."""
        return self.selector or f"app={self.service}"

    def metric_queries(self, source: str, defaults: dict[str, str]) -> dict[str, str]:
        """``defaults`` with the record's own queries for ``source`` in their place.

        A service that names or labels its metrics its own way sets them in the
        record (``queries: {prometheus: {error_rate: '...'}}``); the other keys
        keep the source's conventional queries.
        """
        return defaults | self.queries.get(source, {})

    @property
    def detected_at(self) -> datetime:
        """When the incident was detected (the window start when not recorded)."""
        return self.times.detected or self.start

    # -- construction and validation -------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "incident") -> Incident:
        """Validate a mapping (as read from YAML) and build the record.

        Raises
        ------
        InvalidIncident
            One line listing every problem found, prefixed by ``origin``.
        """
        if not isinstance(data, dict):
            raise InvalidIncident(
                f"{origin}: expected a mapping of fields, got {type(data).__name__}"
            )
        problems: list[str] = []

        def take(name: str, check: Callable[[Any], Any]) -> Any:
            try:
                return check(data.get(name))
            except InvalidInput as exc:
                problems.append(str(exc))
                return None

        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            problems.append(f"unknown field(s) {unknown}; known: {sorted(_TOP_KEYS)}")
        ident = take("id", _check_id)
        title = take("title", lambda v: _check_text(v, "title", required=True))
        service = take("service", lambda v: _check_dns_label(v, "service"))
        namespace = take("namespace", lambda v: _check_dns_label(v, "namespace"))
        severity = take("severity", _check_severity_field)
        status = take("status", _check_status)
        window = data.get("window")
        start: datetime | None = None
        end: datetime | None = None
        if not isinstance(window, dict) or "start" not in window:
            problems.append("window: give window.start (and window.end once known)")
        else:
            extra = sorted(set(window) - {"start", "end"})
            if extra:
                problems.append(f"window: unknown field(s) {extra}; use start and end")
            start = take("window", lambda _: parse_time(window["start"], field="window.start"))
            if window.get("end") is not None:
                end = take("window", lambda _: parse_time(window["end"], field="window.end"))
        baseline = None
        if data.get("baseline") is not None:
            b = data["baseline"]
            if not isinstance(b, dict) or not {"start", "end"} <= set(b):
                problems.append("baseline: give both baseline.start and baseline.end, or omit it")
            else:
                baseline = take(
                    "baseline",
                    lambda _: Window(
                        parse_time(b["start"], field="baseline.start"),
                        parse_time(b["end"], field="baseline.end"),
                    ),
                )
        roles = take("roles", _check_roles)
        times = take("times", _check_times)
        allow_long = data.get("allow_long_window", False)
        if not isinstance(allow_long, bool):
            problems.append("allow_long_window: must be true or false")
            allow_long = False
        if start is not None and end is not None:
            if not start < end:
                problems.append(
                    f"window.start {start:%Y-%m-%dT%H:%M:%SZ} is not before window.end "
                    f"{end:%Y-%m-%dT%H:%M:%SZ}"
                )
            elif end - start > MAX_WINDOW and not allow_long:
                problems.append(
                    f"window is {(end - start) / timedelta(hours=1):.0f} h long (limit "
                    f"{MAX_WINDOW / timedelta(hours=1):.0f} h): narrow it, or set "
                    "allow_long_window: true if you really mean it"
                )
        if baseline is not None and start is not None and baseline.end > start:
            problems.append("baseline: must end at or before window.start")
        if start is not None and start > datetime.now(UTC) + timedelta(minutes=5):
            problems.append(f"window.start {start:%Y-%m-%dT%H:%M:%SZ} is in the future")
        if times is not None:
            problems.extend(_time_order_problems(times))
            if start is not None and times.detected is not None and times.detected < start:
                problems.append(
                    f"times.detected ({times.detected:%Y-%m-%dT%H:%M:%SZ}) is before "
                    f"window.start ({start:%Y-%m-%dT%H:%M:%SZ}): start the window at or "
                    "before the detection"
                )
            if status == "resolved" and times.resolved is None:
                problems.append("status is resolved but times.resolved is not set")
        selector = take("selector", lambda v: _check_text(v, "selector", required=False))
        dependencies = take("dependencies", lambda v: _check_names(v, "dependencies"))
        workloads = take("workloads", lambda v: _check_names(v, "workloads"))
        queries = take("queries", _check_queries)
        endpoints = take("endpoints", _check_endpoints)
        health_url = take("health_url", _check_health_url)
        impact = take("impact", lambda v: _check_text(v, "impact", required=False))
        summary = take("summary", lambda v: _check_text(v, "summary", required=False))
        if problems:
            raise InvalidIncident(f"{origin}: " + "; ".join(problems))
        # no problem means window.start was given and parsed
        assert start is not None
        return cls(
            id=ident,
            title=title,
            service=service,
            namespace=namespace,
            severity=severity,
            start=start,
            end=end,
            baseline=baseline,
            status=status or "investigating",
            roles=roles,
            times=times,
            impact=impact,
            summary=summary,
            selector=selector,
            allow_long_window=allow_long,
            dependencies=dependencies,
            workloads=workloads,
            queries=queries,
            endpoints=endpoints,
            health_url=health_url,
        )

    @classmethod
    def create(cls, **fields: Any) -> Incident:
        """Build a validated record from keyword fields (``start``/``end`` as window).

        Accepts the same names as the YAML file, with ``start``, ``end``,
        ``baseline_start``, ``baseline_end`` and the ``times`` keys at top level
        (``detected``, ``acknowledged``, ``mitigated``, ``resolved``) for convenience.
        """
        data: dict[str, Any] = {}
        window = {"start": fields.pop("start", None), "end": fields.pop("end", None)}
        data["window"] = window
        if fields.get("baseline_start") or fields.get("baseline_end"):
            data["baseline"] = {
                "start": fields.pop("baseline_start", None),
                "end": fields.pop("baseline_end", None),
            }
        fields.pop("baseline_start", None)
        fields.pop("baseline_end", None)
        times = {
            k: fields.pop(k)
            for k in ("detected", "acknowledged", "mitigated", "resolved")
            if k in fields
        }
        if times:
            data["times"] = times
        data.update(fields)
        data = {k: v for k, v in data.items() if v is not None}
        return cls.from_dict(data, origin="invalid incident")

    def with_changes(self, **changes: Any) -> Incident:
        """A copy with ``changes`` applied and the whole record validated again."""
        return Incident.from_dict(replace(self, **changes).to_dict())

    def with_status(
        self, kind: str, at: datetime | str, *, now: datetime | None = None
    ) -> Incident:
        """A copy with the status change ``kind`` recorded at ``at``, checked against the record.

        ``kind`` is one of ``detected``, ``acknowledged``, ``mitigated``,
        ``resolved``; it sets ``times.<kind>``. ``mitigated`` also moves the
        status from investigating or identified to monitoring; ``resolved``
        sets the status to resolved and, when the window has no end yet, ends
        it at ``at``. Recording a kind again with another time corrects it.

        Parameters
        ----------
        kind
            The status change.
        at
            When it happened (aware datetime or ISO 8601 text with a timezone).
        now
            The current time (for tests); default: the clock.

        Returns
        -------
        Incident
            The updated, validated record (``self`` is unchanged).

        Raises
        ------
        InvalidInput
            An unknown kind, a time in the future, or a time that contradicts
            the record (before the detection, resolved before mitigated, ...);
            the message says what to change.
        """
        if kind not in STATUS_CHANGES:
            raise InvalidInput(f"status {kind!r} is not one of {', '.join(STATUS_CHANGES)}")
        moment = parse_time(at, field=f"{kind} time")
        clock = now or datetime.now(UTC)
        if moment > clock + _FUTURE_SLACK:
            raise InvalidInput(
                f"{kind} time {_iso(moment)} is in the future (now {_iso(clock)}): give the "
                "time it happened, ISO 8601 with a timezone"
            )
        problem = self._status_order_problem(kind, moment)
        if problem:
            raise InvalidInput(f"cannot record {kind} at {_iso(moment)}: {problem}")
        changes: dict[str, Any] = {"times": replace(self.times, **{kind: moment})}
        if kind == "resolved":
            changes["status"] = "resolved"
            if self.end is None:
                changes["end"] = moment
        elif kind == "mitigated" and self.status in ("investigating", "identified"):
            changes["status"] = "monitoring"
        try:
            return self.with_changes(**changes)
        except InvalidIncident as exc:
            detail = str(exc).removeprefix("incident: ")
            raise InvalidInput(f"cannot record {kind} at {_iso(moment)}: {detail}") from None

    def _status_order_problem(self, kind: str, moment: datetime) -> str:
        """What makes ``kind`` at ``moment`` impossible for this record ("" when nothing)."""
        times = self.times
        if kind == "detected":
            if moment < self.start:
                return (
                    f"that is before the incident window starts ({_iso(self.start)}); "
                    "check the time, or widen the window in incident.yaml first"
                )
        else:
            detected = times.detected or self.start
            what = "it was detected" if times.detected else "the window starts (no detection time)"
            if moment < detected:
                return (
                    f"that is before {what} ({_iso(detected)}); check the time, or record "
                    "the detection first (status detected with its time)"
                )
        if kind == "resolved" and times.mitigated is not None and moment < times.mitigated:
            return (
                f"that is before it was mitigated ({_iso(times.mitigated)}); give the time "
                "it was resolved, or correct the mitigation time first"
            )
        resolved = times.resolved
        if kind in ("acknowledged", "mitigated") and resolved is not None and moment > resolved:
            return (
                f"the incident was already resolved at {_iso(resolved)}, before that; "
                f"give the time it was {kind}, at or before the resolution"
            )
        later = [
            name
            for name in ("acknowledged", "mitigated", "resolved")
            if (kind, name) in _TIME_ORDER
            and getattr(times, name) is not None
            and getattr(times, name) < moment
        ]
        if later:
            recorded = ", ".join(f"{name} at {_iso(getattr(times, name))}" for name in later)
            return (
                f"the record says {recorded}, earlier than that; give the time it was {kind}, "
                "or correct those times first"
            )
        problems = _time_order_problems(replace(times, **{kind: moment}))
        return "; ".join(problems)

    # -- serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML: timestamps as ISO 8601 UTC strings."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "service": self.service,
            "namespace": self.namespace,
            "severity": self.severity,
            "status": self.status,
            "window": {"start": iso(self.start), "end": iso(self.end)},
        }
        if self.baseline is not None:
            out["baseline"] = {"start": iso(self.baseline.start), "end": iso(self.baseline.end)}
        out["roles"] = {k: getattr(self.roles, k) or None for k in ROLE_NAMES}
        out["times"] = {
            k: iso(getattr(self.times, k))
            for k in ("detected", "acknowledged", "mitigated", "resolved")
        }
        for key in ("impact", "summary", "selector"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.allow_long_window:
            out["allow_long_window"] = True
        for key in ("dependencies", "workloads"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.queries:
            out["queries"] = {source: dict(keys) for source, keys in self.queries.items()}
        if self.endpoints:
            out["endpoints"] = list(self.endpoints)
        if self.health_url:
            out["health_url"] = self.health_url
        return out

    @classmethod
    def from_yaml(cls, text: str, *, origin: str = "incident.yaml") -> Incident:
        """Parse and validate the YAML text of a record.

        Timestamps stay text for :func:`parse_time`, which refuses naive ones.

        Raises
        ------
        InvalidIncident
            YAML syntax error or invalid fields, in one line prefixed by ``origin``.
        """
        import yaml

        try:
            data = yaml.load(text, Loader=_strict_loader())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            if problem.startswith("duplicate key"):
                line = f" line {mark.line + 1}:" if mark is not None else ""
                raise InvalidIncident(
                    f"{origin}:{line} {problem}: give each field once (a second `id:` or "
                    "`namespace:` would silently redirect the response); remove one"
                ) from None
            raise InvalidIncident(f"{origin}: YAML syntax error{where}: {problem}") from None
        return cls.from_dict(data, origin=origin)

    def to_yaml(self) -> str:
        """The record as YAML text, checked to load back (an invalid record is never written)."""
        import yaml

        Incident.from_dict(self.to_dict())
        return str(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))


@cache
def _strict_loader() -> type[yaml.SafeLoader]:
    """The YAML loader class, built on first use so that importing this module stays cheap."""
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that keeps timestamps as text (we parse them, refusing naive ones)
        and refuses a key given twice in one mapping (YAML would keep the last)."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` merges on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.get(key)
                except TypeError:
                    continue  # an unhashable key: the base class says so
                line = key_node.start_mark.line + 1
                if seen is not None:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key!r} (first given at line {seen})",
                        key_node.start_mark,
                    )
                first[key] = line
            return super().construct_mapping(node, deep=deep)

    Loader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput(
            f"id {value!r} is invalid: use upper-case letters, digits and hyphens, "
            "starting with a letter, e.g. INC-2026-0042"
        )
    return value


def _check_text(value: Any, name: str, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, got {type(value).__name__}")
    if len(value) > 500:
        raise InvalidInput(f"{name} is {len(value)} characters long; keep it under 500")
    text = value.strip()
    bad = _CONTROL.search(text)
    if bad is None and name not in _MULTILINE:
        bad = re.search(r"[\t\n\r]", text)
        if bad is not None and bad.group() != "\t":
            raise InvalidInput(
                f"{name} contains a line break (at character {bad.start() + 1}); "
                "give it on one line"
            )
    if bad is not None:
        raise InvalidInput(
            f"{name} contains the control character U+{ord(bad.group()):04X} (at character "
            f"{bad.start() + 1}); use plain text"
        )
    return text


def _check_dns_label(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _DNS_LABEL.fullmatch(value):
        raise InvalidInput(
            f"{name} {value!r} is not a Kubernetes name: lower-case letters, digits and '-', "
            "at most 63 characters, starting and ending with a letter or digit"
        )
    return value


def _check_names(value: Any, name: str) -> tuple[str, ...]:
    """A list of Kubernetes names (services or workloads), without repeats."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise InvalidInput(f"{name}: expected a list of names, e.g. [payments, postgres-main]")
    names: list[str] = []
    for index, item in enumerate(value):
        checked = _check_dns_label(item, f"{name}[{index}]")
        if checked not in names:
            names.append(checked)
    return tuple(names)


def _check_queries(value: Any) -> dict[str, dict[str, str]]:
    """``{source: {metric key: query}}``: known sources and keys, one-line query text."""
    if value is None:
        return {}
    example = "queries: {prometheus: {error_rate: 'sum(rate(...))'}}"
    if not isinstance(value, dict):
        raise InvalidInput(
            f"queries: expected a mapping of source to metric queries, e.g. {example}"
        )
    out: dict[str, dict[str, str]] = {}
    for source, keys in value.items():
        if source not in QUERY_SOURCES:
            raise InvalidInput(
                f"queries: unknown source {source!r}; known: {', '.join(QUERY_SOURCES)}"
            )
        if not isinstance(keys, dict) or not keys:
            raise InvalidInput(
                f"queries.{source}: expected metric keys and queries, e.g. {example}"
            )
        out[source] = {}
        for key, query in keys.items():
            if key not in QUERY_KEYS:
                raise InvalidInput(
                    f"queries.{source}: unknown metric {key!r}; known: {', '.join(QUERY_KEYS)}"
                )
            text = _check_query_text(query, f"queries.{source}.{key}")
            out[source][str(key)] = text
    return out


def _check_endpoints(value: Any) -> tuple[str, ...]:
    """Dependencies' endpoints: ``http(s)://host[:port]/path``, ``tcp://host:port``, host:port."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise InvalidInput(
            "endpoints: expected a list, e.g. [https://payments.prod.svc:8443/healthz, "
            "orders-db.prod.svc:5432]"
        )
    out: list[str] = []
    for index, item in enumerate(value):
        text = _check_endpoint(item, f"endpoints[{index}]")
        if text not in out:
            out.append(text)
    return tuple(out)


def _check_health_url(value: Any) -> str:
    if value is None or value == "":
        return ""
    text = _check_endpoint(value, "health_url")
    if not text.startswith(("http://", "https://")):
        raise InvalidInput(f"health_url {text!r}: give an http:// or https:// URL")
    return text


def _check_endpoint(value: Any, name: str) -> str:
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name}: give a URL or host:port")
    text = value.strip()
    if _CONTROL.search(text) or re.search(r"\s", text):
        raise InvalidInput(f"{name} {text!r} contains spaces or control characters")
    parts = urlsplit(text if "://" in text else f"tcp://{text}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{name} {text!r}: the port is not a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https", "tcp") or not parts.hostname:
        raise InvalidInput(
            f"{name} {text!r} is not an endpoint: use http(s)://host[:port]/path, "
            "tcp://host:port or host:port"
        )
    if parts.scheme == "tcp" and port is None:
        raise InvalidInput(f"{name} {text!r}: a TCP endpoint needs a port (host:port)")
    if parts.username or parts.password:
        raise InvalidInput(
            f"{name}: credentials in the URL are not accepted (they would be stored in "
            "incident.yaml); give the endpoint without user or password"
        )
    return text


def _check_query_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name}: give the query as text")
    if len(value) > _MAX_QUERY_CHARS:
        raise InvalidInput(
            f"{name} is {len(value)} characters long; keep it under {_MAX_QUERY_CHARS}"
        )
    bad = _CONTROL.search(value) or re.search(r"[\n\r]", value.strip())
    if bad is not None:
        raise InvalidInput(
            f"{name} contains a line break or control character (at character "
            f"{bad.start() + 1}); give the query on one line"
        )
    return value.strip()


def _check_severity_field(value: Any) -> str:
    if value is None:
        raise InvalidInput("severity is required (SEV-1..SEV-4)")
    return check_severity(value)


def _check_status(value: Any) -> str:
    if value is None:
        return "investigating"
    if value not in STATUSES:
        raise InvalidInput(f"status {value!r} is not one of {', '.join(STATUSES)}")
    return str(value)


def _check_roles(value: Any) -> Roles:
    if value is None:
        return Roles()
    if not isinstance(value, dict):
        raise InvalidInput("roles: expected a mapping such as {incident_commander: alice}")
    unknown = sorted(set(value) - set(ROLE_NAMES))
    if unknown:
        raise InvalidInput(f"roles: unknown role(s) {unknown}; known: {list(ROLE_NAMES)}")
    return Roles(**{k: _check_text(v, f"roles.{k}", required=False) for k, v in value.items()})


def _check_times(value: Any) -> Times:
    if value is None:
        return Times()
    if not isinstance(value, dict):
        raise InvalidInput("times: expected a mapping such as {detected: 2026-11-26T14:05:00Z}")
    names = ("detected", "acknowledged", "mitigated", "resolved")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise InvalidInput(f"times: unknown field(s) {unknown}; known: {list(names)}")
    return Times(
        **{k: None if v is None else parse_time(v, field=f"times.{k}") for k, v in value.items()}
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_order_problems(times: Times) -> list[str]:
    problems = []
    for early, late in _TIME_ORDER:
        a, b = getattr(times, early), getattr(times, late)
        if a is not None and b is not None and b < a:
            problems.append(f"times.{late} ({b:%H:%M:%SZ}) is before times.{early} ({a:%H:%M:%SZ})")
    return problems
