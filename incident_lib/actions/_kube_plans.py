"""What a Kubernetes action changes, computed from objects as read (plain dicts, no client).

Each ``*_change`` function takes the object as the API server served it (and
what else the action needs) and returns a :class:`Change`: the patch body, its
content type, the object as it would be after, the ``kubectl`` equivalent and a
one-line summary; it raises :class:`ActionRefused` when the action cannot or
need not be done. :func:`readable_diff` shows a change as a unified diff of the
YAML of the fields that change, environment values of secret-looking names and
token-shaped text hidden.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.errors import ActionRefused
from ..sources.kubernetes.configs import LAST_APPLIED, last_applied
from ..sources.kubernetes.errors import mask

__all__ = [
    "MERGE_PATCH",
    "RESTARTED_AT",
    "STRATEGIC_MERGE_PATCH",
    "Change",
    "config_revert_change",
    "merge_diff",
    "readable_diff",
    "restart_change",
    "revision_rollback_change",
    "rollback_change",
    "scale_change",
    "set_limit_change",
]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
#: the pod template annotation ``kubectl rollout restart`` sets
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
#: the ReplicaSet label the Deployment controller adds (never patched back)
TEMPLATE_HASH = "pod-template-hash"
#: the Deployment annotations ``kubectl rollout undo`` keeps rather than copies from the ReplicaSet
_KEPT_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
_SECRET_NAME = re.compile(r"pass|secret|token|key|credential|auth|private|cert", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Change:
    """A patch and what it does: body, content type, the object after, command, summary."""

    patch: dict[str, Any]
    content_type: str
    after: dict[str, Any]
    command: str
    summary: str

    def body(self) -> str:
        """The patch as the JSON text sent."""
        return json.dumps(self.patch, sort_keys=True)


# -- helpers -----------------------------------------------------------------------
def merge_diff(before: Any, after: Any) -> Any:
    """The RFC 7386 merge patch that turns ``before`` into ``after`` (maps only; lists whole)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return copy.deepcopy(after)
    patch: dict[str, Any] = {}
    for key, value in after.items():
        if key not in before:
            patch[key] = copy.deepcopy(value)
        elif before[key] != value:
            patch[key] = merge_diff(before[key], value)
    for key in before:
        if key not in after:
            patch[key] = None
    return patch


def _kubectl(verb: str, obj: Mapping[str, Any], *args: str) -> str:
    kind = str(obj.get("kind") or "deployment").lower()
    meta = obj.get("metadata") or {}
    words = ["kubectl", *verb.split(), f"{kind}/{meta.get('name', '')}", *args]
    words += ["-n", str(meta.get("namespace") or "")]
    return " ".join(shlex.quote(w) for w in words)


