"""Rows of the ``k8s_terminations`` frame: container terminations, also of pods deleted since.

Three kinds of evidence, one row per termination (``source``):

``status``
    The current pods' container statuses: ``state.terminated`` and
    ``lastState.terminated`` of app, init and ephemeral containers (reason
    ``OOMKilled``, ``Error``, ``Completed``..., exit code, ``finishedAt``), and a
    failed pod's own reason (``Evicted``, ``NodeShutdown``...; container empty).
``event``
    Pod events of pods that no longer exist but were the service's: the pod's
    name is ``<replicaset>-<5 chars>`` of one of the service's ReplicaSets
    (current or previous), ``<deployment>-<hash>-<5 chars>`` of one of its
    Deployments, ``<statefulset>-<ordinal>`` or ``<daemonset>-<5 chars>`` of a
    workload owning its current pods. Reasons kept (``reason`` column):

    * ``Killing`` "Stopping container X": the container was stopped (deletion,
      scale-down, rollout) -> ``Killing``; "Container X failed liveness probe,
      will be restarted" (or startup probe) -> ``LivenessKilled``;
    * ``BackOff`` "Back-off restarting failed container": a crash loop -> ``BackOff``;
    * ``Evicted`` -> ``Evicted``; ``Preempting`` / ``Preempted`` -> ``Preempted``;
      ``NodeShutdown`` / ``Shutdown`` / ``Terminated`` (graceful node shutdown) ->
      ``NodeShutdown``; ``OOMKilling`` / ``OOMKilled`` on a pod -> ``OOMKilled``.

    An aggregated event stands for ``count`` occurrences (rows); the first is at
    its first time, the last at its last, those between at an unknown time (NaT).
    A ``BackOff`` event is one row whatever its count (the kubelet repeats it while
    it waits: its count is not a number of crashes).
``node-event``
    ``OOMKilling`` events of the nodes the service's pods ran on (the kernel's OOM
    killer: "Memory cgroup out of memory: Killed process 1234 (java) ...", from
    node-problem-detector), reason ``OOMKilled``, exit code 137. A deleted pod's
    node is read from its ``Scheduled`` event ("Successfully assigned ns/pod to
    node"). Such an event names a process, not a container: it is given to the
    service's pod that ran on that node at that time when there is exactly one
    (and to its container when it had one), else ``pod`` stays empty. One OOM
    kill seen both by a container status and by a node event (same node, within
    :data:`SAME_KILL`) is one row, the status's, with the kernel's message.

Pure functions over API objects (or :class:`EventSeen`); no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.errors import SourceUnavailable
from ...core.schema import conform, empty_frame
from ..base import Fetched
from .pods import event_times

if TYPE_CHECKING:
    import pandas as pd

    from ...core.time import Window

__all__ = [
    "MAX_OCCURRENCES",
    "NODE_EVENTS_REFUSED",
    "SAME_KILL",
    "EventSeen",
    "PodLife",
    "ServicePods",
    "collect",
    "event_rows",
    "event_seen",
    "in_window",
    "merge_node_ooms",
    "node_oom_rows",
    "pod_lives",
    "service_pods",
    "status_rows",
    "terminations_frame",
]

#: a container status and a node event this close in time are the same OOM kill
SAME_KILL = timedelta(seconds=60)
#: most rows one aggregated event gives (its count beyond is not expanded)
MAX_OCCURRENCES = 100
_OOM_EXIT = 137.0
_STOPPING = re.compile(r"Stopping container (?P<c>\S+)")
_PROBE = re.compile(r"Container (?P<c>\S+) failed (?:liveness|startup) probe")
_BACKOFF = re.compile(r"restarting failed container (?P<c>\S+?)(?: in pod|$|\s)")
_STARTED = re.compile(r"Started container (?P<c>\S+)")
_ASSIGNED = re.compile(r"Successfully assigned (?:[^/\s]+/)?(?P<pod>\S+) to (?P<node>\S+)")
#: Pod event reason -> the row's reason (see the module docstring)
_POD_REASONS = {
    "BackOff": "BackOff",
    "Evicted": "Evicted",
    "Preempting": "Preempted",
    "Preempted": "Preempted",
    "NodeShutdown": "NodeShutdown",
    "Shutdown": "NodeShutdown",
    "Terminated": "NodeShutdown",
    "OOMKilling": "OOMKilled",
    "OOMKilled": "OOMKilled",
}


@dataclass(frozen=True, slots=True)
class EventSeen:
    """What one core v1 event says: about which object, why, when and how often."""

    kind: str
    name: str
    reason: str
    message: str
    first: datetime | None
    last: datetime | None
    count: int = 1


def event_seen(ev: Any) -> EventSeen:
    """The :class:`EventSeen` of a ``CoreV1Event`` (old- or new-style times)."""
    first, last, count = event_times(ev)
    obj = ev.involved_object
    return EventSeen(
        kind=str(obj.kind or "") if obj is not None else "",
        name=str(obj.name or "") if obj is not None else "",
        reason=str(ev.reason or ""),
        message=" ".join(str(ev.message or "").split()),
        first=first,
        last=last,
        count=count,
    )


@dataclass(frozen=True, slots=True)
class PodLife:
    """A pod of the service on a node, from ``start`` to ``end`` (None: open)."""

    pod: str
    node: str
    workload: str
    deleted: bool
    start: datetime | None = None
    end: datetime | None = None
    containers: tuple[str, ...] = ()

    def ran_at(self, moment: datetime) -> bool:
        """Whether the pod was on its node at ``moment`` (open ends count as always)."""
        return (self.start is None or self.start <= moment + SAME_KILL) and (
            self.end is None or moment <= self.end + SAME_KILL
        )


@dataclass(frozen=True, slots=True)
class ServicePods:
    """Recognises the service's pods by name (see the module docstring).

    Parameters
    ----------
    replicasets
        ReplicaSet name -> its Deployment's name (current and previous ReplicaSets).
    deployments
        The service's Deployment names.
    ordinals
        StatefulSets owning its pods (pods ``<name>-<ordinal>``).
    suffixed
        DaemonSets (and bare ReplicaSets) owning its pods (pods ``<name>-<5 chars>``).
    """

    replicasets: Mapping[str, str] = field(default_factory=dict)
    deployments: tuple[str, ...] = ()
    ordinals: tuple[str, ...] = ()
    suffixed: tuple[str, ...] = ()

    def workload(self, pod: str) -> str | None:
        """The workload ``pod`` belongs to, or None when it is not the service's."""
        head, _, tail = pod.rpartition("-")
        if not head:
            return None
        if re.fullmatch(r"[a-z0-9]{5}", tail):
            if head in self.replicasets:
                return self.replicasets[head] or head
            if head in self.suffixed:
                return head
            dep, _, rs_hash = head.rpartition("-")
            if dep in self.deployments and re.fullmatch(r"[a-z0-9]{6,10}", rs_hash):
                return dep
        if tail.isdigit() and head in self.ordinals:
            return head
        return None


