"""Rows of the ``releases`` frame from Helm, Argo CD and Flux objects, and which are the service's.

Pure functions over what :mod:`.releases` read: Helm release Secrets' metadata
(:func:`helm_items` keeps nothing else, even of a whole Secret), Argo CD
Applications and Flux Kustomizations / HelmReleases as JSON dicts. See
:mod:`.releases` for the columns and how each tool's history becomes rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...core.text import shorten

__all__ = [
    "argocd_in_scope",
    "argocd_is_service",
    "argocd_rows",
    "flux_in_scope",
    "flux_is_service",
    "helm_items",
    "helm_release_names",
    "helm_rows",
    "helmrelease_rows",
    "kustomization_rows",
    "service_names",
    "workload_ids",
]

#: the labels of a Helm release Secret that are kept (nothing else of the object is)
_HELM_LABELS = ("name", "owner", "status", "version", "modifiedAt")
#: labels and annotations of a workload that name the release managing it
_NAME_LABELS = (
    "app.kubernetes.io/instance",
    "release",
    "argocd.argoproj.io/instance",
    "kustomize.toolkit.fluxcd.io/name",
    "helm.toolkit.fluxcd.io/name",
)
_NAME_ANNOTATIONS = ("meta.helm.sh/release-name",)
_TRACKING_ID = "argocd.argoproj.io/tracking-id"
_MESSAGE_CHARS = 300
_ARGOCD_PHASES = {
    "Failed": "failed",
    "Error": "failed",
    "Running": "running",
    "Terminating": "terminating",
    "Succeeded": "synced",
}


def _flux_state(ready: Mapping[str, Any], *, failed: bool) -> dict[str, Any]:
    """``status``, ``deployed_at`` and ``detail`` of a Flux object from its Ready condition."""
    applied = "applied" if ready.get("status") == "True" else "progressing"
    reason = f"{ready.get('reason') or ''}: {ready.get('message') or ''}".strip(": ")
    return {
        "status": "failed" if failed else applied,
        "deployed_at": ready.get("lastTransitionTime"),
        "detail": shorten(reason, _MESSAGE_CHARS, whole_tokens=True),
    }


# --- which releases are the service's ----------------------------------------------------


def service_names(selector: str, deployments: Iterable[Any], pods: Iterable[Any]) -> set[str]:
    """Names a release of the service may have (see the module notes).

    Parameters
    ----------
    selector
        The service's label selector (the values of its ``key=value`` terms count).
    deployments, pods
        ``V1Deployment`` and ``V1Pod`` objects of the service.
    """
    names: set[str] = set()
    for term in selector.split(","):
        if "=" in term and "!=" not in term:
            names.add(term.split("=")[-1].strip())
    for obj in [*deployments, *pods]:
        meta = obj.metadata
        labels = meta.labels or {}
        annotations = meta.annotations or {}
        names.update(str(labels[k]) for k in _NAME_LABELS if labels.get(k))
        names.update(str(annotations[k]) for k in _NAME_ANNOTATIONS if annotations.get(k))
        tracking = str(annotations.get(_TRACKING_ID) or "")
        if ":" in tracking:
            names.add(tracking.split(":", 1)[0].rsplit("_", 1)[-1])
    names.update(str(d.metadata.name) for d in deployments)
    names.discard("")
    return names


def workload_ids(namespace: str, deployments: Iterable[Any]) -> set[tuple[str, str, str]]:
    """``(kind, namespace, name)`` of the service's Deployments."""
    return {("Deployment", namespace, str(d.metadata.name)) for d in deployments}


# --- Helm ----------------------------------------------------------------------------