def _template(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict((obj.get("spec") or {}).get("template") or {})


def _images(template: Mapping[str, Any]) -> str:
    containers = (template.get("spec") or {}).get("containers") or []
    return ", ".join(str(c.get("image", "?")) for c in containers) or "no image"


def _workload(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind', 'Deployment')}/{(obj.get('metadata') or {}).get('name', '')}"


def _with_template(obj: Mapping[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    after = copy.deepcopy(dict(obj))
    after.setdefault("spec", {})["template"] = template
    return after


def _precondition(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"resourceVersion": str((obj.get("metadata") or {}).get("resourceVersion") or "")}


# -- rollback ----------------------------------------------------------------------
def rollback_change(
    deployment: Mapping[str, Any], replicaset: Mapping[str, Any], *, revision: int, current: int
) -> Change:
    """Roll a Deployment back to the pod template of ``replicaset`` (``kubectl rollout undo``).

    The template loses the ``pod-template-hash`` label; the Deployment's
    annotations become the ReplicaSet's, but for the revision bookkeeping and
    ``last-applied-configuration``, which stay, as ``kubectl`` does. The patch is
    a JSON merge patch of what differs (removed keys set to ``null``), carrying
    the resourceVersion read as a precondition.

    Raises
    ------
    ActionRefused
        The Deployment already runs that template.
    """
    template = copy.deepcopy(_template(replicaset))
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(TEMPLATE_HASH, None)
    before = _template(deployment)
    workload = _workload(deployment)
    if template == before:
        raise ActionRefused(
            f"{workload} already runs the pod template of revision {revision}: nothing would "
            "change; choose another revision"
        )
    now = dict((deployment.get("metadata") or {}).get("annotations") or {})
    wanted = {k: v for k, v in now.items() if k in _KEPT_ANNOTATIONS}
    wanted.update(
        {
            k: v
            for k, v in ((replicaset.get("metadata") or {}).get("annotations") or {}).items()
            if k not in _KEPT_ANNOTATIONS
        }
    )
    metadata: dict[str, Any] = _precondition(deployment)
    if wanted != now:
        metadata["annotations"] = merge_diff(now, wanted)
    patch = {"metadata": metadata, "spec": {"template": merge_diff(before, template)}}
    after = _with_template(deployment, template)
    after["metadata"]["annotations"] = wanted
    return Change(
        patch=patch,
        content_type=MERGE_PATCH,
        after=after,
        command=_kubectl("rollout undo", deployment, f"--to-revision={revision}"),
        summary=f"revision {current} -> {revision}: image {_images(before)} -> {_images(template)}",
    )


def revision_rollback_change(
    workload: Mapping[str, Any], history: Mapping[str, Any], *, revision: int, current: int
) -> Change:
    """Roll a StatefulSet or DaemonSet back to a ControllerRevision (``kubectl rollout undo``).

    The patch is the revision's ``data`` (``{"spec": {"template": {..., "$patch":
    "replace"}}}``) sent as a strategic merge patch, as ``kubectl`` does, with
    the resourceVersion read as a precondition.

    Raises
    ------
    ActionRefused
        The revision holds no template, or the workload already runs it.
    """
    data = history.get("data")
    name = _workload(workload)
    template = (data.get("spec") or {}).get("template") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(template, dict):
        raise ActionRefused(
            f"revision {revision} of {name} holds no pod template: roll back by hand "
            f"({_kubectl('rollout history', workload)})"
        )
    target = {k: v for k, v in template.items() if k != "$patch"}
    before = _template(workload)
    if target == before:
        raise ActionRefused(
            f"{name} already runs the pod template of revision {revision}: nothing would "
            "change; choose another revision"
        )
    patch: dict[str, Any] = copy.deepcopy(data)
    patch["metadata"] = _precondition(workload)
    return Change(
        patch=patch,
        content_type=STRATEGIC_MERGE_PATCH,
        after=_with_template(workload, copy.deepcopy(target)),
        command=_kubectl("rollout undo", workload, f"--to-revision={revision}"),
        summary=f"revision {current} -> {revision}: image {_images(before)} -> {_images(target)}",
    )


# -- ConfigMap revert --------------------------------------------------------------
_CONTENT = ("data", "binaryData")


def config_revert_change(configmap: Mapping[str, Any]) -> Change:
    """Put a ConfigMap's content back to that of its last ``kubectl apply``.

    The content is the ``data`` and ``binaryData`` of its last-applied-configuration
    annotation; the patch is a JSON merge patch of the keys that differ (keys
    added since set to ``null``), carrying the resourceVersion read as a
    precondition. Labels, annotations and everything else stay.

    Raises
    ------
    ActionRefused
        The ConfigMap is immutable, has no (readable) last-applied content, or
        already holds it.
    """
    meta = configmap.get("metadata") or {}
    name = _workload(configmap)
    elsewhere = (
        "revert it where it is defined (git and kubectl apply, helm rollback, the Argo CD "
        "or Flux history); nothing was changed"
    )
    if configmap.get("immutable"):
        raise ActionRefused(f"{name} is immutable and cannot be changed: {elsewhere}")
    applied = last_applied(meta.get("annotations"))
    if applied is None:
        raise ActionRefused(
            f"{name} has no readable {LAST_APPLIED} annotation, so its previous content is "
            f"unknown here: {elsewhere}"
        )
    before = {field: dict(configmap.get(field) or {}) for field in _CONTENT}
    if before == applied:
        raise ActionRefused(
            f"{name} already holds the content of its last kubectl apply, so nothing would "
            f"change (kubectl edit rewrites that annotation: an edit's previous content is not "
            f"kept): {elsewhere}"
        )
    patch: dict[str, Any] = {"metadata": _precondition(configmap)}
    changed: list[str] = []
    for field in _CONTENT:
        if before[field] != applied[field]:
            patch[field] = merge_diff(before[field], applied[field])
            changed += sorted(patch[field])
    after = copy.deepcopy(dict(configmap))
    for field in _CONTENT:
        after[field] = applied[field]
    shown = {k: v for k, v in patch.items() if k != "metadata"}
    keys = ", ".join(changed)
    return Change(
        patch=patch,
        content_type=MERGE_PATCH,
        after=after,
        command=_kubectl("patch", configmap, "--type=merge", "-p", json.dumps(_hide(shown))),
        summary=f"{name} back to the content of its last kubectl apply: {keys}",
    )


# -- scale, restart, limits --------------------------------------------------------
def scale_change(
    workload: Mapping[str, Any], scale: Mapping[str, Any], replicas: str, *, allow_zero: bool
) -> Change:
    """Set ``spec.replicas`` through the ``scale`` subresource (a merge patch of the Scale).

    Raises
    ------
    ActionRefused
        ``replicas`` is not a whole number >= 0, is 0 without ``allow_zero``, or
        is the current count.
    """
    name = _workload(workload)
    if not replicas.strip().isdigit():
        raise ActionRefused(f"replicas {replicas!r} of {name}: give a whole number, e.g. 8")
    wanted = int(replicas)
    if wanted == 0 and not allow_zero:
        raise ActionRefused(
            f"scaling {name} to 0 stops the service: refused unless allow_zero='true' is given"
        )
    now = int((scale.get("spec") or {}).get("replicas") or 0)
    if wanted == now:
        raise ActionRefused(f"{name} already has {now} replicas: nothing would change")
    after = copy.deepcopy(dict(workload))
    after.setdefault("spec", {})["replicas"] = wanted
    version = str((scale.get("metadata") or {}).get("resourceVersion") or "")
    return Change(
        patch={"metadata": {"resourceVersion": version}, "spec": {"replicas": wanted}},
        content_type=MERGE_PATCH,
        after=after,
        command=_kubectl(
            "scale", workload, f"--replicas={wanted}", f"--resource-version={version}"
        ),
        summary=f"replicas {now} -> {wanted}",
    )


def restart_change(workload: Mapping[str, Any], *, at: datetime) -> Change:
    """Replace every pod: the ``restartedAt`` pod template annotation (``rollout restart``)."""
    stamp = f"{at:%Y-%m-%dT%H:%M:%SZ}"
    template = copy.deepcopy(_template(workload))
    template.setdefault("metadata", {}).setdefault("annotations", {})[RESTARTED_AT] = stamp
    patch = {
        "metadata": _precondition(workload),
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}},
    }
    return Change(
        patch=patch,
        content_type=STRATEGIC_MERGE_PATCH,
        after=_with_template(workload, template),
        command=_kubectl("rollout restart", workload),
        summary=f"pods of {_workload(workload)} replaced (restartedAt {stamp})",
    )


def _quantity(resource: str, text: str) -> float:
    """A positive quantity (cores or bytes), or :class:`ActionRefused` saying how to write it."""
    from kubernetes.utils.quantity import parse_quantity

    example = "500m or 2" if resource == "cpu" else "512Mi or 2Gi"
    try:
        value = float(parse_quantity(text))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, ArithmeticError):
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise ActionRefused(
            f"{resource} limit {text!r} is not a Kubernetes quantity: e.g. {example}"
        )
    if resource == "memory" and value < 4 * 1024 * 1024:
        raise ActionRefused(
            f"memory limit {text!r} is {value:.0f} bytes: write it with a unit, e.g. {example}"
        )
    return value


def set_limit_change(workload: Mapping[str, Any], params: Mapping[str, str]) -> Change:
    """Set the cpu and/or memory limit of one container (``kubectl set resources``).

    Raises
    ------
    ActionRefused
        No or an unknown container, no limit given, a quantity that does not
        parse, a limit below the container's request, or limits already set so.
    """
    name = _workload(workload)
    template = copy.deepcopy(_template(workload))
    containers = (template.get("spec") or {}).get("containers") or []
    names = [str(c.get("name")) for c in containers]
    wanted = params.get("container", "")
    if wanted not in names:
        raise ActionRefused(
            f"container {wanted!r} is not in {name}: name one of {', '.join(names) or 'none'}"
        )
    limits = {r: params[r].strip() for r in ("cpu", "memory") if params.get(r, "").strip()}
    if not limits:
        raise ActionRefused(f"set_limit of {name}: give cpu and/or memory (e.g. memory=768Mi)")
    container = containers[names.index(wanted)]
    resources = container.setdefault("resources", {})
    requests = resources.get("requests") or {}
    current = dict(resources.get("limits") or {})
    for resource, text in limits.items():
        value = _quantity(resource, text)
        if resource in requests and value < _quantity(resource, str(requests[resource])):
            raise ActionRefused(
                f"{resource} limit {text} of container {wanted} is below its request "
                f"{requests[resource]}: the API server would reject it; raise the limit"
            )
    if all(current.get(r) == v for r, v in limits.items()):
        raise ActionRefused(
            f"container {wanted} of {name} already has these limits: nothing would change"
        )
    resources["limits"] = {**current, **limits}
    patch = {
        "metadata": _precondition(workload),
        "spec": {
            "template": {
                "spec": {"containers": [{"name": wanted, "resources": {"limits": limits}}]}
            }
        },
    }
    shown = ",".join(f"{r}={v}" for r, v in limits.items())
    changes = ", ".join(f"{r} {current.get(r, 'none')} -> {v}" for r, v in limits.items())
    return Change(
        patch=patch,
        content_type=STRATEGIC_MERGE_PATCH,
        after=_with_template(workload, template),
        command=_kubectl("set resources", workload, "-c", wanted, f"--limits={shown}"),
        summary=f"container {wanted} limits: {changes}",
    )


# -- the diff ----------------------------------------------------------------------
def _prune(before: Any, after: Any) -> tuple[Any, Any]:
    """The parts of ``before`` and ``after`` that differ (named list items matched by name)."""
    if isinstance(before, dict) and isinstance(after, dict):
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for key in sorted(set(before) | set(after), key=str):
            if before.get(key) == after.get(key):
                continue
            if key in before and key in after:
                old[key], new[key] = _prune(before[key], after[key])
            elif key in before:
                old[key] = before[key]
            else:
                new[key] = after[key]
        return old, new
    if _named(before) and _named(after):
        old_items = {i["name"]: i for i in before}
        new_items = {i["name"]: i for i in after}
        old_list, new_list = [], []
        for key in [*old_items, *(n for n in new_items if n not in old_items)]:
            a, b = old_items.get(key), new_items.get(key)
            if a == b:
                continue
            if a is not None and b is not None:
                pa, pb = _prune(a, b)
                old_list.append({"name": key, **pa})
                new_list.append({"name": key, **pb})
            elif a is not None:
                old_list.append(a)
            elif b is not None:
                new_list.append(b)
        return old_list, new_list
    return before, after


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _hide(value: Any) -> Any:
    """``value`` with secret-looking values and token-shaped text hidden.

    Hidden: the ``value`` of an env entry with a secret-looking name, the value of
    a ConfigMap ``data`` key with a secret-looking name, and every ``binaryData``
    value (shown by its size).
    """
    if isinstance(value, dict):
        hidden = {k: _hide(v) for k, v in value.items()}
        if "name" in value and "value" in value and _SECRET_NAME.search(str(value["name"])):
            hidden["value"] = "[redacted]"
        if isinstance(value.get("data"), dict):
            hidden["data"] = {
                k: "[redacted]" if v is not None and _SECRET_NAME.search(str(k)) else _hide(v)
                for k, v in value["data"].items()
            }
        if isinstance(value.get("binaryData"), dict):
            hidden["binaryData"] = {
                k: None if v is None else f"[binary, {len(str(v)) * 3 // 4} bytes]"
                for k, v in value["binaryData"].items()
            }
        return hidden
    if isinstance(value, list):
        return [_hide(v) for v in value]
    return mask(value) if isinstance(value, str) else value


def readable_diff(before: Mapping[str, Any], after: Mapping[str, Any], *, label: str) -> str:
    """A unified diff of the YAML of the fields that differ between ``before`` and ``after``."""
    import yaml

    keep = ("spec", "metadata", *_CONTENT)
    old, new = _prune(
        {k: v for k, v in before.items() if k in keep},
        {k: v for k, v in after.items() if k in keep},
    )

    def dump(value: Any) -> list[str]:
        text = (
            yaml.safe_dump(_hide(value), sort_keys=True, default_flow_style=False) if value else ""
        )
        return text.splitlines(keepends=True)

    lines = difflib.unified_diff(dump(old), dump(new), f"{label} (now)", f"{label} (after)", n=3)
    return "".join(lines)
