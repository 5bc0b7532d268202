"""Rows of the ``hpa`` frame from ``V2HorizontalPodAutoscaler`` objects (autoscaling/v2).

The service's autoscalers are those whose ``scaleTargetRef`` is one of its
workloads: a Deployment of the service, or a StatefulSet owning its pods. Each
autoscaler gives one row per condition (``AbleToScale``, ``ScalingActive``,
``ScalingLimited``) with its last transition, the replica counts and its metrics
as readable text, current against target (``"cpu 92%/70%"``), as of the capture.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

__all__ = ["hpa_rows", "metrics_text", "scale_target", "service_targets"]


def scale_target(hpa: Any) -> tuple[str, str]:
    """``(kind, name)`` of the workload an autoscaler scales (its ``scaleTargetRef``)."""
    ref = hpa.spec.scale_target_ref if hpa.spec is not None else None
    if ref is None:
        return "", ""
    return str(ref.kind or ""), str(ref.name or "")


def service_targets(deployments: Iterable[Any], pods: Iterable[Any]) -> set[tuple[str, str]]:
    """The workloads of a service an autoscaler may scale: its Deployments and StatefulSets.

    Deployments are given (``V1Deployment``); StatefulSets are those owning one of
    ``pods`` (``V1Pod`` owner references).
    """
    targets = {("Deployment", str(d.metadata.name)) for d in deployments}
    targets |= {
        ("StatefulSet", str(ref.name))
        for pod in pods
        for ref in pod.metadata.owner_references or []
        if ref.kind == "StatefulSet"
    }
    return targets


def _value(value: Any) -> str:
    """A metric value of a ``V2MetricTarget`` / ``V2MetricValueStatus`` as text."""
    if value is None:
        return "?"
    if value.average_utilization is not None:
        return f"{value.average_utilization}%"
    if value.average_value is not None:
        return str(value.average_value)
    if value.value is not None:
        return str(value.value)
    return "?"


def _source(entry: Any) -> tuple[str, Any]:
    """``(label, source)`` of a ``V2MetricSpec`` or ``V2MetricStatus`` entry."""
    kind = str(entry.type or "")
    if kind == "Resource" and entry.resource is not None:
        return str(entry.resource.name), entry.resource
    if kind == "ContainerResource" and entry.container_resource is not None:
        src = entry.container_resource
        return f"{src.name} of container {src.container}", src
    if kind == "Pods" and entry.pods is not None:
        return str(entry.pods.metric.name), entry.pods
    if kind == "Object" and entry.object is not None:
        src = entry.object
        ref = src.described_object
        where = f" of {ref.kind}/{ref.name}" if ref is not None else ""
        return f"{src.metric.name}{where}", src
    if kind == "External" and entry.external is not None:
        return str(entry.external.metric.name), entry.external
    return kind.lower() or "metric", None


def metrics_text(hpa: Any) -> str:
    """The autoscaler's metrics, current against target: ``"cpu 92%/70%, rps 40/50"``.

    A metric without a current value (not yet read, or unreadable) shows ``?``.
    """
    spec = hpa.spec.metrics if hpa.spec is not None else None
    status = hpa.status.current_metrics if hpa.status is not None else None
    current: dict[tuple[str, str], Any] = {}
    for entry in status or []:
        label, src = _source(entry)
        current[(str(entry.type or ""), label)] = src.current if src is not None else None
    parts = []
    for entry in spec or []:
        label, src = _source(entry)
        target = src.target if src is not None else None
        now = current.get((str(entry.type or ""), label))
        parts.append(f"{label} {_value(now)}/{_value(target)}")
    return ", ".join(parts)


def hpa_rows(hpa: Any, captured_at: datetime) -> Iterator[dict[str, Any]]:
    """The ``hpa`` rows of one ``V2HorizontalPodAutoscaler``: one per condition.

    An autoscaler without conditions (not yet reconciled) gives one row whose
    condition columns are empty.
    """
    spec, status = hpa.spec, hpa.status
    kind, name = scale_target(hpa)
    base = {
        "hpa": hpa.metadata.name,
        "target": f"{kind}/{name}",
        "min_replicas": int(spec.min_replicas or 1) if spec is not None else 1,
        "max_replicas": int(spec.max_replicas or 0) if spec is not None else 0,
        "current_replicas": int(status.current_replicas or 0) if status is not None else 0,
        "desired_replicas": int(status.desired_replicas or 0) if status is not None else 0,
        "metrics": metrics_text(hpa),
        "captured_at": captured_at,
    }
    conditions = (status.conditions if status is not None else None) or []
    if not conditions:
        yield {
            **base,
            "condition": None,
            "status": None,
            "reason": None,
            "message": None,
            "transitioned_at": None,
        }
    for cond in conditions:
        yield {
            **base,
            "condition": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": (cond.message or "").strip(),
            "transitioned_at": cond.last_transition_time,
        }
