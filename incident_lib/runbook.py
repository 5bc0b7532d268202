"""The context a notebook works in: workspace, window, evidence, findings, charts.

A notebook's first code cell is::

    rb = incident_lib.start_runbook("02_assess", workspace=workspace, mode=mode, run_dir=run_dir)

and then it asks ``rb`` for frames (``rb.evidence("kubernetes", "rollouts")``),
records findings (``rb.finding(...)``) and saves charts (``rb.save_chart(fig, "errors")``).
A source that is down or missing degrades only its own section: ``evidence``
shows "unavailable: why" and returns an empty frame with the right columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.errors import EvidenceError, InvalidInput, SourceUnavailable
from .core.findings import Finding, Level
from .core.incident import Incident
from .core.params import Mode, check_metrics_source, check_mode
from .core.schema import EVIDENCE_KINDS, empty_frame
from .core.time import Window, parse_time
from .infra.redact import redact
from .infra.workspace import Workspace, open_workspace
from .report.findings import FindingsLog, finding_html

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .sources.base import Source, SourceRegistry

__all__ = ["Runbook", "start_runbook"]

DEFAULT_SCENARIO = "connection-leak"


def _display(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python: print instead
        print(obj)
        return
    display(obj)  # type: ignore[no-untyped-call]


def _html(text: str) -> Any:
    try:
        from IPython.display import HTML
    except ImportError:
        return text
    return HTML(text)  # type: ignore[no-untyped-call]


def _markdown(text: str) -> Any:
    try:
        from IPython.display import Markdown
    except ImportError:
        return text
    return Markdown(text)  # type: ignore[no-untyped-call]


@dataclass(slots=True)
class Runbook:
    """What a notebook needs: the incident, its windows, evidence, findings and charts."""

    notebook: str
    workspace: Workspace
    mode: Mode
    run_dir: Path | None
    findings: FindingsLog
    unavailable: dict[str, str] = field(default_factory=dict)
    #: where metrics and monitor events come from (``"datadog"`` or ``"prometheus"``)
    metrics_source: str = "datadog"
    #: the live sources (live mode); None until the first live fetch builds the default
    sources: SourceRegistry | None = None

    @property
    def incident(self) -> Incident:
        """The incident record."""
        return self.workspace.incident

    @property
    def as_of(self) -> datetime:
        """The moment the notebook describes.

        Live: now. Offline: the incident's end; for an incident still open when
        its evidence was captured, the moment the last capture was taken (a
        post-mortem replay must not stretch the window to today).
        """
        inc = self.incident
        if self.mode == "live":
            return datetime.now(UTC)
        closed = inc.end or inc.times.resolved
        if closed is not None:
            return closed
        entries = self.workspace.evidence.entries()
        if entries:
            return max(parse_time(e.fetched_at, field="fetched_at") for e in entries)
        return datetime.now(UTC)

    @property
    def fetch_window(self) -> Window:
        """What a live fetch covers: the baseline and the incident window up to now."""
        end = max(self.window.end, self.as_of)
        return Window(min(self.baseline.start, self.window.start), end)

    @property
    def window(self) -> Window:
        """The incident window (closed at :attr:`as_of` while the incident is ongoing)."""
        return self.incident.window_at(self.as_of)

    @property
    def baseline(self) -> Window:
        """The baseline window (given, or the same length just before the incident)."""
        return self.incident.baseline or self.window.preceding()

    @property
    def view(self) -> Window:
        """What charts and change lists show: the baseline through the incident window's end."""
        return Window(min(self.baseline.start, self.window.start), self.window.end)

    def evidence(
        self,
        source: str,
        name: str,
        *,
        using: Source | None = None,
    ) -> pd.DataFrame:
        """The frame ``source``/``name``: fetched and captured (live) or read back (offline).

        When the source is unavailable, shows "unavailable: why" and returns an
        empty frame with the contract's columns so that the rest of the notebook runs.

        Parameters
        ----------
        source, name
            Which evidence (see :data:`incident_lib.core.schema.EVIDENCE_KINDS`).
        using
            In live mode, the source to ask for this one call instead of the
            registry's (e.g. ``GitSource(repo)`` for a repository given as a
            notebook parameter); offline, the capture is read as always.

        Raises
        ------
        InvalidInput
            Unknown evidence, or ``using`` is not the source ``source``.
        """
        kind = EVIDENCE_KINDS.get((source, name))
        if kind is None:
            known = ", ".join(f"{s}/{n}" for s, n in EVIDENCE_KINDS)
            raise InvalidInput(f"unknown evidence {source}/{name}; known: {known}")
        if using is not None and using.name != source:
            raise InvalidInput(f"using= is a {using.name} source, not {source}")
        store = self.workspace.evidence
        try:
            if self.mode == "live":
                return self._live(source, name, using)
            return store.read(source, name)
        except (SourceUnavailable, EvidenceError, InvalidInput) as exc:
            # InvalidInput here comes from a source refusing its input (a `repo`
            # that is not a git clone): that section cannot run, the others can.
            reason = exc.reason if isinstance(exc, SourceUnavailable) else str(exc)
            self._unavailable(source, name, reason)
            return empty_frame(kind)

    def _live(self, source: str, name: str, using: Source | None) -> pd.DataFrame:
        """Fetch and capture; when the source is down, fall back to an earlier capture.

        The source is ``using``, else the registry's; its query is recorded in the
        manifest and its notes are shown as "incomplete". The frame returned is
        this capture read back (redacted), even if another capture landed since.
        """
        store = self.workspace.evidence
        span = self.fetch_window
        try:
            live = using if using is not None else self._registry().resolve(source, name)
            fetched = live.fetch(name, self.incident, span, progress=self.run_dir is None)
            query = live.query(name, self.incident, span)
        except SourceUnavailable as exc:
            if not store.has(source, name):
                raise
            captured = store.latest(source, name).fetched_at
            self._unavailable(
                source, name, f"{exc.reason}; showing the evidence captured at {captured}"
            )
            return store.read(source, name)
        entry = store.capture(fetched.frame, source=source, name=name, query=query)
        frame = store.read_entry(entry)
        if fetched.notes:  # truncated or unreadable parts: never silent
            self._incomplete(source, name, list(fetched.notes))
        return frame

    def _registry(self) -> SourceRegistry:
        """The injected registry, else the default one (built on first live fetch)."""
        if self.sources is None:
            from .sources.base import default_registry

            self.sources = default_registry()
        return self.sources

    def _incomplete(self, source: str, name: str, notes: list[str]) -> None:
        """Say what part of a fetch was cut or unreadable, here and in the index."""
        text = redact("; ".join(notes))
        _display(_markdown(f"> ⚠️ **{source}/{name} incomplete:** {text}"))
        self.findings.add(f"{source}/{name} incomplete", severity="low", summary=text)

    def _unavailable(self, source: str, name: str, reason: str) -> None:
        """Say so in this section and in the bundle index (as a low finding)."""
        reason = redact(reason)
        self.unavailable[f"{source}/{name}"] = reason
        _display(_markdown(f"> ⚠️ **{source}/{name} unavailable:** {reason}"))
        self.findings.add(f"{source}/{name} unavailable", severity="low", summary=reason)

    def table(self, frame: pd.DataFrame, *, empty: str, limit: int = 15) -> pd.DataFrame | None:
        """``frame`` for display: its first ``limit`` rows (saying how many more there
        are), or a short note saying ``empty`` when it has no rows."""
        if not len(frame):
            _display(_markdown(f"_{empty}_"))
            return None
        if len(frame) > limit:
            _display(_markdown(f"_Showing the first {limit} of {len(frame)} rows._"))
            return frame.head(limit)
        return frame

    def finding(self, title: str, *, severity: Level, summary: str, ref: str = "") -> Finding:
        """Record a finding for the bundle index and show it."""
        item = self.findings.add(title, severity=severity, summary=summary, ref=ref)
        _display(_html(finding_html(item)))
        return item

    def record(self, findings: Iterable[Finding]) -> list[Finding]:
        """Record and show each finding of ``findings`` (as returned by an analysis function).

        Returns the recorded findings (redacted, with this notebook's name).
        """
        recorded = self.findings.extend(findings)
        for item in recorded:
            _display(_html(finding_html(item)))
        return recorded

    def save_chart(self, fig: Figure, name: str) -> str:
        """Save ``fig`` as ``charts/<notebook>-<name>.png`` in the run folder.

        Returns the reference to quote in a finding (the file's path relative to
        the run folder), or ``""`` when there is no run folder (interactive use).
        """
        if self.run_dir is None:
            return ""
        rel = Path("charts") / f"{self.notebook}-{name}.png"
        target = self.run_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=110, bbox_inches="tight")
        return str(rel)

    def show(self, obj: Any) -> None:
        """Display a frame, a finding or markdown text."""
        _display(_markdown(obj) if isinstance(obj, str) else obj)

    def header(self) -> None:
        """Show the incident header: id, title, severity, status, windows, as-of time."""
        inc = self.incident
        self.show(
            f"### {inc.id} — {inc.title}\n"
            f"**{inc.severity}** · status **{inc.status}** · service `{inc.service}` "
            f"in `{inc.namespace}` · mode **{self.mode}**  \n"
            f"Incident window {self.window} · baseline {self.baseline} · "
            f"as of {self.as_of:%Y-%m-%d %H:%M}Z"
        )


