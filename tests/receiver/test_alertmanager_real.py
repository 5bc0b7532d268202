"""The webhook of the real Alertmanager (Debian's prometheus-alertmanager) parses into notices.

A test target exposes a failing gauge, a real Prometheus scrapes it every second and
fires ``IncidentTestFailing`` at once; the Alertmanager groups it and posts to a local
sink. The test parses that body, then lets the gauge recover and waits for the
resolved notification (``send_resolved: true``). Without the binaries the test is
skipped on a laptop and fails under CI (``.ci/run`` installs them).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alerting_servers import (
    ALERT_NAME,
    ALERTMANAGER,
    MetricTarget,
    Posted,
    WebhookSink,
    start_alertmanager,
    start_prometheus_scraping,
)
from conftest import needs_server

from incident_lib.receiver.alerts import parse_alertmanager
from incident_lib.receiver.routing import incident_for, load_config

WAIT = 60.0  # seconds: bounded; the chain takes a few seconds on 2 cores


def _status(posted: Posted) -> str:
    doc = json.loads(posted.body)
    names = {a["labels"].get("alertname") for a in doc.get("alerts", [])}
    return doc["status"] if ALERT_NAME in names else ""


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[MetricTarget, WebhookSink]]:
    needs_server("prometheus")
    needs_server(ALERTMANAGER)
    with contextlib.ExitStack() as stack:
        target = stack.enter_context(MetricTarget())
        sink = stack.enter_context(WebhookSink())
        am = stack.enter_context(start_alertmanager(tmp_path / "am", f"{sink.url}/alertmanager"))
        stack.enter_context(start_prometheus_scraping(tmp_path / "prom", target.address, am.url))
        yield target, sink


def test_real_alertmanager_webhook_firing_then_resolved(chain, tmp_path):
    target, sink = chain
    before = datetime.now(UTC) - timedelta(seconds=5)

    firing = sink.wait_for(lambda p: _status(p) == "firing", WAIT, "firing webhook")
    assert firing.path == "/alertmanager"
    [notice] = parse_alertmanager(firing.body, firing.headers)
    assert notice.source == "alertmanager"
    assert notice.status == "firing"
    assert notice.key.startswith("alertmanager:")
    assert f'alertname="{ALERT_NAME}"' in notice.key and 'service="api"' in notice.key
    assert notice.name == ALERT_NAME
    assert notice.labels["service"] == "api"
    assert notice.labels["namespace"] == "prod"
    assert notice.severity == "critical"
    assert notice.summary == "api is failing (test target)"
    assert notice.alerts == 1
    assert notice.ends_at is None
    assert notice.starts_at.tzinfo == UTC and notice.starts_at >= before
    # the same delivery parsed again is recognised as the same
    assert parse_alertmanager(firing.body, firing.headers)[0].delivery == notice.delivery

    config_file = tmp_path / "receiver.yaml"
    config_file.write_text("lead: 10m\n", encoding="utf-8")
    plan = incident_for(notice, load_config(config_file))
    assert (plan.service, plan.namespace, plan.severity) == ("api", "prod", "SEV-1")
    assert plan.window_start == notice.starts_at - timedelta(minutes=10)

    target.value = 0.0  # the target recovers
    resolved = sink.wait_for(lambda p: _status(p) == "resolved", WAIT, "resolved webhook")
    [done] = parse_alertmanager(resolved.body, resolved.headers)
    assert done.status == "resolved"
    assert done.key == notice.key
    assert done.delivery != notice.delivery
    assert done.ends_at is not None and done.ends_at >= done.starts_at
    assert incident_for(done, load_config(config_file)).incident_id == plan.incident_id
