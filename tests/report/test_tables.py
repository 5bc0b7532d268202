"""Readable tables on small literal frames: display names, units, rounding, times, empty frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from incident_lib.core.metrics import METRICS, metric_info, metric_label
from incident_lib.report import tables

NAN = float("nan")


def at(hhmmss: str, day: str = "2026-11-03") -> pd.Timestamp:
    return pd.Timestamp(f"{day}T{hhmmss}Z")


def test_vocabulary_labels_formats_and_fallback():
    assert metric_label("latency_p95") == "p95 latency (ms)"
    assert metric_label("db_connections") == "DB connections"  # a count: no unit
    assert metric_info("memory").format(1.5 * 2**30) == "1.50 GiB"
    assert metric_info("latency_p95").format(30045.4, unit=False) == "30,045"
    assert metric_info("error_ratio").format(NAN) == "—"
    unknown = metric_info("queue_depth")
    assert (unknown.label, unknown.unit, unknown.bad) == ("Queue depth", "", "both")
    assert (unknown.format(0.012345), unknown.format(12345.6)) == ("0.0123", "12,346")
    assert set(METRICS) >= {
        "request_rate",
        "error_rate",
        "error_ratio",
        "latency_p95",
        "cpu",
        "memory",
        "db_connections",
    }
    with pytest.raises(TypeError):
        METRICS["cpu"] = unknown  # type: ignore[index]  # read-only


def _health() -> pd.DataFrame:
    rows = [
        ("request_rate", 24.4, 29.4, at("14:22:00"), 23.2, 29.4 / 24.4),
        ("error_ratio", 0.0, 14.433, at("14:26:00"), 0.28, NAN),
        ("latency_p95", 141.7, 30045.2, at("14:30:00"), 149.0, 212.2),
        ("queue_depth", NAN, 7.0, at("14:31:00"), 3.0, NAN),
    ]
    columns = ["metric", "baseline", "peak", "peak_at", "latest", "peak_vs_baseline"]
    return pd.DataFrame(rows, columns=columns)


def test_format_health_names_units_and_rounding():
    table = tables.format_health(_health())
    assert table.index.name == "metric"
    assert list(table.index) == [
        "Request rate (req/s)",
        "5xx share of requests (%)",
        "p95 latency (ms)",
        "Queue depth",
    ]
    assert list(table.columns) == [
        "baseline",
        "peak",
        "peak at (UTC)",
        "latest",
        "peak vs baseline",
    ]
    assert table.loc["Request rate (req/s)"].tolist() == ["24", "29", "14:22", "23", "1.2×"]
    assert table.loc["5xx share of requests (%)"].tolist() == [
        "0.00",
        "14.43",
        "14:26",
        "0.28",
        "—",
    ]
    assert table.loc["p95 latency (ms)", "peak"] == "30,045"
    assert table.loc["Queue depth"].tolist() == ["—", "7", "14:31", "3", "—"]


def test_format_health_empty():
    empty = tables.format_health(_health().iloc[:0])
    assert empty.empty and empty.index.name == "metric"
    assert list(empty.columns) == [
        "baseline",
        "peak",
        "peak at (UTC)",
        "latest",
        "peak vs baseline",
    ]


def _onsets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "metric": ["memory", "error_rate", "cpu"],
            "direction": ["up", "up", "up"],
            "onset_at": [at("14:10:15"), at("14:18:45"), pd.NaT],
            "baseline_level": [0.857 * 2**30, 0.0, 0.3621],
            "baseline_scale": [0.01, 0.01, 0.01],
            "peak": [1.56 * 2**30, 3.531, 0.94],
            "peak_at": [at("14:33:00"), at("14:31:00"), at("14:33:00")],
            "change": [0.7, 3.5, 0.6],
            "ratio": [1.82, NAN, 2.6],
            "moved": [True, True, False],
        }
    ).astype({"onset_at": "datetime64[ns, UTC]"})


def test_format_onsets_display_units_and_times():
    table = tables.format_onsets(_onsets())
    assert list(table.index) == [
        "Memory usage (GiB)",
        "5xx error rate (errors/s)",
        "CPU usage (cores)",
    ]
    assert list(table.columns) == [
        "moved",
        "onset (UTC)",
        "baseline",
        "peak",
        "peak at (UTC)",
        "× baseline",
    ]
    assert table.loc["Memory usage (GiB)"].tolist() == [
        "✔",
        "14:10:15",
        "0.86",
        "1.56",
        "14:33",
        "1.8×",
    ]
    assert table.loc["5xx error rate (errors/s)"].tolist() == [
        "✔",
        "14:18:45",
        "0.00",
        "3.53",
        "14:31",
        "—",
    ]
    assert (
        table.loc["CPU usage (cores)", "moved"] == ""
        and table.loc["CPU usage (cores)", "onset (UTC)"] == "—"
    )
    empty = tables.format_onsets(_onsets().iloc[:0])
    assert empty.empty and list(empty.columns) == list(table.columns)


def _ranked() -> pd.DataFrame:
    onset = at("14:30:00")
    times = [
        onset - pd.Timedelta("12min"),
        onset - pd.Timedelta("20s"),
        onset - pd.Timedelta("150min"),
        onset - pd.Timedelta(days=3),
        onset + pd.Timedelta("5min"),
    ]
    return pd.DataFrame(
        {
            "time": times,
            "kind": ["deploy", "config", "commit", "deploy", "scale"],
            "label": ["deploy v2.34", "ConfigMap api", "fix pool", "deploy v2.33", "replicas 8"],
            "detail": ["api rev 42", "", "abc123", "api rev 41", ""],
            "lead": [onset - t for t in times],
            "score": [0.891, 0.99, 0.06, 0.0, 0.0],
            "candidate": [True, True, True, False, False],
        }
    )


def test_format_changes_leads_in_words():
    table = tables.format_changes(_ranked())
    assert table.index.name == "time (UTC)" and table.index[0] == "2026-11-03 14:18"
    assert table["to the onset"].tolist() == [
        "12 min before",
        "at the onset",
        "2.5 h before",
        "3 days before",
        "5 min after",
    ]
    assert table["score"].tolist()[:2] == ["0.89", "0.99"]
    assert table["candidate"].tolist() == ["✔", "✔", "✔", "", ""]
    assert table.loc["2026-11-03 14:18", "change"] == "deploy v2.34"
    no_onset = tables.format_changes(_ranked().assign(lead=pd.NaT))
    assert set(no_onset["to the onset"]) == {"—"}
    empty = tables.format_changes(_ranked().iloc[:0])
    assert empty.empty and "to the onset" in empty.columns


def _signatures() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "template": ["pool exhausted <NUM>", "payment <NUM> failed", "timeout", "odd"],
            "count": [1474, 47, 12, 3],
            "level": ["error", "error", "critical", "error"],
            "first_seen": [at("14:18:10"), at("14:04:00"), at("14:20:00"), at("14:21:00")],
            "last_seen": [at("14:33:59"), at("14:59:00"), at("14:25:00"), at("14:22:00")],
            "pods": [2, 8, 1, 1],
            "baseline_count": [0, 42, 2, 1],
            "is_new": [True, False, False, False],
            "rate_change": [math.inf, 1.12, math.inf, NAN],
        }
    )


def test_format_signatures_rate_change_and_times():
    table = tables.format_signatures(_signatures())
    assert table.index.name == "template"
    assert list(table.columns) == [
        "events",
        "level",
        "first (UTC)",
        "last (UTC)",
        "pods",
        "baseline",
        "vs baseline",
    ]
    assert table["vs baseline"].tolist() == ["new", "1.1×", "new", "—"]
    assert table.loc["pool exhausted <NUM>"].tolist()[:4] == [1474, "error", "14:18", "14:33"]
    empty = tables.format_signatures(_signatures().iloc[:0])
    assert empty.empty and list(empty.columns) == list(table.columns)


def _limits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pod": ["api-1", "worker-1"],
            "container": ["api", "worker"],
            "cpu_p95": [0.912, 0.1],
            "cpu_peak": [0.998, 0.2],
            "cpu_limit": [1.0, NAN],
            "cpu_of_limit": [0.998, NAN],
            "memory_peak": [1.56 * 2**30, 0.25 * 2**30],
            "memory_limit": [2 * 2**30, NAN],
            "memory_of_limit": [0.78, NAN],
            "flag": ["cpu at limit", "no limit"],
        }
    )


def test_format_usage_units_in_the_column_names():
    table = tables.format_usage(_limits())
    assert list(table.index.names) == ["pod", "container"]
    assert list(table.columns) == [
        "CPU p95 (cores)",
        "CPU peak (cores)",
        "CPU limit (cores)",
        "CPU % of limit",
        "memory peak (GiB)",
        "memory limit (GiB)",
        "memory % of limit",
        "flag",
    ]
    assert table.loc[("api-1", "api")].tolist() == [
        "0.91",
        "1.00",
        "1.00",
        "100%",
        "1.56",
        "2.00",
        "78%",
        "cpu at limit",
    ]
    worker = table.loc[("worker-1", "worker")]
    assert worker["CPU limit (cores)"] == "—" and worker["memory % of limit"] == "—"
    empty = tables.format_usage(_limits().iloc[:0])
    assert empty.empty and list(empty.columns) == list(table.columns)


def test_present_times_booleans_and_index():
    frame = pd.DataFrame(
        {
            "monitor": ["[api] 5xx high", "[db] connections"],
            "first_fired": [at("14:12:00"), at("14:14:30")],
            "firing": [False, True],
        }
    )
    shown = tables.present(frame)
    assert shown.index.name == "monitor"
    assert "first_fired" not in shown.columns  # column names read as words
    assert shown["first fired"].tolist() == ["14:12", "14:14"]
    assert shown["firing"].tolist() == ["", "✔"]
    over_days = frame.assign(first_fired=[at("23:50:00", "2026-11-02"), at("00:10:00")])
    assert tables.present(over_days)["first fired"].tolist() == [
        "2026-11-02 23:50",
        "2026-11-03 00:10",
    ]
    assert tables.present(frame, index="firing").index.tolist() == ["", "✔"]
    assert frame["firing"].dtype == bool  # the input is left alone


# -- issue 8: one formatter per unit, growth only over enough baseline events -------------


def test_one_percent_formatter_and_growth_figures():
    from incident_lib.core.metrics import format_growth, format_percent

    share = metric_info("error_ratio")
    assert [format_percent(v) for v in (0.0, 0.004, 0.0613, 12.5, 99.996)] == [
        "0.00 %",
        "< 0.01 %",
        "0.06 %",
        "12.50 %",
        "> 99.99 %",
    ]
    assert share.format(0.0613) == format_percent(0.0613)
    assert metric_info("db_connections").format(87) == "87 connections"
    assert format_growth(205.0, baseline_events=1, noun="failed request") == (
        "1 failed request in the baseline"
    )
    assert format_growth(3.24, baseline_events=50) == "3.2×"
    onsets = _onsets().assign(baseline_events=[240.0, 1.0, 240.0])
    onsets.loc[1, "ratio"] = 205.0
    table = tables.format_onsets(onsets)
    assert table.loc["5xx error rate (errors/s)", "× baseline"] == (
        "1 failed request in the baseline"
    )
    assert table.loc["Memory usage (GiB)", "× baseline"] == "1.8×"


def test_format_changes_says_whose_change_it_is():
    ranked = _ranked().assign(
        label=["deploy v1.2 (checkout rev 3)", "ConfigMap api", "fix pool", "x", "y"],
        service=["checkout", "api", "", "payments", ""],
        relation=["other", "this", "unknown", "dependency", "unknown"],
    )
    table = tables.format_changes(ranked)
    assert table["change"].tolist() == [
        "deploy v1.2 (checkout rev 3; another service)",
        "ConfigMap api",
        "fix pool",
        "x of payments (a dependency)",
        "y",
    ]
