"""Recovery checks: explicit assertions that must hold for a stability period.

Each check has a threshold, an observed value and a verdict: passed, failed or
unknown (``None``: no data, too little data, or no baseline to compare with;
unknown counts as *not* passed). An incident is resolved when every check held
over the whole stability period ``[as_of - stability, as_of)``.

How the checks are evaluated
----------------------------
**1-minute means.** Metrics are averaged per 1-minute bin, the bins counted
from the period start. A real recovery is not failed by one noisy 15 s sample,
and a minute without samples is simply not covered. A metric check needs at
least ``coverage`` (80 %) of the period's minutes covered, else it is unknown.

**Success rate** (``>= 99.5 %``): the share of requests that did not fail over
the whole period, request-weighted (``1 - Σ errors / Σ requests`` from the
``error_rate`` and ``request_rate`` series): the usual availability SLI.

**Error rate** (``<= 0.1 %``): the 5xx share of requests in *every* rolling
window of ``rate_window`` (5 min, stepping by a minute) inside the period; the
observed value is the worst window. Per-minute ratios cannot carry a 0.1 %
threshold: at 25 req/s two failed requests in one minute are already 0.13 %.
Five minutes smooth that counting noise while a real relapse still fails.

**p95 latency**: every 1-minute mean at or below ``latency_p95_ms`` when
given; otherwise back inside the baseline band, ``median + max(k × scale,
band_floor × median)`` with ``k = latency_band`` (4). Median and robust scale
(MAD-based, with floors) are those of :func:`~incident_lib.analysis.onset.detect_onset`,
and the band is the same one inside which ``detect_onset`` sees no departure
(threshold 4, ``min_change`` 20 %): "back to baseline" means exactly "no longer
an onset".

**DB connections**: every 1-minute mean of ``db_connections`` within
``median ± max(k × scale, band_floor × median)`` of the baseline (``k = db_band``);
too few connections (clients that cannot connect) is not a recovery either.

**Monitors**: from ``monitor_events``, each monitor's state through the period
(the last change before the period start, then every change inside it). Fails
when any monitor is ``alert`` / ``warn`` at ``as_of`` *or* was at any moment
of the period. Monitors named in ``ignore_monitors`` (name or id) are left out:
a known, accepted warning such as a capacity alert kept as a follow-up.

**Pods**: the ``pods`` snapshot: every container ``Running`` and ready, and no
container terminated (restarted) during the period. A snapshot holding a
container started at or after ``as_of`` was taken later than the check time and
says nothing about ``as_of``: unknown.

**recovery_began**: the start of the final continuous run of passing
error-rate windows (the rolling windows above, over all data before ``as_of``),
i.e. the start of the first window that no longer holds the last bad minutes:
"errors back under the threshold since". ``None`` when the window ending at
``as_of`` fails, or when the ratio never exceeded the threshold in the data
(nothing to recover from). A stretch with no data ends the run like a failure.

Pure functions over the ``metrics``, ``monitor_events`` and ``pods`` contract
frames (see :mod:`incident_lib.core.schema`): no I/O, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from ..core.errors import InvalidInput
from ..core.findings import Finding
from ..core.metrics import metric_info
from ..core.time import Window, format_duration, parse_time
from .alerts import FIRING_STATES
from .metrics import metric_series
from .onset import detect_onset

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_THRESHOLDS",
    "RecoveryCheck",
    "RecoveryThresholds",
    "RecoveryVerdict",
    "check_recovery",
    "recovery_findings",
]

_MINUTE = timedelta(minutes=1)
_STATUS = {True: "✔", False: "✘", None: "?"}


@dataclass(frozen=True, slots=True)
class RecoveryCheck:
    """One recovery assertion and its outcome.

    Attributes
    ----------
    name
        Short name, e.g. ``"error rate"``.
    description
        What is asserted, for people.
    threshold
        The threshold as text, e.g. ``"≤ 0.1 % in every 5-min window"``.
    observed
        The observed value as text, e.g. ``"worst 5-min window 0.04 % (14:50)"``.
    value
        The observed value as a number (NaN when unknown).
    passed
        ``True`` / ``False``; ``None`` when unknown (no or too little data).
    detail
        Why, in a few words (``"no data"``, the offending monitors, ...).
    """

    name: str
    description: str
    threshold: str
    observed: str
    value: float
    passed: bool | None
    detail: str = ""

    @property
    def status(self) -> str:
        """``✔`` passed, ``✘`` failed, ``?`` unknown."""
        return _STATUS[self.passed]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryThresholds:
    """Thresholds of the recovery checks (see the module docstring for the method).

    Attributes
    ----------
    success_rate
        Minimum share of successful requests over the period, percent.
    error_rate
        Maximum 5xx share of requests in every ``rate_window``, percent.
    rate_window
        Length of the rolling windows of the error-rate check.
    latency_p95_ms
        Maximum p95 latency in ms; ``None``: back within the baseline band.
    latency_band
        Width of the latency band above the baseline median, in robust SDs.
    db_band
        Half-width of the DB-connections band around the baseline median, in robust SDs.
    band_floor
        The bands are never narrower than this fraction of the baseline median.
    stability
        How long every check must have held before ``as_of``.
    coverage
        Minimum share of the period's minutes with data for a metric check.
    ignore_monitors
        Monitor names or ids that do not block recovery (accepted warnings).
    """

    success_rate: float = 99.5
    error_rate: float = 0.1
    rate_window: timedelta = timedelta(minutes=5)
    latency_p95_ms: float | None = None
    latency_band: float = 4.0
    db_band: float = 4.0
    band_floor: float = 0.2
    stability: timedelta = timedelta(minutes=15)
    coverage: float = 0.8
    ignore_monitors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.success_rate <= 100 or not 0 <= self.error_rate <= 100:
            raise InvalidInput("success_rate and error_rate are percentages between 0 and 100")
        if self.latency_p95_ms is not None and not self.latency_p95_ms > 0:
            raise InvalidInput(f"latency_p95_ms must be above zero, got {self.latency_p95_ms}")
        if min(self.latency_band, self.db_band, self.band_floor) < 0:
            raise InvalidInput("latency_band, db_band and band_floor must be zero or more")
        if self.stability < _MINUTE or self.rate_window < _MINUTE:
            raise InvalidInput("stability and rate_window must be at least one minute")
        if not 0 < self.coverage <= 1:
            raise InvalidInput(f"coverage is a share in (0, 1], got {self.coverage}")
        monitors: object = self.ignore_monitors  # a caller may pass anything at run time
        if isinstance(monitors, str):
            raise InvalidInput("ignore_monitors is a tuple of monitor names or ids, not a string")


#: the thresholds used when none are given
DEFAULT_THRESHOLDS = RecoveryThresholds()


@dataclass(frozen=True, slots=True)
class RecoveryVerdict:
    """The outcome of :func:`check_recovery`.

    Attributes
    ----------
    as_of
        The check time (aware UTC).
    period
        The stability period ``[as_of - stability, as_of)``.
    checks
        Every check, in a fixed order.
    recovery_began
        Start of the final continuous passing run of the error-rate check, or
        ``None`` (see the module docstring).
    """

    as_of: datetime
    period: Window
    checks: tuple[RecoveryCheck, ...]
    recovery_began: pd.Timestamp | None

    @property
    def resolved(self) -> bool:
        """Whether every check passed (an unknown check is not a pass)."""
        return all(c.passed is True for c in self.checks)

    @property
    def failing(self) -> tuple[str, ...]:
        """Names of the checks that failed."""
        return tuple(c.name for c in self.checks if c.passed is False)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Names of the checks that could not be evaluated."""
        return tuple(c.name for c in self.checks if c.passed is None)

    def to_frame(self) -> pd.DataFrame:
        """One row per check: ``check``, ``threshold``, ``observed``, ``status``, ``detail``."""
        import pandas as pd

        return pd.DataFrame(
            [(c.name, c.threshold, c.observed, c.status, c.detail) for c in self.checks],
            columns=["check", "threshold", "observed", "status", "detail"],
        )

    def summary(self) -> str:
        """One sentence: the verdict, what blocks it, and since when errors are back down."""
        held = format_duration(self.period.duration)
        began = (
            f" Error rate back under its threshold since {self.recovery_began:%H:%M} UTC."
            if self.recovery_began is not None
            else ""
        )
        if self.resolved:
            return (
                f"Resolved: all {len(self.checks)} recovery checks held for {held} "
                f"up to {self.as_of:%H:%M} UTC.{began}"
            )
        parts = []
        if self.failing:
            parts.append(f"failing: {', '.join(self.failing)}")
        if self.unknown:
            parts.append(f"unknown: {', '.join(self.unknown)}")
        return (
            f"Not resolved as of {self.as_of:%H:%M} UTC ({held} stability period); "
            f"{'; '.join(parts)}.{began}"
        )


