"""The incident timeline on disk: ``timeline.jsonl`` in the workspace, append-only.

One JSON object per line (:meth:`Event.to_dict <incident_lib.core.timeline.Event.to_dict>`,
keys sorted), one line per event id: appending an event whose id is already in
the file does nothing, so rebuilding the timeline from the same evidence, or a
note recorded twice, never duplicates a line. The file is never rewritten.

Appends take an exclusive ``flock`` on the file and write all their lines at
once, so notebooks and ``incident note`` / ``incident status`` running at the
same time neither interleave nor duplicate. A crash in the middle of a write
leaves at most an unterminated last line: reading ignores it and the next
append cuts it off (under the lock). Any other line that is not a valid event
is an error that names the file and the line.

Every text (summary, key, author) passes through :func:`~incident_lib.infra.redact.redact`
before it is written.

Examples
--------
>>> store = TimelineStore("incidents/INC-2026-0042")          # doctest: +SKIP
>>> store.append(events)                                      # doctest: +SKIP
>>> add_note("incidents/INC-2026-0042", "rolled back to v2.33", author="alice")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..core.errors import EvidenceIntegrityError, InvalidInput, WorkspaceError
from ..core.text import shorten
from ..core.time import parse_time
from ..core.timeline import Event, events_frame, note_event
from .redact import redact
from .workspace import TIMELINE_FILE, Workspace

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_NOTE", "TimelineStore", "add_note"]

#: the longest note :func:`add_note` accepts, in characters
MAX_NOTE = 500

# how far ahead of the clock a note may be dated (clock skew between machines)
_FUTURE_SLACK = timedelta(minutes=1)


class TimelineStore:
    """The append-only ``timeline.jsonl`` of one incident workspace.

    Parameters
    ----------
    workspace
        The incident folder (or an opened :class:`~incident_lib.infra.workspace.Workspace`).
        The file is created by the first :meth:`append`.
    """

    def __init__(self, workspace: Workspace | str | os.PathLike[str]) -> None:
        folder = workspace.path if isinstance(workspace, Workspace) else Path(workspace)
        self.root = folder.expanduser()

    @property
    def path(self) -> Path:
        """The timeline file, ``<workspace>/timeline.jsonl``."""
        return self.root / TIMELINE_FILE

    def __repr__(self) -> str:
        return f"TimelineStore({str(self.root)!r})"

    # -- reading -----------------------------------------------------------------
    def read(self) -> list[Event]:
        """The events in file order; the first line of an id wins.

        A missing file is an empty timeline. An unterminated last line that is
        not a valid event (a write cut short by a crash) is ignored.

        Raises
        ------
        EvidenceIntegrityError
            A line other than the unterminated last one is not a valid event;
            the message names the file and the line.
        """
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            try:
                events, _ = self._parse(fh.read())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return events

    def frame(self) -> pd.DataFrame:
        """The events as a timeline frame (:func:`~incident_lib.core.timeline.events_frame`)."""
        return events_frame(self.read())

    def ids(self) -> set[str]:
        """The ids of the events in the file."""
        return {event.id for event in self.read()}

    # -- writing -----------------------------------------------------------------
    def append(self, events: Iterable[Event]) -> list[Event]:
        """Append the events whose id is not in the file yet, in one locked write.

        Summary, key and author are redacted first (the id is that of the
        redacted event, so appending the same event again is still a no-op).

        Parameters
        ----------
        events
            The events, in the order they should appear.

        Returns
        -------
        list[Event]
            The events appended (redacted), in order; ``[]`` when all were there.

        Raises
        ------
        WorkspaceError
            The workspace folder does not exist.
        EvidenceIntegrityError
            The file holds an invalid line (see :meth:`read`); nothing is written.
        """
        cleaned = [_redacted(event) for event in events]
        if not self.root.is_dir():
            raise WorkspaceError(
                f"workspace {self.root} does not exist; open one with `incident new`"
            )
        with self._locked() as fh:
            fh.seek(0)
            data = fh.read()
            existing, keep = self._parse(data)
            if keep < len(data):  # a torn last line: cut it off before appending
                fh.truncate(keep)
            # a whole last event whose newline never made it to the disk: end its line
            lead = b"\n" if keep and not data[:keep].endswith(b"\n") else b""
            seen = {event.id for event in existing}
            new: list[Event] = []
            for event in cleaned:
                if event.id not in seen:
                    seen.add(event.id)
                    new.append(event)
            if new:
                fh.write(lead + b"".join(_line(event) for event in new))
            fh.flush()
            os.fsync(fh.fileno())
        return new

    @contextlib.contextmanager
    def _locked(self) -> Iterator[IO[bytes]]:
        # "a+b": every write goes to the end, and the file is created on first use
        with self.path.open("a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield fh
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _parse(self, data: bytes) -> tuple[list[Event], int]:
        """The events of the file's bytes, and how many bytes hold whole lines."""
        events: list[Event] = []
        seen: set[str] = set()
        offset = 0
        number = 0
        while offset < len(data):
            number += 1
            end = data.find(b"\n", offset)
            terminated = end >= 0
            stop = end + 1 if terminated else len(data)
            raw = data[offset:stop]
            try:
                event = _event_of(raw)
            except (ValueError, InvalidInput) as exc:
                if not terminated:  # the last write was cut short: ignore, cut on append
                    return events, offset
                raise EvidenceIntegrityError(
                    f"{self.path}: line {number} is not a timeline event ({_reason(exc)}); "
                    "the file is only ever appended to, so this line was changed by hand or "
                    "by another tool: restore it, or move it out of the file (the other lines "
                    "are kept), then retry"
                ) from None
            offset = stop
            if event is None or event.id in seen:
                continue
            seen.add(event.id)
            events.append(event)
        return events, offset


