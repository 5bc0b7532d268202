"""Rollouts of StatefulSets and DaemonSets: their ControllerRevisions as revisions.

A StatefulSet or a DaemonSet keeps each pod template it ran as a
``ControllerRevision`` (apps/v1) that it owns: ``revision`` is the number,
``data.spec.template`` the template (the images), and its name is the
``<workload>-<hash>`` the pods carry in ``controller-revision-hash``. They fill
the ``rollouts`` contract as a Deployment's ReplicaSets do: ``deployment`` holds
the workload's name, ``replicaset`` the ControllerRevision's name.

``current`` marks the revision the workload rolls out: a StatefulSet's
``status.updateRevision`` (else ``currentRevision``); a DaemonSet's status names
none, and its controller keeps its current revision the highest-numbered one.
``replicas`` counts the pods on that revision (``updatedReplicas``, and
``currentReplicas`` for a StatefulSet still on its previous one); the pods of
older DaemonSet revisions are not attributed, 0.

``deployed_at``: a rollback to an earlier template re-uses that template's
ControllerRevision and gives it the next revision number, so its creation time
stays old (as a rolled-back ReplicaSet's). The controller's renumbering is an
update of the object, and its ``metadata.managedFields`` entry carries the time
of that update: ``deployed_at`` is the latest managed-fields time when it is
later than the creation, else the creation time. Without managed fields (a
server before 1.18, or stripped), a re-used revision keeps its old creation
time; the changes timeline still names it a rollback (older than the revision
before it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from ...core.errors import SourceUnavailable
from .rollouts import CHANGE_CAUSE, annotation

__all__ = [
    "WORKLOAD_KINDS",
    "revision_rows",
    "revisions_of",
    "template_images",
    "workload_names",
    "workload_rollouts",
]

#: the workloads besides Deployments whose revisions are ControllerRevisions
WORKLOAD_KINDS = ("StatefulSet", "DaemonSet")


def workload_names(pods: Iterable[Any], kind: str) -> set[str]:
    """Names of the workloads of ``kind`` owning one of ``pods`` (``V1Pod`` owner references)."""
    return {
        str(ref.name)
        for pod in pods
        for ref in pod.metadata.owner_references or []
        if ref.kind == kind and ref.name
    }


def revisions_of(workload: Any, kind: str, revisions: Iterable[Any]) -> list[Any]:
    """The ControllerRevisions owned by ``workload`` (by uid, else by kind and name)."""
    owned = []
    for rev in revisions:
        for ref in rev.metadata.owner_references or []:
            if ref.kind != kind:
                continue
            if ref.uid and workload.metadata.uid:
                if ref.uid == workload.metadata.uid:
                    owned.append(rev)
                    break
            elif ref.name == workload.metadata.name:
                owned.append(rev)
                break
    return owned


def template_images(data: Any) -> str:
    """The images of a ControllerRevision's ``data`` (``spec.template.spec.containers``), joined.

    ``data`` is the raw object the API returns (camelCase keys); anything not of
    that shape gives ``""``.
    """
    node: Any = data
    for key in ("spec", "template", "spec", "containers"):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list):
        return ""
    return ",".join(str(c.get("image") or "") for c in node if isinstance(c, dict))


def _live_since(rev: Any) -> datetime | None:
    """When the revision last went live: the latest managed-fields time after its creation."""
    created: datetime | None = rev.metadata.creation_timestamp
    times: list[datetime] = [
        e.time for e in rev.metadata.managed_fields or [] if e.time is not None
    ]
    latest = max(times, default=None)
    if latest is not None and (created is None or latest > created):
        return latest
    return created


def _current_names(workload: Any, kind: str, owned: Sequence[Any]) -> tuple[str, str]:
    """(update revision, current revision) names of ``workload``."""
    status = workload.status
    if kind == "StatefulSet" and status is not None and (status.update_revision or ""):
        return str(status.update_revision), str(status.current_revision or status.update_revision)
    newest = max(owned, key=lambda r: int(r.revision or 0), default=None)
    name = str(newest.metadata.name) if newest is not None else ""
    return name, name


def _replicas(workload: Any, kind: str, name: str, update: str, current: str) -> int:
    status = workload.status
    if status is None:
        return 0
    if kind == "StatefulSet":
        if name == update:
            return int(status.updated_replicas or 0)
        if name == current:
            return int(status.current_replicas or 0)
        return 0
    return int(status.updated_number_scheduled or 0) if name == update else 0


def revision_rows(workload: Any, kind: str, revisions: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The ``rollouts`` rows of a StatefulSet or DaemonSet, one per ControllerRevision it owns.

    Parameters
    ----------
    workload
        A ``V1StatefulSet`` or ``V1DaemonSet``.
    kind
        ``"StatefulSet"`` or ``"DaemonSet"``.
    revisions
        ControllerRevisions of the namespace (those ``workload`` owns are used).

    Yields
    ------
    dict
        One row of the ``rollouts`` contract per revision (see the module notes
        for ``current``, ``replicas`` and ``deployed_at``).
    """
    owned = revisions_of(workload, kind, revisions)
    update, current = _current_names(workload, kind, owned)
    for rev in owned:
        name = str(rev.metadata.name)
        yield {
            "deployment": workload.metadata.name,
            "revision": int(rev.revision or 0),
            "replicaset": name,
            "images": template_images(rev.data),
            "created_at": rev.metadata.creation_timestamp,
            "deployed_at": _live_since(rev),
            "change_cause": annotation(rev, CHANGE_CAUSE),
            "replicas": _replicas(workload, kind, name, update, current),
            "current": name == update,
        }


