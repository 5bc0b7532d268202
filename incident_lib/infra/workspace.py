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
from .files import atomic_write_text

if TYPE_CHECKING:
    from .timeline import TimelineStore

__all__ = [
    "INCIDENT_FILE",
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


@dataclass(frozen=True, slots=True)
class Workspace:
    """An opened, validated incident workspace."""

    path: Path
    incident: Incident

    @property
    def evidence(self) -> EvidenceStore:
        """The workspace's evidence store."""
        return EvidenceStore(self.path, create=True)

    @property
    def timeline(self) -> TimelineStore:
        """The workspace's timeline (``timeline.jsonl``, append-only)."""
        from .timeline import TimelineStore  # timeline imports this module

        return TimelineStore(self.path)

    @property
    def runs_dir(self) -> Path:
        """Folder that holds one sub-folder per run."""
        return self.path / "runs"

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
    if not folder.is_dir():
        raise WorkspaceError(
            f"workspace {folder} does not exist; open one with `incident new` "
            "or generate a demo with `incident demo`"
        )
    if not (folder / INCIDENT_FILE).exists():
        raise WorkspaceError(
            f"{folder} holds no {INCIDENT_FILE}; is it an incident workspace? "
            "open one with `incident new`"
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
    write_incident(incident, folder)
    (folder / "evidence").mkdir(exist_ok=True)
    (folder / "runs").mkdir(exist_ok=True)
    return Workspace(folder.resolve(), incident)


def read_incident(path: str | os.PathLike[str]) -> Incident:
    """Load and validate ``incident.yaml`` (``path`` may be the workspace folder).

    Raises
    ------
    InvalidIncident
        Missing file, YAML syntax error or invalid fields, in one line.
    """
    file = Path(path)
    if file.is_dir():
        file = file / INCIDENT_FILE
    if not file.exists():
        raise InvalidIncident(
            f"{file}: not found; open an incident with `incident new` or pass the "
            "incident folder that holds incident.yaml"
        )
    return Incident.from_yaml(file.read_text(), origin=str(file))


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
    if file.exists() and not overwrite:
        raise InvalidIncident(f"{file} already exists; refusing to overwrite it")
    return atomic_write_text(file, incident.to_yaml())


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
