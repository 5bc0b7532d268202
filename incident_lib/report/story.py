"""The story of an incident: its timeline and diagnosis, built from the captured evidence.

:func:`build_story` reads the newest capture of every evidence kind in a
workspace, derives the timeline events (:mod:`incident_lib.analysis.timeline`),
appends the new ones to ``timeline.jsonl`` (where notes, status changes and
actions also land) and diagnoses the incident from the whole timeline
(:func:`incident_lib.analysis.diagnosis.diagnose`). Its slow part, reading and
analysing the captures, is :func:`read_story_evidence`, which a bundle runs
while its notebooks run. The same workspace always
gives the same story, so a post-mortem written days later from the evidence
matches what the bundle said at the time.

:func:`story_html` renders the "what happened" block that opens the bundle's
index, each clause linked to its evidence; :func:`summary_markdown` the same
block as ``summary.md`` for a chat message or a ticket comment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import os
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..analysis.diagnosis import Clause, Diagnosis, diagnose
from ..core.errors import InvalidInput
from ..core.schema import EVIDENCE_KINDS, empty_frame
from ..core.text import md_text, shorten
from ..core.time import Window, parse_time
from ..core.timeline import Event, events_frame
from ..infra.redact import redact
from ..infra.timeline import TimelineStore
from .log_signatures import captured_signatures

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from ..analysis.impact import Impact
    from ..analysis.recovery import RecoveryVerdict
    from ..analysis.related import Relations
    from ..analysis.signatures import SignatureLines
    from ..core.incident import Incident
    from ..infra.evidence import ManifestEntry
    from ..infra.workspace import Workspace

__all__ = [
    "SUMMARY_LIMIT",
    "Story",
    "StoryEvidence",
    "build_story",
    "captured_relations",
    "offline_as_of",
    "read_story_evidence",
    "resolve_ref",
    "story_html",
    "summary_markdown",
]

T = TypeVar("T")

#: the most characters ``summary.md`` may have (a chat message, a ticket comment)
SUMMARY_LIMIT = 1500

#: how many clauses of a part ``summary.md`` keeps (others: the first)
_SUMMARY_CLAUSES = {"Mechanism": 2, "What was done": 3}

#: evidence the story needs; what could not be read is named as unknown
_NEEDED = ("kubernetes/rollouts", "kubernetes/events", "kubernetes/logs", "kubernetes/pods")


@dataclass(frozen=True, slots=True)
class Story:
    """What the evidence of one incident says happened.

    Attributes
    ----------
    incident
        The record.
    as_of
        The moment the story describes (the incident's end, else the last capture).
    window, baseline
        The incident and baseline windows used.
    timeline
        Every event (a ``timeline`` contract frame), as persisted in ``timeline.jsonl``.
    diagnosis
        Trigger, mechanism, symptoms, impact, actions, verdict, next step.
    errors
        The 5xx share over the view, for the timeline chart (empty when unknown).
    impact
        Failed requests over the window, or ``None`` without metrics.
    onset
        When the 5xx share left its baseline, or ``None``.
    verdict
        The recovery checks, or ``None`` without metrics.
    files
        ``source/name`` -> the captured file the story read, relative to the workspace.
    """

    incident: Incident
    as_of: datetime
    window: Window
    baseline: Window
    timeline: pd.DataFrame
    diagnosis: Diagnosis
    errors: pd.Series
    impact: Impact | None = None
    onset: pd.Timestamp | None = None
    verdict: RecoveryVerdict | None = None
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def view(self) -> Window:
        """The baseline through the end of the incident window."""
        return Window(min(self.baseline.start, self.window.start), self.window.end)


def offline_as_of(workspace: Workspace) -> datetime:
    """The moment an offline replay describes.

    The incident's end (or resolution); for an incident still open when its
    evidence was captured, the moment of the last capture (a replay must not
    stretch the window to today).
    """
    inc = workspace.incident
    closed = inc.end or inc.times.resolved
    if closed is not None:
        return closed
    entries = workspace.evidence.entries()
    if entries:
        return max(parse_time(e.fetched_at, field="fetched_at") for e in entries)
    return datetime.now(UTC)


def _metrics_source(captured: Collection[str]) -> str:
    """The metrics source whose evidence was captured (Datadog first, as the notebooks)."""
    for source in ("datadog", "prometheus"):
        if f"{source}/metrics" in captured:
            return source
    return "datadog"


def captured_relations(
    workspace: Workspace,
    *,
    logs: pd.DataFrame | None = None,
    pg_activity: pd.DataFrame | None = None,
    memo: Path | None = None,
) -> Relations:
    """Which services are related to the incident's, from its record and its evidence.

    Parameters
    ----------
    workspace
        An opened incident workspace (its record names the service, its own
        workloads and its dependencies).
    logs, pg_activity
        The service's logs and the database's sessions when a notebook has them
        at hand; otherwise the ones captured in the workspace, if any (never
        fetched here). Logs without their ``raw`` column (a big capture read
        without it) are searched in the capture's raw lines instead, read a row
        group at a time: structured lines name upstreams in fields their message
        leaves out.
    memo
        The run's memo folder (:data:`~incident_lib.infra.memo.MEMO_DIR` of the
        run folder, :attr:`~incident_lib.runbook.Runbook.memo`): relations read
        from the captures alone (no frame at hand but narrow logs) are computed
        once per run, by whichever notebook or runner asks first.

    Returns
    -------
    Relations
        See :func:`incident_lib.analysis.related.incident_relations`.
    """
    from ..analysis.related import Dependency, Relations, incident_relations

    store = workspace.evidence
    narrow = logs is not None and len(logs) > 0 and "raw" not in logs.columns
    from_captures = (logs is None or narrow) and pg_activity is None

    def compute() -> Relations:
        lines: pd.DataFrame | Iterable[pd.DataFrame] | None = logs
        if (logs is None or narrow) and store.has("kubernetes", "logs"):
            lines = store.batches("kubernetes", "logs", columns=["raw", "message"])
        activity = pg_activity
        if activity is None and store.has("postgres", "activity"):
            activity = store.read("postgres", "activity")
        return incident_relations(workspace.incident, logs=lines, pg_activity=activity)

    if memo is None or not from_captures:
        return compute()
    from ..infra.memo import memo_key, memoized

    inc = workspace.incident
    captures = {
        f"{source}/{name}": store.latest(source, name).sha256 if store.has(source, name) else ""
        for source, name in (("kubernetes", "logs"), ("postgres", "activity"))
    }
    key = memo_key(
        "relations",
        {
            "captures": captures,
            "service": inc.service,
            "workloads": list(inc.workloads),
            "dependencies": list(inc.dependencies),
            "namespace": inc.namespace,
        },
    )

    def decode(data: Any) -> Relations:
        return Relations(
            service=str(data["service"]),
            own=tuple(str(n) for n in data["own"]),
            dependencies=tuple(
                Dependency(name=str(d["name"]), why=tuple(str(w) for w in d["why"]))
                for d in data["dependencies"]
            ),
        )

    return memoized(memo, key, compute, encode=dataclasses.asdict, decode=decode)


@dataclass(frozen=True, slots=True)
class StoryEvidence:
    """What the captured evidence says, before the timeline file is read.

    The slow part of a story (every capture read and analysed): read once with
    :func:`read_story_evidence`, it can be read while other work runs and
    handed to :func:`build_story`, which then only merges the timeline file and
    diagnoses.

    Attributes
    ----------
    as_of, window, baseline
        The moment described and the windows used.
    derived
        The timeline events derived from the evidence, each with its file.
    files
        ``source/name`` -> the captured file read, relative to the workspace.
    unknown
        Evidence the story needs that was never captured.
    metrics_evidence
        The metrics read (``datadog/metrics`` or ``prometheus/metrics``).
    errors
        The 5xx share over the view.
    onset
        When the 5xx share left its baseline, or ``None``.
    onsets
        Per-metric onsets (:func:`incident_lib.analysis.onset.onset_table`).
    ranked
        The changes ranked against the onset.
    impact, verdict
        Failed requests and the recovery checks, or ``None`` without metrics.
    """

    as_of: datetime
    window: Window
    baseline: Window
    derived: tuple[Event, ...]
    files: Mapping[str, str]
    unknown: tuple[str, ...]
    metrics_evidence: str
    errors: pd.Series
    onset: pd.Timestamp | None
    onsets: pd.DataFrame
    ranked: pd.DataFrame
    impact: Impact | None
    verdict: RecoveryVerdict | None


def read_story_evidence(
    workspace: Workspace, *, as_of: datetime | None = None, memo: Path | None = None
) -> StoryEvidence:
    """Read and analyse the newest capture of every evidence kind for a story.

    Parameters
    ----------
    workspace, as_of
        As for :func:`build_story`.
    memo
        The run's memo folder, shared with its notebooks (see
        :func:`captured_relations`).

    Returns
    -------
    StoryEvidence
        See :func:`build_story`, which takes it as ``evidence``. Nothing is
        written: the timeline file is neither read nor changed.
    """
    from ..analysis import changes, impact, metrics, onset, recovery
    from ..analysis.timeline import timeline_events

    inc = workspace.incident
    moment = as_of or offline_as_of(workspace)
    window = inc.window_at(moment)
    baseline = inc.baseline or window.preceding()
    store = workspace.evidence
    captured = {f"{e.source}/{e.name}": e for e in store.entries()}
    chosen = _metrics_source(captured)
    # once per run, each: the upstream search reads every raw log line of the capture, the
    # log signatures group its failures; side by side (both mostly in Arrow, without the GIL),
    # the search yielding the CPU to the grouping, which the notebooks wait for first
    with ThreadPoolExecutor(1, thread_name_prefix="story-relations") as beside:
        upstreams = beside.submit(_niced, captured_relations, workspace, memo=memo)
        frames, grouped, files = _read_captures(workspace, captured, chosen, window, baseline, memo)
        relations = upstreams.result()

    def frame(key: str) -> pd.DataFrame:
        source, name = key.split("/", 1)
        return frames.get(key, empty_frame(EVIDENCE_KINDS[(source, name)]))

    needed = (*_NEEDED, f"{chosen}/metrics", f"{chosen}/monitor_events")
    unknown = tuple(key for key in needed if key not in files)

    found = timeline_events(
        frames,
        incident=inc,
        window=window,
        baseline=baseline,
        relations=relations,
        log_signatures=grouped,
    )
    metric_frame = frame(f"{chosen}/metrics")
    has_metrics = f"{chosen}/metrics" in frames
    errors = metrics.error_ratio(metric_frame)
    error_onset = onset.detect_onset(errors, baseline=baseline, window=window)
    onsets = onset.onset_table(metric_frame, baseline=baseline, window=window)
    in_view = changes.changes_from_evidence(frames)
    ranked = changes.rank_changes(in_view, error_onset.onset_at, relations=relations)
    estimate = (
        impact.estimate_impact(metric_frame, window=window, baseline=baseline)
        if has_metrics
        else None
    )
    verdict = (
        recovery.check_recovery(
            metrics=metric_frame,
            monitor_events=frame(f"{chosen}/monitor_events"),
            pods=frame("kubernetes/pods"),
            baseline=baseline,
            as_of=moment,
            window=window,
            # as 10_verify: the DB sessions check when the database's sessions were captured
            db_activity=frames.get("postgres/activity"),
            db_settings=frames.get("postgres/settings"),
            hpa=frames.get("kubernetes/hpa"),
            k8s_events=frames.get("kubernetes/events"),
        )
        if has_metrics
        else None
    )
    view = Window(min(baseline.start, window.start), window.end)
    return StoryEvidence(
        as_of=moment,
        window=window,
        baseline=baseline,
        derived=tuple(_with_file(event, files) for event in found),
        files=files,
        unknown=unknown,
        metrics_evidence=f"{chosen}/metrics",
        errors=errors[(errors.index >= view.start) & (errors.index < view.end)],
        onset=error_onset.onset_at,
        onsets=onsets,
        ranked=ranked,
        impact=estimate,
        verdict=verdict,
    )


def _niced(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(...)`` in this thread at a lower CPU priority (Linux: a thread has its own)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, min(os.getpriority(os.PRIO_PROCESS, me) + 10, 19))
    return work(*args, **kwargs)


def _read_captures(
    workspace: Workspace,
    captured: Mapping[str, ManifestEntry],
    chosen: str,
    window: Window,
    baseline: Window,
    memo: Path | None,
) -> tuple[dict[str, pd.DataFrame], dict[str, SignatureLines], dict[str, str]]:
    """The frames the story reads, the signatures of its log captures and their files."""
    from ..analysis.timeline import FAILURE_LEVELS

    store = workspace.evidence
    frames: dict[str, pd.DataFrame] = {}
    grouped: dict[str, SignatureLines] = {}
    files: dict[str, str] = {}
    for (source, name), kind in EVIDENCE_KINDS.items():
        key = f"{source}/{name}"
        if key not in captured:
            continue
        if source in ("datadog", "prometheus") and source != chosen and name != "events":
            continue
        # of a log capture, the signatures of the failures the timeline shows, grouped once
        # per run (02 and 04 group the same lines); each line keeps its row number, which
        # its event points at
        if kind == "logs":
            grouped[key] = captured_signatures(
                store,
                source,
                name,
                window=window,
                baseline=baseline,
                levels=FAILURE_LEVELS,
                memo=memo,
            )
        else:
            frames[key] = store.read(source, name)
        files[key] = f"evidence/{captured[key].file}"
    return frames, grouped, files


def build_story(
    workspace: Workspace,
    *,
    as_of: datetime | None = None,
    record: bool = True,
    evidence: StoryEvidence | None = None,
    memo: Path | None = None,
) -> Story:
    """Build the timeline and the diagnosis of ``workspace`` from its captured evidence.

    Parameters
    ----------
    workspace
        An opened incident workspace.
    as_of
        The moment described (default :func:`offline_as_of`).
    record
        Append the derived events to ``timeline.jsonl`` (the default). False
        reads the timeline file and adds the derived events in memory only.
    evidence
        What :func:`read_story_evidence` read of this workspace, when it was read
        already (while notebooks ran); by default it is read here.
    memo
        The run's memo folder, when the evidence is read here (see
        :func:`captured_relations`).

    Returns
    -------
    Story
        Built with the runbooks' default analysis parameters; evidence that was
        never captured is listed as unknown in the diagnosis.

    Raises
    ------
    InvalidInput
        ``evidence`` describes another moment than ``as_of``.
    """
    if evidence is None:
        evidence = read_story_evidence(workspace, as_of=as_of, memo=memo)
    elif as_of is not None and as_of != evidence.as_of:
        raise InvalidInput(
            f"the evidence read describes {evidence.as_of.isoformat()}, not "
            f"{as_of.isoformat()}: read it again with read_story_evidence(as_of=...)"
        )
    inc = workspace.incident
    timeline_store = TimelineStore(workspace)
    if record:
        timeline_store.append(evidence.derived)
        timeline = timeline_store.frame()
    else:
        known = timeline_store.read()
        ids = {e.id for e in known}
        timeline = events_frame(known + [e for e in evidence.derived if e.id not in ids])
    diagnosis = diagnose(
        incident=inc,
        events=timeline,
        ranked=evidence.ranked,
        onset=evidence.onset,
        onsets=evidence.onsets,
        impact=evidence.impact,
        verdict=evidence.verdict,
        unknown=evidence.unknown,
        metrics_evidence=evidence.metrics_evidence,
    )
    return Story(
        incident=inc,
        as_of=evidence.as_of,
        window=evidence.window,
        baseline=evidence.baseline,
        timeline=timeline,
        diagnosis=diagnosis,
        errors=evidence.errors,
        impact=evidence.impact,
        onset=evidence.onset,
        verdict=evidence.verdict,
        files=evidence.files,
    )


def _with_file(event: Event, files: Mapping[str, str]) -> Event:
    """The event with the captured file it was read from."""
    if event.evidence and not event.file and event.evidence in files:
        return replace(event, file=files[event.evidence])
    return event


# -- rendering ---------------------------------------------------------------------------


def _evidence_label(ref: str, files: Mapping[str, str]) -> str:
    """``evidence/0001-kubernetes-rollouts.parquet#row=3`` -> ``kubernetes/rollouts row 3``."""
    target, _, fragment = ref.partition("#")
    by_file = {path: name for name, path in files.items()}
    name = by_file.get(target, target.removeprefix("evidence/"))
    row = fragment.removeprefix("row=")
    return f"{name} row {row}" if fragment.startswith("row=") else name


