"""What the API server answered, for :mod:`.kubernetes`: refusals, states, rollout progress.

Pure functions over the parsed JSON of answers (and the client's ``ApiException``):
which revision a rollback goes to, the :class:`ActionRefused` of an answer that
means nothing changed, and whether a rollout completed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.actions import Action, Outcome
from ..core.errors import ActionRefused
from ..sources.kubernetes.errors import forbidden_user, status_message

__all__ = ["Rollout", "answer_state", "choose_revision", "refusal", "rollout_state"]


@dataclass(frozen=True, slots=True)
class Rollout:
    """How following a rollout ended: ``applied`` (completed) or ``timed_out``, and why."""

    outcome: Outcome
    message: str

    def __str__(self) -> str:
        return self.message


def choose_revision(action: Action, known: list[int], current: int) -> int:
    """The revision to roll back to: the one asked for, else the one before ``current``.

    Raises
    ------
    ActionRefused
        No earlier revision, not a number, the current one, or not kept.
    """
    wanted = action.params.get("revision", "").strip()
    kept = ", ".join(map(str, known)) or "none"
    if not wanted:
        older = [r for r in known if r < current]
        if not older:
            raise ActionRefused(
                f"{action.workload} has no revision before the current one ({current}); "
                f"revisions kept: {kept}"
            )
        return older[-1]
    if not wanted.isdigit():
        raise ActionRefused(f"revision {wanted!r} of {action.workload}: give a number")
    revision = int(wanted)
    if revision == current:
        raise ActionRefused(
            f"revision {revision} is the current one of {action.workload}: nothing to roll "
            f"back to; revisions kept: {kept}"
        )
    if revision not in known:
        raise ActionRefused(
            f"revision {revision} of {action.workload} does not exist (revisions kept: "
            f"{kept}; older ones are pruned by revisionHistoryLimit)"
        )
    return revision


def refusal(exc: Any, action: Action, verb: str, resource: str) -> ActionRefused | None:
    """The refusal of an API answer that means "nothing changed" (404, 403, 409, 422, 400)."""
    status = int(exc.status or 0)
    where = f"in namespace '{action.namespace}'"
    if status == 404:
        return ActionRefused(
            f"unknown workload: {action.workload} not found {where} (check the name and "
            "the namespace); nothing was changed"
        )
    if status == 403:
        who = forbidden_user(exc.body)
        return ActionRefused(
            f"forbidden (403): RBAC must allow '{verb}' on '{resource}' {where}"
            + (f" for {who}" if who else "")
            + "; nothing was changed"
        )
    if status == 409:
        return ActionRefused(
            f"{action.workload} changed since the plan (resourceVersion conflict, 409): nothing "
            "was changed; plan again and review the new diff"
        )
    if status in (400, 422):
        message = status_message(exc.body)
        return ActionRefused(
            f"the API server rejected the change ({status}): {message or exc.reason}; "
            "nothing was changed"
        )
    return None


def answer_state(obj: Mapping[str, Any]) -> str:
    """``resourceVersion 8, generation 5`` of an answer (a workload or a Scale)."""
    meta = obj.get("metadata") or {}
    parts = [f"resourceVersion {meta.get('resourceVersion', '?')}"]
    if meta.get("generation") is not None:
        parts.append(f"generation {meta['generation']}")
    if obj.get("kind") == "Scale":
        parts.append(f"replicas {(obj.get('spec') or {}).get('replicas')}")
    return ", ".join(parts)


def rollout_state(kind: str, obj: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the rollout of ``obj`` is complete, and its state in one line."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    seen = int(status.get("observedGeneration") or 0) >= int(
        (obj.get("metadata") or {}).get("generation") or 0
    )
    if kind == "DaemonSet":
        want = int(status.get("desiredNumberScheduled") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        ready = int(status.get("numberReady") or 0)
    else:
        want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        updated = int(status.get("updatedReplicas") or 0)
        ready = int(status.get("readyReplicas") or 0)
    total = int(status.get("replicas") or 0) if kind == "Deployment" else want
    old = max(total - updated, 0)
    state = f"{updated}/{want} updated, {ready} ready" + (f", {old} old" if old else "")
    if not seen:
        state += " (change not yet seen by the controller)"
    return seen and updated == want and ready == want and old == 0, state
