"""Kubernetes objects of the demo: containers, pods and the events their lives produce."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._clock import NS, Array
from ._frames import EventSink, utc_series
from ._random import k8s_suffix

__all__ = [
    "Container",
    "Pod",
    "hpa_frame",
    "new_pod",
    "pod_name",
    "pod_start_events",
    "pod_stop_events",
    "scale_event",
]

_FOREVER = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class Container:
    """A container of a pod (resources in cores and bytes)."""

    name: str
    cpu_request: float
    cpu_limit: float
    memory_request: float
    memory_limit: float


@dataclass(slots=True)
class Pod:
    """A pod's life: created, container started, ready, deletion asked, process gone."""

    name: str
    replicaset: str
    version: str
    node: str
    ip: str
    created: int
    started: int
    ready: int
    deleted: int | None = None
    exited: int | None = None
    restarts: int = 0
    last_termination_reason: str | None = None
    last_termination_at: int | None = None
    #: ``(from, to)``: the main container restarted and served nothing in between
    down: tuple[int, int] | None = None
    #: when the scheduler bound the pod to its node (``None``: right after creation)
    scheduled: int | None = None
    #: whether the node had to pull the images
    pull: bool = False

    def alive(self, t: int | Array) -> Array:
        """Whether the pod's main process runs at ``t`` (a boolean array shaped like ``t``)."""
        t = np.asarray(t)
        end = self.exited if self.exited is not None else _FOREVER
        return (t >= self.started) & (t < end)

    def serving(self, t: int | Array) -> Array:
        """Whether the pod receives traffic (ready and not being deleted) at ``t``."""
        t = np.asarray(t)
        end = self.deleted if self.deleted is not None else _FOREVER
        ok = (t >= self.ready) & (t < end)
        if self.down is not None:
            ok = ok & ~((t >= self.down[0]) & (t < self.down[1]))
        return ok


def pod_name(deployment: str, rs_hash: str, rng: np.random.Generator) -> str:
    """``api-7d4b8c9f6-x2x9k``."""
    return f"{deployment}-{rs_hash}-{k8s_suffix(rng)}"


def new_pod(
    rng: np.random.Generator,
    *,
    deployment: str,
    replicaset: str,
    version: str,
    node: tuple[str, str],
    created: int,
    started: int,
    ready: int,
) -> Pod:
    """A pod of ``replicaset`` on ``node`` (``(name, subnet)``), named and addressed from ``rng``.

    The name is drawn before the IP, so a scenario's draws (and its evidence) do
    not depend on how the pod was built.
    """
    name = pod_name(deployment, replicaset, rng)
    ip = f"{node[1]}.{int(rng.integers(20, 250))}"
    return Pod(name, replicaset, version, node[0], ip, created, started, ready)


def pod_start_events(
    sink: EventSink,
    rng: np.random.Generator,
    pod: Pod,
    containers: Sequence[tuple[str, str, bool]],
    *,
    namespace: str,
    scheduled: int | None = None,
) -> None:
    """Scheduled / Pulling / Pulled / Created / Started events of a starting pod.

    ``containers`` are ``(name, image, pull)`` in start order (init containers
    first); ``pull`` says whether the node had to pull the image (else "already
    present on machine"). The last container starts at ``pod.started``.
    """
    obj = f"Pod/{pod.name}"
    t = scheduled if scheduled is not None else pod.created + int(0.05 * NS)
    sink.add(
        t, "Normal", "Scheduled", obj, f"Successfully assigned {namespace}/{pod.name} to {pod.node}"
    )
    t += int(0.5 * NS)
    step = max((pod.started - t) // max(len(containers), 1), 3 * NS // 10) // 10**6 * 10**6
    for name, image, pull in containers:
        end = t + step
        if pull:
            took = (end - t) / NS - 0.4
            sink.add(t, "Normal", "Pulling", obj, f'Pulling image "{image}"')
            size = int(rng.integers(60_000_000, 260_000_000))
            sink.add(
                end - int(0.35 * NS),
                "Normal",
                "Pulled",
                obj,
                f'Successfully pulled image "{image}" in {took:.3f}s ({took:.3f}s '
                f"including waiting). Image size: {size} bytes.",
            )
        else:
            sink.add(
                end - int(0.35 * NS),
                "Normal",
                "Pulled",
                obj,
                f'Container image "{image}" already present on machine',
            )
        sink.add(end - int(0.25 * NS), "Normal", "Created", obj, f"Created container {name}")
        sink.add(end, "Normal", "Started", obj, f"Started container {name}")
        t = end


def pod_stop_events(sink: EventSink, pod: Pod, containers: Sequence[str]) -> None:
    """``Killing`` events when a pod is deleted."""
    if pod.deleted is None:
        return
    for name in containers:
        sink.add(
            pod.deleted + int(0.1 * NS),
            "Normal",
            "Killing",
            f"Pod/{pod.name}",
            f"Stopping container {name}",
        )


def scale_event(sink: EventSink, t: int, deployment: str, rs: str, old: int, new: int) -> None:
    """``ScalingReplicaSet`` on the Deployment (the wording of Kubernetes 1.28+)."""
    verb = "up" if new > old else "down"
    sink.add(
        t,
        "Normal",
        "ScalingReplicaSet",
        f"Deployment/{deployment}",
        f"Scaled {verb} replica set {deployment}-{rs} to {new} from {old}",
    )


#: the message of each ``ScalingLimited`` reason (the HPA controller's wording)
_LIMITED = {
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
}


def hpa_frame(
    name: str,
    *,
    replicas: tuple[int, int, int, int],
    metrics: str,
    since: int,
    limited: tuple[str, int],
    captured_at: int,
) -> pd.DataFrame:
    """The ``hpa`` frame of one autoscaler of Deployment ``name``, as captured at ``captured_at``.

    ``replicas`` is (min, max, current, desired). The autoscaler has been able to
    scale and had a CPU metric since ``since`` (ns); ``limited`` is the reason of its
    ``ScalingLimited`` condition (``TooFewReplicas`` / ``TooManyReplicas``) and when
    it last changed.
    """
    reason, limited_at = limited
    conditions = (
        ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size", since),
        (
            "ScalingActive",
            "True",
            "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource "
            "utilization (percentage of request)",
            since,
        ),
        ("ScalingLimited", "True", reason, _LIMITED[reason], limited_at),
    )
    low, high, current, desired = replicas
    n = len(conditions)
    return pd.DataFrame(
        {
            "hpa": [name] * n,
            "target": [f"Deployment/{name}"] * n,
            "min_replicas": [low] * n,
            "max_replicas": [high] * n,
            "current_replicas": [current] * n,
            "desired_replicas": [desired] * n,
            "metrics": [metrics] * n,
            "condition": [c[0] for c in conditions],
            "status": [c[1] for c in conditions],
            "reason": [c[2] for c in conditions],
            "message": [c[3] for c in conditions],
            "transitioned_at": utc_series([c[4] for c in conditions], "s"),
            "captured_at": utc_series([captured_at] * n, "s"),
        }
    )
