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

**Thresholds are relative to the baseline** unless the responder sets one: a
service whose normal 5xx share is 0.5 % is back to normal at 0.5 %, not at an
absolute 0.1 % it never met.

**Success rate**: the share of requests that did not fail over the whole
period, request-weighted (``1 - Σ errors / Σ requests`` from the ``error_rate``
and ``request_rate`` series): the usual availability SLI. At least
``success_rate`` when set; else the failed share may be at most
``max(error_factor × the baseline's failed share, failure_floor)`` (99.5 % for a
clean baseline).

**Error rate**: the 5xx share of requests in *every* rolling window of
``rate_window`` (5 min, stepping by a minute) inside the period; the observed
value is the worst window. At most ``error_rate`` when set; else at most
``max(error_factor × p95 of the baseline's rolling windows, error_floor)``
(0.1 % for a clean baseline). Per-minute ratios cannot carry a 0.1 %
threshold: at 25 req/s two failed requests in one minute are already 0.13 %.
Five minutes smooth that counting noise while a real relapse still fails.
Without baseline traffic the floors apply, and the threshold says so.

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
A service with no ``db_connections`` metric at all (no database) *skips* the
check: it is listed as skipped and does not block the verdict. (A metrics frame
that is empty altogether leaves every check unknown: that is missing evidence.)

**DB sessions** (only when the database's own sessions were sampled: pass
``db_activity``): every ``pg_stat_activity`` sample of the period under
``db_share`` (80 %) of the slots ordinary roles get (``max_connections`` less the
reserved slots, from ``db_settings``), for every configured database. A database
that is configured but could not be read leaves the check unknown; without one
the check is not listed.

**Autoscaler below max** (only when the service has a HorizontalPodAutoscaler:
pass ``hpa``, with ``k8s_events``): no autoscaler at its maximum replica count at
any moment of the period (the spans of
:func:`~incident_lib.analysis.autoscaling.at_max_spans`). At max, it can add no
capacity: the next peak is not absorbed. An ``hpa`` capture older than the period
start leaves it unknown; without an autoscaler the check is not listed.

**Monitors**: from ``monitor_events``, each monitor's state through the period
(the last change before the period start, then every change inside it). Fails
when any monitor is ``alert`` / ``warn`` at ``as_of`` *or* was at any moment
of the period. Monitors named in ``ignore_monitors`` (name or id) are left out:
a known, accepted warning such as a capacity alert kept as a follow-up. The
verdict names the monitors still firing and how to accept them.

**Pods**: the ``pods`` snapshot: every container ``Running`` and ready, and no
container terminated (restarted) during the period. Restarts in the whole
incident window (when given) are counted and named too, so a pod OOMKilled
during the incident is never reported as "0 restarts"; only those inside the
period fail the check. A snapshot holding a container started at or after
``as_of`` was taken later than the check time and says nothing about ``as_of``:
unknown.

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
from ..core.metrics import format_percent, metric_info
from ..core.schema import empty_frame
from ..core.text import md_code, shorten
from ..core.time import Window, format_duration, parse_time
from .alerts import FIRING_STATES
from .autoscaling import at_max_spans
from .database import client_counts, connection_limits
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
_SKIPPED = "–"
_TITLE_WIDTH = 120


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
    skipped
        The check does not apply (its metric does not exist for this service);
        ``passed`` is then ``None`` and the check does not block the verdict.
    firing
        Monitors still firing at the check time (the monitors check only).
    """

    name: str
    description: str
    threshold: str
    observed: str
    value: float
    passed: bool | None
    detail: str = ""
    skipped: bool = False
    firing: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``✔`` passed, ``✘`` failed, ``?`` unknown, ``–`` skipped."""
        return _SKIPPED if self.skipped else _STATUS[self.passed]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryThresholds:
    """Thresholds of the recovery checks (see the module docstring for the method).

    Attributes
    ----------
    success_rate
        Minimum share of successful requests over the period, percent; ``None``
        (or 0): relative to the baseline.
    error_rate
        Maximum 5xx share of requests in every ``rate_window``, percent; ``None``
        (or 0): relative to the baseline.
    error_factor
        Relative thresholds: how many times the baseline's level (failed share;
        p95 of its rolling-window 5xx shares) is still normal.
    error_floor
        The relative error-rate threshold is never below this, percent.
    failure_floor
        The relative success-rate threshold allows at least this failed share, percent.
    rate_window
        Length of the rolling windows of the error-rate check.
    latency_p95_ms
        Maximum p95 latency in ms; ``None``: back within the baseline band.
    latency_band
        Width of the latency band above the baseline median, in robust SDs.
    db_band
        Half-width of the DB-connections band around the baseline median, in robust SDs.
    db_share
        Most client connections a database may hold, as a share of the slots
        ordinary roles get (the DB sessions check).
    band_floor
        The bands are never narrower than this fraction of the baseline median.
    stability
        How long every check must have held before ``as_of``.
    coverage
        Minimum share of the period's minutes with data for a metric check.
    ignore_monitors
        Monitor names or ids that do not block recovery (accepted warnings).
    accept_hpa_at_max
        An autoscaler kept at its maximum on purpose (the load lasts) does not block
        recovery: the "autoscaler below max" check is listed as skipped, accepted.
    """

    success_rate: float | None = None
    error_rate: float | None = None
    error_factor: float = 1.5
    error_floor: float = 0.1
    failure_floor: float = 0.5
    rate_window: timedelta = timedelta(minutes=5)
    latency_p95_ms: float | None = None
    latency_band: float = 4.0
    db_band: float = 4.0
    db_share: float = 0.8
    band_floor: float = 0.2
    stability: timedelta = timedelta(minutes=15)
    coverage: float = 0.8
    ignore_monitors: tuple[str, ...] = ()
    accept_hpa_at_max: bool = False

    def __post_init__(self) -> None:
        for value in (self.success_rate, self.error_rate, self.error_floor, self.failure_floor):
            if value is not None and not 0 <= value <= 100:
                raise InvalidInput(
                    "success_rate, error_rate and the floors are percentages between 0 and 100"
                )
        if not self.error_factor >= 1:
            raise InvalidInput(f"error_factor must be 1 or more, got {self.error_factor}")
        if self.latency_p95_ms is not None and not self.latency_p95_ms > 0:
            raise InvalidInput(f"latency_p95_ms must be above zero, got {self.latency_p95_ms}")
        if min(self.latency_band, self.db_band, self.band_floor) < 0:
            raise InvalidInput("latency_band, db_band and band_floor must be zero or more")
        if self.stability < _MINUTE or self.rate_window < _MINUTE:
            raise InvalidInput("stability and rate_window must be at least one minute")
        if not 0 < self.db_share <= 1:
            raise InvalidInput(f"db_share is a share in (0, 1], got {self.db_share}")
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
        """Whether every check passed or was skipped (an unknown check is not a pass)."""
        applied = [c for c in self.checks if not c.skipped]
        return bool(applied) and all(c.passed is True for c in applied)

    @property
    def failing(self) -> tuple[str, ...]:
        """Names of the checks that failed."""
        return tuple(c.name for c in self.checks if c.passed is False)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Names of the checks that could not be evaluated (skipped checks excluded)."""
        return tuple(c.name for c in self.checks if c.passed is None and not c.skipped)

    @property
    def skipped(self) -> tuple[str, ...]:
        """Names of the checks that do not apply (their metric does not exist)."""
        return tuple(c.name for c in self.checks if c.skipped)

    @property
    def firing(self) -> tuple[str, ...]:
        """Monitors still firing at ``as_of`` (not ignored), by name."""
        return tuple(name for c in self.checks for name in c.firing)

    def to_frame(self) -> pd.DataFrame:
        """One row per check: ``check``, ``threshold``, ``observed``, ``status``, ``detail``."""
        import pandas as pd

        return pd.DataFrame(
            [(c.name, c.threshold, c.observed, c.status, c.detail) for c in self.checks],
            columns=["check", "threshold", "observed", "status", "detail"],
        )

    def override_hint(self) -> str:
        """How to accept the monitors still firing and an autoscaler kept at max, as
        Markdown (empty when neither blocks the verdict)."""
        hints = []
        if self.firing:
            names = ",".join(self.firing)
            which = "it is a known" if len(self.firing) == 1 else "they are known"
            hints.append(
                f" If {which}, accepted warning, run 10_verify again with "
                f"{md_code(f'ignore_monitors={names!r}')}."
            )
        if any(c.name == _AUTOSCALER and c.passed is False for c in self.checks):
            hints.append(
                " If the autoscaler is meant to stay at its maximum while the load lasts, "
                f"add {md_code('accept_hpa_at_max=True')}."
            )
        return "".join(hints)

    def summary(self) -> str:
        """Markdown: the verdict, what blocks it (monitors by name), since when errors are down.

        Monitor names are quoted (:func:`~incident_lib.core.text.md_code`): they come
        from the monitoring system, not from us.
        """
        held = format_duration(self.period.duration)
        began = (
            f" Error rate back under its threshold since {self.recovery_began:%H:%M} UTC."
            if self.recovery_began is not None
            else ""
        )
        skipped = f" Skipped (does not apply): {', '.join(self.skipped)}." if self.skipped else ""
        if self.resolved:
            applied = len(self.checks) - len(self.skipped)
            return (
                f"Resolved: all {applied} recovery checks held for {held} "
                f"up to {self.as_of:%H:%M} UTC.{began}{skipped}"
            )
        parts = []
        if self.failing:
            parts.append(f"failing: {', '.join(self.failing)}")
        if self.unknown:
            parts.append(f"unknown: {', '.join(self.unknown)}")
        firing = (
            f" Still firing: {', '.join(md_code(m) for m in self.firing)}." if self.firing else ""
        )
        return (
            f"Not resolved as of {self.as_of:%H:%M} UTC ({held} stability period); "
            f"{'; '.join(parts)}.{firing}{self.override_hint()}{began}{skipped}"
        )


# -- helpers -------------------------------------------------------------------------------


def _unknown(name: str, description: str, threshold: str, detail: str) -> RecoveryCheck:
    return RecoveryCheck(name, description, threshold, "—", math.nan, None, detail)


def _skipped(name: str, description: str, detail: str) -> RecoveryCheck:
    return RecoveryCheck(name, description, "—", "—", math.nan, None, detail, skipped=True)


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


@dataclass(frozen=True, slots=True)
class _RateLimits:
    """The success-rate and error-rate thresholds in force, and how they were set."""

    success: float
    success_basis: str
    error: float
    error_basis: str


def _rate_limits(metrics: pd.DataFrame, baseline: Window, thr: RecoveryThresholds) -> _RateLimits:
    """Explicit thresholds where set, else relative to the baseline (see the module docstring)."""
    import pandas as pd

    errors, requests = _rate_bins(metrics, pd.Timestamp(baseline.start), pd.Timestamp(baseline.end))
    total = float(requests.sum())
    size = min(_bins_in(thr.rate_window), max(len(errors), 1))
    windows = _rolling_ratio(errors, requests, size).iloc[size - 1 :].dropna()
    factor = f"{thr.error_factor:g} ×"
    if thr.success_rate:
        success, success_basis = thr.success_rate, "set by the responder"
    elif total > 0:
        failed_share = 100 * float(errors.sum()) / total
        allowed = max(thr.error_factor * failed_share, thr.failure_floor)
        success = 100 - allowed
        success_basis = (
            f"{factor} the baseline's failed share {format_percent(failed_share)}"
            if allowed > thr.failure_floor
            else f"the floor; baseline failed share {format_percent(failed_share)}"
        )
    else:
        success, success_basis = 100 - thr.failure_floor, "the floor: no baseline traffic"
    if thr.error_rate:
        error, error_basis = thr.error_rate, "set by the responder"
    elif not windows.empty:
        level = float(windows.quantile(0.95))
        error = max(thr.error_factor * level, thr.error_floor)
        error_basis = (
            f"{factor} the baseline's p95 {format_percent(level)}"
            if error > thr.error_floor
            else f"the floor; baseline p95 {format_percent(level)}"
        )
    else:
        error, error_basis = thr.error_floor, "the floor: no baseline traffic"
    return _RateLimits(success, success_basis, error, error_basis)


def _success_check(
    errors: pd.Series,
    requests: pd.Series,
    thr: RecoveryThresholds,
    limits: _RateLimits,
    problem: str,
) -> RecoveryCheck:
    name, desc = "success rate", "share of requests that succeeded over the period"
    threshold = (
        f"≥ {format_percent(limits.success)} over {format_duration(thr.stability)} "
        f"({limits.success_basis})"
    )
    total = float(requests.sum())
    if problem or total <= 0:
        return _unknown(name, desc, threshold, problem or "no requests in the period")
    rate = 100 * (1 - float(errors.sum()) / total)
    passed = rate >= limits.success
    return RecoveryCheck(name, desc, threshold, format_percent(rate), rate, passed, "")


def _error_check(
    errors: pd.Series,
    requests: pd.Series,
    thr: RecoveryThresholds,
    limits: _RateLimits,
    problem: str,
) -> RecoveryCheck:
    name = "error rate"
    desc = f"{metric_info('error_ratio').name}, held in every rolling window"
    size = min(_bins_in(thr.rate_window), len(errors))
    label = format_duration(size * _MINUTE)
    threshold = f"≤ {format_percent(limits.error)} in every {label} window ({limits.error_basis})"
    ratios = _rolling_ratio(errors, requests, size).iloc[size - 1 :].dropna()
    if problem or ratios.empty:
        return _unknown(name, desc, threshold, problem or "no requests in the period")
    worst_end = cast("pd.Timestamp", ratios.idxmax())
    worst = float(ratios.max())
    window_start = worst_end - (size - 1) * _MINUTE
    observed = f"worst {label} window {format_percent(worst)} (from {_at(window_start)})"
    passed = worst <= limits.error
    detail = "" if passed else f"{int((ratios > limits.error).sum())} window(s) over"
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
    if series.empty and not metrics.empty:
        return _skipped(
            name,
            desc,
            f"no {db.key} metric for this service (no database, or it is not measured)",
        )
    bins = _minute_means(series, pd.Timestamp(period.start), pd.Timestamp(period.end))
    threshold = f"baseline median ± {thr.db_band:g} robust SD"
    problem = _coverage_problem(bins, series, thr.coverage)
    if problem:
        return _unknown(name, desc, threshold, problem)
    level, width = _band(series, baseline, thr.db_band, thr.band_floor)
    if math.isnan(level):
        return _unknown(name, desc, threshold, "no baseline data")
    threshold = (
        f"{db.format(level - width, unit=False)} – {db.format(level + width)} "
        f"(baseline median {db.format(level)})"
    )
    deviation = (bins - level).abs()
    worst_at = cast("pd.Timestamp", deviation.idxmax())
    worst = float(bins[worst_at])
    passed = float(deviation.max()) <= width
    outside = int((deviation > width).sum())
    return RecoveryCheck(
        name,
        desc,
        threshold,
        f"furthest 1-min mean {db.format(worst)} ({_at(worst_at)})",
        worst,
        passed,
        "" if passed else f"{outside} minute(s) outside the band",
    )


def _db_sessions_check(
    activity: pd.DataFrame, settings: pd.DataFrame, period: Window, thr: RecoveryThresholds
) -> RecoveryCheck:
    """Client connections of every configured database under ``db_share`` of its slots."""
    name = "db sessions"
    desc = (
        f"every pg_stat_activity sample of the period under {thr.db_share:.0%} of the slots "
        "ordinary roles get"
    )
    inside = period.select(activity, "sampled_at")
    limits = connection_limits(settings)
    if activity.empty:
        return _unknown(name, desc, f"≤ {thr.db_share:.0%} of the slots", "no data")
    if inside.empty:
        return _unknown(name, desc, f"≤ {thr.db_share:.0%} of the slots", "no sample in the period")
    thresholds, observed, failing, unknown = [], [], [], []
    worst_share = 0.0
    for target in sorted(inside["target"].unique()):
        limit = limits.get(str(target))
        if limit is None or limit.available <= 0:
            unknown.append(f"{target}: settings not captured")
            continue
        most = int(thr.db_share * limit.available)
        counts = client_counts(inside, target)
        peak = int(counts.max())
        worst_share = max(worst_share, peak / limit.available)
        where = "" if target == "default" else f"{target}: "
        thresholds.append(f"{where}≤ {most} of {limit.available}")
        observed.append(
            f"{where}most {peak} ({len(counts)} samples, {counts.index.min():%H:%M:%S}–"
            f"{counts.index.max():%H:%M:%S})"
        )
        if peak > most:
            failing.append(f"{where}{peak} connections at {counts.idxmax():%H:%M}")
    if unknown and not observed:
        return _unknown(name, desc, "—", "; ".join(unknown))
    passed = None if unknown else not failing
    return RecoveryCheck(
        name,
        desc,
        "; ".join(thresholds),
        "; ".join(observed),
        worst_share,
        passed if not failing else False,
        "; ".join([*failing, *unknown]),
    )


#: the name of the autoscaler check (kept stable for callers)
_AUTOSCALER = "autoscaler below max"


def _autoscaler_check(hpa: pd.DataFrame, events: pd.DataFrame, period: Window) -> RecoveryCheck:
    """No autoscaler of the service at its maximum replica count during the period."""
    import pandas as pd

    name = _AUTOSCALER
    desc = "no autoscaler at its max replicas at any moment of the period"
    threshold = "below max replicas"
    captured = pd.Timestamp(hpa["captured_at"].min())
    if pd.isna(captured) or captured < pd.Timestamp(period.start):
        when = "" if pd.isna(captured) else f" at {_at(captured)}"
        return _unknown(name, desc, threshold, f"autoscalers captured{when}, before the period")
    spans = [s for s in at_max_spans(hpa, events) if s.overlaps(period)]
    latest = hpa.drop_duplicates("hpa").sort_values("hpa", kind="stable")
    observed = "; ".join(
        f"{hpa_name} {current} of max {most} at {_at(pd.Timestamp(at))}"
        for hpa_name, current, most, at in zip(
            latest["hpa"],
            latest["current_replicas"],
            latest["max_replicas"],
            latest["captured_at"],
            strict=True,
        )
    )
    detail = "; ".join(
        f"{s.hpa} {s.describe()}" + (f" ({s.limited_by.split(':', 1)[0]})" if s.limited_by else "")
        for s in spans
    )
    return RecoveryCheck(name, desc, threshold, observed, float(len(spans)), not spans, detail)


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
    firing_names: list[str] = []
    fired: list[str] = []
    for _, group in events.groupby("monitor_id", sort=False):
        label = str(group["monitor"].iloc[-1])
        before = group[group["time"] < start]
        during = group[group["time"] >= start]
        was_firing = len(before) > 0 and before["state"].iloc[-1] in FIRING_STATES
        if group["state"].iloc[-1] in FIRING_STATES:
            firing_now.append(f"{label} ({group['state'].iloc[-1]})")
            firing_names.append(label)
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
    return RecoveryCheck(
        name,
        desc,
        threshold,
        observed,
        float(count),
        count == 0,
        detail,
        firing=tuple(firing_names),
    )


def _pod_check(pods: pd.DataFrame, period: Window, window: Window | None) -> RecoveryCheck:
    import pandas as pd

    name, desc = "pods", "every container Running and ready, none restarted in the period"
    threshold = f"all running and ready, no restart in the last {format_duration(period.duration)}"
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
    earlier: list[str] = []
    for row in pods.to_dict("records"):
        why = []
        if row["phase"] != "Running":
            why.append(f"phase {row['phase']}")
        if not row["ready"]:
            why.append("not ready")
        ended = row["last_termination_at"]
        cause = row["last_termination_reason"]
        reason = cause if isinstance(cause, str) else ""
        restarted = (
            ""
            if pd.isna(ended)
            else f"restarted at {_at(ended)}" + (f" ({reason})" if reason else "")
        )
        if not pd.isna(ended) and start <= ended < end:
            why.append(restarted)
        elif (
            window is not None and not pd.isna(ended) and pd.Timestamp(window.start) <= ended < end
        ):
            earlier.append(f"{row['pod']}/{row['container']} {restarted}")
        if why:
            problems.append(f"{row['pod']}/{row['container']}: {', '.join(why)}")
    total = len(pods)
    restarted_in = len(earlier) + sum("restarted at" in p for p in problems)
    observed = f"{total - len(problems)}/{total} containers healthy"
    if window is not None:
        observed += (
            f"; {restarted_in} container(s) restarted in the incident window"
            if restarted_in
            else "; no restart in the incident window"
        )
    details = problems + ([f"earlier in the incident: {', '.join(earlier)}"] if earlier else [])
    return RecoveryCheck(
        name,
        desc,
        threshold,
        observed,
        float(len(problems)),
        not problems,
        "; ".join(details[:5]) + (f"; +{len(details) - 5} more" if len(details) > 5 else ""),
    )


def _recovery_began(
    metrics: pd.DataFrame, period: Window, thr: RecoveryThresholds, limit: float
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
    passing = (ratios <= limit).to_numpy()
    if not passing[-1]:
        return None
    first = len(passing) - 1
    while first > 0 and passing[first - 1]:
        first -= 1
    if not (ratios.iloc[:first] > limit).any():
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
    window: Window | None = None,
    db_activity: pd.DataFrame | None = None,
    db_settings: pd.DataFrame | None = None,
    hpa: pd.DataFrame | None = None,
    k8s_events: pd.DataFrame | None = None,
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
        The window that defines normal: latency, DB connections, and the relative
        success-rate and error-rate thresholds.
    as_of
        The check time (aware); the period is ``[as_of - stability, as_of)``.
    thresholds
        See :class:`RecoveryThresholds`.
    window
        The incident window: restarts inside it are counted and named by the pods
        check (only those inside the stability period fail it).
    db_activity, db_settings
        ``pg_activity`` and ``pg_settings`` frames when the incident has a database
        (the DB sessions check); ``None``: no such check.
    hpa, k8s_events
        ``hpa`` and ``k8s_events`` frames (the autoscaler check, with the
        ``SuccessfulRescale`` history); ``None`` or an empty ``hpa`` (the service
        has no autoscaler): no such check.

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
    limits = _rate_limits(metrics, baseline, thresholds)
    checks: tuple[RecoveryCheck, ...] = (
        _success_check(errors, requests, thresholds, limits, rate_problem),
        _error_check(errors, requests, thresholds, limits, rate_problem),
        _latency_check(metrics, baseline, period, thresholds),
        _monitor_check(monitor_events, period, thresholds),
        _pod_check(pods, period, window),
        _db_check(metrics, baseline, period, thresholds),
    )
    if db_activity is not None:
        settings = db_settings if db_settings is not None else empty_frame("pg_settings")
        checks = (*checks, _db_sessions_check(db_activity, settings, period, thresholds))
    if hpa is not None and not hpa.empty:
        events = k8s_events if k8s_events is not None else empty_frame("k8s_events")
        if thresholds.accept_hpa_at_max:
            accepted = _skipped(
                _AUTOSCALER,
                "no autoscaler at its max replicas at any moment of the period",
                "accepted: accept_hpa_at_max is set (kept at max on purpose)",
            )
            checks = (*checks, accepted)
        else:
            checks = (*checks, _autoscaler_check(hpa, events, period))
    return RecoveryVerdict(
        as_of=moment,
        period=period,
        checks=checks,
        recovery_began=_recovery_began(metrics, period, thresholds, limits.error),
    )


def recovery_findings(
    verdict: RecoveryVerdict, *, ref: str = "", status: str | None = None
) -> list[Finding]:
    """The verdict as findings: resolved (info), or not yet with each failing check (high).

    Parameters
    ----------
    verdict
        From :func:`check_recovery`.
    ref
        A chart or file the findings point to.
    status
        The incident record's status: a record that says ``resolved`` while the
        checks say not yet is itself a finding (the record contradicts the evidence).

    Returns
    -------
    list of Finding
        A "not yet" finding names the monitors still firing and how to accept them
        (``ignore_monitors``); skipped checks are listed as skipped. The verdict
        is the fact ``recovery`` and a record that contradicts it the fact
        ``record-status``, both in the role ``response`` (where the response stands).
    """
    skipped = (
        f" Skipped: {', '.join(f'{c.name} ({c.detail})' for c in verdict.checks if c.skipped)}."
        if verdict.skipped
        else ""
    )
    if verdict.resolved:
        began = (
            f"; errors back down since {verdict.recovery_began:%H:%M} UTC"
            if verdict.recovery_began is not None
            else ""
        )
        applied = len(verdict.checks) - len(verdict.skipped)
        return [
            Finding(
                title=f"Recovery verified at {verdict.as_of:%H:%M} UTC",
                severity="info",
                summary=f"All {applied} checks held for "
                f"{format_duration(verdict.period.duration)}{began}.{skipped}",
                ref=ref,
                fact="recovery",
                role="response",
            )
        ]
    blocking = [c for c in verdict.checks if c.passed is not True and not c.skipped]
    names = [
        f"monitor(s) {', '.join(verdict.firing)} still firing"
        if c.name == "monitors" and verdict.firing
        else c.name
        for c in blocking
    ]
    override = (
        f" To accept {'it' if len(verdict.firing) == 1 else 'them'} as a known warning, "
        f'run 10_verify with ignore_monitors="{",".join(verdict.firing)}".'
        if verdict.firing
        else ""
    )
    if any(c.name == _AUTOSCALER and c.passed is False for c in blocking):
        override += (
            " If the autoscaler is meant to stay at its maximum while the load lasts, "
            "run 10_verify with accept_hpa_at_max=True."
        )
    # nothing failed, it just could not be checked: that is "unknown", not "not resolved"
    unknown_only = all(c.passed is None for c in blocking)
    headline = (
        f"Recovery unknown at {verdict.as_of:%H:%M} UTC: no data for "
        if unknown_only
        else f"Not resolved yet at {verdict.as_of:%H:%M} UTC: "
    )
    found = [
        Finding(
            title=shorten(headline + ", ".join(names), _TITLE_WIDTH),
            severity="high",
            summary="; ".join(
                f"{c.name}: observed {c.observed}, needs {c.threshold}"
                + (f" ({c.detail})" if c.detail else "")
                for c in blocking
            )
            + "."
            + override
            + skipped,
            ref=ref,
            fact="recovery",
            role="response",
        )
    ]
    if status == "resolved":
        found.append(
            Finding(
                title=shorten(
                    "The incident record says resolved, but the recovery checks say not yet",
                    _TITLE_WIDTH,
                ),
                severity="high",
                summary=f"As of {verdict.as_of:%H:%M} UTC: "
                + ", ".join(names)
                + ". Either the incident is not over (reopen it), or what still blocks "
                "the verdict is accepted (say so with the thresholds)." + override,
                ref=ref,
                fact="record-status",
                role="response",
            )
        )
    return found
