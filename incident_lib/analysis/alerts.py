"""Monitor / alert state changes: what fired, when, and what is still firing."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FIRING_STATES", "alert_summary"]

FIRING_STATES = ("alert", "warn")


def alert_summary(
    monitor_events: pd.DataFrame, *, as_of: datetime, window: Window | None = None
) -> pd.DataFrame:
    """One row per monitor that fired (in ``window`` if given), as of ``as_of``.

    Columns: ``monitor``, ``state`` (its state at ``as_of``), ``firing`` (bool),
    ``first_fired``, ``last_change``, ``times_fired``. Firing monitors first.
    """
    import pandas as pd

    cols = ["monitor", "state", "firing", "first_fired", "last_change", "times_fired"]
    events = monitor_events[monitor_events["time"] <= pd.Timestamp(as_of)]
    if window is not None:
        events = events[events["time"] < pd.Timestamp(window.end)]
    rows = []
    for monitor, group in events.sort_values("time").groupby("monitor"):
        fired = group[group["state"].isin(FIRING_STATES)]
        if window is not None:
            fired = fired[fired["time"] >= pd.Timestamp(window.start)]
        if fired.empty:
            continue
        state = str(group["state"].iloc[-1])
        rows.append(
            {
                "monitor": monitor,
                "state": state,
                "firing": state in FIRING_STATES,
                "first_fired": fired["time"].iloc[0],
                "last_change": group["time"].iloc[-1],
                "times_fired": int((fired["state"] == "alert").sum() or len(fired)),
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["firing", "first_fired"], ascending=[False, True]).reset_index(
        drop=True
    )
