"""Incident workspaces: one folder per incident, holding the record, evidence and runs.

::

    incidents/<INCIDENT-ID>/
      incident.yaml      the record
      evidence/          captured frames + manifest.jsonl
      runs/<run-id>/     executed notebooks, HTML, charts, index.html, findings.json

(``timeline.jsonl`` and ``postmortem.md`` of the design come with the
mitigation and post-mortem notebooks.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidIncident, WorkspaceError
from .evidence import EvidenceStore
from .incident import INCIDENT_FILE, Incident

__all__ = ["Workspace", "create_workspace", "default_demo_root", "open_workspace"]

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
    return Workspace(folder.resolve(), Incident.load(folder))


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
    incident.save(folder)
    (folder / "evidence").mkdir(exist_ok=True)
    (folder / "runs").mkdir(exist_ok=True)
    return Workspace(folder.resolve(), incident)


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
