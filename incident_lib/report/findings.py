"""Collecting, writing and rendering findings.

A notebook records findings through a :class:`FindingsLog`; each notebook writes
its own ``findings/<notebook>.json`` in the run folder (so parallel notebooks
never share a file) and the runner merges them, most severe first, into
``findings.json``. Every text passes through redaction on the way in.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from ..core.findings import Finding, Level
from ..infra.files import atomic_write_text
from ..infra.redact import redact

__all__ = ["FindingsLog", "collect_findings", "finding_html", "write_findings"]

_COLOUR: dict[Level, str] = {
    "critical": "#7f1d1d",
    "high": "#b3261e",
    "medium": "#a15c00",
    "low": "#2d4f80",
    "info": "#555",
}


# C0/C1 control characters other than tab and newline (ANSI colour codes, NUL, ...)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _text(value: object) -> str:
    """Any text as escaped HTML text: ANSI codes and control characters gone,
    lone surrogates replaced, so that the page is valid and encodes as UTF-8."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", _ANSI.sub("", text))
    return html.escape(text, quote=True)


def finding_html(finding: Finding) -> str:
    """One finding as a small HTML block: a coloured severity badge, title, summary, ref.

    Every text is escaped (findings quote log lines, event messages and object
    names) and cleaned of terminal colour codes and control characters; the
    badge's colour comes from a fixed table, never from the finding.
    """
    ref = f" — see <code>{_text(finding.ref)}</code>" if finding.ref else ""
    colour = _COLOUR.get(finding.severity, _COLOUR["info"])
    badge = (
        f'<span style="background-color:{colour};color:white;padding:1px 6px;'
        f'border-radius:3px;font-size:11px;font-weight:600">'
        f"{_text(finding.severity.upper())}</span>"
    )
    return (
        f'<div style="margin:6px 0">{badge} <b>{_text(finding.title)}</b><br>'
        f"{_text(finding.summary)}{ref}</div>"
    )


class FindingsLog:
    """The findings of one notebook run.

    Parameters
    ----------
    notebook
        The notebook's name, e.g. ``"02_assess"``.
    run_dir
        The run folder; when empty (interactive use) findings are only kept in memory.
    """

    def __init__(self, notebook: str, run_dir: str | os.PathLike[str] | None = None) -> None:
        self.notebook = notebook
        self.path = Path(run_dir) / "findings" / f"{notebook}.json" if run_dir else None
        self.items: list[Finding] = []
        if self.path is not None:
            atomic_write_text(self.path, "[]")  # a re-run starts from a clean slate

    def add(self, title: str, *, severity: Level, summary: str, ref: str = "") -> Finding:
        """Record a finding (redacted), persist it and return it."""
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

    def extend(self, findings: Iterable[Finding]) -> list[Finding]:
        """Record each finding of ``findings`` (as :meth:`add`) and return the recorded ones."""
        return [
            self.add(f.title, severity=f.severity, summary=f.summary, ref=f.ref) for f in findings
        ]


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
