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

The store captures and reads; it does not decide between them. The runbook
does, once, from the mode checked where it entered: live, it captures what a
source fetched and reads that capture back (:meth:`EvidenceStore.capture` then
:meth:`EvidenceStore.read_entry`); offline, it reads (:meth:`EvidenceStore.read`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import EvidenceIntegrityError, EvidenceNotFound, InvalidInput, WorkspaceError
from .files import atomic_path
from .redact import redact_frame, redact_obj

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EvidenceStore", "ManifestEntry", "VerifyReport"]

GENESIS = "0" * 64
MANIFEST = "manifest.jsonl"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


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
        """Parse one manifest line; raise ``ValueError`` if it is malformed."""
        data = json.loads(line)
        return cls(
            seq=int(data["seq"]),
            source=str(data["source"]),
            name=str(data["name"]),
            query=data["query"],
            fetched_at=str(data["fetched_at"]),
            rows=int(data["rows"]),
            columns=tuple((str(a), str(b)) for a, b in data["columns"]),
            file=str(data["file"]),
            sha256=str(data["sha256"]),
            prev=str(data["prev"]),
        )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of :meth:`EvidenceStore.verify`: ``ok`` and the problems found."""

    entries: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every file and the whole chain check out."""
        return not self.problems

    def raise_for_problems(self, store: Path) -> None:
        """Raise :class:`EvidenceIntegrityError` naming the first problem, if any."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise EvidenceIntegrityError(
                f"evidence in {store} does not verify: {self.problems[0]}{more}; "
                f"see `incident evidence verify {store.parent}`"
            )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        if create:
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

    # -- reading -----------------------------------------------------------------
    def entries(self) -> list[ManifestEntry]:
        """All manifest entries in order (empty when nothing was captured)."""
        if not self.manifest_path.exists():
            return []
        out = []
        for number, line in enumerate(self.manifest_path.read_text().splitlines(), 1):
            try:
                out.append(ManifestEntry.from_json(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise EvidenceIntegrityError(
                    f"{self.manifest_path}: line {number} is not a valid manifest entry ({exc}); "
                    "run `incident evidence verify` for details"
                ) from None
        return out

    def latest(self, source: str, name: str) -> ManifestEntry:
        """The newest capture of ``source``/``name``.

        Raises
        ------
        EvidenceNotFound
            When nothing was captured under that source and name.
        """
        found = [e for e in self.entries() if e.source == source and e.name == name]
        if not found:
            have = sorted({f"{e.source}/{e.name}" for e in self.entries()})
            raise EvidenceNotFound(
                f"no evidence captured for {source}/{name} in {self.root}"
                + (f"; captured: {', '.join(have)}" if have else "; the store is empty")
            )
        return found[-1]

    def has(self, source: str, name: str) -> bool:
        """Whether anything was captured under ``source``/``name``."""
        return any(e.source == source and e.name == name for e in self.entries())

    def read(self, source: str, name: str) -> pd.DataFrame:
        """Return the newest captured frame of ``source``/``name``, exactly as captured.

        The file's sha256 is checked against the manifest first.

        Raises
        ------
        EvidenceNotFound, EvidenceIntegrityError
        """
        return self.read_entry(self.latest(source, name))

    def read_entry(self, entry: ManifestEntry) -> pd.DataFrame:
        """Return the frame of one manifest entry, after checking its sha256."""
        import pandas as pd

        path = self.root / entry.file
        if not path.exists():
            raise EvidenceIntegrityError(
                f"evidence file {path} recorded in the manifest is missing"
            )
        if _sha256_file(path) != entry.sha256:
            raise EvidenceIntegrityError(
                f"evidence file {path} does not match its manifest hash (changed or truncated)"
            )
        return pd.read_parquet(path)

    # -- writing -----------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

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
            prev = (
                _line_hash(self.manifest_path.read_text().splitlines()[-1]) if entries else GENESIS
            )
            filename = f"{seq:04d}-{source}-{name}.parquet"
            target = self.root / filename
            with atomic_path(target) as tmp:
                clean.to_parquet(tmp, index=False)
                digest = _sha256_file(tmp)
            _fsync_dir(self.root)
            entry = ManifestEntry(
                seq=seq,
                source=source,
                name=name,
                query=safe_query,
                fetched_at=when.isoformat().replace("+00:00", "Z"),
                rows=len(clean),
                columns=tuple((str(c), str(t)) for c, t in clean.dtypes.items()),
                file=filename,
                sha256=digest,
                prev=prev,
            )
            with self.manifest_path.open("a") as fh:
                fh.write(entry.to_json() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return entry

    # -- verification ------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Check every file hash, the chain of manifest lines and stray files.

        Returns a report naming each problem: a changed, truncated or missing
        file, a line changed or out of order, a file not in the manifest. A
        store where nothing was captured yet verifies (with 0 entries).
        """
        problems: list[str] = []
        stray = sorted(self.root.glob("*.parquet")) if self.root.is_dir() else []
        if not self.manifest_path.exists():
            return VerifyReport(
                0,
                tuple(
                    f"{path}: not recorded in the manifest ({MANIFEST} is missing)"
                    for path in stray
                ),
            )
        raw = self.manifest_path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            problems.append(f"{self.manifest_path}: last line is truncated (no newline)")
        lines = raw.decode(errors="replace").splitlines()
        prev = GENESIS
        recorded: set[str] = set()
        for number, line in enumerate(lines, 1):
            try:
                entry = ManifestEntry.from_json(line)
            except (ValueError, KeyError, TypeError):
                problems.append(f"{self.manifest_path}: line {number} is not a valid entry")
                prev = _line_hash(line)
                continue
            if entry.prev != prev:
                problems.append(
                    f"{self.manifest_path}: line {number} ({entry.file}) breaks the hash chain "
                    "(a line before it was changed, removed or reordered)"
                )
            if entry.seq != number:
                problems.append(
                    f"{self.manifest_path}: line {number} ({entry.file}) has sequence {entry.seq}, "
                    f"expected {number} (lines removed or reordered)"
                )
            prev = _line_hash(line)
            recorded.add(entry.file)
            path = self.root / entry.file
            if not path.exists():
                problems.append(f"{path}: missing (recorded in the manifest)")
            elif _sha256_file(path) != entry.sha256:
                problems.append(f"{path}: content changed or truncated (sha256 mismatch)")
        for path in stray:
            if path.name not in recorded:
                problems.append(f"{path}: not recorded in the manifest")
        return VerifyReport(len(lines), tuple(problems))
