"""Collecting, grouping, writing and rendering findings.

A notebook records findings through a :class:`FindingsLog`; each notebook writes
its own ``findings/<notebook>.json`` in the run folder (so parallel notebooks
never share a file) and the runner merges them, most severe first, into
``findings.json``. Every text passes through redaction on the way in.

:func:`group_findings` turns the merged list into one :class:`FactGroup` per
fact (the same 5xx share stated by 02_assess and 05_metrics is one entry),
causes first: the trigger, the mechanism, then symptoms, impact, the response
and context.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.findings import ROLE_ORDER, SEVERITY_ORDER, Finding, Level, Role
from ..infra.files import atomic_write_text
from ..infra.redact import redact

__all__ = [
    "FactGroup",
    "FindingsLog",
    "collect_findings",
    "finding_html",
    "group_findings",
    "write_findings",
]

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

    def add(
        self,
        title: str,
        *,
        severity: Level,
        summary: str,
        ref: str = "",
        fact: str = "",
        role: Role = "symptom",
    ) -> Finding:
        """Record a finding (redacted), persist it and return it.

        ``fact`` and ``role``: see :class:`~incident_lib.core.findings.Finding`.
        """
        finding = Finding(
            title=redact(title),
            severity=severity,
            summary=redact(summary),
            ref=redact(ref),
            notebook=self.notebook,
            fact=redact(fact),
            role=role,
        )
        self.items.append(finding)
        if self.path is not None:
            atomic_write_text(self.path, json.dumps([asdict(f) for f in self.items], indent=2))
        return finding

    def extend(self, findings: Iterable[Finding]) -> list[Finding]:
        """Record each finding of ``findings`` (as :meth:`add`) and return the recorded ones."""
        return [
            self.add(
                f.title,
                severity=f.severity,
                summary=f.summary,
                ref=f.ref,
                fact=f.fact,
                role=f.role,
            )
            for f in findings
        ]


def collect_findings(run_dir: str | os.PathLike[str]) -> list[Finding]:
    """Every finding written under ``run_dir/findings``, most severe first.

    Files written before findings had a ``fact`` and a ``role`` read as findings
    without a fact (each its own entry) and with the default role.
    """
    found: list[Finding] = []
    folder = Path(run_dir) / "findings"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        for item in json.loads(path.read_text() or "[]"):
            found.append(Finding(**item))
    return sorted(found, key=lambda f: (f.rank, f.notebook))


def write_findings(
    run_dir: str | os.PathLike[str],
    findings: list[Finding],
    *,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the merged ``findings.json`` of a run and return its path.

    Parameters
    ----------
    run_dir
        The run folder.
    findings
        Every finding of the run.
    extra
        When given, the file holds an object: these keys (the diagnosis, the
        groups of :func:`group_findings` as :meth:`FactGroup.to_dict`, ...)
        followed by ``"findings"``, the list; without it, the file is the list.
    """
    path = Path(run_dir) / "findings.json"
    items = [asdict(f) for f in findings]
    data: object = items if extra is None else {**extra, "findings": items}
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False))
    return path


@dataclass(frozen=True, slots=True)
class FactGroup:
    """One fact of the incident and every finding that states it.

    Attributes
    ----------
    fact
        The fact's key (``""`` for a finding that names none: a group of one).
    role
        The most causal role among its findings (a change one notebook lists
        and another ranks as the likely trigger is a trigger).
    headline
        The most severe of its findings (ties: the most causal role, then the
        earliest notebook).
    supporting
        The other findings, in notebook order.
    """

    fact: str
    role: Role
    headline: Finding
    supporting: tuple[Finding, ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The headline, then the supporting findings."""
        return (self.headline, *self.supporting)

    @property
    def severity(self) -> Level:
        """The headline's severity: the group's."""
        return self.headline.severity

    @property
    def notebooks(self) -> tuple[str, ...]:
        """Every notebook that supports the fact, in notebook (time) order, once each."""
        return tuple(sorted({f.notebook for f in self.findings if f.notebook}))

    @property
    def ref(self) -> str:
        """Where to look: the headline's reference, else the first supporting one."""
        return next((f.ref for f in self.findings if f.ref), "")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``findings.json``: the headline's texts, notebooks, supporting lines."""
        return {
            "fact": self.fact,
            "role": self.role,
            "severity": self.severity,
            "title": self.headline.title,
            "summary": self.headline.summary,
            "ref": self.ref,
            "notebook": self.headline.notebook,
            "notebooks": list(self.notebooks),
            "supporting": [
                {
                    "title": f.title,
                    "summary": f.summary,
                    "severity": f.severity,
                    "role": f.role,
                    "notebook": f.notebook,
                    "ref": f.ref,
                }
                for f in self.supporting
            ],
        }


def _headline_key(finding: Finding) -> tuple[int, int, str]:
    return (finding.rank, finding.role_rank, finding.notebook)


def group_findings(findings: Iterable[Finding]) -> list[FactGroup]:
    """One group per fact, causes first.

    Findings with the same non-empty ``fact`` form one group; a finding without
    a fact is a group of its own. Groups are ordered by role (trigger,
    mechanism, symptom, impact, response, context: a symptom is never listed
    above the trigger it follows, whatever their severities), then by severity,
    then by the earliest notebook that supports them (notebooks are numbered in
    the order of the response), then by the order the findings came in.

    Parameters
    ----------
    findings
        Findings of one run (e.g. from :func:`collect_findings`).

    Returns
    -------
    list of FactGroup
    """
    members: dict[str, list[Finding]] = {}
    order: list[str] = []
    for index, finding in enumerate(findings):
        key = f"fact:{finding.fact}" if finding.fact else f"alone:{index}"
        if key not in members:
            members[key] = []
            order.append(key)
        members[key].append(finding)
    groups: list[tuple[tuple[int, int, str, int], FactGroup]] = []
    for position, key in enumerate(order):
        found = members[key]
        headline = min(found, key=_headline_key)
        rest = [f for f in found if f is not headline]
        rest.sort(key=lambda f: (f.notebook, f.rank, f.role_rank))
        role = ROLE_ORDER[min(f.role_rank for f in found)]
        group = FactGroup(fact=found[0].fact, role=role, headline=headline, supporting=tuple(rest))
        first = min((f.notebook for f in found if f.notebook), default="")
        sort_key = (
            ROLE_ORDER.index(role),
            SEVERITY_ORDER.index(headline.severity),
            first,
            position,
        )
        groups.append((sort_key, group))
    return [group for _, group in sorted(groups, key=lambda pair: pair[0])]
