"""Timeline events: one value per thing that happened during an incident.

An :class:`Event` says when something happened, in which lane (``source``),
what kind of thing it was, a one-line summary for people, and where it comes
from: a row of a captured evidence frame (``evidence`` ``"kubernetes/rollouts"``,
the captured ``file`` and its ``row``) or a notebook section (``section``).

Events are identified by what they are about, not by which capture they were
read from: :attr:`Event.id` hashes the lane, the kind and the ``key`` (the
subject: ``"api rev 42"``, a signature id, a monitor and its transition time).
Rebuilding the timeline from a newer capture of the same evidence therefore
gives the same ids, and the append-only file (:mod:`incident_lib.infra.timeline`)
never holds one fact twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from .errors import InvalidInput
from .time import parse_time

if TYPE_CHECKING:
    import pandas as pd

    from .incident import Incident

__all__ = [
    "LANES",
    "STATUS_KINDS",
    "TIMELINE_COLUMNS",
    "Event",
    "Lane",
    "events_frame",
    "events_from_frame",
    "note_event",
    "record_events",
    "status_event",
]

#: the lanes of the timeline, in the order a chart draws them (top to bottom)
Lane = Literal[
    "changes",
    "kubernetes",
    "monitors",
    "metrics",
    "logs",
    "database",
    "dependencies",
    "actions",
    "people",
]
LANES: tuple[Lane, ...] = get_args(Lane)

#: kinds of the ``people`` lane that record a status change of the incident
STATUS_KINDS = ("detected", "acknowledged", "mitigated", "resolved")

#: columns of a timeline frame (:func:`events_frame`), in order
TIMELINE_COLUMNS = (
    "time",
    "source",
    "kind",
    "summary",
    "key",
    "evidence",
    "file",
    "row",
    "section",
    "author",
    "id",
)

_MAX_SUMMARY = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event of the incident timeline.

    Parameters
    ----------
    time
        When it happened (aware; stored in UTC).
    source
        The lane: one of :data:`LANES`.
    kind
        What kind of event within the lane, e.g. ``deploy``, ``rollback``,
        ``config``, ``scale``, ``oomkill``, ``alert``, ``onset``, ``recovery``,
        ``new_signature``, ``note`` or one of :data:`STATUS_KINDS`.
    summary
        One line for people (at most 500 characters).
    key
        What the event is about, stable across captures (``"api rev 42"``);
        default: the time and the summary. Two events with the same lane, kind
        and key are the same event.
    evidence
        The evidence it was read from, ``"source/name"`` (``""`` for notes and
        status changes).
    file
        The captured evidence file, relative to the workspace (filled in when
        the evidence store is known), or ``""``.
    row
        The row of that file, or ``None``.
    section
        The notebook (and section) that shows it, e.g. ``"03_changes"``.
    author
        Who recorded it (notes and status changes), or ``""``.
    """

    time: datetime
    source: Lane
    kind: str
    summary: str
    key: str = ""
    evidence: str = ""
    file: str = ""
    row: int | None = None
    section: str = ""
    author: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", parse_time(self.time, field="event time"))
        if self.source not in LANES:
            raise InvalidInput(f"event source {self.source!r} is not one of {', '.join(LANES)}")
        if not self.kind or not self.kind.replace("_", "").isalnum():
            raise InvalidInput(f"event kind {self.kind!r}: use a word such as 'deploy' or 'note'")
        summary = " ".join(str(self.summary).split())
        if not summary:
            raise InvalidInput("an event needs a summary")
        if len(summary) > _MAX_SUMMARY:
            raise InvalidInput(
                f"event summary is {len(summary)} characters long; keep it under {_MAX_SUMMARY}"
            )
        object.__setattr__(self, "summary", summary)
        if self.row is not None and (not isinstance(self.row, int) or self.row < 0):
            raise InvalidInput(f"event row must be a row number >= 0, got {self.row!r}")
        if not self.key:
            object.__setattr__(self, "key", f"{self.time:%Y-%m-%dT%H:%M:%S.%fZ}|{summary}")

    @property
    def id(self) -> str:
        """A stable identifier: the lane, the kind and the key, hashed (16 hex digits)."""
        text = f"{self.source}\x1f{self.kind}\x1f{self.key}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @property
    def reference(self) -> str:
        """Where it comes from, for people: ``file#row``, the evidence, or the section."""
        if self.file:
            return f"{self.file}#row={self.row}" if self.row is not None else self.file
        if self.evidence:
            return f"{self.evidence}#row={self.row}" if self.row is not None else self.evidence
        return self.section

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the time as ISO 8601 UTC, plus the ``id``."""
        data = asdict(self)
        data["time"] = self.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        data["id"] = self.id
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Event:
        """Validate plain data (as :meth:`to_dict` writes it) into an event.

        Raises
        ------
        InvalidInput
            Not a mapping, unknown or missing fields, or invalid values.
        """
        if not isinstance(data, dict):
            raise InvalidInput(f"an event must be a mapping, got {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known - {"id"})
        if unknown:
            raise InvalidInput(f"event: unknown field(s) {unknown}; known: {sorted(known)}")
        missing = [f for f in ("time", "source", "kind", "summary") if f not in data]
        if missing:
            raise InvalidInput(f"event: missing field(s) {missing}")
        fields = {k: v for k, v in data.items() if k != "id"}
        for name in ("kind", "summary", "key", "evidence", "file", "section", "author"):
            if name in fields and not isinstance(fields[name], str):
                raise InvalidInput(f"event {name} must be text, got {type(fields[name]).__name__}")
        return cls(**fields)


def events_frame(events: list[Event] | tuple[Event, ...]) -> pd.DataFrame:
    """Events as a frame with :data:`TIMELINE_COLUMNS`, sorted by time (then lane order).

    ``row`` is ``-1`` where an event has no row. An empty list gives an empty
    frame with the same columns.
    """
    import pandas as pd

    rows = [
        {
            **{k: v for k, v in asdict(e).items() if k != "row"},
            "row": -1 if e.row is None else e.row,
            "id": e.id,
        }
        for e in events
    ]
    frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]")
    frame["row"] = frame["row"].astype("int64")
    for column in TIMELINE_COLUMNS:
        if column not in ("time", "row"):
            frame[column] = frame[column].astype("str")
    lane = frame["source"].map({name: i for i, name in enumerate(LANES)})
    frame = frame.assign(_lane=lane).sort_values(["time", "_lane", "kind", "id"], kind="stable")
    return frame.drop(columns="_lane").reset_index(drop=True)


def events_from_frame(frame: pd.DataFrame) -> list[Event]:
    """The inverse of :func:`events_frame`."""
    out = []
    for record in frame.to_dict("records"):
        row = int(record["row"])
        out.append(
            Event(
                time=cast("datetime", record["time"].to_pydatetime()),
                source=cast("Lane", record["source"]),
                kind=str(record["kind"]),
                summary=str(record["summary"]),
                key=str(record["key"]),
                evidence=str(record["evidence"]),
                file=str(record["file"]),
                row=None if row < 0 else row,
                section=str(record["section"]),
                author=str(record["author"]),
            )
        )
    return out


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def status_event(kind: str, at: datetime, *, author: str = "") -> Event:
    """The ``people`` event of a status change (``kind`` one of :data:`STATUS_KINDS`).

    Its key is the status and the time, so the same change recorded by
    ``incident status`` and read again from ``incident.yaml`` is one event.

    Raises
    ------
    InvalidInput
        ``kind`` is not a status.
    """
    if kind not in STATUS_KINDS:
        raise InvalidInput(f"status {kind!r} is not one of {', '.join(STATUS_KINDS)}")
    moment = parse_time(at, field=kind)
    by = f" by {author}" if author else ""
    return Event(
        time=moment,
        source="people",
        kind=kind,
        summary=f"Incident {kind}{by}",
        key=f"{kind}@{_iso(moment)}",
        section="01_triage",
        author=author,
    )


def note_event(text: str, at: datetime, *, author: str = "") -> Event:
    """A human note on the timeline (``people`` lane, kind ``note``)."""
    moment = parse_time(at, field="note time")
    return Event(
        time=moment,
        source="people",
        kind="note",
        summary=text,
        key=f"{_iso(moment)}|{author}|{' '.join(text.split())}",
        author=author,
    )


def record_events(incident: Incident) -> list[Event]:
    """The status changes recorded in the incident's ``times``, in order."""
    times = incident.times
    return [
        status_event(kind, moment)
        for kind, moment in (
            ("detected", times.detected),
            ("acknowledged", times.acknowledged),
            ("mitigated", times.mitigated),
            ("resolved", times.resolved),
        )
        if moment is not None
    ]
