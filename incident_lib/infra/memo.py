"""Results derived from captured evidence, computed once per run by whichever process asks first.

A bundle's notebooks run in kernels of their own, two at a time, and the runner
builds the story meanwhile; several of them derive the same thing from the same
capture (the upstream services named in every raw log line of a ten-million-line
capture takes seconds). :func:`memoized` keeps such a result as a JSON file in a
folder of the run, named by a key that holds the captures' sha256: the first
process computes it, holding a lock on the file; one asking at the same time
waits for it and reads the result, and later ones read it at once. A result
that cannot be read back (a file cut short, another shape) is computed again.
:func:`memoized_frames` does the same for results made of frames (the signature
of each of millions of log lines), kept as Parquet files, not JSON.

Only what evidence determines goes there; the folder lives as long as its run
(the runner removes it when the bundle is written).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .files import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MEMO_DIR", "memo_key", "memoized", "memoized_frames"]

#: the folder of a run that holds its memo files
MEMO_DIR = ".memo"

T = TypeVar("T")


def memo_key(name: str, parts: Mapping[str, object]) -> str:
    """A file name for a result: ``name`` and a digest of what it was derived from.

    Parameters
    ----------
    name
        What the result is (letters, digits, ``-``), e.g. ``"relations"``.
    parts
        Everything the result depends on (captures' sha256, parameters), as
        JSON-able values.
    """
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def memoized(
    folder: Path,
    key: str,
    compute: Callable[[], T],
    *,
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
) -> T:
    """``compute()``, or the result a process of the same run computed for ``key``.

    Parameters
    ----------
    folder
        The run's memo folder (created when missing).
    key
        From :func:`memo_key`.
    compute
        Computes the result (called at most once per run and key, unless a
        stored result cannot be decoded).
    encode, decode
        The result to JSON-able data and back; ``decode`` raises ``ValueError``,
        ``KeyError`` or ``TypeError`` on data it cannot read.

    Returns
    -------
    T
        The result.
    """
    target = folder / f"{key}.json"

    def store(value: T) -> None:
        atomic_write_text(target, json.dumps(encode(value), sort_keys=True))

    return _once(folder, key, compute, load=lambda: decode(json.loads(_read(target))), store=store)


def memoized_frames(
    folder: Path,
    key: str,
    compute: Callable[[], T],
    *,
    encode: Callable[[T], Mapping[str, pd.DataFrame]],
    decode: Callable[[Mapping[str, pd.DataFrame]], T],
) -> T:
    """:func:`memoized` for a result made of frames, kept as Parquet files.

    The frames go to a folder ``key`` of ``folder``, one ``<name>.parquet`` each
    (index and dtypes kept), written aside and renamed into place: a reader
    finds all of them or none.

    Parameters
    ----------
    folder, key, compute
        As for :func:`memoized`.
    encode, decode
        The result to frames by name (letters, digits, ``_``) and back;
        ``decode`` raises ``ValueError``, ``KeyError`` or ``TypeError`` on frames
        it cannot read.

    Returns
    -------
    T
        The result.
    """
    import pandas as pd

    target = folder / key

    def load() -> T:
        if not target.is_dir() or target.is_symlink():
            raise FileNotFoundError(target)
        frames = {
            path.stem: pd.read_parquet(io.BytesIO(_read_bytes(path)))
            for path in sorted(target.glob("*.parquet"))
        }
        return decode(frames)

    def store(value: T) -> None:
        aside = folder / f"{key}.partial"
        shutil.rmtree(aside, ignore_errors=True)  # (left by a process that died writing)
        aside.mkdir()
        for name, frame in encode(value).items():
            if not name.replace("_", "").isalnum():
                raise ValueError(f"memo frame name {name!r}: letters, digits and _ only")
            frame.to_parquet(aside / f"{name}.parquet")
        # (one that could not be read back, or a link put in its place: not followed)
        if target.is_symlink() or target.is_file():
            target.unlink()
        else:
            shutil.rmtree(target, ignore_errors=True)
        aside.rename(target)

    return _once(folder, key, compute, load=load, store=store)


def _once(
    folder: Path,
    key: str,
    compute: Callable[[], T],
    *,
    load: Callable[[], T],
    store: Callable[[T], None],
) -> T:
    """``load()`` under the lock of ``key``; when it fails, ``compute()`` and ``store`` it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{key}.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process computing it: wait for its result
        try:
            return load()
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not there yet (or unreadable): compute it
        value = compute()
        store(value)
        return value
    finally:
        os.close(fd)  # releases the lock


def _read(target: Path) -> str:
    """The text of ``target``, never through a symbolic link."""
    return _read_bytes(target).decode("utf-8")


def _read_bytes(target: Path) -> bytes:
    """The bytes of ``target``, never through a symbolic link."""
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()
