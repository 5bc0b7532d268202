"""Incident workspaces: one folder per incident, holding the record, evidence and runs.

::

    incidents/<INCIDENT-ID>/
      incident.yaml      the record
      evidence/          captured frames + manifest.jsonl
      runs/<run-id>/     executed notebooks, HTML, charts, index.html, findings.json
      timeline.jsonl     the timeline: one event per line, append-only

(``postmortem.md`` of the design comes with the post-mortem notebook.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import InvalidIncident, WorkspaceError
from ..core.incident import Incident
from .evidence import EvidenceStore
from .files import atomic_write_text, check_inside, write_error

if TYPE_CHECKING:
    from .timeline import TimelineStore

__all__ = [
    "INCIDENT_FILE",
    "MAX_RECORD_BYTES",
    "TIMELINE_FILE",
    "Workspace",
    "create_workspace",
    "default_demo_root",
    "open_workspace",
    "read_incident",
    "write_incident",
]

#: the record's file name inside a workspace
INCIDENT_FILE = "incident.yaml"

#: the timeline's file name inside a workspace (:mod:`incident_lib.infra.timeline`)
TIMELINE_FILE = "timeline.jsonl"

#: marks a workspace that ``incident demo`` generated and may regenerate
DEMO_MARKER = ".demo-scenario"

#: the largest ``incident.yaml`` read (a record is a few hundred bytes)
MAX_RECORD_BYTES = 64 * 1024

# what a workspace holds itself: never a symbolic link (a link would send
# captures, bundles or the record's reads out of the workspace)
_OWN_ENTRIES = (INCIDENT_FILE, "evidence", "runs", TIMELINE_FILE, DEMO_MARKER)


@dataclass(frozen=True, slots=True)
class Workspace:
    """An opened, validated incident workspace."""

    path: Path
    incident: Incident

    @property
    def evidence(self) -> EvidenceStore:
        """The workspace's evidence store (``evidence/`` must not be a symbolic link)."""
        check_inside(self.path / "evidence", self.path)
        return EvidenceStore(self.path, create=True)

    @property
    def timeline(self) -> TimelineStore:
        """The workspace's timeline (``timeline.jsonl``, append-only, never a link)."""
        from .timeline import TimelineStore  # timeline imports this module

        check_inside(self.path / TIMELINE_FILE, self.path)
        return TimelineStore(self.path)

    @property
    def runs_dir(self) -> Path:
        """Folder that holds one sub-folder per run.

        Raises
        ------
        WorkspaceError
            ``runs`` is a symbolic link (a bundle would be written elsewhere).
        """
        runs = self.path / "runs"
        check_inside(runs, self.path)
        return runs

    @property
    def demo_scenario(self) -> str | None:
        """The demo scenario this workspace was generated from, if any."""
        marker = self.path / DEMO_MARKER
        return marker.read_text().strip() if marker.exists() else None


def open_workspace(path: str | os.PathLike[str]) -> Workspace:
    """Open an incident workspace and validate its record.

    Raises
    ------
    WorkspaceError
        The folder does not exist or holds no ``incident.yaml``.
    InvalidIncident
        The record is invalid (the message lists every problem).
    """
    folder = Path(path).expanduser()
    if not str(path):
        raise WorkspaceError("no workspace given: pass the incident folder (incidents/<ID>)")
    if folder.exists() and not folder.is_dir():
        hint = (
            f"pass its folder, {folder.parent}"
            if folder.name == INCIDENT_FILE
            else "pass the incident folder that holds incident.yaml (incidents/<ID>)"
        )
        raise WorkspaceError(f"workspace {folder} is a file, not a folder; {hint}")
    if not folder.is_dir():
        raise WorkspaceError(
            f"workspace {folder} does not exist; open one with `incident new` "
            "or generate a demo with `incident demo`"
        )
    for entry in _OWN_ENTRIES:
        check_inside(folder / entry, folder)
    if not (folder / INCIDENT_FILE).exists():
        raise WorkspaceError(
            f"{folder} holds no {INCIDENT_FILE}; is it an incident workspace? "
            "open one with `incident new`"
        )
    for entry in ("evidence", "runs"):
        if (folder / entry).exists() and not (folder / entry).is_dir():
            raise WorkspaceError(
                f"{folder / entry} is a file; a workspace keeps a folder there: move the file aside"
            )
    return Workspace(folder.resolve(), read_incident(folder))


