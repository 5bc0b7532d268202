"""The Kubernetes façade: pods, pod logs, rollouts, events and resource usage of one service.

The service is a namespace plus a label selector (:attr:`Incident.label_selector`).
:class:`KubernetesSource` talks to the API server through an injected
``kubernetes.client.ApiClient`` (:meth:`KubernetesSource.from_environment` builds
one, see :mod:`.config`) and returns frames that meet the contracts of
:mod:`incident_lib.core.schema`. Only read verbs are used (``get``, ``list``),
every call carries a request timeout (5 s to connect, 15 s to answer, each
clipped to what is left of the source's time budget, so a hung API server costs
a frame at most the budget), and every failure a user will meet becomes a
:class:`SourceUnavailable` whose reason says what to do (:mod:`.errors`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...core.errors import InvalidInput, SourceUnavailable
from ...core.schema import conform, empty_frame
from ..base import DEFAULT_MAX_BYTES, Budget, Fetched
from .autoscalers import hpa_rows, scale_target, service_targets
from .config import client_from_environment
from .configs import config_refs, config_rows
from .errors import SOURCE, api_reason, safe_host, timed_out
from .jobs import jobs_rows
from .logs import LogFetch, LogReader, concat_logs, log_targets
from .pods import event_times, parse_quantity, pod_rows
from .rollouts import REVISION, activation_times, annotation, owned_by, rollout_row
from .terminations import collect as collect_terminations
from .workloads import workload_rollouts

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    from kubernetes.client import ApiClient

    from ...core.time import Window

__all__ = ["DEFAULT_TIMEOUT", "KubernetesSource"]

#: (connect, read) seconds, on every API call (each clipped to the time budget)
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 15.0)


class KubernetesSource:
    """Read-only view of one service (namespace + label selector) in a cluster.

    Parameters
    ----------
    namespace
        The service's namespace.
    selector
        Label selector of the service's pods, e.g. ``"app=api"``.
    api_client
        A configured ``kubernetes.client.ApiClient`` (see :meth:`from_environment`).
    request_timeout
        ``(connect, read)`` seconds passed as ``_request_timeout`` on every call.
    page_size
        ``limit`` of each list request (lists are read page by page).
    budget
        The time this source may spend (:class:`~incident_lib.sources.base.Budget`,
        shared with the connector's other fetches); default: none.
    max_bytes
        Most bytes the container logs of one :meth:`logs` hold together.
    """

    def __init__(
        self,
        *,
        namespace: str,
        selector: str,
        api_client: ApiClient,
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        page_size: int = 500,
        budget: Budget | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.namespace = namespace
        self.selector = selector
        self.api_client = api_client
        self.request_timeout = request_timeout
        self.page_size = page_size
        self.budget = budget if budget is not None else Budget.unlimited(SOURCE)
        self.max_bytes = max_bytes
        self._owns_client = False

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_environment(
        cls,
        *,
        namespace: str,
        selector: str,
        context: str | None = None,
        environ: Mapping[str, str] = os.environ,
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        budget: Budget | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> KubernetesSource:
        """Build the source from the kubeconfig or the in-cluster service account.

        The kubeconfig is ``KUBECONFIG`` (a path list is merged), else
        ``$HOME/.kube/config``; the context is ``context``, else
        ``INCIDENT_KUBE_CONTEXT``, else the kubeconfig's current context. Without a
        kubeconfig, the in-cluster service account is used when
        ``KUBERNETES_SERVICE_HOST`` is set. The client retries a failed connection
        once (never a request the server did not answer in time). ``budget`` and
        ``max_bytes`` bound it (see the class).

        Raises
        ------
        SourceUnavailable
            No configuration, an unknown context or an unreadable kubeconfig.
        """
        api_client = client_from_environment(context=context, environ=environ)
        source = cls(
            namespace=namespace,
            selector=selector,
            api_client=api_client,
            request_timeout=request_timeout,
            budget=budget,
            max_bytes=max_bytes,
        )
        source._owns_client = True
        return source

    def close(self) -> None:
        """Release the connection pool (only of a client this source built itself)."""
        if self._owns_client:
            self.api_client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> KubernetesSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- frames ------------------------------------------------------------------
    def pods(self) -> pd.DataFrame:
        """The service's pods, one row per container (contract ``pods``).

        Phase, readiness, restarts, the last termination (reason such as
        ``OOMKilled`` and time), node, start of the running instance, and requests
        and limits (CPU in cores, memory in bytes; NaN when not set). No matching
        pod gives an empty frame.
        """
        import pandas as pd

        rows = [row for pod in self._pods() for row in pod_rows(pod)]
        if not rows:
            return empty_frame("pods")
        return conform(pd.DataFrame(rows), "pods")

    def logs(
        self,
        window: Window,
        *,
        max_lines_per_container: int = 50_000,
        workers: int = 8,
        progress: bool = True,
    ) -> LogFetch:
        """Logs of every container of every matching pod over ``window``.

        Containers that restarted also give the previous instance's log
        (``previous=true``). Logs are fetched concurrently by at most ``workers``
        threads, each capped at ``max_lines_per_container`` lines (see the module
        notes); cuts and failures are reported in the result, never dropped. All
        the logs together hold at most ``max_bytes`` (the reads stop there, noted).

        Raises
        ------
        SourceUnavailable
            No pod matches, the API refuses (401, 403), no log could be read, or
            the time budget ran out before any could.
        """
        if workers < 1 or max_lines_per_container < 1:
            raise InvalidInput("workers and max_lines_per_container must be at least 1")
        targets = [t for pod in self._pods() for t in log_targets(pod)]
        if not targets:
            raise SourceUnavailable(
                SOURCE, f"no pods match {self.selector} in namespace {self.namespace}"
            )
        reader = LogReader(
            self.api_client,
            self.namespace,
            self.request_timeout,
            budget=self.budget,
            max_bytes=self.max_bytes,
        )
        results, truncated, errors = reader.read(
            targets, window, max_lines_per_container, workers, progress
        )
        if len(errors) == len(targets):
            if self.budget.exhausted:
                raise self.budget.used_up(f"none of the {len(targets)} container logs was read")
            first = errors[min(errors)]
            raise SourceUnavailable(
                SOURCE, f"none of the {len(targets)} container logs could be read: {first}"
            )
        return LogFetch(
            frame=concat_logs(results),
            truncated=truncated,
            errors=errors,
            requested=len(targets),
            capped_at=self.max_bytes if reader.capped else 0,
        )

    def rollouts(self) -> Fetched:
        """The service's workloads and their revisions (contract ``rollouts``).

        Deployments are those matching the selector; when none does, those owning
        the service's pods (pod -> ReplicaSet -> Deployment owner references).
        One row per ReplicaSet owned by a Deployment, newest revision first;
        ``current`` marks the ReplicaSet of the Deployment's revision. See the
        module notes for ``deployed_at``. When the Deployment's events cannot be
        read, ``deployed_at`` falls back to ``created_at`` and a note says so.
        StatefulSets and DaemonSets (selector, else the pods' owners) give one row
        per ControllerRevision (:mod:`.workloads`); a kind the API refuses is a note.
        """
        import pandas as pd

        deployments, replicasets = self._deployments_and_replicasets()
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        for dep in deployments:
            owned = [rs for rs in replicasets if owned_by(rs, dep)]
            try:
                live = activation_times(self._scaling_events(dep.metadata.name))
            except SourceUnavailable as exc:
                live = {}
                notes.append(
                    f"deployment {dep.metadata.name}: events not readable ({exc.reason}); "
                    "deployed_at is the ReplicaSet creation time"
                )
            current = annotation(dep, REVISION)
            rows.extend(rollout_row(dep, rs, current, live) for rs in owned)
        others, other_notes = workload_rollouts(
            self._list, _apps(self), self.namespace, self.selector, self._pods
        )
        rows += others
        notes += other_notes
        frame = empty_frame("rollouts") if not rows else conform(pd.DataFrame(rows), "rollouts")
        frame = frame.sort_values(
            ["deployment", "revision"], ascending=[True, False], kind="stable"
        ).reset_index(drop=True)
        return Fetched(frame, tuple(notes))  # notes: shown by the runbook, never silent

    def events(self, window: Window) -> pd.DataFrame:
        """Events of the namespace that touch ``window`` (contract ``k8s_events``).

        All objects, Normal and Warning; an event touches the window when it was
        last seen at or after the start and first seen before the end.
        """
        return self._events(window)[0]

    def events_fetched(self, window: Window) -> Fetched:
        """:meth:`events`, with a note when the cluster no longer holds the window's start.

        The API server keeps events for a while only (``--event-ttl``, one hour by
        default): when the oldest event it still holds is newer than the window's
        start, what happened before is unknown, and the note says from when events
        were available (a live run early in an incident captures them in time).
        """
        frame, oldest = self._events(window)
        notes: tuple[str, ...] = ()
        if oldest is not None and oldest > window.start:
            notes = (
                f"events are only available from {oldest:%Y-%m-%d %H:%M} UTC (the API server "
                "keeps them for a limited time, 1 h by default): events before that are "
                "unknown, not absent; capture early in the incident with a live run",
            )
        return Fetched(frame, notes)

    def _events(self, window: Window) -> tuple[pd.DataFrame, datetime | None]:
        """The events touching ``window``, and the first time of the oldest event held."""
        import pandas as pd

        rows = []
        oldest: datetime | None = None
        for ev in self._list("list", "events", _core(self).list_namespaced_event, self.namespace):
            first, last, count = event_times(ev)
            if first is not None and (oldest is None or first < oldest):
                oldest = first
            if first is None or last < window.start or first >= window.end:
                continue
            obj = ev.involved_object
            rows.append(
                {
                    "first_seen": first,
                    "last_seen": last,
                    "type": ev.type,
                    "reason": ev.reason,
                    "object": f"{obj.kind}/{obj.name}" if obj is not None else None,
                    "message": (ev.message or "").strip(),
                    "count": count,
                }
            )
        if not rows:
            return empty_frame("k8s_events"), oldest
        frame = conform(pd.DataFrame(rows), "k8s_events")
        return frame.sort_values("first_seen", kind="stable").reset_index(drop=True), oldest

    def usage(self) -> pd.DataFrame:
        """Current CPU (cores) and memory (bytes) of each container (contract ``pod_usage``).

        From ``metrics.k8s.io/v1beta1`` PodMetrics, one sample per container.

        Raises
        ------
        SourceUnavailable
            The cluster does not serve ``metrics.k8s.io`` (no metrics-server), or
            the API refuses.
        """
        import pandas as pd
        from kubernetes import client

        api = client.CustomObjectsApi(self.api_client)
        result = self._call(
            "list",
            "pods.metrics.k8s.io",
            api.list_namespaced_custom_object,
            "metrics.k8s.io",
            "v1beta1",
            self.namespace,
            "pods",
            label_selector=self.selector,
            not_found=(
                "metrics.k8s.io is not served by this cluster (metrics-server not "
                "installed); resource usage unavailable"
            ),
        )
        rows = [
            {
                "time": item.get("timestamp"),
                "pod": item.get("metadata", {}).get("name"),
                "container": container.get("name"),
                "cpu": parse_quantity(container.get("usage", {}).get("cpu")),
                "memory": parse_quantity(container.get("usage", {}).get("memory")),
            }
            for item in result.get("items") or []
            for container in item.get("containers") or []
        ]
        if not rows:
            return empty_frame("pod_usage")
        return conform(pd.DataFrame(rows), "pod_usage")

    def hpas(self) -> pd.DataFrame:
        """The service's HorizontalPodAutoscalers (autoscaling/v2; contract ``hpa``).

        Those whose ``scaleTargetRef`` is one of the service's Deployments or a
        StatefulSet owning its pods; one row per condition, replica counts and
        metrics (current/target) as of now (``captured_at``). None gives an empty frame.

        Raises
        ------
        SourceUnavailable
            The API refuses, or the cluster does not serve autoscaling/v2.
        """
        from datetime import UTC, datetime

        import pandas as pd
        from kubernetes import client

        api = client.AutoscalingV2Api(self.api_client)
        listed = self._list(
            "list",
            "horizontalpodautoscalers.autoscaling",
            api.list_namespaced_horizontal_pod_autoscaler,
            self.namespace,
            not_found=(
                "autoscaling/v2 is not served by this cluster (Kubernetes before 1.23); "
                "autoscalers unavailable"
            ),
        )
        if not listed:
            return empty_frame("hpa")
        deployments, _ = self._deployments_and_replicasets()
        targets = service_targets(deployments, self._pods())
        captured_at = datetime.now(UTC)
        rows = [
            row
            for hpa in listed
            if scale_target(hpa) in targets
            for row in hpa_rows(hpa, captured_at)
        ]
        if not rows:
            return empty_frame("hpa")
        frame = conform(pd.DataFrame(rows), "hpa")
        return frame.sort_values(["hpa", "condition"], kind="stable").reset_index(drop=True)

    def config(self) -> Fetched:
        """ConfigMaps and Secrets the service's pods use (contract ``k8s_config``).

        The references come from the pods and from the pod templates of their
        Deployments and ReplicaSets (volumes, projected volumes, ``envFrom``,
        ``env.valueFrom``; see :mod:`.configs`). Each object is read by name;
        one row per field manager's last operation. A Secret's values are hashed
        in memory and dropped: only key names and the hash are kept. An object
        referred to but absent, or a kind the API refuses (Secrets often are),
        is a note, and the other objects are still read.
        """
        import pandas as pd

        notes: list[str] = []
        try:
            deployments, replicasets = self._deployments_and_replicasets()
        except SourceUnavailable as exc:
            deployments, replicasets = [], []
            notes.append(f"pod templates not readable ({exc.reason}); references from pods only")
        used = config_refs(self._pods(), deployments, replicasets)
        rows: list[dict[str, Any]] = []
        refused: set[str] = set()
        for (kind, name), users in sorted(used.items()):
            if kind in refused:
                continue
            method = (
                _core(self).list_namespaced_config_map
                if kind == "ConfigMap"
                else _core(self).list_namespaced_secret
            )
            resource = "configmaps" if kind == "ConfigMap" else "secrets"
            try:
                found = self._list(
                    "list", resource, method, self.namespace, field_selector=f"metadata.name={name}"
                )
            except SourceUnavailable as exc:
                refused.add(kind)
                notes.append(f"{resource} not readable ({exc.reason}); none of them is listed")
                continue
            if not found:
                users_text = ", ".join(sorted(users))
                notes.append(f"{kind} {name} is referred to by {users_text} but does not exist")
            rows.extend(row for obj in found for row in config_rows(obj, kind, users))
        frame = empty_frame("k8s_config") if not rows else conform(pd.DataFrame(rows), "k8s_config")
        frame = frame.sort_values(["kind", "name", "changed_at"], kind="stable")
        return Fetched(frame.reset_index(drop=True), tuple(notes))

    # -- terminations (pods that are gone) ---------------------------------------------
    def terminations(self, window: Window) -> Fetched:
        """Container terminations of the service over ``window`` (contract ``k8s_terminations``).

        From the pods' container statuses, the Pod events of pods deleted since
        (one namespaced list) and the ``OOMKilling`` events of the service's nodes
        (one list at cluster scope, optional: refused, it is a note); see
        :mod:`.terminations`.
        """
        core = _core(self)
        return collect_terminations(
            window,
            pods=self._pods(),
            workloads=self._deployments_and_replicasets,
            pod_events=lambda: self._list(
                "list",
                "events",
                core.list_namespaced_event,
                self.namespace,
                field_selector="involvedObject.kind=Pod",
            ),
            node_events=lambda: self._list(
                "list",
                "events",
                core.list_event_for_all_namespaces,
                field_selector="involvedObject.kind=Node,reason=OOMKilling",
            ),
        )

    # -- jobs ----------------------------------------------------------------------------
    def jobs(self, window: Window) -> Fetched:
        """Jobs of the namespace that ran in or shortly before ``window`` (contract ``k8s_jobs``).

        Every Job of the namespace, not only the service's, running during the
        window or started up to 2 h before it, with its CronJob, status, exit
        codes and pods, and CronJob runs whose Job is already gone (:mod:`.jobs`).
        CronJobs or pods the API refuses are notes.

        Raises
        ------
        SourceUnavailable
            The Jobs cannot be listed (e.g. RBAC refuses ``list`` on ``jobs.batch``).
        """
        import pandas as pd
        from kubernetes import client

        batch = client.BatchV1Api(self.api_client)
        rows, notes = jobs_rows(self._list, batch, _core(self), self.namespace, window)
        if not rows:
            return Fetched(empty_frame("k8s_jobs"), tuple(notes))
        frame = conform(pd.DataFrame(rows), "k8s_jobs")
        frame = frame.sort_values(["started_at", "job"], kind="stable").reset_index(drop=True)
        return Fetched(frame, tuple(notes))

    # -- releases (Helm, Argo CD, Flux) --------------------------------------------------
    def releases(
        self,
        window: Window,
        *,
        argocd_namespace: str | None = None,
        flux_namespace: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> Fetched:
        """Helm release history, Argo CD syncs and Flux applies of the service (``releases``).

        Helm release Secrets are listed metadata only (their payload never leaves
        the API server); Argo CD Applications come from ``argocd_namespace`` and
        Flux objects from the service's namespace and ``flux_namespace`` (defaults:
        ``INCIDENT_ARGOCD_NAMESPACE`` / ``INCIDENT_FLUX_NAMESPACE`` of ``environ``,
        else ``argocd`` / ``flux-system``). A tool not installed or not readable,
        and other releases that changed in ``window``, are notes. See
        :mod:`.releases`.
        """
        from .releases import read_releases

        return read_releases(
            self,
            window,
            argocd_namespace=argocd_namespace,
            flux_namespace=flux_namespace,
            environ=environ,
        )

    # -- Services' endpoints --------------------------------------------------------------
    def endpoints(self) -> Fetched:
        """Every Service of the namespace and its ready / not-ready endpoints (``k8s_endpoints``).

        Not only the service's own: its dependencies in the namespace matter as
        much. See :func:`.endpoints.read_endpoints`.
        """
        from .endpoints import read_endpoints

        return read_endpoints(self)

    # -- API access --------------------------------------------------------------
    def _pods(self) -> list[Any]:
        return self._list(
            "list",
            "pods",
            _core(self).list_namespaced_pod,
            self.namespace,
            label_selector=self.selector,
        )

    def _deployments_and_replicasets(self) -> tuple[list[Any], list[Any]]:
        apps = _apps(self)

        def replicasets(**selector: str) -> list[Any]:
            return self._list(
                "list",
                "replicasets.apps",
                apps.list_namespaced_replica_set,
                self.namespace,
                **selector,
            )

        deployments = self._list(
            "list",
            "deployments.apps",
            apps.list_namespaced_deployment,
            self.namespace,
            label_selector=self.selector,
        )
        if deployments:
            labelled = replicasets(label_selector=self.selector)
            if all(any(owned_by(rs, d) for rs in labelled) for d in deployments):
                return deployments, labelled
            return deployments, replicasets()  # ReplicaSets not labelled like the pods
        # Deployments not labelled like their pods: follow the pods' owner references.
        rs_names = {
            ref.name
            for pod in self._pods()
            for ref in pod.metadata.owner_references or []
            if ref.kind == "ReplicaSet"
        }
        if not rs_names:
            return [], []
        everything = replicasets()
        names = {
            ref.name
            for rs in everything
            if rs.metadata.name in rs_names
            for ref in rs.metadata.owner_references or []
            if ref.kind == "Deployment"
        }
        if not names:
            return [], []
        listed = self._list(
            "list", "deployments.apps", apps.list_namespaced_deployment, self.namespace
        )
        return [d for d in listed if d.metadata.name in names], everything

    def _scaling_events(self, deployment: str) -> list[Any]:
        return self._list(
            "list",
            "events",
            _core(self).list_namespaced_event,
            self.namespace,
            field_selector=(
                f"involvedObject.kind=Deployment,involvedObject.name={deployment},"
                "reason=ScalingReplicaSet"
            ),
        )

    def _list(
        self, verb: str, resource: str, method: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> list[Any]:
        """All items of a list call, page by page (``limit`` / ``continue``)."""
        items: list[Any] = []
        token: str | None = None
        while True:
            page = self._call(
                verb, resource, method, *args, limit=self.page_size, _continue=token, **kwargs
            )
            items.extend(page.items or [])
            token = page.metadata._continue if page.metadata is not None else None
            if not token:
                return items

    def _call(
        self,
        verb: str,
        resource: str,
        method: Callable[..., Any],
        *args: Any,
        not_found: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` with the request timeout; turn failures into SourceUnavailable.

        The timeouts are clipped to what is left of the budget, and the call is
        charged to it; a timeout at the budget's end says the budget is used up.
        """
        with self.budget.spending():
            timeout = self.budget.clip_pair(self.request_timeout)
            try:
                return method(*args, _request_timeout=timeout, **kwargs)
            except Exception as exc:
                reason = self._reason(exc, verb, resource, not_found=not_found)
                if reason is None:
                    raise
                if timeout != self.request_timeout and timed_out(exc):
                    detail = f"API server {safe_host(self.api_client)} did not answer"
                    reason = self.budget.used_up(detail).reason
        # raised outside the handler: the client's exception (headers, body) is not chained
        raise SourceUnavailable(SOURCE, reason)

    def _reason(
        self, exc: Exception, verb: str, resource: str, *, not_found: str | None = None
    ) -> str | None:
        """The user-facing reason for ``exc``, or None when it is not an API/network error."""
        return api_reason(
            exc,
            verb=verb,
            resource=resource,
            namespace=self.namespace,
            api_client=self.api_client,
            timeout=self.request_timeout,
            not_found=not_found,
        )


def _core(source: KubernetesSource) -> Any:
    from kubernetes import client

    return client.CoreV1Api(source.api_client)


def _apps(source: KubernetesSource) -> Any:
    from kubernetes import client

    return client.AppsV1Api(source.api_client)
