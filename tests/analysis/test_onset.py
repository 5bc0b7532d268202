"""Onset detection on literal series, and against the demo incidents' ground truth."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from incident_lib import Window
from incident_lib.analysis.onset import (
    DEFAULT_DIRECTIONS,
    Onset,
    describe,
    detect_onset,
    onset_findings,
    onset_table,
)
from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import conform

WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))
BASELINE = WINDOW.preceding()
START = pd.Timestamp(WINDOW.start)
MIN = pd.Timedelta("1min")


def _series(level: float, noise: float = 0.0, *, step: str = "15s", seed: int = 0) -> pd.Series:
    """Two hours (baseline + window) of ``level`` plus Gaussian noise."""
    times = pd.date_range(BASELINE.start, WINDOW.end, freq=step, inclusive="left")
    rng = np.random.default_rng(seed)
    return pd.Series(level + noise * rng.standard_normal(len(times)), index=times, name="m")


def _onset(series: pd.Series, **kwargs) -> Onset:
    return detect_onset(series, baseline=BASELINE, window=WINDOW, **kwargs)


def test_step_found_within_one_sample():
    s = _series(100, 2)
    truth = START + 20 * MIN
    s[s.index >= truth] += 40
    found = _onset(s)
    assert found.moved and abs(found.onset_at - truth) <= pd.Timedelta("15s")
    assert found.baseline_level == pytest.approx(100, abs=1)
    assert found.peak > 135 and found.peak_at >= truth
    assert found.change == pytest.approx(found.peak - found.baseline_level)
    assert found.ratio == pytest.approx(found.peak / found.baseline_level)


def test_step_at_one_minute_resolution():
    s = _series(10, 0.3, step="60s", seed=3)
    truth = START + 17 * MIN
    s[s.index >= truth] = 25
    assert _onset(s).onset_at == truth


@pytest.mark.parametrize("seed", range(5))
def test_ramp_found_where_it_leaves_the_noise_band(seed):
    s = _series(10, 0.5, seed=seed)
    t0 = START + 20 * MIN
    slope = 1.0  # per minute
    after = s.index >= t0
    s[after] += slope * (s.index[after] - t0) / MIN
    found = _onset(s)
    # the noise band is level ± 2 robust sigmas (half the detection threshold)
    leaves = t0 + 2 * found.baseline_scale / slope * MIN
    assert found.moved and abs(found.onset_at - leaves) <= 1.5 * MIN
    assert found.onset_at < t0 + 0.2 * found.baseline_level / slope * MIN  # before min_change


def test_single_spike_is_not_an_onset():
    s = _series(100, 2)
    s[START + 30 * MIN] = 1000
    found = _onset(s)
    assert not found.moved and found.onset_at is None
    assert found.peak == 1000 and found.peak_at == START + 30 * MIN


def test_two_spikes_across_a_gap_are_not_an_onset():
    s = _series(100, 2)
    s[START + 30 * MIN] = 500
    s = s[(s.index <= START + 30 * MIN) | (s.index >= START + 33 * MIN)]  # 3 min without data
    s[START + 33 * MIN] = 500
    assert not _onset(s).moved


def test_a_long_gap_does_not_join_two_short_runs():
    s = _series(100, 2)
    for first in (START + 20 * MIN, START + 31 * MIN):
        s[(s.index >= first) & (s.index < first + 75 * pd.Timedelta("1s"))] = 200
    hole = (s.index >= START + 21 * MIN + pd.Timedelta("15s")) & (s.index < START + 31 * MIN)
    assert not _onset(s[~hole]).moved  # 10 min apart: two runs of 75 s each
    # a short hole is bridged but adds no time: 75 s + 75 s observed is sustained
    assert _onset(s[~hole], max_gap="15min").onset_at == START + 20 * MIN


def test_gap_during_a_real_step_still_found():
    s = _series(100, 2, seed=2)
    truth = START + 20 * MIN
    s[s.index >= truth] = 160
    hole = (s.index > truth + pd.Timedelta("30s")) & (s.index < truth + 4 * MIN)
    found = _onset(s[~hole])
    assert abs(found.onset_at - truth) <= pd.Timedelta("15s")


def test_nan_values_count_as_missing():
    s = _series(100, 2)
    truth = START + 20 * MIN
    s[s.index >= truth] = 160
    s[(s.index > truth) & (s.index < truth + 2 * MIN)] = np.nan
    assert _onset(s).onset_at == truth


def test_series_that_never_moves():
    found = _onset(_series(42, 1))
    assert not found.moved and found.onset_at is None
    assert found.baseline_level == pytest.approx(42, abs=0.5)
    assert found.ratio == pytest.approx(1, abs=0.15)


@pytest.mark.parametrize("seed", range(5))
def test_noise_only_has_no_onset(seed):
    for direction in ("up", "down", "both"):
        assert not _onset(_series(50, 5, seed=seed), direction=direction).moved


def test_flat_zero_baseline_with_a_real_rise():
    s = _series(0)
    truth = START + 20 * MIN
    rising = s.index >= truth
    s[rising] = 2.0 + 0.3 * np.random.default_rng(4).standard_normal(rising.sum())
    s[START - 30 * MIN] = 0.07  # a lone error in the baseline changes nothing
    found = _onset(s)
    assert found.onset_at == truth
    assert found.baseline_level == 0 and np.isnan(found.ratio) and found.change > 2


def test_flat_zero_baseline_ignores_a_blip():
    s = _series(0)
    s[START + 10 * MIN] = 0.07
    s[START + 40 * MIN : START + 41 * MIN] = 0.07  # a minute of sparse errors
    assert not _onset(s).moved


def test_drop_found_with_direction_both_only():
    s = _series(100, 3)
    s.name = "request_rate"
    truth = START + 25 * MIN
    s[s.index >= truth] = 40
    both = _onset(s, direction="both")
    assert both.onset_at == truth and both.peak == 40 and both.change < 0
    assert not _onset(s, direction="up").moved
    assert _onset(s, direction="down").onset_at == truth


def test_sustain_is_measured_in_time():
    s = _series(100, 2)
    s[(s.index >= START + 10 * MIN) & (s.index < START + 11 * MIN + 30 * pd.Timedelta("1s"))] = 200
    assert not _onset(s).moved  # 90 s
    assert _onset(s, sustain="90s").onset_at == START + 10 * MIN


def test_empty_series():
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype="float64", name="cpu")
    found = _onset(empty)
    assert found.metric == "cpu" and not found.moved and found.onset_at is None
    assert np.isnan(found.baseline_level) and np.isnan(found.peak) and found.peak_at is None


def test_no_baseline_data_means_no_onset():
    s = _series(100, 2)
    s = s[s.index >= START]
    s[s.index >= START + 10 * MIN] = 500
    found = _onset(s)
    assert not found.moved and np.isnan(found.baseline_level) and np.isnan(found.peak)


def test_invalid_inputs_are_refused():
    s = _series(1)
    with pytest.raises(InvalidInput, match="direction"):
        _onset(s, direction="sideways")
    with pytest.raises(InvalidInput, match="timezone"):
        _onset(s.tz_localize(None))
    with pytest.raises(InvalidInput, match="sustain"):
        _onset(s, sustain="soon")


def _long(**series: pd.Series) -> pd.DataFrame:
    rows = [
        pd.DataFrame({"time": s.index, "metric": name, "query": "q", "scope": "s", "value": s})
        for name, s in series.items()
    ]
    return conform(pd.concat(rows, ignore_index=True), "metrics")


def test_onset_table_orders_moved_metrics_by_onset():
    requests = _series(100, 3, seed=1)
    requests[requests.index >= START + 25 * MIN] = 60  # a drop: request_rate checks both ways
    errors = _series(0)
    errors[errors.index >= START + 30 * MIN] = 5
    latency = _series(150, 10, seed=2)
    latency[latency.index >= START + 20 * MIN] = 900
    cpu = _series(0.5, 0.02, seed=3)
    frame = _long(cpu=cpu, request_rate=requests, error_rate=errors, latency_p95=latency)
    table = onset_table(frame, baseline=BASELINE, window=WINDOW)
    assert list(table["metric"]) == [
        "latency_p95",
        "request_rate",
        "error_rate",
        "error_ratio",
        "cpu",
    ]
    assert list(table["moved"]) == [True, True, True, True, False]
    assert table.loc[1, "direction"] == "both" and table.loc[0, "direction"] == "up"
    assert table.loc[2, "onset_at"] == START + 30 * MIN
    assert str(table["onset_at"].dtype) == "datetime64[ns, UTC]"
    only = onset_table(frame, baseline=BASELINE, window=WINDOW, metrics_to_check=["cpu"])
    assert list(only["metric"]) == ["cpu"]
    up_only = onset_table(
        frame,
        baseline=BASELINE,
        window=WINDOW,
        metrics_to_check=["request_rate"],
        directions={"request_rate": "up"},
    )
    assert not up_only.loc[0, "moved"]


def test_onset_table_empty_metrics():
    table = onset_table(_long(cpu=_series(1)).iloc[:0], baseline=BASELINE, window=WINDOW)
    assert table.empty and "onset_at" in table.columns and "moved" in table.columns


def test_default_directions_are_the_vocabularys_bad_directions():
    assert DEFAULT_DIRECTIONS["request_rate"] == "both"
    assert DEFAULT_DIRECTIONS["latency_p95"] == "up" and DEFAULT_DIRECTIONS["memory"] == "up"


def _moved_table() -> pd.DataFrame:
    memory = _series(2**30, 2**20, seed=4)
    memory[memory.index >= START + 10 * MIN] = 1.5 * 2**30
    latency = _series(150, 10, seed=2)
    latency[latency.index >= START + 20 * MIN] = 30045
    depth = _series(0)
    depth[depth.index >= START + 30 * MIN] = 7
    frame = _long(memory=memory, latency_p95=latency, queue_depth=depth)
    return onset_table(frame, baseline=BASELINE, window=WINDOW)


def test_onset_findings_name_metrics_by_display_label_with_units():
    found = onset_findings(_moved_table(), ref="charts/x.png")
    titles = [f.title for f in found]
    assert titles[0].startswith("Memory usage (GiB) left its baseline at 14:10:")
    assert titles[0].endswith("— the first metric to move")
    assert titles[1].startswith("p95 latency (ms) left its baseline at 14:20:")
    assert titles[2].startswith("Queue depth left its baseline at 14:30:")  # unknown key
    assert not any("latency_p95" in t or "queue_depth" in t for t in titles)
    assert found[1].summary.startswith("Peak 30,045 ms at ")
    assert "(baseline median 1.00 GiB)" in found[0].summary
    assert found[2].summary.endswith("up from its baseline (baseline median 0).")
    assert [f.severity for f in found] == ["medium", "high", "low"]


def test_describe_defaults_to_the_vocabulary_and_accepts_overrides():
    s = _series(100, 2)
    s[s.index >= START + 20 * MIN] = 1500
    s.name = "latency_p95"
    found = _onset(s)
    text = describe(found)
    assert text.startswith("p95 latency left its baseline 100 ms at **14:20:")
    assert text.endswith("peaked at 1,500 ms at 14:20 UTC.")
    assert describe(found, label="Slowness", unit="").startswith(
        "Slowness left its baseline 100 at"
    )
    flat = _onset(_series(3.0).rename("error_ratio"))
    assert describe(flat, label="The 5xx share", unit="%") == (
        "The 5xx share shows no sustained departure from its baseline 3.00 % "
        "in the incident window."
    )


# --- the demo incidents ------------------------------------------------------------------


def _demo_onsets(demo_root, scenario: str) -> tuple[dict[str, pd.Timestamp], object]:
    from incident_lib.demo import SCENARIOS
    from incident_lib.infra.evidence import EvidenceStore

    truth = SCENARIOS[scenario].truth
    metrics = EvidenceStore(demo_root / scenario).read("datadog", "metrics")
    table = onset_table(metrics, baseline=truth.baseline, window=truth.window)
    return dict(zip(table["metric"], table["onset_at"], strict=True)), truth


def _near(found: pd.Timestamp, truth: datetime, minutes: float) -> bool:
    return pd.notna(found) and abs(found - pd.Timestamp(truth)) <= minutes * MIN


def test_connection_leak_onsets(demo_root):
    onsets, truth = _demo_onsets(demo_root, "connection-leak")
    assert _near(onsets["error_rate"], truth.onset_at, 2)
    assert _near(onsets["error_ratio"], truth.onset_at, 2)
    assert _near(onsets["db_connections"], truth.cause_at, 2)  # the cause moves first
    assert onsets["db_connections"] < onsets["error_rate"]


def test_traffic_surge_onsets(demo_root):
    onsets, truth = _demo_onsets(demo_root, "traffic-surge")
    assert _near(onsets["request_rate"], truth.cause_at, 1)
    cpu = onsets["cpu"]
    assert pd.Timestamp(truth.cause_at) <= cpu <= pd.Timestamp(truth.saturated_at)
    assert _near(onsets["latency_p95"], truth.onset_at, 2)
    assert _near(onsets["error_rate"], truth.onset_at, 2)
    assert pd.isna(onsets["db_connections"])  # the database is not involved


# -- issue 8: ties, units, growth that rests on too few baseline events -------------------


def test_metrics_that_moved_at_the_same_sample_are_a_tie():
    memory = _series(2**30)
    memory[memory.index >= START + 10 * MIN] = 1.5 * 2**30
    connections = _series(10)
    connections[connections.index >= START + 10 * MIN] = 90
    latency = _series(150)
    latency[latency.index >= START + 20 * MIN] = 3000
    table = onset_table(
        _long(memory=memory, db_connections=connections, latency_p95=latency),
        baseline=BASELINE,
        window=WINDOW,
    )
    titles = [f.title for f in onset_findings(table)]
    assert not any("the first metric to move" in t for t in titles)
    assert titles[0].endswith("— first to move, tied with DB connections")
    assert titles[1].startswith("DB connections left its baseline at 14:10:00 UTC")
    assert titles[1].endswith("— first to move, tied with Memory usage")
    assert titles[2].endswith("UTC")  # latency moved later: no call-out


def test_a_unitless_peak_says_what_it_counts():
    connections = _series(10)
    connections[connections.index >= START + 10 * MIN] = 90
    table = onset_table(_long(db_connections=connections), baseline=BASELINE, window=WINDOW)
    (found,) = onset_findings(table)
    assert found.summary.startswith("Peak 90 connections at ")


def test_growth_from_a_single_baseline_event_is_not_stated_as_a_ratio():
    requests = _series(10)
    errors = _series(0.0)
    errors[errors.index >= START + 10 * MIN] = 2.0
    # a baseline error rate 205 times lower than the peak: 35 failed requests in the hour
    errors[(errors.index >= BASELINE.start) & (errors.index < pd.Timestamp(BASELINE.end))] = (
        2.0 / 205
    )
    table = onset_table(
        _long(request_rate=requests, error_rate=errors),
        baseline=BASELINE,
        window=WINDOW,
        metrics_to_check=["error_rate"],
    )
    row = table.iloc[0]
    assert row["ratio"] == pytest.approx(205)
    assert row["baseline_events"] == pytest.approx(2.0 / 205 * 3600)  # 35 failed requests
    few = table.assign(baseline_events=1.0)
    (found,) = onset_findings(few)
    assert "205" not in found.summary
    assert "1 failed request in the baseline" in found.summary
    (enough,) = onset_findings(table)
    assert "205.0× its baseline" in enough.summary


def test_blips_the_baseline_had_routinely_are_not_an_onset():
    """Rare errors through rate(): mostly zeros with blips of one request in 15 s.

    The baseline's MAD is 0, so without a floor from what the baseline itself did,
    three blips in a row before the real rise would be dated as the onset.
    """
    s = _series(0.0, step="1min")
    rng = np.random.default_rng(7)
    blips = rng.random(len(s)) < 0.3  # ~30 % of the minutes see one error
    s[blips] = 0.07
    rise = WINDOW.start + pd.Timedelta("20min")
    s[(s.index >= rise - pd.Timedelta("12min")) & (s.index < rise)] = 0.07  # a blippy spell
    s[s.index >= rise] = 12.0
    found = _onset(s, direction="up")
    assert found.onset_at == rise


def test_a_real_rise_from_a_blippy_zero_baseline_is_still_found():
    s = _series(0.0, step="1min")
    s.iloc[::7] = 0.07
    rise = WINDOW.start + pd.Timedelta("20min")
    s[s.index >= rise] = 0.5  # small in absolute terms, far above anything routine
    assert _onset(s, direction="up").onset_at == rise
