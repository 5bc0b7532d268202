"""Kubernetes source: pods, pod logs, rollouts, events and resource usage of one service.

The service is a namespace plus a label selector (:attr:`Incident.label_selector`).
:class:`KubernetesSource` talks to the API server through an injected
``kubernetes.client.ApiClient`` (:meth:`KubernetesSource.from_environment` builds
one from ``KUBECONFIG`` / ``~/.kube/config`` or the in-cluster service account)
and returns frames that meet the contracts of :mod:`incident_lib.core.schema`. Only
read verbs are used (``get``, ``list``), every call carries a request timeout,
and every failure a user will meet becomes a :class:`SourceUnavailable` whose
reason says what to do; credentials never appear in a reason.

Decisions
---------
* ``pods()`` returns an empty frame when nothing matches the selector (an
  answer, not an outage); ``logs()`` raises :class:`SourceUnavailable`, since
  there is nothing to read.
* ``logs()`` reads each container from the window start (``sinceTime``) and
  drops lines stamped at or after the window end. The per-container cap keeps
  the *newest* lines of the window, as the log parser does: when the window
  reaches the present the server cuts with ``tailLines``; for a past window
  ``tailLines`` would count from now, so the reader streams from the window
  start, keeps the last ``max_lines_per_container`` lines before the end and
  stops reading there, with ``limitBytes`` bounding the stream (of a window
  holding more, only that much is read, and the cut is reported). The parser
  gets the same ``max_events``. Every cut is reported in
  :attr:`LogFetch.truncated`, every container that could not be read in
  :attr:`LogFetch.errors`; 401 and 403 stop the whole fetch (every container
  would fail alike). Init containers are not read.
* ``events()`` uses core v1 events (``list_namespaced_event``): every cluster
  serves them, ``kubectl get events`` shows the same, and they carry the
  aggregated ``count`` / first / last times (``events.k8s.io/v1`` is the same
  data under other field names). It returns *all* events of the namespace that
  touch the window (Normal and Warning, any object): relating them to the
  service is analysis' job, since node, volume, HPA and ingress events matter too.
* ``rollouts()``: ``deployed_at`` of a revision is the start of the latest run
  of ``ScalingReplicaSet`` "Scaled up replica set <rs>" events of its Deployment
  (the earliest scale-up after the last scale-down of that ReplicaSet to 0);
  without such events (the API server keeps them about an hour) it is the
  ReplicaSet's creation time. A rollback re-uses the old ReplicaSet and gives it
  a new revision number, so its ``created_at`` stays old: only the events tell
  when it went live again.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInput, SourceUnavailable
from ..core.schema import conform, empty_frame
from ._shared import check_fetch_name, progress_bar

if TYPE_CHECKING:
    import pandas as pd
    from kubernetes.client import ApiClient

    from ..core.incident import Incident
    from ..core.time import Window

__all__ = [
    "DEFAULT_TIMEOUT",
    "FETCH_NAMES",
    "KubernetesSource",
    "LogFetch",
    "fetch",
    "parse_quantity",
]

SOURCE = "kubernetes"
#: (connect, read) seconds, on every API call
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 20.0)
#: names :func:`fetch` serves (the ``kubernetes`` entries of ``schema.EVIDENCE_KINDS``)
FETCH_NAMES = ("logs", "rollouts", "events", "pods", "pod_usage")
#: server-side byte budget per log line (``limitBytes`` = lines x this)
LOG_BYTES_PER_LINE = 4096
#: a window ending later than this before now reaches the present (``tailLines`` applies)
LIVE_SLACK = timedelta(minutes=2)
_REVISION = "deployment.kubernetes.io/revision"
_CHANGE_CAUSE = "kubernetes.io/change-cause"
_SCALED = re.compile(r"^Scaled (up|down) replica set (\S+) to (\d+)")
_SECRETISH = re.compile(r"[A-Za-z0-9+/=_.\-]{32,}")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_NO_CONFIG = "no kubeconfig found (set KUBECONFIG) and not running in a cluster"
_EXPIRED = (
    "credentials rejected (401): refresh your kubeconfig token, "
    "e.g. re-run your cloud's get-credentials"
)


@dataclass(frozen=True, slots=True)
class LogFetch:
    """Pod logs of the service over a window, with what was cut and what failed.

    Attributes
    ----------
    frame
        ``logs`` contract frame: every container of every pod, sorted by time.
    truncated
        ``"pod/container"`` (``" (previous)"`` for the previous instance) -> lines
        kept, for every log cut by the line or byte cap (the newest lines are kept).
    errors
        Same keys -> why that log could not be read (e.g. container waiting to start).
    requested
        How many container logs were requested.
    """

    frame: pd.DataFrame
    truncated: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    requested: int = 0

    def notes(self) -> list[str]:
        """One sentence per truncated or failed log, for the notebook and the bundle."""
        cut = [
            f"{key}: truncated, kept the last {lines} lines of the window"
            for key, lines in sorted(self.truncated.items())
        ]
        return cut + [f"{key}: not read: {why}" for key, why in sorted(self.errors.items())]


@dataclass(frozen=True, slots=True)
class _LogTarget:
    pod: str
    container: str
    previous: bool

    @property
    def key(self) -> str:
        return f"{self.pod}/{self.container}" + (" (previous)" if self.previous else "")


class _ContainerFailed(Exception):
    """One container log could not be read; the others go on."""


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
    """

    def __init__(
        self,
        *,
        namespace: str,
        selector: str,
        api_client: ApiClient,
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        page_size: int = 500,
    ) -> None:
        self.namespace = namespace
        self.selector = selector
        self.api_client = api_client
        self.request_timeout = request_timeout
        self.page_size = page_size
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
    ) -> KubernetesSource:
        """Build the source from the kubeconfig or the in-cluster service account.

        The kubeconfig is ``KUBECONFIG`` (a path list is merged), else
        ``$HOME/.kube/config``; the context is ``context``, else
        ``INCIDENT_KUBE_CONTEXT``, else the kubeconfig's current context. Without a
        kubeconfig, the in-cluster service account is used when
        ``KUBERNETES_SERVICE_HOST`` is set. The client retries a failed request once.

        Raises
        ------
        SourceUnavailable
            No configuration, an unknown context or an unreadable kubeconfig.
        """
        api_client = _client_from_environment(context=context, environ=environ)
        source = cls(
            namespace=namespace,
            selector=selector,
            api_client=api_client,
            request_timeout=request_timeout,
        )
        source._owns_client = True
        return source

    def close(self) -> None:
        """Release the connection pool (only of a client this source built itself)."""
        if self._owns_client:
            self.api_client.close()

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

        rows = [row for pod in self._pods() for row in _pod_rows(pod)]
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
        notes); cuts and failures are reported in the result, never dropped.

        Raises
        ------
        SourceUnavailable
            No pod matches, the API refuses (401, 403), or no log could be read.
        """
        if workers < 1 or max_lines_per_container < 1:
            raise InvalidInput("workers and max_lines_per_container must be at least 1")
        targets = [t for pod in self._pods() for t in _log_targets(pod)]
        if not targets:
            raise SourceUnavailable(
                SOURCE, f"no pods match {self.selector} in namespace {self.namespace}"
            )
        results, truncated, errors = self._read_logs(
            targets, window, max_lines_per_container, workers, progress
        )
        if len(errors) == len(targets):
            first = errors[min(errors)]
            raise SourceUnavailable(
                SOURCE, f"none of the {len(targets)} container logs could be read: {first}"
            )
        return LogFetch(
            frame=_concat_logs(results),
            truncated=truncated,
            errors=errors,
            requested=len(targets),
        )

    def rollouts(self) -> pd.DataFrame:
        """The service's Deployments and their revisions (contract ``rollouts``).

        Deployments are those matching the selector; when none does, those owning
        the service's pods (pod -> ReplicaSet -> Deployment owner references).
        One row per ReplicaSet owned by a Deployment, newest revision first;
        ``current`` marks the ReplicaSet of the Deployment's revision. See the
        module notes for ``deployed_at``. When the Deployment's events cannot be
        read, ``deployed_at`` falls back to ``created_at`` and ``frame.attrs["notes"]``
        says so.
        """
        import pandas as pd

        deployments, replicasets = self._deployments_and_replicasets()
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        for dep in deployments:
            owned = [rs for rs in replicasets if _owned_by(rs, dep)]
            try:
                live = _activation_times(self._scaling_events(dep.metadata.name))
            except SourceUnavailable as exc:
                live = {}
                notes.append(
                    f"deployment {dep.metadata.name}: events not readable ({exc.reason}); "
                    "deployed_at is the ReplicaSet creation time"
                )
            current = _annotation(dep, _REVISION)
            rows.extend(_rollout_row(dep, rs, current, live) for rs in owned)
        frame = empty_frame("rollouts") if not rows else conform(pd.DataFrame(rows), "rollouts")
        frame = frame.sort_values(
            ["deployment", "revision"], ascending=[True, False], kind="stable"
        ).reset_index(drop=True)
        frame.attrs["notes"] = notes  # shown by the runbook, never silent
        return frame

    def events(self, window: Window) -> pd.DataFrame:
        """Events of the namespace that touch ``window`` (contract ``k8s_events``).

        All objects, Normal and Warning; an event touches the window when it was
        last seen at or after the start and first seen before the end.
        """
        import pandas as pd

        rows = []
        for ev in self._list("list", "events", _core(self).list_namespaced_event, self.namespace):
            first, last, count = _event_times(ev)
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
            return empty_frame("k8s_events")
        frame = conform(pd.DataFrame(rows), "k8s_events")
        return frame.sort_values("first_seen", kind="stable").reset_index(drop=True)

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
            if all(any(_owned_by(rs, d) for rs in labelled) for d in deployments):
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
        """Call ``method`` with the request timeout; turn failures into SourceUnavailable."""
        try:
            return method(*args, _request_timeout=self.request_timeout, **kwargs)
        except Exception as exc:
            reason = self._reason(exc, verb, resource, not_found=not_found)
            if reason is None:
                raise
        # raised outside the handler: the client's exception (headers, body) is not chained
        raise SourceUnavailable(SOURCE, reason)

    def _reason(
        self, exc: Exception, verb: str, resource: str, *, not_found: str | None = None
    ) -> str | None:
        """The user-facing reason for ``exc``, or None when it is not an API/network error."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, urllib3.exceptions.HTTPError):
            return _network_reason(exc, _safe_host(self.api_client), self.request_timeout)
        if not isinstance(exc, ApiException):
            return None
        status = exc.status
        if status == 401:
            return _EXPIRED
        if status == 403:
            who = _forbidden_user(exc.body)
            return (
                f"forbidden (403): RBAC must allow '{verb}' on '{resource}' in namespace "
                f"'{self.namespace}'" + (f" for {who}" if who else "")
            )
        if status == 404:
            return not_found or f"namespace '{self.namespace}' not found"
        if status == 503 and resource.endswith("metrics.k8s.io"):
            return (
                "metrics.k8s.io is registered but not answering (503): metrics-server "
                "may be down; resource usage unavailable"
            )
        if not status:  # TLS and similar, raised by the client before any answer
            first = str(exc.reason or "").splitlines()[0:1]
            return f"could not talk to API server {_safe_host(self.api_client)}: " + (
                _mask(first[0]) if first else "connection error"
            )
        message = _status_message(exc.body)
        return f"API server answered {status} {exc.reason or ''} to {verb} {resource}".rstrip() + (
            f": {message}" if message else ""
        )

    # -- logs --------------------------------------------------------------------
    def _read_logs(
        self,
        targets: list[_LogTarget],
        window: Window,
        max_lines: int,
        workers: int,
        progress: bool,
    ) -> tuple[list[pd.DataFrame], dict[str, int], dict[str, str]]:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        frames: list[pd.DataFrame] = []
        truncated: dict[str, int] = {}
        errors: dict[str, str] = {}
        bar = progress_bar(len(targets), enabled=progress, desc="pod logs", unit="container")
        pool = ThreadPoolExecutor(max_workers=min(workers, len(targets)))
        try:
            futures = {pool.submit(self._read_log, t, window, max_lines): t for t in targets}
            for future in as_completed(futures):
                target = futures[future]
                try:
                    frame, kept, cut = future.result()
                except _ContainerFailed as exc:
                    errors[target.key] = str(exc)
                else:
                    frames.append(frame)
                    if cut:
                        truncated[target.key] = kept
                bar.update(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return frames, truncated, errors

    def _read_log(
        self, target: _LogTarget, window: Window, max_lines: int
    ) -> tuple[pd.DataFrame, int, bool]:
        """Read one container log; raise _ContainerFailed, or SourceUnavailable on 401/403."""
        from .logparse import parse_pod_log

        try:
            lines, cut = self._stream_log(target, window, max_lines)
        except Exception as exc:
            raise self._log_failure(exc, target) from None
        parsed = parse_pod_log(
            "\n".join(lines),
            pod=target.pod,
            container=target.container,
            timestamps=True,
            max_events=max_lines,
        )
        frame = parsed.frame
        frame = frame[(frame["time"] >= window.start) & (frame["time"] < window.end)]
        return frame, len(lines), cut or bool(parsed.truncated)

    def _stream_log(
        self, target: _LogTarget, window: Window, max_lines: int
    ) -> tuple[list[str], bool]:
        """GET .../pods/{pod}/log from the window start: the newest lines before its end.

        The generated ``read_namespaced_pod_log`` has no ``sinceTime`` (it is missing
        from the OpenAPI spec), so the request is built with the client's own
        serialiser, which applies its authentication and TLS settings.
        """
        from datetime import UTC

        from kubernetes.client.exceptions import ApiException

        live = window.end > datetime.now(UTC) - LIVE_SLACK
        limit_bytes = None if live else max_lines * LOG_BYTES_PER_LINE
        query: list[tuple[str, Any]] = [
            ("container", target.container),
            ("timestamps", True),
            ("sinceTime", window.start.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("tailLines", max_lines) if live else ("limitBytes", limit_bytes),
        ]
        if target.previous:
            query.append(("previous", True))
        request = self.api_client.param_serialize(
            method="GET",
            resource_path="/api/v1/namespaces/{namespace}/pods/{name}/log",
            path_params={"namespace": self.namespace, "name": target.pod},
            query_params=query,
            header_params={"Accept": "text/plain"},
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request, _request_timeout=self.request_timeout)
        raw = response.response
        try:
            if not 200 <= response.status <= 299:
                response.read()
                raise ApiException.from_response(http_resp=response, body=None, data=None)
            return _read_window(raw.stream(65536), window.end, max_lines, limit_bytes=limit_bytes)
        finally:
            raw.close()
            raw.release_conn()

    def _log_failure(self, exc: Exception, target: _LogTarget) -> Exception:
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, ApiException) and exc.status in (401, 403):
            return SourceUnavailable(SOURCE, self._reason(exc, "get", "pods/log") or "")
        if isinstance(exc, ApiException) and exc.status == 404:
            return _ContainerFailed(f"pod {target.pod} not found (replaced since it was listed)")
        if isinstance(exc, ApiException) and exc.status == 400:
            return _ContainerFailed(_status_message(exc.body) or "bad request (400)")
        reason = self._reason(exc, "get", "pods/log")
        if reason is None:
            return exc
        return _ContainerFailed(reason)


# -- configuration ---------------------------------------------------------------------
def _client_from_environment(*, context: str | None, environ: Mapping[str, str]) -> ApiClient:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    context = context or environ.get("INCIDENT_KUBE_CONTEXT") or None
    paths = _kubeconfig_paths(environ)
    configuration = client.Configuration()
    configuration.retries = 1
    if paths:
        shown = os.pathsep.join(paths)
        names, current = _kube_contexts(paths)
        if context is not None and context not in names:
            raise SourceUnavailable(
                SOURCE,
                f"context '{context}' is not in kubeconfig {shown}; available: "
                f"{', '.join(names) or 'none'}",
            )
        if context is None and not current:
            raise SourceUnavailable(
                SOURCE,
                f"kubeconfig {shown} has no current-context: set INCIDENT_KUBE_CONTEXT "
                f"(available: {', '.join(names) or 'none'})",
            )
        try:
            config.load_kube_config(
                config_file=shown,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except Exception as exc:  # ConfigException, exec plugins, files named in it...
            raise SourceUnavailable(
                SOURCE, f"kubeconfig {shown} could not be loaded: {_mask(_first_line(exc))}"
            ) from None
        return client.ApiClient(configuration)
    if environ.get("KUBERNETES_SERVICE_HOST"):
        from kubernetes.config import incluster_config as incluster

        loader = incluster.InClusterConfigLoader(
            token_filename=incluster.SERVICE_TOKEN_FILENAME,
            cert_filename=incluster.SERVICE_CERT_FILENAME,
            environ=environ,
        )
        try:
            loader.load_and_set(configuration)
        except ConfigException as exc:
            raise SourceUnavailable(
                SOURCE,
                "running in a cluster (KUBERNETES_SERVICE_HOST is set) but the service "
                f"account is not usable: {_first_line(exc)}",
            ) from None
        return client.ApiClient(configuration)
    raise SourceUnavailable(SOURCE, _NO_CONFIG)


def _kube_contexts(paths: list[str]) -> tuple[list[str], str | None]:
    """Context names of the kubeconfig files and the current context (the first one set).

    Read here rather than by the client's loader, which fails on a file without a
    current-context; a YAML error names its line only (the line may hold a token).
    """
    import yaml

    names: list[str] = []
    current: str | None = None
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise SourceUnavailable(SOURCE, f"kubeconfig {path} is not valid YAML{where}") from None
        except OSError as exc:
            raise SourceUnavailable(
                SOURCE, f"kubeconfig {path} could not be read: {exc.strerror or exc}"
            ) from None
        if not isinstance(data, dict):
            raise SourceUnavailable(SOURCE, f"kubeconfig {path} is not a kubeconfig (no mapping)")
        names += [
            str(c["name"])
            for c in data.get("contexts") or []
            if isinstance(c, dict) and "name" in c
        ]
        current = current or data.get("current-context") or None
    return sorted(set(names)), current


def _kubeconfig_paths(environ: Mapping[str, str]) -> list[str]:
    """Existing kubeconfig files: ``KUBECONFIG`` (a path list), else ``$HOME/.kube/config``."""
    if environ.get("KUBECONFIG"):
        given = [p for p in environ["KUBECONFIG"].split(os.pathsep) if p]
        found = [p for p in given if Path(p).expanduser().is_file()]
        if not found:
            raise SourceUnavailable(
                SOURCE, f"KUBECONFIG points at {', '.join(given)}, which does not exist"
            )
        return found
    home = environ.get("HOME")
    default = Path(home, ".kube", "config") if home else None
    return [str(default)] if default is not None and default.is_file() else []


# -- frames from API objects -----------------------------------------------------------
def _pod_rows(pod: Any) -> Iterator[dict[str, Any]]:
    status = pod.status
    statuses = {cs.name: cs for cs in (status.container_statuses or [])} if status else {}
    for container in pod.spec.containers or []:
        cs = statuses.get(container.name)
        state = cs.state if cs is not None else None
        last = cs.last_state if cs is not None else None
        ended = (state.terminated if state else None) or (last.terminated if last else None)
        resources = container.resources
        requests = (resources.requests if resources else None) or {}
        limits = (resources.limits if resources else None) or {}
        yield {
            "pod": pod.metadata.name,
            "container": container.name,
            "node": pod.spec.node_name,
            "phase": status.phase if status else None,
            "ready": bool(cs.ready) if cs is not None else False,
            "restarts": int(cs.restart_count or 0) if cs is not None else 0,
            "last_termination_reason": ended.reason if ended else None,
            "last_termination_at": ended.finished_at if ended else None,
            "started_at": state.running.started_at if state and state.running else None,
            "cpu_request": parse_quantity(requests.get("cpu")),
            "cpu_limit": parse_quantity(limits.get("cpu")),
            "memory_request": parse_quantity(requests.get("memory")),
            "memory_limit": parse_quantity(limits.get("memory")),
        }


def _log_targets(pod: Any) -> Iterator[_LogTarget]:
    statuses = {cs.name: cs for cs in (pod.status.container_statuses or [])} if pod.status else {}
    for container in pod.spec.containers or []:
        cs = statuses.get(container.name)
        if cs is not None and (cs.restart_count or 0) > 0:
            yield _LogTarget(pod.metadata.name, container.name, previous=True)
        yield _LogTarget(pod.metadata.name, container.name, previous=False)


def _concat_logs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame("logs")
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(["time", "pod", "container"], kind="stable")
    return conform(frame, "logs")


def _rollout_row(
    dep: Any, rs: Any, current: str | None, live: Mapping[str, datetime]
) -> dict[str, Any]:
    revision = _annotation(rs, _REVISION)
    template = rs.spec.template if rs.spec else None
    containers = template.spec.containers if template and template.spec else []
    created = rs.metadata.creation_timestamp
    return {
        "deployment": dep.metadata.name,
        "revision": int(revision) if revision and revision.isdigit() else 0,
        "replicaset": rs.metadata.name,
        "images": ",".join(c.image or "" for c in containers),
        "created_at": created,
        "deployed_at": live.get(rs.metadata.name, created),
        "change_cause": _annotation(rs, _CHANGE_CAUSE),
        "replicas": int((rs.status.replicas if rs.status else 0) or 0),
        "current": revision is not None and revision == current,
    }


def _annotation(obj: Any, key: str) -> str | None:
    return (obj.metadata.annotations or {}).get(key)


def _owned_by(rs: Any, dep: Any) -> bool:
    for ref in rs.metadata.owner_references or []:
        if ref.kind != "Deployment":
            continue
        if ref.uid and dep.metadata.uid:
            if ref.uid == dep.metadata.uid:
                return True
        elif ref.name == dep.metadata.name:
            return True
    return False


def _event_times(ev: Any) -> tuple[datetime | None, datetime, int]:
    """(first seen, last seen, count) of a core v1 event, old- or new-style."""
    series = ev.series
    first = ev.first_timestamp or ev.event_time or ev.metadata.creation_timestamp
    last = (
        (series.last_observed_time if series else None)
        or ev.last_timestamp
        or ev.event_time
        or first
    )
    count = (series.count if series else None) or ev.count or 1
    if first is not None and last is not None and last < first:
        last = first
    return first, last, int(count)


def _activation_times(events: Iterable[Any]) -> dict[str, datetime]:
    """ReplicaSet name -> when it last went live, from ScalingReplicaSet events.

    The earliest "Scaled up" of a ReplicaSet after its last "Scaled down ... to 0"
    that precedes its latest scale-up. Aggregated events count at their first and
    their last time.
    """
    ups: dict[str, list[datetime]] = defaultdict(list)
    zeros: dict[str, list[datetime]] = defaultdict(list)
    for ev in events:
        match = _SCALED.match(ev.message or "")
        first, last, _ = _event_times(ev)
        if match is None or first is None:
            continue
        direction, name, target = match.group(1), match.group(2), int(match.group(3))
        if direction == "up":
            ups[name] += [first, last]
        elif target == 0:
            zeros[name] += [first, last]
    live = {}
    for name, times in ups.items():
        latest = max(times)
        floor = max((t for t in zeros[name] if t < latest), default=None)
        live[name] = min(t for t in times if floor is None or t > floor)
    return live


# -- log reading -------------------------------------------------------------------------
def _read_window(
    chunks: Iterable[bytes], end: datetime, max_lines: int, *, limit_bytes: int | None
) -> tuple[list[str], bool]:
    """The last ``max_lines`` lines stamped before ``end``, and whether any were cut.

    ``limit_bytes`` is None when the server cut with ``tailLines=max_lines``: then
    the whole answer is read and a full answer means older lines were left out.
    Otherwise reading stops at the first line at or after ``end``, and the log was
    cut when more lines came before it or the server stopped at ``limit_bytes``
    first (its last, partial line is dropped).
    """
    kept: deque[str] = deque(maxlen=max_lines)
    received = before_end = size = 0
    pending = b""

    def take(line: bytes) -> bool:
        nonlocal received, before_end
        received += 1
        stamp = _line_time(line)
        if stamp is not None and stamp >= end:
            return limit_bytes is not None  # stop reading (unless counting a tail)
        before_end += 1
        kept.append(line.decode("utf-8", "replace"))
        return False

    for chunk in chunks:
        size += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if take(line):
                return list(kept), before_end > max_lines
    capped = limit_bytes is not None and size >= limit_bytes
    if pending and not capped and take(pending):
        return list(kept), before_end > max_lines
    if limit_bytes is None:
        return list(kept), received >= max_lines
    return list(kept), capped or before_end > max_lines


def _line_time(line: bytes) -> datetime | None:
    head = line[:40].split(b" ", 1)[0]
    try:
        stamp = datetime.fromisoformat(head.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return stamp if stamp.tzinfo is not None else None


# -- quantities and messages ---------------------------------------------------------------
def parse_quantity(value: str | float | None) -> float:
    """A Kubernetes quantity as a float: ``"250m"`` -> 0.25, ``"128Mi"`` -> 134217728.0.

    CPU comes out in cores, memory in bytes; ``None`` or an unreadable value is NaN.
    """
    if value is None or value == "":
        return float("nan")
    from kubernetes.utils.quantity import parse_quantity as parse

    try:
        return float(parse(value))
    except (ValueError, TypeError, ArithmeticError):
        return float("nan")


def _network_reason(exc: Exception, host: str, timeout: tuple[float, float]) -> str:
    import urllib3.exceptions as u

    inner = exc.reason if isinstance(exc, u.MaxRetryError) and exc.reason else exc
    if isinstance(inner, u.NameResolutionError):
        return f"API server {host} could not be reached: its name does not resolve"
    if isinstance(inner, u.NewConnectionError):
        refused = "refused" in str(inner).lower()
        why = "connection refused" if refused else "no connection"
        return f"API server {host} could not be reached ({why})"
    if isinstance(inner, u.ConnectTimeoutError):
        return f"API server {host} did not answer within {timeout[0]:g} s (connect)"
    if isinstance(inner, (u.ReadTimeoutError, u.TimeoutError)):
        return f"API server {host} did not answer within {timeout[1]:g} s"
    return f"API server {host} dropped the connection ({type(inner).__name__})"


def _safe_host(api_client: Any) -> str:
    """The API server URL without any user:password part."""
    from urllib.parse import urlsplit

    host = str(getattr(api_client.configuration, "host", "") or "")
    parts = urlsplit(host)
    if parts.hostname is None:
        return host
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def _status_text(body: Any) -> str:
    """The first line of the ``message`` of a Kubernetes Status body (or of the body)."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message = str(data.get("message", "") if isinstance(data, dict) else text).strip()
    return message.splitlines()[0][:300] if message else ""


def _status_message(body: Any) -> str:
    """:func:`_status_text`, with anything shaped like a token hidden."""
    return _mask(_status_text(body))


def _forbidden_user(body: Any) -> str:
    match = re.search(r'User "([^"]+)"', _status_text(body))
    return f"user '{match.group(1)}'" if match else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _mask(text: str) -> str:
    """Hide anything shaped like a token or key.

    A run of 32+ base64 / URL-safe characters mixing upper case, lower case and
    digits (JWTs, cloud keys), or of 32+ hex digits. Kubernetes object names are
    lower case, so pod and ReplicaSet names stay readable.
    """

    def hide(match: re.Match[str]) -> str:
        run = match.group()
        mixed = not run.islower() and not run.isupper() and any(c.isdigit() for c in run)
        return "[redacted]" if mixed or _HEX.fullmatch(run) else run

    return _SECRETISH.sub(hide, text)


def _core(source: KubernetesSource) -> Any:
    from kubernetes import client

    return client.CoreV1Api(source.api_client)


def _apps(source: KubernetesSource) -> Any:
    from kubernetes import client

    return client.AppsV1Api(source.api_client)


# -- live_fetch entry point ----------------------------------------------------------------
def fetch(name: str, incident: Incident, window: Window, *, progress: bool = True) -> pd.DataFrame:
    """Fetch ``name`` (one of :data:`FETCH_NAMES`) for ``incident`` from the live cluster.

    The source is built from the environment (:meth:`KubernetesSource.from_environment`).
    For ``logs``, truncated and unreadable container logs are listed in
    ``frame.attrs["notes"]``, which the runbook shows and records as findings,
    so they are never silent. ``progress`` shows a progress bar over the pods.

    Raises
    ------
    SourceUnavailable
        Not configured, unreachable or refused, or ``name`` is not served here.
    """
    check_fetch_name(SOURCE, name, FETCH_NAMES)
    with KubernetesSource.from_environment(
        namespace=incident.namespace,
        selector=incident.label_selector,
    ) as source:
        if name == "logs":
            result = source.logs(window, progress=progress)
            frame = result.frame
            frame.attrs["notes"] = result.notes()
            return frame
        if name == "events":
            return source.events(window)
        if name == "pods":
            return source.pods()
        if name == "pod_usage":
            return source.usage()
        return source.rollouts()