def _owner(pod: Any) -> tuple[str, str]:
    for ref in pod.metadata.owner_references or []:
        if ref.controller or len(pod.metadata.owner_references) == 1:
            return str(ref.kind), str(ref.name)
    return "", ""


def status_rows(pod: Any, workload: str) -> list[dict[str, Any]]:
    """Rows of the terminated states of ``pod`` (a ``V1Pod``) and of its own failure.

    Every container (init, app, ephemeral): ``state.terminated`` and
    ``lastState.terminated``; a ``Failed`` pod with a reason (``Evicted``...) gives
    one more row without a container.
    """
    status = pod.status
    if status is None:
        return []
    base = {
        "pod": pod.metadata.name,
        "node": (pod.spec.node_name if pod.spec is not None else None) or "",
        "workload": workload,
        "source": "status",
        "pod_deleted": False,
    }
    rows: list[dict[str, Any]] = []
    for group in (
        status.init_container_statuses,
        status.container_statuses,
        status.ephemeral_container_statuses,
    ):
        for cs in group or []:
            for state in (cs.state, cs.last_state):
                ended = state.terminated if state is not None else None
                if ended is None:
                    continue
                rows.append(
                    base
                    | {
                        "container": cs.name,
                        "reason": ended.reason or f"exit {ended.exit_code}",
                        "exit_code": float(ended.exit_code)
                        if ended.exit_code is not None
                        else float("nan"),
                        "finished_at": ended.finished_at,
                        "message": " ".join(str(ended.message or "").split()),
                    }
                )
    if status.phase == "Failed" and status.reason:
        rows.append(
            base
            | {
                "container": "",
                "reason": status.reason,
                "exit_code": float("nan"),
                "finished_at": _pod_failed_at(pod),
                "message": " ".join(str(status.message or "").split()),
            }
        )
    return rows


