"""The evidence store: captured frames as Parquet plus a hash-chained manifest.

Layout inside an incident workspace::

    evidence/
      manifest.jsonl          one JSON line per capture, chained by hash
      0001-kubernetes-logs.parquet
      0002-datadog-metrics.parquet
      ...

Each manifest line records source, name, query parameters (redacted, never
credentials), fetched_at, rows, columns, the file's sha256 and ``prev``: the
sha256 of the previous manifest line (64 zeros for the first). Files are
written to a temporary name, fsynced and renamed before their manifest line
is appended under a lock, so a crash never leaves a manifest line without its
file, nor a torn file under a recorded name.

Each line is protected by the next line's ``prev``; the last line, and the
number of lines, are protected by the *head* (:class:`EvidenceHead`: the count
and the hash of the last line) that every bundle records in its ``run.json``.
``verify(head)`` checks the chain up to that head, so deleting the last
captures, editing the last one, rebuilding the chain or deleting everything is
detected; without a head the tail is unanchored, and the report says so.

The store captures and reads; it does not decide between them. The runbook
does, once, from the mode checked where it entered: live, it captures what a
source fetched and reads that capture back (:meth:`EvidenceStore.capture` then
:meth:`EvidenceStore.read_entry`); offline, it reads (:meth:`EvidenceStore.read`).

Reading never follows a symbolic link inside ``evidence/`` (nor ``evidence/``
itself), refuses anything that is not a regular file, and is bounded: the
manifest may hold at most :data:`MAX_MANIFEST_BYTES`, a line at most
:data:`MAX_LINE_BYTES`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import EvidenceIntegrityError, EvidenceNotFound, InvalidInput, WorkspaceError
from ..core.schema import EVIDENCE_KINDS, with_added_columns
from .files import atomic_path
from .redact import redact_frame, redact_obj

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..core.time import Window

__all__ = [
    "GENESIS",
    "MAX_LINE_BYTES",
    "MAX_MANIFEST_BYTES",
    "ROW_GROUP_ROWS",
    "RUN_HEAD_KEY",
    "RUN_SIGNATURE_KEY",
    "EvidenceHead",
    "EvidenceStore",
    "ManifestEntry",
    "VerifyReport",
    "load_bundle_head",
    "project",
]

GENESIS = "0" * 64
MANIFEST = "manifest.jsonl"
LOCK = ".lock"
#: the largest manifest verify and the readers accept (about 100 000 captures)
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: the longest manifest line accepted (a capture's query is a few hundred bytes)
MAX_LINE_BYTES = 256 * 1024
#: the largest run.json read to find a bundle's evidence head
MAX_RUN_JSON_BYTES = 16 * 1024 * 1024
#: the keys of run.json under which a bundle records its evidence head and its signature
RUN_HEAD_KEY = "evidence_head"
RUN_SIGNATURE_KEY = "evidence_head_signature"
#: at most this many problems are listed by verify (then a count of the rest)
MAX_PROBLEMS = 200
#: at most this many directory entries are examined in evidence/
MAX_FILES = 200_000
#: rows per Parquet row group: a time-range read skips the groups its range misses
#: (a capture smaller than this is one row group, as before)
ROW_GROUP_ROWS = 65_536

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_COUNT = re.compile(r"^[0-9]{1,12}$")
_FIELDS = frozenset(
    {"seq", "source", "name", "query", "fetched_at", "rows", "columns", "file", "sha256", "prev"}
)
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_RESTORE = (
    "restore evidence/ from a trusted copy (the one attached to the incident), or capture "
    "again in a new workspace"
)
_FIX = f"the evidence cannot be trusted as it is: {_RESTORE}"


def _whole(value: object, label: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{label} must be a whole number >= {minimum}")
    return value


def _text(value: object, label: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"{label} is not valid")
    return value


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One capture, as recorded in ``manifest.jsonl``."""

    seq: int
    source: str
    name: str
    query: Mapping[str, Any]
    fetched_at: str
    rows: int
    columns: tuple[tuple[str, str], ...]
    file: str
    sha256: str
    prev: str

    def to_json(self) -> str:
        """The canonical one-line JSON form whose hash the next line chains to."""
        data = {
            "seq": self.seq,
            "source": self.source,
            "name": self.name,
            "query": self.query,
            "fetched_at": self.fetched_at,
            "rows": self.rows,
            "columns": [list(c) for c in self.columns],
            "file": self.file,
            "sha256": self.sha256,
            "prev": self.prev,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, line: str) -> ManifestEntry:
        """Parse one manifest line; raise ``ValueError`` if it is malformed.

        Every field must be present with its type (no others), source and name
        must be valid names, ``file`` must be the name the store gives that
        capture (so it never points outside ``evidence/``), the hashes must be
        64 hex digits and ``fetched_at`` an ISO 8601 time.
        """
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = sorted(_FIELDS - data.keys())
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        if len(data) != len(_FIELDS):
            raise ValueError(f"{len(data) - len(_FIELDS)} unknown field(s)")
        seq = _whole(data["seq"], "seq", 1)
        source = _text(data["source"], "source", _NAME)
        name = _text(data["name"], "name", _NAME)
        if not isinstance(data["query"], dict):
            raise ValueError("query is not a JSON object")
        fetched_at = data["fetched_at"]
        if not isinstance(fetched_at, str) or len(fetched_at) > 40:
            raise ValueError("fetched_at is not a time")
        try:
            datetime.fromisoformat(fetched_at)
        except ValueError:
            raise ValueError("fetched_at is not an ISO 8601 time") from None
        rows = _whole(data["rows"], "rows", 0)
        columns = data["columns"]
        if not isinstance(columns, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c)
            for c in columns
        ):
            raise ValueError("columns is not a list of [name, type] pairs")
        if data["file"] != f"{seq:04d}-{source}-{name}.parquet":
            raise ValueError("file is not the name of this capture (NNNN-source-name.parquet)")
        return cls(
            seq=seq,
            source=source,
            name=name,
            query=data["query"],
            fetched_at=fetched_at,
            rows=rows,
            columns=tuple((a, b) for a, b in columns),
            file=data["file"],
            sha256=_text(data["sha256"], "sha256", _HEX64),
            prev=_text(data["prev"], "prev", _HEX64),
        )