def create_workspace(incident: Incident, path: str | os.PathLike[str]) -> Workspace:
    """Create the workspace folder for ``incident`` and write its record.

    Refuses to touch an existing ``incident.yaml``.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise WorkspaceError(f"{folder} exists and is not a folder; choose another --workspace")
    if (folder / INCIDENT_FILE).exists():
        raise InvalidIncident(
            f"{folder / INCIDENT_FILE} already exists; refusing to overwrite an incident record"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"cannot create {folder}: {exc.strerror}") from None
    for entry in _OWN_ENTRIES:
        check_inside(folder / entry, folder)
    write_incident(incident, folder)
    try:
        (folder / "evidence").mkdir(exist_ok=True)
        (folder / "runs").mkdir(exist_ok=True)
    except OSError as exc:
        raise write_error(folder, exc) from None
    return Workspace(folder.resolve(), incident)


def read_incident(path: str | os.PathLike[str]) -> Incident:
    """Load and validate ``incident.yaml`` (``path`` may be the workspace folder).

    The file is read without following a symbolic link, up to
    :data:`MAX_RECORD_BYTES`, and must be UTF-8 text.

    Raises
    ------
    InvalidIncident
        Missing, linked, oversized or non-UTF-8 file, YAML syntax error,
        duplicate key or invalid fields, in one line naming the file.
    """
    file = Path(path)
    if file.is_dir():
        file = file / INCIDENT_FILE
    if not file.exists() and not file.is_symlink():
        raise InvalidIncident(
            f"{file}: not found; open an incident with `incident new` or pass the "
            "incident folder that holds incident.yaml"
        )
    return Incident.from_yaml(_read_record(file), origin=str(file))


def _read_record(file: Path) -> str:
    """The text of ``file``: a regular file (never through a link), bounded, UTF-8."""
    import stat

    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if file.is_symlink():
            raise InvalidIncident(
                f"{file}: is a symbolic link (to {os.readlink(file)}); the record is read "
                "only from the workspace itself: replace the link with the file"
            ) from None
        raise InvalidIncident(f"{file}: cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise InvalidIncident(f"{file}: not a regular file; incident.yaml is a YAML text file")
        data = fh.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise InvalidIncident(
            f"{file}: larger than {MAX_RECORD_BYTES // 1024} KiB; a record is a few hundred "
            "bytes: keep notes in the timeline (`incident note`), not in incident.yaml"
        )
    try:
        return data.decode("utf-8-sig")  # an editor's byte-order mark is not text
    except UnicodeDecodeError as exc:
        raise InvalidIncident(
            f"{file}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def write_incident(
    incident: Incident, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write the record atomically (temporary file + rename) and return the file's path.

    Parameters
    ----------
    incident
        The record; one that would not load back is refused.
    path
        The workspace folder or the file path.
    overwrite
        Replace an existing file; by default an existing record is never touched.
    """
    file = Path(path)
    if file.suffix not in (".yaml", ".yml"):
        file = file / INCIDENT_FILE
    if file.is_symlink():
        raise InvalidIncident(
            f"{file} is a symbolic link (to {os.readlink(file)}); refusing to write the "
            "record through it: replace the link with the file"
        )
    if file.exists() and not overwrite:
        raise InvalidIncident(f"{file} already exists; refusing to overwrite it")
    return atomic_write_text(file, incident.to_yaml(), root=file.parent)


def default_demo_root() -> Path:
    """Where notebooks opened without a workspace keep their demo incidents.

    ``$INCIDENT_DEMO_DIR`` if set, else ``$XDG_CACHE_HOME/incident-runbooks/demo``
    (``~/.cache/...``).
    """
    explicit = os.environ.get("INCIDENT_DEMO_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "incident-runbooks" / "demo"
