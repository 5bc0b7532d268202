"""Run state: ``run.json`` written first and last, the runs of a folder, the live-run lock.

A run folder says what it is. :func:`write_run_file` writes ``run.json`` as soon
as the folder exists, with ``state: running`` and the runner's process (pid,
host, the process's start time), and again at the end with ``complete`` or
``failed``. :func:`list_runs` reads every run of a folder, newest first: a run
whose ``run.json`` still says ``running`` and whose process is gone was
``interrupted`` (killed, or the machine stopped); a folder without ``run.json``
is ``unknown``.

One live run per workspace at a time: :func:`live_lock` holds an exclusive
``fcntl`` lock on ``<workspace>/.live.lock`` for the whole run, and a second
live run is refused at once, naming the holder's pid and start time. Offline
runs read only, so they take no lock and run in parallel freely.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import WorkspaceError
from ..infra.files import atomic_write_text

__all__ = [
    "LIVE_LOCK",
    "RUN_FILE",
    "RunState",
    "last_seconds",
    "list_runs",
    "live_lock",
    "process_info",
    "read_run",
    "workspace_writable",
    "write_run_file",
]

#: a run folder's state file
RUN_FILE = "run.json"
#: the lock file one live run of a workspace holds
LIVE_LOCK = ".live.lock"
#: what a run's state may be, as :func:`read_run` reports it
STATES = ("running", "complete", "failed", "interrupted", "unknown")
#: ``run.json`` larger than this is not read (a run writes a few kilobytes)
_MAX_RUN_FILE = 4 << 20
#: a run folder's name, as the runner makes it: ``20261103T142500Z-1a2b``
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None.

    Recorded with the pid so that a pid reused by another process later is not
    taken for the run's runner.
    """
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _process_state(pid: int) -> str | None:
    """The one-letter state of process ``pid`` (``Z`` for a zombie), or None."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None


def process_info() -> dict[str, Any]:
    """This process as ``run.json`` and the live lock record it: pid, host, start time."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "pid_started": _process_start(pid)}


def _alive(pid: object, host: object, started: object) -> bool | None:
    """Whether the process that wrote a run is alive; None when we cannot tell.

    Another host's process cannot be checked from here.
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return None
    if isinstance(host, str) and host and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    except OSError:
        return None
    if _process_state(pid) in ("Z", "X"):  # killed, not reaped yet
        return False
    if isinstance(started, str) and started:
        now = _process_start(pid)
        if now is not None and now != started:  # the pid was reused
            return False
    return True


def write_run_file(run_dir: Path, data: Mapping[str, Any]) -> Path:
    """Write ``run.json`` in ``run_dir`` atomically (readers see the old or the new one)."""
    return atomic_write_text(run_dir / RUN_FILE, json.dumps(data, indent=2, default=str))


@dataclass(frozen=True, slots=True)
class RunState:
    """One run folder as its ``run.json`` describes it.

    Attributes
    ----------
    run_id
        The folder's name.
    folder
        The run folder.
    state
        ``running``, ``complete``, ``failed``, ``interrupted`` (``run.json`` says
        running and its process is gone) or ``unknown`` (no readable ``run.json``).
    data
        ``run.json`` as read (empty when unreadable).
    why
        Why the state is ``unknown`` or ``failed``, else ``""``.
    """

    run_id: str
    folder: Path
    state: str
    data: Mapping[str, Any]
    why: str = ""

    @property
    def incomplete(self) -> bool:
        """True when the folder is not a whole bundle (interrupted, failed or unknown)."""
        return self.state in ("interrupted", "failed", "unknown")

    @property
    def started(self) -> datetime | None:
        """When the run started (None when not recorded)."""
        text = self.data.get("started")
        if not isinstance(text, str):
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    @property
    def notebooks(self) -> list[Mapping[str, Any]]:
        """The notebooks of the run, each with its ``name`` and ``status``."""
        items = self.data.get("notebooks")
        if not isinstance(items, list):
            return []
        return [n for n in items if isinstance(n, Mapping)]

    @property
    def finished(self) -> int:
        """How many notebooks finished (whatever their status)."""
        return sum(1 for n in self.notebooks if n.get("status") not in (None, "pending"))

    @property
    def pid(self) -> int | None:
        """The runner's process id, as recorded."""
        pid = self.data.get("pid")
        return pid if isinstance(pid, int) and not isinstance(pid, bool) else None

    def describe(self) -> str:
        """One line for the terminal, e.g. ``run X was interrupted (started ..., 1 of 3 ...)``."""
        started = self.started
        when = f"started {started:%Y-%m-%d %H:%M:%SZ}" if started else "start not recorded"
        done = f"{self.finished} of {len(self.notebooks)} notebooks finished"
        if self.state == "interrupted":
            return (
                f"run {self.run_id} was interrupted ({when}, {done}); its folder "
                f"{self.folder} is not a whole bundle"
            )
        if self.state == "failed":
            return f"run {self.run_id} failed ({when}): {self.why or 'no reason recorded'}"
        if self.state == "running":
            return f"run {self.run_id} is still running ({when}, pid {self.pid}, {done})"
        if self.state == "unknown":
            return f"run {self.run_id} is not a bundle: {self.why}"
        return f"run {self.run_id} is complete ({when})"