def resolve_ref(
    ref: str,
    *,
    files: Mapping[str, str],
    notebooks: Collection[str],
    workspace_href: str,
) -> tuple[str, str]:
    """A clause reference as ``(label, href)``; ``href`` is empty when there is nothing to open.

    Parameters
    ----------
    ref
        ``evidence/<file>#row=N``, ``source/name#row=N``, a notebook name or ``timeline``.
    files
        ``source/name`` -> captured file (relative to the workspace).
    notebooks
        The notebooks whose pages sit beside the page being written.
    workspace_href
        The workspace folder relative to that page (``"../../"`` from a run folder).
    """
    target, _, fragment = ref.partition("#")
    if target.startswith("evidence/"):
        return _evidence_label(ref, files), f"{workspace_href}{target}"
    if target in files:
        label = f"{target} row {fragment[4:]}" if fragment.startswith("row=") else target
        return label, f"{workspace_href}{files[target]}"
    if target == "timeline":
        return "timeline", f"{workspace_href}timeline.jsonl"
    if target in notebooks:
        return target, f"{target}.html"
    return target, ""


_CSS = """
.story { border-left: 4px solid #2d4f80; background: #f4f7fb; padding: 8px 14px; margin-top: 12px; }
.story .headline { font-size: 16px; font-weight: 600; margin: 4px 0 8px; }
.story dl { margin: 0; display: grid; grid-template-columns: 150px 1fr; gap: 4px 12px; }
.story dt { font-weight: 600; color: #333; } .story dd { margin: 0; }
.story .refs { color: #555; font-size: 12px; } .story .refs a { color: #2d4f80; }
.story img { max-width: 100%; margin-top: 10px; border: 1px solid #e2e2e2; }
"""


