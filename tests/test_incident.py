"""The incident record: validation, atomic save, load, severity and triage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from incident_lib import Incident, InvalidIncident, InvalidInput, Window, assess_severity
from incident_lib.analysis.triage import triage
from incident_lib.core.severity import missing_roles, response_deadline
from incident_lib.infra.workspace import read_incident, write_incident


def test_valid_record_round_trips(tmp_path, valid_record):
    inc = Incident.from_dict(valid_record)
    assert inc.window == Window(
        datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC)
    )
    assert inc.baseline_window == Window(datetime(2026, 11, 3, 13, tzinfo=UTC), inc.start)
    path = write_incident(inc, tmp_path)
    assert read_incident(tmp_path) == inc
    assert path.read_text().count("2026-11-03T14:00:00Z") == 1


def test_offsets_are_stored_in_utc(valid_record):
    valid_record["window"] = {
        "start": "2026-11-03T15:00:00+01:00",
        "end": "2026-11-03T16:30:00+01:00",
    }
    inc = Incident.from_dict(valid_record)
    assert inc.start == datetime(2026, 11, 3, 14, tzinfo=UTC)
    assert inc.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "inc 42"}, "id 'inc 42' is invalid"),
        ({"severity": "SEV-5"}, "not one of SEV-1"),
        ({"service": "Checkout_API"}, "not a Kubernetes name"),
        ({"namespace": "-prod"}, "not a Kubernetes name"),
        (
            {"window": {"start": "2026-11-03T15:00:00Z", "end": "2026-11-03T14:00:00Z"}},
            "is not before",
        ),
        (
            {"window": {"start": "2026-11-03T14:00:00", "end": "2026-11-03T15:00:00Z"}},
            "has no timezone",
        ),
        ({"window": {"start": "yesterday", "end": "2026-11-03T15:00:00Z"}}, "not an ISO 8601"),
        (
            {"window": {"start": "2026-11-01T14:00:00Z", "end": "2026-11-03T15:00:00Z"}},
            "allow_long_window",
        ),
        ({"status": "done"}, "status 'done' is not one of"),
        ({"severty": "SEV-1"}, "unknown field(s) ['severty']"),
        ({"roles": {"boss": "x"}}, "unknown role(s)"),
        (
            {"times": {"detected": "2026-11-03T14:10:00Z", "acknowledged": "2026-11-03T14:05:00Z"}},
            "times.acknowledged (14:05:00Z) is before times.detected",
        ),
        ({"status": "resolved"}, "times.resolved is not set"),
        ({"window": {"start": "2099-01-01T00:00:00Z"}}, "in the future"),
        ({"dependencies": "payments"}, "dependencies: expected a list of names"),
        ({"dependencies": ["Payments DB"]}, "dependencies[0] 'Payments DB' is not a Kubernetes"),
        ({"workloads": [""]}, "workloads[0] '' is not a Kubernetes name"),
        ({"queries": {"loki": {"error_rate": "x"}}}, "unknown source 'loki'"),
        ({"queries": {"prometheus": {"errors": "x"}}}, "unknown metric 'errors'; known: request"),
        ({"queries": {"prometheus": {"cpu": ""}}}, "queries.prometheus.cpu: give the query"),
        ({"queries": {"prometheus": {"cpu": "a\nb"}}}, "give the query on one line"),
        ({"queries": {"datadog": []}}, "queries.datadog: expected metric keys"),
        ({"queries": "error_rate: x"}, "queries: expected a mapping"),
        ({"endpoints": "https://payments/healthz"}, "endpoints: expected a list"),
        ({"endpoints": ["ftp://files:21"]}, "is not an endpoint: use http(s)://"),
        ({"endpoints": ["orders-db.prod.svc"]}, "a TCP endpoint needs a port"),
        ({"endpoints": ["orders-db:99999"]}, "the port is not a number from 1 to 65535"),
        ({"endpoints": ["https://bob:pw@payments/healthz"]}, "credentials in the URL"),
        ({"health_url": "api.prod.svc:8080"}, "give an http:// or https:// URL"),
    ],
)
def test_invalid_records_are_refused_with_a_clear_line(valid_record, change, message):
    valid_record.update(change)
    with pytest.raises(InvalidIncident) as err:
        Incident.from_dict(valid_record)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_every_problem_is_listed_at_once(valid_record):
    valid_record.update(severity="P1", service="Bad Name")
    with pytest.raises(InvalidIncident) as err:
        Incident.from_dict(valid_record)
    assert "severity" in str(err.value) and "service" in str(err.value)


def test_long_window_is_accepted_with_the_override(valid_record):
    valid_record["window"] = {"start": "2026-11-01T14:00:00Z", "end": "2026-11-03T15:00:00Z"}
    valid_record["allow_long_window"] = True
    assert Incident.from_dict(valid_record).window.duration == timedelta(hours=49)


def test_ongoing_incident_window_closes_at_now(valid_record):
    valid_record["window"] = {"start": "2026-11-03T14:00:00Z"}
    inc = Incident.from_dict(valid_record)
    now = datetime(2026, 11, 3, 14, 30, 20, tzinfo=UTC)
    assert inc.window_at(now).end == datetime(2026, 11, 3, 14, 31, tzinfo=UTC)


def test_malformed_yaml_names_the_line(tmp_path):
    (tmp_path / "incident.yaml").write_text("id: INC-1-2\ntitle: [unclosed\n")
    with pytest.raises(InvalidIncident, match="YAML syntax error at line"):
        read_incident(tmp_path)


def test_yaml_timestamps_without_zone_are_refused(tmp_path, valid_record):
    valid_record["window"] = {"start": "2026-11-03 14:00:00", "end": "2026-11-03 15:00:00"}
    (tmp_path / "incident.yaml").write_text(yaml.safe_dump(valid_record).replace("'", ""))
    with pytest.raises(InvalidIncident, match="has no timezone"):
        read_incident(tmp_path)


def test_save_never_overwrites_by_default(tmp_path, valid_record):
    inc = Incident.from_dict(valid_record)
    write_incident(inc, tmp_path)
    before = (tmp_path / "incident.yaml").read_text()
    with pytest.raises(InvalidIncident, match="refusing to overwrite"):
        write_incident(inc, tmp_path)
    assert (tmp_path / "incident.yaml").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["incident.yaml"]


@pytest.mark.parametrize(
    ("impact", "severity", "within"),
    [
        ("complete-outage", "SEV-1", timedelta(0)),
        ("data-loss", "SEV-1", timedelta(0)),
        ("security-breach", "SEV-1", timedelta(0)),
        ("major-feature-broken", "SEV-2", timedelta(minutes=30)),
        ("degraded-performance", "SEV-3", timedelta(hours=2)),
        ("minor", "SEV-4", timedelta(hours=24)),
        (["degraded-performance", "major-feature-broken"], "SEV-2", timedelta(minutes=30)),
    ],
)
def test_severity_from_impact(impact, severity, within):
    result = assess_severity(impact)
    assert (result.severity, result.respond_within) == (severity, within)


def test_unknown_impact_is_refused():
    with pytest.raises(InvalidInput, match="when unsure between two"):
        assess_severity("slow-ish")


def test_roles_required_per_severity():
    assert missing_roles("SEV-1", {"incident_commander": "ann"}) == [
        "tech lead",
        "communications lead",
        "scribe",
    ]
    assert missing_roles("SEV-2", {}) == ["a lead (incident commander or tech lead)"]
    assert missing_roles("SEV-3", {"tech_lead": "bo"}) == []
    assert missing_roles("SEV-4", {}) == []


def test_deadline_from_detection():
    detected = datetime(2026, 11, 3, 14, 5, tzinfo=UTC)
    assert response_deadline("SEV-2", detected) == datetime(2026, 11, 3, 14, 35, tzinfo=UTC)


def test_triage_takes_the_higher_severity_and_reports_missed_deadline(valid_record):
    valid_record["severity"] = "SEV-3"
    valid_record["times"] = {
        "detected": "2026-11-03T14:05:00Z",
        "acknowledged": "2026-11-03T14:50:00Z",
    }
    t = triage(
        Incident.from_dict(valid_record),
        as_of=datetime(2026, 11, 3, 15, tzinfo=UTC),
        impact="major-feature-broken",
    )
    assert t.severity.severity == "SEV-2"
    assert t.deadline_status == "missed by 15 min"
    titles = [f.title for f in t.findings()]
    assert "Raise severity to SEV-2" in titles
    assert "Response deadline missed" in titles


def test_dependencies_workloads_and_queries_round_trip(tmp_path, valid_record):
    valid_record.update(
        dependencies=["payments", "postgres-main", "payments"],
        workloads=["api-canary"],
        queries={"prometheus": {"error_rate": 'sum(rate(errors_total{app="api"}[1m]))'}},
        endpoints=["https://payments.prod.svc:8443/healthz", "orders-db.prod.svc:5432"],
        health_url="http://api.prod.svc:8080/healthz",
    )
    incident = Incident.from_dict(valid_record)
    assert incident.dependencies == ("payments", "postgres-main")  # repeats dropped
    assert incident.workloads == ("api-canary",)
    assert incident.endpoints == (
        "https://payments.prod.svc:8443/healthz",
        "orders-db.prod.svc:5432",
    )
    assert Incident.from_yaml(incident.to_yaml()) == incident
    defaults = {"error_rate": "default errors", "cpu": "default cpu"}
    assert incident.metric_queries("prometheus", defaults) == {
        "error_rate": 'sum(rate(errors_total{app="api"}[1m]))',
        "cpu": "default cpu",
    }
    assert incident.metric_queries("datadog", defaults) == defaults