def _pod_failed_at(pod: Any) -> datetime | None:
    times = [
        c.last_transition_time
        for c in pod.status.conditions or []
        if c.last_transition_time is not None and c.status == "False"
    ]
    return max(times) if times else None


def pod_lives(
    pods: Iterable[Any], events: Iterable[EventSeen], service: ServicePods
) -> dict[str, PodLife]:
    """Where and when each of the service's pods ran: current pods, and deleted ones.

    A deleted pod's node is that of its ``Scheduled`` event; it ran from that
    event to its last event; its containers are those its events started or stopped.
    """
    lives: dict[str, PodLife] = {}
    for pod in pods:
        kind, name = _owner(pod)
        spec = pod.spec
        containers = tuple(c.name for c in (spec.containers or [])) if spec is not None else ()
        status = pod.status
        lives[pod.metadata.name] = PodLife(
            pod=pod.metadata.name,
            node=(spec.node_name if spec is not None else None) or "",
            workload=_workload_of(pod.metadata.name, kind, name, service),
            deleted=False,
            start=(status.start_time if status is not None else None)
            or pod.metadata.creation_timestamp,
            containers=containers,
        )
    seen: dict[str, list[EventSeen]] = {}
    for ev in events:
        if ev.kind == "Pod" and ev.name not in lives and service.workload(ev.name) is not None:
            seen.setdefault(ev.name, []).append(ev)
    for name, evs in seen.items():
        node = next(
            (
                m["node"]
                for e in evs
                if e.reason == "Scheduled" and (m := _ASSIGNED.search(e.message))
            ),
            "",
        )
        firsts = [e.first for e in evs if e.first is not None]
        lasts = [e.last for e in evs if e.last is not None]
        named = {
            m["c"]
            for e in evs
            for rx in (_STARTED, _STOPPING)
            if (m := rx.search(e.message)) is not None
        }
        lives[name] = PodLife(
            pod=name,
            node=node,
            workload=service.workload(name) or "",
            deleted=True,
            start=min(firsts) if firsts else None,
            end=max(lasts) if lasts else None,
            containers=tuple(sorted(named)),
        )
    return lives


def _workload_of(pod: str, kind: str, owner: str, service: ServicePods) -> str:
    if kind == "ReplicaSet":
        return service.replicasets.get(owner) or owner
    if owner:
        return owner
    return service.workload(pod) or ""


def _occurrences(ev: EventSeen) -> list[datetime | None]:
    """When each of the event's ``count`` occurrences happened (NaT between first and last)."""
    n = max(1, min(ev.count, MAX_OCCURRENCES))
    if n == 1:
        return [ev.last or ev.first]
    return [ev.first, *([None] * (n - 2)), ev.last]


