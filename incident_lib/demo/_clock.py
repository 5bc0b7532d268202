"""Time inside the demo generators: integer nanoseconds since the epoch (UTC), on grids.

numpy works on the integers; nothing here reads the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "EPOCH",
    "NS",
    "Array",
    "bin_counts",
    "event_times",
    "from_ns",
    "grid",
    "iso_z",
    "on_day",
    "periodic_times",
    "py_asctime",
    "smoothstep",
    "split_ns",
    "to_ns",
]

#: any numpy array (the generators mix int64 nanoseconds, floats and booleans)
Array = npt.NDArray[Any]

NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(moment: datetime) -> int:
    """Aware datetime -> integer nanoseconds since the epoch."""
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def from_ns(ns: int) -> datetime:
    """Integer nanoseconds -> aware UTC datetime (microsecond precision)."""
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


def on_day(day: str, hms: str) -> int:
    """Nanoseconds of ``HH:MM:SS[.fff]`` (UTC) on ``day`` (``YYYY-MM-DD``)."""
    return to_ns(datetime.fromisoformat(f"{day}T{hms}+00:00"))


_DAYS: dict[int, str] = {}


def split_ns(ns: int) -> tuple[str, int, int, int, int]:
    """``(YYYY-MM-DD, hour, minute, second, microsecond)`` of ``ns`` (fast, cached by day)."""
    day, rem = divmod(int(ns) // 1000, 86_400_000_000)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
    hour, rem = divmod(rem, 3_600_000_000)
    minute, rem = divmod(rem, 60_000_000)
    second, micro = divmod(rem, 1_000_000)
    return date, hour, minute, second, micro


def iso_z(ns: int, digits: int = 3) -> str:
    """``2026-11-03T14:02:11.123Z`` (``digits`` fractional digits, 0 for none)."""
    date, h, m, s, us = split_ns(ns)
    frac = "." + f"{us:06d}"[:digits] if digits else ""
    return f"{date}T{h:02d}:{m:02d}:{s:02d}{frac}Z"


def py_asctime(ns: int) -> str:
    """Python logging's default ``asctime``: ``2026-11-03 14:02:11,123``."""
    date, h, m, s, us = split_ns(ns)
    return f"{date} {h:02d}:{m:02d}:{s:02d},{us // 1000:03d}"


def smoothstep(x: Array | float) -> Array:
    """0 below 0, 1 above 1, a smooth S in between."""
    x = np.clip(x, 0.0, 1.0)
    return np.asarray(x * x * (3.0 - 2.0 * x))


def grid(start: datetime, end: datetime, step_s: int) -> Array:
    """Nanosecond timestamps ``[start, end)`` every ``step_s`` seconds."""
    return np.arange(to_ns(start), to_ns(end), step_s * NS, dtype=np.int64)


def event_times(rng: np.random.Generator, bins: Array, rate: Array | float, step_s: float) -> Array:
    """Poisson event times: ``rate`` events per second in each bin of ``step_s`` seconds."""
    lam = np.broadcast_to(np.asarray(rate, dtype=float), bins.shape) * step_s
    counts = rng.poisson(np.maximum(lam, 0.0))
    starts = np.repeat(bins, counts)
    offsets = rng.uniform(0, step_s * NS, starts.size).astype(np.int64)
    return np.sort(starts + offsets)


def periodic_times(
    rng: np.random.Generator, start: int, end: int, period_s: float, jitter_s: float = 0.05
) -> Array:
    """Times every ``period_s`` seconds in ``[start, end)``, random phase, slightly jittered."""
    if end <= start:
        return np.empty(0, dtype=np.int64)
    phase = int(rng.uniform(0, period_s) * NS)
    base = np.arange(start + phase, end, int(period_s * NS), dtype=np.int64)
    return base + rng.uniform(0, jitter_s * NS, base.size).astype(np.int64)


def bin_counts(times: Array, bins: Array, step_s: int) -> Array:
    """How many of ``times`` fall in each bin ``[b, b + step)``."""
    idx = (np.asarray(times, dtype=np.int64) - bins[0]) // (step_s * NS)
    idx = idx[(idx >= 0) & (idx < bins.size)]
    return np.bincount(idx, minlength=bins.size)
