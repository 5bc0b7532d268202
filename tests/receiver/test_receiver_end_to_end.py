"""From a real alert to an attached bundle, without a human.

A failing test target, a real Prometheus firing an alert, the real Alertmanager
posting it with its bearer token to ``incident serve``'s receiver (built by
``build_receiver`` as the command builds it), which opens the incident, runs the
routed notebook live and posts the diagnosis to a Slack-compatible webhook. Then
the target recovers, the resolved notification records the end and runs
``10_verify``. Without the binaries it skips on a laptop and fails under CI.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alerting_servers import (
    ALERTMANAGER,
    MetricTarget,
    start_alertmanager,
    start_prometheus_scraping,
)
from chat_servers import SlackServer
from conftest import needs_server
from serving import serving

from incident_lib.infra.workspace import open_workspace
from incident_lib.receiver.service import build_receiver

TOKEN = "receiver-token-3f9a1c"
WAIT = 120.0  # seconds: bounded; a bundle of one notebook takes a few seconds


def _wait(what: str, done: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = done()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, Any]]:
    needs_server("prometheus")
    needs_server(ALERTMANAGER)
    config = tmp_path / "receiver.yaml"
    config.write_text(
        "lead: 10m\ndefault_notebooks: [01_triage]\nresolved_notebooks: [10_verify]\n",
        encoding="utf-8",
    )
    with contextlib.ExitStack() as stack:
        slack = stack.enter_context(SlackServer())
        environ = {"INCIDENT_RECEIVER_TOKEN": TOKEN, "INCIDENT_SLACK_WEBHOOK_URL": slack.webhook}
        receiver = build_receiver(config, tmp_path / "incidents", port=0, environ=environ)
        url = stack.enter_context(serving(receiver))
        target = stack.enter_context(MetricTarget())
        am = stack.enter_context(
            start_alertmanager(tmp_path / "am", f"{url}/alertmanager", bearer=TOKEN)
        )
        stack.enter_context(start_prometheus_scraping(tmp_path / "prom", target.address, am.url))
        yield {"slack": slack, "url": url, "target": target, "incidents": tmp_path / "incidents"}


def _messages(slack: SlackServer) -> list[dict[str, Any]]:
    return [r.json() for r in slack.requests]  # type: ignore[misc]


def test_an_alert_becomes_an_incident_with_its_bundle_and_a_message(chain):
    slack, incidents = chain["slack"], chain["incidents"]
    first = _wait("the firing message", lambda: _messages(slack))[0]
    (folder,) = incidents.iterdir()
    ws = open_workspace(folder)
    assert ws.incident.id.startswith("ALERT-") and ws.incident.service == "api"
    assert ws.incident.namespace == "prod" and ws.incident.severity == "SEV-1"
    (index,) = folder.glob("runs/*/index.html")
    text = str(first)
    assert ws.incident.id in text and str(index) in text
    assert TOKEN not in text

    metrics = httpx.get(f"{chain['url']}/metrics").text
    assert re.search(r'alerts_received_total\{source="alertmanager"\} [1-9]', metrics)
    assert re.search(r'bundles_total\{outcome="ok"\} [1-9]', metrics)
    assert "alert_to_bundle_seconds_count" in metrics

    chain["target"].value = 0  # the service recovers
    _wait(
        "the resolved bundle",
        lambda: (
            open_workspace(folder).incident.times.resolved is not None
            and len(list(folder.glob("runs/*/10_verify.ipynb"))) == 1
            and len(_messages(slack)) >= 2
        ),
    )
    resolved = open_workspace(folder).incident
    assert resolved.status == "resolved"
    assert len(list(incidents.iterdir())) == 1  # one incident for the group, firing to resolved