def _e(text: object) -> str:
    return html.escape(redact(str(text)), quote=True)


def _clause_html(clause: Clause, link: Callable[[str], tuple[str, str]]) -> str:
    refs = []
    for ref in clause.refs:
        label, href = link(ref)
        refs.append(f"<a href='{_e(href)}'>{_e(label)}</a>" if href else _e(label))
    evidence = f" <span class='refs'>[{', '.join(refs)}]</span>" if refs else ""
    return f"{_e(clause.text)}{evidence}"


def story_html(
    story: Story,
    *,
    notebooks: Collection[str] = (),
    workspace_href: str = "../../",
    chart: str = "",
    embedded: str = "",
) -> str:
    """The "what happened" block of the index: every clause with links to its evidence.

    Parameters
    ----------
    story
        From :func:`build_story`.
    notebooks
        The notebooks of the run (their pages are linked).
    workspace_href
        The workspace folder relative to the page.
    chart
        The timeline chart's path relative to the page, or ``""``: the image links to it.
    embedded
        The same chart as a ``data:`` URI, shown in the page so that it stays one
        self-contained file (as the notebooks' pages are); ``""``: show ``chart``.
    """

    def link(ref: str) -> tuple[str, str]:
        return resolve_ref(
            ref, files=story.files, notebooks=notebooks, workspace_href=workspace_href
        )

    d = story.diagnosis
    rows = []
    for heading, clauses in d.sections():
        body = "<br>".join(_clause_html(c, link) for c in clauses)
        rows.append(f"<dt>{_e(heading)}</dt><dd>{body}</dd>")
    unknown = (
        f"<p class='refs'>Unknown (could not be read): {_e(', '.join(d.unknown))}.</p>"
        if d.unknown
        else ""
    )
    shown = embedded or chart
    image = f"<img src='{_e(shown)}' alt='Timeline of the incident by source'>" if shown else ""
    if image and chart:
        image = f"<a href='{_e(chart)}' title='the chart at full size'>{image}</a>"
    return (
        f"<style>{_CSS}</style><div class='story' id='what-happened'>"
        f"<h2 style='margin-top:4px'>What happened</h2>"
        f"<p class='headline'>{_e(d.headline)}</p><dl>{''.join(rows)}</dl>{unknown}"
        f"{image}</div>"
    )


