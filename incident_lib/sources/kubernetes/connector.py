"""The Kubernetes source as the runbook sees it: the :class:`~incident_lib.sources.base.Source`
protocol over :class:`~.source.KubernetesSource`.

Each fetch builds a client for the incident's namespace and label selector from
the environment (see :mod:`.config`) and closes it afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..base import BudgetedConnector, Fetched, Limits, check_frame
from .errors import SOURCE
from .source import DEFAULT_TIMEOUT, KubernetesSource

if TYPE_CHECKING:
    from ...core.incident import Incident
    from ...core.time import Window

__all__ = ["FETCH_NAMES", "RESOURCES", "KubernetesConnector"]

#: frames it provides (the ``kubernetes`` entries of ``schema.EVIDENCE_KINDS``)
FETCH_NAMES = (
    "logs",
    "rollouts",
    "events",
    "pods",
    "pod_usage",
    "config",
    "hpa",
    "terminations",
    "jobs",
    "releases",
    "endpoints",
)
#: the API resources each frame reads (recorded in the manifest)
RESOURCES: dict[str, str] = {
    "logs": "pods/log",
    "rollouts": (
        "deployments.apps, replicasets.apps, statefulsets.apps, daemonsets.apps, "
        "controllerrevisions.apps, pods, events"
    ),
    "events": "events",
    "pods": "pods",
    "pod_usage": "pods.metrics.k8s.io",
    "config": "pods, deployments.apps, replicasets.apps, configmaps, secrets",
    "hpa": "horizontalpodautoscalers.autoscaling (v2), deployments.apps, pods",
    "terminations": "pods, events, replicasets.apps, events (cluster scope, Node, optional)",
    "jobs": "jobs.batch, cronjobs.batch, pods",
    "releases": (
        "secrets (metadata only, owner=helm), applications.argoproj.io, "
        "kustomizations.kustomize.toolkit.fluxcd.io, helmreleases.helm.toolkit.fluxcd.io"
    ),
    "endpoints": "services, endpointslices.discovery.k8s.io",
}
#: most lines read of each container log
MAX_LINES_PER_CONTAINER = 50_000


class KubernetesConnector(BudgetedConnector):
    """Pods, logs, rollouts, events and usage of an incident's service, from the cluster.

    Parameters
    ----------
    environ
        Where the kubeconfig, ``INCIDENT_KUBE_CONTEXT`` or the service account are found.
    context
        The kubeconfig context (default: ``INCIDENT_KUBE_CONTEXT``, else the current one).
    request_timeout
        ``(connect, read)`` seconds of every API call.
    limits
        Time budget and log byte cap (default: :meth:`Limits.from_environment`).
        The budget starts here and is shared by every fetch of this connector.

    Raises
    ------
    InvalidInput
        A limit in the environment is not a positive number.
    """

    name: str = SOURCE
    frames: tuple[str, ...] = FETCH_NAMES

    def __init__(
        self,
        *,
        environ: Mapping[str, str] = os.environ,
        context: str | None = None,
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        limits: Limits | None = None,
    ) -> None:
        self.context = context
        self.request_timeout = request_timeout
        self._start_budget(environ, limits)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> KubernetesConnector:
        """The connector configured from ``environ`` (nothing is read until a fetch)."""
        return cls(environ=environ)

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        """Namespace, selector, window and the API resources read (never credentials)."""
        check_frame(self, frame)
        query: dict[str, Any] = {
            "namespace": incident.namespace,
            "selector": incident.label_selector,
            "window": str(window),
            "resource": RESOURCES[frame],
        }
        context = self.context or self.environ.get("INCIDENT_KUBE_CONTEXT")
        if context:
            query["context"] = context
        if frame == "logs":
            query["max_lines_per_container"] = MAX_LINES_PER_CONTAINER
        return query

    def _fetch(self, frame: str, incident: Incident, window: Window, progress: bool) -> Fetched:
        with KubernetesSource.from_environment(
            namespace=incident.namespace,
            selector=incident.label_selector,
            context=self.context,
            environ=self.environ,
            request_timeout=self.request_timeout,
            budget=self.budget,
            max_bytes=self.limits.max_bytes,
        ) as source:
            if frame == "logs":
                result = source.logs(
                    window, max_lines_per_container=MAX_LINES_PER_CONTAINER, progress=progress
                )
                return Fetched(result.frame, tuple(result.notes()))
            if frame == "rollouts":
                return source.rollouts()
            if frame == "config":
                return source.config()
            if frame == "events":
                return source.events_fetched(window)
            if frame == "hpa":
                return Fetched(source.hpas())
            if frame == "terminations":
                return source.terminations(window)
            if frame == "jobs":
                return source.jobs(window)
            if frame == "releases":
                return source.releases(window, environ=self.environ)
            if frame == "endpoints":
                return source.endpoints()
            if frame == "pods":
                return Fetched(source.pods())
            return Fetched(source.usage())
