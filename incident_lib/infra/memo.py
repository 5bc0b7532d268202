"""Results derived from captured evidence, computed once per run by whichever process asks first.

A bundle's notebooks run in kernels of their own, two at a time, and the runner
builds the story meanwhile; several of them derive the same thing from the same
capture (the upstream services named in every raw log line of a ten-million-line
capture takes seconds). :func:`memoized` keeps such a result as a JSON file in a
folder of the run, named by a key that holds the captures' sha256: the first
process computes it, holding a lock on the file; one asking at the same time
waits for it and reads the result, and later ones read it at once. A result
that cannot be read back (a file cut short, another shape) is computed again.

Only what evidence determines goes there; the folder lives as long as its run
(the runner removes it when the bundle is written).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .files import atomic_write_text

__all__ = ["MEMO_DIR", "memo_key", "memoized"]

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
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.json"
    fd = os.open(folder / f"{key}.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process computing it: wait for its result
        try:
            return decode(json.loads(_read(target)))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not there yet (or unreadable): compute it
        value = compute()
        atomic_write_text(target, json.dumps(encode(value), sort_keys=True))
        return value
    finally:
        os.close(fd)  # releases the lock


def _read(target: Path) -> str:
    """The text of ``target``, never through a symbolic link."""
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="utf-8") as fh:
        return fh.read()