def workload_rollouts(
    list_: Callable[..., list[Any]],
    apps: Any,
    namespace: str,
    selector: str,
    pods: Callable[[], list[Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """``rollouts`` rows of the service's StatefulSets and DaemonSets, and notes.

    The workloads are those matching ``selector``; when none does, those owning
    the service's pods (owner references). Their ControllerRevisions are listed
    once with ``selector`` (they carry the pod template's labels), else once
    without. A kind the API refuses is a note (the other kinds are still read).

    Parameters
    ----------
    list_
        The source's paged list call (``KubernetesSource._list``).
    apps
        An ``AppsV1Api``.
    namespace, selector
        The service's namespace and pod label selector.
    pods
        Lists the service's pods (called only when the selector matches no workload).

    Returns
    -------
    tuple
        The rows (see :func:`revision_rows`) and the notes.
    """
    kinds = {
        "StatefulSet": ("statefulsets.apps", apps.list_namespaced_stateful_set),
        "DaemonSet": ("daemonsets.apps", apps.list_namespaced_daemon_set),
    }
    notes: list[str] = []
    found: dict[str, list[Any]] = {}
    for kind, (resource, method) in kinds.items():
        try:
            found[kind] = list_("list", resource, method, namespace, label_selector=selector)
        except SourceUnavailable as exc:
            notes.append(f"{resource} not readable ({exc.reason}); {kind}s are not listed")
    if found and not any(found.values()):  # not labelled like their pods: the pods' owners
        try:
            listed_pods = pods()
        except SourceUnavailable as exc:
            listed_pods = []
            notes.append(
                f"pods not readable ({exc.reason}); StatefulSets and DaemonSets "
                "not labelled like the pods are not found"
            )
        for kind in found:
            names = workload_names(listed_pods, kind)
            if names:
                resource, method = kinds[kind]
                listed = list_("list", resource, method, namespace)
                found[kind] = [w for w in listed if w.metadata.name in names]
    workloads = [(kind, w) for kind, items in found.items() for w in items]
    if not workloads:
        return [], notes
    resource = "controllerrevisions.apps"
    method = apps.list_namespaced_controller_revision
    try:
        revisions = list_("list", resource, method, namespace, label_selector=selector)
        if not all(revisions_of(w, kind, revisions) for kind, w in workloads):
            revisions = list_("list", resource, method, namespace)  # not labelled like the pods
    except SourceUnavailable as exc:
        named = ", ".join(f"{kind} {w.metadata.name}" for kind, w in workloads)
        notes.append(
            f"{resource} not readable ({exc.reason}); the revisions of {named} are unknown"
        )
        return [], notes
    rows = [row for kind, w in workloads for row in revision_rows(w, kind, revisions)]
    return rows, notes
