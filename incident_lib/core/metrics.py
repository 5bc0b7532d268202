"""The metric vocabulary: one row per canonical metric key, read by every layer.

Metric keys in frames stay short and stable (``latency_p95``); people read the
display name and unit (``p95 latency (ms)``). Charts, tables, findings and the
status-update drafts all take names, units, value formats and the direction that
is bad from here, so a metric is described the same way everywhere.

=================  =======================  ========  ==========  ====  ============
key                name                     unit      decimals    bad   frame value
=================  =======================  ========  ==========  ====  ============
request_rate       Request rate             req/s     0           both  per second
error_rate         5xx error rate           errors/s  2           up    per second
error_ratio        5xx share of requests    %         2           up    percent
latency_p95        p95 latency              ms        0           up    ms
cpu                CPU usage                cores     2           up    cores
memory             Memory usage             GiB       2           up    bytes
db_connections     DB connections           —         0           up    count
=================  =======================  ========  ==========  ====  ============

A plain count has no unit but says what it counts when a value stands alone
(``87 connections``). One formatter per unit: every percentage of the 5xx share,
success rate or threshold goes through :func:`format_percent` (``0.06 %``,
``< 0.01 %``), every share of a limit through :func:`format_share` (``93%``),
every growth figure through :func:`format_growth`, which refuses a ratio that
rests on too few baseline events (``1 event in the baseline``).

A key not in the table (a live source may bring others) gets a readable
fallback from :func:`metric_info`: the key humanised (``queue_depth`` ->
``Queue depth``), no unit, values rounded to three significant figures, and
both directions treated as bad. Pure values: no I/O, nothing heavy imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "METRICS",
    "MIN_BASELINE_EVENTS",
    "Direction",
    "Metric",
    "format_growth",
    "format_percent",
    "format_share",
    "metric_info",
    "metric_label",
]

#: a direction of change: ``up`` (rises), ``down`` (drops) or ``both``
Direction = Literal["up", "down", "both"]


@dataclass(frozen=True, slots=True)
class Metric:
    """How one metric is named, measured and shown.

    Attributes
    ----------
    key
        The canonical key used in frames (``latency_p95``).
    name
        Display name, usable at the start of a sentence (``p95 latency``).
    unit
        Display unit (``ms``); empty for a plain count or an unknown metric.
    decimals
        Decimal places shown; ``None``: three significant figures (thousands
        separated from 100 up).
    bad
        Which direction of change is bad: ``up``, ``down`` or ``both``.
    scale
        Frame values are divided by this for display (bytes -> GiB: ``2**30``).
    noun
        What a unitless count counts (``connections``), said after a value that
        stands alone; never in the label.
    """

    key: str
    name: str
    unit: str = ""
    decimals: int | None = None
    bad: Direction = "both"
    scale: float = 1.0
    noun: str = ""

    @property
    def label(self) -> str:
        """Name with the unit in brackets, for row labels: ``p95 latency (ms)``."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    def display(self, value: float) -> float:
        """A frame value in display units (``memory`` bytes -> GiB)."""
        return value / self.scale

    def format(self, value: float | None, *, unit: bool = True) -> str:
        """A frame value for reading: ``30,045 ms``, ``1.56 GiB``; ``—`` when missing.

        A value that is not zero never reads as zero: ``< 0.01 %``; a percentage
        just under 100 never reads 100: ``> 99.99 %``.

        Parameters
        ----------
        value
            The value as stored in frames (before :attr:`scale`); ``None`` or NaN
            reads ``—``.
        unit
            Append the unit, or for a unitless count its :attr:`noun` (tables that
            carry it in the row label leave it off).
        """
        if value is None or math.isnan(value):
            return "—"
        shown = self.display(value)
        if self.decimals is not None:
            text = f"{shown:,.{self.decimals}f}"
            step = 10.0**-self.decimals
            if shown != 0 and float(text.replace(",", "")) == 0:
                text = f"{'> -' if shown < 0 else '< '}{step:.{self.decimals}f}"
            elif self.unit == "%" and 100 - step < shown < 100:
                text = f"> {100 - step:.{self.decimals}f}"
        else:
            text = f"{shown:,.0f}" if abs(shown) >= 100 else f"{shown:.3g}"
        suffix = self.unit or self.noun
        return f"{text} {suffix}" if unit and suffix else text


