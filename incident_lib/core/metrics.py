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
    "Direction",
    "Metric",
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
    """

    key: str
    name: str
    unit: str = ""
    decimals: int | None = None
    bad: Direction = "both"
    scale: float = 1.0

    @property
    def label(self) -> str:
        """Name with the unit in brackets, for row labels: ``p95 latency (ms)``."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    def display(self, value: float) -> float:
        """A frame value in display units (``memory`` bytes -> GiB)."""
        return value / self.scale

    def format(self, value: float | None, *, unit: bool = True) -> str:
        """A frame value for reading: ``30,045 ms``, ``1.56 GiB``; ``—`` when missing.

        Parameters
        ----------
        value
            The value as stored in frames (before :attr:`scale`); ``None`` or NaN
            reads ``—``.
        unit
            Append the unit (tables that carry it in the row label leave it off).
        """
        if value is None or math.isnan(value):
            return "—"
        shown = self.display(value)
        if self.decimals is not None:
            text = f"{shown:,.{self.decimals}f}"
        else:
            text = f"{shown:,.0f}" if abs(shown) >= 100 else f"{shown:.3g}"
        return f"{text} {self.unit}" if unit and self.unit else text


_TABLE = (
    Metric("request_rate", "Request rate", "req/s", 0, "both"),
    Metric("error_rate", "5xx error rate", "errors/s", 2, "up"),
    Metric("error_ratio", "5xx share of requests", "%", 2, "up"),
    Metric("latency_p95", "p95 latency", "ms", 0, "up"),
    Metric("cpu", "CPU usage", "cores", 2, "up"),
    Metric("memory", "Memory usage", "GiB", 2, "up", scale=2**30),
    Metric("db_connections", "DB connections", "", 0, "up"),
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
