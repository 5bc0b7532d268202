"""From a notice to an attached bundle: what the receiver does for each alert.

:class:`Pipeline` is the ``work`` of :class:`~.server.Receiver`. For one notice:

1. the incident it maps to (:func:`~.routing.incident_for`): its workspace
   ``<workspaces>/<incident id>`` is created on the first notice of an alert group
   (window from the alert's start less the configured lead, detected at the
   alert's start) and reused by every later one, so a group is one incident;
2. the status: an acknowledged notice records ``acknowledged``, a resolved one
   ``resolved`` (at the alert's end), on the record and the timeline;
3. the notebooks the routing table chose run live (a live capture, then the
   bundle); an acknowledged notice runs none;
4. a message back (:class:`~.notify.Message`): the diagnosis' headline and the
   first clause of each part, with the bundle link; a delivery failure is
   retried by the notifier and never fails the bundle. With
   ``deliver_in_background`` the message is sent from a thread of its own, so a
   slow chat service never holds up the next incident's capture.

:meth:`Pipeline.parser` wraps a payload parser so that a notice the routing
cannot place (no service label) is refused at receipt (422), not after the 202.
:meth:`Pipeline.abandon` marks a notice the receiver stopped before its bundle
was made: a note on the incident's timeline says how to make it by hand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..communicating import remember_refs
from ..core.errors import IncidentError
from .alerts import Notice, Parser
from .routing import IncidentPlan, ReceiverConfig, incident_for

if TYPE_CHECKING:
    from ..infra.workspace import Workspace
    from ..report.bundle import RunResult
    from ..report.story import Story
    from .notify import Delivery, Message

__all__ = ["AUTHOR", "Handled", "Pipeline", "message_for"]

#: who the receiver's timeline entries are by
AUTHOR = "incident-receiver"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handled:
    """What the pipeline did with one notice.

    Attributes
    ----------
    plan
        The incident and notebooks the notice mapped to.
    workspace
        The incident's workspace folder.
    run
        The bundle made (None when no notebook ran or the run failed to start).
    deliveries
        The message back, per channel.
    seconds
        From the notice's receipt by :meth:`Pipeline.handle` to the end.
    problem
        Why no bundle was made ("" when one was, or none was asked for).
    """

    plan: IncidentPlan
    workspace: Path
    run: RunResult | None
    deliveries: tuple[Delivery, ...]
    seconds: float
    problem: str = ""

    @property
    def ok(self) -> bool:
        """Whether everything asked for was done (the bundle, when notebooks were chosen)."""
        return not self.problem and (self.run is None or self.run.ok)


def message_for(
    plan: IncidentPlan, story: Story | None, *, link: str, problem: str = "", pagerduty: str = ""
) -> Message:
    """The message back for one notice: the diagnosis when there is one, else what happened.

    Parameters
    ----------
    plan
        The incident the notice mapped to.
    story
        The bundle's story (None when no bundle or no story was made).
    link
        The bundle's URL or path ("" when none).
    problem
        Why no bundle was made ("" when one was).
    pagerduty
        The PagerDuty incident id to add a note to ("" for none).
    """
    from .notify import Message

    if story is not None:
        diagnosis = story.diagnosis
        headline = diagnosis.headline
        sections = tuple((heading, clauses[0].text) for heading, clauses in diagnosis.sections())
    elif problem:
        headline = f"No bundle: {problem}"
        sections = ()
    else:
        headline = f"{plan.status}: recorded on the incident's timeline"
        sections = ()
    return Message(
        incident_id=plan.incident_id,
        title=plan.title,
        severity=plan.severity,
        status=plan.status,
        headline=headline,
        sections=sections,
        link=link,
        pagerduty_incident=pagerduty,
    )


class Pipeline:
    """The receiver's work for each notice (see the module notes).

    Parameters
    ----------
    config
        The receiver configuration.
    workspaces
        The folder holding one workspace per incident (created when missing).
    notify
        Sends the message back (a :class:`~.notify.Notifier`'s ``send``); None sends none.
    run
        Runs the notebooks (default :func:`~incident_lib.report.bundle.run_bundle`).
    notebook_dir
        Where the notebooks are (default: the package's).
    parallel, timeout
        Notebooks at once, and seconds allowed per notebook.
    deliver_in_background
        Send messages from a thread pool of their own (``Handled.deliveries`` is
        then empty; the outcome is logged); :meth:`close` waits for them.
    clock
        The current time (aware), for acknowledgements without a time.
    """

    def __init__(
        self,
        config: ReceiverConfig,
        workspaces: Path,
        *,
        notify: Callable[[Message], Sequence[Delivery]] | None = None,
        run: Callable[..., RunResult] | None = None,
        notebook_dir: Path | None = None,
        parallel: int = 2,
        timeout: float = 600.0,
        deliver_in_background: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.workspaces = Path(workspaces)
        self.notify = notify
        self._run = run
        self.notebook_dir = notebook_dir
        self.parallel = parallel
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()  # creating a workspace, writing a record
        self._outbox = (
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="receiver-delivery")
            if deliver_in_background
            else None
        )

    # -- at receipt ------------------------------------------------------------------
    def parser(self, base: Parser) -> Parser:
        """``base``, refusing (422) a notice that maps to no incident (see the module notes)."""

        def parse(body: bytes, headers: Mapping[str, str]) -> list[Notice]:
            notices = base(body, headers)
            for notice in notices:
                incident_for(notice, self.config)  # raises PayloadRejected
            return notices

        return parse

    # -- the work --------------------------------------------------------------------
    def handle(self, notice: Notice) -> Handled:
        """Record the notice, run its notebooks live, send the message back.

        Raises
        ------
        PayloadRejected
            The notice maps to no incident (normally refused at receipt already).
        """
        began = time.monotonic()
        plan = incident_for(notice, self.config)
        workspace = self._workspace(plan, notice)
        if notice.source == "pagerduty":  # 01/10 and `incident send` acknowledge and resolve it
            remember_refs(workspace, {"pagerduty_incident": notice.key.partition(":")[2]})
        self._record_status(workspace, plan, notice)
        run: RunResult | None = None
        problem = ""
        if plan.status == "firing" or plan.notebooks:  # firing with none named: the whole set
            try:
                run = self._bundle(workspace, plan)
            except IncidentError as exc:  # refused before any notebook ran
                problem = str(exc)
        link = self._link(run) if run is not None else ""
        deliveries: tuple[Delivery, ...] = ()
        if self.notify is not None:
            pagerduty = notice.key.partition(":")[2] if notice.source == "pagerduty" else ""
            message = message_for(
                plan,
                run.story if run is not None else None,
                link=link,
                problem=problem,
                pagerduty=pagerduty,
            )
            if self._outbox is None:
                deliveries = tuple(self.notify(message))
            else:
                self._outbox.submit(_deliver, self.notify, message)
        handled = Handled(
            plan=plan,
            workspace=workspace.path,
            run=run,
            deliveries=deliveries,
            seconds=time.monotonic() - began,
            problem=problem,
        )
        _log.info(
            "%s %s: %s in %.1f s", plan.incident_id, plan.status, _outcome(handled), handled.seconds
        )
        return handled

    def __call__(self, notice: Notice) -> None:
        """:meth:`handle` for :class:`~.server.Receiver`: a failed bundle raises (counted)."""
        handled = self.handle(notice)
        if not handled.ok:
            raise _NotDone(handled)

    def close(self, timeout: float | None = None) -> None:
        """Wait for the messages still being sent (background delivery), at most ``timeout`` s."""
        if self._outbox is None:
            return
        done = threading.Event()

        def drain() -> None:
            assert self._outbox is not None
            self._outbox.shutdown(wait=True)
            done.set()

        threading.Thread(target=drain, daemon=True).start()
        done.wait(timeout)

    def abandon(self, notice: Notice) -> None:
        """Note on the incident's timeline that its bundle was not made (receiver stopping)."""
        from ..infra.timeline import add_note

        try:
            plan = incident_for(notice, self.config)
            folder = self.workspaces / plan.incident_id
            if not folder.is_dir():
                return
            from ..infra.workspace import open_workspace

            add_note(
                open_workspace(folder),
                f"the receiver stopped before the bundle for {plan.title} was made; make it "
                f"with: incident run {folder} --mode live",
                author=AUTHOR,
            )
        except IncidentError as exc:  # shutting down: say it, never raise
            _log.warning("could not mark %s as abandoned: %s", notice.key, type(exc).__name__)

    # -- steps -----------------------------------------------------------------------
    def _workspace(self, plan: IncidentPlan, notice: Notice) -> Workspace:
        from ..core.incident import Incident
        from ..infra.workspace import INCIDENT_FILE, create_workspace, open_workspace

        folder = self.workspaces / plan.incident_id
        with self._lock:
            if (folder / INCIDENT_FILE).exists():
                return open_workspace(folder)
            self.workspaces.mkdir(parents=True, exist_ok=True)
            incident = Incident.create(
                id=plan.incident_id,
                title=plan.title,
                service=plan.service,
                namespace=plan.namespace,
                severity=plan.severity,
                start=plan.window_start,
                detected=notice.starts_at,
            )
            return create_workspace(incident, folder)

    def _record_status(self, workspace: Workspace, plan: IncidentPlan, notice: Notice) -> None:
        from ..core.timeline import status_event
        from ..infra.workspace import write_incident

        if plan.status == "firing":
            return
        kind = "resolved" if plan.status == "resolved" else "acknowledged"
        at = (plan.resolved_at if kind == "resolved" else None) or self.clock()
        with self._lock:
            incident = workspace.incident
            if getattr(incident.times, kind) is not None:
                return  # already recorded (a re-delivery, or a person did)
            write_incident(incident.with_status(kind, at), workspace.path, overwrite=True)
            workspace.timeline.append([status_event(kind, at, author=AUTHOR)])

    def _bundle(self, workspace: Workspace, plan: IncidentPlan) -> RunResult:
        from ..infra.workspace import open_workspace

        run = self._run
        if run is None:
            from ..report.bundle import run_bundle

            run = run_bundle
        options: dict[str, Any] = {
            "notebooks": list(plan.notebooks) or None,
            "notebook_dir": self.notebook_dir,
            "parallel": self.parallel,
            "timeout": self.timeout,
            "mode": "live",
            "parameters": dict(self.config.parameters),
        }
        return run(open_workspace(workspace.path), **options)

    def _link(self, run: RunResult) -> str:
        base = self.config.bundle_url
        try:
            relative = run.index.resolve().relative_to(self.workspaces.resolve())
        except ValueError:
            return str(run.index)
        return f"{base}{relative.as_posix()}" if base else str(run.index)


def _deliver(notify: Callable[[Message], Sequence[Delivery]], message: Message) -> None:
    """Send ``message`` (on a delivery thread) and log how each channel fared."""
    try:
        for delivery in notify(message):
            level = logging.INFO if delivery.ok else logging.WARNING
            _log.log(level, "%s to %s: %s", message.incident_id, delivery.channel, delivery.detail)
    except Exception as exc:  # a notifier bug must not kill the delivery thread silently
        _log.warning("%s: message not sent (%s)", message.incident_id, type(exc).__name__)


def _outcome(handled: Handled) -> str:
    if handled.problem:
        return "no bundle"
    if handled.run is None:
        return "recorded"
    return "bundle ok" if handled.run.ok else "bundle with failed notebooks"


class _NotDone(IncidentError):
    """The bundle of a notice failed (counted as a failure by the receiver)."""

    def __init__(self, handled: Handled) -> None:
        failed = [r.name for r in handled.run.results if not r.ok] if handled.run else []
        reason = handled.problem or f"notebooks failed: {', '.join(failed)}"
        super().__init__(f"{handled.plan.incident_id}: {reason}")
        self.handled = handled
