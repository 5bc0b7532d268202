"""Atomic file writes: a temporary file in the same folder, fsync, then rename.

Writes under an incident workspace never follow a symbolic link out of it: a
link anywhere between the workspace folder and the file (``runs/`` or
``evidence/`` replaced by a link, a link in place of the file) is refused with
a :class:`~incident_lib.core.errors.WorkspaceError`, and so is a folder that
cannot be written (read-only, full): one clear line, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import WorkspaceError

__all__ = ["atomic_path", "atomic_write_text", "check_inside", "workspace_of", "write_error"]

# the record that marks a workspace folder (workspace.INCIDENT_FILE; workspace imports us)
_RECORD = "incident.yaml"
# errors of the caller's own writing that are about the folder, not the caller
_FOLDER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _read_umask() -> int:
    # os.umask can only be read by setting it: do that once, at import, before any
    # thread of ours creates files (a later change of umask is not followed).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def workspace_of(path: str | os.PathLike[str]) -> Path | None:
    """The nearest folder above ``path`` that holds ``incident.yaml``, or ``None``.

    Parents are taken from the path as written (never by resolving links), so
    that a link inside a workspace is seen as a link of that workspace.
    """
    absolute = Path(os.path.abspath(path))
    for folder in absolute.parents:
        if os.path.lexists(folder / _RECORD):
            return folder
    return None


def check_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """Check that ``path`` lies under ``root`` without passing through a symbolic link.

    Every existing component from ``root`` (excluded) down to ``path``
    (included) must be a real file or folder, never a link, wherever it points.

    Parameters
    ----------
    path
        A file or folder under ``root`` (it need not exist yet).
    root
        The folder it must stay in, typically the incident workspace.

    Returns
    -------
    Path
        ``path`` made absolute (``..`` resolved as written).

    Raises
    ------
    WorkspaceError
        ``path`` is outside ``root``, or a component is a symbolic link; the
        message names it and the fix.
    """
    absolute = Path(os.path.abspath(path))
    base = Path(os.path.abspath(root))
    try:
        parts = absolute.relative_to(base).parts
    except ValueError:
        raise WorkspaceError(f"{absolute} is outside the workspace {base}; refusing it") from None
    current = base
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise WorkspaceError(
                f"{current} is a symbolic link (to {os.readlink(current)}); a workspace keeps "
                "its own files and never writes or reads through a link: replace the link "
                "with the real file or folder"
            )
    return absolute


def write_error(folder: Path, exc: OSError) -> WorkspaceError:
    """The clear error for ``exc``, raised while writing in ``folder``, with the fix."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = (
            "the folder is read-only for this user: make it writable, or write elsewhere "
            "(`incident run --output DIR` writes the bundle to another folder)"
        )
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "the disk or quota is full: free some space and run again"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "a file is in the way of a folder: move it aside"
    else:
        fix = "check the folder and run again"
    return WorkspaceError(f"cannot write in {folder}: {reason}; {fix}")


@contextlib.contextmanager
def atomic_path(target: Path, *, root: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    The file gets the usual permissions (0666 minus the umask), is fsynced
    before the rename, and is removed if the block raises: readers see the old
    file or the whole new one, never a torn write.

    Parameters
    ----------
    target
        The file to write.
    root
        The folder the write must stay in (see :func:`check_inside`); default:
        the workspace ``target`` is in (:func:`workspace_of`), if any. Outside
        a workspace only ``target`` itself must not be a link.

    Raises
    ------
    WorkspaceError
        A symbolic link on the way, or a folder that cannot be written.
    """
    base = root if root is not None else workspace_of(target)
    if base is not None:
        check_inside(target, base)
    elif target.is_symlink():
        raise WorkspaceError(
            f"{target} is a symbolic link (to {os.readlink(target)}); refusing to replace "
            "a link: remove it or write elsewhere"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=target.suffix, dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(target.parent, exc) from None
    tmp = Path(name)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in _FOLDER_ERRNOS:
                raise write_error(target.parent, exc) from None
            raise
        try:
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, target)
        except OSError as exc:
            raise write_error(target.parent, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(target: Path, text: str, *, root: Path | None = None) -> Path:
    """Write ``text`` to ``target`` atomically and return ``target``.

    ``root``: as for :func:`atomic_path`.
    """
    with atomic_path(target, root=root) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
