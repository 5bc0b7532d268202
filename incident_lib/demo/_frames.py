"""Frame builders: generated rows in, contract frames (``core.schema``) out.

Logs and Datadog events go through the sources' own parsers and converters, so
what a demo holds is exactly what a live capture would hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.schema import conform
from ._clock import NS, Array, on_day, to_ns

if TYPE_CHECKING:
    from ._kube import Container, Pod

__all__ = [
    "Capture",
    "EventSink",
    "LogAdd",
    "LogSink",
    "config_frame",
    "datadog_events_frame",
    "metrics_frame",
    "monitor_frame",
    "pod_usage_frame",
    "pods_frame",
    "records_frame",
    "rollout_row",
    "utc_series",
]

_PRECISION = {"ns": 1, "us": 1_000, "s": NS}


@dataclass(frozen=True, slots=True)
class Capture:
    """One frame to capture into the evidence store, with its manifest fields."""

    source: str
    name: str
    frame: pd.DataFrame
    query: Mapping[str, Any]
    fetched_at: datetime


def utc_series(values: Sequence[int | None] | Array, precision: str = "ns") -> pd.Series:
    """Nanosecond integers (``None`` for missing) -> ``datetime64[ns, UTC]`` series.

    ``precision`` floors the values the way the source reports them: ``"s"`` for the
    Kubernetes API's timestamps, ``"us"`` for PostgreSQL's, ``"ns"`` for kubelet logs.
    """
    nat = np.iinfo(np.int64).min
    arr = np.array([nat if v is None or v != v else int(v) for v in values], dtype=np.int64)
    step = _PRECISION[precision]
    arr = np.where(arr == nat, nat, arr // step * step)
    return pd.Series(arr.view("datetime64[ns]")).dt.tz_localize("UTC")


def records_frame(
    rows: Sequence[Mapping[str, Any]], kind: str, time_cols: Sequence[str], precision: str = "s"
) -> pd.DataFrame:
    """A contract frame from row dicts whose ``time_cols`` hold nanoseconds or ``None``."""
    df = pd.DataFrame(list(rows))
    for col in time_cols:
        df[col] = utc_series(df[col].tolist(), precision)
    return conform(df, kind)


# -- collectors --------------------------------------------------------------------------
#: :meth:`LogSink.add`: ``(t, pod, container, raw)``
LogAdd = Callable[[int, str, str, str], None]


class LogSink:
    """Collects what containers wrote; :meth:`frame` reads it like the Kubernetes source.

    Each event is the text a container wrote at one moment (a stack trace spans
    lines). :meth:`frame` serves every container's log as the kubelet does with
    ``timestamps=true`` and parses it with the source's own parser
    (:func:`incident_lib.sources.logparse.parse_pod_log`), so level, message and
    the folding of multi-line events are exactly what a live capture would hold.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[tuple[int, str]]] = {}

    def add(self, t: int, pod: str, container: str, raw: str) -> None:
        """``raw`` written by ``container`` of ``pod`` at ``t`` (nanoseconds)."""
        self.rows.setdefault((pod, container), []).append((int(t), raw))

    def frame(self) -> pd.DataFrame:
        """The ``logs`` frame, ordered by time, pod and container."""
        from ..sources.logparse import parse_pod_log

        frames = []
        for (pod, container), events in self.rows.items():
            events.sort(key=lambda e: e[0])
            stamps = np.datetime_as_string(
                np.array([t for t, _ in events], dtype="datetime64[ns]"), unit="ns"
            )
            lines: list[str] = []
            for stamp, (_, raw) in zip(stamps.tolist(), events, strict=True):
                prefix = stamp.rstrip("0").rstrip(".") + "Z "  # Go's RFC3339Nano
                lines.extend(prefix + line for line in raw.split("\n"))
            frames.append(parse_pod_log("\n".join(lines), pod=pod, container=container).frame)
        df = pd.concat(frames, ignore_index=True)
        return conform(df.sort_values(["time", "pod", "container"], kind="stable"), "logs")


