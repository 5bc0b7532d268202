"""Live data sources: one module per system, each returning contract frames.

Sources are added one system at a time; :func:`live_fetch` is the single
entry point the runbook context calls in live mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SourceUnavailable

if TYPE_CHECKING:
    import pandas as pd

    from .._types import Window
    from ..incident import Incident

__all__ = ["live_fetch"]


def live_fetch(source: str, name: str, incident: Incident, window: Window) -> pd.DataFrame:
    """Fetch ``source``/``name`` for ``incident`` over ``window`` from the live system.

    Raises
    ------
    SourceUnavailable
        The source is not configured, unreachable or refuses; the reason says which.
    """
    raise SourceUnavailable(
        source,
        f"no live {source} connector is installed in this version of incident_lib; "
        "run offline over captured evidence",
    )