def event_rows(
    events: Iterable[EventSeen], lives: Mapping[str, PodLife], window: Window
) -> list[dict[str, Any]]:
    """Rows of the Pod events of the service's deleted pods that touch ``window``."""
    rows: list[dict[str, Any]] = []
    for ev in events:
        life = lives.get(ev.name)
        if ev.kind != "Pod" or life is None or not life.deleted or not _touches(ev, window):
            continue
        reason = _POD_REASONS.get(ev.reason)
        container = ""
        if ev.reason == "Killing":
            probe = _PROBE.search(ev.message)
            stop = probe or _STOPPING.search(ev.message)
            reason = "LivenessKilled" if probe else "Killing"
            container = stop["c"] if stop else ""
        elif ev.reason == "BackOff":
            backoff = _BACKOFF.search(ev.message)
            if backoff is None:
                continue  # image pull back-off: nothing terminated
            container = backoff["c"]
        if reason is None:
            continue
        when = [ev.last or ev.first] if reason == "BackOff" else _occurrences(ev)
        for moment in when:
            rows.append(
                {
                    "pod": ev.name,
                    "container": container,
                    "node": life.node,
                    "workload": life.workload,
                    "reason": reason,
                    "exit_code": _OOM_EXIT if reason == "OOMKilled" else float("nan"),
                    "finished_at": moment,
                    "source": "event",
                    "pod_deleted": True,
                    "message": ev.message,
                }
            )
    return rows


def _touches(ev: EventSeen, window: Window) -> bool:
    first, last = ev.first or ev.last, ev.last or ev.first
    return first is not None and last is not None and last >= window.start and first < window.end


def node_oom_rows(
    events: Iterable[EventSeen], lives: Mapping[str, PodLife], window: Window
) -> list[dict[str, Any]]:
    """Rows of the ``OOMKilling`` Node events of the service's nodes that touch ``window``."""
    nodes = {life.node for life in lives.values() if life.node}
    rows: list[dict[str, Any]] = []
    for ev in events:
        if ev.kind != "Node" or ev.reason != "OOMKilling" or ev.name not in nodes:
            continue
        if not _touches(ev, window):
            continue
        for moment in _occurrences(ev):
            there = [
                life
                for life in lives.values()
                if life.node == ev.name and (moment is None or life.ran_at(moment))
            ]
            one = there[0] if len(there) == 1 else None
            rows.append(
                {
                    "pod": one.pod if one else "",
                    "container": one.containers[0] if one and len(one.containers) == 1 else "",
                    "node": ev.name,
                    "workload": one.workload if one else "",
                    "reason": "OOMKilled",
                    "exit_code": _OOM_EXIT,
                    "finished_at": moment,
                    "source": "node-event",
                    "pod_deleted": bool(one and one.deleted),
                    "message": ev.message,
                }
            )
    return rows