class EventSink:
    """Collects Kubernetes events, aggregating repeats like the API server does."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], list[int]] = {}

    def add(self, t: int, type_: str, reason: str, obj: str, message: str, count: int = 1) -> None:
        """Record one occurrence (or ``count``) of an event at ``t``."""
        key = (type_, reason, obj, message)
        if key in self.rows:
            first, last, n = self.rows[key]
            self.rows[key] = [min(first, t), max(last, t), n + count]
        else:
            self.rows[key] = [int(t), int(t), count]

    def frame(self, since: int) -> pd.DataFrame:
        """The ``k8s_events`` frame of events last seen at or after ``since``."""
        rows = sorted(
            ((f, la, n, *k) for k, (f, la, n) in self.rows.items() if la >= since),
            key=lambda r: (r[0], r[1], r[5], r[4]),
        )
        df = pd.DataFrame(
            {
                "first_seen": utc_series([r[0] for r in rows], "s"),
                "last_seen": utc_series([r[1] for r in rows], "s"),
                "type": [r[3] for r in rows],
                "reason": [r[4] for r in rows],
                "object": [r[5] for r in rows],
                "message": [r[6] for r in rows],
                "count": [r[2] for r in rows],
            }
        )
        return conform(df, "k8s_events")


# -- frames --------------------------------------------------------------------------------
def metrics_frame(
    times: Array,
    series: Sequence[tuple[str, str, str, Array]],
    gaps: Mapping[str, tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """Long ``metrics`` frame from ``(metric, query, scope, values)``; ``gaps`` drop points."""
    parts = []
    for metric, query, scope, values in series:
        keep = np.ones(times.size, dtype=bool)
        if gaps and metric in gaps:
            lo, hi = gaps[metric]
            keep &= ~((times >= lo) & (times < hi))
        parts.append(
            pd.DataFrame(
                {
                    "time": pd.to_datetime(times[keep], unit="ns", utc=True),
                    "metric": metric,
                    "query": query,
                    "scope": scope,
                    "value": np.round(values[keep], 4),
                }
            )
        )
    return conform(pd.concat(parts, ignore_index=True), "metrics")


def config_frame(
    objects: Iterable[tuple[str, str, str, str, Mapping[str, str], Sequence[tuple[str, str, str]]]],
    used_by: str,
) -> pd.DataFrame:
    """The ``k8s_config`` frame: one row per field manager's last operation.

    ``objects`` are (kind, name, created, resource_version, data, managed) with
    times as ISO 8601 text; a Secret's ``data`` holds key names with empty
    values (the demo has no secret value). The hash is the source's own.
    """
    from ..sources.kubernetes.configs import data_hash

    rows = [
        {
            "kind": kind,
            "name": name,
            "used_by": used_by,
            "resource_version": version,
            "created_at": to_ns(datetime.fromisoformat(created)),
            "keys": ",".join(sorted(data)),
            "data_hash": data_hash(dict(data)),
            "manager": manager,
            "operation": operation,
            "changed_at": to_ns(datetime.fromisoformat(at)),
            "applied_hash": None,
        }
        for kind, name, created, version, data, managed in objects
        for manager, operation, at in managed
    ]
    return records_frame(rows, "k8s_config", ["created_at", "changed_at"])


def rollout_row(
    deployment: str,
    revision: int,
    rs_hash: str,
    images: str,
    created: str,
    deployed: str,
    cause: str,
    replicas: int,
    current: bool,
) -> dict[str, Any]:
    """One ``rollouts`` row (``created`` / ``deployed`` as ISO 8601 text)."""
    return {
        "deployment": deployment,
        "revision": revision,
        "replicaset": f"{deployment}-{rs_hash}",
        "images": images,
        "created_at": to_ns(datetime.fromisoformat(created)),
        "deployed_at": to_ns(datetime.fromisoformat(deployed)),
        "change_cause": cause,
        "replicas": replicas,
        "current": current,
    }


def monitor_frame(
    day: str, monitors: Mapping[str, tuple[str, str]], events: Sequence[tuple[str, str, str, str]]
) -> pd.DataFrame:
    """``monitor_events`` from ``(HH:MM:SS, monitor key, state, message)`` on ``day``."""
    rows = [
        {
            "time": on_day(day, t),
            "monitor_id": monitors[k][0],
            "monitor": monitors[k][1],
            "state": state,
            "message": msg,
        }
        for t, k, state, msg in sorted(events)
    ]
    return records_frame(rows, "monitor_events", ["time"])


def datadog_events_frame(
    day: str, events: Iterable[tuple[str, str, str, str, Sequence[str]]]
) -> pd.DataFrame:
    """``datadog_events`` from ``(HH:MM:SS, source_type, title, message, tags)`` on ``day``.

    Each event is shaped like an item of Datadog's v2 events search and read by
    the Datadog source's own converters (``event_row``, ``events_frame``), so the
    markdown folding, the 500-character cut and dtypes are those of a live
    fetch (redaction happens when the demo captures the frame, as in a live capture).
    """
    from ..sources.datadog import frames

    rows = []
    for hms, source_type, title, message, tags in events:
        stamp = f"{day}T{hms}.000Z"
        item = {
            "id": f"AZ{to_ns(datetime.fromisoformat(stamp)) // 10**6}",
            "type": "event",
            "attributes": {
                "timestamp": stamp,
                "message": message,
                "tags": list(tags),
                "attributes": {"title": title, "source_type_name": source_type},
            },
        }
        rows.append(frames.event_row(item))
    return frames.events_frame([r for r in rows if r is not None])


def pods_frame(
    pods: Iterable[Pod],
    containers: Sequence[Container],
    main: str,
    at: int,
    restarted: Mapping[str, int],
) -> pd.DataFrame:
    """The ``pods`` frame of the pods alive at ``at``, one row per container.

    ``main`` names the application container (the others are sidecars, started
    1.6 s earlier); ``restarted`` maps a pod to when its main container restarted.
    """
    rows = []
    for p in pods:
        if not p.alive(at):
            continue
        for c in containers:
            is_main = c.name == main
            again = restarted.get(p.name) if is_main else None
            rows.append(
                {
                    "pod": p.name,
                    "container": c.name,
                    "node": p.node,
                    "phase": "Running",
                    "ready": True,
                    "restarts": p.restarts if is_main else 0,
                    "last_termination_reason": p.last_termination_reason if is_main else None,
                    "last_termination_at": p.last_termination_at if is_main else None,
                    "started_at": again or (p.started if is_main else p.started - int(1.6 * NS)),
                    "cpu_request": c.cpu_request,
                    "cpu_limit": c.cpu_limit,
                    "memory_request": c.memory_request,
                    "memory_limit": c.memory_limit,
                }
            )
    return records_frame(rows, "pods", ["last_termination_at", "started_at"])


def pod_usage_frame(
    minutes: Array, usage: Iterable[tuple[Pod, Mapping[str, tuple[Array, Array]]]]
) -> pd.DataFrame:
    """The ``pod_usage`` frame from each pod's per-container CPU (cores) and memory (bytes)."""
    parts = []
    for p, per_container in usage:
        keep = p.alive(minutes)
        for ctr, (cpu, mem) in per_container.items():
            parts.append(
                pd.DataFrame(
                    {
                        "time": pd.to_datetime(minutes[keep], unit="ns", utc=True),
                        "pod": p.name,
                        "container": ctr,
                        "cpu": np.round(cpu[keep], 4),
                        "memory": np.round(mem[keep]),
                    }
                )
            )
    df = pd.concat(parts, ignore_index=True).sort_values(
        ["time", "pod", "container"], kind="stable"
    )
    return conform(df, "pod_usage")