_TABLE = (
    Metric("request_rate", "Request rate", "req/s", 0, "both"),
    Metric("error_rate", "5xx error rate", "errors/s", 2, "up"),
    Metric("error_ratio", "5xx share of requests", "%", 2, "up"),
    Metric("latency_p95", "p95 latency", "ms", 0, "up"),
    Metric("cpu", "CPU usage", "cores", 2, "up"),
    Metric("memory", "Memory usage", "GiB", 2, "up", scale=2**30),
    Metric("db_connections", "DB connections", "", 0, "up", noun="connections"),
)

#: canonical metric key -> :class:`Metric` (read-only)
METRICS: Mapping[str, Metric] = MappingProxyType({m.key: m for m in _TABLE})


def _humanise(key: str) -> str:
    text = " ".join(key.replace("_", " ").split())
    return text[:1].upper() + text[1:] if text else "(unnamed metric)"


def metric_info(key: str) -> Metric:
    """The vocabulary entry of ``key``, or a readable fallback for an unknown key.

    Parameters
    ----------
    key
        A metric key as found in a frame's ``metric`` column.

    Returns
    -------
    Metric
        From :data:`METRICS`; for an unknown key: the key humanised as its name,
        no unit, three significant figures, both directions bad. Never raises.
    """
    key = str(key)
    found = METRICS.get(key)
    return found if found is not None else Metric(key=key, name=_humanise(key))


def metric_label(key: str) -> str:
    """``name (unit)`` of ``key`` (see :attr:`Metric.label`), e.g. ``p95 latency (ms)``."""
    return metric_info(key).label


#: fewer baseline events than this and a growth ratio (``205×``) says nothing
MIN_BASELINE_EVENTS = 10

_PERCENT = METRICS["error_ratio"]


def format_percent(value: float | None) -> str:
    """A percentage (0-100) for reading, the one way every percentage is written.

    Parameters
    ----------
    value
        A percentage such as a 5xx share, a success rate or a threshold.

    Returns
    -------
    str
        Two decimals and the unit (``0.06 %``, ``12.50 %``), ``< 0.01 %`` for a
        value above zero that would round to zero, ``> 99.99 %`` just under 100,
        ``—`` when missing.
    """
    return _PERCENT.format(value)


def format_share(share: float | None) -> str:
    """A share of a limit (0-1) as a whole percentage: ``93%``; ``—`` when missing."""
    if share is None or math.isnan(share):
        return "—"
    return f"{share:.0%}"


def format_growth(
    ratio: float | None, *, baseline_events: float | None = None, noun: str = "event"
) -> str:
    """A growth ratio (``3.2×``), or why there is none worth stating.

    Parameters
    ----------
    ratio
        Value now / value in the baseline.
    baseline_events
        How many events (or samples) the baseline value rests on; below
        :data:`MIN_BASELINE_EVENTS` the ratio is not stated, the count is:
        ``1 event in the baseline``. ``None``: not known, the ratio is shown.
    noun
        What was counted (``event``, ``failed request``, ``sample``).

    Returns
    -------
    str
        ``3.2×``, ``2 events in the baseline``, ``none in the baseline``, or ``—``.
    """
    if baseline_events is not None and not math.isnan(baseline_events):
        count = round(baseline_events)
        if count == 0:
            return "none in the baseline"
        if count < MIN_BASELINE_EVENTS:
            return f"{count} {noun}{'' if count == 1 else 's'} in the baseline"
    if ratio is None or math.isnan(ratio):
        return "—"
    if math.isinf(ratio):
        return "none in the baseline"
    return f"{ratio:.1f}×"
