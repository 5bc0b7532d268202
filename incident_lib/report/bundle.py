"""Run the notebook set over an incident workspace and write the evidence bundle.

``runs/<run-id>/`` receives every executed notebook, its HTML page, the charts,
``findings.json`` (the diagnosis, the findings grouped by fact, every finding),
``summary.md`` (the diagnosis for a chat message or a ticket comment), ``run.json``
and ``index.html``, which opens with the story of the incident (see
:mod:`incident_lib.report.story`); the timeline's new events land in the
workspace's ``timeline.jsonl``. Notebooks run in parallel;
one failing, hanging or losing its kernel never loses the others. The sources
that did not answer are listed once each, with the fix, in ``run.json`` and the
index (see :mod:`incident_lib.report.availability`).

``run.json`` is written first, with ``state: running``, and last, with
``complete`` or ``failed`` (see :mod:`incident_lib.report.runs`): a killed run
leaves a folder that says it is not a whole bundle. The folder that holds the
runs gets an ``index.html`` listing every run with its state. Every bundle
records the evidence head it was made from (``run.json``, ``findings.json`` and
the index), taken after the notebooks ran, so ``incident evidence verify WS
--bundle RUN_DIR`` can later check the evidence against it. A live run holds the
workspace's live-run lock; ``output`` writes the bundle outside the workspace
(for a read-only one), leaving the workspace untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html import escape as html_escape
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from ..core.errors import EvidenceError, InvalidInput, RunError, WorkspaceError
from ..core.findings import Finding
from ..core.params import check_mode
from ..core.time import Window
from ..infra.evidence import EvidenceHead, EvidenceStore
from ..infra.memo import MEMO_DIR
from ..infra.redact import redact
from ..infra.signing import check_signing_key, sign_head
from ..infra.workspace import Workspace
from .availability import Availability, collect_availability
from .execute import KernelFactory, NotebookResult, execute_notebook, forked_kernels
from .findings import FactGroup, collect_findings, group_findings, write_findings
from .index import write_index, write_runs_index
from .parameters import plan_parameters
from .render import HtmlRenderer
from .runs import (
    last_seconds,
    list_runs,
    live_lock,
    process_info,
    workspace_writable,
    write_run_file,
)
from .story import (
    Story,
    StoryEvidence,
    build_story,
    read_story_evidence,
    story_html,
    summary_markdown,
)

__all__ = ["RunResult", "default_notebook_dir", "list_notebooks", "run_bundle"]


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one run: where the bundle is and how each notebook did."""

    run_id: str
    run_dir: Path
    index: Path
    results: tuple[NotebookResult, ...]
    findings: tuple[Finding, ...]
    seconds: float
    #: which sources answered and which did not (once each, with the fix)
    availability: Availability = field(default_factory=Availability.empty)
    #: the evidence head the bundle was made from (None when it could not be read)
    evidence_head: EvidenceHead | None = None
    #: what the evidence says happened (None when the story could not be built)
    story: Story | None = None

    @property
    def ok(self) -> bool:
        """True when every notebook succeeded."""
        return all(r.ok for r in self.results)


def default_notebook_dir() -> Path:
    """``$INCIDENT_NOTEBOOKS`` if set, else the ``notebooks/`` folder beside the package."""
    explicit = os.environ.get("INCIDENT_NOTEBOOKS")
    return Path(explicit) if explicit else Path(__file__).resolve().parents[2] / "notebooks"


def list_notebooks(folder: Path, names: Sequence[str] | None = None) -> list[Path]:
    """The notebooks to run: all ``NN_*.ipynb`` in ``folder``, or those named.

    Names may be given as ``02_assess``, ``02_assess.ipynb`` or just ``02``.

    Raises
    ------
    InvalidInput
        The folder does not exist, or a name matches no notebook (or several).
    """
    if not folder.is_dir():
        raise InvalidInput(
            f"notebook folder {folder} does not exist; "
            "pass --notebook-dir or set INCIDENT_NOTEBOOKS"
        )
    available = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        if not available:
            raise InvalidInput(f"no notebooks (NN_name.ipynb) in {folder}")
        return available
    chosen = []
    for name in names:
        stem = name.removesuffix(".ipynb")
        matches = [p for p in available if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if len(matches) != 1:
            raise InvalidInput(
                f"notebook {name!r} {'is ambiguous' if matches else 'not found'}; "
                f"available: {', '.join(p.stem for p in available)}"
            )
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _new_run_dir(runs_dir: Path, *, inside_workspace: bool) -> tuple[str, Path]:
    """Create a new, empty run folder under ``runs_dir``; return its id and path."""
    hint = (
        "; pass --output DIR to write the bundle elsewhere (a read-only workspace)"
        if inside_workspace
        else ""
    )
    if runs_dir.is_symlink():
        raise WorkspaceError(
            f"{runs_dir} is a symbolic link; refusing to write the bundle through it{hint}"
        )
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot create the runs folder {runs_dir} ({exc.strerror or exc}){hint}"
        ) from None
    for _ in range(5):
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
        path = runs_dir / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise WorkspaceError(
                f"cannot write a run folder in {runs_dir} ({exc.strerror or exc}){hint}"
            ) from None
        return run_id, path
    raise RunError(f"could not create a new run folder under {runs_dir}")