# -- helpers -------------------------------------------------------------------------------


def _unknown(name: str, description: str, threshold: str, detail: str) -> RecoveryCheck:
    return RecoveryCheck(name, description, threshold, "—", math.nan, None, detail)


def _minute_means(series: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Mean per 1-minute bin of ``[start, end)``, bins from ``start``, NaN where no sample."""
    import pandas as pd

    grid = pd.date_range(start, end, freq=_MINUTE, inclusive="left")
    inside = series[(series.index >= start) & (series.index < end)].dropna()
    if inside.empty:
        return pd.Series(math.nan, index=grid, dtype="float64")
    return inside.resample(_MINUTE, origin=start).mean().reindex(grid)


def _coverage_problem(bins: pd.Series, series: pd.Series, need: float) -> str:
    """Why ``bins`` is too thin to judge (empty string when coverage is enough)."""
    if series.empty:
        return "no data"
    covered = float(bins.notna().mean()) if len(bins) else 0.0
    if covered == 0:
        return "no data in the period"
    if covered < need:
        return f"only {covered:.0%} of the period's minutes have data (need {need:.0%})"
    return ""


def _band(series: pd.Series, baseline: Window, k: float, floor: float) -> tuple[float, float]:
    """Baseline median and band half-width ``max(k × robust scale, floor × |median|)``.

    The scale is :func:`detect_onset`'s, computed from the baseline alone (the
    baseline passed as both windows), so the band does not depend on the period.
    """
    found = detect_onset(series, baseline=baseline, window=baseline, direction="both")
    level = found.baseline_level
    return level, max(k * found.baseline_scale, floor * abs(level))


def _at(moment: pd.Timestamp) -> str:
    return f"{moment:%H:%M} UTC"


# -- the checks ----------------------------------------------------------------------------


def _rate_bins(
    metrics: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """1-minute mean error and request rates; a bin counts only when both have samples."""
    errors = _minute_means(metric_series(metrics, "error_rate"), start, end)
    requests = _minute_means(metric_series(metrics, "request_rate"), start, end)
    both = errors.notna() & requests.notna()
    return errors.where(both), requests.where(both)


def _rolling_ratio(errors: pd.Series, requests: pd.Series, size: int) -> pd.Series:
    """Error ratio (percent) of each rolling window of ``size`` bins, labelled by its last bin."""
    err = errors.rolling(size, min_periods=1).sum()
    req = requests.rolling(size, min_periods=1).sum()
    return (err / req.where(req > 0)) * 100


def _success_check(
    errors: pd.Series, requests: pd.Series, thr: RecoveryThresholds, problem: str
) -> RecoveryCheck:
    name, desc = "success rate", "share of requests that succeeded over the period"
    threshold = f"≥ {thr.success_rate:g} % over {format_duration(thr.stability)}"
    total = float(requests.sum())
    if problem or total <= 0:
        return _unknown(name, desc, threshold, problem or "no requests in the period")
    rate = 100 * (1 - float(errors.sum()) / total)
    return RecoveryCheck(name, desc, threshold, f"{rate:.3f} %", rate, rate >= thr.success_rate, "")


def _error_check(
    errors: pd.Series, requests: pd.Series, thr: RecoveryThresholds, problem: str
) -> RecoveryCheck:
    name = "error rate"
    desc = f"{metric_info('error_ratio').name}, held in every rolling window"
    size = min(_bins_in(thr.rate_window), len(errors))
    label = format_duration(size * _MINUTE)
    threshold = f"≤ {thr.error_rate:g} % in every {label} window"
    ratios = _rolling_ratio(errors, requests, size).iloc[size - 1 :].dropna()
    if problem or ratios.empty:
        return _unknown(name, desc, threshold, problem or "no requests in the period")
    worst_end = cast("pd.Timestamp", ratios.idxmax())
    worst = float(ratios.max())
    window_start = worst_end - (size - 1) * _MINUTE
    observed = f"worst {label} window {worst:.3f} % (from {_at(window_start)})"
    passed = worst <= thr.error_rate
    detail = "" if passed else f"{int((ratios > thr.error_rate).sum())} window(s) over"
    return RecoveryCheck(name, desc, threshold, observed, worst, passed, detail)


def _bins_in(length: timedelta) -> int:
    return max(1, math.ceil(length / _MINUTE))


def _latency_check(
    metrics: pd.DataFrame, baseline: Window, period: Window, thr: RecoveryThresholds
) -> RecoveryCheck:
    import pandas as pd

    p95 = metric_info("latency_p95")
    name, desc = p95.name, f"every 1-min mean of {p95.name} at or under the limit"
    series = metric_series(metrics, p95.key)
    bins = _minute_means(series, pd.Timestamp(period.start), pd.Timestamp(period.end))
    if thr.latency_p95_ms is not None:
        limit = thr.latency_p95_ms
        threshold = f"≤ {p95.format(limit)}"
    else:
        threshold = f"within the baseline band (median + {thr.latency_band:g} robust SD)"
    problem = _coverage_problem(bins, series, thr.coverage)
    if problem:
        return _unknown(name, desc, threshold, problem)
    if thr.latency_p95_ms is None:
        level, width = _band(series, baseline, thr.latency_band, thr.band_floor)
        if math.isnan(level):
            return _unknown(name, desc, threshold, "no baseline data")
        limit = level + width
        threshold = (
            f"≤ {p95.format(limit)} (baseline median {p95.format(level)} + {p95.format(width)})"
        )
    worst_at = cast("pd.Timestamp", bins.idxmax())
    worst = float(bins.max())
    passed = worst <= limit
    over = int((bins > limit).sum())
    return RecoveryCheck(
        name,
        desc,
        threshold,
        f"worst 1-min mean {p95.format(worst)} ({_at(worst_at)})",
        worst,
        passed,
        "" if passed else f"{over} minute(s) over the limit",
    )


def _db_check(
    metrics: pd.DataFrame, baseline: Window, period: Window, thr: RecoveryThresholds
) -> RecoveryCheck:
    import pandas as pd

    db = metric_info("db_connections")
    name = "db connections"  # the check's name, kept stable for callers
    desc = f"every 1-min mean of {db.name} within the baseline band"
    series = metric_series(metrics, db.key)
    bins = _minute_means(series, pd.Timestamp(period.start), pd.Timestamp(period.end))
    threshold = f"baseline median ± {thr.db_band:g} robust SD"
    problem = _coverage_problem(bins, series, thr.coverage)
    if problem:
        return _unknown(name, desc, threshold, problem)
    level, width = _band(series, baseline, thr.db_band, thr.band_floor)
    if math.isnan(level):
        return _unknown(name, desc, threshold, "no baseline data")
    threshold = f"{level - width:.4g} – {level + width:.4g} (baseline median {level:.4g})"
    deviation = (bins - level).abs()
    worst_at = cast("pd.Timestamp", deviation.idxmax())
    worst = float(bins[worst_at])
    passed = float(deviation.max()) <= width
    outside = int((deviation > width).sum())
    return RecoveryCheck(
        name,
        desc,
        threshold,
        f"furthest 1-min mean {worst:.4g} ({_at(worst_at)})",
        worst,
        passed,
        "" if passed else f"{outside} minute(s) outside the band",
    )


def _monitor_check(
    monitor_events: pd.DataFrame, period: Window, thr: RecoveryThresholds
) -> RecoveryCheck:
    import pandas as pd

    name, desc = "monitors", "no monitor alert/warn at the end or at any time in the period"
    threshold = "none firing"
    if monitor_events.empty:
        return _unknown(name, desc, threshold, "no data")
    start, end = pd.Timestamp(period.start), pd.Timestamp(period.end)
    ignored = set(thr.ignore_monitors)
    events = monitor_events[
        (monitor_events["time"] < end)
        & ~monitor_events["monitor"].isin(ignored)
        & ~monitor_events["monitor_id"].isin(ignored)
    ].sort_values("time", kind="stable")
    firing_now: list[str] = []
    fired: list[str] = []
    for _, group in events.groupby("monitor_id", sort=False):
        label = str(group["monitor"].iloc[-1])
        before = group[group["time"] < start]
        during = group[group["time"] >= start]
        was_firing = len(before) > 0 and before["state"].iloc[-1] in FIRING_STATES
        if group["state"].iloc[-1] in FIRING_STATES:
            firing_now.append(f"{label} ({group['state'].iloc[-1]})")
        elif was_firing or during["state"].isin(FIRING_STATES).any():
            fired.append(f"{label} (ok since {_at(group['time'].iloc[-1])})")
    count = len(firing_now) + len(fired)
    parts = []
    if firing_now:
        parts.append(f"firing now: {', '.join(firing_now)}")
    if fired:
        parts.append(f"fired during the period: {', '.join(fired)}")
    observed = "none firing" if not count else f"{len(firing_now)} firing, {len(fired)} recovered"
    note = f"ignored: {', '.join(sorted(ignored))}" if ignored else ""
    detail = "; ".join(parts + ([note] if note else []))
    return RecoveryCheck(name, desc, threshold, observed, float(count), count == 0, detail)


def _pod_check(pods: pd.DataFrame, period: Window) -> RecoveryCheck:
    import pandas as pd

    name, desc = "pods", "every container Running and ready, none restarted in the period"
    threshold = "all running and ready, 0 restarts"
    if pods.empty:
        return _unknown(name, desc, threshold, "no data")
    start, end = pd.Timestamp(period.start), pd.Timestamp(period.end)
    newer = pods["started_at"] >= end
    if newer.any():
        first = pods.loc[newer, "started_at"].min()
        return _unknown(
            name,
            desc,
            threshold,
            f"the pod snapshot is newer than the check time (a container started at "
            f"{_at(first)}); capture pods at the check time",
        )
    problems = []
    for row in pods.to_dict("records"):
        why = []
        if row["phase"] != "Running":
            why.append(f"phase {row['phase']}")
        if not row["ready"]:
            why.append("not ready")
        ended = row["last_termination_at"]
        if not pd.isna(ended) and start <= ended < end:
            cause = row["last_termination_reason"]
            reason = cause if isinstance(cause, str) else ""
            why.append(f"restarted at {_at(ended)}" + (f" ({reason})" if reason else ""))
        if why:
            problems.append(f"{row['pod']}/{row['container']}: {', '.join(why)}")
    total = len(pods)
    return RecoveryCheck(
        name,
        desc,
        threshold,
        f"{total - len(problems)}/{total} containers healthy",
        float(len(problems)),
        not problems,
        "; ".join(problems[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else ""),
    )


def _recovery_began(
    metrics: pd.DataFrame, period: Window, thr: RecoveryThresholds
) -> pd.Timestamp | None:
    """Start of the final continuous run of passing error-rate windows before ``as_of``."""
    import pandas as pd

    end = pd.Timestamp(period.end)
    times = metrics.loc[metrics["metric"].isin(["error_rate", "request_rate"]), "time"]
    times = times[times < end]
    if times.empty:
        return None
    start = pd.Timestamp(period.start)
    if times.min() < start:
        start -= math.ceil((start - times.min()) / _MINUTE) * _MINUTE
    errors, requests = _rate_bins(metrics, start, end)
    size = _bins_in(thr.rate_window)
    ratios = _rolling_ratio(errors, requests, size)
    passing = (ratios <= thr.error_rate).to_numpy()
    if not passing[-1]:
        return None
    first = len(passing) - 1
    while first > 0 and passing[first - 1]:
        first -= 1
    if not (ratios.iloc[:first] > thr.error_rate).any():
        return None  # never above the threshold in the data: nothing to recover from
    return pd.Timestamp(ratios.index[first]) - (size - 1) * _MINUTE


# -- the verdict ---------------------------------------------------------------------------


def check_recovery(
    *,
    metrics: pd.DataFrame,
    monitor_events: pd.DataFrame,
    pods: pd.DataFrame,
    baseline: Window,
    as_of: datetime,
    thresholds: RecoveryThresholds = DEFAULT_THRESHOLDS,
) -> RecoveryVerdict:
    """Run every recovery check over the stability period before ``as_of``.

    Parameters
    ----------
    metrics
        ``metrics`` contract frame with ``request_rate``, ``error_rate`` (per
        second), ``latency_p95`` (ms) and ``db_connections``; scopes are summed.
    monitor_events
        ``monitor_events`` contract frame (state changes, including the ones
        before the period: they give each monitor's state at its start).
    pods
        ``pods`` contract frame: a snapshot taken at (or just before) ``as_of``.
    baseline
        The window that defines normal latency and DB connections.
    as_of
        The check time (aware); the period is ``[as_of - stability, as_of)``.
    thresholds
        See :class:`RecoveryThresholds`.

    Returns
    -------
    RecoveryVerdict
        A check whose input frame is empty is unknown (``"no data"``), never an error.
    """
    import pandas as pd

    moment = parse_time(as_of, field="as_of")
    period = Window(moment - thresholds.stability, moment)
    errors, requests = _rate_bins(metrics, pd.Timestamp(period.start), pd.Timestamp(period.end))
    inputs = [metric_series(metrics, key) for key in ("error_rate", "request_rate")]
    rate_problem = (
        "no data"
        if any(s.empty for s in inputs)
        else _coverage_problem(requests, inputs[1], thresholds.coverage)
    )
    checks = (
        _success_check(errors, requests, thresholds, rate_problem),
        _error_check(errors, requests, thresholds, rate_problem),
        _latency_check(metrics, baseline, period, thresholds),
        _monitor_check(monitor_events, period, thresholds),
        _pod_check(pods, period),
        _db_check(metrics, baseline, period, thresholds),
    )
    return RecoveryVerdict(
        as_of=moment,
        period=period,
        checks=checks,
        recovery_began=_recovery_began(metrics, period, thresholds),
    )


def recovery_findings(verdict: RecoveryVerdict, *, ref: str = "") -> list[Finding]:
    """The verdict as findings: resolved (info), or not yet with each failing check (high)."""
    if verdict.resolved:
        began = (
            f"; errors back down since {verdict.recovery_began:%H:%M} UTC"
            if verdict.recovery_began is not None
            else ""
        )
        return [
            Finding(
                title=f"Recovery verified at {verdict.as_of:%H:%M} UTC",
                severity="info",
                summary=f"All {len(verdict.checks)} checks held for "
                f"{format_duration(verdict.period.duration)}{began}.",
                ref=ref,
            )
        ]
    blocking = [c for c in verdict.checks if c.passed is not True]
    return [
        Finding(
            title=f"Not resolved yet at {verdict.as_of:%H:%M} UTC: "
            + ", ".join(c.name for c in blocking),
            severity="high",
            summary="; ".join(
                f"{c.name}: observed {c.observed}, needs {c.threshold}" for c in blocking
            )
            + ".",
            ref=ref,
        )
    ]
