"""The simulation: a :class:`~._spec.ScenarioSpec` and a seed in, evidence frames out.

:class:`Model` holds what every scenario simulates alike (the time grid, the pods,
the seeded random streams) and declares what each scenario simulates its own way
(resource usage, latency, database connections, logs, Kubernetes events, database
sessions). :func:`build` runs a scenario's model and assembles the eighteen captures:
rollouts, Kubernetes events, pods, pod usage, the autoscaler (``hpa``), container
terminations (also of pods deleted since), the ConfigMaps
and Secrets (``config``), logs, Datadog metrics, monitor events and events, and the
seven PostgreSQL frames (activity, settings, limits, locks, database statistics,
statements, replication).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.incident import Incident
from ._clock import NS, Array, bin_counts, grid, iso_z, on_day, to_ns
from ._database import PgFrames, pg_captures
from ._frames import (
    Capture,
    config_frame,
    datadog_events_frame,
    metrics_frame,
    monitor_frame,
    pod_usage_frame,
    pods_frame,
    records_frame,
    rollout_row,
)
from ._random import rng_for

if TYPE_CHECKING:
    from ._kube import Pod
    from ._spec import ScenarioSpec

__all__ = ["Logs", "Model", "build", "evaluate_monitor", "incident"]

#: metric -> (bin times, values): what the monitors are evaluated on
Series = dict[str, tuple[Array, Array]]
#: per container: (CPU in cores, memory in bytes) at some times
Usage = dict[str, tuple[Array, Array]]


@dataclass(frozen=True, slots=True)
class Logs:
    """The ``logs`` frame and the times (ns) of the 5xx responses and of timed-out requests."""

    frame: pd.DataFrame
    errors: Array
    timeouts: Array


class Model(ABC):
    """One scenario simulated second by second, shared by every source's frame.

    Parameters
    ----------
    spec
        The scenario.
    seed
        Seed of every random choice.
    """

    def __init__(self, spec: ScenarioSpec, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        truth = spec.truth
        self.b0 = to_ns(truth.baseline.start)
        self.w0 = to_ns(truth.window.start)
        self.w1 = to_ns(truth.window.end)
        self.sec = grid(truth.baseline.start, truth.window.end, 1)
        self.n = self.sec.size
        #: every pod of the service that lived in the baseline or the window
        self.pods: list[Pod] = []
        #: requests per second the service receives, per second
        self.demand: Array = np.zeros(self.n)

    # -- helpers ---------------------------------------------------------------------
    def rng(self, part: str) -> np.random.Generator:
        """The seeded random stream of component ``part``."""
        return rng_for(self.seed, f"{self.spec.rng_tag}/{part}")

    def at(self, hms: str, day: str | None = None) -> int:
        """Nanoseconds of ``HH:MM:SS`` on the scenario's day (or ``day``)."""
        return on_day(day or self.spec.day, hms)

    def idx(self, moment: int | str) -> int:
        """Index into the per-second arrays of ``HH:MM:SS`` (or nanoseconds)."""
        ns = self.at(moment) if isinstance(moment, str) else moment
        return int((ns - self.b0) // NS)

    def restarted_at(self, pod: Pod) -> int | None:
        """When the main container of ``pod`` started again after a crash, if it did."""
        return None

    # -- what each scenario simulates its own way ------------------------------------
    @abstractmethod
    def usage(self, pod: Pod, times: Array, rng: np.random.Generator) -> Usage:
        """Per container of ``pod``: CPU (cores) and memory (bytes) at ``times``."""

    @abstractmethod
    def latency_p95(
        self, bins: Array, idx: Array, hits: Array, timeouts: Array, rng: np.random.Generator
    ) -> Array:
        """p95 latency (ms) per 15-second bin, given the hits and timed-out requests."""

    @abstractmethod
    def db_connections(self, bins: Array, idx: Array) -> Array:
        """Database connections per 15-second bin."""

    @abstractmethod
    def logs(self) -> Logs:
        """What the service's containers wrote."""

    @abstractmethod
    def k8s_events(self) -> pd.DataFrame:
        """The ``k8s_events`` frame of the window."""

    @abstractmethod
    def hpa(self) -> pd.DataFrame:
        """The ``hpa`` frame: the service's autoscaler as captured after the window."""

    @abstractmethod
    def database(self) -> PgFrames:
        """The seven postgres frames: ``pg_stat_activity`` (with locks and replication)
        sampled every 30 s, statistics deltas over the sampling, settings, limits and
        ``pg_stat_statements`` read once."""


# -- Datadog -----------------------------------------------------------------------------
def evaluate_monitor(
    times: Array,
    values: Array,
    *,
    minutes: float,
    warn: float | None,
    alert: float,
    start: datetime,
    end: datetime,
    every_s: int = 60,
) -> list[tuple[int, str, float]]:
    """State changes of a threshold monitor (mean over ``minutes``), evaluated every ``every_s``.

    Returns ``(time_ns, state, value)`` for each change from the initial ``ok``.
    """
    out: list[tuple[int, str, float]] = []
    state = "ok"
    for t in range(to_ns(start), to_ns(end), every_s * NS):
        keep = (times < t) & (times >= t - int(minutes * 60 * NS))
        if not keep.any():
            continue
        value = float(values[keep].mean())
        new = "alert" if value >= alert else "warn" if warn is not None and value >= warn else "ok"
        if new != state:
            out.append((t, new, value))
            state = new
    return out


def _metrics(m: Model, logs: Logs) -> tuple[pd.DataFrame, Series]:
    """The Datadog ``metrics`` frame (15 s points) and the series the monitors read."""
    spec = m.spec
    rng = m.rng("metrics")
    bins = grid(spec.truth.baseline.start, spec.truth.window.end, 15)
    idx = ((bins - m.b0) // NS).astype(int)
    err = bin_counts(logs.errors, bins, 15).astype(float)
    rate = np.array([m.demand[i : i + 15].mean() for i in idx])
    hits = rng.poisson(rate * 15).astype(float)
    if spec.errors_count_as_hits:
        hits = hits + spec.errors_count_as_hits * err
    when, factor = spec.request_spike
    hits[int((m.at(when) - m.b0) // (15 * NS))] *= factor
    p95 = m.latency_p95(bins, idx, hits, logs.timeouts, rng)
    when, ms, spread = spec.latency_spike
    p95[int((m.at(when) - m.b0) // (15 * NS))] = ms + rng.uniform(0, spread)
    cpu = np.zeros(bins.size)
    mem = np.zeros(bins.size)
    app_cpu = np.zeros(bins.size)  # the application containers only, for CPU-limit monitors
    app_limit = np.zeros(bins.size)
    main = next(c for c in spec.containers if c.name == spec.main_container)
    for p in m.pods:
        for ctr, (c, mm) in m.usage(p, bins, rng).items():
            cpu += c
            mem += mm
            if ctr == main.name:
                app_cpu += c
                app_limit += main.cpu_limit * p.alive(bins)
    values = {
        "request_rate": hits / 15,
        "error_rate": err / 15,
        "latency_p95": p95,
        "cpu": cpu,
        "memory": mem,
        "db_connections": m.db_connections(bins, idx),
    }
    series = [(s.metric, s.query, s.scope, values[s.metric]) for s in spec.metrics]
    gaps = {k: (m.at(lo), m.at(hi)) for k, (lo, hi) in spec.metric_gaps.items()}
    out = {metric: (bins, v) for metric, _, _, v in series}
    out["cpu_of_limit"] = (bins, app_cpu / np.maximum(app_limit, 1e-9))
    return metrics_frame(bins, series, gaps), out


def _monitor_events(spec: ScenarioSpec, series: Series) -> pd.DataFrame:
    """Monitor state changes, evaluated on the metrics like Datadog does."""
    mon = spec.monitors
    rows = list(mon.fixed)
    for check in mon.checks:
        times, values = series[check.metric]
        for t, state, v in evaluate_monitor(
            times,
            values,
            minutes=check.minutes,
            warn=check.warn,
            alert=check.alert,
            start=spec.truth.window.start,
            end=spec.truth.window.end,
        ):
            msg = check.text.format(v=v, s=v / 1000, p=v * 100)
            if state != "ok":
                limit = check.alert if state == "alert" else check.warn
                msg += f" ({state} threshold {check.unit.format(t=limit)})"
                if state == "alert" or check.key in mon.notify_on_warn:
                    msg += f" {mon.notify}"
            rows.append((iso_z(t, 0)[11:19], check.key, state, msg))
    return monitor_frame(spec.day, mon.monitors, rows)


def _datadog_events(spec: ScenarioSpec) -> pd.DataFrame:
    return datadog_events_frame(
        spec.day,
        ((e.at, e.source_type, e.title, e.message, e.tags) for e in spec.datadog_events),
    )


# -- Kubernetes --------------------------------------------------------------------------
def _rollouts(spec: ScenarioSpec) -> pd.DataFrame:
    rows = [
        rollout_row(
            spec.truth.service,
            r.revision,
            r.rs_hash,
            spec.image.format(r.version),
            r.created,
            r.deployed,
            r.cause,
            r.replicas,
            r.current,
        )
        for r in spec.rollouts
    ]
    return records_frame(rows, "rollouts", ["created_at", "deployed_at"])


def _config(spec: ScenarioSpec) -> pd.DataFrame:
    objects = (
        (c.kind, c.name, c.created, c.resource_version, c.data, c.managed) for c in spec.config
    )
    return config_frame(objects, f"Deployment/{spec.truth.service}")


def _pods(m: Model) -> pd.DataFrame:
    restarted = {p.name: t for p in m.pods if (t := m.restarted_at(p)) is not None}
    spec = m.spec
    return pods_frame(m.pods, spec.containers, spec.main_container, m.w1 - 1, restarted)


def _terminations(m: Model, events: pd.DataFrame) -> pd.DataFrame:
    """The ``k8s_terminations`` frame, built by the source's own functions from what a
    live capture would read: the last termination of the pods alive at the capture, the
    Pod events of the deleted ones, the Node ``OOMKilling`` events of their nodes."""
    from ..sources.kubernetes import terminations as t

    spec, service = m.spec, m.spec.truth.service
    window = spec.truth.window
    capture = m.w1 - 1
    alive = [p for p in m.pods if p.alive(capture)]
    seen = [
        t.EventSeen(
            kind=obj.partition("/")[0],
            name=obj.partition("/")[2],
            reason=reason,
            message=message,
            first=first,
            last=last,
            count=int(n),
        )
        for obj, reason, message, first, last, n in zip(
            events["object"],
            events["reason"],
            events["message"],
            events["first_seen"],
            events["last_seen"],
            events["count"],
            strict=True,
        )
    ]
    current = {p.name for p in alive}
    lives = {
        p.name: t.PodLife(
            p.name, p.node, service, False, _second(p.created), None, (spec.main_container,)
        )
        for p in alive
    }
    ours = t.ServicePods(deployments=(service,))
    lives |= t.pod_lives([], [e for e in seen if e.name not in current], ours)
    status = [
        {
            "pod": p.name,
            "container": spec.main_container,
            "node": p.node,
            "workload": service,
            "reason": p.last_termination_reason,
            "exit_code": 137.0 if p.last_termination_reason == "OOMKilled" else float("nan"),
            "finished_at": _second(p.last_termination_at),
            "source": "status",
            "pod_deleted": False,
            "message": "",
        }
        for p in alive
        if p.last_termination_reason and p.last_termination_at is not None
    ]
    rows = t.in_window(status, window) + t.event_rows(seen, lives, window)
    rows = t.merge_node_ooms(rows, t.node_oom_rows(seen, lives, window))
    return t.terminations_frame(rows)


def _second(ns: int) -> datetime:
    """``ns`` as a UTC datetime floored to the second (the Kubernetes API's precision)."""
    return datetime.fromtimestamp(ns // NS, tz=UTC)


def _pod_usage(m: Model) -> pd.DataFrame:
    rng = m.rng("usage")
    minutes = grid(m.spec.truth.baseline.start, m.spec.truth.window.end, 60)
    usage = ((p, m.usage(p, minutes, rng)) for p in m.pods if p.alive(minutes).any())
    return pod_usage_frame(minutes, usage)


# -- the scenario ------------------------------------------------------------------------
def incident(spec: ScenarioSpec) -> Incident:
    """The incident record of a scenario, as the responders left it once resolved."""
    truth = spec.truth
    return Incident.create(
        id=truth.incident_id,
        title=spec.record.title,
        service=truth.service,
        namespace=truth.namespace,
        severity=truth.severity,
        status="resolved",
        start=truth.window.start,
        end=truth.window.end,
        detected=truth.detected_at,
        acknowledged=truth.acknowledged_at,
        mitigated=truth.mitigated_at,
        resolved=truth.resolved_at,
        roles=dict(spec.record.roles),
        impact=spec.record.impact,
        health_url=spec.record.health_url or None,
        endpoints=list(spec.record.endpoints) or None,
    )


def _checks(spec: ScenarioSpec) -> pd.DataFrame:
    """The ``dependency_checks`` frame: each probe at its capture time."""
    from ..core.schema import conform, empty_frame
    from ..sources.probes import parse_target

    if not spec.probes:
        return empty_frame("dependency_checks")
    at = spec.fetched_at("probes", "checks")
    rows = []
    for probe in spec.probes:
        target = parse_target(probe.target)
        days = probe.days_left
        rows.append(
            {
                "target": probe.target,
                "host": target.host,
                "port": target.port,
                "check": probe.check,
                "status": probe.status,
                "reason": probe.reason,
                "latency_ms": probe.latency_ms,
                "detail": probe.detail,
                "checked_at": at,
                "expires_at": at + pd.Timedelta(days=days) if days is not None else None,
                "days_left": days if days is not None else float("nan"),
            }
        )
    return conform(pd.DataFrame(rows), "dependency_checks")


def _endpoints(spec: ScenarioSpec) -> pd.DataFrame:
    """The ``k8s_endpoints`` frame of the namespace's Services."""
    from ..core.schema import conform, empty_frame

    if not spec.services:
        return empty_frame("k8s_endpoints")
    at = spec.fetched_at("kubernetes", "endpoints")
    rows = [
        {
            "service": svc.name,
            "ready": svc.ready,
            "not_ready": svc.not_ready,
            "terminating": svc.terminating,
            "ports": svc.ports,
            "captured_at": at,
        }
        for svc in spec.services
    ]
    return conform(pd.DataFrame(rows), "k8s_endpoints")


def build(spec: ScenarioSpec, seed: int) -> list[Capture]:
    """Every evidence frame of scenario ``spec``, deterministic for ``seed``.

    Parameters
    ----------
    spec
        The scenario.
    seed
        Seed of every random choice.

    Returns
    -------
    list of Capture
        The twenty captures, in the order a responder's capture would take them.
    """
    m = spec.model(spec, seed)
    logs = m.logs()
    metrics, series = _metrics(m, logs)
    truth, cap = spec.truth, spec.capture
    since, until = iso_z(m.b0, 0), iso_z(m.w1, 0)
    ns, service, selector = truth.namespace, truth.service, f"app={truth.service}"
    events = m.k8s_events()
    db = spec.database
    dd: dict[str, Any] = {"site": cap.site, "from": since, "to": until}
    frames: list[tuple[str, str, pd.DataFrame, Mapping[str, Any]]] = [
        ("kubernetes", "rollouts", _rollouts(spec), {"namespace": ns, "deployment": service}),
        (
            "kubernetes",
            "events",
            events,
            {
                "namespace": ns,
                "since": since,
                "until": until,
                "involved_object_kinds": list(cap.involved_object_kinds),
            },
        ),
        ("kubernetes", "pods", _pods(m), {"namespace": ns, "label_selector": selector}),
        (
            "kubernetes",
            "pod_usage",
            _pod_usage(m),
            {
                "namespace": ns,
                "label_selector": selector,
                "since": since,
                "until": until,
                "step": "60s",
            },
        ),
        ("kubernetes", "hpa", m.hpa(), {"namespace": ns, "label_selector": selector}),
        (
            "kubernetes",
            "terminations",
            _terminations(m, events),
            {"namespace": ns, "label_selector": selector, "node_events": "OOMKilling"},
        ),
        ("kubernetes", "config", _config(spec), {"namespace": ns, "label_selector": selector}),
        (
            "kubernetes",
            "logs",
            logs.frame,
            {
                "namespace": ns,
                "label_selector": selector,
                "containers": list(cap.containers),
                "since": since,
                "until": until,
                "timestamps": True,
                "previous": True,
            },
        ),
        ("datadog", "metrics", metrics, {**dd, "interval": "15s", "scope": cap.metrics_scope}),
        (
            "datadog",
            "monitor_events",
            _monitor_events(spec, series),
            {**dd, "monitor_tags": list(cap.monitor_tags)},
        ),
        (
            "datadog",
            "events",
            _datadog_events(spec),
            {**dd, "query": cap.events_query, "max_events": 10_000},
        ),
        *pg_captures(db, m.database()),
        ("kubernetes", "endpoints", _endpoints(spec), {"namespace": ns}),
        (
            "probes",
            "checks",
            _checks(spec),
            {"targets": [spec.record.health_url, *spec.record.endpoints]},
        ),
    ]
    return [
        Capture(source, name, frame, query, spec.fetched_at(source, name))
        for source, name, frame, query in frames
    ]
