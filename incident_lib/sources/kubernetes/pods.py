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
    """One ``pods`` row per container of ``pod`` (a ``V1Pod``)."""
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
