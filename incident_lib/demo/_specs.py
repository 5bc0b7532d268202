"""The two demo scenarios as :class:`~._spec.ScenarioSpec` values: everything but the dynamics."""

from __future__ import annotations

from datetime import datetime, timedelta

from ._kube import Container
from ._leak import MAX_CONNECTIONS, RESERVED, RS_BAD, RS_GOOD, LeakModel
from ._scenarios import CONNECTION_LEAK, TRAFFIC_SURGE
from ._secrets import (
    API_DB_PASSWORD,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    CHECKOUT_DB_PASSWORD,
    DBLINK_PASSWORD,
    DD_API_KEY,
    JWT,
    URL_TOKEN,
    VAULT_ROLE_PASSWORD,
)
from ._spec import (
    CaptureSpec,
    ConfigSpec,
    DatabaseSpec,
    DatadogEvent,
    MetricSpec,
    MonitorCheck,
    MonitorSpec,
    ProbeSpec,
    RecordSpec,
    RolloutSpec,
    ScenarioSpec,
    ServiceSpec,
)
from ._surge import RS, SurgeModel

__all__ = ["SPECS"]

_KINDS = ("Deployment", "ReplicaSet", "Pod", "HorizontalPodAutoscaler")
_ENV_SECRETS = (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, DD_API_KEY)


def _hms(moment: datetime) -> str:
    return f"{moment:%H:%M:%S}"


def _iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


# -- connection-leak -------------------------------------------------------------------------
_LEAK = CONNECTION_LEAK.truth
assert _LEAK.deploy_at is not None and _LEAK.rollback_at is not None
assert _LEAK.trigger_event is not None and _LEAK.trigger_event_at is not None
_FLAG = "product-reviews-carousel"
_API_IMAGE = "registry.example.com/shop/api:{}"
#: what the demos' records name for 08_dependencies to probe
_API_HEALTH = "http://api.prod.svc.cluster.local:8080/healthz"
_ORDERS_DB = "orders-db.prod.svc.cluster.local:5432"
_PAYMENTS = "https://payments.prod.svc.cluster.local:8443/health"
_CHECKOUT_HEALTH = "http://checkout.prod.svc.cluster.local:8080/healthz"
_PGBOUNCER = "pgbouncer.prod.svc.cluster.local:6432"
_INVENTORY = "https://inventory.prod.svc.cluster.local/health"
_LEAK_NOTIFY = "@pagerduty-api-oncall @slack-shop-incidents"

