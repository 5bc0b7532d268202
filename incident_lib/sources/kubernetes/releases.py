"""The ``releases`` frame: Helm release history, Argo CD syncs and Flux applies of a service.

Three tools record deploys the ReplicaSets do not show (a chart upgrade that
only changed a ConfigMap, a sync that failed half-way):

* **Helm 3** keeps each release revision as a Secret of type
  ``helm.sh/release.v1`` named ``sh.helm.release.v1.<release>.v<revision>``,
  labelled ``owner=helm``, ``name``, ``status`` (``deployed``, ``superseded``,
  ``failed``, ``pending-install`` / ``-upgrade`` / ``-rollback``,
  ``uninstalling``), ``version`` (the revision) and, with newer Helm,
  ``modifiedAt`` (unix seconds of the last status change). The payload (the
  chart and its values: often passwords) is never asked for: the list is
  metadata only (``Accept: ...;as=PartialObjectMetadataList``), and should a
  server ignore that and send whole Secrets, only the name, the creation time and
  those labels are kept (:func:`.release_rows.helm_items`), so no payload value reaches a frame,
  a note or an error. ``deployed_at`` is the Secret's creation (when ``helm
  upgrade`` recorded the revision); ``modifiedAt`` is in the detail.
* **Argo CD** Applications (``argoproj.io/v1alpha1``) in ``INCIDENT_ARGOCD_NAMESPACE``
  (default ``argocd``) whose ``spec.destination.namespace`` is the service's:
  one row per ``status.history`` entry (``synced``, at ``deployedAt``, revision
  the git SHA, target the ``targetRevision`` asked for) and one for the current
  ``status.operationState`` when it is not in the history (``failed``,
  ``running``...), with its message.
* **Flux** Kustomizations (``kustomize.toolkit.fluxcd.io/v1``) and HelmReleases
  (``helm.toolkit.fluxcd.io/v2``) of the service's namespace and of
  ``INCIDENT_FLUX_NAMESPACE`` (default ``flux-system``) that apply to the
  service's namespace: ``status.history`` entries when present (HelmRelease v2,
  Kustomization from Flux 2.6), else the ``Ready`` condition (applied or failed at
  its ``lastTransitionTime``, which Flux moves whenever the message, hence the
  revision, changes). A HelmRelease names ``HelmRelease/<name>`` and a
  Kustomization ``Kustomization/<name>`` in ``name``; a Helm revision that a
  HelmRelease's history reports is one row (the Flux one), not two.

Which releases are the service's: those named by its Deployments and pods
(annotation ``meta.helm.sh/release-name``, labels ``app.kubernetes.io/instance``,
``release``, ``argocd.argoproj.io/instance``, Flux's ``kustomize`` / ``helm``
``.toolkit.fluxcd.io/name``, Argo CD's tracking annotation), the values of the
selector and the Deployments' own names, and those whose recorded resources
(Argo CD ``status.resources``, Flux ``status.inventory``) hold one of its
Deployments. Other releases of the namespace stay out of the frame; those that
changed in the window are named in a note. A tool that is not installed
(404) or not readable (403) is a note saying so, never an empty frame silently.

Columns (contract ``releases``): ``target`` is what the tool was asked to deploy
(Argo CD ``targetRevision``, a HelmRelease's chart version range, a
Kustomization's last attempted revision); ``version`` a chart or application
version where known.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.errors import SourceUnavailable
from ...core.schema import conform, empty_frame
from ..base import Fetched
from .errors import SOURCE, forbidden_user
from .release_rows import (
    argocd_in_scope,
    argocd_is_service,
    argocd_rows,
    flux_in_scope,
    flux_is_service,
    helm_items,
    helm_release_names,
    helm_rows,
    helmrelease_rows,
    kustomization_rows,
    service_names,
    workload_ids,
)

if TYPE_CHECKING:
    from ...core.time import Window
    from .source import KubernetesSource

__all__ = ["ARGOCD_NAMESPACE", "FLUX_NAMESPACE", "HELM_SELECTOR", "METADATA_ONLY", "read_releases"]

#: the Accept header of a metadata-only list: the API server never sends the Secrets' data
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#: the label every Helm 3 release Secret carries
HELM_SELECTOR = "owner=helm"
#: defaults of ``INCIDENT_ARGOCD_NAMESPACE`` and ``INCIDENT_FLUX_NAMESPACE``
ARGOCD_NAMESPACE = "argocd"
FLUX_NAMESPACE = "flux-system"


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Refused:
    """A list the API server refused (403) or does not serve (404)."""

    status: int
    who: str


def _json_pages(
    source: KubernetesSource,
    resource: str,
    method: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> list[Any] | _Refused:
    """Every item of a list call answered as JSON (read by us), page by page.

    403 and 404 come back as :class:`_Refused`; other failures raise
    :class:`SourceUnavailable`. The body is parsed here: nothing of it is ever
    put in an error.
    """
    from kubernetes.client.exceptions import ApiException

    def fetch(*a: Any, **k: Any) -> Any:
        try:
            response = method(*a, _preload_content=False, **k)
        except ApiException as exc:
            if exc.status in (403, 404):
                return _Refused(int(exc.status), forbidden_user(exc.body))
            raise
        return response.data

    items: list[Any] = []
    token: str | None = None
    while True:
        body = source._call(
            "list", resource, fetch, *args, limit=source.page_size, _continue=token, **kwargs
        )
        if isinstance(body, _Refused):
            return body
        try:
            page = json.loads(body)
        except ValueError:
            raise SourceUnavailable(
                SOURCE, f"the API server's answer to list {resource} is not JSON"
            ) from None
        items.append(page)
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return items


def _refusal(refused: _Refused, what: str, resource: str, namespace: str, absent: str) -> str:
    if refused.status == 404:
        return absent
    who = f" for {refused.who}" if refused.who else ""
    return (
        f"{what} not readable: forbidden (403): RBAC must allow 'list' on '{resource}' "
        f"in namespace '{namespace}'{who}"
    )


def _custom(source: KubernetesSource) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(source.api_client)


def _helm(source: KubernetesSource, notes: list[str]) -> list[dict[str, Any]]:
    from kubernetes import client

    api = client.CoreV1Api(source.api_client)
    pages = _json_pages(
        source,
        "secrets",
        api.list_namespaced_secret,
        source.namespace,
        label_selector=HELM_SELECTOR,
        _headers={"Accept": METADATA_ONLY},
    )
    if isinstance(pages, _Refused):
        notes.append(
            _refusal(
                pages,
                "Helm release history (release Secrets' metadata)",
                "secrets",
                source.namespace,
                f"namespace '{source.namespace}' not found: no Helm release history",
            )
        )
        return []
    if any(page.get("kind") != "PartialObjectMetadataList" for page in pages):
        notes.append(
            "the API server ignored the metadata-only request for Helm release Secrets and "
            "sent them whole: only their names, creation times and Helm labels were kept"
        )
    return helm_rows(item for page in pages for item in helm_items(page))


def _custom_items(
    source: KubernetesSource,
    notes: list[str],
    group: str,
    version: str,
    plural: str,
    namespace: str,
    what: str,
    absent: str,
) -> list[Mapping[str, Any]] | None:
    """Custom objects of ``namespace``; None (and a note) when refused or not served."""
    resource = f"{plural}.{group}"
    pages = _json_pages(
        source,
        resource,
        _custom(source).list_namespaced_custom_object,
        group,
        version,
        namespace,
        plural,
    )
    if isinstance(pages, _Refused):
        notes.append(_refusal(pages, what, resource, namespace, absent))
        return None
    return [item for page in pages for item in page.get("items") or []]


def _argocd(source: KubernetesSource, namespace: str, notes: list[str]) -> list[Mapping[str, Any]]:
    apps = _custom_items(
        source,
        notes,
        "argoproj.io",
        "v1alpha1",
        "applications",
        namespace,
        f"Argo CD Applications in namespace '{namespace}'",
        "Argo CD not installed (applications.argoproj.io not served): no sync history",
    )
    return [a for a in apps or [] if argocd_in_scope(a, source.namespace)]


_FLUX_KINDS = (
    ("Kustomization", "kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
    ("HelmRelease", "helm.toolkit.fluxcd.io", "v2", "helmreleases"),
)


def _flux(
    source: KubernetesSource, namespace: str, notes: list[str]
) -> list[tuple[str, Mapping[str, Any]]]:
    found: list[tuple[str, Mapping[str, Any]]] = []
    for kind, group, version, plural in _FLUX_KINDS:
        for ns in dict.fromkeys((source.namespace, namespace)):
            items = _custom_items(
                source,
                notes,
                group,
                version,
                plural,
                ns,
                f"Flux {kind}s in namespace '{ns}'",
                f"Flux {kind}s not served ({plural}.{group}/{version}: Flux not installed, "
                "or older than 2.3): no Flux history",
            )
            if items is None:
                break  # not served or refused: the other namespace would say the same
            found.extend((kind, o) for o in items if flux_in_scope(o, source.namespace))
    return found


def _other_changes(rows: list[dict[str, Any]], window: Window, namespace: str) -> str | None:
    """A note naming other releases of the namespace that changed in ``window``."""
    import pandas as pd

    changed: dict[tuple[str, str], pd.Timestamp] = {}
    for row in rows:
        when = pd.to_datetime(row["deployed_at"], utc=True, errors="coerce")
        if pd.isna(when) or not (window.start <= when < window.end):
            continue
        key = (row["tool"], row["name"])
        changed[key] = max(changed.get(key, when), when)
    if not changed:
        return None
    named = [f"{tool} {name} ({when:%H:%M})" for (tool, name), when in sorted(changed.items())]
    shown = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
    return (
        f"other releases in namespace '{namespace}' changed in the window (not this service's, "
        f"not in the frame): {shown}"
    )


def _fold_helm(rows: list[dict[str, Any]], helmreleases: list[Mapping[str, Any]]) -> None:
    """Drop Helm rows that a Flux HelmRelease's history already reports (one fact once)."""
    reported = {
        (str(e.get("name")), str(e.get("version")))
        for obj in helmreleases
        for e in (obj.get("status") or {}).get("history") or []
    }
    rows[:] = [
        r for r in rows if not (r["tool"] == "helm" and (r["name"], r["revision"]) in reported)
    ]