def run_bundle(
    workspace: Workspace,
    *,
    notebooks: Sequence[str] | None = None,
    notebook_dir: Path | None = None,
    parallel: int = 2,
    timeout: float = 600.0,
    mode: str = "offline",
    parameters: Mapping[str, Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    on_start: Callable[[Path, list[str]], None] | None = None,
    on_result: Callable[[NotebookResult], None] | None = None,
) -> RunResult:
    """Execute the notebook set over ``workspace`` and write the bundle.

    Parameters
    ----------
    workspace
        An opened incident workspace.
    notebooks
        Names to run (default: all of them).
    notebook_dir
        Where the notebooks are (default :func:`default_notebook_dir`).
    parallel
        Notebooks running at once (>= 1).
    timeout
        Wall-clock seconds allowed per notebook (> 0).
    mode
        ``"offline"`` (captured evidence only) or ``"live"``. A live run holds
        the workspace's live-run lock (:func:`~incident_lib.report.runs.live_lock`)
        and needs a writable workspace.
    parameters
        Extra notebook parameters; validated (no secrets, no unknown names)
        before anything runs.
    output
        Write the run folder under this folder instead of ``<workspace>/runs``
        (for a read-only workspace). An offline run then leaves the workspace
        untouched: the timeline's derived events are not appended to it.
    on_start
        Called with the run folder and the notebook names once everything is
        validated, just before the first notebook starts.
    on_result
        Called with each notebook's result as it finishes (progress output).

    Raises
    ------
    InvalidInput
        Anything invalid, before any notebook starts; another live run of the
        workspace in progress (:class:`~incident_lib.core.errors.WorkspaceError`).
    """
    checked_mode = check_mode(mode)
    if not isinstance(parallel, int) or parallel < 1:
        raise InvalidInput(f"parallel must be a whole number >= 1, got {parallel!r}")
    if not timeout > 0:
        raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}")
    paths = list_notebooks(notebook_dir or default_notebook_dir(), notebooks)
    with contextlib.ExitStack() as held:
        # the kernels' fork server imports for a few seconds: it starts now, while the
        # rest is checked (input refused below stops it at once)
        kernels = held.enter_context(forked_kernels(wait=False))
        base = {"workspace": str(workspace.path), "mode": checked_mode, "run_dir": ""}
        plan = plan_parameters(dict(parameters or {}), paths, base=base)
        check_signing_key()  # a key configured but unusable: refused before anything runs
        if checked_mode == "live" and not workspace_writable(workspace.path):
            raise WorkspaceError(
                f"{workspace.path} is not writable, and a live run captures evidence into it"
                + ("; --output moves only the bundle" if output is not None else "")
                + ": make the workspace writable, or run offline (it reads the evidence "
                "already captured; add --output DIR to write the bundle elsewhere)"
            )
        runs_dir = (
            Path(output).expanduser().absolute() if output is not None else workspace.runs_dir
        )
        store = EvidenceStore(workspace.path)
        if checked_mode == "live":
            held.enter_context(live_lock(workspace.path))
        store.verify().raise_for_problems(store.root)
        if checked_mode == "offline" and not store.entries():
            raise InvalidInput(
                f"{workspace.path} has no evidence captured, and an offline run reads only "
                f"captured evidence; capture it with `incident run {workspace.path} --mode live` "
                "(sources come from the environment: KUBECONFIG, DD_API_KEY and DD_APP_KEY, "
                "PROMETHEUS_URL; see `incident run --help`)"
            )
        run_id, run_dir = _new_run_dir(runs_dir, inside_workspace=output is None)
        started = datetime.now(UTC)
        record: dict[str, Any] = {
            "run_id": run_id,
            "incident": workspace.incident.id,
            "mode": checked_mode,
            "state": "running",
            "started": started.isoformat(),
            **process_info(),
            "workspace": str(workspace.path),
            "notebooks": [{"name": p.stem, "status": "pending"} for p in paths],
        }
        write_run_file(run_dir, record)
        runs_page = workspace.path if output is None else runs_dir
        _write_runs_page(runs_page, workspace, runs_dir)
        try:
            return _execute(
                workspace,
                store,
                run_dir,
                record,
                paths,
                plan,
                kernels,
                parallel=parallel,
                timeout=timeout,
                record_timeline=output is None,
                on_start=on_start,
                on_result=on_result,
            )
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            record["state"] = "interrupted" if interrupted else "failed"
            record["error"] = (
                "interrupted" if interrupted else redact(f"{type(exc).__name__}: {exc}")
            )
            record["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 2)
            with contextlib.suppress(Exception):
                write_run_file(run_dir, record)
            raise
        finally:
            _write_runs_page(runs_page, workspace, runs_dir)


def _execute(
    workspace: Workspace,
    store: EvidenceStore,
    run_dir: Path,
    record: dict[str, Any],
    paths: list[Path],
    plan: dict[str, dict[str, Any]],
    kernels: KernelFactory,
    *,
    parallel: int,
    timeout: float,
    record_timeline: bool,
    on_start: Callable[[Path, list[str]], None] | None,
    on_result: Callable[[NotebookResult], None] | None,
) -> RunResult:
    """Run the notebooks into ``run_dir`` (whose ``run.json`` says running) and finish it."""
    run_id = run_dir.name
    checked_mode = str(record["mode"])
    for stem in plan:
        if "run_dir" in plan[stem]:
            plan[stem]["run_dir"] = str(run_dir)
    if on_start is not None:
        on_start(run_dir, [p.stem for p in paths])
    started = datetime.fromisoformat(str(record["started"]))
    began = time.monotonic()
    renderer = HtmlRenderer()
    inc = workspace.incident
    results: list[NotebookResult] = []
    ahead = _in_background(
        lambda: _ahead(workspace, run_dir, renderer, offline=checked_mode == "offline")
    )
    # one worker more than notebooks at once: the next notebook's kernel starts (a fork and a
    # handshake, mostly waiting) while the notebooks before it run, and waits for its turn
    slots = _Slots(parallel)

    def run(number: int, path: Path) -> NotebookResult:
        try:
            return execute_notebook(
                path,
                run_dir / path.name,
                plan[path.stem],
                timeout=timeout,
                kernel_manager=kernels,
                gate=slots.turn(number),
            )
        finally:
            slots.done(number)  # (a kernel that never started never took its turn)

    ordered = _longest_first(paths, last_seconds(run_dir.parent))
    # the index's timeline chart is drawn ahead when only the last notebooks (the shortest,
    # twice as many as run at once) are still to start: drawn at the end it would keep the
    # run waiting with one core idle; it is drawn again if they change the story
    draft = _in_background(
        lambda: _draft_chart(
            workspace, ahead, lambda: slots.wait_taken(max(len(ordered) - 2 * parallel, 0))
        ),
        name="runner-draft",
    )
    try:
        with ThreadPoolExecutor(max_workers=parallel + 1, thread_name_prefix="notebook") as pool:
            futures = {pool.submit(run, number, path): path for number, path in enumerate(ordered)}
            for future in as_completed(futures):
                path = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # a runner bug must not lose the other notebooks
                    result = NotebookResult(
                        name=path.stem,
                        status="failed",
                        seconds=0.0,
                        output=run_dir / path.name,
                        error=redact(f"runner error: {type(exc).__name__}: {exc}"),
                    )
                try:
                    html = renderer.render(
                        result.output,
                        run_dir / f"{path.stem}.html",
                        banner=renderer.banner(inc.id, inc.title, path.stem),
                    )
                    result = replace(result, html=html)
                except Exception as exc:
                    print(
                        f"warning: could not render {path.stem} to HTML: {redact(str(exc))}",
                        file=sys.stderr,
                    )
                results.append(result)
                record["notebooks"] = _notebook_states(record["notebooks"], result)
                write_run_file(run_dir, record)
                if on_result is not None:
                    on_result(result)
        head, signature = _evidence_head(store)  # after the notebooks: a live run captured
        findings = collect_findings(run_dir)
        groups = group_findings(findings)
        story, story_block = _tell_story(
            workspace,
            run_dir,
            [r.name for r in results],
            record_timeline=record_timeline,
            evidence=ahead,
            draft=draft,
        )
    finally:  # a run that stopped half-way leaves no chart being drawn behind it
        slots.cancel()
        futures_wait([draft], timeout=DRAFT_WAIT)
    shutil.rmtree(run_dir / MEMO_DIR, ignore_errors=True)  # (the run's alone: not the bundle's)
    _write_findings_json(run_dir, inc.id, story, groups, findings, head=head)
    availability = collect_availability(run_dir)
    seconds = time.monotonic() - began
    results.sort(key=lambda r: r.name)
    record["notebooks"] = [
        {
            "name": r.name,
            "status": r.status,
            "seconds": round(r.seconds, 2),
            "error": r.error,
        }
        for r in results
    ]
    record["seconds"] = round(seconds, 2)
    record["sources"] = availability.as_dict()
    record["evidence_head"] = head.to_dict() if head is not None else None
    if signature is not None:
        record["evidence_head_signature"] = signature
    verify = (
        f"incident evidence verify {shlex.quote(str(workspace.path))} "
        f"--bundle {shlex.quote(str(run_dir))}"
    )
    index = write_index(
        run_dir,
        inc,
        results,
        findings,
        run_id=run_id,
        mode=checked_mode,
        started=started,
        seconds=seconds,
        availability=availability,
        story_html=story_block,
        evidence_head=head,
        verify_command=verify,
    )
    record["state"] = "complete"  # last: the folder is a whole bundle from here on
    write_run_file(run_dir, record)
    return RunResult(
        run_id=run_id,
        run_dir=run_dir,
        index=index,
        results=tuple(results),
        findings=tuple(findings),
        seconds=seconds,
        availability=availability,
        evidence_head=head,
        story=story,
    )


def _notebook_states(states: object, result: NotebookResult) -> list[dict[str, Any]]:
    """The run's notebook list with ``result``'s entry updated (progress in ``run.json``)."""
    entry = {"name": result.name, "status": result.status, "seconds": round(result.seconds, 2)}
    out = [dict(s) for s in states if isinstance(s, dict)] if isinstance(states, list) else []
    for i, state in enumerate(out):
        if state.get("name") == result.name:
            out[i] = entry
            return out
    return [*out, entry]


def _evidence_head(store: EvidenceStore) -> tuple[EvidenceHead | None, dict[str, str] | None]:
    """The evidence head now, and its signature when a signing key is configured.

    A head that cannot be read (the manifest changed during the run) leaves the
    bundle without one, with a warning: the bundle is still worth having.
    """
    try:
        head = store.head()
    except EvidenceError as exc:
        print(
            f"warning: the evidence head could not be read, so this bundle does not pin its "
            f"evidence: {redact(str(exc))}",
            file=sys.stderr,
        )
        return None, None
    return head, sign_head(head)


def _write_runs_page(folder: Path, workspace: Workspace, runs_dir: Path) -> None:
    """Write ``folder/index.html``, every run of ``runs_dir`` with its state; never fail a run."""
    try:
        write_runs_index(
            folder,
            workspace.incident,
            list_runs(runs_dir),
            workspace=workspace.path,
            evidence_head=EvidenceStore(workspace.path).head(),
        )
    except Exception as exc:  # the list of runs must not cost the bundle
        print(
            f"warning: could not write the list of runs {folder / 'index.html'}: "
            f"{redact(str(exc))}",
            file=sys.stderr,
        )


T = TypeVar("T")

#: seconds a run that stops waits for the timeline chart being drawn ahead (about one)
DRAFT_WAIT = 10.0

#: the most log lines the story reads while notebooks run: the first of them to group the log
#: signatures holds the failures while the others read theirs (at 10M lines, every process
#: together: 3.5-3.9 GiB with the story ahead, in benchmarks/bench_scale.py); above, it waits
#: for the notebooks (an 8 GiB budget)
AHEAD_MAX_LOG_LINES = 12_000_000


def _in_background(work: Callable[[], T], name: str = "runner-ahead") -> Future[T]:
    """``work()`` in a daemon thread: an interrupted run does not wait for it."""
    future: Future[T] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(work())
            except BaseException as exc:  # handed to whoever asks for the result
                future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _ahead(
    workspace: Workspace, run_dir: Path, renderer: HtmlRenderer, *, offline: bool
) -> StoryEvidence | None:
    """What the runner can do while the kernels start and run, on a core they leave idle.

    Warms the HTML renderer (nbconvert's imports and template, the sanitisers,
    the redaction of the template's CSS) before the first page, reads the
    story's evidence when it cannot change any more (offline: nothing is
    captured during the run) and is not too big (see
    :data:`AHEAD_MAX_LOG_LINES`), and imports what the timeline chart draws with.
    """
    with contextlib.suppress(Exception):  # a failure here is the renderer's to report
        renderer.warm()
    store = workspace.evidence
    big = store.has("kubernetes", "logs") and (
        store.latest("kubernetes", "logs").rows > AHEAD_MAX_LOG_LINES
    )
    memo = run_dir / MEMO_DIR
    evidence = read_story_evidence(workspace, memo=memo) if offline and not big else None
    with contextlib.suppress(Exception):  # ... and the chart's
        import matplotlib.pyplot  # noqa: F401
    return evidence


class _ChartDraft(NamedTuple):
    """The index's timeline chart, drawn while the last notebooks ran, and the story it shows."""

    story: Story
    png: bytes


def _draft_chart(
    workspace: Workspace,
    evidence: Future[StoryEvidence | None],
    when: Callable[[], bool],
) -> _ChartDraft | None:
    """The timeline chart of the story as it stands when ``when()`` returns True.

    The story's chart is the last thing a run draws, after every notebook, with
    one core idle. Drawn here instead, as the last notebooks run, it is used
    when the story at the end shows the same (nothing the notebooks added since
    changed it): see :func:`_timeline_chart`. None when the evidence is read
    only at the end, or when ``when()`` returns False (the run stopped).
    """
    read = evidence.result()
    if read is None or not when():
        return None
    story = build_story(workspace, record=False, evidence=read)
    return _ChartDraft(story, _timeline_png(story))


class _Slots:
    """``parallel`` notebooks running at once, each in its turn (the order submitted).

    A notebook whose kernel is ready waits for :meth:`turn`; one that ends
    without taking it (its kernel never started) gives it up in :meth:`done`.
    """

    def __init__(self, parallel: int) -> None:
        self._changed = threading.Condition()
        self._free = parallel
        self._next = 0  # the turn to be taken next
        self._given_up: set[int] = set()
        self._running: set[int] = set()
        self._cancelled = False

    def _advance(self) -> None:
        while self._next in self._given_up:
            self._given_up.discard(self._next)
            self._next += 1

    @contextlib.contextmanager
    def turn(self, number: int) -> Iterator[None]:
        """Wait for turn ``number`` and a free slot; hold the slot in the block."""
        with self._changed:
            self._changed.wait_for(lambda: self._next == number and self._free > 0)
            self._next += 1
            self._free -= 1
            self._running.add(number)
            self._advance()
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._free += 1
                self._running.discard(number)
                self._changed.notify_all()

    def wait_taken(self, count: int) -> bool:
        """Wait until turns ``0`` to ``count - 1`` were all taken (or given up); False
        when the run stopped first (:meth:`cancel`)."""
        with self._changed:
            self._changed.wait_for(lambda: self._next >= count or self._cancelled)
            return not self._cancelled

    def cancel(self) -> None:
        """The run stopped: nobody waits for turns any more."""
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()

    def done(self, number: int) -> None:
        """Notebook ``number`` ended: its turn is given up if it never took it."""
        with self._changed:
            if number >= self._next and number not in self._running:
                self._given_up.add(number)
                self._advance()
                self._changed.notify_all()


def _longest_first(paths: list[Path], seconds: Mapping[str, float]) -> list[Path]:
    """The notebooks, those that took longest last time first (the shortest run last).

    Notebooks with no time on record (new ones, the first run) come first, in
    their own order: one of them may be long.
    """
    order = {path: i for i, path in enumerate(paths)}
    return sorted(paths, key=lambda p: (p.stem in seconds, -seconds.get(p.stem, 0.0), order[p]))


def _tell_story(
    workspace: Workspace,
    run_dir: Path,
    notebooks: list[str],
    *,
    record_timeline: bool = True,
    evidence: Future[StoryEvidence | None] | None = None,
    draft: Future[_ChartDraft | None] | None = None,
) -> tuple[Story | None, str]:
    """Build the story, its timeline chart and ``summary.md``; return it and its index block.

    A failure here (a bug, evidence the analyses cannot read) must not lose the
    bundle: the block then says the story could not be built, and why.
    ``record_timeline`` False leaves ``timeline.jsonl`` as it is (a bundle
    written outside the workspace). ``evidence`` is the story's evidence read
    while the notebooks ran (offline); when it holds None, it is read here.
    ``draft`` is the timeline chart drawn while the last notebooks ran (used when
    the story still shows the same; a draft that failed is drawn again here).
    """
    try:
        read = evidence.result() if evidence is not None else None
        if read is None:  # (live, or logs too big to read while the notebooks ran)
            read = read_story_evidence(workspace, memo=run_dir / MEMO_DIR)
        story = build_story(workspace, record=record_timeline, evidence=read)
        drafted = None
        if draft is not None and draft.exception() is None:
            drafted = draft.result()
        chart = _timeline_chart(story, run_dir, draft=drafted)
        (run_dir / "summary.md").write_text(
            summary_markdown(story, bundle=_bundle_ref(workspace, run_dir)),
            encoding="utf-8",
        )
        html = story_html(
            story, notebooks=notebooks, chart=chart, embedded=_embedded(run_dir / chart)
        )
        return story, html
    except Exception as exc:  # the notebooks' pages and findings are still worth having
        reason = redact(f"{type(exc).__name__}: {exc}")
        print(f"warning: the story of the incident could not be built: {reason}", file=sys.stderr)
        return None, (
            "<div class='story' id='what-happened'><h2>What happened</h2><p>The story could "
            f"not be built ({html_escape(reason)}); the findings below still stand.</p></div>"
        )


def _embedded(png: Path) -> str:
    """A PNG as a ``data:`` URI: the index stays one self-contained page, as the notebooks' are."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _bundle_ref(workspace: Workspace, run_dir: Path) -> str:
    """The bundle's index, relative to the workspace when it is inside it."""
    index = run_dir / "index.html"
    try:
        return str(index.relative_to(workspace.path))
    except ValueError:  # --output: outside the workspace
        return str(index)


def _timeline_chart(story: Story, run_dir: Path, *, draft: _ChartDraft | None = None) -> str:
    """Save the timeline chart under ``charts/`` and return its path relative to the run.

    ``draft``: the chart drawn earlier in the run, written as it is when its
    story shows the same as ``story`` (see :func:`_same_chart`).
    """
    drawn = draft.png if draft is not None and _same_chart(draft.story, story) else None
    rel = Path("charts") / "timeline.png"
    (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / rel).write_bytes(drawn if drawn is not None else _timeline_png(story))
    return str(rel)


def _chart_view(story: Story) -> Window:
    """The timeline chart's time range: the incident window and a little before it (the
    baseline hour would squeeze the events)."""
    lead_in = story.window.start - timedelta(minutes=10)
    return Window(max(story.view.start, lead_in), story.window.end)


def _same_chart(drafted: Story, final: Story) -> bool:
    """Whether the timeline chart of ``drafted`` is that of ``final``: the same input."""
    return (
        drafted.window == final.window
        and _chart_view(drafted) == _chart_view(final)
        and drafted.errors.equals(final.errors)
        and drafted.timeline.equals(final.timeline)
    )


def _timeline_png(story: Story) -> bytes:
    """The timeline chart of ``story`` as PNG bytes."""
    import matplotlib.pyplot as plt

    from ..charts import png, timeline_chart

    fig = timeline_chart(
        story.timeline, errors=story.errors, window=story.window, view=_chart_view(story)
    )
    try:
        return png(fig, dpi=110)  # laid out when built: drawn once
    finally:
        plt.close(fig)


def _write_findings_json(
    run_dir: Path,
    incident_id: str,
    story: Story | None,
    groups: list[FactGroup],
    findings: list[Finding],
    *,
    head: EvidenceHead | None = None,
) -> Path:
    """``findings.json``: the diagnosis, the findings grouped by fact, every finding.

    ``evidence_head`` pins the evidence the findings were drawn from.
    """
    summary = run_dir / "summary.md"
    return write_findings(
        run_dir,
        findings,
        extra={
            "incident": incident_id,
            "evidence_head": head.to_dict() if head is not None else None,
            "summary": summary.read_text(encoding="utf-8") if summary.exists() else "",
            "diagnosis": story.diagnosis.to_dict() if story is not None else None,
            "facts": [g.to_dict() for g in groups],
        },
    )
