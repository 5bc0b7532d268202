"""Which services are related to the incident's: this one, its dependencies, others."""

from __future__ import annotations

import pandas as pd
import pytest

from incident_lib.analysis.related import (
    Relations,
    dependencies_from_database,
    dependencies_from_logs,
    service_relations,
)
from incident_lib.core.schema import conform


def _logs(*raws: str) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "time": pd.Timestamp("2026-11-03T14:00:00Z"),
                    "pod": "checkout-7d9f8c6b5-x2x7q",
                    "container": "app",
                    "level": "error",
                    "message": raw,
                    "raw": raw,
                }
                for raw in raws
            ]
        ),
        "logs",
    )


def _activity(*apps: str) -> pd.DataFrame:
    frame = pd.DataFrame({"application_name": list(apps)})
    frame["target"] = "default"
    return frame


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("POST http://payments:8080/charge failed: 503", "payments"),
        ("GET https://inventory.prod.svc.cluster.local/items timed out", "inventory"),
        ("redis://cache.prod.svc:6379 connection reset", "cache"),
        ("dial tcp: lookup ledger.prod.svc.cluster.local: no such host", "ledger"),
        ("connection to redis-master:6379 refused", "redis-master"),
        ("dial tcp ledger-db:5432: i/o timeout", "ledger-db"),
        (
            '[2026-11-03T14:00:00Z] "POST /charge HTTP/1.1" 503 UF 0 91 '
            '"outbound|8080||fraud.prod.svc.cluster.local"',
            "fraud",
        ),
        ('{"upstream_cluster":"pricing_8080","response_code":503}', "pricing"),
        ("upstream_cluster=shipping response_flags=UH", "shipping"),
        ("GET http://ledger.internal:8080/balance timed out", "ledger"),
        ("http://recommendations.prod/v2/for-user 500", "recommendations"),
    ],
)
def test_dependencies_from_logs_of_several_shapes(line: str, expected: str) -> None:
    assert expected in dependencies_from_logs(_logs(line), namespace="prod")


def test_logs_never_make_ips_localhost_or_plain_words_dependencies() -> None:
    found = dependencies_from_logs(
        _logs(
            "GET http://10.0.3.7:8080/health 200",
            "proxy to http://localhost:15000 failed",
            "status:500 took:1500ms",
            "retrying in 12:30",
            "https://kubernetes.default.svc/api/v1 forbidden",
        ),
        namespace="prod",
    )
    assert found == ()


def test_database_client_applications_leave_out_ours_and_tools() -> None:
    found = dependencies_from_database(
        _activity(
            "orders-worker",
            "incident-runbooks",
            "psql",
            "pgAdmin 4 - DB:shop",
            "",
            "PostgreSQL JDBC Driver",
            "DBeaver 23.1.0 - Main",
            "billing",
            "orders-worker",
        )
    )
    assert found == ("orders-worker", "billing")


def test_relations_keep_why_and_classify_names() -> None:
    relations = service_relations(
        "checkout",
        workloads=["checkout-legacy"],
        dependencies=["payments"],
        logs=_logs(
            "POST http://payments:8080/charge 503",
            "GET http://inventory.prod.svc.cluster.local/items 500",
            "GET http://checkout.prod.svc.cluster.local/health 200",  # itself: not a dependency
        ),
        pg_activity=_activity("billing", "checkout", "incident-runbooks"),
        namespace="prod",
    )
    deps = {d.name: d.why for d in relations.dependencies}
    assert deps == {
        "payments": ("record", "logs"),
        "inventory": ("logs",),
        "billing": ("database",),
    }
    assert relations.relation("checkout") == "this"
    assert relations.relation("checkout-canary") == "this"
    assert relations.relation("checkout-worker-2") == "this"
    assert relations.relation("checkout-v2.34") == "this"  # a version as application_name
    assert relations.relation("Deployment/checkout-legacy") == "this"
    assert relations.relation("checkout-7d9f8c6b5-x2x7q") == "this"  # a pod of it
    assert relations.relation("payments") == "dependency"
    assert relations.relation("payments-canary") == "dependency"
    assert relations.relation("billing") == "dependency"
    assert relations.relation("search") == "other"
    assert relations.relation("checkoutx") == "other"
    assert relations.relation("") == "unknown"
    assert relations.relation("search,checkout") == "this"  # a ConfigMap both use
    assert "named in the incident record" in relations.describe("payments")
    assert "seen as an upstream in the logs" in relations.describe("payments")
    assert relations.describe("billing") == "a dependency (a client of the same database)"
    assert relations.describe("search") == "another service (not a known dependency)"


def test_a_bare_relations_value_knows_only_the_service() -> None:
    relations = Relations(service="api")
    assert relations.relation("api") == "this"
    assert relations.relation("api-gateway") == "other"
    assert relations.names() == ("api",)


def test_outside_domains_in_log_lines_are_not_dependencies() -> None:
    """A documentation link is not an upstream; an outside API is named in the record."""
    lines = (
        "(Background on this error at: https://sqlalche.me/e/20/3o7r)",
        "calling https://api.stripe.com/v1/charges",
        "see https://docs.python.org/3/library/ssl.html",
    )
    for line in lines:
        assert dependencies_from_logs(_logs(line), namespace="prod") == ()
