"""Mitigation actions as values: what to do, what would change, what happened.

An :class:`Action` says what a responder may do (roll back, scale, restart, set a
resource limit, revert a ConfigMap, toggle a feature flag) and why it is
proposed; an :class:`ActionPlan` is what would change (the object as read, the
patch, a readable diff, the ``kubectl`` equivalent) before anything does; an
:class:`ActionResult` is what happened (a dry run or the real change, its outcome,
the metrics before and after, who and when). :func:`action_event` puts a result
on the incident timeline (``actions`` lane). The code that changes systems is in
:mod:`incident_lib.actions`; these values hold no client and no credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from .errors import ActionRefused, InvalidInput
from .text import shorten
from .time import parse_time
from .timeline import Event

__all__ = [
    "ACTION_KINDS",
    "EFFECT_KIND",
    "OUTCOMES",
    "Action",
    "ActionKind",
    "ActionPlan",
    "ActionResult",
    "Outcome",
    "action_event",
    "action_taken",
    "confirmation",
    "effect_event",
    "parse_action",
]

#: what an action does
ActionKind = Literal["rollback", "config_revert", "scale", "restart", "set_limit", "feature_flag"]
ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)
#: how an action ended: planned (dry run), applied, refused (nothing changed), failed,
#: timed_out (applied, the rollout did not complete in time)
Outcome = Literal["planned", "applied", "refused", "failed", "timed_out"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
#: the timeline kind of the event saying whether an action helped (:func:`effect_event`)
EFFECT_KIND = "effect"
#: the workload kinds an action may target
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "FeatureFlag")


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One mitigation a responder may take.

    Parameters
    ----------
    kind
        One of :data:`ACTION_KINDS`.
    workload
        What it acts on, ``"<Kind>/<name>"``: ``"Deployment/api"``,
        ``"StatefulSet/db"``, ``"ConfigMap/api-config"``, ``"FeatureFlag/new-checkout"``.
    namespace
        The Kubernetes namespace ("" for a feature flag).
    params
        The action's parameters, as text: ``revision`` (rollback; default the
        previous one), ``replicas`` (scale), ``container`` with ``cpu`` and/or
        ``memory`` (set_limit, Kubernetes quantities), ``enabled`` (feature_flag:
        ``"true"``/``"false"``), ``allow_zero`` (scale to zero, ``"true"``).
    why
        Why it is proposed, for people (``"deploy v2.34 is the likely trigger"``).

    Raises
    ------
    InvalidInput
        An unknown kind or a workload not written ``Kind/name``.
    """

    kind: ActionKind
    workload: str
    namespace: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    why: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise InvalidInput(f"action {self.kind!r} is not one of {', '.join(ACTION_KINDS)}")
        kind, _, name = self.workload.partition("/")
        if kind not in WORKLOAD_KINDS or not name:
            raise InvalidInput(
                f"workload {self.workload!r}: write it Kind/name, Kind one of "
                f"{', '.join(WORKLOAD_KINDS)} (e.g. Deployment/api)"
            )
        object.__setattr__(self, "params", {str(k): str(v) for k, v in self.params.items()})

    @property
    def kind_of_workload(self) -> str:
        """``Deployment`` of ``Deployment/api``."""
        return self.workload.partition("/")[0]

    @property
    def name(self) -> str:
        """``api`` of ``Deployment/api``: what a responder names to confirm."""
        return self.workload.partition("/")[2]

    def describe(self) -> str:
        """One line: ``"roll back Deployment/api to revision 41"``, ``"scale ... to 8"``."""
        p = self.params
        if self.kind == "rollback":
            to = f"revision {p['revision']}" if p.get("revision") else "the previous revision"
            return f"roll back {self.workload} to {to}"
        if self.kind == "scale":
            return f"scale {self.workload} to {p.get('replicas', '?')} replicas"
        if self.kind == "restart":
            return f"restart the pods of {self.workload}"
        if self.kind == "set_limit":
            limits = ", ".join(f"{k} {p[k]}" for k in ("cpu", "memory") if p.get(k))
            return f"set the limit of {self.workload} container {p.get('container', '?')}: {limits}"
        if self.kind == "config_revert":
            return f"revert {self.workload} to the content of its last kubectl apply"
        state = "on" if p.get("enabled", "").lower() == "true" else "off"
        return f"turn feature flag {self.name} {state}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionPlan:
    """What an action would change, computed from the object as read, before any change.

    Parameters
    ----------
    action
        The action.
    resource_version
        The object's ``metadata.resourceVersion`` when read: the change is sent
        with it as a precondition, so an object changed since is refused.
    patch
        The request body that would be sent (JSON text), never a secret.
    content_type
        Its content type (``application/strategic-merge-patch+json``...).
    diff
        A readable diff of the fields that change.
    command
        The equivalent command a responder could run by hand (``kubectl ...``).
    summary
        One line: what would change (``"image api:v2.34 -> api:v2.33"``).
    """

    action: Action
    resource_version: str
    patch: str
    content_type: str
    diff: str
    command: str
    summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """What happened to an action: dry run or real, its outcome, before and after.

    Parameters
    ----------
    action
        The action.
    outcome
        One of :data:`OUTCOMES`.
    dry_run
        True when nothing was meant to change.
    at
        When it was done (aware).
    by
        Who did it (a name or handle; "" unknown).
    message
        What happened, for people (the server's dry-run answer, the refusal's
        reason, how the rollout ended).
    before, after
        The key metric before and after (text such as ``"5xx 11.8%"``), "" when
        not measured.
    effect
        The verdict on the metric: ``helped``, ``no change``, ``worse``,
        ``too early``, ``unknown`` or "".
    """

    action: Action
    outcome: Outcome
    dry_run: bool
    at: datetime
    by: str = ""
    message: str = ""
    before: str = ""
    after: str = ""
    effect: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise InvalidInput(f"outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        object.__setattr__(self, "at", parse_time(self.at, field="action time"))


#: the parameters each kind of action takes (see :class:`Action`)
PARAMS: dict[str, frozenset[str]] = {
    "rollback": frozenset({"revision"}),
    "config_revert": frozenset(),
    "scale": frozenset({"replicas", "allow_zero"}),
    "restart": frozenset(),
    "set_limit": frozenset({"container", "cpu", "memory"}),
    "feature_flag": frozenset({"enabled"}),
}


def parse_action(kind: str, workload: str, params: str = "", *, namespace: str = "") -> Action:
    """An action from notebook or command-line text: ``params`` is ``key=value`` pairs.

    ``parse_action("rollback", "Deployment/api", "revision=41", namespace="prod")``.

    Raises
    ------
    InvalidInput
        An unknown kind, a workload not written ``Kind/name``, a pair without
        ``=``, or a parameter the kind does not take (the message lists them).
    """
    if kind not in PARAMS:
        raise InvalidInput(f"action {kind!r} is not one of {', '.join(ACTION_KINDS)}")
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in params.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"action parameter {item!r}: write it key=value, e.g. revision=41")
        pairs[key.strip()] = value.strip()
    unknown = sorted(set(pairs) - PARAMS[kind])
    if unknown:
        known = ", ".join(sorted(PARAMS[kind])) or "none"
        raise InvalidInput(f"{kind} takes no parameter {unknown}; it takes: {known}")
    return Action(kind=kind, workload=workload, namespace=namespace, params=pairs)  # type: ignore[arg-type]


