"""A progress bar for fetches with many parts, or nothing when it is off or tqdm is missing."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


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
