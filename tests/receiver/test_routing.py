"""The receiver configuration file and the incident a notice maps to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incident_lib.core.errors import InvalidInput
from incident_lib.receiver.alerts import Notice, PayloadRejected
from incident_lib.receiver.routing import (
    DEFAULT_SEVERITY,
    ReceiverConfig,
    incident_for,
    load_config,
)
from incident_lib.report.bundle import default_notebook_dir, list_notebooks

START = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def _notice(**changes: object) -> Notice:
    values: dict[str, object] = {
        "source": "alertmanager",
        "key": 'alertmanager:{}:{alertname="HighErrorRate"}',
        "delivery": "alertmanager:abc",
        "status": "firing",
        "name": "HighErrorRate",
        "labels": {"alertname": "HighErrorRate", "service": "api", "namespace": "prod"},
        "severity": "critical",
        "starts_at": START,
        "ends_at": None,
        "summary": "5xx above 5%",
        "url": "",
        "alerts": 1,
    }
    values.update(changes)
    return Notice(**values)  # type: ignore[arg-type]


def _config(tmp_path: Path, text: str) -> ReceiverConfig:
    path = tmp_path / "receiver.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


ROUTED = """\
service_labels: [app, service]
namespace_labels: [kube_namespace, namespace]
lead: 30m
severities: {page: SEV-1, Critical: SEV-2}
routes:
  - alert: PostgresConnectionsHigh
    notebooks: [01_triage, "06"]
  - labels: {team: database}
    notebooks: [06_database]
