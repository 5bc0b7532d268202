"""Small value types shared by every layer: time parsing and the time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from .errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

FrameT = TypeVar("FrameT", bound="pd.DataFrame")

__all__ = ["Window", "format_duration", "parse_time", "utc"]


def parse_time(value: object, *, field: str = "time") -> datetime:
    """Parse an ISO 8601 timestamp (or aware ``datetime``) into an aware UTC datetime.

    Parameters
    ----------
    value
        A string such as ``"2026-11-26T14:02:00Z"`` or ``"2026-11-26 15:02+01:00"``,
        or a timezone-aware ``datetime`` / ``pandas.Timestamp``.
    field
        The name used in the error message.

    Returns
    -------
    datetime
        The same instant, in UTC.

    Raises
    ------
    InvalidInput
        When the value is not a timestamp or carries no timezone.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"{field}: {value!r} is not an ISO 8601 timestamp; "
                "write it like 2026-11-26T14:02:00Z"
            ) from None
    else:
        raise InvalidInput(
            f"{field}: expected an ISO 8601 timestamp such as 2026-11-26T14:02:00Z, "
            f"got {type(value).__name__}"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput(
            f"{field}: {value!s} has no timezone; add one, e.g. {parsed:%Y-%m-%dT%H:%M:%S}Z for UTC"
        )
    return utc(parsed)


def utc(moment: datetime) -> datetime:
    """Return an aware datetime converted to UTC (as a plain ``datetime``)."""
    converted = moment.astimezone(UTC)
    if type(converted) is not datetime:  # pandas.Timestamp and friends
        converted = datetime.fromtimestamp(converted.timestamp(), tz=UTC)
    return converted


def format_duration(delta: timedelta) -> str:
    """Format a duration for people: ``'1 h 05 min'``, ``'23 min'``, ``'45 s'``."""
    seconds = round(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min" if not secs else f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window ``[start, end)`` in UTC.

    Parameters
    ----------
    start, end
        Timezone-aware datetimes; stored in UTC. ``start`` must be before ``end``.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", parse_time(self.start, field="window start"))
        object.__setattr__(self, "end", parse_time(self.end, field="window end"))
        if not self.start < self.end:
            raise InvalidInput(
                f"window start {self.start:%Y-%m-%dT%H:%M:%SZ} is not before "
                f"end {self.end:%Y-%m-%dT%H:%M:%SZ}; swap them or fix the end"
            )

    @property
    def duration(self) -> timedelta:
        """Length of the window."""
        return self.end - self.start

    def preceding(self, length: timedelta | None = None) -> Window:
        """The window of ``length`` (default: the same length) just before this one."""
        length = self.duration if length is None else length
        return Window(self.start - length, self.start)

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside ``[start, end)``."""
        return self.start <= utc(moment) < self.end

    def select(self, frame: FrameT, column: str = "time") -> FrameT:
        """The rows of ``frame`` whose ``column`` (aware timestamps) falls inside the window.

        Works on any pandas DataFrame; the index is kept.
        """
        times = frame[column]
        return frame[(times >= self.start) & (times < self.end)]

    def widen(self, before: timedelta, after: timedelta | None = None) -> Window:
        """A window extended by ``before`` at the start and ``after`` (default same) at the end."""
        return Window(self.start - before, self.end + (before if after is None else after))

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M:%S}Z → {self.end:%Y-%m-%d %H:%M:%S}Z"