def read_releases(
    source: KubernetesSource,
    window: Window,
    *,
    argocd_namespace: str | None = None,
    flux_namespace: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Fetched:
    """The ``releases`` frame of ``source``'s service (see the module notes).

    Parameters
    ----------
    source
        The Kubernetes source (namespace, selector, client, budget).
    window
        The incident window: other releases changed in it are named in a note.
    argocd_namespace, flux_namespace
        Where Argo CD Applications and Flux objects live (default
        ``INCIDENT_ARGOCD_NAMESPACE`` / ``INCIDENT_FLUX_NAMESPACE`` of ``environ``,
        else ``argocd`` / ``flux-system``).
    environ
        Where those variables are read.

    Raises
    ------
    SourceUnavailable
        The API server cannot be reached, or rejects the credentials (a 403 or a
        tool not installed is a note instead).
    """
    import pandas as pd

    argocd_ns = argocd_namespace or environ.get("INCIDENT_ARGOCD_NAMESPACE") or ARGOCD_NAMESPACE
    flux_ns = flux_namespace or environ.get("INCIDENT_FLUX_NAMESPACE") or FLUX_NAMESPACE
    notes: list[str] = []
    pods = source._pods()
    try:
        deployments, _ = source._deployments_and_replicasets()
    except SourceUnavailable as exc:
        deployments = []
        notes.append(f"deployments not readable ({exc.reason}); releases matched by pod labels")
    names = service_names(source.selector, deployments, pods)
    workloads = workload_ids(source.namespace, deployments)

    ours: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []

    def split(rows: list[dict[str, Any]], mine: bool) -> None:
        (ours if mine else others).extend(rows)

    helm = _helm(source, notes)
    for app in _argocd(source, argocd_ns, notes):
        split(argocd_rows(app), argocd_is_service(app, names, workloads))
    helmreleases = []
    for kind, obj in _flux(source, flux_ns, notes):
        rows = kustomization_rows(obj) if kind == "Kustomization" else helmrelease_rows(obj)
        mine = flux_is_service(obj, kind, names, workloads)
        split(rows, mine)
        if kind == "HelmRelease":
            helmreleases.append(obj)
            if mine:
                names |= helm_release_names(obj)
    _fold_helm(helm, helmreleases)
    for row in helm:
        split([row], row["name"] in names)
    other = _other_changes(others, window, source.namespace)
    if other:
        notes.append(other)
    if not ours:
        return Fetched(empty_frame("releases"), tuple(notes))
    frame = conform(pd.DataFrame(ours), "releases")
    frame = frame.sort_values(["deployed_at", "tool", "name"], kind="stable", na_position="first")
    return Fetched(frame.reset_index(drop=True), tuple(notes))
