"""The three payload parsers, from the vendors' documented examples (tests/data/receiver)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from incident_lib.core.errors import InvalidInput
from incident_lib.receiver.alerts import (
    Notice,
    PayloadRejected,
    pagerduty_parser,
    parse_alertmanager,
    parse_datadog,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "receiver"
JSON = {"content-type": "application/json"}
SECRET = "test-signing-secret-0123456789"


def _raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _doc(name: str) -> dict[str, Any]:
    return json.loads(_raw(name))


def _body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _rejected(call: Any, status: int) -> PayloadRejected:
    with pytest.raises(PayloadRejected) as info:
        call()
    assert info.value.status == status, info.value.reason
    return info.value


# -- Alertmanager ------------------------------------------------------------------


def test_alertmanager_documented_example():
    [notice] = parse_alertmanager(_raw("alertmanager_v4.json"), JSON)
    assert isinstance(notice, Notice)
    assert notice.source == "alertmanager"
    assert notice.key == 'alertmanager:{}/{severity="critical"}:{alertname="ProbeFailure"}'
    assert notice.status == "firing"
    assert notice.name == "ProbeFailure"
    assert notice.labels["job"] == "http_checks"
    assert notice.severity == "critical"
    assert notice.starts_at == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert notice.ends_at is None  # 0001-01-01T00:00:00Z: not ended
    assert notice.summary == "BlackBox Probe Failure: https://server.example.org"
    assert notice.url.startswith("http://prometheus.example.org:9090/graph")
    assert notice.alerts == 1
    assert notice.delivery.startswith("alertmanager:")


def test_notices_are_hashable_values():
    first = parse_alertmanager(_raw("alertmanager_v4.json"), JSON)[0]
    again = parse_alertmanager(_body(_doc("alertmanager_v4.json")), JSON)[0]
    assert first == again
    assert len({first, again}) == 1


def test_alertmanager_times_are_utc_and_group_starts_at_earliest():
    doc = _doc("alertmanager_v4.json")
    second = json.loads(json.dumps(doc["alerts"][0]))
    second["startsAt"] = "2023-02-06T14:00:00+02:00"  # 12:00 UTC, earlier than the first
    second["fingerprint"] = "ffff"
    doc["alerts"].append(second)
    [notice] = parse_alertmanager(_body(doc), JSON)
    assert notice.starts_at == datetime(2023, 2, 6, 12, 0, tzinfo=UTC)
    assert notice.starts_at.tzinfo == UTC
    assert notice.alerts == 2


def test_alertmanager_resolved_has_end_time():
    doc = _doc("alertmanager_v4.json")
    doc["status"] = "resolved"
    doc["alerts"][0]["status"] = "resolved"
    doc["alerts"][0]["endsAt"] = "2023-02-06T13:20:00Z"
    [notice] = parse_alertmanager(_body(doc), JSON)
    assert notice.status == "resolved"
    assert notice.ends_at == datetime(2023, 2, 6, 13, 20, tzinfo=UTC)


def test_alertmanager_same_delivery_twice_has_same_delivery_id():
    body = _raw("alertmanager_v4.json")
    reformatted = _body(_doc("alertmanager_v4.json"))  # same content, other whitespace
    first = parse_alertmanager(body, JSON)[0]
    again = parse_alertmanager(reformatted, JSON)[0]
    assert first.delivery == again.delivery
    assert first.key == again.key
    doc = _doc("alertmanager_v4.json")
    doc["status"] = "resolved"
    doc["alerts"][0]["status"] = "resolved"
    doc["alerts"][0]["endsAt"] = "2023-02-06T13:20:00Z"
    resolved = parse_alertmanager(_body(doc), JSON)[0]
    assert resolved.key == first.key  # one incident
    assert resolved.delivery != first.delivery  # but another delivery


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(version="3"), "version"),
        (lambda d: d.pop("groupKey"), "groupKey"),
        (lambda d: d.update(alerts=[]), "alerts"),
        (lambda d: d["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
        (lambda d: d["alerts"][0].update(startsAt="2023-02-06T13:08:45"), "alerts.0.startsAt"),
        (lambda d: d.update(status="pending"), "status"),
        (lambda d: d["alerts"][0].update(labels={"a": 1}), "alerts.0.labels.a"),
    ],
)
def test_alertmanager_shape_rejected_naming_the_field(change, field):
    doc = _doc("alertmanager_v4.json")
    change(doc)
    error = _rejected(lambda: parse_alertmanager(_body(doc), JSON), 422)
    assert field in error.reason
    assert isinstance(error, InvalidInput)


def test_not_json_is_400_and_not_an_object_is_422():
    for parse in (parse_alertmanager, parse_datadog, pagerduty_parser(None)):
        _rejected(lambda p=parse: p(b"<html>", JSON), 400)
        _rejected(lambda p=parse: p(b"\xff\xfe", JSON), 400)
        _rejected(lambda p=parse: p(b"[1, 2]", JSON), 422)


def test_wrong_content_type_is_415():
    body = _raw("alertmanager_v4.json")
    _rejected(lambda: parse_alertmanager(body, {"content-type": "text/plain"}), 415)
    assert parse_alertmanager(body, {"content-type": "application/json; charset=utf-8"})
    assert parse_alertmanager(body, {})  # no content type: the body decides


# -- PagerDuty ---------------------------------------------------------------------


def test_pagerduty_triggered_from_the_documented_example():
    body = _raw("pagerduty_triggered.json")
    [notice] = pagerduty_parser(SECRET)(body, {**JSON, "x-pagerduty-signature": _sign(body)})
    assert notice.source == "pagerduty"
    assert notice.key == "pagerduty:PGR0VU2"
    assert notice.delivery == "pagerduty:5ac64822-4adc-4fda-ade0-410becf0de4f"
    assert notice.status == "firing"
    assert notice.name == "A little bump in the road"
    assert notice.severity == "P1"
    assert notice.labels["pagerduty_service"] == "API Service"
    assert notice.labels["urgency"] == "high"
    assert notice.starts_at == datetime(2020, 4, 9, 15, 16, 27, tzinfo=UTC)
    assert notice.ends_at is None
    assert notice.url == "https://acme.pagerduty.com/incidents/PGR0VU2"


def test_pagerduty_resolved_and_acknowledged():
    parse = pagerduty_parser(None)
    [resolved] = parse(_raw("pagerduty_resolved.json"), JSON)
    assert resolved.status == "resolved"
    assert resolved.key == "pagerduty:PGR0VU2"
    assert resolved.ends_at == datetime(2020, 4, 9, 16, 2, 10, tzinfo=UTC)
    doc = _doc("pagerduty_triggered.json")
    doc["event"]["event_type"] = "incident.acknowledged"
    [ack] = parse(_body(doc), JSON)
    assert ack.status == "acknowledged"


def test_pagerduty_other_event_types_give_no_notice():
    parse = pagerduty_parser(None)
    assert parse(_raw("pagerduty_priority_updated.json"), JSON) == []
    assert parse(_raw("pagerduty_service_updated.json"), JSON) == []
    doc = _doc("pagerduty_triggered.json")
    doc["event"]["event_type"] = "incident.annotated"
    doc["event"]["data"] = {"type": "incident_note", "content": "a note"}
    assert parse(_body(doc), JSON) == []


def test_pagerduty_several_signatures_any_match_passes():
    body = _raw("pagerduty_triggered.json")
    header = f"{_sign(body, 'old-secret')},{_sign(body)}"
    assert pagerduty_parser(SECRET)(body, {"x-pagerduty-signature": header})
    assert pagerduty_parser(SECRET)(body, {"x-pagerduty-signature": "v0=abc, " + _sign(body)})


def test_pagerduty_documented_signature_algorithm():
    """The Python example of PagerDuty's docs: hexdigest of HMAC-SHA256 of the raw body."""
    body = b'{"event": {}}'
    expected = "v1=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert _sign(body, "secret") == expected
    # the envelope is checked after the signature: a good signature reaches the shape check
    error = _rejected(
        lambda: pagerduty_parser("secret")(body, {"x-pagerduty-signature": expected}), 422
    )
    assert "event.id" in error.reason