@dataclass(frozen=True, slots=True)
class EvidenceHead:
    """The head of the manifest chain: how many captures, and the hash of the last line.

    A bundle records the head of the evidence it was made from, so the chain can
    later be checked up to exactly that point (see :meth:`EvidenceStore.verify`):
    deleting or rewriting the last captures, or the whole store, no longer
    verifies against a recorded head.

    Parameters
    ----------
    count
        Number of captures (manifest lines); 0 for an empty store.
    hash
        sha256 (hex) of the last manifest line, or :data:`GENESIS` when empty.
    """

    count: int
    hash: str

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise InvalidInput(
                f"evidence head count {str(self.count)[:40]!r} is invalid: use a whole number >= 0"
            )
        if not isinstance(self.hash, str) or not _HEX64.match(self.hash):
            raise InvalidInput(
                f"evidence head hash {str(self.hash)[:80]!r} is invalid: use the 64 hex digits "
                f"recorded in the bundle's run.json ({RUN_HEAD_KEY})"
            )
        if (self.count == 0) != (self.hash == GENESIS):
            raise InvalidInput(
                f"evidence head {self.count}:{self.hash[:12]}… is inconsistent: an empty store "
                f"has the hash {GENESIS[:12]}…, and only an empty store has it"
            )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form recorded in bundles: ``{"count": N, "hash": "..."}``."""
        return {"count": self.count, "hash": self.hash}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvidenceHead:
        """Read the form written by :meth:`to_dict`.

        Raises
        ------
        InvalidInput
            When ``data`` is not a mapping with an integer ``count`` and a hex ``hash``.
        """
        if not isinstance(data, Mapping) or set(data) != {"count", "hash"}:
            raise InvalidInput(
                'an evidence head is {"count": N, "hash": "<64 hex digits>"}, got '
                f"{str(data)[:80]!r}"
            )
        return cls(count=data["count"], hash=data["hash"])

    @classmethod
    def parse(cls, text: str) -> EvidenceHead:
        """Read the ``COUNT:HASH`` form given on the command line (see ``str(head)``).

        Raises
        ------
        InvalidInput
            When ``text`` is not ``COUNT:HASH``.
        """
        count, sep, digest = text.strip().partition(":")
        if not sep or not _COUNT.match(count.strip()):
            raise InvalidInput(
                f"--head {text[:80]!r} is invalid: use COUNT:HASH as printed by "
                f"`incident evidence verify` (or the {RUN_HEAD_KEY} of a bundle's run.json)"
            )
        return cls(count=int(count), hash=digest.strip().lower())

    def __str__(self) -> str:
        return f"{self.count}:{self.hash}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of :meth:`EvidenceStore.verify`: ``ok`` and the problems found.

    Attributes
    ----------
    entries
        Captures (manifest lines) examined.
    problems
        One line per problem, naming the file (and the manifest line).
    head
        The store's current head, or ``None`` when the manifest could not be read.
    anchor
        The head the chain was checked against (``None``: the tail is unanchored).
    """

    entries: int
    problems: tuple[str, ...]
    head: EvidenceHead | None = None
    anchor: EvidenceHead | None = None

    @property
    def ok(self) -> bool:
        """True when every file and the whole chain check out (up to ``anchor``, if any)."""
        return not self.problems

    @property
    def unanchored(self) -> int:
        """Captures not covered by ``anchor`` (all of them without an anchor)."""
        return self.entries - (self.anchor.count if self.anchor else 0)

    def summary(self) -> str:
        """One line saying what was verified, and what could not be without a head."""
        if not self.ok:
            return f"evidence NOT ok: {len(self.problems)} problem(s) in {self.entries} captures"
        if self.anchor is None:
            if self.entries == 0:
                return (
                    "evidence: no captures; pass --head or --bundle to check that none were deleted"
                )
            return (
                f"evidence ok: verified {self.entries} captures; pass --head or --bundle "
                "to check the last one"
            )
        text = (
            f"evidence ok: verified {self.entries} captures up to the recorded head "
            f"{self.anchor.count}:{self.anchor.hash[:16]}…"
        )
        if self.unanchored:
            text += f"; the last {self.unanchored} were captured after it and are not anchored"
        return text

    def raise_for_problems(self, store: Path) -> None:
        """Raise :class:`EvidenceIntegrityError` naming the first problem, if any."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise EvidenceIntegrityError(
                f"evidence in {store} does not verify: {self.problems[0]}{more}; "
                f"see `incident evidence verify {store.parent}`"
            )


def _open_regular(path: Path, what: str) -> int:
    """Open ``path`` for reading without following a link; refuse non-regular files."""
    try:
        fd = os.open(path, _O_READ)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EvidenceIntegrityError(
                f"{path}: is a symbolic link; {what} must be a regular file inside the "
                f"workspace ({_FIX})"
            ) from None
        if isinstance(exc, PermissionError):
            raise EvidenceIntegrityError(
                f"{path}: cannot be read (permission denied); give yourself read access "
                f"(chmod u+r {path}) and verify again"
            ) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise EvidenceIntegrityError(
                f"{path}: is not a regular file; {what} must be a regular file ({_FIX})"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _sha256_file(path: Path) -> str:
    fd = _open_regular(path, "an evidence file")
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _time_range(value: object) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A ``(start, end)`` pair (or a Window) as UTC Timestamps, start before end."""
    import pandas as pd

    from ..core.time import parse_time

    if hasattr(value, "start") and hasattr(value, "end"):
        value = (value.start, value.end)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidInput(f"time_range: expected a (start, end) pair, got {str(value)[:80]!r}")
    start, end = (
        # a Timestamp keeps its nanoseconds (parse_time gives a datetime: microseconds)
        (
            v
            if isinstance(v, pd.Timestamp) and v.tz is not None
            else pd.Timestamp(parse_time(v, field="time_range"))
        )
        .tz_convert("UTC")
        .as_unit("ns")
        for v in value
    )
    if not start < end:
        raise InvalidInput(f"time_range: start {start} is not before end {end}")
    return start, end


def _instants(value: object) -> np.ndarray:
    """Times (timezone-aware; Timestamps keep their nanoseconds) as sorted unique UTC ns."""
    import numpy as np
    import pandas as pd

    from ..core.time import parse_time

    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise InvalidInput(f"at: expected a list of times, got {str(value)[:80]!r}")
    out = []
    for v in value:
        if not (isinstance(v, pd.Timestamp) and v.tz is not None):
            v = pd.Timestamp(parse_time(v, field="at"))
        out.append(v.tz_convert("UTC").as_unit("ns").value)
    return np.unique(np.asarray(out, dtype=np.int64))


