"""Run parameters every notebook shares: the mode, the metrics source, list values.

Each is checked once, where it enters (``incident run`` before anything runs, or
:func:`incident_lib.start_runbook` in an interactive notebook), with a message
that says what is wrong and how to fix it.
"""

from __future__ import annotations

from typing import Literal

from .errors import InvalidInput
from .schema import EVIDENCE_KINDS

__all__ = ["METRICS_SOURCES", "MODES", "Mode", "check_metrics_source", "check_mode", "parse_list"]

Mode = Literal["live", "offline"]
MODES: tuple[Mode, ...] = ("live", "offline")

#: sources that provide the ``metrics`` and ``monitor_events`` frames
METRICS_SOURCES: tuple[str, ...] = tuple(
    source
    for (source, name) in EVIDENCE_KINDS
    if name == "metrics" and (source, "monitor_events") in EVIDENCE_KINDS
)


def check_mode(mode: str) -> Mode:
    """Return ``mode`` if it is ``'live'`` or ``'offline'``, else raise :class:`InvalidInput`."""
    if mode not in MODES:
        raise InvalidInput(
            f"mode {mode!r} is not known: use 'live' (query the sources and capture) "
            "or 'offline' (read only the captured evidence)"
        )
    return mode


def check_metrics_source(name: str) -> str:
    """Return ``name`` if it is a metrics source, else raise :class:`InvalidInput`."""
    if name not in METRICS_SOURCES:
        raise InvalidInput(
            f"metrics_source {name!r} is not known: use one of {', '.join(METRICS_SOURCES)}"
        )
    return name


def parse_list(text: str) -> tuple[str, ...]:
    """Split a comma-separated parameter (``"error, critical"``) into its trimmed items.

    Empty items are dropped, so ``""`` gives ``()``.
    """
    return tuple(item.strip() for item in text.split(",") if item.strip())
