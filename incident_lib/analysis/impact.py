"""Impact of an incident from its metrics, and the response times (TTD, TTA, TTM, TTR).

Counting requests
-----------------
``request_rate`` and ``error_rate`` are rates per second (Datadog ``as_rate()``,
Prometheus ``rate()``). A count is the rate integrated over time: each sample
counts for the time to the next sample, at most one sampling step (the median
spacing of that series), and never past the window end. So irregular sampling
is handled, and a hole in the data adds nothing rather than being guessed at:
:attr:`Impact.coverage` says how much of the window the request samples cover.
A constant rate sampled without gaps integrates exactly.

``excess_failed`` is what failed beyond the baseline: ``failed - baseline ratio
× total``, with the baseline ratio request-weighted over the baseline window
(``Σ errors / Σ requests``), never below zero. The error ratio itself (peak,
time degraded) is the per-sample 5xx share of
:func:`~incident_lib.analysis.metrics.error_ratio`, weighted the same way.

Pure functions over the ``metrics`` contract frame: no I/O, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from ..core.findings import Finding, Level
from ..core.metrics import MIN_BASELINE_EVENTS, format_percent, metric_info
from ..core.time import Window, format_duration, parse_time
from .metrics import error_ratio, integrate, metric_series, sample_seconds

if TYPE_CHECKING:
    import pandas as pd

    from ..core.incident import Incident

__all__ = [
    "Impact",
    "Measure",
    "ResponseTimes",
    "estimate_impact",
    "impact_findings",
    "response_times",
]


@dataclass(frozen=True, slots=True)
class Impact:
    """Requests served and failed in a window (see the module docstring for the method).

    Attributes
    ----------
    window
        The window measured (usually the incident window).
    total_requests, failed_requests
        Integrated ``request_rate`` and ``error_rate`` over the window.
    excess_failed
        Failed requests beyond what the baseline error ratio would have
        produced (never below zero; NaN without baseline traffic).
    share_failed
        ``failed_requests / total_requests`` in percent (NaN without traffic).
    baseline_error_ratio
        Request-weighted error ratio of the baseline window, percent.
    baseline_failed
        Failed requests counted in the baseline window: below
        :data:`~incident_lib.core.metrics.MIN_BASELINE_EVENTS` the baseline share
        is stated with its count, not as a rate to compare with.
    peak_error_ratio, peak_at
        Highest per-sample error ratio in the window (percent) and when.
    degraded_above
        The error ratio (percent) above which the service counts as degraded.
    minutes_degraded
        Time the error ratio was above ``degraded_above``, in minutes.
    degraded_from, degraded_until
        First degraded sample and the end of the last one, or ``None``.
    coverage
        Share of the window covered by request-rate samples (0-1).
    """

    window: Window
    total_requests: float
    failed_requests: float
    excess_failed: float
    share_failed: float
    baseline_error_ratio: float
    baseline_failed: float
    peak_error_ratio: float
    peak_at: pd.Timestamp | None
    degraded_above: float
    minutes_degraded: float
    degraded_from: pd.Timestamp | None
    degraded_until: pd.Timestamp | None
    coverage: float

    def summary(self) -> str:
        """One or two sentences with the numbers rounded for people."""
        span = f"between {self.window.start:%H:%M} and {self.window.end:%H:%M} UTC"
        if not self.total_requests > 0:
            return f"No requests were recorded {span}."
        text = (
            f"About {_about(self.failed_requests)} of {_about(self.total_requests)} requests "
            f"({format_percent(self.share_failed)}) failed {span}"
        )
        if not math.isnan(self.excess_failed):
            text += (
                f", {_about(self.excess_failed)} more than the baseline {_SHARE} "
                f"({format_percent(self.baseline_error_ratio)}{self._baseline_support()}) "
                "would explain"
            )
        text += "."
        if self.minutes_degraded > 0 and self.degraded_from and self.degraded_until:
            text += (
                f" The {_SHARE} was above {self.degraded_above:g} % for "
                f"{format_duration(timedelta(minutes=self.minutes_degraded))} "
                f"({self.degraded_from:%H:%M}–{self.degraded_until:%H:%M} UTC), peaking at "
                f"{format_percent(self.peak_error_ratio)} at {self.peak_at:%H:%M} UTC."
            )
        if self.coverage < 0.9:
            text += f" Request samples cover only {self.coverage:.0%} of the window."
        return text

    def _baseline_support(self) -> str:
        """``, 1 failed request in the baseline`` when the baseline share rests on few events."""
        count = round(self.baseline_failed)
        if count >= MIN_BASELINE_EVENTS:
            return ""
        return f", {count} failed request{'' if count == 1 else 's'} in the baseline"


#: how the error ratio is named for people (the vocabulary's ``error_ratio``, lower case)
_SHARE = metric_info("error_ratio").name.lower()


def _about(count: float) -> str:
    """A count rounded for people: exact below 1,000, else three significant figures."""
    if count < 1000:
        return f"{round(count):,}"
    digits = 3 - len(str(int(count)))
    return f"{round(count, digits):,.0f}"


def _degraded(
    ratio: pd.Series, window: Window, above: float
) -> tuple[float, pd.Timestamp | None, pd.Timestamp | None]:
    """Minutes above ``above``, the first degraded sample, the end of the last one."""
    import pandas as pd

    values, seconds = sample_seconds(ratio, window)
    hits = seconds[values > above]
    if hits.empty:
        return 0.0, None, None
    last = hits.index[-1] + pd.Timedelta(seconds=float(hits.iloc[-1]))
    return float(hits.sum()) / 60, hits.index[0], last


def estimate_impact(
    metrics: pd.DataFrame, *, window: Window, baseline: Window, degraded_above: float = 1.0
) -> Impact:
    """Estimate the requests served, failed and failed in excess during ``window``.

    Parameters
    ----------
    metrics
        ``metrics`` contract frame with ``request_rate`` and ``error_rate`` (per
        second; scopes summed).
    window
        The window to measure, usually the incident window.
    baseline
        The window whose error ratio counts as normal.
    degraded_above
        Error ratio (percent) above which the service counts as degraded.

    Returns
    -------
    Impact
        Zeros (and NaN shares) when there is no traffic or no data.
    """
    requests = metric_series(metrics, "request_rate")
    errors = metric_series(metrics, "error_rate")
    total, covered = integrate(requests, window)
    failed, _ = integrate(errors, window)
    base_total, _ = integrate(requests, baseline)
    base_failed, _ = integrate(errors, baseline)
    base_ratio = base_failed / base_total * 100 if base_total > 0 else math.nan
    excess = max(failed - base_ratio / 100 * total, 0.0) if base_total > 0 else math.nan
    ratio = error_ratio(metrics)
    inside, _ = sample_seconds(ratio, window)
    minutes, since, until = _degraded(ratio, window, degraded_above)
    return Impact(
        window=window,
        total_requests=total,
        failed_requests=failed,
        excess_failed=excess,
        share_failed=failed / total * 100 if total > 0 else math.nan,
        baseline_error_ratio=base_ratio,
        baseline_failed=base_failed,
        peak_error_ratio=float(inside.max()) if len(inside) else math.nan,
        peak_at=cast("pd.Timestamp", inside.idxmax()) if len(inside) else None,
        degraded_above=degraded_above,
        minutes_degraded=minutes,
        degraded_from=since,
        degraded_until=until,
        coverage=covered / window.duration.total_seconds(),
    )


def impact_findings(impact: Impact, *, ref: str = "") -> list[Finding]:
    """Findings for the bundle: the failed requests, and how long the service was degraded.

    Severity of the first finding follows the share of requests that failed in
    excess of the baseline: ≥ 5 % high, ≥ 0.5 % medium, above zero low, else info.

    Both state the fact ``errors`` (with 02_assess's 5xx share and 05_metrics'
    error onset): the failed requests as the ``impact``, the time above the
    threshold as a ``symptom``. Without traffic the finding is ``context``.
    """
    if not impact.total_requests > 0:
        return [
            Finding(
                title="No request traffic recorded",
                severity="info",
                summary=impact.summary(),
                ref=ref,
                role="context",
            )
        ]
    excess = impact.failed_requests if math.isnan(impact.excess_failed) else impact.excess_failed
    share = excess / impact.total_requests * 100
    severity: Level = (
        "high" if share >= 5 else "medium" if share >= 0.5 else "low" if share > 0 else "info"
    )
    found = [
        Finding(
            title=(
                f"About {_about(impact.failed_requests)} requests failed "
                f"({format_percent(impact.share_failed)})"
            ),
            severity=severity,
            summary=impact.summary(),
            ref=ref,
            fact="errors",
            role="impact",
        )
    ]
    if impact.minutes_degraded > 0:
        duration = format_duration(timedelta(minutes=impact.minutes_degraded))
        found.append(
            Finding(
                title=f"{_SHARE[:1].upper()}{_SHARE[1:]} above {impact.degraded_above:g} % "
                f"for {duration}",
                severity="high" if impact.minutes_degraded >= 15 else "medium",
                summary=(
                    f"From {impact.degraded_from:%H:%M} to {impact.degraded_until:%H:%M} UTC, "
                    f"peaking at {format_percent(impact.peak_error_ratio)} at "
                    f"{impact.peak_at:%H:%M} UTC."
                ),
                ref=ref,
                fact="errors",
                role="symptom",
            )
        )
    return found


# -- response times ------------------------------------------------------------------------

#: what each response time measures, printed beside it (name, definition, from, to)
_MEASURES = (
    (
        "time to detect (TTD)",
        "from when impact began (the error-rate onset) until the incident was detected",
        "detected",
    ),
    (
        "time to acknowledge (TTA)",
        "from detection until a responder acknowledged the incident",
        "acknowledged",
    ),
    (
        "time to mitigate (TTM)",
        "from detection until the impact was stopped (the incident was mitigated)",
        "mitigated",
    ),
    (
        "time to resolve (TTR)",
        "from detection until the incident was resolved",
        "resolved",
    ),
)


@dataclass(frozen=True, slots=True)
class Measure:
    """One response time with its definition (a row of :meth:`ResponseTimes.measures`).

    Attributes
    ----------
    name
        ``"time to detect (TTD)"`` and so on.
    definition
        What it measures, in words, printed beside it.
    start, end
        The names of its two moments (``"onset"``, ``"detected"``...).
    start_at, end_at
        The two moments, ``None`` when not recorded.
    duration
        ``end_at - start_at``; ``None`` when a moment is missing.
    problem
        Why the value cannot be trusted (``""`` when it can): a moment not
        recorded, or the two moments in the wrong order (a record error).
    """

    name: str
    definition: str
    start: str
    end: str
    start_at: datetime | None
    end_at: datetime | None
    duration: timedelta | None
    problem: str = ""

    @property
    def valid(self) -> bool:
        """A duration is known and not negative."""
        return self.duration is not None and self.duration >= timedelta(0)

    @property
    def text(self) -> str:
        """The duration for people; ``"unknown"`` when missing or invalid (never zero)."""
        if not self.valid or self.duration is None:
            return "unknown"
        return format_duration(self.duration)

    @property
    def minutes(self) -> float:
        """The duration in minutes; NaN when unknown or invalid."""
        if not self.valid or self.duration is None:
            return math.nan
        return self.duration.total_seconds() / 60


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    """How fast the response went, from the incident record's timestamps.

    Attributes
    ----------
    impact_start
        When impact began: the onset if given, else the incident window start.
    detected, acknowledged, mitigated, resolved
        As recorded in ``incident.yaml`` (``None`` when not recorded).
    time_to_detect
        ``detected - impact_start``.
    time_to_acknowledge, time_to_mitigate, time_to_resolve
        ``acknowledged``, ``mitigated``, ``resolved`` minus ``detected``.
    impact_start_label
        What ``impact_start`` is: ``"onset"`` or ``"window start"``.

    Every duration is ``None`` when one of its two times is missing.
    :meth:`measures` gives each with its definition, ``"unknown"`` for a missing
    one and a record error for a negative one.
    """

    impact_start: datetime
    detected: datetime | None
    acknowledged: datetime | None
    mitigated: datetime | None
    resolved: datetime | None
    time_to_detect: timedelta | None
    time_to_acknowledge: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None
    impact_start_label: str = "window start"

    def measures(self) -> list[Measure]:
        """TTD, TTA, TTM and TTR with their definitions, moments and problems.

        A missing moment gives ``"unknown"`` (never zero) and says which one is
        not recorded; a negative duration is a record error that names the two
        moments in the wrong order and where to fix them.
        """
        moments: dict[str, datetime | None] = {
            self.impact_start_label: self.impact_start,
            "detected": self.detected,
            "acknowledged": self.acknowledged,
            "mitigated": self.mitigated,
            "resolved": self.resolved,
        }
        durations = (
            self.time_to_detect,
            self.time_to_acknowledge,
            self.time_to_mitigate,
            self.time_to_resolve,
        )
        out = []
        for (name, definition, end), duration in zip(_MEASURES, durations, strict=True):
            start = self.impact_start_label if end == "detected" else "detected"
            start_at, end_at = moments[start], moments[end]
            problem = _measure_problem(start, start_at, end, end_at)
            if not problem and end == "resolved":  # resolved must not precede mitigated
                problem = _measure_problem("mitigated", self.mitigated, end, end_at, missing=False)
            out.append(Measure(name, definition, start, end, start_at, end_at, duration, problem))
        return out

    def measures_frame(self) -> pd.DataFrame:
        """:meth:`measures` as a frame: ``measure``, ``definition``, ``from``, ``to``,
        ``duration`` (text, ``"unknown"`` when missing), ``minutes`` (NaN) and ``problem``."""
        import pandas as pd

        return pd.DataFrame(
            [
                (m.name, m.definition, m.start, m.end, m.text, m.minutes, m.problem)
                for m in self.measures()
            ],
            columns=["measure", "definition", "from", "to", "duration", "minutes", "problem"],
        )

    def problems(self) -> list[str]:
        """The record errors (negative durations) found, in measure order."""
        return [
            m.problem
            for m in self.measures()
            if m.start_at is not None and m.end_at is not None and m.problem
        ]

    def to_frame(self) -> pd.DataFrame:
        """One row per measure: ``measure``, ``from``, ``to``, ``duration`` (text), ``minutes``."""
        import pandas as pd

        rows = [
            ("time to detect (TTD)", "impact start", self.time_to_detect),
            ("time to acknowledge (TTA)", "detected", self.time_to_acknowledge),
            ("time to mitigate (TTM)", "detected", self.time_to_mitigate),
            ("time to resolve (TTR)", "detected", self.time_to_resolve),
        ]
        ends = ["detected", "acknowledged", "mitigated", "resolved"]
        return pd.DataFrame(
            [
                (
                    name,
                    start,
                    end,
                    "—" if delta is None else format_duration(delta),
                    math.nan if delta is None else delta.total_seconds() / 60,
                )
                for (name, start, delta), end in zip(rows, ends, strict=True)
            ],
            columns=["measure", "from", "to", "duration", "minutes"],
        )

    def summary(self) -> str:
        """One sentence, e.g. ``'Detected 2 min after impact began, acknowledged ...'``."""
        parts = []
        for label, delta, anchor in (
            ("detected", self.time_to_detect, "after impact began"),
            ("acknowledged", self.time_to_acknowledge, "later"),
            ("mitigated", self.time_to_mitigate, "after detection"),
            ("resolved", self.time_to_resolve, "after detection"),
        ):
            if delta is not None:
                parts.append(f"{label} {format_duration(delta)} {anchor}")
        if not parts:
            return "No response times recorded yet."
        text = ", ".join(parts)
        return text[0].upper() + text[1:] + "."


def _measure_problem(
    start: str,
    start_at: datetime | None,
    end: str,
    end_at: datetime | None,
    *,
    missing: bool = True,
) -> str:
    """Why a measure from ``start`` to ``end`` is unknown or wrong, or ``""``."""
    if start_at is None or end_at is None:
        if not missing:
            return ""
        absent = [name for name, moment in ((start, start_at), (end, end_at)) if moment is None]
        return f"{' and '.join(absent)} not recorded"
    if end_at >= start_at:
        return ""
    where = (
        "check the onset and times.detected in incident.yaml"
        if start in ("onset", "window start")
        else "check incident.yaml"
    )
    return (
        f"record error: {end} ({end_at:%Y-%m-%d %H:%M:%S}Z) is before {start} "
        f"({start_at:%Y-%m-%d %H:%M:%S}Z): {where}"
    )


def response_times(
    incident: Incident, *, impact_start: datetime | None = None, label: str = "onset"
) -> ResponseTimes:
    """Time to detect, acknowledge, mitigate and resolve from the incident record.

    Parameters
    ----------
    incident
        The record; its ``times`` give detected / acknowledged / mitigated / resolved.
    impact_start
        When impact began (e.g. the error-rate onset); default the window start.
    label
        What ``impact_start`` is, named in the measures (default ``"onset"``);
        ``"window start"`` when ``impact_start`` is not given.

    Returns
    -------
    ResponseTimes
        Durations are signed: detection before the estimated impact start gives a
        negative time to detect, a hint that ``impact_start`` is too late
        (:meth:`ResponseTimes.measures` flags it as a record error).
    """
    start = (
        parse_time(impact_start, field="impact_start")
        if impact_start is not None
        else incident.start
    )
    times = incident.times

    def since(anchor: datetime | None, moment: datetime | None) -> timedelta | None:
        return None if anchor is None or moment is None else moment - anchor

    return ResponseTimes(
        impact_start=start,
        detected=times.detected,
        acknowledged=times.acknowledged,
        mitigated=times.mitigated,
        resolved=times.resolved,
        time_to_detect=since(start, times.detected),
        time_to_acknowledge=since(times.detected, times.acknowledged),
        time_to_mitigate=since(times.detected, times.mitigated),
        time_to_resolve=since(times.detected, times.resolved),
        impact_start_label=label if impact_start is not None else "window start",
    )
