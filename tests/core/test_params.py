"""Run parameters shared by every notebook: mode, metrics source, list values; window rows."""

from __future__ import annotations

import pandas as pd
import pytest

from incident_lib import InvalidInput, Window, parse_time
from incident_lib.core.params import (
    METRICS_SOURCES,
    check_metrics_source,
    check_mode,
    parse_list,
)
from incident_lib.core.schema import EVIDENCE_KINDS


def test_modes():
    assert check_mode("live") == "live"
    assert check_mode("offline") == "offline"
    with pytest.raises(InvalidInput, match="'Live' is not known: use 'live'"):
        check_mode("Live")


def test_metrics_sources_are_the_sources_with_metrics_and_monitors():
    assert set(METRICS_SOURCES) == {"datadog", "prometheus"}
    for source in METRICS_SOURCES:
        assert (source, "metrics") in EVIDENCE_KINDS
        assert (source, "monitor_events") in EVIDENCE_KINDS
    assert check_metrics_source("prometheus") == "prometheus"
    with pytest.raises(InvalidInput, match="'grafana' is not known: use one of datadog"):
        check_metrics_source("grafana")


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("", ()),
        ("error", ("error",)),
        (" error, critical ,", ("error", "critical")),
        ("[checkout] HPA at max replicas, db down", ("[checkout] HPA at max replicas", "db down")),
    ],
)
def test_parse_list(text, items):
    assert parse_list(text) == items


def test_window_select_is_half_open_and_keeps_the_index():
    window = Window(parse_time("2026-01-01T00:00:00Z"), parse_time("2026-01-01T01:00:00Z"))
    times = [
        "2025-12-31T23:59:59Z",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:59:59Z",
        "2026-01-01T01:00:00Z",
    ]
    frame = pd.DataFrame(
        {"at": pd.to_datetime(times, utc=True), "x": [1, 2, 3, 4]}, index=[10, 11, 12, 13]
    )
    picked = window.select(frame, "at")
    assert picked["x"].tolist() == [2, 3]
    assert picked.index.tolist() == [11, 12]
    assert window.select(frame.iloc[:0], "at").empty