def _display_options() -> None:
    """Tables readable in a notebook: full templates and messages, no 500-row dumps."""
    import pandas as pd

    pd.set_option("display.max_colwidth", 160)
    pd.set_option("display.max_rows", 40)
    pd.set_option("display.min_rows", 20)
    pd.set_option("display.precision", 2)


def start_runbook(
    notebook: str,
    *,
    workspace: str | os.PathLike[str] = "",
    mode: str = "offline",
    run_dir: str | os.PathLike[str] = "",
    scenario: str = DEFAULT_SCENARIO,
    metrics_source: str = "datadog",
    sources: SourceRegistry | None = None,
) -> Runbook:
    """Open the runbook context for one notebook.

    Parameters
    ----------
    notebook
        The notebook's name, e.g. ``"01_triage"``.
    workspace
        The incident folder. Empty: the demo incident ``scenario`` (generated
        into the cache on first use), so a notebook opened as it is just works.
    mode
        ``"live"`` (query the sources and capture) or ``"offline"`` (captured evidence only).
    run_dir
        Where findings and charts go (set by ``incident run``); empty for interactive use.
    scenario
        The demo incident opened when ``workspace`` is empty.
    metrics_source
        Where metrics and monitor events come from: ``"datadog"`` or ``"prometheus"``
        (:data:`incident_lib.core.params.METRICS_SOURCES`); kept as
        :attr:`Runbook.metrics_source`.
    sources
        The live sources (see :class:`incident_lib.sources.SourceRegistry`); default:
        :func:`incident_lib.sources.default_registry`, built on the first live fetch.

    Raises
    ------
    InvalidInput
        Bad mode or metrics source, missing workspace, invalid record: before any
        work starts.
    """
    checked_mode = check_mode(mode)
    checked_source = check_metrics_source(metrics_source)
    _display_options()
    if not workspace:
        from .demo import ensure_demo

        workspace = ensure_demo(scenario)
    ws = open_workspace(workspace)
    run_path = Path(run_dir) if run_dir else None
    return Runbook(
        notebook=notebook,
        workspace=ws,
        mode=checked_mode,
        run_dir=run_path,
        findings=FindingsLog(notebook, run_path),
        metrics_source=checked_source,
        sources=sources,
    )
