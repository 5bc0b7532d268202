"""Findings: what a notebook concluded, collected into the bundle's ``findings.json``.

A notebook records a finding with :meth:`FindingsLog.add`; each notebook writes
its own ``findings/<notebook>.json`` in the run folder (so parallel notebooks
never share a file) and the runner merges them, most severe first.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from ._fs import atomic_write_text
from .errors import InvalidInput
from .redact import redact

__all__ = ["SEVERITY_ORDER", "Finding", "FindingsLog", "collect_findings", "write_findings"]

Level = Literal["critical", "high", "medium", "low", "info"]
SEVERITY_ORDER: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
_COLOUR = {
    "critical": "#7f1d1d",
    "high": "#b3261e",
    "medium": "#a15c00",
    "low": "#2d4f80",
    "info": "#555",
}


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
        The notebook that recorded it (filled in by :class:`FindingsLog`).
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

    def _repr_html_(self) -> str:
        ref = f" — see <code>{html.escape(self.ref)}</code>" if self.ref else ""
        badge = (
            f'<span style="background:{_COLOUR[self.severity]};color:white;padding:1px 6px;'
            f'border-radius:3px;font-size:11px;font-weight:600">{self.severity.upper()}</span>'
        )
        return (
            f'<div style="margin:6px 0">{badge} <b>{html.escape(self.title)}</b><br>'
            f"{html.escape(self.summary)}{ref}</div>"
        )

    def __str__(self) -> str:
        return f"[{self.severity.upper()}] {self.title}: {self.summary}"


class FindingsLog:
    """The findings of one notebook run.

    Parameters
    ----------
    notebook
        The notebook's name, e.g. ``"02_assess"``.
    run_dir
        The run folder; when empty (interactive use) findings are only shown.
    """

    def __init__(self, notebook: str, run_dir: str | os.PathLike[str] | None = None) -> None:
        self.notebook = notebook
        self.path = Path(run_dir) / "findings" / f"{notebook}.json" if run_dir else None
        self.items: list[Finding] = []
        if self.path is not None:
            atomic_write_text(self.path, "[]")  # a re-run starts from a clean slate

    def add(self, title: str, *, severity: Level, summary: str, ref: str = "") -> Finding:
        """Record a finding (redacted), persist it and return it for display."""
        finding = Finding(
            title=redact(title),
            severity=severity,
            summary=redact(summary),
            ref=redact(ref),
            notebook=self.notebook,
        )
        self.items.append(finding)
        if self.path is not None:
            atomic_write_text(self.path, json.dumps([asdict(f) for f in self.items], indent=2))
        return finding


def collect_findings(run_dir: str | os.PathLike[str]) -> list[Finding]:
    """Every finding written under ``run_dir/findings``, most severe first."""
    found: list[Finding] = []
    folder = Path(run_dir) / "findings"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        for item in json.loads(path.read_text() or "[]"):
            found.append(Finding(**item))
    return sorted(found, key=lambda f: (f.rank, f.notebook))


def write_findings(run_dir: str | os.PathLike[str], findings: list[Finding]) -> Path:
    """Write the merged ``findings.json`` of a run and return its path."""
    path = Path(run_dir) / "findings.json"
    atomic_write_text(path, json.dumps([asdict(f) for f in findings], indent=2, ensure_ascii=False))
    return path