def confirmation(
    plan: ActionPlan, *, confirm: bool, target: str, at: datetime, by: str, what: str
) -> ActionResult | None:
    """The gate every actor passes before a change: None means go ahead.

    Without ``confirm`` the result is the dry run (``planned``, saying ``what``
    would change and how to apply it); with it, ``target`` must name the plan's
    workload exactly.

    Raises
    ------
    ActionRefused
        ``confirm`` with a target that is not the workload's name.
    """
    action = plan.action
    if not confirm:
        return ActionResult(
            action=action,
            outcome="planned",
            dry_run=True,
            at=at,
            by=by,
            message=f"nothing changed: {what}; to apply it, pass confirm=True and "
            f"target={action.name!r}",
        )
    named = target.strip()
    if named != action.name:
        other = f", not {named!r}" if named else ""
        raise ActionRefused(
            f"name {action.workload} exactly to apply it: target={action.name!r}{other}; "
            "nothing was changed"
        )
    return None


def action_event(result: ActionResult) -> Event:
    """The timeline event of an action (``actions`` lane), dry runs included.

    Its kind is the action's (``rollback``, ``scale``...), prefixed ``dry_`` for
    a dry run; its key is the action and the time, so recording it twice adds it
    once.
    """
    action = result.action
    what = action.describe()
    mode = "dry run: " if result.dry_run else ""
    by = f" by {result.by}" if result.by else ""
    parts = [f"{mode}{what}{by}: {result.outcome}"]
    if result.effect:
        measured = f" ({result.before} -> {result.after})" if result.before else ""
        parts.append(f"effect {result.effect}{measured}")
    if result.message:
        parts.append(result.message)
    stamp = f"{result.at:%Y-%m-%dT%H:%M:%SZ}"
    return Event(
        time=result.at,
        source="actions",
        kind=f"dry_{action.kind}" if result.dry_run else action.kind,
        summary=shorten("; ".join(parts), 500),
        key=f"{action.kind} {action.workload}@{stamp}",
        section="09_mitigate",
        author=result.by,
    )


def action_taken(kind: str, summary: str) -> bool:
    """Whether an ``actions`` lane event records a change made (not planned, refused or failed).

    Reads what :func:`action_event` wrote: the kind (``dry_`` for a dry run,
    :data:`EFFECT_KIND` for an effect) and the outcome ending the first clause of
    the summary (``"... by alice: applied; ..."``).
    """
    if kind.startswith("dry_") or kind == EFFECT_KIND:
        return False
    head = summary.split("; ", 1)[0]
    return head.endswith((": applied", ": timed_out"))


def effect_event(action: Event, *, effect: str, at: datetime, evidence: str = "") -> Event:
    """The timeline event saying whether the action of ``action`` helped (``actions`` lane).

    ``effect`` is the measured comparison (``"5xx share of requests 11.80 % ->
    0.40 % (-97%): helped"``), ``at`` when it was measured (the end of the period
    after the action), ``evidence`` the metrics it rests on (``"prometheus/metrics"``).
    Its key is the action's: an action gets one effect event, however often it is
    measured again.
    """
    what = action.summary.split("; ", 1)[0]
    return Event(
        time=at,
        source="actions",
        kind=EFFECT_KIND,
        summary=shorten(f"effect of {what}: {effect}", 500),
        key=f"effect of {action.key or action.id}",
        evidence=evidence,
        section="09_mitigate",
    )