def _short_refs(clause: Clause) -> str:
    """Notebook names only: a chat message cannot open evidence files."""
    names = [r for r in clause.refs if r[:2].isdigit() and "_" in r]
    return f" [{', '.join(dict.fromkeys(names))}]" if names else ""


def summary_markdown(story: Story, *, bundle: str = "", limit: int = SUMMARY_LIMIT) -> str:
    """The diagnosis as Markdown for a chat message or a ticket comment, under ``limit`` characters.

    One line per part of the diagnosis (its first clause; the mechanism's first two),
    each naming the notebooks that show its evidence; every text is quoted
    (:func:`~incident_lib.core.text.md_text`). Clauses are shortened, then the
    least needed parts (symptoms, competing hypotheses' detail) left out, until it fits.
    """
    inc = story.incident
    d = story.diagnosis
    head = (
        f"**{md_text(inc.id)} — {md_text(inc.title)}** ({md_text(inc.severity)}, "
        f"record status {md_text(inc.status)})\n\n{md_text(d.headline)}\n"
    )
    tail = f"\nEvidence: {md_text(bundle)}\n" if bundle else ""
    parts = [
        (heading, list(clauses[: _SUMMARY_CLAUSES.get(heading, 1)]))
        for heading, clauses in d.sections()
    ]
    optional = ("Symptoms", "What tells them apart", "Competing hypotheses", "Impact", "Mechanism")
    for dropped in range(len(optional) + 1):
        kept = [(h, c) for h, c in parts if h not in optional[:dropped]]
        for width in (360, 300, 250, 200, 160, 130, 100):
            body = "".join(
                f"\n- **{heading}:** "
                + " ".join(
                    md_text(redact(shorten(c.text, width))) + _short_refs(c) for c in clauses
                )
                for heading, clauses in kept
            )
            text = head + body + "\n" + tail
            if len(text) <= limit:
                return text
    return shorten(text, limit)