def helm_items(listed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each item's name, creation time and Helm labels; nothing else is kept.

    ``listed`` is a list answer, metadata only or (a server that ignored the
    header) whole Secrets: their ``data`` is never read.
    """
    kept = []
    for item in listed.get("items") or []:
        meta = item.get("metadata") or {} if isinstance(item, Mapping) else {}
        labels = meta.get("labels") or {}
        kept.append(
            {
                "name": str(meta.get("name") or ""),
                "creationTimestamp": meta.get("creationTimestamp"),
                "labels": {k: str(labels[k]) for k in _HELM_LABELS if k in labels},
            }
        )
    return kept


def _unix(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def helm_rows(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``releases`` rows of Helm release Secrets' metadata (from :func:`helm_items`)."""
    rows = []
    for item in items:
        labels = item.get("labels") or {}
        if labels.get("owner") != "helm" or not labels.get("name"):
            continue
        modified = _unix(labels.get("modifiedAt", ""))
        status = labels.get("status", "")
        rows.append(
            {
                "tool": "helm",
                "name": labels["name"],
                "revision": labels.get("version", ""),
                "version": "",
                "status": status,
                "deployed_at": item.get("creationTimestamp"),
                "target": "",
                "detail": (
                    f"status {status} since {modified:%Y-%m-%d %H:%M:%S} UTC" if modified else ""
                ),
            }
        )
    return rows


# --- Argo CD -------------------------------------------------------------------------


def _sources(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    single = entry.get("source")
    return [single] if isinstance(single, Mapping) else list(entry.get("sources") or [])


def _target(entry: Mapping[str, Any]) -> str:
    return ",".join(str(s.get("targetRevision") or "HEAD") for s in _sources(entry))


def _chart_version(entry: Mapping[str, Any]) -> str:
    return ",".join(
        f"{s['chart']} {s.get('targetRevision') or ''}".strip()
        for s in _sources(entry)
        if s.get("chart")
    )


def _revision(entry: Mapping[str, Any]) -> str:
    if entry.get("revision"):
        return str(entry["revision"])
    return ",".join(str(r) for r in entry.get("revisions") or [])


def _initiated(entry: Mapping[str, Any]) -> str:
    who = entry.get("initiatedBy") or {}
    if who.get("automated"):
        return "automated sync"
    return f"sync by {who['username']}" if who.get("username") else ""


def argocd_rows(app: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``releases`` rows of one Argo CD Application (history, then the current operation)."""
    name = str((app.get("metadata") or {}).get("name") or "")
    status = app.get("status") or {}
    rows = []
    history = list(status.get("history") or [])
    for entry in history:
        detail = "; ".join(
            part for part in (f"history id {entry.get('id')}", _initiated(entry)) if part
        )
        rows.append(
            {
                "tool": "argocd",
                "name": name,
                "revision": _revision(entry),
                "version": _chart_version(entry),
                "status": "synced",
                "deployed_at": entry.get("deployedAt"),
                "target": _target(entry),
                "detail": detail,
            }
        )
    operation = status.get("operationState") or {}
    phase = str(operation.get("phase") or "")
    if phase:
        result = operation.get("syncResult") or {}
        asked = (operation.get("operation") or {}).get("sync") or {}
        revision = _revision(result) or _revision(asked)
        moment = operation.get("finishedAt") or operation.get("startedAt")
        recorded = any(
            _revision(e) == revision and e.get("deployedAt") == operation.get("finishedAt")
            for e in history
        )
        if not (phase == "Succeeded" and (recorded or not revision)):
            message = shorten(
                str(operation.get("message") or ""), _MESSAGE_CHARS, whole_tokens=True
            )
            who = _initiated(operation.get("operation") or {})
            rows.append(
                {
                    "tool": "argocd",
                    "name": name,
                    "revision": revision,
                    "version": _chart_version(result),
                    "status": _ARGOCD_PHASES.get(phase, phase.lower()),
                    "deployed_at": moment,
                    "target": _target(result) if _sources(result) else "",
                    "detail": "; ".join(
                        p
                        for p in (
                            f"operation {phase} (started {operation.get('startedAt')})",
                            who,
                            message,
                        )
                        if p
                    ),
                }
            )
    return rows


def argocd_in_scope(app: Mapping[str, Any], namespace: str) -> bool:
    destination = (app.get("spec") or {}).get("destination") or {}
    return destination.get("namespace") == namespace


def argocd_is_service(
    app: Mapping[str, Any], names: set[str], workloads: set[tuple[str, str, str]]
) -> bool:
    if (app.get("metadata") or {}).get("name") in names:
        return True
    resources = (app.get("status") or {}).get("resources") or []
    return any(
        (str(r.get("kind")), str(r.get("namespace")), str(r.get("name"))) in workloads
        for r in resources
    )


# --- Flux ----------------------------------------------------------------------------


def _ready(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def _flux_status(reason: str) -> str:
    if reason.endswith("Failed") or reason.endswith("Failure"):
        return "failed"
    return "applied" if reason.endswith("Succeeded") else reason.lower()


def kustomization_rows(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``releases`` rows of one Flux Kustomization (history, or its Ready condition)."""
    name = f"Kustomization/{(obj.get('metadata') or {}).get('name') or ''}"
    status = obj.get("status") or {}
    attempted = str(status.get("lastAttemptedRevision") or "")
    rows = [
        {
            "tool": "flux",
            "name": name,
            "revision": str((entry.get("metadata") or {}).get("revision") or ""),
            "version": "",
            "status": _flux_status(str(entry.get("lastReconciledStatus") or "")),
            "deployed_at": entry.get("firstReconciled"),
            "target": attempted,
            "detail": f"{entry.get('totalReconciliations', '?')} reconciliations, "
            f"last {entry.get('lastReconciled')}",
        }
        for entry in status.get("history") or []
    ]
    ready = _ready(obj)
    if ready and (not rows or ready.get("status") == "False"):
        failed = ready.get("status") == "False"
        rows.append(
            {
                "tool": "flux",
                "name": name,
                "revision": attempted if failed else str(status.get("lastAppliedRevision") or ""),
                "version": "",
                "target": attempted,
            }
            | _flux_state(ready, failed=failed)
        )
    return rows


def helm_release_names(obj: Mapping[str, Any]) -> set[str]:
    """The Helm release names a Flux HelmRelease manages (spec, default, history)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    target = spec.get("targetNamespace")
    default = f"{target}-{meta.get('name')}" if target else str(meta.get("name") or "")
    names = {str(spec.get("releaseName") or default)}
    names.update(
        str(e["name"]) for e in (obj.get("status") or {}).get("history") or [] if e.get("name")
    )
    return names


def _chart(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('chartName') or ''} {entry.get('chartVersion') or ''}".strip()


def helmrelease_rows(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``releases`` rows of one Flux HelmRelease (v2 history, or its Ready condition).

    ``revision`` is the Helm revision, ``version`` the chart version (and app version).
    """
    name = f"HelmRelease/{(obj.get('metadata') or {}).get('name') or ''}"
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    asked = str((((spec.get("chart") or {}).get("spec")) or {}).get("version") or "")
    rows = []
    history = list(status.get("history") or [])
    for entry in history:
        app_version = f" (app {entry['appVersion']})" if entry.get("appVersion") else ""
        rows.append(
            {
                "tool": "flux",
                "name": name,
                "revision": str(entry.get("version") or ""),
                "version": _chart(entry) + app_version,
                "status": str(entry.get("status") or ""),
                "deployed_at": entry.get("lastDeployed") or entry.get("firstDeployed"),
                "target": asked,
                "detail": f"Helm release {entry.get('namespace') or '?'}/{entry.get('name') or '?'}"
                f" revision {entry.get('version') or '?'}",
            }
        )
    ready = _ready(obj)
    latest_failed = bool(history) and history[0].get("status") == "failed"
    if ready and ((not history) or (ready.get("status") == "False" and not latest_failed)):
        failed = ready.get("status") == "False"
        rows.append(
            {
                "tool": "flux",
                "name": name,
                "revision": "",
                "version": str(status.get("lastAttemptedRevision") or ""),
                "target": asked,
            }
            | _flux_state(ready, failed=failed)
        )
    return rows


def flux_in_scope(obj: Mapping[str, Any], namespace: str) -> bool:
    spec = obj.get("spec") or {}
    target = spec.get("targetNamespace")
    if target:
        return bool(target == namespace)
    if (obj.get("metadata") or {}).get("namespace") == namespace:
        return True
    status = obj.get("status") or {}
    entries = (status.get("inventory") or {}).get("entries") or []
    if any(str(e.get("id", "")).startswith(f"{namespace}_") for e in entries):
        return True
    return any(e.get("namespace") == namespace for e in status.get("history") or [])


def _inventory(obj: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """``(kind, namespace, name)`` of a Kustomization's inventory (``ns_name_group_Kind``)."""
    found = set()
    for entry in ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []:
        parts = str(entry.get("id", "")).split("_")
        if len(parts) == 4:
            found.add((parts[3], parts[0], parts[1]))
    return found


def flux_is_service(
    obj: Mapping[str, Any], kind: str, names: set[str], workloads: set[tuple[str, str, str]]
) -> bool:
    if (obj.get("metadata") or {}).get("name") in names:
        return True
    if kind == "HelmRelease":
        return bool(helm_release_names(obj) & names)
    return bool(_inventory(obj) & workloads)