def _selection(time_range: object | None, at: object | None) -> tuple[int, int, np.ndarray | None]:
    """``[start, end)`` in ns covering the rows asked for, and the instants of ``at``."""
    if at is not None:
        if time_range is not None:
            raise InvalidInput("give time_range or at, not both")
        instants = _instants(at)
        if not instants.size:
            return 0, 0, instants
        return int(instants[0]), int(instants[-1]) + 1, instants
    start, end = _time_range(time_range)
    return start.value, end.value, None


def project(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    time_range: object | None = None,
    kind: str | None = None,
    at: object | None = None,
    where: Mapping[str, Collection[object]] | None = None,
) -> pd.DataFrame:
    """The columns and rows of a frame in memory that :meth:`EvidenceStore.read_entry` reads.

    The same selection as a read with ``columns=`` and ``time_range=``, for a
    frame already at hand (a live fetch read back): only the rows whose
    ``time`` is in ``[start, end)``, in their order, indexed from 0; only the
    ``columns``, in that order (a column contract ``kind`` added since the
    capture comes back empty).

    Parameters
    ----------
    frame
        The frame (not modified), indexed by row number (as captured).
    columns, time_range, at, where
        As for :meth:`EvidenceStore.read_entry`; all None: ``frame`` itself.
        With ``where``, the rows keep their index.
    kind
        The frame's contract, for the columns it added.

    Raises
    ------
    InvalidInput
        A column the frame does not have, a ``time_range`` on a frame without a
        timezone-aware ``time`` column, or a malformed range.
    """
    import numpy as np
    import pandas as pd

    if columns is None and time_range is None and at is None and where is None:
        return frame
    if where is not None and at is not None:
        raise InvalidInput("read rows either where= some values or at= some times, not both")
    if kind is not None:
        frame = with_added_columns(frame, kind)
    if isinstance(columns, str):
        columns = [columns]
    wanted = list(frame.columns if columns is None else columns)
    unknown = [c for c in [*wanted, *(where or {})] if c not in frame.columns]
    if unknown:
        raise InvalidInput(f"no column(s) {unknown} in the frame; it has {list(frame.columns)}")
    if where is not None:
        chosen = np.ones(len(frame), dtype=bool)
        for column, values in where.items():
            chosen &= frame[column].isin(list(values)).to_numpy(dtype=bool, na_value=False)
        frame = frame[chosen]
        if time_range is None:
            return frame[wanted]
    if time_range is None and at is None:
        return frame[wanted]
    start, end, instants = _selection(time_range, at)
    if "time" not in frame.columns or not isinstance(frame["time"].dtype, pd.DatetimeTZDtype):
        raise InvalidInput(
            "the frame has no timezone-aware time column to select a time range on; "
            "read it without time_range"
        )
    times = frame["time"].dt.tz_convert("UTC").dt.as_unit("ns").array.asi8
    keep = (times >= start) & (times < end) if instants is None else np.isin(times, instants)
    out: pd.DataFrame = frame.loc[keep, wanted]
    return out if where is not None else out.reset_index(drop=True)


def _row_groups_in(
    parquet: pq.ParquetFile, start_ns: int, end_ns: int, instants: np.ndarray | None = None
) -> list[tuple[int, bool]]:
    """The row groups whose ``time`` statistics may hold a time in ``[start, end)`` (ns).

    Each as ``(index, whole)``: ``whole`` when every time of the group is in the
    range (its rows need no filtering). A group without statistics, or with a
    time column in another unit, is kept, not whole (its rows are filtered).
    With ``instants`` (sorted ns), only the groups whose span may hold one of them.
    """
    import numpy as np
    import pyarrow as pa

    meta = parquet.metadata
    field = parquet.schema_arrow.field("time")
    column = parquet.schema_arrow.get_field_index("time")
    exact = pa.types.is_timestamp(field.type) and field.type.unit == "ns"
    groups: list[tuple[int, bool]] = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        low = high = None
        if exact and stats is not None and stats.has_min_max and stats.null_count == 0:
            low, high = stats.min_raw, stats.max_raw
        if isinstance(low, int) and isinstance(high, int):
            if high < start_ns or low >= end_ns:
                continue
            if instants is not None and np.searchsorted(instants, low) == np.searchsorted(
                instants, high, side="right"
            ):
                continue  # (no instant between the group's first and last time)
            groups.append((i, start_ns <= low and high < end_ns))
        else:
            groups.append((i, False))
    return groups


def _groups_for(
    parquet: pq.ParquetFile, time_range: tuple[object, object] | Window | None
) -> tuple[list[tuple[int, bool]], pa.Scalar | None, pa.Scalar | None]:
    """The row groups to decode for ``time_range`` (see :func:`_row_groups_in`) and its
    bounds as nanosecond scalars; every group, whole, and no bounds without a range."""
    import pyarrow as pa

    if time_range is None:
        return [(i, True) for i in range(parquet.metadata.num_row_groups)], None, None
    start, end, _ = _selection(time_range, None)
    ns = pa.timestamp("ns", tz="UTC")
    return _row_groups_in(parquet, start, end), pa.scalar(start, ns), pa.scalar(end, ns)


def _release_arrow_memory() -> None:
    """Give the memory Arrow freed while decoding back to the system.

    Arrow's allocator keeps what a read freed (the decoded pages, the file's
    bytes, the row groups filtered away) for its own later use; the frames and
    the analysis after a read allocate elsewhere. For a capture of ten million
    lines that is 0.5-0.6 GiB held by each notebook reading it, beside the
    others' (measured in ``benchmarks/bench_scale.py``).
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _rows_where(
    parquet: pq.ParquetFile,
    columns: list[str],
    where: Mapping[str, Collection[object]],
    time_range: tuple[object, object] | Window | None,
) -> tuple[pa.Table, np.ndarray]:
    """The ``columns`` of the rows whose ``where`` columns hold one of their values.

    Returns the rows (one chunk per column) and their numbers in the file. Row
    groups outside ``time_range`` are not decoded; each other group is decoded,
    filtered and dropped before the next.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    meta = parquet.metadata
    first = np.concatenate(
        [[0], np.cumsum([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])]
    )
    groups, low, high = _groups_for(parquet, time_range)
    schema = parquet.schema_arrow
    value_sets = {
        column: pa.array(list(values), type=schema.field(column).type)
        for column, values in where.items()
    }
    read = list(dict.fromkeys([*columns, *where, *(["time"] if low is not None else [])]))
    tables: list[pa.Table] = []
    numbers: list[np.ndarray] = []
    for group, whole in groups:
        table = parquet.read_row_group(group, columns=read, use_pandas_metadata=False)
        mask = None
        for column, values in value_sets.items():
            hit = pc.is_in(table[column], value_set=values)
            mask = hit if mask is None else pc.and_(mask, hit)
        if not whole and low is not None and high is not None:
            time = table["time"].cast(low.type)
            inside = pc.and_(pc.greater_equal(time, low), pc.less(time, high))
            mask = inside if mask is None else pc.and_(mask, inside)
        if mask is None:
            rows = np.arange(first[group], first[group + 1], dtype=np.int64)
        else:
            keep = pc.fill_null(mask, False)
            table = table.filter(keep)
            rows = pc.indices_nonzero(keep).to_numpy().astype(np.int64) + first[group]
        tables.append(table.select(columns))
        numbers.append(rows)
    if not tables:
        return schema.empty_table().select(columns), np.empty(0, dtype=np.int64)
    return pa.concat_tables(tables).combine_chunks(), np.concatenate(numbers)


