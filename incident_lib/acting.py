"""Taking a mitigation action for an incident: plan, dry run, confirm, follow, record.

:func:`take_action` is what ``09_mitigate`` (through ``Runbook.act``) and
``incident act`` call. It is the one place that decides whether anything may
change:

* never offline, and never for a demo workspace (its incident is not real);
* a plan and a server-side dry run first, always; the change only with
  ``confirm=True`` and ``target`` naming the workload exactly (the actors check);
* after a change to a workload, the rollout is followed until it completes or
  ``timeout_s`` passes;
* every outcome, dry runs and refusals included, is appended to the incident
  timeline (``actions`` lane) with who and when.

Everything shown or recorded (the diff, the ``kubectl`` equivalent, messages)
is redacted first; the patch itself is never shown (a rolled-back pod template
may carry environment values).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from .core.actions import Action, ActionPlan, ActionResult, action_event
from .core.errors import ActionRefused
from .infra.redact import redact
from .infra.timeline import TimelineStore
from .infra.workspace import Workspace

__all__ = ["Actor", "Taken", "actor_for", "take_action"]


class Actor(Protocol):
    """What changes one kind of system (:mod:`incident_lib.actions`)."""

    def plan(self, action: Action) -> ActionPlan:
        """What would change (reads, never writes)."""
        ...

    def dry_run(self, plan: ActionPlan) -> str:
        """The server's verdict on the change, nothing stored."""
        ...

    def apply(
        self, plan: ActionPlan, *, confirm: bool = False, target: str = "", by: str = ""
    ) -> ActionResult:
        """Make the change, only when confirmed with the target named."""
        ...


@dataclass(frozen=True, slots=True)
class Taken:
    """What :func:`take_action` did: the plan as shown, the dry run, the result."""

    plan: ActionPlan | None
    dry_run: str
    result: ActionResult


def actor_for(action: Action, environ: Mapping[str, str] = os.environ) -> Actor:
    """The actor of ``action``'s kind, configured from the write configuration in ``environ``.

    Raises
    ------
    SourceUnavailable
        No Kubernetes configuration.
    """
    if action.kind == "feature_flag":
        from .actions import FlagActor

        return FlagActor.from_environment(environ)
    from .actions import KubernetesActor

    return KubernetesActor.from_environment(environ=environ)


def _shown(plan: ActionPlan) -> ActionPlan:
    """The plan with everything a person sees redacted (and the patch withheld)."""
    return replace(
        plan,
        patch="(withheld: it may carry environment values)",
        diff=redact(plan.diff),
        command=redact(plan.command),
        summary=redact(plan.summary),
    )


def take_action(
    workspace: Workspace,
    action: Action,
    *,
    live: bool,
    confirm: bool = False,
    target: str = "",
    by: str = "",
    follow: bool = True,
    timeout_s: float = 300.0,
    progress: Callable[[str], None] | None = None,
    actor: Actor | None = None,
    environ: Mapping[str, str] = os.environ,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Taken:
    """Plan ``action``, dry-run it, apply it when confirmed, follow it, record it.

    Parameters
    ----------
    workspace
        The incident's workspace (its timeline receives the outcome).
    action
        What to do.
    live
        Whether this run may reach the systems at all (``mode="live"``).
    confirm, target
        Apply only when ``confirm`` is True and ``target`` is the workload's name
        (``"api"`` for ``Deployment/api``, the flag's name for a feature flag).
    by
        Who acts (recorded on the timeline).
    follow, timeout_s, progress
        After a change to a workload, follow its rollout until it completes or
        ``timeout_s`` passes; ``progress`` gets a line per change of state.
    actor
        The actor to use (default: :func:`actor_for` from ``environ``).
    environ
        Where the write configuration is read.
    clock
        The current time (for the record of a refusal).

    Returns
    -------
    Taken
        The plan as shown (redacted), the dry run's verdict and the result.

    Raises
    ------
    ActionRefused
        Offline, a demo workspace, or the actor refused (unknown workload or
        revision, object changed since the plan, forbidden, no write
        credentials, the target not named): nothing changed. The refusal is on
        the timeline.
    """
    try:
        if not live:
            raise ActionRefused(
                "offline: a replay of captured evidence never plans or changes anything; run "
                "09_mitigate (or incident act) live against the cluster"
            )
        if workspace.demo_scenario is not None:
            raise ActionRefused(
                "this is a demo workspace: its incident is not real, so nothing is planned or "
                "changed"
            )
        chosen = actor if actor is not None else actor_for(action, environ)
        plan = chosen.plan(action)
        verdict = redact(chosen.dry_run(plan))
        result = chosen.apply(plan, confirm=confirm, target=target, by=by)
        if result.outcome == "applied" and follow and action.kind != "feature_flag":
            rollout = getattr(chosen, "follow", None)
            if rollout is not None:
                ended = rollout(plan, timeout_s=timeout_s, progress=progress)
                result = replace(
                    result, outcome=ended.outcome, message=f"{result.message}; {ended.message}"
                )
    except ActionRefused as exc:
        refused = ActionResult(
            action=action,
            outcome="refused",
            dry_run=not confirm,
            at=clock(),
            by=by,
            message=redact(str(exc)),
        )
        if live and workspace.demo_scenario is None:  # a replay or a demo acted on nothing
            TimelineStore(workspace).append([action_event(refused)])
        raise
    result = replace(result, message=redact(result.message))
    TimelineStore(workspace).append([action_event(result)])
    return Taken(plan=_shown(plan), dry_run=verdict, result=result)
