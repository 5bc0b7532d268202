"""Charts: one matplotlib style for every chart, ``f(frame, *, ...) -> Figure``.

* :mod:`.panels`: metric panels, signature lines, usage panels, change markers and
  the incident timeline;
* :mod:`.database`: connections against the limit, per-application growth,
  idle-in-transaction ages and the blocking tree.

Each chart's layout is fixed when it is built, from its own text; :func:`png`
saves a chart drawn once.

matplotlib is imported inside the functions, never at import.
"""

from __future__ import annotations

from ._layout import png
from .database import (
    blocking_tree_chart,
    connection_growth_chart,
    connections_chart,
    idle_in_transaction_chart,
)
from .panels import (
    change_key,
    mark_changes,
    metric_panels,
    shade_window,
    signature_lines,
    stack_badges,
    style,
    timeline_chart,
    usage_panels,
)

__all__ = [
    "blocking_tree_chart",
    "change_key",
    "connection_growth_chart",
    "connections_chart",
    "idle_in_transaction_chart",
    "mark_changes",
    "metric_panels",
    "png",
    "shade_window",
    "signature_lines",
    "stack_badges",
    "style",
    "timeline_chart",
    "usage_panels",
]
