"""The bundle index (header, story, sources, findings by fact) and the list of runs.

The story (the "what happened" block) is built by the caller and rendered right
after the header. The sources box lists each source that did not answer once,
with why and the fix; sources are not findings (an unconfigured source says
nothing about the incident). Findings are listed one entry per fact
(:func:`~incident_lib.report.findings.group_findings`), causes first, each with
the notebooks that support it. The header pins the evidence the bundle was made
from (its head) and says how to verify it.

:func:`write_runs_index` writes the ``index.html`` of the folder that holds the
runs (the workspace): every run, newest first, with its state, so a run that was
interrupted or failed is never taken for a bundle.
"""

from __future__ import annotations

import html
import os
import shlex
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..core.findings import Finding
from ..core.incident import Incident
from ..core.time import format_duration
from ..infra.evidence import EvidenceHead
from ..infra.files import atomic_write_text
from ..infra.redact import redact
from .availability import Availability
from .execute import NotebookResult
from .findings import FactGroup, group_findings
from .runs import RunState

__all__ = ["write_index", "write_runs_index"]

_STATUS_STYLE = {
    "ok": ("✔ ok", "#1e7b34"),
    "failed": ("✘ failed", "#b3261e"),
    "timeout": ("⏱ timeout", "#b3261e"),
    "kernel-died": ("☠ kernel died", "#b3261e"),
}
_SEVERITY_STYLE = {
    "critical": "#7f1d1d",
    "high": "#b3261e",
    "medium": "#a15c00",
    "low": "#2d4f80",
    "info": "#555",
}

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
       max-width: 1100px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.meta { color: #444; } .sev { font-weight: 600; padding: 1px 6px; border-radius: 3px;
        color: white; font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin-top: 8px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e2e2;
         vertical-align: top; }
