"""The demo scenarios and their ground truth (no numpy / pandas here: importing is cheap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..core.time import Window

__all__ = ["SCENARIOS", "Scenario", "Truth"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Truth:
    """What really happened in a demo incident: the answers the runbooks should find.

    All times are aware UTC datetimes. Fields that do not apply to a scenario
    (a deploy in a scenario without one) are ``None``.

    Attributes
    ----------
    incident_id, service, namespace, severity
        As written to ``incident.yaml``.
    window, baseline
        The incident window and the baseline window (the hour before; the
        record leaves the baseline unset so the default applies).
    deploy_at
        When the culprit revision started rolling out, or ``None``.
    bad_version, good_version
        The culprit version and the version rolled back to, or ``None``.
    bad_revision, rollback_revision
        Deployment revisions of the culprit rollout and of the rollback.
    rollback_at
        When the rollback started rolling out, or ``None``.
    running_version
        The version live at the end of the window.
    last_deploy_at
        The newest rollout of the service (the culprit's when there is one).
    trigger_event, trigger_event_at
        Title and time of the Datadog event that announced the trigger (the
        culprit's deploy event, the campaign that drove the traffic), or ``None``.
    cause_metric
        The canonical metric that departs first (``db_connections``, ``request_rate``).
    cause_at
        When ``cause_metric`` starts to depart from its baseline.
    saturated_at
        When the exhausted resource reached its limit (connections at
        ``max_connections``, pods at their CPU limit).
    onset_at
        When the error rate first departs from its baseline.
    alert_at
        When the first monitor went to ``alert`` (= ``detected_at``).
    recovered_at
        When error rate and latency were back to baseline (in ``connection-leak``
        the connections too; in ``traffic-surge`` the traffic stays high).
    detected_at, acknowledged_at, mitigated_at, resolved_at
        The response times recorded in ``incident.yaml``.
    signature
        A substring of the log message of the culprit error signature.
    new_signatures
        Substrings of log messages that appear in the incident window only.
    db_max_connections
        PostgreSQL ``max_connections``.
    root_cause
        One sentence, for people.
    db_available_connections
        The connections ordinary roles get: ``max_connections`` minus
        ``superuser_reserved_connections`` minus ``reserved_connections`` (16+).
    db_limit_reached_at
        When the database's client backends first reached
        ``db_available_connections`` (to the second), or ``None`` when they never did.
    db_bottleneck
        Whether the database was the bottleneck (what ``06_database`` must conclude).
    db_leaking_application, db_leaking_clients
        The ``application_name`` whose connections leak and how many client
        addresses (pods) it leaks them from, or ``None`` and 0.
    db_blocking_root, db_blocked
        The ``application_name`` of the root blocker of the blocking tree and of the
        sessions waiting behind it, or ``None``.
    unrelated_changes
        Substrings of changes in view that had nothing to do with the incident:
        a diagnosis must not name them as its trigger or as a competing one.
    """

    incident_id: str
    service: str
    namespace: str
    severity: str
    window: Window
    baseline: Window
    deploy_at: datetime | None
    bad_version: str | None
    good_version: str | None
    bad_revision: int | None
    rollback_revision: int | None
    rollback_at: datetime | None
    running_version: str
    last_deploy_at: datetime
    trigger_event: str | None
    trigger_event_at: datetime | None
    cause_metric: str
    cause_at: datetime
    saturated_at: datetime
    onset_at: datetime
    alert_at: datetime
    recovered_at: datetime
    detected_at: datetime
    acknowledged_at: datetime
    mitigated_at: datetime
    resolved_at: datetime
    signature: str
    new_signatures: tuple[str, ...]
    db_max_connections: int
    root_cause: str
    unrelated_changes: tuple[str, ...] = ()
    db_available_connections: int
    db_limit_reached_at: datetime | None = None
    db_bottleneck: bool = False
    db_leaking_application: str | None = None
    db_leaking_clients: int = 0
    db_blocking_root: str | None = None
    db_blocked: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One demo incident: its name, a description for people, and its ground truth."""

    name: str
    description: str
    truth: Truth


_LEAK_WINDOW = Window(_at("2026-11-03T14:00:00"), _at("2026-11-03T15:00:00"))
_SURGE_WINDOW = Window(_at("2026-11-10T17:00:00"), _at("2026-11-10T18:00:00"))

CONNECTION_LEAK = Scenario(
    name="connection-leak",
    description=(
        "api v2.34 (order batching) leaks a database connection whenever a batch flush is "
        "aborted: the transaction is left open ('idle in transaction'). Connections climb "
        "from ~10 to orders-db max_connections in ~15 minutes, the pools run dry, 5xx and "
        "p95 latency climb; a rollback to v2.33 recovers everything within minutes."
    ),
    truth=Truth(
        incident_id="DEMO-LEAK-0001",
        service="api",
        namespace="prod",
        severity="SEV-2",
        window=_LEAK_WINDOW,
        baseline=_LEAK_WINDOW.preceding(),
        deploy_at=_at("2026-11-03T14:10:00"),
        bad_version="v2.34",
        good_version="v2.33",
        bad_revision=42,
        rollback_revision=43,
        rollback_at=_at("2026-11-03T14:33:00"),
        running_version="v2.33",
        last_deploy_at=_at("2026-11-03T14:33:00"),
        trigger_event="Deployed api v2.34 to prod",
        trigger_event_at=_at("2026-11-03T14:10:02"),
        cause_metric="db_connections",
        cause_at=_at("2026-11-03T14:11:00"),
        saturated_at=_at("2026-11-03T14:24:00"),
        onset_at=_at("2026-11-03T14:19:00"),
        alert_at=_at("2026-11-03T14:21:00"),
        recovered_at=_at("2026-11-03T14:36:00"),
        detected_at=_at("2026-11-03T14:21:00"),
        acknowledged_at=_at("2026-11-03T14:24:00"),
        mitigated_at=_at("2026-11-03T14:35:00"),
        resolved_at=_at("2026-11-03T14:50:00"),
        signature="QueuePool limit of size 20 overflow 10 reached",
        new_signatures=(
            "QueuePool limit of size 20 overflow 10 reached",
            "remaining connection slots are reserved for non-replication superuser connections",
            "sorry, too many clients already",
            "flush aborted",
            "database pool exhausted",
        ),
        db_max_connections=100,
        root_cause=(
            "v2.34 leaves the transaction open when an order batch flush is aborted, leaking "
            "one pooled connection per abort until orders-db max_connections is exhausted "
            "(idle_in_transaction_session_timeout is 0, so nothing reclaims them)."
        ),
        unrelated_changes=("product-reviews-carousel", "v2.32", "api-config"),
        db_available_connections=97,
        db_limit_reached_at=_at("2026-11-03T14:24:03"),
        db_bottleneck=True,
        db_leaking_application="api-v2.34",
        db_leaking_clients=3,
        db_blocking_root="api-v2.34",
        db_blocked="orders-worker",
    ),
)

TRAFFIC_SURGE = Scenario(
    name="traffic-surge",
    description=(
        "A marketing e-mail pushes checkout traffic to ~3.7x within minutes; no deploy is "
        "involved (the last rollout was days earlier). Pods hit their CPU limit, p95 latency "
        "and 503/504s climb, one pod is OOMKilled; the HPA scales 4 -> 10 pods and things "
        "recover as the new pods warm up. Database connections stay normal."
    ),
    truth=Truth(
        incident_id="DEMO-SURGE-0001",
        service="checkout",
        namespace="prod",
        severity="SEV-3",
        window=_SURGE_WINDOW,
        baseline=_SURGE_WINDOW.preceding(),
        deploy_at=None,
        bad_version=None,
        good_version=None,
        bad_revision=None,
        rollback_revision=None,
        rollback_at=None,
        running_version="v3.8.2",
        last_deploy_at=_at("2026-11-06T15:42:00"),
        trigger_event="Black Friday early-access email campaign sent to 2.1M customers",
        trigger_event_at=_at("2026-11-10T17:04:00"),
        cause_metric="request_rate",
        cause_at=_at("2026-11-10T17:05:30"),
        saturated_at=_at("2026-11-10T17:07:30"),
        onset_at=_at("2026-11-10T17:07:15"),
        alert_at=_at("2026-11-10T17:09:00"),
        recovered_at=_at("2026-11-10T17:13:30"),
        detected_at=_at("2026-11-10T17:09:00"),
        acknowledged_at=_at("2026-11-10T17:11:00"),
        mitigated_at=_at("2026-11-10T17:12:30"),
        resolved_at=_at("2026-11-10T17:45:00"),
        signature="worker pool saturated",
        new_signatures=(
            "worker pool saturated",
            "context deadline exceeded",
            "Read timed out",
        ),
        db_max_connections=100,
        root_cause=(
            "An e-mail campaign raised checkout traffic ~3.7x in four minutes; the 4 pods "
            "saturated their CPU limits before the HPA's new pods were ready and warm."
        ),
        unrelated_changes=("v3.8.2", "v3.8.1"),
        db_available_connections=95,
    ),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (CONNECTION_LEAK, TRAFFIC_SURGE)}