def test_pagerduty_bad_or_missing_signature_is_401_without_leaking():
    body = _raw("pagerduty_triggered.json")
    parse = pagerduty_parser(SECRET)
    bad = _sign(body, "wrong-secret")
    for headers in (JSON, {"x-pagerduty-signature": bad}, {"x-pagerduty-signature": "garbage"}):
        error = _rejected(lambda h=headers: parse(body, h), 401)
        assert SECRET not in str(error)
        assert bad.removeprefix("v1=") not in str(error)
        assert _sign(body).removeprefix("v1=") not in str(error)
    tampered = body.replace(b"A little bump", b"A large bump")
    _rejected(lambda: parse(tampered, {"x-pagerduty-signature": _sign(body)}), 401)


def test_pagerduty_unsigned_accepted_without_secret():
    assert pagerduty_parser(None)(_raw("pagerduty_triggered.json"), JSON)
    assert pagerduty_parser("")(_raw("pagerduty_triggered.json"), JSON)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("event"), "event"),
        (lambda d: d["event"].pop("event_type"), "event.event_type"),
        (lambda d: d["event"]["data"].pop("id"), "data.id"),
        (lambda d: d["event"]["data"].pop("created_at"), "data.created_at"),
        (lambda d: d["event"]["data"].update(type="service"), "data.type"),
    ],
)
def test_pagerduty_shape_rejected_naming_the_field(change, field):
    doc = _doc("pagerduty_triggered.json")
    change(doc)
    error = _rejected(lambda: pagerduty_parser(None)(_body(doc), JSON), 422)
    assert field in error.reason