th { background: #f5f5f5; font-weight: 600; } td.num { text-align: right; white-space: nowrap; }
.empty { color: #666; font-style: italic; } code { font-size: 12px; }
.sources { border-left: 4px solid #a15c00; background: #fdf6ec; padding: 8px 12px; }
.sources.ok { border-left-color: #1e7b34; background: #f1f8f2; }
.sources ul { margin: 4px 0 0 0; padding-left: 18px; } .sources li { margin: 4px 0; }
.role { color: #444; font-size: 11px; text-transform: uppercase; letter-spacing: .04em;
        display: block; margin-top: 3px; }
details { margin-top: 4px; color: #333; } details ul { margin: 4px 0; padding-left: 18px; }
summary { cursor: pointer; color: #2d4f80; }
.evidence { color: #444; }
"""


def _e(text: object) -> str:
    return html.escape(redact(str(text)))


def _ts(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _sources_box(availability: Availability) -> str:
    """The "sources" box: each source that did not answer, once, with the fix."""
    answered = ", ".join(sorted(availability.answered)) or "none"
    if not availability.problems:
        return (
            f"<div class='sources ok' id='sources'>Every source asked answered "
            f"({_e(answered)}).</div>"
        )
    items = []
    for p in availability.problems:
        frames = ", ".join(e.split("/", 1)[1] for e in p.evidence)
        state = (
            "down; earlier captures shown instead"
            if p.fallback
            else "unavailable: what it would show is <b>unknown</b>, not absent"
        )
        items.append(
            f"<li><b>{_e(p.source)}</b> {state} ({_e(frames)}; in "
            f"{_e(', '.join(p.notebooks))}).<br>Why: {_e(p.reason)}<br>"
            f"Fix: {_e(p.fix)}</li>"
        )
    return (
        "<div class='sources' id='sources'>"
        f"<b>{len(availability.problems)} source problem(s)</b>; answered: {_e(answered)}."
        f"<ul>{''.join(items)}</ul></div>"
    )


def _evidence(ref: str) -> str:
    """A chart reference as a link, any other reference as text."""
    if not ref:
        return ""
    return f"<a href='{_e(ref)}'>{_e(ref)}</a>" if ref.endswith(".png") else _e(ref)


def _group_row(group: FactGroup) -> str:
    """One fact: badge and role, headline, supporting lines folded, notebooks, evidence."""
    head = group.headline
    colour = _SEVERITY_STYLE[group.severity]
    supporting = ""
    if group.supporting:
        lines = "".join(
            f"<li><b>{_e(f.title)}</b> ({_e(f.notebook) or 'no notebook'}): {_e(f.summary)}</li>"
            for f in group.supporting
        )
        count = len(group.supporting)
        supporting = (
            f"<details><summary>{count} more finding{'s' if count > 1 else ''} "
            f"on this</summary><ul>{lines}</ul></details>"
        )
    notebooks = ", ".join(f"<a href='{_e(n)}.html'>{_e(n)}</a>" for n in group.notebooks)
    return (
        f"<tr><td><span class='sev' style='background:{colour}'>{_e(group.severity)}</span>"
        f"<span class='role'>{_e(group.role)}</span></td>"
        f"<td><b>{_e(head.title)}</b><br>{_e(head.summary)}{supporting}</td>"
        f"<td>{notebooks}</td><td>{_evidence(group.ref)}</td></tr>"
    )


def write_index(
    run_dir: Path,
    incident: Incident,
    results: Sequence[NotebookResult],
    findings: Sequence[Finding],
    *,
    run_id: str,
    mode: str,
    started: datetime,
    seconds: float,
    availability: Availability | None = None,
    story_html: str = "",
    evidence_head: EvidenceHead | None = None,
    verify_command: str = "",
) -> Path:
    """Write ``index.html`` in ``run_dir`` and return its path.

    ``availability``: the sources that answered and those that did not (the
    sources box); omitted, the box is left out. ``story_html``: the "what
    happened" block, trusted HTML whose texts the caller has already escaped,
    shown right after the header (before the sources box). The findings are
    listed one entry per fact, causes first (:func:`group_findings`).
    ``evidence_head``: the evidence the bundle was made from, shown in the
    header with ``verify_command`` (how to check the evidence against it).
    """
    inc = incident
    window = f"{_ts(inc.start)} → {_ts(inc.end) if inc.end else 'ongoing'}"
    failed = [r for r in results if not r.ok]
    overall = (
        f"<b style='color:#b3261e'>{len(failed)} of {len(results)} notebooks did not finish</b>"
        if failed
        else f"all {len(results)} notebooks ran"
    )
    rows = []
    for r in sorted(results, key=lambda r: r.name):
        label, colour = _STATUS_STYLE[r.status]
        link = f"<a href='{_e(r.html.name)}'>{_e(r.name)}</a>" if r.html else _e(r.name)
        raw = f"<a href='{_e(r.output.name)}'>ipynb</a>"
        rows.append(
            f"<tr><td>{link}</td><td style='color:{colour};font-weight:600'>{label}</td>"
            f"<td class='num'>{r.seconds:.1f} s</td><td>{raw}</td>"
            f"<td>{_e(r.error) if r.error else ''}</td></tr>"
        )
    frows = [_group_row(group) for group in group_findings(findings)]
    findings_html = (
        "<table><tr><th>severity</th><th>finding</th><th>notebooks</th><th>evidence</th></tr>"
        + "".join(frows)
        + "</table>"
        if frows
        else "<p class='empty'>No findings were recorded.</p>"
    )
    roles = inc.roles.assigned()
    roles_text = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in roles.items()) or "unassigned"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(inc.id)} — evidence bundle</title><style>{_CSS}</style></head>
<body>
<h1>{_e(inc.id)} — {_e(inc.title)}</h1>
<p class="meta"><span class="sev" style="background:#b3261e">{_e(inc.severity)}</span>
 record status <b>{_e(inc.status)}</b> · service <code>{_e(inc.service)}</code> in
 <code>{_e(inc.namespace)}</code><br>
 window {_e(window)} · detected {_e(_ts(inc.times.detected))} ·
 resolved {_e(_ts(inc.times.resolved))}<br>
 roles: {_e(roles_text)}</p>
<p class="meta">Run <code>{_e(run_id)}</code> ({_e(mode)}) started {_e(_ts(started))},
 took {_e(format_duration_seconds(seconds))}: {overall}.
 Findings: <a href="findings.json">findings.json</a>.</p>
{_evidence_line(evidence_head, verify_command)}
{story_html}
{"<h2>Sources</h2>" + _sources_box(availability) if availability is not None else ""}
<h2>Findings, causes first</h2>
{findings_html}
<h2>Notebooks</h2>
<table><tr><th>notebook</th><th>status</th><th>duration</th><th>executed</th><th>error</th></tr>
{"".join(rows)}
</table>
</body></html>
"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _head_text(head: EvidenceHead | None) -> str:
    """``12 captures, head 3f5a9c0d1e2b…`` (or why there is none)."""
    if head is None:
        return "head not recorded"
    if head.count == 0:
        return "no captures"
    plural = "capture" if head.count == 1 else "captures"
    return f"{head.count} {plural}, head {head.hash[:12]}…"


def _evidence_line(head: EvidenceHead | None, verify_command: str) -> str:
    """The header line that pins the bundle's evidence, and how to verify it."""
    if head is None:
        return (
            "<p class='meta evidence' id='evidence-head'>Evidence: the head could not be read "
            "when the bundle was written, so this bundle does not pin its evidence.</p>"
        )
    verify = f" Verify: <code>{_e(verify_command)}</code>" if verify_command else ""
    return (
        f"<p class='meta evidence' id='evidence-head' title='{_e(head.hash)}'>Evidence: "
        f"{_e(_head_text(head))}.{verify}</p>"
    )


#: marks an ``index.html`` this module wrote, so it never overwrites anyone else's page
RUNS_INDEX_MARK = '<meta name="generator" content="incident runs index">'

_RUN_STATE_STYLE = {
    "complete": ("✔ complete", "#1e7b34"),
    "running": ("… running", "#2d4f80"),
    "failed": ("✘ failed", "#b3261e"),
    "interrupted": ("✘ interrupted", "#b3261e"),
    "unknown": ("? not a bundle", "#b3261e"),
}


def _run_head(run: RunState) -> str:
    raw = run.data.get("evidence_head")
    if not isinstance(raw, dict):
        return "—"
    try:
        head = EvidenceHead.from_dict(raw)
    except ValueError:
        return "unreadable"
    return _head_text(head)


def _run_row(run: RunState, folder: Path, incident_id: str) -> str:
    """One run: link, state, mode, start, notebooks, evidence head, what is wrong."""
    label, colour = _RUN_STATE_STYLE.get(run.state, (run.state, "#b3261e"))
    page = run.folder / "index.html"
    name = _e(run.run_id)
    complete = run.state == "complete" and page.is_file()
    # the href is ours (a run folder named like RUN_ID): escaped, never redacted
    href = html.escape(os.path.relpath(page, folder))
    link = f"<a href='{href}'>{name}</a>" if complete else name
    other = run.data.get("incident")
    if isinstance(other, str) and other != incident_id:
        link += f"<br><span class='role'>{_e(other)}</span>"
    statuses = [n.get("status") for n in run.notebooks]
    ok = sum(1 for s in statuses if s == "ok")
    notebooks = f"{ok} of {len(statuses)} ok" if statuses else "—"
    if run.state in ("interrupted", "running"):
        notebooks = f"{run.finished} of {len(statuses)} finished"
    seconds = run.data.get("seconds")
    took = (
        format_duration_seconds(float(seconds))
        if isinstance(seconds, int | float) and not isinstance(seconds, bool)
        else "—"
    )
    note = {
        "interrupted": "the run stopped before its end (killed?): not a whole bundle",
        "failed": run.why,
        "unknown": run.why,
        "running": f"pid {run.pid}",
    }.get(run.state, "")
    return (
        f"<tr><td>{link}</td><td style='color:{colour};font-weight:600'>{label}</td>"
        f"<td>{_e(run.data.get('mode', '—'))}</td><td>{_e(_ts(run.started))}</td>"
        f"<td class='num'>{_e(took)}</td><td>{_e(notebooks)}</td>"
        f"<td>{_e(_run_head(run))}</td><td>{_e(note)}</td></tr>"
    )


def write_runs_index(
    folder: Path,
    incident: Incident,
    runs: Sequence[RunState],
    *,
    workspace: Path,
    evidence_head: EvidenceHead | None = None,
) -> Path | None:
    """Write ``folder/index.html``: every run with its state, newest first.

    Parameters
    ----------
    folder
        Where the page goes: the workspace, or the ``--output`` folder.
    incident
        The incident (the page's header).
    runs
        The runs, as :func:`~incident_lib.report.runs.list_runs` returns them.
    workspace
        The workspace (for the verify command).
    evidence_head
        The evidence head now, shown above the runs (each run shows its own).

    Returns
    -------
    Path or None
        The page; None when ``folder`` already holds an ``index.html`` this
        module did not write (it is left alone).
    """
    path = folder / "index.html"
    if path.is_symlink():
        return None
    if path.exists():
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                ours = RUNS_INDEX_MARK in fh.read(4096)
        except OSError:
            ours = False
        if not ours:
            return None
    rows = "".join(_run_row(run, folder, incident.id) for run in runs)
    incomplete = [r for r in runs if r.incomplete]
    warning = (
        f"<p><b style='color:#b3261e'>{len(incomplete)} run(s) are not whole bundles</b> "
        "(interrupted, failed or unreadable): use a complete one.</p>"
        if incomplete
        else ""
    )
    table = (
        "<table><tr><th>run</th><th>state</th><th>mode</th><th>started</th><th>duration</th>"
        f"<th>notebooks</th><th>evidence</th><th>note</th></tr>{rows}</table>"
        if runs
        else "<p class='empty'>No runs yet.</p>"
    )
    now = f"Evidence now: {_e(_head_text(evidence_head))}. " if evidence_head else ""
    verify = f"incident evidence verify {shlex.quote(str(workspace))} --bundle RUN_DIR"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{RUNS_INDEX_MARK}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(incident.id)} — runs</title><style>{_CSS}</style></head>
<body>
<h1>{_e(incident.id)} — {_e(incident.title)}</h1>
<p class="meta">Runs of this incident, newest first. A run that is not complete is not a
 whole bundle.</p>
<p class="meta evidence">{now}Each bundle pins the evidence it was made from; check it
 with <code>{_e(verify)}</code>.</p>
{warning}
{table}
</body></html>
"""
    return atomic_write_text(path, page)


def format_duration_seconds(seconds: float) -> str:
    """``12.3 s`` below a minute, else the people-friendly duration."""
    from datetime import timedelta

    return f"{seconds:.1f} s" if seconds < 60 else format_duration(timedelta(seconds=seconds))