def _rows_in(table: pa.Table, low: pa.Scalar, high: pa.Scalar) -> pa.Table:
    """The rows of ``table`` whose ``time`` is in ``[low, high)``, in order.

    Rows in time order (what the store writes) are a slice, not a copy.
    """
    chosen = _range_rows(table, low, high)
    return table.slice(*chosen) if isinstance(chosen, tuple) else table.filter(chosen)


def _range_rows(table: pa.Table, low: pa.Scalar, high: pa.Scalar) -> tuple[int, int] | pa.Array:
    """Which rows of ``table`` have their ``time`` in ``[low, high)``: ``(offset, length)``
    when they are consecutive (rows in time order), else a boolean mask."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    time = table["time"].cast(low.type)
    if time.null_count == 0 and time.num_chunks == 1:
        ns = time.chunk(0).view(pa.int64()).to_numpy()
        if ns.size < 2 or bool((ns[1:] >= ns[:-1]).all()):
            first, last = np.searchsorted(ns, [low.value, high.value])
            return int(first), int(last - first)
    mask: pa.Array = pc.fill_null(
        pc.and_(pc.greater_equal(time, low), pc.less(time, high)), False
    ).combine_chunks()
    return mask


def _numbered_rows(
    parquet: pq.ParquetFile,
    columns: list[str],
    time_range: tuple[object, object] | Window | None,
) -> tuple[pa.Table, pd.Index]:
    """The ``columns`` of the rows in ``time_range`` and their numbers in the file.

    The groups in range are decoded in one read (one chunk per column); rows in
    time order are a slice, numbered by a range (no array of numbers).
    """
    import numpy as np
    import pandas as pd

    meta = parquet.metadata
    first = np.concatenate(
        [[0], np.cumsum([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])]
    ).astype(np.int64)
    groups, low, high = _groups_for(parquet, time_range)
    if not groups:
        empty = parquet.schema_arrow.empty_table().select(columns)
        return empty, pd.RangeIndex(0)
    read = list(dict.fromkeys([*columns, *(["time"] if low is not None else [])]))
    table = parquet.read_row_groups([g for g, _ in groups], columns=read, use_pandas_metadata=False)
    indices = [g for g, _ in groups]
    consecutive = indices == list(range(indices[0], indices[-1] + 1))
    start = int(first[indices[0]])
    if consecutive:
        numbers: np.ndarray | range = range(start, start + table.num_rows)
    else:
        numbers = np.concatenate([np.arange(first[g], first[g + 1]) for g in indices])
    if low is not None and high is not None and not all(whole for _, whole in groups):
        chosen = _range_rows(table, low, high)
        if isinstance(chosen, tuple):
            offset, length = chosen
            table = table.slice(offset, length)
            numbers = numbers[offset : offset + length]
        else:
            table = table.filter(chosen)
            numbers = np.asarray(numbers)[chosen.to_numpy(zero_copy_only=False)]
    index = pd.RangeIndex(numbers.start, numbers.stop) if isinstance(numbers, range) else None
    return table.select(columns), index if index is not None else pd.Index(numbers, dtype="int64")


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


def _line_hash_bytes(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    return "a special file (FIFO, socket or device)"


def load_bundle_head(run_dir: str | os.PathLike[str]) -> tuple[EvidenceHead, dict[str, Any] | None]:
    """Read the evidence head (and its signature, if any) a bundle recorded in ``run.json``.

    Parameters
    ----------
    run_dir
        A run folder (``<workspace>/runs/<id>``) or its ``run.json``.

    Returns
    -------
    tuple
        The :class:`EvidenceHead` under ``evidence_head`` and the mapping under
        ``evidence_head_signature`` (``None`` when the bundle was not signed).

    Raises
    ------
    InvalidInput
        When there is no readable ``run.json``, or it records no valid head.
    """
    path = Path(run_dir)
    if path.name != "run.json" or path.is_dir():
        path = path / "run.json"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise InvalidInput(
            f"{path} does not exist: --bundle takes a run folder of the workspace "
            "(runs/<id>, the folder `incident run` printed)"
        ) from None
    except NotADirectoryError:
        raise InvalidInput(f"{path.parent} is not a run folder: pass runs/<id>") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{path} is {_kind(st.st_mode)}, not a regular file: pass a run folder")
    if st.st_size > MAX_RUN_JSON_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_RUN_JSON_BYTES} bytes: not a run.json")
    try:
        fd = _open_regular(path, "run.json")
        with os.fdopen(fd, "rb") as fh:
            data = json.loads(fh.read(MAX_RUN_JSON_BYTES + 1).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, EvidenceIntegrityError) as exc:
        reason = exc if isinstance(exc, EvidenceIntegrityError) else "not UTF-8 JSON"
        raise InvalidInput(f"{path} cannot be read as a run record ({reason})") from None
    if not isinstance(data, dict) or data.get(RUN_HEAD_KEY) is None:
        raise InvalidInput(
            f"{path} records no {RUN_HEAD_KEY} (the run did not complete, could not read "
            "the head, or was made by an older version); pass --head COUNT:HASH instead"
        )
    try:
        head = EvidenceHead.from_dict(data[RUN_HEAD_KEY])
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {RUN_HEAD_KEY} is invalid: {exc}") from None
    signature = data.get(RUN_SIGNATURE_KEY)
    if signature is not None and not isinstance(signature, dict):
        raise InvalidInput(f"{path}: {RUN_SIGNATURE_KEY} is not a JSON object")
    return head, signature


class EvidenceStore:
    """Captured frames of one incident workspace.

    Parameters
    ----------
    workspace
        The incident folder; evidence lives in ``<workspace>/evidence``.
    create
        Create the evidence folder if it does not exist (capturing needs it;
        reading does not).
    """

    def __init__(self, workspace: str | os.PathLike[str], *, create: bool = False) -> None:
        self.workspace = Path(workspace)
        self.root = self.workspace / "evidence"
        if self.workspace.exists() and not self.workspace.is_dir():
            raise WorkspaceError(
                f"workspace {self.workspace} is a file, not a folder; pass the incident folder "
                "(the one holding incident.yaml)"
            )
        if create:
            self._check_root()
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.workspace.is_dir():
            raise WorkspaceError(
                f"workspace {self.workspace} does not exist; open one with `incident new` "
                "or generate the demo with `incident demo`"
            )

    @property
    def manifest_path(self) -> Path:
        """Path of ``manifest.jsonl``."""
        return self.root / MANIFEST

    # -- bounded, link-free reading of the manifest --------------------------------
    def _check_root(self) -> bool:
        """Whether ``evidence/`` exists; raise if it is a link or not a folder."""
        try:
            mode = os.lstat(self.root).st_mode
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(mode):
            raise EvidenceIntegrityError(
                f"{self.root}: is {_kind(mode)}, not a folder; evidence must be a folder "
                f"inside the workspace, never a link out of it ({_FIX})"
            )
        return True

    def _manifest_bytes(self) -> bytes | None:
        """The manifest's bytes (``None`` when there is none), bounded and link-free."""
        if not self._check_root():
            return None
        path = self.manifest_path
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(mode):
            raise EvidenceIntegrityError(
                f"{path}: is {_kind(mode)}, not a regular file; the manifest must be a "
                f"regular file inside evidence/ ({_FIX})"
            )
        fd = _open_regular(path, "the manifest")
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise EvidenceIntegrityError(
                f"{path}: is larger than {MAX_MANIFEST_BYTES:,} bytes, more than any manifest "
                f"holds ({_FIX})"
            )
        return data

    def _manifest_lines(self) -> tuple[list[bytes], bool]:
        """The manifest's lines (without newlines) and whether the last one is torn."""
        data = self._manifest_bytes()
        if not data:
            return [], False
        lines = data.split(b"\n")
        torn = lines[-1] != b""
        if not torn:
            lines.pop()
        return lines, torn

    def _parse(self, number: int, line: bytes) -> ManifestEntry:
        """Parse manifest line ``number``; raise ``ValueError`` saying why it is not one."""
        if len(line) > MAX_LINE_BYTES:
            raise ValueError(f"longer than {MAX_LINE_BYTES // 1024} KiB")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not text (binary bytes)") from None
        try:
            return ManifestEntry.from_json(text)
        except json.JSONDecodeError:
            raise ValueError("not JSON") from None
        except (KeyError, TypeError) as exc:
            raise ValueError(f"wrong fields ({type(exc).__name__})") from None

    # -- reading -----------------------------------------------------------------
    def head(self) -> EvidenceHead:
        """The current head of the manifest chain (count and hash of the last line).

        Bundles record it (``run.json``: ``evidence_head``) so the evidence they
        were made from is pinned. An empty or absent manifest gives
        ``EvidenceHead(0, GENESIS)``.

        Raises
        ------
        EvidenceIntegrityError
            When the manifest is a link, not a regular file, too large, or its
            last line is torn.
        """
        lines, torn = self._manifest_lines()
        if torn:
            raise EvidenceIntegrityError(
                f"{self.manifest_path}: line {len(lines)} is truncated (no newline); "
                f"run `incident evidence verify {self.workspace}` for details"
            )
        if not lines:
            return EvidenceHead(0, GENESIS)
        return EvidenceHead(len(lines), _line_hash_bytes(lines[-1]))

    def entries(self) -> list[ManifestEntry]:
        """All manifest entries in order (empty when nothing was captured).

        Raises
        ------
        EvidenceIntegrityError
            When the manifest is a link, not a regular file, too large, or a line
            is not a manifest entry (the message names the file and line).
        """
        lines, _ = self._manifest_lines()
        out = []
        for number, line in enumerate(lines, 1):
            try:
                out.append(self._parse(number, line))
            except ValueError as exc:
                raise EvidenceIntegrityError(
                    f"{self.manifest_path}: line {number} is not a valid manifest entry ({exc}); "
                    f"run `incident evidence verify {self.workspace}` for details; {_FIX}"
                ) from None
        return out

    def latest(self, source: str, name: str) -> ManifestEntry:
        """The newest capture of ``source``/``name``.

        Raises
        ------
        EvidenceNotFound
            When nothing was captured under that source and name.
        """
        entries = self.entries()
        found = [e for e in entries if e.source == source and e.name == name]
        if not found:
            have = sorted({f"{e.source}/{e.name}" for e in entries})
            raise EvidenceNotFound(
                f"no evidence captured for {source}/{name} in {self.root}"
                + (f"; captured: {', '.join(have)}" if have else "; the store is empty")
            )
        return found[-1]

    def has(self, source: str, name: str) -> bool:
        """Whether anything was captured under ``source``/``name``."""
        return any(e.source == source and e.name == name for e in self.entries())

    def read(
        self,
        source: str,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        time_range: tuple[object, object] | Window | None = None,
        at: Iterable[object] | None = None,
        where: Mapping[str, Collection[object]] | None = None,
    ) -> pd.DataFrame:
        """Return the newest captured frame of ``source``/``name``, exactly as captured.

        The file's sha256 is checked against the manifest first.

        Parameters
        ----------
        source, name
            Which capture.
        columns, time_range, at, where
            Read only these columns, only these rows: see :meth:`read_entry`.

        Raises
        ------
        EvidenceNotFound, EvidenceIntegrityError, InvalidInput
        """
        entry = self.latest(source, name)
        return self.read_entry(entry, columns=columns, time_range=time_range, at=at, where=where)

    def read_entry(
        self,
        entry: ManifestEntry,
        *,
        columns: Sequence[str] | None = None,
        time_range: tuple[object, object] | Window | None = None,
        at: Iterable[object] | None = None,
        where: Mapping[str, Collection[object]] | None = None,
    ) -> pd.DataFrame:
        """Return the frame of one manifest entry, after checking its sha256.

        The bytes hashed are the bytes parsed (the file is read once, never
        through a symbolic link).

        Parameters
        ----------
        entry
            The capture (from :meth:`entries` or :meth:`latest`).
        columns
            Decode only these columns, in this order (``None``: all of them, in
            the captured order). A column the contract added since the capture
            comes back empty, as without ``columns``.
        time_range
            ``(start, end)``: only the rows whose ``time`` is in ``[start, end)``
            (timezone-aware; a :class:`~incident_lib.core.time.Window` works),
            in captured order, indexed from 0. Row groups whose ``time``
            statistics miss the range are not decoded (captures are written in
            row groups of :data:`ROW_GROUP_ROWS` rows).
        at
            Instead of ``time_range``: only the rows whose ``time`` is one of
            these times (e.g. the ``first_seen`` of a few signatures, to read
            their raw lines), in captured order, indexed from 0; only the row
            groups whose statistics may hold one of them are decoded.
        where
            Only the rows whose value in each named column is one of the values
            given (compared exactly; e.g. ``{"level": ("warning", "error")}``, as
            levels are captured in lower case), with ``time_range`` or alone (not
            with ``at``). The rows keep their number in the capture as their index
            (an event can point at its row), and a row group is decoded, filtered
            and let go before the next: the memory is that of the rows kept. An
            empty mapping keeps every row (in ``time_range``), numbered so.

        Raises
        ------
        EvidenceIntegrityError
            A missing, linked or changed file.
        InvalidInput
            A column the capture does not have, a ``time_range`` on a capture
            without a timezone-aware ``time`` column, a malformed range, or
            ``where`` with ``at``.
        """
        import pandas as pd

        if where is not None and at is not None:
            raise InvalidInput("read rows either where= some values or at= some times, not both")
        data = self._verified_bytes(entry)
        kind = EVIDENCE_KINDS.get((entry.source, entry.name))
        try:
            if columns is None and time_range is None and at is None and where is None:
                frame = pd.read_parquet(io.BytesIO(data))
                return with_added_columns(frame, kind) if kind is not None else frame
            return self._read_part(entry, data, kind, columns, time_range, at, where)
        finally:
            del data
            _release_arrow_memory()

    def distinct(self, entry: ManifestEntry, column: str) -> list[str]:
        """The distinct values of a text column of a capture (the levels of its logs), sorted.

        Decoded as Parquet dictionary indices, a row group at a time: no value of
        a row reaches Python (the levels of ten million lines take a fraction of
        a second, after the file's sha256 is checked).

        Parameters
        ----------
        entry
            The capture (from :meth:`entries` or :meth:`latest`).
        column
            A text column of the capture.

        Raises
        ------
        EvidenceIntegrityError
            A missing, linked or changed file.
        InvalidInput
            The capture has no such column, or it does not hold text.
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        data = self._verified_bytes(entry)
        try:
            schema = pq.read_schema(pa.BufferReader(pa.py_buffer(data)))
            if column not in schema.names:
                raise InvalidInput(
                    f"capture #{entry.seq} ({entry.file}) has no column {column!r}; "
                    f"it has {list(schema.names)}"
                )
            kind = schema.field(column).type
            if pa.types.is_dictionary(kind):
                kind = kind.value_type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                raise InvalidInput(
                    f"capture #{entry.seq} ({entry.file}): column {column!r} holds {kind}, not text"
                )
            parquet = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)), read_dictionary=[column])
            values: set[str] = set()
            for group in range(parquet.metadata.num_row_groups):
                chunked = parquet.read_row_group(group, columns=[column])[column]
                for part in chunked.chunks:
                    used = pc.unique(part.indices).drop_null()
                    values.update(str(v) for v in part.dictionary.take(used).to_pylist())
            return sorted(values)
        finally:
            del data
            _release_arrow_memory()

    def batches(
        self,
        source: str,
        name: str,
        *,
        columns: Sequence[str],
        time_range: tuple[object, object] | Window | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The newest capture of ``source``/``name`` a row group at a time, in order.

        For a pass over every line of a big capture without holding a column of
        all of them (the raw text of ten million log lines is gigabytes): the
        file's sha256 is checked first, then each row group of at most
        :data:`ROW_GROUP_ROWS` rows is decoded when the one before has been used.

        Parameters
        ----------
        source, name
            Which capture.
        columns
            The columns, as for :meth:`read_entry` (those it does not have are
            refused).
        time_range
            Only the rows whose ``time`` is in ``[start, end)``, as for
            :meth:`read_entry`.

        Yields
        ------
        pandas.DataFrame
            Consecutive parts of what :meth:`read` with the same arguments returns
            (each indexed from 0; empty parts are left out).

        Raises
        ------
        EvidenceNotFound, EvidenceIntegrityError, InvalidInput
            Before the first part.
        """
        entry = self.latest(source, name)
        parquet_groups = self._group_reader(entry, columns, time_range)
        return (part for part in parquet_groups if len(part))

    def _group_reader(
        self,
        entry: ManifestEntry,
        columns: Sequence[str],
        time_range: tuple[object, object] | Window | None,
    ) -> Iterator[pd.DataFrame]:
        """Check ``entry`` and its columns now; decode its row groups when iterated."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = self._verified_bytes(entry)
        parquet = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)))
        stored = list(parquet.schema_arrow.names)
        wanted = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in wanted if c not in stored]
        if unknown:
            raise InvalidInput(
                f"capture #{entry.seq} ({entry.file}) has no column(s) {unknown}; it has {stored}"
            )
        groups, low, high = _groups_for(parquet, time_range)

        def parts() -> Iterator[pd.DataFrame]:
            read = list(dict.fromkeys([*wanted, "time"])) if low is not None else wanted
            for group, whole in groups:
                table = parquet.read_row_group(group, columns=read, use_pandas_metadata=False)
                if not whole and low is not None and high is not None:
                    table = _rows_in(table, low, high)
                yield table.select(wanted).to_pandas()
            _release_arrow_memory()

        return parts()

    def _verified_bytes(self, entry: ManifestEntry) -> bytes:
        """The bytes of ``entry``'s file, after checking its sha256 (read once, no links)."""
        self._check_root()
        if Path(entry.file).name != entry.file:
            raise EvidenceIntegrityError(f"evidence file name {entry.file!r} is not a file name")
        path = self.root / entry.file
        try:
            fd = _open_regular(path, "an evidence file")
        except FileNotFoundError:
            raise EvidenceIntegrityError(
                f"evidence file {path} recorded in the manifest is missing"
            ) from None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise EvidenceIntegrityError(
                f"evidence file {path} does not match its manifest hash (changed or truncated)"
            )
        return data

    def _read_part(
        self,
        entry: ManifestEntry,
        data: bytes,
        kind: str | None,
        columns: Sequence[str] | None,
        time_range: tuple[object, object] | Window | None,
        at: Iterable[object] | None = None,
        where: Mapping[str, Collection[object]] | None = None,
    ) -> pd.DataFrame:
        """Decode some columns and rows of a capture's (already verified) bytes."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        captured = dict(entry.columns)
        stored = list(pq.read_schema(io.BytesIO(data)).names)
        added = set(with_added_columns(pd.DataFrame(), kind).columns) if kind else set()
        if isinstance(columns, str):
            columns = [columns]
        wanted = list(stored if columns is None else columns)
        unknown = [c for c in wanted if c not in stored and c not in added]
        if unknown:
            raise InvalidInput(
                f"capture #{entry.seq} ({entry.file}) has no column(s) {unknown}; it has {stored}"
            )
        read = [c for c in wanted if c in stored]
        # over the bytes already read and hashed (no copy of the file)
        parquet = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)))
        if where is not None:
            missing = [c for c in where if c not in stored]
            if missing:
                raise InvalidInput(
                    f"capture #{entry.seq} ({entry.file}) has no column(s) {missing} to select "
                    f"rows on; it has {stored}"
                )
            if time_range is not None and (
                "time" not in stored or not captured.get("time", "").startswith("datetime64")
            ):
                raise InvalidInput(
                    f"capture #{entry.seq} ({entry.file}) has no time column to select a "
                    "time range on; read it without time_range"
                )
            if where:
                rows, numbers = _rows_where(parquet, read, where, time_range)
                index = pd.Index(numbers)
            else:  # every row (in the range), numbered as in the capture
                rows, index = _numbered_rows(parquet, read, time_range)
            frame_kept: pd.DataFrame = rows.to_pandas()
            frame_kept.index = index
            if kind is not None:
                frame_kept = with_added_columns(frame_kept, kind)
            return frame_kept[wanted]
        if time_range is None and at is None:
            table = parquet.read(columns=read, use_pandas_metadata=False)
        else:
            start, end, instants = _selection(time_range, at)
            if "time" not in stored or not captured.get("time", "").startswith("datetime64"):
                raise InvalidInput(
                    f"capture #{entry.seq} ({entry.file}) has no time column to select a "
                    "time range on; read it without time_range"
                )
            # nanosecond scalars: a bound given as a Timestamp must not round to microseconds
            ns = pa.timestamp("ns", tz="UTC")
            low, high = pa.scalar(start, ns), pa.scalar(end, ns)
            groups = _row_groups_in(parquet, start, end, instants)
            columns_read = list(dict.fromkeys([*read, "time"]))
            if not groups:
                table = parquet.schema_arrow.empty_table().select(read)
            elif instants is not None:  # a few rows: each group filtered as it is read
                wanted_times = pa.array(instants, type=ns)
                parts = [
                    parquet.read_row_group(g, columns=columns_read, use_pandas_metadata=False)
                    for g, _ in groups
                ]
                parts = [
                    part.filter(pc.is_in(part["time"].cast(ns), value_set=wanted_times))
                    for part in parts
                ]
                table = pa.concat_tables(parts).combine_chunks().select(read)
            else:
                # the groups in one read: one chunk per column (pandas takes rows from a
                # column of many chunks by concatenating them first, at every take)
                table = parquet.read_row_groups(
                    [g for g, _ in groups], columns=columns_read, use_pandas_metadata=False
                )
                if not all(whole for _, whole in groups):  # only the rows in range
                    table = _rows_in(table, low, high)
                table = table.select(read)
        frame: pd.DataFrame = table.to_pandas()
        if kind is not None:
            frame = with_added_columns(frame, kind)
        return frame[wanted]

    # -- writing -----------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._check_root()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(
                self.root / LOCK, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666
            )
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise EvidenceIntegrityError(
                f"{self.root / LOCK}: is a symbolic link; nothing is captured through it ({_FIX})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def _shared_lock(self) -> Iterator[None]:
        """Hold the lock shared (no capture in between) when it can be opened read-only."""
        try:
            fd = os.open(self.root / LOCK, _O_READ)
        except OSError:  # no lock file (nothing captured), a link, unreadable: verify says
            yield
            return
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def capture(
        self,
        df: pd.DataFrame,
        *,
        source: str,
        name: str,
        query: Mapping[str, Any] | None = None,
        fetched_at: datetime | None = None,
    ) -> ManifestEntry:
        """Capture ``df`` as Parquet and append its manifest line.

        Text columns and the query parameters pass through redaction first.

        Parameters
        ----------
        df
            The frame to capture (any columns; contracts are the sources' job).
        source, name
            Lower-case identifiers, e.g. ``"kubernetes"``, ``"logs"``.
        query
            The parameters of the fetch (never credentials; redacted anyway).
        fetched_at
            When the data was fetched (default: now).
        """
        for label, value in (("source", source), ("name", name)):
            if not _NAME.match(value):
                raise InvalidInput(
                    f"evidence {label} {value!r} is invalid: use lower-case letters, digits "
                    "and underscores, starting with a letter"
                )
        clean = redact_frame(df)
        when = (fetched_at or datetime.now(UTC)).astimezone(UTC)
        safe_query = redact_obj(dict(query or {}))
        with self._locked():
            entries = self.entries()
            seq = entries[-1].seq + 1 if entries else 1
            prev = self.head().hash
            filename = f"{seq:04d}-{source}-{name}.parquet"
            entry = ManifestEntry(
                seq=seq,
                source=source,
                name=name,
                query=safe_query,
                fetched_at=when.isoformat().replace("+00:00", "Z"),
                rows=len(clean),
                columns=tuple((str(c), str(t)) for c, t in clean.dtypes.items()),
                file=filename,
                sha256=GENESIS,
                prev=prev,
            )
            if len(entry.to_json()) > MAX_LINE_BYTES - 100:
                raise InvalidInput(
                    f"the query of {source}/{name} is too large to record "
                    f"(over {MAX_LINE_BYTES // 1024} KiB); pass fewer or shorter parameters"
                )
            target = self.root / filename
            with atomic_path(target) as tmp:
                clean.to_parquet(tmp, index=False, row_group_size=ROW_GROUP_ROWS)
                digest = _sha256_file(tmp)
            _fsync_dir(self.root)
            entry = dataclasses.replace(entry, sha256=digest)
            fd = os.open(
                self.manifest_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666
            )
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(entry.to_json() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return entry

    # -- verification ------------------------------------------------------------
    def verify(self, head: EvidenceHead | None = None) -> VerifyReport:
        """Check every file hash, the chain of manifest lines, and what else is in evidence/.

        Parameters
        ----------
        head
            The head a bundle recorded (``run.json``: ``evidence_head``). The chain
            must reach exactly that head, or go beyond it with the head's line
            intact: deleting the last captures, editing the last line, rebuilding
            the chain or deleting everything is then detected. Without it, the
            last line and the number of lines are not anchored (the report's
            :meth:`~VerifyReport.summary` says so).

        Returns
        -------
        VerifyReport
            Each problem names the file (and the manifest line): a changed,
            truncated, missing or unreadable file, a line changed, duplicated or
            out of order, a line that is not a manifest entry, a symbolic link,
            a file or folder not in the manifest, a manifest that is not a
            regular file or is too large, a head that the chain does not reach.
        """
        problems: list[str] = []
        try:
            exists = self._check_root()
        except EvidenceIntegrityError as exc:
            return VerifyReport(0, (str(exc),), None, head)
        lines: list[bytes] | None = []
        with self._shared_lock() if exists else contextlib.nullcontext():
            listing = self._listing(problems) if exists else {}
            try:
                lines, torn = self._manifest_lines()
            except EvidenceIntegrityError as exc:
                problems.append(str(exc))
                lines, torn = None, False
            if torn:
                problems.append(
                    f"{self.manifest_path}: line {len(lines or [])} is truncated (no newline)"
                )
            recorded = self._check_lines(lines or [], problems)
        for name, mode in sorted(listing.items()):
            if name == MANIFEST or name in recorded:
                continue
            path = self.root / name
            if name == LOCK:
                if not stat.S_ISREG(mode):
                    problems.append(f"{path}: is {_kind(mode)}; the capture lock must be a file")
            elif lines is None:
                continue  # the manifest is unreadable: what it records is unknown
            elif name.startswith(".tmp-") and stat.S_ISREG(mode):
                problems.append(
                    f"{path}: a leftover of an interrupted capture, not recorded in the "
                    "manifest; delete it"
                )
            else:
                why = "manifest.jsonl is missing" if not lines else "unknown files are refused"
                problems.append(
                    f"{path}: {_kind(mode)} not recorded in the manifest ({why}); remove it, "
                    f"or {_RESTORE}"
                )
        current = None
        if lines is not None and not torn:
            current = (
                EvidenceHead(len(lines), _line_hash_bytes(lines[-1]))
                if lines
                else EvidenceHead(0, GENESIS)
            )
        if head is not None and lines is not None:
            problems.extend(self._check_head(lines, head))
        if len(problems) > MAX_PROBLEMS:
            rest = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], f"... and {rest} more problem(s)"]
        return VerifyReport(len(lines or []), tuple(problems), current, head)

    def _listing(self, problems: list[str]) -> dict[str, int]:
        """Names in evidence/ and their lstat modes (links are not followed)."""
        out: dict[str, int] = {}
        try:
            with os.scandir(self.root) as it:
                for item in it:
                    if len(out) >= MAX_FILES:
                        problems.append(
                            f"{self.root}: more than {MAX_FILES} entries, not all examined ({_FIX})"
                        )
                        break
                    out[item.name] = item.stat(follow_symlinks=False).st_mode
        except PermissionError:
            problems.append(
                f"{self.root}: cannot be listed (permission denied); give yourself read "
                f"access (chmod u+rx {self.root}) and verify again"
            )
        return out

    def _check_lines(self, lines: list[bytes], problems: list[str]) -> set[str]:
        """Check each line, the chain and each recorded file; return the files recorded."""
        prev = GENESIS
        recorded: set[str] = set()
        where = self.manifest_path
        for number, line in enumerate(lines, 1):
            line_hash = _line_hash_bytes(line)
            try:
                entry = self._parse(number, line)
            except ValueError as exc:
                problems.append(
                    f"{where}: line {number} is not a valid manifest entry ({exc}); {_FIX}"
                )
                prev = line_hash
                continue
            if entry.to_json().encode() != line:
                problems.append(
                    f"{where}: line {number} ({entry.file}) is not in the form the store "
                    "writes (edited by hand?)"
                )
            if entry.prev != prev:
                problems.append(
                    f"{where}: line {number} ({entry.file}) breaks the hash chain "
                    "(a line before it was changed, removed or reordered)"
                )
            if entry.seq != number:
                problems.append(
                    f"{where}: line {number} ({entry.file}) has sequence {entry.seq}, "
                    f"expected {number} (lines removed, duplicated or reordered)"
                )
            prev = line_hash
            if entry.file in recorded:
                problems.append(f"{where}: line {number} records {entry.file} a second time")
                continue
            recorded.add(entry.file)
            problem = self._file_problem(entry)
            if problem:
                problems.append(problem)
        return recorded

    def _file_problem(self, entry: ManifestEntry) -> str | None:
        path = self.root / entry.file
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return f"{path}: missing (recorded in the manifest)"
        if not stat.S_ISREG(mode):
            target = ""
            if stat.S_ISLNK(mode):
                with contextlib.suppress(OSError):
                    target = f" to {os.readlink(path)[:200]!r}"
            return (
                f"{path}: is {_kind(mode)}{target}, not the regular file captured; "
                f"evidence is never read through links ({_FIX})"
            )
        try:
            digest = _sha256_file(path)
        except EvidenceIntegrityError as exc:
            return str(exc)
        except OSError as exc:
            return f"{path}: cannot be read ({exc.strerror})"
        if digest != entry.sha256:
            return f"{path}: content changed or truncated (sha256 mismatch)"
        return None

    def _check_head(self, lines: list[bytes], head: EvidenceHead) -> list[str]:
        where = self.manifest_path
        if len(lines) < head.count:
            return [
                f"{where}: {len(lines)} captures, but the recorded head has {head.count}: "
                f"the last {head.count - len(lines)} were deleted (or this is not the "
                "workspace the bundle was made from)"
            ]
        if head.count and _line_hash_bytes(lines[head.count - 1]) != head.hash:
            return [
                f"{where}: line {head.count} does not match the recorded head "
                f"{head.count}:{head.hash[:16]}… (the line was changed, or the chain rebuilt)"
            ]
        return []