def test_pagerduty_same_event_twice_same_delivery():
    parse = pagerduty_parser(None)
    body = _raw("pagerduty_triggered.json")
    assert parse(body, JSON)[0].delivery == parse(body, JSON)[0].delivery


# -- Datadog -----------------------------------------------------------------------


def test_datadog_monitor_payload():
    [notice] = parse_datadog(_raw("datadog_monitor.json"), JSON)
    assert notice.source == "datadog"
    assert notice.key == "datadog:1234:service:api,kube_namespace:prod"
    assert notice.delivery == "datadog:7781234567890123456"
    assert notice.status == "firing"
    assert notice.name == "api error rate high"
    assert notice.labels == {
        "env": "prod",
        "service": "api",
        "team": "payments",
        "kube_namespace": "prod",
    }
    assert notice.severity == "P1"
    assert notice.starts_at == datetime.fromtimestamp(1764338520, tz=UTC)
    assert notice.url.startswith("https://app.datadoghq.com/event/")


def test_datadog_recovered_is_resolved_with_the_same_key():
    doc = _doc("datadog_monitor.json")
    doc.update(alert_transition="Recovered", alert_type="success", id="7781234567890129999")
    doc["title"] = "[P1] [Recovered] api error rate high"
    [notice] = parse_datadog(_body(doc), JSON)
    assert notice.status == "resolved"
    assert notice.ends_at == notice.starts_at
    assert notice.key == parse_datadog(_raw("datadog_monitor.json"), JSON)[0].key


def test_datadog_default_template_is_accepted():
    [notice] = parse_datadog(_raw("datadog_default.json"), JSON)
    assert notice.status == "firing"  # from the [Triggered] prefix
    assert notice.name == "CPU load high on web-1"
    assert notice.key == "datadog:title:CPU load high on web-1:"
    assert notice.delivery == "datadog:2603387619536318140"
    assert notice.starts_at == datetime(2014, 7, 29, 19, 37, 52, tzinfo=UTC)
    doc = _doc("datadog_default.json")
    doc["title"] = "[Recovered] CPU load high on web-1"
    [recovered] = parse_datadog(_body(doc), JSON)
    assert recovered.status == "resolved"
    assert recovered.key == notice.key


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.pop("title"), "title"),
        (lambda d: d.pop("date"), "date"),
        (lambda d: d.update(date="yesterday"), "date"),
        (lambda d: d.update(alert_transition="Exploded"), "alert_transition"),
        (lambda d: d.update(tags={"a": "b"}), "tags"),
    ],
)
def test_datadog_shape_rejected_naming_the_field(change, field):
    doc = _doc("datadog_monitor.json")
    change(doc)
    error = _rejected(lambda: parse_datadog(_body(doc), JSON), 422)
    assert field in error.reason


def test_datadog_status_unknown_without_transition_is_rejected():
    doc = _doc("datadog_default.json")
    doc["title"] = "CPU load high"
    error = _rejected(lambda: parse_datadog(_body(doc), JSON), 422)
    assert "alert_transition" in error.reason


def test_datadog_same_event_twice_same_delivery():
    body = _raw("datadog_monitor.json")
    assert parse_datadog(body, JSON)[0].delivery == parse_datadog(body, JSON)[0].delivery