LEAK = ScenarioSpec(
    scenario=CONNECTION_LEAK,
    model=LeakModel,
    rng_tag="leak",
    day="2026-11-03",
    record=RecordSpec(
        title="api: elevated 5xx errors and slow responses",
        roles={
            "incident_commander": "alice.nguyen",
            "tech_lead": "bruno.silva",
            "communications": "chen.wei",
            "scribe": "dana.okafor",
        },
        impact=(
            "From about 14:19 to 14:35 UTC a growing share of api requests (up to ~12 %) "
            "failed with HTTP 500 or took 30 s; order placement, order history and carts were "
            "slow or failing for all customers. No data loss known."
        ),
        health_url=_API_HEALTH,
        endpoints=(_ORDERS_DB, _PAYMENTS),
    ),
    image=_API_IMAGE,
    containers=(Container("api", 0.25, 1.0, 384 * 2**20, 768 * 2**20),),
    main_container="api",
    rollouts=(
        RolloutSpec(
            38,
            "5b7d9c6f84",
            "v2.30",
            "2026-10-13T10:02:00Z",
            "2026-10-13T10:02:00Z",
            "deploy v2.30: faster product search (#4711)",
        ),
        RolloutSpec(
            39,
            "84c6d5b9f7",
            "v2.31",
            "2026-10-20T09:47:00Z",
            "2026-10-20T09:47:00Z",
            "deploy v2.31: cart expiry job (#4738)",
        ),
        RolloutSpec(
            40,
            "6d8f4b7c59",
            "v2.32",
            "2026-10-27T13:25:00Z",
            "2026-10-27T13:25:00Z",
            "deploy v2.32: upgrade SQLAlchemy to 2.0.36 (#4760)",
        ),
        RolloutSpec(
            42,
            RS_BAD,
            "v2.34",
            _iso(_LEAK.deploy_at),
            _iso(_LEAK.deploy_at),
            "deploy v2.34: order batching (#4812)",
        ),
        # the rollback re-uses v2.33's ReplicaSet: new revision, old created_at
        RolloutSpec(
            43,
            RS_GOOD,
            "v2.33",
            "2026-11-01T09:14:00Z",
            _iso(_LEAK.rollback_at),
            "deploy v2.33: payment retry backoff (#4790)",
            3,
            True,
        ),
    ),
    # an unrelated flag an hour before the deploy; the deploy pipeline's and the
    # responder's events for the deploy and the rollback
    datadog_events=(
        DatadogEvent(
            "13:05:12",
            "launchdarkly",
            f"Feature flag {_FLAG} turned on in Production",
            f"%%%\nMaria Rossi turned on flag **{_FLAG}** in *Production*: "
            "serving `true` to 25% of users.\n%%%",
            ("service:api", "env:prod", f"flag:{_FLAG}"),
        ),
        DatadogEvent(
            _hms(_LEAK.trigger_event_at),
            "github",
            _LEAK.trigger_event,
            "%%%\nGitHub Actions workflow **deploy-prod** run #1873 deployed "
            f"`{_API_IMAGE.format('v2.34')}` (order batching, #4812) to cluster "
            "prod-eu-west-1.\n%%%",
            ("service:api", "env:prod", "version:v2.34", "team:shop"),
        ),
        DatadogEvent(
            _hms(_LEAK.rollback_at + timedelta(seconds=4)),
            "my_apps",
            "Rolled back api to v2.33 in prod",
            "%%%\n`kubectl rollout undo deployment/api -n prod` by bruno.silva during "
            f"{_LEAK.incident_id}: back to v2.33.\n%%%",
            ("service:api", "env:prod", "version:v2.33", f"incident:{_LEAK.incident_id.lower()}"),
        ),
    ),
    monitors=MonitorSpec(
        monitors={
            "5xx": ("48211020", "[api] 5xx error rate high"),
            "p95": ("48211031", "[api] p95 latency high"),
            "conn": ("48213370", "[orders-db] connections near max_connections"),
            "lag": ("48213388", "[orders-db] replication lag high"),
        },
        notify=_LEAK_NOTIFY,
        notify_on_warn=frozenset({"conn"}),
        fixed=(
            (
                "13:24:00",
                "lag",
                "warn",
                "replication lag on orders-db-replica-1 is 42 s (warn 30 s)",
            ),
            ("13:27:30", "lag", "ok", "replication lag on orders-db-replica-1 recovered: 3 s"),
        ),
        checks=(
            MonitorCheck(
                "5xx",
                "error_rate",
                2,
                None,
                0.8,
                "5xx rate of service:api,env:prod is {v:.2f} req/s over the last 2m",
                "{t:.2f} req/s",
            ),
            MonitorCheck(
                "p95",
                "latency_p95",
                5,
                2000.0,
                10000.0,
                "p95 latency of service:api,env:prod is {s:.2f} s over the last 5m",
                "{t:.0f} ms",
            ),
            MonitorCheck(
                "conn",
                "db_connections",
                1,
                80.0,
                95.0,
                "orders-db has {v:.0f} connections, {v:.0f}% of max_connections 100",
                "{t:.0f}%",
            ),
        ),
    ),
    metrics=(
        MetricSpec(
            "request_rate",
            "sum:trace.flask.request.hits{service:api,env:prod}.as_rate()",
            "service:api,env:prod",
        ),
        MetricSpec(
            "error_rate",
            "sum:trace.flask.request.errors{service:api,env:prod,http.status_class:5xx}.as_rate()",
            "service:api,env:prod,http.status_class:5xx",
        ),
        MetricSpec(
            "latency_p95", "p95:trace.flask.request{service:api,env:prod}", "service:api,env:prod"
        ),
        MetricSpec(
            "cpu",
            "sum:kubernetes.cpu.usage.total{kube_deployment:api,kube_namespace:prod}",
            "kube_deployment:api,kube_namespace:prod",
        ),
        MetricSpec(
            "memory",
            "sum:kubernetes.memory.usage{kube_deployment:api,kube_namespace:prod}",
            "kube_deployment:api,kube_namespace:prod",
        ),
        MetricSpec(
            "db_connections", "sum:postgresql.connections{db:orders,env:prod}", "db:orders,env:prod"
        ),
    ),
    metric_gaps={
        "cpu": ("13:37:00", "13:38:00"),
        "memory": ("13:37:00", "13:38:00"),
        "db_connections": ("13:21:15", "13:22:00"),
    },
    request_spike=("13:12:00", 1.32),
    latency_spike=("13:47:30", 1450, 60),
    errors_count_as_hits=0.5,
    database=DatabaseSpec(
        host="orders-db.prod",
        dbname="orders",
        dsn=f"postgresql://api:{API_DB_PASSWORD}@orders-db.prod:5432/orders",
        settings=(
            ("max_connections", str(MAX_CONNECTIONS), None),
            ("superuser_reserved_connections", str(RESERVED), None),
            ("idle_in_transaction_session_timeout", "0", "ms"),
            ("statement_timeout", "0", "ms"),
            ("lock_timeout", "0", "ms"),
            ("idle_session_timeout", "0", "ms"),
            ("tcp_keepalives_idle", "300", "s"),
            ("log_min_duration_statement", "1000", "ms"),
            ("shared_buffers", "524288", "8kB"),
            ("work_mem", "4096", "kB"),
            ("server_version", "15.8", None),
            ("server_version_num", "150008", None),
            ("deadlock_timeout", "1000", "ms"),
            ("track_activity_query_size", "1024", "B"),
        ),
    ),
    capture=CaptureSpec(
        fetched={
            ("kubernetes", "rollouts"): 3,
            ("kubernetes", "events"): 4,
            ("kubernetes", "pods"): 5,
            ("kubernetes", "pod_usage"): 6,
            ("kubernetes", "hpa"): 7,
            ("kubernetes", "config"): 8,
            ("kubernetes", "logs"): 9,
            ("kubernetes", "terminations"): 10,
            ("datadog", "metrics"): 14,
            ("datadog", "monitor_events"): 15,
            ("datadog", "events"): 16,
            ("postgres", "activity"): 17,
            ("postgres", "settings"): 18,
            ("postgres", "limits"): 19,
            ("postgres", "locks"): 20,
            ("postgres", "database_stats"): 21,
            ("postgres", "statements"): 22,
            ("postgres", "replication"): 23,
            ("kubernetes", "endpoints"): 24,
            ("probes", "checks"): 26,
        },
        involved_object_kinds=_KINDS,
        containers=("api",),
        metrics_scope="service:api,env:prod",
        monitor_tags=("service:api", "team:shop"),
        events_query="service:api -source:alert",
    ),
    planted=(JWT, URL_TOKEN, API_DB_PASSWORD, DBLINK_PASSWORD, *_ENV_SECRETS),
    # probed at 15:00, ten minutes after the resolution: all answer; the payments
    # certificate (renewed by hand every 90 days) has 9 days left: a finding for later
    probes=(
        ProbeSpec(_API_HEALTH, "dns", "ok", 1.2, "10.96.14.20"),
        ProbeSpec(_API_HEALTH, "tcp", "ok", 0.6, "connected to 10.96.14.20:8080"),
        ProbeSpec(_API_HEALTH, "http", "ok", 8.4, "answered 200 OK"),
        ProbeSpec(_ORDERS_DB, "dns", "ok", 1.1, "10.96.3.7"),
        ProbeSpec(_ORDERS_DB, "tcp", "ok", 0.9, "connected to 10.96.3.7:5432"),
        ProbeSpec(_PAYMENTS, "dns", "ok", 1.3, "10.96.22.41"),
        ProbeSpec(_PAYMENTS, "tcp", "ok", 0.7, "connected to 10.96.22.41:8443"),
        ProbeSpec(
            _PAYMENTS,
            "tls",
            "expiring",
            6.8,
            "CN=payments.prod.svc, issuer CN=shop-internal-ca; chain of 2; valid",
            days_left=9.2,
            reason="expiring",
        ),
        ProbeSpec(_PAYMENTS, "http", "ok", 41.0, "answered 200 OK"),
    ),
    services=(
        ServiceSpec("api", 3),
        ServiceSpec("orders-db", 1, ports="5432/TCP"),
        ServiceSpec("payments", 2, ports="8443/TCP"),
        ServiceSpec("worker", 2),
    ),
    # helm wrote both with v2.32; someone edited LOG_LEVEL by hand in the baseline, an
    # hour before the deploy: a change in view that has nothing to do with the leak
    config=(
        ConfigSpec(
            "ConfigMap",
            "api-config",
            "2026-09-15T08:00:00Z",
            "48213",
            {"DB_POOL_SIZE": "10", "LOG_LEVEL": "info", "ORDER_BATCH_SIZE": "50"},
            (
                ("helm", "Update", "2026-10-27T13:25:00Z"),
                ("kubectl-edit", "Update", "2026-11-03T13:02:40Z"),
            ),
        ),
        ConfigSpec(
            "Secret",
            "api-db-credentials",
            "2026-09-15T08:00:00Z",
            "31877",
            {"DB_PASSWORD": "", "DB_USER": ""},  # key names only: no value in the demo
            (("helm", "Update", "2026-10-27T13:25:00Z"),),
        ),
    ),
)

