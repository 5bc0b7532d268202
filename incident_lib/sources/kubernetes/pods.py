"""Rows of the ``pods``, ``k8s_events`` and ``pod_usage`` frames from Kubernetes API objects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

__all__ = ["event_times", "parse_quantity", "pod_rows"]


def parse_quantity(value: str | float | None) -> float:
    """A Kubernetes quantity as a float: ``"250m"`` -> 0.25, ``"128Mi"`` -> 134217728.0.

    CPU comes out in cores, memory in bytes; ``None`` or an unreadable value is NaN.
    """
    if value is None or value == "":
        return float("nan")
    from kubernetes.utils.quantity import parse_quantity as parse

    try:
        return float(parse(value))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, ArithmeticError):
        return float("nan")


def pod_rows(pod: Any) -> Iterator[dict[str, Any]]:
    """One ``pods`` row per container of ``pod`` (a ``V1Pod``): app, init, then ephemeral.

    Init containers and ephemeral (debug) containers have rows like the others:
    their restarts and abnormal terminations count. How they end normally is not
    a problem, so an init container that completed (exit 0) is ``ready`` with no
    termination reported (a sidecar init container, ``restartPolicy: Always``,
    is ready as its probe says), and an ephemeral container is ``ready`` unless it
    is waiting; a non-zero exit, an OOMKill or a restart is reported as for any
    container.
    """
    spec, status = pod.spec, pod.status
    groups = (
        ("app", spec.containers, status.container_statuses if status else None),
        ("init", spec.init_containers, status.init_container_statuses if status else None),
        (
            "ephemeral",
            spec.ephemeral_containers,
            status.ephemeral_container_statuses if status else None,
        ),
    )
    for role, containers, container_statuses in groups:
        statuses = {cs.name: cs for cs in container_statuses or []}
        for container in containers or []:
            yield _container_row(pod, container, statuses.get(container.name), role)


def _container_row(pod: Any, container: Any, cs: Any, role: str) -> dict[str, Any]:
    """The ``pods`` row of one container; ``role`` is ``app``, ``init`` or ``ephemeral``."""
    status = pod.status
    state = cs.state if cs is not None else None
    last = cs.last_state if cs is not None else None
    ended = (state.terminated if state else None) or (last.terminated if last else None)
    ready = bool(cs.ready) if cs is not None else False
    done = state.terminated if state else None
    completed = done is not None and done.exit_code == 0
    if role == "init" and container.restart_policy != "Always":
        ready = completed
    elif role == "ephemeral":
        ready = cs is not None and not (state is not None and state.waiting is not None)
    if role != "app" and completed:  # its normal end is no termination to report
        ended = last.terminated if last else None
    resources = container.resources
    requests = (resources.requests if resources else None) or {}
    limits = (resources.limits if resources else None) or {}
    return {
        "pod": pod.metadata.name,
        "container": container.name,
        "node": pod.spec.node_name,
        "phase": status.phase if status else None,
        "ready": ready,
        "restarts": int(cs.restart_count or 0) if cs is not None else 0,
        "last_termination_reason": ended.reason if ended else None,
        "last_termination_at": ended.finished_at if ended else None,
        "started_at": state.running.started_at if state and state.running else None,
        "cpu_request": parse_quantity(requests.get("cpu")),
        "cpu_limit": parse_quantity(limits.get("cpu")),
        "memory_request": parse_quantity(requests.get("memory")),
        "memory_limit": parse_quantity(limits.get("memory")),
    }


def event_times(ev: Any) -> tuple[datetime | None, datetime, int]:
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