def read_run(folder: Path) -> RunState:
    """The state of one run folder, from its ``run.json`` and its runner's process."""
    path = folder / RUN_FILE
    try:
        if path.is_symlink() or not path.is_file():
            return RunState(folder.name, folder, "unknown", {}, f"no {RUN_FILE}")
        if path.stat().st_size > _MAX_RUN_FILE:
            return RunState(folder.name, folder, "unknown", {}, f"{RUN_FILE} is too large")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return RunState(folder.name, folder, "unknown", {}, f"{RUN_FILE} unreadable ({exc})")
    if not isinstance(data, dict):
        return RunState(folder.name, folder, "unknown", {}, f"{RUN_FILE} is not an object")
    state = data.get("state", "complete")  # runs written before run states were complete
    if state == "running":
        alive = _alive(data.get("pid"), data.get("host"), data.get("pid_started"))
        if alive is False:
            state = "interrupted"
    elif state not in STATES:
        return RunState(folder.name, folder, "unknown", data, f"state {str(state)[:40]!r}")
    why = str(data.get("error") or "") if state == "failed" else ""
    return RunState(folder.name, folder, str(state), data, why)


def list_runs(runs_dir: Path) -> list[RunState]:
    """Every run folder in ``runs_dir`` with its state, newest first.

    Only folders named like a run (:data:`RUN_ID`) count: other entries (a
    ``--output`` folder may hold anything), symbolic links and files are
    skipped; a missing folder has no runs.
    """
    try:
        children = [p for p in runs_dir.iterdir() if RUN_ID.match(p.name)]
    except OSError:
        return []
    runs = [read_run(p) for p in children if p.is_dir() and not p.is_symlink()]
    oldest = datetime.min.replace(tzinfo=UTC)
    runs.sort(key=lambda r: (r.started or oldest, r.run_id), reverse=True)
    return runs


def workspace_writable(workspace: Path) -> bool:
    """Whether a live run can capture into ``workspace`` (it and its ``evidence/``)."""
    evidence = workspace / "evidence"
    folders = [workspace, evidence] if evidence.is_dir() else [workspace]
    return all(os.access(folder, os.W_OK) for folder in folders)


def _holder(text: str) -> str:
    """The live lock holder's description, from the lock file's content."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict) or "pid" not in data:
        return "another live run (it is starting: its pid is not recorded yet)"
    host = data.get("host")
    on = f" on {host}" if isinstance(host, str) and host != socket.gethostname() else ""
    return f"pid {data.get('pid')}{on}, started {data.get('started', 'at an unknown time')}"


@contextlib.contextmanager
def live_lock(workspace: Path) -> Iterator[None]:
    """Hold the workspace's live-run lock for the block; refuse at once if it is held.

    The lock file records the holder (pid, host, start time) so the refusal can
    name it. The lock is an ``fcntl`` lock: it is released when the holder exits,
    however it exits (a kill -9 included), so a stale file never blocks a run.

    Raises
    ------
    WorkspaceError
        Another live run holds the lock (exit 2), or the lock file cannot be
        created (the workspace is not writable).
    """
    path = workspace / LIVE_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot create the live-run lock {path} ({exc.strerror or exc}): a live run "
            "captures evidence into the workspace, so it must be writable; run offline "
            "(with --output DIR for a read-only workspace) or fix the permissions"
        ) from None
    with os.fdopen(fd, "r+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            fh.seek(0)
            holder = _holder(fh.read(4096))
            raise WorkspaceError(
                f"another live run of {workspace} is in progress ({holder}); one live run "
                "per workspace at a time (two would capture the same evidence twice): wait "
                "for it to finish, or run offline, which reads the evidence already captured"
            ) from None
        try:
            info = process_info()
            info["started"] = datetime.now(UTC).replace(microsecond=0).isoformat()
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(info) + "\n")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def last_seconds(runs_dir: Path) -> dict[str, float]:
    """How long each notebook took in the newest complete run in ``runs_dir``.

    A run scheduling its notebooks longest first uses it (no run yet: ``{}``).
    Only notebooks that finished ``ok`` count; a notebook that failed or timed
    out says nothing of its usual time.
    """
    for run in list_runs(runs_dir):
        if run.state != "complete":
            continue
        return {
            str(n["name"]): float(n["seconds"])
            for n in run.notebooks
            if n.get("status") == "ok"
            and isinstance(n.get("name"), str)
            and isinstance(n.get("seconds"), int | float)
            and not isinstance(n.get("seconds"), bool)
        }
    return {}