def add_note(
    workspace: Workspace | str | os.PathLike[str],
    text: str,
    *,
    at: datetime | str | None = None,
    author: str = "",
    now: datetime | None = None,
) -> Event:
    """Add a human note to the workspace's timeline.

    Parameters
    ----------
    workspace
        The incident folder or an opened workspace.
    text
        The note, at most :data:`MAX_NOTE` characters (redacted before it is written).
    at
        When it happened (aware datetime or ISO 8601 text); default: now.
    author
        Who writes it.
    now
        The current time (for tests); default: the clock.

    Returns
    -------
    Event
        The note as written (redacted); the same note (text, time, author)
        added twice is written once.

    Raises
    ------
    InvalidInput
        Empty or too long text, or a time in the future.
    """
    clock = now or datetime.now(UTC)
    words = " ".join(str(text).split())
    if not words:
        raise InvalidInput('a note needs text, e.g. incident note DIR "rolled back to v2.33"')
    if len(words) > MAX_NOTE:
        raise InvalidInput(
            f"the note is {len(words)} characters long; keep it under {MAX_NOTE} "
            "(split it into several notes)"
        )
    moment = clock if at is None else parse_time(at, field="note time")
    if moment > clock + _FUTURE_SLACK:
        raise InvalidInput(
            f"note time {moment:%Y-%m-%dT%H:%M:%SZ} is in the future (now "
            f"{clock:%Y-%m-%dT%H:%M:%SZ}); give the time it happened, with a timezone"
        )
    event = _redacted(note_event(words, moment, author=author.strip()))
    TimelineStore(workspace).append([event])
    return event


# -- helpers ---------------------------------------------------------------------


def _redacted(event: Event) -> Event:
    summary = redact(event.summary)
    if len(summary) > MAX_NOTE:  # "[REDACTED]" may be longer than what it hides
        summary = shorten(summary, MAX_NOTE, whole_tokens=True)
    key, author = redact(event.key), redact(event.author)
    if (summary, key, author) == (event.summary, event.key, event.author):
        return event
    return replace(event, summary=summary, key=key, author=author)


def _line(event: Event) -> bytes:
    text = json.dumps(event.to_dict(), sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def _event_of(raw: bytes) -> Event | None:
    """The event of one line (``None`` for a blank line)."""
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if not text.strip():
        return None
    data = json.loads(text)  # JSONDecodeError is a ValueError
    event = Event.from_dict(data)
    stored = data.get("id")
    if stored is not None and stored != event.id:
        raise InvalidInput(f"its id {stored!r} does not match its lane, kind and key")
    return event


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc)
