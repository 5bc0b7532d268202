"""Shared selection over the PostgreSQL frames: one target, client backends, sample times.

Every frame of the PostgreSQL source carries ``target`` (the configured database's
name). The analysis never mixes targets: a function given a ``target`` reads only
its rows, and a function given none reads the only target present (several
targets without a choice are an error naming them, never a silent sum of two
servers' sessions).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from ...core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CLIENT_BACKEND",
    "IDLE_IN_TRANSACTION",
    "clock",
    "of_target",
    "one_target",
    "sample_index",
    "settings_of",
    "targets",
    "text",
]

#: the ``backend_type`` of sessions opened by clients (what ``max_connections`` counts)
CLIENT_BACKEND = "client backend"
#: the states of a session inside a transaction that waits for its client
IDLE_IN_TRANSACTION = ("idle in transaction", "idle in transaction (aborted)")


def text(value: object) -> str:
    """``value`` as text; missing values (``None``, NaN) as ``""``."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def clock(moment: object) -> str:
    """``14:24 UTC`` of an aware timestamp (the way findings write times)."""
    if not isinstance(moment, datetime) or moment != moment:  # NaT is a datetime unequal to itself
        return "—"
    return f"{moment:%H:%M} UTC"


def targets(frame: pd.DataFrame) -> list[str]:
    """The targets present in ``frame``, sorted."""
    return sorted({text(t) for t in frame["target"].unique()})  # one text() per distinct value


def one_target(frame: pd.DataFrame, target: str | None) -> str | None:
    """The target to read: ``target`` when given, else the only one present.

    Returns
    -------
    str or None
        ``None`` for a frame without rows and no target given.

    Raises
    ------
    InvalidInput
        When ``target`` is ``None`` and the frame holds several targets.
    """
    if target is not None:
        return target
    present = targets(frame)
    if len(present) > 1:
        raise InvalidInput(
            f"the frame holds {len(present)} databases ({', '.join(present)}); "
            "pass target= one of them"
        )
    return present[0] if present else None


def of_target(frame: pd.DataFrame, target: str | None) -> pd.DataFrame:
    """The rows of ``target`` (all rows for ``None``)."""
    if target is None:
        return frame
    return frame[frame["target"] == target]


def sample_index(activity: pd.DataFrame) -> pd.DatetimeIndex:
    """The distinct ``sampled_at`` of ``activity``, sorted, as a UTC index named ``sampled_at``."""
    import pandas as pd

    moments = activity["sampled_at"].dropna().unique()  # distinct first: no Python per row
    times = pd.DatetimeIndex(sorted(moments), name="sampled_at")
    if times.tz is None:
        times = times.tz_localize("UTC")
    return times


def settings_of(settings: pd.DataFrame, target: str) -> dict[str, tuple[str, str]]:
    """``{name: (setting, unit)}`` of one target's ``pg_settings`` rows."""
    rows = of_target(settings, target)
    return {
        text(n): (text(s), text(u))
        for n, s, u in zip(rows["name"], rows["setting"], rows["unit"], strict=True)
    }
