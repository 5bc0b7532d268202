"""What every live source shares: the check of a fetch name, and a progress bar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.errors import SourceUnavailable

__all__ = ["check_fetch_name", "progress_bar"]


def check_fetch_name(source: str, name: str, known: Sequence[str]) -> None:
    """Raise :class:`SourceUnavailable` when ``source`` cannot fetch ``name``."""
    if name not in known:
        raise SourceUnavailable(source, f"no live fetch named {name!r}; known: {', '.join(known)}")


class _NoBar:
    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


def progress_bar(total: int, *, enabled: bool, desc: str, unit: str) -> Any:
    """A ``tqdm.auto`` bar (``update``/``close``), or a silent stand-in when disabled."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit=unit)
