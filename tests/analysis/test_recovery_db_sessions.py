"""The DB sessions check of 10_verify: connections back under a share of the slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from test_database_frames import activity, session, settings
from test_recovery import BASELINE, QUIET, _metrics, _pods, _rates

from incident_lib.analysis.recovery import RecoveryThresholds, check_recovery
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import empty_frame
from incident_lib.demo import SCENARIOS
from incident_lib.infra.evidence import EvidenceStore

AS_OF = datetime(2026, 11, 3, 15, tzinfo=UTC)
LIMITS = {"max_connections": 100, "superuser_reserved_connections": 3}


def _samples(counts: list[int], *, target: str = "default", every: int = 60) -> list[dict]:
    """``counts[i]`` client sessions at ``AS_OF - (len - i) * every`` seconds."""
    rows = []
    for i, count in enumerate(counts):
        t = pd.Timestamp(AS_OF) - pd.Timedelta(seconds=every * (len(counts) - i))
        rows += [session(t, 1000 + k, target=target) for k in range(count)]
    return rows


def _verdict(db_activity, db_settings=None, **thresholds):
    return check_recovery(
        metrics=_metrics(_rates()),
        monitor_events=QUIET,
        pods=_pods(),
        baseline=BASELINE,
        as_of=AS_OF,
        thresholds=RecoveryThresholds(**thresholds),
        db_activity=db_activity,
        db_settings=db_settings,
    )


def _db(verdict):
    (check,) = [c for c in verdict.checks if c.name == "db sessions"]
    return check


def test_no_database_configured_means_no_such_check():
    verdict = _verdict(None)
    assert "db sessions" not in {c.name for c in verdict.checks}


def test_connections_back_under_the_share_of_the_slots_pass():
    check = _db(_verdict(activity(_samples([40, 30, 20] * 5)), settings(**LIMITS)))
    assert check.passed is True
    assert check.threshold == "≤ 77 of 97"  # 80 % of max_connections less 3 reserved
    assert "most 40" in check.observed and "15 samples" in check.observed


def test_connections_still_near_the_limit_fail_and_say_when():
    check = _db(_verdict(activity(_samples([20] * 10 + [90] * 5)), settings(**LIMITS)))
    assert check.passed is False
    assert "90 connections at 14:5" in check.detail


def test_the_share_is_a_threshold_the_responder_can_set():
    frame = activity(_samples([60] * 15))
    assert _db(_verdict(frame, settings(**LIMITS))).passed is True
    assert _db(_verdict(frame, settings(**LIMITS), db_share=0.5)).passed is False
    with pytest.raises(InvalidInput, match="db_share"):
        RecoveryThresholds(db_share=1.5)


def test_a_database_that_could_not_be_read_is_unknown_not_fine():
    check = _db(_verdict(empty_frame("pg_activity"), settings(**LIMITS)))
    assert check.passed is None and check.detail == "no data"
    stale = activity(_samples([10] * 3, every=3600))  # sampled hours before the period
    assert _db(_verdict(stale, settings(**LIMITS))).detail == "no sample in the period"
    unknown = _db(_verdict(activity(_samples([10] * 15)), empty_frame("pg_settings")))
    assert unknown.passed is None and "settings not captured" in unknown.detail


def test_every_configured_database_is_checked():
    rows = _samples([10] * 15, target="orders") + _samples([95] * 15, target="payments")
    both = pd.concat([settings("orders", **LIMITS), settings("payments", **LIMITS)])
    check = _db(_verdict(activity(rows), both))
    assert check.passed is False
    assert check.detail.startswith("payments: 95 connections")
    assert "orders: ≤ 77 of 97" in check.threshold


def test_connection_leak_demo_sessions_recovered_by_the_window_end(demo_root):
    truth = SCENARIOS["connection-leak"].truth
    store = EvidenceStore(demo_root / "connection-leak")
    frames = {
        name: store.read(source, name)
        for source, name in (
            ("datadog", "metrics"),
            ("datadog", "monitor_events"),
            ("kubernetes", "pods"),
            ("postgres", "activity"),
            ("postgres", "settings"),
        )
    }

    def at(moment):
        return check_recovery(
            metrics=frames["metrics"],
            monitor_events=frames["monitor_events"],
            pods=frames["pods"],
            baseline=truth.baseline,
            as_of=moment,
            db_activity=frames["activity"],
            db_settings=frames["settings"],
        )

    assert _db(at(truth.window.end)).passed is True
    during = _db(at(truth.db_limit_reached_at + timedelta(minutes=5)))
    assert during.passed is False and "connections at 14:" in during.detail