default_notebooks: [01_triage, 02_assess]
"""


def test_empty_file_gives_the_defaults(tmp_path):
    config = _config(tmp_path, "")
    assert config.service_labels[0] == "service"
    assert config.lead == timedelta(minutes=15)
    assert config.resolved_notebooks == ("10_verify",)
    plan = incident_for(_notice(), config)
    assert (plan.service, plan.namespace) == ("api", "prod")
    assert plan.severity == "SEV-1"
    assert plan.window_start == START - timedelta(minutes=15)
    assert plan.notebooks == ()  # empty: the whole set
    assert plan.route == "default"
    assert plan.title == "HighErrorRate: 5xx above 5%"
    assert plan.resolved_at is None


def test_label_choice_follows_the_configured_order(tmp_path):
    config = _config(tmp_path, ROUTED)
    labels = {"app": "checkout", "service": "api", "namespace": "prod", "kube_namespace": "shop"}
    plan = incident_for(_notice(labels=labels), config)
    assert (plan.service, plan.namespace) == ("checkout", "shop")
    plan = incident_for(_notice(labels={"service": "api", "namespace": "prod"}), config)
    assert (plan.service, plan.namespace) == ("api", "prod")
    assert plan.window_start == START - timedelta(minutes=30)


def test_routes_first_match_wins_and_default(tmp_path):
    config = _config(tmp_path, ROUTED)
    by_name = incident_for(_notice(name="PostgresConnectionsHigh"), config)
    assert by_name.notebooks == ("01_triage", "06_database")  # "06" resolved to its stem
    assert by_name.route == "alert PostgresConnectionsHigh"
    labels = {"service": "api", "namespace": "prod", "team": "database"}
    by_label = incident_for(_notice(labels=labels), config)
    assert by_label.notebooks == ("06_database",)
    assert by_label.route == "team=database"
    other = incident_for(_notice(), config)
    assert other.notebooks == ("01_triage", "02_assess")
    assert other.route == "default"


def test_resolved_runs_verify_and_records_the_end(tmp_path):
    config = _config(tmp_path, ROUTED)
    end = START + timedelta(minutes=20)
    plan = incident_for(_notice(status="resolved", ends_at=end), config)
    assert plan.notebooks == ("10_verify",)
    assert plan.resolved_at == end
    assert incident_for(_notice(status="acknowledged"), config).notebooks == ()


def test_same_key_same_incident_id(tmp_path):
    config = _config(tmp_path, "")
    first = incident_for(_notice(), config)
    again = incident_for(_notice(delivery="alertmanager:other", alerts=3), config)
    other = incident_for(_notice(key='alertmanager:{}:{alertname="Other"}'), config)
    assert first.incident_id == again.incident_id
    assert first.incident_id != other.incident_id
    from incident_lib.core.incident import _ID  # the record's id pattern

    assert _ID.fullmatch(first.incident_id)


def test_severity_mapping(tmp_path):
    config = _config(tmp_path, ROUTED)
    assert config.severity_for("page") == "SEV-1"  # configured
    assert config.severity_for("CRITICAL") == "SEV-2"  # configured, case-insensitive
    assert config.severity_for("P3") == "SEV-3"  # built-in table
    assert config.severity_for("sev4") == "SEV-4"  # ours, as is
    assert config.severity_for("") == DEFAULT_SEVERITY
    assert config.severity_for("whatever") == DEFAULT_SEVERITY
    assert _config(tmp_path, "default_severity: sev2\n").severity_for("") == "SEV-2"


def test_missing_service_is_refused_naming_the_labels(tmp_path):
    config = _config(tmp_path, ROUTED)
    with pytest.raises(PayloadRejected) as info:
        incident_for(_notice(labels={"namespace": "prod"}), config)
    assert info.value.status == 422
    assert "app, service" in info.value.reason


def test_missing_namespace_uses_the_default_or_is_refused(tmp_path):
    labels = {"service": "api"}
    with pytest.raises(PayloadRejected, match="namespace, kube_namespace"):
        incident_for(_notice(labels=labels), _config(tmp_path, ""))
    plan = incident_for(_notice(labels=labels), _config(tmp_path, "default_namespace: prod\n"))
    assert plan.namespace == "prod"


def test_service_that_is_not_a_kubernetes_name_is_refused(tmp_path):
    labels = {"service": "API Service", "namespace": "prod"}
    with pytest.raises(PayloadRejected, match="not a Kubernetes name"):
        incident_for(_notice(labels=labels), _config(tmp_path, ""))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("servce_labels: [service]\n", "servce_labels"),
        ("routes:\n  - alert: X\n    notebooks: [01_triage]\n    colour: red\n", "colour"),
        ("routes:\n  - alert: X\n    notebooks: [99_nothing]\n", "99_nothing"),
        ("default_notebooks: [12_missing]\n", "12_missing"),
        ("routes:\n  - notebooks: [01_triage]\n", "routes.0"),
        ("routes:\n  - alert: X\n    notebooks: []\n", "routes.0.notebooks"),
        ("lead: soon\n", "lead"),
        ("default_severity: SEV-9\n", "default_severity"),
        ("severities: {page: urgent}\n", "severities: 'page'"),
        ("default_namespace: Prod_NS\n", "default_namespace"),
        ("- a list\n", "mapping"),
        ("key: [unclosed\n", "YAML"),
    ],
)
def test_bad_config_refused_naming_the_key(tmp_path, text, named):
    with pytest.raises(InvalidInput) as info:
        _config(tmp_path, text)
    assert named in str(info.value)
    assert str(tmp_path / "receiver.yaml") in str(info.value)


def test_unknown_keys_are_named_as_unknown(tmp_path):
    with pytest.raises(InvalidInput, match="unknown key 'servce_labels'"):
        _config(tmp_path, "servce_labels: [service]\n")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_notebooks_come_from_the_notebook_set(tmp_path):
    every = [p.stem for p in list_notebooks(default_notebook_dir())]
    text = "default_notebooks: [" + ", ".join(every) + "]\n"
    assert _config(tmp_path, text).default_notebooks == tuple(every)
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "01_only.ipynb").write_text("{}", encoding="utf-8")
    path = tmp_path / "receiver.yaml"
    path.write_text("default_notebooks: [01_triage]\nresolved_notebooks: []\n")
    with pytest.raises(InvalidInput, match="01_triage"):
        load_config(path, notebook_dir=folder)
    path.write_text("default_notebooks: [01]\nresolved_notebooks: []\n")  # YAML: the int 1
    assert load_config(path, notebook_dir=folder).default_notebooks == ("01_only",)


def test_parameters_are_checked_as_the_runner_checks_them(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("parameters: {metrics_source: prometheus}\n", encoding="utf-8")
    assert load_config(good).parameters == {"metrics_source": "prometheus"}
    for text, message in (
        ("parameters: {nope: 1}\n", "nope"),
        ("parameters: {api_token: sk_live_51HxYzAbCdEfGhIjKlMnOpQr}\n", "refused"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInput, match=message) as refused:
            load_config(bad)
        assert "sk_live" not in str(refused.value)
