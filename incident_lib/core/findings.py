"""Findings: what a notebook concluded, as values every layer can produce.

Analysis functions return :class:`Finding` objects; collecting them per notebook,
writing ``findings.json`` and rendering them belong to :mod:`incident_lib.report.findings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import InvalidInput

__all__ = ["SEVERITY_ORDER", "Finding", "Level"]

Level = Literal["critical", "high", "medium", "low", "info"]
SEVERITY_ORDER: tuple[Level, ...] = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One conclusion drawn by a notebook.

    Parameters
    ----------
    title
        One line, e.g. ``"New error signature after deploy v2.34"``.
    severity
        ``critical``, ``high``, ``medium``, ``low`` or ``info``.
    summary
        A sentence or two with the numbers that support it.
    ref
        Where to look: a chart file (``charts/02_assess-error-rate.png``) or a
        section of the notebook.
    notebook
        The notebook that recorded it (filled in when it is recorded).
    """

    title: str
    severity: Level
    summary: str
    ref: str = ""
    notebook: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_ORDER:
            raise InvalidInput(
                f"finding severity {self.severity!r} is not one of {', '.join(SEVERITY_ORDER)}"
            )
        if not self.title.strip():
            raise InvalidInput("a finding needs a title")

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for info."""
        return SEVERITY_ORDER.index(self.severity)

    def __str__(self) -> str:
        return f"[{self.severity.upper()}] {self.title}: {self.summary}"
