"""Connections against the server's limit: limits, counts over time, saturation.

What ordinary roles get
-----------------------
PostgreSQL refuses a new connection of an ordinary role once the free slots
are down to ``superuser_reserved_connections`` plus (16+) ``reserved_connections``:
with ``n`` client backends connected the next ordinary connection is refused when
``n >= max_connections - superuser_reserved_connections - reserved_connections``
(:attr:`ConnectionLimit.available`). That is the moment the limit is *reached*
(:attr:`Saturation.reached_at`), even though investigators with a reserved slot
can still get in and push the count higher.

Only client backends count (``backend_type == "client backend"``): autovacuum,
WAL senders and background workers have slots of their own.

Time to exhaustion
------------------
When the limit was not reached, the growth over the last 10 minutes of samples
(a least-squares line through the client-backend counts) is extrapolated to
the limit. Growth of less than one connection in those 10 minutes is flat: no
estimate (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ...core.errors import InvalidInput
from .frames import (
    CLIENT_BACKEND,
    IDLE_IN_TRANSACTION,
    of_target,
    one_target,
    sample_index,
    settings_of,
    targets,
    text,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "GROUPS",
    "GROWTH_SPAN",
    "ConnectionLimit",
    "Saturation",
    "client_counts",
    "connection_limits",
    "connections_over_time",
    "idle_in_transaction_series",
    "saturation",
]

#: the columns :func:`connections_over_time` can group by
GROUPS = ("state", "application_name", "client_addr", "usename")
#: how much of the end of the samples the time to exhaustion extrapolates
GROWTH_SPAN = timedelta(minutes=10)
#: PostgreSQL's default ``superuser_reserved_connections``
_DEFAULT_SUPERUSER_RESERVED = 3
_EMPTY_LABEL = {"client_addr": "(local socket)"}


@dataclass(frozen=True, slots=True)
class ConnectionLimit:
    """The connection limit of one target, from its ``pg_settings`` rows.

    Parameters
    ----------
    target
        The configured database's name.
    max_connections
        ``max_connections``.
    superuser_reserved
        ``superuser_reserved_connections``.
    reserved
        ``reserved_connections`` (PostgreSQL 16+; 0 before).
    """

    target: str
    max_connections: int
    superuser_reserved: int
    reserved: int = 0

    @property
    def available(self) -> int:
        """The slots ordinary roles get: ``max - superuser_reserved - reserved`` (>= 0)."""
        return max(self.max_connections - self.superuser_reserved - self.reserved, 0)


def _int_setting(values: dict[str, tuple[str, str]], name: str) -> int | None:
    raw = values.get(name, ("", ""))[0].strip()
    try:
        return int(raw)
    except ValueError:
        return None


def connection_limits(settings: pd.DataFrame) -> dict[str, ConnectionLimit]:
    """The :class:`ConnectionLimit` of every target whose settings hold ``max_connections``.

    Parameters
    ----------
    settings
        ``pg_settings`` contract frame.

    Returns
    -------
    dict
        ``{target: ConnectionLimit}``. A missing ``superuser_reserved_connections``
        is PostgreSQL's default (3), a missing ``reserved_connections`` 0 (the
        server predates 16).
    """
    out: dict[str, ConnectionLimit] = {}
    for target in targets(settings):
        values = settings_of(settings, target)
        most = _int_setting(values, "max_connections")
        if most is None:
            continue
        superuser = _int_setting(values, "superuser_reserved_connections")
        reserved = _int_setting(values, "reserved_connections")
        out[target] = ConnectionLimit(
            target=target,
            max_connections=most,
            superuser_reserved=_DEFAULT_SUPERUSER_RESERVED if superuser is None else superuser,
            reserved=0 if reserved is None else reserved,
        )
    return out


def _empty_series_frame(columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    index = pd.DatetimeIndex([], tz="UTC", name="sampled_at")
    return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns}, index=index)


def client_counts(activity: pd.DataFrame, target: str | None = None) -> pd.Series:
    """Client backends per sample of one target (every sample, 0 where none).

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.
    target
        The target; ``None``: the only one present.

    Returns
    -------
    pandas.Series
        int64 counts indexed by ``sampled_at``.
    """
    import pandas as pd

    rows = of_target(activity, one_target(activity, target))
    times = sample_index(rows)
    clients = rows[rows["backend_type"] == CLIENT_BACKEND]
    counts = clients.groupby("sampled_at").size()
    return pd.Series(counts.reindex(times, fill_value=0).astype("int64"), name="connections")


def connections_over_time(
    activity: pd.DataFrame,
    *,
    by: Literal["state", "application_name", "client_addr", "usename"] = "state",
    target: str | None = None,
) -> pd.DataFrame:
    """Client backends per sample, one column per value of ``by``.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.
    by
        ``state``, ``application_name``, ``client_addr`` or ``usename``.
    target
        The target; ``None``: the only one present (several: InvalidInput).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``sampled_at`` (UTC; every sample of the target), one int
        column per group value, the largest peak first (ties by name). An empty
        value is ``(none)`` (``(local socket)`` for ``client_addr``). No rows
        and no columns for an empty frame.
    """
    import pandas as pd

    if by not in GROUPS:
        raise InvalidInput(f"connections_over_time: by={by!r} is not one of {', '.join(GROUPS)}")
    rows = of_target(activity, one_target(activity, target))
    times = sample_index(rows)
    clients = rows[rows["backend_type"] == CLIENT_BACKEND]
    if clients.empty:
        return _empty_series_frame([]).reindex(times).astype("int64")
    empty = _EMPTY_LABEL.get(by, "(none)")
    keys = [text(v) or empty for v in clients[by]]
    counts = (
        pd.DataFrame({"sampled_at": clients["sampled_at"].to_numpy(), by: keys})
        .groupby(["sampled_at", by])
        .size()
        .unstack(fill_value=0)
    )
    counts = counts.reindex(times, fill_value=0)
    peaks = counts.max()
    order = sorted(counts.columns, key=lambda c: (-int(peaks[c]), str(c)))
    out = counts[order].astype("int64")
    out.index.name = "sampled_at"
    out.columns.name = by
    return out


def idle_in_transaction_series(
    activity: pd.DataFrame, *, target: str | None = None
) -> pd.DataFrame:
    """Sessions idle in transaction per sample, and how long the oldest has been.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame.
    target
        The target; ``None``: the only one present (several: InvalidInput).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``sampled_at`` (every sample of the target); columns
        ``sessions`` (int: client backends ``idle in transaction``, aborted
        included), ``oldest`` (seconds idle of the oldest: ``sampled_at -
        state_change``) and ``oldest_xact`` (seconds in its transaction, the
        largest ``xact_age``); the ages are NaN at samples without such a session.
    """
    import pandas as pd

    rows = of_target(activity, one_target(activity, target))
    times = sample_index(rows)
    idle = rows[
        (rows["backend_type"] == CLIENT_BACKEND) & rows["state"].isin(list(IDLE_IN_TRANSACTION))
    ]
    idle_s = (idle["sampled_at"] - idle["state_change"]).dt.total_seconds()
    grouped = (
        pd.DataFrame(
            {
                "sampled_at": idle["sampled_at"].to_numpy(),
                "idle": idle_s.to_numpy(),
                "xact": idle["xact_age"].to_numpy(),
            }
        )
        .groupby("sampled_at")
        .agg(sessions=("idle", "size"), oldest=("idle", "max"), oldest_xact=("xact", "max"))
    )
    out = grouped.reindex(times)
    out["sessions"] = out["sessions"].fillna(0).astype("int64")
    out["oldest"] = out["oldest"].astype("float64")
    out["oldest_xact"] = out["oldest_xact"].astype("float64")
    out.index.name = "sampled_at"
    return out[["sessions", "oldest", "oldest_xact"]]


@dataclass(frozen=True, slots=True)
class Saturation:
    """Client backends of one target against its limit over the samples.

    Parameters
    ----------
    target
        The configured database's name.
    limit
        Its :class:`ConnectionLimit`; ``None`` when its settings were not captured.
    first, first_at
        Client backends at the first sample, and its time.
    peak, peak_at
        The most client backends in a sample, and the first sample with that many.
    last, last_at
        Client backends at the last sample, and its time.
    reached_at
        The first sample with ``limit.available`` or more client backends
        (ordinary roles refused from then on); ``None`` when never or unknown.
    time_to_exhaustion
        When not reached: the time until the limit at the growth of the last
        :data:`GROWTH_SPAN` (see the module docstring); ``None`` when reached,
        flat, shrinking or the limit is unknown.
    share
        ``peak / limit.available``; ``None`` when the limit is unknown.
    """

    target: str
    limit: ConnectionLimit | None
    first: int
    first_at: datetime
    peak: int
    peak_at: datetime
    last: int
    last_at: datetime
    reached_at: datetime | None
    time_to_exhaustion: timedelta | None
    share: float | None


def _growth_per_second(times: list[datetime], counts: list[int]) -> float:
    """Least-squares slope (connections per second) of the last :data:`GROWTH_SPAN`."""
    end = times[-1]
    recent = [(t, c) for t, c in zip(times, counts, strict=True) if end - t <= GROWTH_SPAN]
    if len(recent) < 2:
        return 0.0
    xs = [(t - recent[0][0]).total_seconds() for t, _ in recent]
    ys = [float(c) for _, c in recent]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread <= 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def saturation(activity: pd.DataFrame, settings: pd.DataFrame) -> list[Saturation]:
    """How close each target's client backends came to its connection limit.

    Parameters
    ----------
    activity
        ``pg_activity`` contract frame (select a window with ``Window.select(frame,
        "sampled_at")`` first when needed).
    settings
        ``pg_settings`` contract frame.

    Returns
    -------
    list of Saturation
        One per target with samples, by target name; empty for an empty frame.
    """
    limits = connection_limits(settings)
    out: list[Saturation] = []
    for target in targets(activity):
        series = client_counts(activity, target)
        if series.empty:
            continue
        times: list[datetime] = [t.to_pydatetime() for t in series.index]
        counts = [int(c) for c in series]
        limit = limits.get(target)
        peak = max(counts)
        peak_i = counts.index(peak)
        reached_at: datetime | None = None
        tte: timedelta | None = None
        share: float | None = None
        if limit is not None:
            available = limit.available
            share = peak / available if available else None
            reached = [t for t, c in zip(times, counts, strict=True) if c >= available]
            reached_at = reached[0] if reached else None
            if reached_at is None:
                slope = _growth_per_second(times, counts)
                if slope * GROWTH_SPAN.total_seconds() >= 1.0:
                    tte = timedelta(seconds=(available - counts[-1]) / slope)
        out.append(
            Saturation(
                target=target,
                limit=limit,
                first=counts[0],
                first_at=times[0],
                peak=peak,
                peak_at=times[peak_i],
                last=counts[-1],
                last_at=times[-1],
                reached_at=reached_at,
                time_to_exhaustion=tte,
                share=share,
            )
        )
    return out