def merge_node_ooms(
    rows: list[dict[str, Any]], node_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``rows`` plus the node OOM kills that no status row already holds.

    A status row ``OOMKilled`` on the same node within :data:`SAME_KILL` of a node
    event is that kill: the node row is dropped and its message (the kernel's,
    with the process and its memory) fills the status row's when empty. Each
    status row takes at most one node event, the nearest.
    """
    out = [dict(r) for r in rows]
    free = [
        i
        for i, r in enumerate(out)
        if r["source"] == "status" and r["reason"] == "OOMKilled" and r["finished_at"] is not None
    ]
    kept: list[dict[str, Any]] = []
    for node_row in node_rows:
        moment = node_row["finished_at"]
        near = [
            (abs(out[i]["finished_at"] - moment), i)
            for i in free
            if moment is not None
            and out[i]["node"] == node_row["node"]
            and abs(out[i]["finished_at"] - moment) <= SAME_KILL
        ]
        if not near:
            kept.append(node_row)
            continue
        _, best = min(near)
        free.remove(best)
        if not out[best]["message"]:
            out[best]["message"] = node_row["message"]
    return out + kept


def terminations_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The ``k8s_terminations`` frame of ``rows``, by time (unknown times last), then pod."""
    import pandas as pd

    if not rows:
        return empty_frame("k8s_terminations")
    frame = conform(pd.DataFrame(rows), "k8s_terminations")
    frame = frame.sort_values(
        ["finished_at", "pod", "container"], na_position="last", kind="stable"
    )
    return frame.reset_index(drop=True)


def service_pods(
    deployments: Iterable[Any], replicasets: Iterable[Any], pods: Iterable[Any]
) -> ServicePods:
    """The :class:`ServicePods` of the service's Deployments, their ReplicaSets and its pods."""
    names = tuple(sorted(str(d.metadata.name) for d in deployments))
    owned: dict[str, str] = {}
    for rs in replicasets:
        for ref in rs.metadata.owner_references or []:
            if ref.kind == "Deployment" and ref.name in names:
                owned[str(rs.metadata.name)] = str(ref.name)
    ordinals: set[str] = set()
    suffixed: set[str] = set()
    for pod in pods:
        kind, name = _owner(pod)
        if kind == "StatefulSet":
            ordinals.add(name)
        elif kind == "DaemonSet" or (kind == "ReplicaSet" and name not in owned):
            suffixed.add(name)
    return ServicePods(owned, names, tuple(sorted(ordinals)), tuple(sorted(suffixed)))


def in_window(rows: Iterable[dict[str, Any]], window: Window) -> list[dict[str, Any]]:
    """The rows that ended inside ``window`` (or at an unknown time)."""
    return [
        r for r in rows if r["finished_at"] is None or window.start <= r["finished_at"] < window.end
    ]


#: the note when the cluster-scope read of Node events is refused
NODE_EVENTS_REFUSED = (
    "Node events not readable (RBAC: list events at cluster scope is refused); OOM kills "
    "seen only by the kernel are unknown, not absent — grant 'list' on 'events' (API group "
    '"") in a ClusterRole bound to this identity to see them'
)


def collect(
    window: Window,
    *,
    pods: list[Any],
    workloads: Callable[[], tuple[list[Any], list[Any]]],
    pod_events: Callable[[], list[Any]],
    node_events: Callable[[], list[Any]],
) -> Fetched:
    """The ``k8s_terminations`` frame and its notes, from the readers of a source.

    Parameters
    ----------
    window
        Rows that ended in it (status) or events that touched it.
    pods
        The service's current pods (``V1Pod``).
    workloads
        Returns the service's Deployments and ReplicaSets (current and previous).
    pod_events
        Returns the namespace's Pod events (``CoreV1Event``).
    node_events
        Returns the cluster's ``OOMKilling`` Node events; called only when the
        service's pods ran on a known node. Optional: a refusal is a note.

    Raises
    ------
    SourceUnavailable
        Never for the optional reads (they become notes).
    """
    notes: list[str] = []
    try:
        deployments, replicasets = workloads()
    except SourceUnavailable as exc:
        deployments, replicasets = [], []
        notes.append(
            f"Deployments and ReplicaSets not readable ({exc.reason}); deleted pods are "
            "recognised by the current pods' owners only"
        )
    service = service_pods(deployments, replicasets, pods)
    try:
        seen = [event_seen(ev) for ev in pod_events()]
    except SourceUnavailable as exc:
        seen = []
        notes.append(
            f"Pod events not readable ({exc.reason}); terminations of pods deleted since "
            "are unknown, not absent"
        )
    lives = pod_lives(pods, seen, service)
    rows = in_window(
        [row for pod in pods for row in status_rows(pod, lives[pod.metadata.name].workload)],
        window,
    )
    rows += event_rows(seen, lives, window)
    if any(life.node for life in lives.values()):
        try:
            nodes = [event_seen(ev) for ev in node_events()]
        except SourceUnavailable as exc:
            nodes = []
            notes.append(
                NODE_EVENTS_REFUSED
                if exc.reason.startswith("forbidden (403)")
                else f"Node events not readable ({exc.reason}); OOM kills seen only by "
                "the kernel are unknown, not absent"
            )
        rows = merge_node_ooms(rows, node_oom_rows(nodes, lives, window))
    return Fetched(terminations_frame(rows), tuple(notes))
