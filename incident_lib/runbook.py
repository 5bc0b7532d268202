"""The context a notebook works in: workspace, window, evidence, findings, charts.

A notebook's first code cell is::

    rb = incident_lib.start_runbook("02_assess", workspace=workspace, mode=mode, run_dir=run_dir)

and then it asks ``rb`` for frames (``rb.evidence("kubernetes", "rollouts")``),
records findings (``rb.finding(...)``) and saves charts (``rb.save_chart(fig, "errors")``).
A source that is down or missing degrades only its own section: ``evidence``
shows "unavailable: why" and returns an empty frame with the right columns, and
the run lists the source once (``availability/<notebook>.json``, merged into
``run.json`` and the index's sources box), never as a finding.

Absence of evidence is never shown as evidence of absence: a table or a
statement built on evidence that could not be read names that evidence
(``rb.table(frame, empty="No monitor fired.", evidence="datadog/monitor_events")``,
``rb.show(text, evidence=...)``) and then says "unknown" instead of its empty message.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .comms import Draft, Sent
from .core.actions import Action, ActionResult
from .core.errors import (
    ActionRefused,
    EvidenceError,
    EvidenceNotFound,
    InvalidInput,
    SourceUnavailable,
)
from .core.findings import Finding, Level, Role
from .core.incident import Incident
from .core.params import Mode, check_metrics_source, check_mode
from .core.schema import EVIDENCE_KINDS, SchemaError, empty_frame, validate
from .core.text import md_code, md_text
from .core.time import Window, parse_time
from .infra.redact import redact
from .infra.workspace import Workspace, open_workspace
from .report.availability import AvailabilityLog, EvidenceRead, fix_for
from .report.findings import FindingsLog, finding_html
from .report.kernel_guard import ensure_runner_alive

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .analysis.mitigation import ActionEffect
    from .analysis.signatures import SignatureLines
    from .core.timeline import Event
    from .infra.evidence import ManifestEntry
    from .sources.base import Source, SourceRegistry

__all__ = ["Runbook", "start_runbook"]

DEFAULT_SCENARIO = "connection-leak"

# contracts whose rows are samples over the span fetched (column): rows that all lie
# before or after the window mean a capture made for another window
_SAMPLED = {"logs": "time", "metrics": "time"}
# query parameters that record the span a capture was fetched for
_QUERY_SPANS = (("since", "until"), ("from", "to"), ("start", "end"))


def _display(obj: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python: print instead
        print(obj)
        return
    display(obj)  # type: ignore[no-untyped-call]


#: resolution of saved charts (the inline image is this PNG, shown at the figure's own size)
_CHART_DPI = 110


def _show_chart(fig: Figure, png: bytes) -> None:
    """Display the saved ``png`` as ``fig``'s output and close ``fig``: drawn once.

    In a kernel the inline backend would otherwise render the open figure again
    at the end of the cell. The image is shown at the size the inline backend
    gives the figure (its ``dpi``), so it looks as before, only sharper. Outside
    IPython nothing is shown and the figure is left open.
    """
    try:
        from IPython import get_ipython
        from IPython.display import Image
    except ImportError:
        return
    if get_ipython() is None:
        return
    import matplotlib.pyplot as plt

    width = int.from_bytes(png[16:20], "big")  # the PNG header (IHDR) holds the pixel size
    height = int.from_bytes(png[20:24], "big")
    scale = float(fig.dpi) / _CHART_DPI
    _display(
        Image(  # type: ignore[no-untyped-call]
            data=png,
            format="png",
            width=max(1, round(width * scale)),
            height=max(1, round(height * scale)),
        )
    )
    plt.close(fig)


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
    #: ``source/name`` -> why it could not be read fresh (including fallbacks to a capture)
    unavailable: dict[str, str] = field(default_factory=dict)
    #: ``source/name`` -> why: evidence that could not be read at all (its frame is empty
    #: because nothing is known, not because nothing happened)
    missing: dict[str, str] = field(default_factory=dict)
    #: every evidence read of this notebook, for the run's sources summary
    reads: AvailabilityLog | None = None
    #: ``source/name`` of every evidence this notebook asked for, in order
    asked: list[str] = field(default_factory=list)
    #: where metrics and monitor events come from (``"datadog"`` or ``"prometheus"``)
    metrics_source: str = "datadog"
    #: the live sources (live mode); None until the first live fetch builds the default
    sources: SourceRegistry | None = None
    # ``source/name`` -> the capture file a read judged to be about this incident's windows
    _judged: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def incident(self) -> Incident:
        """The incident record."""
        return self.workspace.incident

    @property
    def memo(self) -> Path | None:
        """The run's memo folder, where what several notebooks derive from the same
        captures is computed once (:mod:`incident_lib.infra.memo`); None without a
        run folder (interactive use)."""
        from .infra.memo import MEMO_DIR

        return None if self.run_dir is None else self.run_dir / MEMO_DIR

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
        columns: Sequence[str] | None = None,
        time_range: Window | tuple[object, object] | None = None,
        at: Iterable[object] | None = None,
        where: Mapping[str, Collection[object]] | None = None,
    ) -> pd.DataFrame:
        """The frame ``source``/``name``: fetched and captured (live) or read back (offline).

        When the source is unavailable, shows "unavailable: why" and returns an
        empty frame with the contract's columns so that the rest of the notebook runs;
        the evidence is then in :attr:`missing` (pass it as ``evidence=`` to
        :meth:`table` and :meth:`show` so that they say "unknown"). So is a
        capture whose columns do not meet its contract (naming the capture) and
        one made for another time (its query span or all its samples outside
        the baseline and incident windows): it cannot say what happened then.

        Parameters
        ----------
        source, name
            Which evidence (see :data:`incident_lib.core.schema.EVIDENCE_KINDS`).
        using
            In live mode, the source to ask for this one call instead of the
            registry's (e.g. ``GitSource(repo)`` for a repository given as a
            notebook parameter); offline, the capture is read as always.
        columns
            Only these columns, in this order (default: the whole contract). A
            notebook that needs a few columns of a big capture (``logs``) asks
            for them: offline, only they are decoded (Parquet projection); the
            columns are checked against the contract, and an unavailable
            capture returns the contract's empty frame with these columns.
        time_range
            Only the rows whose ``time`` lies in ``[start, end)`` (a
            :class:`~incident_lib.core.time.Window`, e.g. :attr:`fetch_window`,
            or a pair of timezone-aware times), in their order, indexed from 0;
            offline, the row groups outside it are not decoded. Whether the
            capture lies outside this incident's windows is still judged on all
            of its rows. Live, the capture is the whole fetch; only what is
            returned is narrowed.
        at
            Instead of ``time_range``: only the rows at these times (e.g. the
            ``first_seen`` of a few log signatures, to read their raw lines
            without reading every line's), read as ``time_range`` is. Live
            too, they are read from the newest capture (the one an earlier
            call made), never fetched again.
        where
            Only the rows whose value in each named column is one of the values
            given (e.g. ``{"level": ("warning", "error", "critical")}``), with
            ``time_range`` or alone; they keep their row number in the capture
            as their index. Offline, the other rows are let go a row group at a
            time: a notebook that groups the failures of a big log capture holds
            only them. An empty mapping keeps every row, numbered as captured
            (to match the ``lines`` of :meth:`log_signatures`).

        Raises
        ------
        InvalidInput
            Unknown evidence, ``using`` is not the source ``source``, a column
            the capture does not have, or ``where`` with ``at``.
        """
        kind = EVIDENCE_KINDS.get((source, name))
        if kind is None:
            known = ", ".join(f"{s}/{n}" for s, n in EVIDENCE_KINDS)
            raise InvalidInput(f"unknown evidence {source}/{name}; known: {known}")
        key = f"{source}/{name}"
        if key not in self.asked:
            self.asked.append(key)
        if using is not None and using.name != source:
            raise InvalidInput(f"using= is a {using.name} source, not {source}")
        from .infra.evidence import project

        store = self.workspace.evidence
        entry: ManifestEntry | None = None
        narrow = columns is not None or time_range is not None or at is not None
        narrow = narrow or where is not None
        wanted = [columns] if isinstance(columns, str) else columns
        for asked in (wanted, where):
            unknown = [c for c in asked or () if c not in empty_frame(kind).columns]
            if unknown:
                raise InvalidInput(f"{source}/{name} has no column(s) {unknown} in its contract")
        if where is not None and at is not None:
            raise InvalidInput("read rows either where= some values or at= some times, not both")
        if at is not None and key in self.missing:  # (said when it was read)
            return empty_frame(kind) if wanted is None else empty_frame(kind)[list(wanted)]
        # Whether the capture lies outside the windows is judged on all its rows (times).
        every: pd.DataFrame | None = None
        try:
            if self.mode == "live" and at is None:
                every, fresh = self._live(source, name, using)
                frame = every
            else:
                entry = store.latest(source, name)
                frame = store.read_entry(
                    entry, columns=wanted, time_range=time_range, at=at, where=where
                )
                fresh = True
            try:
                if every is not None or not narrow:
                    validate(frame, kind)
                else:  # the contract's dtypes for the columns read (an empty probe of the rest)
                    probe = empty_frame(kind)
                    for column in frame.columns:
                        probe[column] = frame[column].iloc[:0]
                    validate(probe, kind)
            except SchemaError as exc:
                capture = entry or store.latest(source, name)
                raise SchemaError(
                    f"capture #{capture.seq} ({capture.file}) does not meet the {kind} "
                    f"contract: {str(exc).partition('contract: ')[2] or exc}"
                ) from None
        except (SourceUnavailable, EvidenceError, InvalidInput, SchemaError) as exc:
            # InvalidInput here comes from a source refusing its input (a `repo`
            # that is not a git clone): that section cannot run, the others can.
            reason = exc.reason if isinstance(exc, SourceUnavailable) else str(exc)
            short = "no evidence captured" if isinstance(exc, EvidenceNotFound) else reason
            self._unavailable(source, name, reason, short=short)
            self.missing[key] = self.unavailable[key]
            return empty_frame(kind) if wanted is None else empty_frame(kind)[list(wanted)]
        # rows at some times of a capture already read and judged (the examples' raw lines)
        judged = at is not None and entry is not None and self._judged.get(key) == entry.file
        if every is not None:  # live: the whole capture at hand, narrowed now
            frame = project(
                every, columns=wanted, time_range=time_range, kind=kind, at=at, where=where
            )
        elif narrow and entry is not None and _SAMPLED.get(kind) is not None and not judged:
            # The rows read tell whether the capture has samples in the windows only
            # when they have its times, all of them or some inside the fetch window.
            sampled = _SAMPLED[kind]
            narrow_rows = time_range is not None or at is not None or where is not None
            span = self.fetch_window
            inside = (
                isinstance(time_range, Window)
                and span.start <= time_range.start
                and time_range.end <= span.end
                and sampled in frame.columns
                and len(frame) > 0
            )
            if not inside and (narrow_rows or sampled not in frame.columns):
                every = store.read_entry(entry, columns=[sampled])
        outside = (
            "" if judged else self._outside_window(frame if every is None else every, kind, entry)
        )
        if outside:
            short = "the evidence captured lies outside the incident window"
            self._unavailable(source, name, outside, short=short)
            self.missing[key] = self.unavailable[key]
            return empty_frame(kind) if wanted is None else empty_frame(kind)[list(wanted)]
        if fresh:
            self.unavailable.pop(key, None)
            self.missing.pop(key, None)
            self._log(EvidenceRead(key, ok=True))
            self._judged[key] = (entry or store.latest(source, name)).file
        return frame

    def log_signatures(self, levels: Iterable[str]) -> SignatureLines:
        """The signatures of the ``kubernetes/logs`` lines at ``levels``, grouped once per run.

        :func:`~incident_lib.analysis.signatures.signatures_with_lines` over the
        lines at ``levels`` in :attr:`window` and :attr:`baseline`, read as
        :meth:`evidence` reads them (``time``, ``pod``, ``level`` and ``message``
        of those rows of :attr:`fetch_window`, each labelled by its row number in
        the capture, as a read with ``where=``), each example being its raw line
        (read ``at`` the examples' times). Offline in a run, the grouping is
        shared with the run's other notebooks and its story
        (:func:`~incident_lib.report.log_signatures.captured_signatures`); the
        capture is still judged here as :meth:`evidence` judges it: unavailable
        or outside the windows, it is in :attr:`missing` and no signature is given.

        Parameters
        ----------
        levels
            The levels to group, e.g. ``("warning", "error", "critical")``.

        Returns
        -------
        SignatureLines
            ``table`` (examples: raw lines), ``lines`` (labelled by row number in
            the capture) and ``examples``.
        """
        from .analysis.signatures import signatures_with_lines, with_raw_examples
        from .report.log_signatures import LOG_COLUMNS, captured_signatures

        key = "kubernetes/logs"

        def read(values: Collection[str]) -> pd.DataFrame | None:
            lines = self.evidence(
                "kubernetes",
                "logs",
                columns=list(LOG_COLUMNS),
                time_range=self.fetch_window,
                where={"level": list(values)},
            )
            return None if key in self.missing else lines

        found = captured_signatures(
            self.workspace.evidence,
            "kubernetes",
            "logs",
            window=self.window,
            baseline=self.baseline,
            levels=list(levels),
            memo=self.memo if self.mode == "offline" else None,
            read=read,
        )
        # the examples' raw lines: a read here, which judges the capture when another
        # process grouped it
        raw = self.evidence(
            "kubernetes", "logs", columns=["time", "message", "raw"], at=found.table["first_seen"]
        )
        if key in self.missing:
            empty = empty_frame("logs")[list(LOG_COLUMNS)]
            return signatures_with_lines(empty)  # (no line: no signature)
        return found._replace(table=with_raw_examples(found.table, raw))

    def _outside_window(self, frame: pd.DataFrame, kind: str, entry: ManifestEntry | None) -> str:
        """Why the capture says nothing about this incident's windows ("" when it may).

        A capture fetched for a span that misses the baseline and incident windows
        (its query's since/until), or whose samples all lie before or after them,
        cannot tell what happened then: "no request traffic" from it would be false.
        """
        span = self.fetch_window
        covered: tuple[datetime, datetime] | None = None
        query = entry.query if entry is not None else {}
        for first, last in _QUERY_SPANS:
            try:
                since = parse_time(query[first], field=first)
                until = parse_time(query[last], field=last)
            except (KeyError, TypeError, InvalidInput):
                continue
            if until <= span.start or since >= span.end:
                covered = (since, until)
            break
        column = _SAMPLED.get(kind)
        if covered is None and column is not None and len(frame):
            times = frame[column].dropna()
            if len(times) and (times.max() < span.start or times.min() >= span.end):
                covered = (
                    times.min().to_pydatetime(warn=False),
                    times.max().to_pydatetime(warn=False),
                )
        if covered is None:
            return ""
        return (
            f"the evidence captured covers {covered[0]:%Y-%m-%d %H:%M}Z → "
            f"{covered[1]:%Y-%m-%d %H:%M}Z, outside this incident's window and baseline "
            f"({span}): it cannot say what happened then; check window in incident.yaml, "
            "or capture the evidence for this window (live run)"
        )

    @staticmethod
    def provides(source: str, name: str) -> bool:
        """Whether ``source`` has evidence ``name`` at all (e.g. Prometheus has no ``events``)."""
        return (source, name) in EVIDENCE_KINDS

    def captured(self, source: str, name: str) -> bool:
        """Whether this run has evidence ``name`` of ``source`` to show.

        Live, it is fetched (or said to be unavailable); offline, only when an
        earlier run captured it. A section that exists only for some services
        (the autoscaler's, when there is an HPA) asks this first, so that a
        replay of an incident captured before the frame existed skips the
        section instead of calling the evidence missing.
        """
        return self.mode == "live" or self.workspace.evidence.has(source, name)

    def configured(self, source: str) -> bool:
        """Whether this incident has ``source`` at all: something of it was captured, or
        (live) the source is configured in the environment.

        A step that only applies when the service has a database (``10_verify``'s
        connection check) asks this first, so an incident without one is not told
        its database is "unknown".
        """
        if any(entry.source == source for entry in self.workspace.evidence.entries()):
            return True
        if self.mode != "live":
            return False
        try:
            self._registry().get(source)
        except SourceUnavailable:
            return False
        return True

    def _live(self, source: str, name: str, using: Source | None) -> tuple[pd.DataFrame, bool]:
        """Fetch and capture; when the source is down, fall back to an earlier capture.

        Returns the frame and whether it is fresh (False: an earlier capture).

        The source is ``using``, else the registry's; its query is recorded in the
        manifest and its notes are shown as "incomplete". The frame returned is
        this capture read back (redacted), even if another capture landed since.
        In a kernel whose runner has died (``kill -9`` of ``incident run``), nothing
        is fetched or captured: :class:`RunError` (see ``report/kernel_guard.py``).
        """
        ensure_runner_alive()  # an orphaned kernel neither asks systems nor captures
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
                source,
                name,
                f"{exc.reason}; showing the evidence captured at {captured}",
                short=exc.reason,
                fallback=captured,
            )
            return store.read(source, name), False
        ensure_runner_alive()  # the runner may have died during a long fetch
        entry = store.capture(fetched.frame, source=source, name=name, query=query)
        frame = store.read_entry(entry)
        if fetched.notes:  # truncated or unreadable parts: never silent
            self._incomplete(source, name, list(fetched.notes))
        return frame, True

    def _registry(self) -> SourceRegistry:
        """The injected registry, else the default one (built on first live fetch)."""
        if self.sources is None:
            from .sources.base import default_registry

            self.sources = default_registry()
        return self.sources

    def _incomplete(self, source: str, name: str, notes: list[str]) -> None:
        """Say what part of a fetch was cut or unreadable, here and in the index."""
        text = redact("; ".join(notes))
        _display(_markdown(f"> ⚠️ **{source}/{name} incomplete:** {md_text(text)}"))
        self.findings.add(
            f"{source}/{name} incomplete",
            severity="low",
            summary=text,
            fact=f"incomplete:{source}/{name}",
            role="context",
        )

    def _unavailable(
        self, source: str, name: str, reason: str, *, short: str = "", fallback: str = ""
    ) -> None:
        """Say so in this section and log it for the run's sources summary (not a finding).

        ``short`` is the reason as the summary groups it (without this store's path).
        """
        reason = redact(reason)
        key = f"{source}/{name}"
        said = self.unavailable.get(key) == reason  # (a second read: the rows of examples)
        self.unavailable[key] = reason
        if said:
            return
        _display(_markdown(f"> ⚠️ **{key} unavailable:** {md_text(reason)}"))
        fix = fix_for(source, self.mode, str(self.workspace.path))
        self._log(EvidenceRead(key, ok=False, reason=short or reason, fix=fix, fallback=fallback))

    def _log(self, read: EvidenceRead) -> None:
        if self.reads is None:
            self.reads = AvailabilityLog(self.notebook, self.run_dir)
        self.reads.add(read)

    def unknown(self, evidence: str | Sequence[str]) -> list[str]:
        """Of ``evidence`` (``"source/name"`` or several), what could not be read at all.

        Raises
        ------
        InvalidInput
            A name that is not ``source/name`` of a known evidence kind (a typo
            would otherwise hide the missing evidence for ever).
        """
        names = [evidence] if isinstance(evidence, str) else list(evidence)
        for item in names:
            source, _, name = item.partition("/")
            if (source, name) not in EVIDENCE_KINDS:
                known = ", ".join(f"{s}/{n}" for s, n in EVIDENCE_KINDS)
                raise InvalidInput(f"unknown evidence {item!r}; known: {known}")
        return [item for item in names if item in self.missing]

    def _unknown_note(self, missing: list[str]) -> str:
        named = ", ".join(md_code(m) for m in missing)
        were = "were" if len(missing) > 1 else "was"
        return (
            f"_**Unknown:** {named} {were} unavailable (see above), so this cannot be "
            "checked; it does not mean there was nothing._"
        )

    def table(
        self,
        frame: pd.DataFrame,
        *,
        empty: str,
        evidence: str | Sequence[str] = (),
        limit: int = 15,
    ) -> pd.DataFrame | None:
        """``frame`` for display: its first ``limit`` rows (saying how many more there
        are), or a short note saying ``empty`` when it has no rows.

        Parameters
        ----------
        frame
            The table to show.
        empty
            What an empty table means, e.g. ``"No monitor fired in the window."``:
            shown only when the evidence behind it was read.
        evidence
            The evidence the table is built from (``"kubernetes/logs"``, or several).
            When one could not be read, an empty table says "unknown" instead of
            ``empty``, and a non-empty one says it may be incomplete.
        limit
            The most rows shown.

        Raises
        ------
        InvalidInput
            ``evidence`` names an unknown evidence kind.
        """
        missing = self.unknown(evidence)
        if not len(frame):
            _display(_markdown(self._unknown_note(missing) if missing else f"_{empty}_"))
            return None
        if missing:
            named = ", ".join(md_code(m) for m in missing)
            _display(_markdown(f"_Possibly incomplete: {named} could not be read._"))
        if len(frame) > limit:
            _display(_markdown(f"_Showing the first {limit} of {len(frame)} rows._"))
            return frame.head(limit)
        return frame

    def finding(
        self,
        title: str,
        *,
        severity: Level,
        summary: str,
        ref: str = "",
        evidence: str | Sequence[str] = (),
        fact: str = "",
        role: Role = "symptom",
    ) -> Finding | None:
        """Record a finding for the bundle index and show it.

        ``evidence``: what the finding concludes from (as in :meth:`record`);
        when one could not be read, nothing is recorded and ``None`` is returned.
        ``fact`` and ``role``: the fact it states (findings with the same fact
        are one entry of the index) and what that fact is to the incident
        (``trigger``, ``mechanism``, ``symptom``, ``impact``, ``response`` or
        ``context``; see :class:`~incident_lib.core.findings.Finding`).
        """
        missing = self.unknown(evidence)
        if missing:
            _display(_markdown(self._unknown_note(missing)))
            return None
        item = self.findings.add(
            title, severity=severity, summary=summary, ref=ref, fact=fact, role=role
        )
        _display(_html(finding_html(item)))
        return item

    def record(self, findings: Iterable[Finding], *, evidence: str | Sequence[str] = ()) -> None:
        """Record and show each finding of ``findings`` (as returned by an analysis function).

        Parameters
        ----------
        findings
            The findings.
        evidence
            What they conclude from (``"kubernetes/logs"``, or several). When one
            could not be read, none is recorded ("No request traffic recorded"
            from metrics that were never fetched would be a false fact) and the
            section says "unknown" instead.

        Nothing is returned, so that a notebook's last line shows the findings
        once, not again as a list: the recorded ones (redacted, with this
        notebook's name) are in ``rb.findings.items``.
        """
        missing = self.unknown(evidence)
        if missing:
            _display(_markdown(self._unknown_note(missing)))
            return
        for item in self.findings.extend(findings):
            _display(_html(finding_html(item)))

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
        from .charts import png as chart_png

        png = chart_png(fig, dpi=_CHART_DPI)  # drawn once: the charts' layout is fixed
        target.write_bytes(png)
        _show_chart(fig, png)
        return str(rel)

    def note(self, text: str, *, at: str = "", author: str = "") -> None:
        """Add a human note to the incident timeline (``timeline.jsonl``) and show it.

        Parameters
        ----------
        text
            What happened or was decided, e.g. ``"paused the batch worker"``
            (redacted before it is written).
        at
            When, as ISO 8601 text; default: now.
        author
            Who writes it.

        Raises
        ------
        InvalidInput
            Empty or too long text, a time in the future.
        """
        from .infra.timeline import add_note

        event = add_note(self.workspace, text, at=at or None, author=author)
        by = f" ({md_text(event.author)})" if event.author else ""
        _display(_markdown(f"_Note added at {event.time:%H:%M} UTC{by}:_ {md_text(event.summary)}"))

    def act(
        self,
        action: Action,
        *,
        confirm: bool = False,
        target: str = "",
        by: str = "",
        follow: bool = True,
        timeout_s: float = 300.0,
    ) -> ActionResult | None:
        """Plan a mitigation, show what would change, and make it only when confirmed.

        Live only, never on a demo workspace (see :func:`incident_lib.acting.take_action`):
        the plan's one-line summary, the diff, the ``kubectl`` equivalent and the
        server-side dry run are shown; the change is made only with
        ``confirm=True`` and ``target`` naming the workload, its rollout followed
        with progress. Every outcome, refusals included, goes on the timeline.

        Returns
        -------
        ActionResult or None
            What happened; None when the action was refused (the reason is shown).
        """
        from .acting import take_action

        def progress(line: str) -> None:
            _display(_markdown(f"_rollout: {md_text(line)}_"))

        try:
            taken = take_action(
                self.workspace,
                action,
                live=self.mode == "live",
                confirm=confirm,
                target=target,
                by=by,
                follow=follow,
                timeout_s=timeout_s,
                progress=progress,
            )
        except ActionRefused as exc:
            _display(
                _markdown(f"> **Not done — {md_text(action.describe())}:** {md_text(str(exc))}")
            )
            return None
        plan = taken.plan
        if plan is not None:
            _display(_markdown(f"**Plan — {md_text(action.describe())}:** {md_text(plan.summary)}"))
            print(plan.diff)  # plain text: object data never becomes markup
            _display(
                _markdown(f"By hand: {md_code(plan.command)}  \nDry run: {md_text(taken.dry_run)}")
            )
        result = taken.result
        _display(_markdown(f"**{md_text(result.outcome)}:** {md_text(result.message)}"))
        return result

    @property
    def sent_refs(self) -> dict[str, str]:
        """Ids earlier sends returned or the alert brought (``pagerduty_incident``...)."""
        from .communicating import sent_refs

        return sent_refs(self.workspace)

    def last_sent(self, channel: str) -> datetime | None:
        """When a send through ``channel`` last succeeded (the cadence counts from it)."""
        from .communicating import last_sent

        return last_sent(self.workspace, channel)

    def send(self, draft: Draft, *, confirm: bool = False, by: str = "") -> Sent | None:
        """Show a draft and the exact requests sending it makes; send only when confirmed.

        The draft is always kept in the workspace (``comms/drafts/``). Without
        ``confirm`` nothing leaves the machine; with it the send is refused offline
        and on demo workspaces, and what happened goes on the timeline (see
        :func:`incident_lib.communicating.communicate`). A channel that is not
        configured says which environment variables to set.

        Parameters
        ----------
        draft
            What to send (from :mod:`incident_lib.comms`' draft builders).
        confirm
            Send it.
        by
            Who sends (recorded on the timeline).

        Returns
        -------
        Sent or None
            What sending did; None for a dry run, a refusal or no configured channel.
        """
        import html

        from .communicating import channel_for, communicate, keep_draft

        _display(_markdown(f"**Draft — {md_text(draft.describe())}:**"))
        _display(_html(f"<pre>{html.escape(draft.text)}</pre>"))  # evidence text is data
        try:
            channel = channel_for(draft.channel)
        except SourceUnavailable as exc:
            where = ""
            if confirm:  # a send was asked for: the text must not be lost
                kept = keep_draft(self.workspace, draft)
                where = (
                    f"; the draft is kept in {md_code(str(kept.relative_to(self.workspace.path)))}"
                )
            _display(_markdown(f"> **Not sent:** {md_text(exc.reason)}{where}."))
            return None
        try:
            done = communicate(
                self.workspace,
                draft,
                channel,
                live=self.mode == "live",
                confirm=confirm,
                by=by,
                section=self.notebook,
            )
        except ActionRefused as exc:
            _display(_markdown(f"> **Not sent:** {md_text(str(exc))}"))
            return None
        if done.sent is None:
            _display(
                _markdown(
                    "**Dry run: nothing sent.** To send it, set `confirm_send = True` (and "
                    "`sent_by`) in this notebook's parameters and run it live. The requests "
                    "it makes, secrets masked:"
                )
            )
            _display(_html(f"<pre>{html.escape(done.requests)}</pre>"))
            return None
        sent = done.sent
        links = "  \n".join(md_text(link) for link in sent.links)
        verdict = "Sent" if sent.ok else "Failed"
        tail = ""
        if not sent.ok and done.kept is not None:
            tail = (
                f"; the draft is kept in {md_code(str(done.kept.relative_to(self.workspace.path)))}"
            )
        _display(_markdown(f"**{verdict}:** {md_text(sent.detail)}{tail}  \n{links}".rstrip()))
        return sent

    def record_effect(self, action: Event, effect: ActionEffect) -> bool:
        """Put on the timeline whether ``action`` (an ``actions`` lane event) helped.

        Only a final verdict is recorded (helped, no change, worse: not "too early"
        or "unknown"), at the end of the period after the action, once per action
        (a later measurement adds nothing).

        Returns
        -------
        bool
            Whether an event was added.
        """
        from .core.actions import effect_event
        from .infra.timeline import TimelineStore

        if not effect.final or effect.until is None:
            return False
        event = effect_event(
            action,
            effect=effect.describe(),
            at=effect.until,
            evidence=f"{self.metrics_source}/metrics",
        )
        return bool(TimelineStore(self.workspace).append([event]))

    def show(self, obj: Any, *, evidence: str | Sequence[str] = ()) -> None:
        """Display a frame, a finding or markdown text.

        ``evidence``: what ``obj`` states facts from (as in :meth:`table`); when
        one could not be read, "unknown" is shown instead of ``obj`` (a summary
        over an empty frame would state "no traffic" as a fact).
        """
        missing = self.unknown(evidence)
        if missing:
            _display(_markdown(self._unknown_note(missing)))
            return
        _display(_markdown(obj) if isinstance(obj, str) else obj)

    def status_line(self) -> str:
        """The record's status as the header shows it: whose word it is, and its times.

        The status is the incident record's, not a conclusion of this notebook:
        ``record status **resolved** (mitigated 14:35 UTC, resolved 14:50 UTC)``;
        an open record says what it still awaits. ``10_verify`` checks it against
        the evidence.
        """
        inc = self.incident
        times = inc.times
        when = [
            f"{label} {moment:%H:%M} UTC"
            for label, moment in (("mitigated", times.mitigated), ("resolved", times.resolved))
            if moment is not None
        ]
        times_text = f" ({', '.join(when)})" if when else ""
        return f"record status **{md_text(inc.status)}**{times_text}"

    def header(self) -> None:
        """Show the incident header: id, title, severity, status, windows, as-of time.

        Every text of the record is quoted (:func:`~incident_lib.core.text.md_text`):
        a title is data, never markup. The status is labelled as the record's.
        """
        inc = self.incident
        self.show(
            f"### {md_text(inc.id)} — {md_text(inc.title)}\n"
            f"**{md_text(inc.severity)}** · {self.status_line()} · service "
            f"{md_code(inc.service)} in {md_code(inc.namespace)} · mode **{self.mode}**  \n"
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
        reads=AvailabilityLog(notebook, run_path),
        metrics_source=checked_source,
        sources=sources,
    )
