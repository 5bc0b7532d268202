"""06_database's analysis on the demo evidence states each scenario's documented truth."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_lib.analysis.database import (
    blocking_tree,
    database_findings,
    database_verdict,
    find_leaks,
    saturation,
)
from incident_lib.demo import SCENARIOS
from incident_lib.infra.evidence import EvidenceStore

FRAMES = ("activity", "settings", "locks", "database_stats")


@pytest.fixture(scope="module")
def evidence(demo_root):
    def read(scenario: str) -> dict:
        store = EvidenceStore(demo_root / scenario)
        return {name: store.read("postgres", name) for name in FRAMES}

    return read


def test_connection_leak_names_the_app_the_cause_and_when_the_limit_was_reached(evidence):
    truth = SCENARIOS["connection-leak"].truth
    frames = evidence("connection-leak")
    activity, settings = frames["activity"], frames["settings"]
    inside = truth.window.select(activity, "sampled_at")

    (leak,) = find_leaks(inside)
    assert leak.application_name == truth.db_leaking_application
    assert leak.idle_in_transaction > 0 and "FOR UPDATE" in leak.queries[0]
    (sat,) = saturation(inside, settings)
    assert sat.limit is not None and sat.limit.available == truth.db_available_connections
    # sampled every 30 s: the first sample at or after the moment the slots ran out
    assert timedelta(0) <= sat.reached_at - truth.db_limit_reached_at <= timedelta(seconds=30)
    (root,) = blocking_tree(inside)
    assert root.application_name == truth.db_blocking_root and root.state.startswith("idle in")
    assert {c.application_name for c in root.children} == {truth.db_blocked}

    found = {f.fact: f for f in database_findings(activity, settings, window=truth.window)}
    saturated = found["db:saturation:default"]
    assert f"max_connections ({truth.db_max_connections})" in saturated.summary
    assert f"at {sat.reached_at:%H:%M} UTC" in saturated.summary
    idle = found["db:idle-in-transaction:default"]
    assert "idle_in_transaction_session_timeout is 0 (disabled)" in idle.summary
    assert f"db:leak:default:{truth.db_leaking_application}" in found
    verdict = database_verdict(activity, settings, window=truth.window)
    assert verdict.startswith("the database was the bottleneck") == truth.db_bottleneck


def test_traffic_surge_says_the_database_was_not_the_bottleneck(evidence):
    truth = SCENARIOS["traffic-surge"].truth
    frames = evidence("traffic-surge")
    activity, settings = frames["activity"], frames["settings"]
    assert truth.db_bottleneck is False and truth.db_limit_reached_at is None
    verdict = database_verdict(activity, settings, window=truth.window)
    assert verdict.startswith("the database was not the bottleneck"), verdict
    facts = [f.fact for f in database_findings(activity, settings, window=truth.window)]
    assert facts == ["db:not-bottleneck:default"]
    assert not find_leaks(truth.window.select(activity, "sampled_at"))