# -- traffic-surge ---------------------------------------------------------------------------
_SURGE = TRAFFIC_SURGE.truth
assert _SURGE.trigger_event is not None and _SURGE.trigger_event_at is not None
_ISTIO = "destination_workload:checkout,destination_workload_namespace:prod"
_K8S = "kube_deployment:checkout,kube_namespace:prod"
_SURGE_NOTIFY = "@pagerduty-checkout-oncall @slack-checkout"

SURGE = ScenarioSpec(
    scenario=TRAFFIC_SURGE,
    model=SurgeModel,
    rng_tag="surge",
    day="2026-11-10",
    record=RecordSpec(
        title="checkout: slow checkouts and 5xx/504s",
        roles={
            "incident_commander": "erik.larsen",
            "tech_lead": "fatima.haddad",
            "scribe": "gustavo.pereira",
        },
        impact=(
            "From about 17:07 to 17:14 UTC checkout was slow (p95 up to 15 s) and up to ~10 % "
            "of checkout requests failed with 502/503/504; customers had to retry. No data loss."
        ),
        health_url=_CHECKOUT_HEALTH,
        endpoints=(_PGBOUNCER, _INVENTORY),
    ),
    image="registry.example.com/shop/checkout:{}",
    containers=(
        Container("istio-proxy", 0.1, 2.0, 128 * 2**20, 1024 * 2**20),
        Container("checkout", 0.5, 1.0, 768 * 2**20, 1024 * 2**20),
    ),
    main_container="checkout",
    rollouts=(
        RolloutSpec(
            17,
            "7b9d5c4f86",
            "v3.7.0",
            "2026-10-14T09:12:00Z",
            "2026-10-14T09:12:00Z",
            "checkout v3.7.0: saved carts (#2210)",
        ),
        RolloutSpec(
            18,
            "58c7f6d94b",
            "v3.7.1",
            "2026-10-21T14:03:00Z",
            "2026-10-21T14:03:00Z",
            "checkout v3.7.1: fix rounding of shipping quotes (#2231)",
        ),
        RolloutSpec(
            19,
            "6c4b8d7f59",
            "v3.8.0",
            "2026-10-28T10:37:00Z",
            "2026-10-28T10:37:00Z",
            "checkout v3.8.0: promotion engine v2 (#2254)",
        ),
        RolloutSpec(
            20,
            "9f6d7c5b48",
            "v3.8.1",
            "2026-11-04T11:20:00Z",
            "2026-11-04T11:20:00Z",
            "checkout v3.8.1: payment client timeouts configurable (#2269)",
        ),
        RolloutSpec(
            21,
            RS,
            _SURGE.running_version,
            _iso(_SURGE.last_deploy_at),
            _iso(_SURGE.last_deploy_at),
            "checkout v3.8.2: Java 21.0.5 base image (#2275)",
            10,
            True,
        ),
    ),
    # the growth team's campaign event, tagged for checkout; nothing deploy-like
    datadog_events=(
        DatadogEvent(
            _hms(_SURGE.trigger_event_at),
            "my_apps",
            _SURGE.trigger_event,
            "%%%\nBraze campaign **bf-2026-early-access** delivered to 2,104,337 "
            "subscribers. Promotion EARLY-ACCESS-NOV (20% off) is live; the e-mail links "
            "straight to the checkout.\n%%%",
            ("service:checkout", "env:prod", "team:growth", "campaign:bf-2026"),
        ),
    ),
    monitors=MonitorSpec(
        monitors={
            "p95": ("51170204", "[checkout] p95 latency high"),
            "5xx": ("51170215", "[checkout] 5xx error rate high"),
            "cpu": ("51170233", "[checkout] CPU usage near limit"),
            "restarts": ("51170241", "[checkout] container restarts"),
            "hpa": ("51170258", "[checkout] HPA at max replicas"),
            "pgw": ("50990112", "[payment-gateway] error budget burn rate high"),
        },
        notify=_SURGE_NOTIFY,
        fixed=(
            (
                "16:31:00",
                "pgw",
                "warn",
                "payment-gateway is burning its 30-day error budget 4.1x (warn 2x) over the "
                "last 1h",
            ),
            (
                "16:36:00",
                "pgw",
                "ok",
                "payment-gateway error budget burn rate 1.2x over the last 1h",
            ),
            (
                "17:09:00",
                "restarts",
                "alert",
                "1 container restart of kube_deployment:checkout in the last 10m (alert > 0) "
                f"{_SURGE_NOTIFY}",
            ),
            (
                "17:24:00",
                "restarts",
                "ok",
                "0 container restarts of kube_deployment:checkout in the last 10m",
            ),
            (
                "17:13:00",
                "hpa",
                "warn",
                "HorizontalPodAutoscaler prod/checkout has been at its maximum of 10 replicas for "
                "5m (warn)",
            ),
        ),
        checks=(
            MonitorCheck(
                "p95",
                "latency_p95",
                3,
                1000.0,
                3000.0,
                "p95 latency of checkout is {s:.2f} s over the last 3m",
                "{t:.0f} ms",
            ),
            MonitorCheck(
                "5xx",
                "error_rate",
                2,
                1.0,
                3.0,
                "5xx rate of checkout is {v:.2f} req/s over the last 2m",
                "{t:.1f} req/s",
            ),
            MonitorCheck(
                "cpu",
                "cpu_of_limit",
                2,
                0.8,
                0.9,
                "checkout containers use {p:.0f}% of their CPU limit over the last 2m",
                "{t:.0%}",
            ),
        ),
    ),
    metrics=(
        MetricSpec(
            "request_rate", f"sum:istio.mesh.request.count.total{{{_ISTIO}}}.as_rate()", _ISTIO
        ),
        MetricSpec(
            "error_rate",
            f"sum:istio.mesh.request.count.total{{{_ISTIO},response_code:5*}}.as_rate()",
            _ISTIO + ",response_code:5*",
        ),
        MetricSpec(
            "latency_p95", f"p95:istio.mesh.request.duration.milliseconds{{{_ISTIO}}}", _ISTIO
        ),
        MetricSpec("cpu", f"sum:kubernetes.cpu.usage.total{{{_K8S}}}", _K8S),
        MetricSpec("memory", f"sum:kubernetes.memory.usage{{{_K8S}}}", _K8S),
        MetricSpec(
            "db_connections",
            "sum:postgresql.connections{db:checkout,env:prod}",
            "db:checkout,env:prod",
        ),
    ),
    metric_gaps={
        "cpu": ("16:41:00", "16:41:45"),
        "memory": ("16:41:00", "16:41:45"),
        "db_connections": ("17:41:15", "17:42:00"),
    },
    request_spike=("16:12:00", 1.45),
    latency_spike=("16:47:30", 1900, 80),
    errors_count_as_hits=0.0,
    database=DatabaseSpec(
        host="checkout-db.prod",
        dbname="checkout",
        dsn=f"postgresql://checkout:{CHECKOUT_DB_PASSWORD}@pgbouncer.prod:6432/checkout",
        settings=(
            ("max_connections", "100", None),
            ("superuser_reserved_connections", "3", None),
            ("idle_in_transaction_session_timeout", "60000", "ms"),
            ("statement_timeout", "30000", "ms"),
            ("lock_timeout", "5000", "ms"),
            ("idle_session_timeout", "0", "ms"),
            ("log_min_duration_statement", "500", "ms"),
            ("shared_buffers", "262144", "8kB"),
            ("work_mem", "8192", "kB"),
            ("server_version", "16.4", None),
            ("server_version_num", "160004", None),
            ("reserved_connections", "2", None),
            ("deadlock_timeout", "1000", "ms"),
            ("track_activity_query_size", "2048", "B"),
        ),
    ),
    capture=CaptureSpec(
        fetched={
            ("kubernetes", "rollouts"): 2,
            ("kubernetes", "events"): 3,
            ("kubernetes", "pods"): 4,
            ("kubernetes", "terminations"): 5,
            ("kubernetes", "pod_usage"): 6,
            ("kubernetes", "hpa"): 7,
            ("kubernetes", "config"): 8,
            ("kubernetes", "logs"): 11,
            ("datadog", "metrics"): 15,
            ("datadog", "monitor_events"): 16,
            ("datadog", "events"): 17,
            ("postgres", "activity"): 18,
            ("postgres", "settings"): 19,
            ("postgres", "limits"): 20,
            ("postgres", "locks"): 21,
            ("postgres", "database_stats"): 22,
            ("postgres", "statements"): 23,
            ("postgres", "replication"): 24,
            ("kubernetes", "endpoints"): 25,
            ("probes", "checks"): 27,
        },
        involved_object_kinds=(
            "Deployment",
            "ReplicaSet",
            "Pod",
            "Node",
            "HorizontalPodAutoscaler",
        ),
        containers=("checkout", "istio-proxy"),
        metrics_scope=_K8S,
        monitor_tags=("service:checkout", "team:checkout"),
        events_query="service:checkout -source:alert",
    ),
    planted=(JWT, URL_TOKEN, CHECKOUT_DB_PASSWORD, VAULT_ROLE_PASSWORD, *_ENV_SECRETS),
    # probed just after the window: the surge is over, everything answers in time
    probes=(
        ProbeSpec(_CHECKOUT_HEALTH, "dns", "ok", 1.4, "10.96.40.12"),
        ProbeSpec(_CHECKOUT_HEALTH, "tcp", "ok", 0.8, "connected to 10.96.40.12:8080"),
        ProbeSpec(_CHECKOUT_HEALTH, "http", "ok", 35.0, "answered 200 OK"),
        ProbeSpec(_PGBOUNCER, "dns", "ok", 1.0, "10.96.5.30"),
        ProbeSpec(_PGBOUNCER, "tcp", "ok", 0.7, "connected to 10.96.5.30:6432"),
        ProbeSpec(_INVENTORY, "dns", "ok", 1.2, "10.96.18.9"),
        ProbeSpec(_INVENTORY, "tcp", "ok", 0.9, "connected to 10.96.18.9:443"),
        ProbeSpec(
            _INVENTORY,
            "tls",
            "ok",
            7.5,
            "CN=inventory.prod.svc, issuer CN=shop-internal-ca; chain of 2; valid",
            days_left=61.0,
        ),
        ProbeSpec(_INVENTORY, "http", "ok", 120.0, "answered 200 OK"),
    ),
    services=(
        ServiceSpec("checkout", 8),
        ServiceSpec("pgbouncer", 2, ports="6432/TCP"),
        ServiceSpec("inventory", 3, ports="443/TCP"),
        ServiceSpec("frontend", 4),
    ),
    # Argo CD synced both with the last deploy, days before: nothing changed in view
    config=(
        ConfigSpec(
            "ConfigMap",
            "checkout-config",
            "2026-08-04T10:00:00Z",
            "90412",
            {"PAYMENT_TIMEOUT_MS": "2500", "RATE_LIMIT_RPS": "400", "WORKERS": "8"},
            (("argocd-controller", "Apply", "2026-11-06T15:42:00Z"),),
        ),
        ConfigSpec(
            "Secret",
            "checkout-payment-keys",
            "2026-08-04T10:00:00Z",
            "77105",
            {"STRIPE_API_KEY": "", "WEBHOOK_SIGNING_SECRET": ""},  # key names only
            (("argocd-controller", "Apply", "2026-08-04T10:00:00Z"),),
        ),
    ),
)

#: scenario name -> spec
SPECS: dict[str, ScenarioSpec] = {s.name: s for s in (LEAK, SURGE)}
