"""Live data sources: one module per system, each returning contract frames.

Sources are added one system at a time; :func:`live_fetch` is the single
entry point the runbook context calls in live mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import InvalidInput, SourceUnavailable

if TYPE_CHECKING:
    import pandas as pd

    from ..core.incident import Incident
    from ..core.time import Window

__all__ = ["METRICS_SOURCES", "check_metrics_source", "live_fetch"]

#: sources that can provide the ``metrics`` and ``monitor_events`` frames
METRICS_SOURCES = ("datadog", "prometheus")


def check_metrics_source(name: str) -> str:
    """Return ``name`` if it is a metrics source, else raise :class:`InvalidInput`."""
    if name not in METRICS_SOURCES:
        raise InvalidInput(
            f"metrics_source {name!r} is not known: use one of {', '.join(METRICS_SOURCES)}"
        )
    return name


def live_fetch(
    source: str, name: str, incident: Incident, window: Window, *, progress: bool = False
) -> pd.DataFrame:
    """Fetch ``source``/``name`` for ``incident`` over ``window`` from the live system.

    Parameters
    ----------
    source, name
        Which frame, e.g. ``("kubernetes", "logs")``.
    incident, window
        What to fetch it for: namespace, label selector, time range.
    progress
        Show a progress bar where a fetch has many parts (pod logs).

    Raises
    ------
    SourceUnavailable
        The source is not configured, unreachable or refuses; the reason says which.
        Sources not connected yet say so.
    """
    if source == "kubernetes":
        from . import kubernetes

        return kubernetes.fetch(name, incident, window, progress=progress)
    if source == "datadog":
        from . import datadog

        return datadog.fetch(name, incident, window, progress=progress)
    if source == "prometheus":
        from . import prometheus

        return prometheus.fetch(name, incident, window, progress=progress)
    raise SourceUnavailable(
        source,
        f"no live {source} connector in this version of incident_lib; "
        "run offline over captured evidence",
    )
