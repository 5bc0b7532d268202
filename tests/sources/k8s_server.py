"""A fake Kubernetes API server for the tests of ``incident_lib.sources.kubernetes``.

A threaded HTTP server on 127.0.0.1 (port 0) that serves the read paths the
source uses, from objects built with the ``kubernetes`` client's own model
classes and serialised by its own ``ApiClient.sanitize_for_serialization``, so
the payloads have the right shape by construction:

* ``/api/v1/namespaces/{ns}/pods/{name}/log`` (``container``, ``timestamps``,
  ``sinceTime``, ``previous``, ``limitBytes``, ``tailLines``)
* ``/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods`` (plain PodMetrics dicts:
  the client has no model for them)
* any other list, core (``/api/v1/namespaces/{ns}/<resource>``) or of a group
  (``/apis/<group>/<version>/namespaces/{ns}/<resource>``), and the same across all
  namespaces without ``namespaces/{ns}`` (``/api/v1/events``,
  ``/apis/argoproj.io/v1alpha1/applications``): the objects added with
  ``server.add("<resource>", ns, ...)`` (``hpas`` for horizontalpodautoscalers), as
  model objects (``V1Pod``, ``V1StatefulSet``, ``V1Job``...) or plain dicts for
  custom resources. ``labelSelector`` (equality terms) and ``fieldSelector``
  (``a.b=c`` terms) filter; an ``Accept`` header asking for
  ``as=PartialObjectMetadataList`` gets only each item's metadata, as the API server does.

Lists honour ``limit`` / ``continue``. Every request is recorded with its body
(:attr:`FakeKubeServer.requests`); :meth:`FakeKubeServer.fail` makes a path
answer 401 / 403 / 404 / ... with a realistic ``Status`` body (for a write verb,
``cannot patch resource "deployments"``) and :meth:`FakeKubeServer.hang` makes
it never answer (until the server closes).

Writes, for the mitigation actions (``incident_lib.actions``):

* ``GET`` of one namespaced object (``.../deployments/<name>``,
  ``.../replicasets/<name>``, ``.../controllerrevisions/<name>``...), 404 with a
  ``NotFound`` Status when there is none;
* ``PATCH`` of one object, as a JSON merge patch
  (``application/merge-patch+json``, RFC 7386: ``null`` deletes, lists replace) or
  a strategic merge patch (``application/strategic-merge-patch+json``: lists of
  named items such as containers merge by ``name``, ``$patch: replace`` replaces a
  map), applied to the stored object's dict (which then replaces it). The
  object's ``metadata.resourceVersion`` goes up by one, and its
  ``metadata.generation`` when the ``spec`` changed; a patch carrying a
  ``metadata.resourceVersion`` other than the stored one answers 409 ``Conflict``
  (nothing changes), as the API server does; ``dryRun=All`` answers the object as
  if patched and stores nothing;
* the ``scale`` subresource (``GET`` and ``PATCH``): an ``autoscaling/v1``
  ``Scale`` of the object's ``spec.replicas``;
* ``POST`` of a new object to a namespaced collection (``.../namespaces/<ns>/jobs``):
  stored as posted, with ``metadata.uid``, ``resourceVersion`` and
  ``creationTimestamp`` filled, answered 201 with the object; 409 ``AlreadyExists``
  when the name is taken;
* :meth:`FakeKubeServer.script_status`: the ``status`` each later ``GET`` of an
  object finds, one per request (a rollout progressing).

An object without a ``metadata.resourceVersion`` has resourceVersion ``"1"``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from loopback import LoopbackServer

__all__ = [
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "FakeKubeServer",
    "Recorded",
    "merge_patch",
    "rfc3339nano",
    "strategic_merge_patch",
]

SERVICE_ACCOUNT = "system:serviceaccount:prod:incident-bot"

_ROUTES = [
    ("log", re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")),
    ("metrics", re.compile(r"^/apis/metrics.k8s.io/v1beta1/namespaces/(?P<ns>[^/]+)/pods$")),
    # one object of a namespace, or its scale subresource
    (
        "object",
        re.compile(
            r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
            r"/namespaces/(?P<ns>[^/]+)/(?P<resource>[a-z]+)/(?P<name>[^/]+)(?:/(?P<sub>scale))?$"
        ),
    ),
    # any other collection: core (/api/v1) or a group (/apis/<group>/<version>), namespaced
    # or across all namespaces (no ns group: the union of every namespace's items)
    (
        "collection",
        re.compile(
            r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
            r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[a-z]+)$"
        ),
    ),
]
#: URL resource name -> the collection name used with :meth:`FakeKubeServer.add`, where they differ
_COLLECTIONS = {"horizontalpodautoscalers": "hpas"}
#: collection -> (list kind, apiVersion, RBAC resource, API group); others: ``List``
_LISTS = {
    "pods": ("PodList", "v1", "pods", ""),
    "deployments": ("DeploymentList", "apps/v1", "deployments", "apps"),
    "replicasets": ("ReplicaSetList", "apps/v1", "replicasets", "apps"),
    "statefulsets": ("StatefulSetList", "apps/v1", "statefulsets", "apps"),
    "daemonsets": ("DaemonSetList", "apps/v1", "daemonsets", "apps"),
    "controllerrevisions": ("ControllerRevisionList", "apps/v1", "controllerrevisions", "apps"),
    "jobs": ("JobList", "batch/v1", "jobs", "batch"),
    "cronjobs": ("CronJobList", "batch/v1", "cronjobs", "batch"),
    "events": ("EventList", "v1", "events", ""),
    "nodes": ("NodeList", "v1", "nodes", ""),
    "metrics": ("PodMetricsList", "metrics.k8s.io/v1beta1", "pods", "metrics.k8s.io"),
    "configmaps": ("ConfigMapList", "v1", "configmaps", ""),
    "secrets": ("SecretList", "v1", "secrets", ""),
    "hpas": (
        "HorizontalPodAutoscalerList",
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "autoscaling",
    ),
}
#: content types of the patches served
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
#: the verb a write method needs in RBAC terms
_VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}
#: the Accept header of a metadata-only list (``kubectl get --output-watch-events``, Helm)
_METADATA_ONLY = "as=PartialObjectMetadataList"


def rfc3339nano(moment: datetime) -> str:
    """The kubelet's timestamp format: RFC 3339 with trailing zeros of the fraction trimmed."""
    moment = moment.astimezone(UTC)
    frac = f"{moment.microsecond:06d}000".rstrip("0")
    return f"{moment:%Y-%m-%dT%H:%M:%S}" + (f".{frac}" if frac else "") + "Z"


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str = ""

    def json(self) -> Any:
        """The body, parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int | None  # None: hang
    message: str | None


@dataclass
class FakeKubeServer(LoopbackServer):
    """The fake API server; use as a context manager (``with FakeKubeServer() as kube:``).

    Attributes
    ----------
    objects
        ``(collection, namespace)`` -> model objects (``V1Pod``, ``V1Deployment``...).
    metrics
        namespace -> PodMetrics dicts.
    logs
        ``(namespace, pod, container, previous)`` -> ``[(time, line), ...]``.
    log_delay
        Seconds each log request takes (to make concurrency observable).
    """

    objects: dict[tuple[str, str], list[Any]] = field(default_factory=lambda: defaultdict(list))
    metrics: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    logs: dict[tuple[str, str, str, bool], list[tuple[datetime, str]]] = field(default_factory=dict)
    log_delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    max_logs_in_flight: int = 0
    statuses: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: int = 0
    _created: int = 0

    # -- lifecycle ---------------------------------------------------------------
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler bound to this fake."""
        return _Handler

    def kubeconfig(self, path: Path, *, token: str = "t0ken", namespace: str = "") -> Path:
        """Write a kubeconfig whose one (current) context points at this server; return it."""
        context: dict[str, str] = {"cluster": "fake", "user": "u"}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "fake", "context": context}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    def api_client(self, *, token: str | None = None, retries: int | bool = False) -> Any:
        """A real ``kubernetes.client.ApiClient`` pointed at this server."""
        from kubernetes import client

        configuration = client.Configuration(host=self.url)
        configuration.retries = retries
        if token is not None:
            configuration.api_key = {"BearerToken": token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return client.ApiClient(configuration)

    # -- content and behaviour ---------------------------------------------------
    def add(self, collection: str, namespace: str, *items: Any) -> None:
        """Serve ``items`` (model objects) in ``collection`` of ``namespace``."""
        self.objects[(collection, namespace)].extend(items)

    def add_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        lines: list[tuple[datetime, str]],
        *,
        previous: bool = False,
    ) -> None:
        """Serve ``lines`` as the log of one container (instance)."""
        self.logs[(namespace, pod, container, previous)] = sorted(lines, key=lambda x: x[0])

    def fail(self, path: str, status: int, message: str | None = None) -> None:
        """Answer ``status`` (with a Status body) to requests whose path matches ``path``."""
        self._faults.append(_Fault(re.compile(path), status, message))

    def script_status(
        self, collection: str, namespace: str, name: str, *statuses: dict[str, Any]
    ) -> None:
        """Each later ``GET`` of that object finds the next of ``statuses`` (the last stays)."""
        self.statuses[(collection, namespace, name)] = list(statuses)

    def get(self, collection: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object ``name`` as the server would serve it (None when absent)."""
        index = self._find(collection, namespace, name)
        if index is None:
            return None
        return _with_version(_serialize(self.objects[(collection, namespace)][index]))

    def writes(self) -> list[Recorded]:
        """The recorded requests that could change something (any method but GET)."""
        return [r for r in self.requests if r.method != "GET"]

    def hang(self, path: str) -> None:
        """Never answer requests whose path matches ``path`` (until :meth:`close`)."""
        self._faults.append(_Fault(re.compile(path), None, None))

    # -- serving -----------------------------------------------------------------
    def handle(self, handler: _Handler) -> None:
        path, query, headers = self.request_parts(handler)
        length = int(headers.get("content-length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        with self._lock:
            self.requests.append(Recorded(handler.command, path, query, headers, body))
        route, match = next(
            ((name, m) for name, rx in _ROUTES if (m := rx.match(path))), (None, None)
        )
        for fault in self._faults:
            if fault.pattern.search(path):
                if fault.status is None:
                    self._closing.wait(30)
                    return
                handler.send_json(
                    fault.status, self._status(fault, route, match, path, handler.command)
                )
                return
        if route is None or match is None:
            handler.send_json(
                404,
                _status_body(404, "NotFound", "the server could not find the requested resource"),
            )
            return
        if route == "log":
            self._serve_log(handler, match["ns"], match["name"], query)
            return
        if route == "object":
            with self._lock:
                status, payload = self._object(handler.command, match, query, headers, body)
            handler.send_json(status, payload)
            return
        if route == "collection" and handler.command == "POST" and match["ns"]:
            with self._lock:
                status, payload = self._create(match, body)
            handler.send_json(status, payload)
            return
        collection = "metrics" if route == "metrics" else _collection(match)
        listed = self._list(collection, match["ns"], query)
        if _METADATA_ONLY in headers.get("accept", "").replace(" ", ""):
            listed = _metadata_only(listed)
        handler.send_json(200, listed)

    def _list(self, route: str, namespace: str | None, query: dict[str, str]) -> dict[str, Any]:
        """One page of ``route`` in ``namespace`` (every namespace when None)."""
        kind, api_version, _, _ = _LISTS.get(route, ("List", "v1", route, ""))
        if route == "metrics":
            items = list(self.metrics.get(namespace or "", []))
        else:
            items = [
                _serialize(o)
                for (collection, ns), objects in self.objects.items()
                if collection == route and (namespace is None or ns == namespace)
                for o in objects
            ]
        if "labelSelector" in query:
            items = [i for i in items if _labels_match(query["labelSelector"], i)]
        if "fieldSelector" in query:
            items = [i for i in items if _fields_match(query["fieldSelector"], i)]
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items) or 1
        page = items[start : start + limit]
        more = start + limit < len(items)
        metadata = {"resourceVersion": "12345"}
        if more:
            metadata["continue"] = str(start + limit)
        return {"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": page}

    # -- create: POST of a new object to a namespaced collection ----------------------
    def _create(self, match: re.Match[str], body: str) -> tuple[int, dict[str, Any]]:
        """Store the posted object (201, with uid, resourceVersion, creationTimestamp)."""
        collection, namespace = _collection(match), match["ns"]
        group = match["group"] or ""
        plural = match["resource"]
        qualified = f"{plural}.{group}" if group else plural
        try:
            obj = json.loads(body or "null")
        except ValueError:
            return 400, _status_body(400, "BadRequest", "the body of the request is not JSON")
        if not isinstance(obj, dict) or not (obj.get("metadata") or {}).get("name"):
            return 422, _status_body(422, "Invalid", f"{qualified}: metadata.name: Required value")
        name = obj["metadata"]["name"]
        if self._find(collection, namespace, name) is not None:
            return 409, _status_body(
                409,
                "AlreadyExists",
                f'{qualified} "{name}" already exists',
                name=name,
                group=group,
                kind=plural,
            )
        self._created += 1
        metadata = obj["metadata"]
        metadata["namespace"] = namespace
        metadata["uid"] = f"00000000-0000-4000-8000-{self._created:012d}"
        metadata["resourceVersion"] = "1"
        metadata["creationTimestamp"] = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
        self.objects[(collection, namespace)].append(obj)
        return 201, copy.deepcopy(obj)

    # -- one object: get, patch, scale ---------------------------------------------
    def _find(self, collection: str, namespace: str, name: str) -> int | None:
        objects = self.objects.get((collection, namespace), [])
        for index, obj in enumerate(objects):
            if (_serialize(obj).get("metadata") or {}).get("name") == name:
                return index
        return None

    def _object(
        self,
        method: str,
        match: re.Match[str],
        query: dict[str, str],
        headers: dict[str, str],
        body: str,
    ) -> tuple[int, dict[str, Any]]:
        """The answer to a GET or PATCH of one object (or of its scale)."""
        collection, namespace, name, sub = (
            _collection(match),
            match["ns"],
            match["name"],
            match["sub"],
        )
        group = match["group"] or ""
        plural = match["resource"]
        qualified = f"{plural}.{group}" if group else plural
        index = self._find(collection, namespace, name)
        if index is None:
            return 404, _status_body(
                404,
                "NotFound",
                f'{qualified} "{name}" not found',
                name=name,
                group=group,
                kind=plural,
            )
        stored = self.objects[(collection, namespace)]
        current = _with_version(_serialize(stored[index]))
        if method == "GET":
            scripted = self.statuses.get((collection, namespace, name))
            if scripted:
                current["status"] = scripted.pop(0) if len(scripted) > 1 else scripted[0]
                stored[index] = current
            return 200, _scale_of(current) if sub else current
        if method != "PATCH":
            return 405, _status_body(405, "MethodNotAllowed", f"{method} is not supported here")
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
            return 415, _status_body(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {content_type}",
            )
        try:
            patch = json.loads(body or "null")
        except ValueError:
            return 400, _status_body(400, "BadRequest", "the body of the request is not JSON")
        if not isinstance(patch, dict):
            return 400, _status_body(400, "BadRequest", "the patch is not a JSON object")
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        version = current["metadata"]["resourceVersion"]
        if wanted is not None and str(wanted) != version:
            return 409, _status_body(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {qualified} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                name=name,
                group=group,
                kind=plural,
            )
        if sub:  # a Scale: only spec.replicas reaches the object
            replicas = (patch.get("spec") or {}).get("replicas")
            patch = {"spec": {"replicas": replicas}} if replicas is not None else {}
        merge = merge_patch if content_type == MERGE_PATCH else strategic_merge_patch
        updated = merge(copy.deepcopy(current), patch)
        updated.setdefault("metadata", {})["resourceVersion"] = str(int(version) + 1)
        if updated.get("spec") != current.get("spec"):
            updated["metadata"]["generation"] = int(current["metadata"].get("generation") or 1) + 1
        if query.get("dryRun") != "All":
            stored[index] = updated
        return 200, _scale_of(updated) if sub else updated

    def _serve_log(
        self, handler: _Handler, namespace: str, pod: str, query: dict[str, str]
    ) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_logs_in_flight = max(self.max_logs_in_flight, self._in_flight)
        try:
            if self.log_delay:
                time.sleep(self.log_delay)
            self._write_log(handler, namespace, pod, query)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _write_log(
        self, handler: _Handler, namespace: str, pod: str, query: dict[str, str]
    ) -> None:
        container = query.get("container", "")
        previous = query.get("previous") == "true"
        pods = [_serialize(p) for p in self.objects.get(("pods", namespace), [])]
        if not any(p["metadata"]["name"] == pod for p in pods):
            handler.send_json(404, _status_body(404, "NotFound", f'pods "{pod}" not found'))
            return
        lines = self.logs.get((namespace, pod, container, previous))
        if lines is None:
            message = (
                f'previous terminated container "{container}" in pod "{pod}" not found'
                if previous
                else f'container "{container}" in pod "{pod}" is waiting to start: '
                "ContainerCreating"
            )
            handler.send_json(400, _status_body(400, "BadRequest", message))
            return
        if "sinceTime" in query:
            since = datetime.fromisoformat(query["sinceTime"])
            lines = [(t, text) for t, text in lines if t >= since]
        if "tailLines" in query:
            tail = int(query["tailLines"])
            lines = lines[-tail:] if tail else []
        stamped = query.get("timestamps") == "true"
        body = "".join(
            f"{rfc3339nano(t)} {text}\n" if stamped else f"{text}\n" for t, text in lines
        ).encode()
        if "limitBytes" in query:
            body = body[: int(query["limitBytes"])]
        handler.send_bytes(200, body, "text/plain")

    def _status(
        self,
        fault: _Fault,
        route: str | None,
        match: re.Match[str] | None,
        path: str,
        method: str = "GET",
    ) -> dict[str, Any]:
        reasons = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "NotFound",
            503: "ServiceUnavailable",
        }
        reason = reasons.get(fault.status or 0, "InternalError")
        message = fault.message
        if message is None and fault.status == 401:
            message = "Unauthorized"
        if message is None and fault.status == 403 and route is not None and match:
            collection = route if route in ("log", "metrics") else _collection(match)
            resource = match.groupdict().get("resource") or "pods"
            _, _, resource, group = _LISTS.get(
                collection, ("", "", resource, match.groupdict().get("group") or "")
            )
            verb, what = ("list", resource) if route != "log" else ("get", "pods/log")
            subject = f'pods "{match["name"]}"' if route == "log" else resource
            if route == "collection" and method == "POST":
                verb, subject = "create", f"{resource}{'.' + group if group else ''}"
            if route == "object":
                verb = _VERBS.get(method, method.lower())
                what = resource + ("/scale" if match["sub"] else "")
                subject = f'{resource}{"." + group if group else ""} "{match["name"]}"'
            scope = f'in the namespace "{match["ns"]}"' if match["ns"] else "at the cluster scope"
            message = (
                f'{subject} is forbidden: User "{SERVICE_ACCOUNT}" cannot {verb} resource '
                f'"{what}" in API group "{group}" {scope}'
            )
        if message is None and fault.status == 404:
            message = "the server could not find the requested resource"
        return _status_body(fault.status or 500, reason, message or reason)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        try:
            self.fake.handle(self)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            self.close_connection = True

    do_PATCH = do_GET
    do_POST = do_GET

    def send_json(self, status: int, payload: Any) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json")

    def send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


_SERIALIZER: list[Any] = []


def _serialize(obj: Any) -> Any:
    """``obj`` as JSON-ready data, by the client's own ``sanitize_for_serialization``."""
    if not _SERIALIZER:
        from kubernetes import client

        _SERIALIZER.append(client.ApiClient())
    return _SERIALIZER[0].sanitize_for_serialization(obj)


def _collection(match: re.Match[str]) -> str:
    """The collection a ``collection`` route names (``horizontalpodautoscalers`` -> ``hpas``)."""
    resource = match["resource"]
    return _COLLECTIONS.get(resource, resource)


def _metadata_only(listed: dict[str, Any]) -> dict[str, Any]:
    """A list as ``PartialObjectMetadataList``: each item's metadata, nothing else."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": listed["metadata"],
        "items": [
            {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item.get("metadata") or {},
            }
            for item in listed["items"]
        ],
    }


def _status_body(
    code: int,
    reason: str,
    message: str,
    *,
    name: str | None = None,
    group: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    from kubernetes import client

    details = (
        client.V1StatusDetails(name=name, group=group, kind=kind) if name is not None else None
    )
    status = client.V1Status(
        api_version="v1",
        kind="Status",
        metadata=client.V1ListMeta(),
        status="Failure",
        message=message,
        reason=reason,
        details=details,
        code=code,
    )
    body: dict[str, Any] = _serialize(status)
    return body


def _with_version(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with a ``metadata.resourceVersion`` (``"1"`` when it had none)."""
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("resourceVersion", "1")
    return obj


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a Deployment or StatefulSet (its scale subresource)."""
    metadata = obj.get("metadata") or {}
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "resourceVersion": metadata.get("resourceVersion"),
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
        },
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch, as far as workloads need it.

    Maps merge (``null`` deletes), ``$patch: replace`` replaces a map, lists of
    maps that all have a ``name`` (containers, env, volumes, ports) merge item by
    item on it, other lists replace.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif _named_list(value) and _named_list(result.get(key)):
            merged = [dict(item) for item in result[key]]
            for item in value:
                names = [m["name"] for m in merged]
                if item["name"] in names:
                    at = names.index(item["name"])
                    merged[at] = strategic_merge_patch(merged[at], item)
                else:
                    merged.append(copy.deepcopy(item))
            result[key] = merged
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, dict) and "name" in i for i in value)
    )


def _labels_match(selector: str, item: dict[str, Any]) -> bool:
    """Equality-based selectors (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``), comma-joined."""
    labels = (item.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            ok = labels.get(key.strip()) != value.strip()
        elif "=" in term:
            key, value = re.split(r"==?", term, maxsplit=1)
            ok = labels.get(key.strip()) == value.strip()
        elif term.startswith("!"):
            ok = term[1:] not in labels
        else:
            ok = term in labels
        if not ok:
            return False
    return True


def _fields_match(selector: str, item: dict[str, Any]) -> bool:
    """``a.b=c`` terms over the serialised object (as the API server's field selectors)."""
    for term in filter(None, selector.split(",")):
        path, value = term.split("=", 1)
        node: Any = item
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if str(node) != value:
            return False
    return True
