"""Writing a demo workspace: generate into a temporary sibling, then swap it into place.

Bump :data:`GENERATOR_VERSION` whenever the generated data changes, so that
:func:`ensure_demo` regenerates the demos cached in users' demo folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import InvalidInput, WorkspaceError
from ..infra.evidence import EvidenceStore
from ..infra.workspace import (
    DEMO_MARKER,
    INCIDENT_FILE,
    Workspace,
    default_demo_root,
    open_workspace,
    write_incident,
)
from ._scenarios import SCENARIOS

#: records which generator (and seed) wrote a demo, so ensure_demo can refresh stale ones
STAMP_FILE = ".demo-generator"
GENERATOR_VERSION = "incident_lib.demo/3"
DEFAULT_SEED = 7


def check_scenario(scenario: object) -> str:
    """Return ``scenario`` if it names a known scenario, else raise :class:`InvalidInput`."""
    if not isinstance(scenario, str) or scenario not in SCENARIOS:
        raise InvalidInput(
            f"unknown demo scenario {scenario!r}; known scenarios: {', '.join(SCENARIOS)}"
        )
    return scenario


def _stamp(seed: int) -> str:
    return f"{GENERATOR_VERSION} seed={seed}\n"


def _check_target(target: Path) -> None:
    """Refuse a target that is not missing, empty, or an earlier demo."""
    if target.is_symlink():
        raise WorkspaceError(f"{target} is a symbolic link; refusing to replace it with a demo")
    if not target.exists():
        return
    if not target.is_dir():
        raise WorkspaceError(f"{target} exists and is not a folder; refusing to touch it")
    if (target / DEMO_MARKER).is_file():
        return
    if any(target.iterdir()):
        raise WorkspaceError(
            f"{target} exists and is not a demo workspace (no {DEMO_MARKER} marker); refusing "
            "to overwrite it. Choose another folder, or remove it yourself if it is disposable"
        )


def _write(scenario: str, folder: Path, seed: int) -> None:
    from ._model import build, incident  # numpy and pandas: only when generating
    from ._specs import SPECS

    spec = SPECS[scenario]
    write_incident(incident(spec), folder)
    store = EvidenceStore(folder, create=True)
    for cap in build(spec, seed):
        store.capture(
            cap.frame, source=cap.source, name=cap.name, query=cap.query, fetched_at=cap.fetched_at
        )
    (folder / "runs").mkdir()
    (folder / DEMO_MARKER).write_text(scenario + "\n")
    (folder / STAMP_FILE).write_text(_stamp(seed))


def generate(
    scenario: str, workspace: str | os.PathLike[str], *, seed: int = DEFAULT_SEED
) -> Workspace:
    """Generate demo incident ``scenario`` into the folder ``workspace``.

    The workspace is built in a temporary sibling folder and renamed into place,
    so a reader never sees half of it. An existing demo workspace (one holding
    the demo marker) is replaced; any other existing folder with files in it is
    refused and left untouched.

    Parameters
    ----------
    scenario
        A key of :data:`SCENARIOS`: ``"connection-leak"`` or ``"traffic-surge"``.
    workspace
        The incident folder to write, e.g. ``incidents/DEMO-LEAK-0001``.
    seed
        Seed of every random choice; the same scenario and seed give
        byte-identical evidence and manifest.

    Returns
    -------
    Workspace
        The opened, validated workspace.

    Raises
    ------
    InvalidInput
        Unknown scenario (the message names the known ones) or a bad seed.
    WorkspaceError
        ``workspace`` exists and is not a demo workspace.
    """
    check_scenario(scenario)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}")
    target = Path(workspace).expanduser().absolute()
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "new")
    try:
        _write(scenario, tmp, seed)
        _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_workspace(target)


def _sibling(target: Path, tag: str) -> Path:
    """A new empty folder next to ``target`` (created like ``mkdir``: the umask applies)."""
    while True:
        candidate = target.with_name(f".{target.name}.{tag}-{os.urandom(4).hex()}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate


def _swap(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an earlier demo there is renamed aside, then deleted."""
    try:
        os.rename(new, target)  # target missing or an empty folder
        return
    except OSError:
        if not target.exists():
            raise
    _check_target(target)  # it may have changed while we generated
    aside = _sibling(target, "old")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with (root / ".demo.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _is_current(folder: Path, scenario: str, seed: int) -> bool:
    try:
        return (
            (folder / INCIDENT_FILE).is_file()
            and (folder / DEMO_MARKER).read_text().strip() == scenario
            and (folder / STAMP_FILE).read_text() == _stamp(seed)
        )
    except OSError:
        return False


def ensure_demo(
    scenario: str = "connection-leak", root: str | os.PathLike[str] | None = None
) -> Path:
    """Return the demo workspace ``root/<scenario>``, generating it if it is missing.

    Meant for notebooks opened in JupyterLab without a workspace. Safe when
    several notebooks call it at once (they serialise on a lock file in
    ``root``); a demo written by an older generator is regenerated.

    Parameters
    ----------
    scenario
        A key of :data:`SCENARIOS`.
    root
        Folder that holds the demo workspaces; default
        :func:`incident_lib.infra.workspace.default_demo_root`.

    Returns
    -------
    Path
        The workspace folder (absolute).

    Raises
    ------
    InvalidInput
        Unknown scenario.
    WorkspaceError
        ``root/<scenario>`` exists and is not a demo workspace.
    """
    check_scenario(scenario)
    base = Path(root).expanduser() if root is not None else default_demo_root()
    base.mkdir(parents=True, exist_ok=True)
    target = base / scenario
    with _locked(base):
        if not _is_current(target, scenario, DEFAULT_SEED):
            generate(scenario, target, seed=DEFAULT_SEED)
    return target.absolute()
