"""What a demo scenario is made of: the data that differs from one scenario to the next.

A :class:`ScenarioSpec` holds the incident record, the deploy history, the Datadog
events and monitors, the metric queries, the database, how each source was queried
and the secrets planted in the raw data. The behaviour over time (who fails when,
how connections or CPU evolve) is the scenario's :class:`~._model.Model`
subclass, named by :attr:`ScenarioSpec.model`. Nothing here imports numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ._scenarios import Scenario, Truth

if TYPE_CHECKING:
    from ._kube import Container
    from ._model import Model

__all__ = [
    "CaptureSpec",
    "ConfigSpec",
    "DatabaseSpec",
    "DatadogEvent",
    "MetricSpec",
    "MonitorCheck",
    "MonitorSpec",
    "RecordSpec",
    "RolloutSpec",
    "ScenarioSpec",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSpec:
    """The parts of ``incident.yaml`` that the truth does not hold."""

    title: str
    roles: Mapping[str, str]
    impact: str
    health_url: str = ""
    endpoints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    """One revision of the Deployment (times as ISO 8601 text)."""

    revision: int
    rs_hash: str
    version: str
    created: str
    deployed: str
    cause: str
    replicas: int = 0
    current: bool = False


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """A ConfigMap or Secret the service uses (times as ISO 8601 text).

    ``data`` is a ConfigMap's content (hashed like the source does); a Secret
    has key names only (``data`` values empty): the demo holds no secret value.
    ``managed`` is each field manager's last operation: (manager, operation, time).
    """

    kind: str
    name: str
    created: str
    resource_version: str
    data: Mapping[str, str]
    managed: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One check of a probed endpoint at capture time (see the ``dependency_checks`` contract).

    ``days_left`` only for a ``tls`` check (its certificate's remaining validity).
    """

    target: str
    check: str
    status: str
    latency_ms: float
    detail: str
    days_left: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A Service of the namespace and its endpoints at capture time."""

    name: str
    ready: int
    not_ready: int = 0
    terminating: int = 0
    ports: str = "8080/TCP"


@dataclass(frozen=True, slots=True)
class DatadogEvent:
    """A Datadog event on the scenario's day: ``HH:MM:SS``, source, title, markdown, tags."""

    at: str
    source_type: str
    title: str
    message: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MonitorCheck:
    """A threshold monitor evaluated on a metric series (mean over ``minutes``).

    ``text`` is formatted with ``v`` (the value), ``s`` (value / 1000) and ``p``
    (value * 100); ``unit`` with ``t`` (the threshold crossed).
    """

    key: str
    metric: str
    minutes: float
    warn: float | None
    alert: float
    text: str
    unit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorSpec:
    """The Datadog monitors of a scenario and their state changes."""

    #: key -> (monitor id, monitor name)
    monitors: Mapping[str, tuple[str, str]]
    #: the handles appended to the message of an alert
    notify: str
    #: monitors that also notify on ``warn``
    notify_on_warn: frozenset[str] = frozenset()
    #: state changes that do not follow from the metrics: (HH:MM:SS, key, state, message)
    fixed: tuple[tuple[str, str, str, str], ...] = ()
    checks: tuple[MonitorCheck, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How Datadog was asked for one canonical metric."""

    metric: str
    query: str
    scope: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseSpec:
    """The PostgreSQL database behind the service."""

    host: str
    dbname: str
    port: int = 5432
    #: the DSN the service is configured with (a planted password inside)
    dsn: str
    #: ``(name, setting, unit)`` as ``pg_settings`` reports them
    settings: tuple[tuple[str, str, str | None], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSpec:
    """How each source was queried: the parameters a live capture records."""

    #: (source, name) -> second of the minute after the window end it was fetched at
    fetched: Mapping[tuple[str, str], int]
    involved_object_kinds: tuple[str, ...]
    containers: tuple[str, ...]
    metrics_scope: str
    monitor_tags: tuple[str, ...]
    events_query: str
    site: str = "datadoghq.eu"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioSpec:
    """Everything that makes one demo scenario, for :func:`~._model.build`.

    Attributes
    ----------
    scenario
        Name, description and ground truth.
    model
        The :class:`~._model.Model` subclass that simulates the scenario over time.
    rng_tag
        Prefix of the seeded random streams (``leak``, ``surge``).
    day
        The incident's date, ``YYYY-MM-DD``.
    record
        Title, roles and impact of ``incident.yaml``.
    image
        The service's image, ``{}`` standing for the version.
    containers, main_container
        The containers of a pod (sidecars first) and the application's.
    rollouts
        The Deployment's revision history, oldest first.
    datadog_events
        The events the Datadog events query finds.
    monitors
        The Datadog monitors.
    metrics
        The six canonical metric queries, in frame order.
    metric_gaps
        Points a metric lacks: metric -> (from ``HH:MM:SS``, to ``HH:MM:SS``).
    request_spike, latency_spike
        The single-point baseline spike in each: (``HH:MM:SS``, factor) and
        (``HH:MM:SS``, milliseconds, random spread).
    errors_count_as_hits
        The share of 5xx responses the request-rate metric counts on top.
    database
        The database and its settings.
    capture
        How each source was queried.
    planted
        The secrets planted in this scenario's raw data.
    config
        The ConfigMaps and Secrets the service's pods use.
    probes
        The checks of the record's health URL and endpoints at capture time.
    services
        The Services of the namespace and their endpoints at capture time.
    """

    scenario: Scenario
    model: type[Model]
    rng_tag: str
    day: str
    record: RecordSpec
    image: str
    containers: tuple[Container, ...]
    main_container: str
    rollouts: tuple[RolloutSpec, ...]
    datadog_events: tuple[DatadogEvent, ...]
    monitors: MonitorSpec
    metrics: tuple[MetricSpec, ...]
    metric_gaps: Mapping[str, tuple[str, str]]
    request_spike: tuple[str, float]
    latency_spike: tuple[str, float, float]
    errors_count_as_hits: float
    database: DatabaseSpec
    capture: CaptureSpec
    planted: tuple[str, ...]
    config: tuple[ConfigSpec, ...] = ()
    probes: tuple[ProbeSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()

    @property
    def truth(self) -> Truth:
        """The scenario's ground truth."""
        return self.scenario.truth

    @property
    def name(self) -> str:
        """The scenario's name, a key of :data:`~._scenarios.SCENARIOS`."""
        return self.scenario.name

    def fetched_at(self, source: str, name: str) -> datetime:
        """When the capture ``source``/``name`` was fetched (just after the window)."""
        return self.truth.window.end.replace(second=self.capture.fetched[(source, name)])
