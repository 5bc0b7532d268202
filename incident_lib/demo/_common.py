"""Shared pieces of the demo generators: seeded randomness, Kubernetes names, ids,
timestamp formats, noise, and collectors that turn generated rows into contract frames.

Times inside the generators are integer nanoseconds since the epoch (UTC) so that
numpy can work on them; nothing here reads the wall clock.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..core.incident import Incident
from ..core.schema import conform
from ._secrets import AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, DD_API_KEY

NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: the alphabet Kubernetes uses for pod-template hashes and generated name suffixes
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def env_dump(dsn: str) -> str:
    """The settings line a careless start-up prints (planted secrets inside)."""
    return (
        f"environment: DATABASE_URL={dsn} AWS_REGION=eu-west-1 "
        f"AWS_ACCESS_KEY_ID={AWS_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={AWS_SECRET_ACCESS_KEY} "
        f"DD_API_KEY={DD_API_KEY} DD_ENV=prod"
    )


# -- randomness ------------------------------------------------------------------------
def rng_for(seed: int, tag: str) -> np.random.Generator:
    """An independent generator per (seed, component) so components do not shift each other."""
    return np.random.default_rng([seed, zlib.crc32(tag.encode())])


def k8s_suffix(rng: np.random.Generator, n: int = 5) -> str:
    """A generated-name suffix such as ``x2x9k``."""
    return "".join(K8S_ALPHABET[i] for i in rng.integers(0, len(K8S_ALPHABET), n))


class FastRandom:
    """Scalar draws for per-line text, served from blocks that numpy draws in bulk.

    Calling numpy's generator once per log line costs microseconds each; this keeps
    the same determinism (one seeded stream) at a fraction of the cost.
    """

    _BLOCK = 1 << 15

    def __init__(self, rng: np.random.Generator) -> None:
        self.np = rng
        self._u: list[float] = []
        self._n: list[float] = []
        self._bytes, self._pos = b"", 0

    def random(self) -> float:
        """Uniform in ``[0, 1)``."""
        if not self._u:
            self._u = self.np.random(self._BLOCK).tolist()
        return self._u.pop()

    def normal(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        """Normal(mu, sigma)."""
        if not self._n:
            self._n = self.np.standard_normal(self._BLOCK).tolist()
        return mu + sigma * self._n.pop()

    def uniform(self, low: float, high: float) -> float:
        """Uniform in ``[low, high)``."""
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int) -> int:
        """Integer in ``[low, high)``."""
        return low + int((high - low) * self.random())

    def lognormal(self, mean: float, sigma: float) -> float:
        """exp(Normal(mean, sigma))."""
        return float(np.exp(self.normal(mean, sigma)))

    def choice(self, items: Sequence[Any], cum: Sequence[float] | None = None) -> Any:
        """One of ``items``; ``cum`` are cumulative weights ending at 1 (uniform if omitted)."""
        u = self.random()
        if cum is None:
            return items[min(int(u * len(items)), len(items) - 1)]
        return items[min(bisect.bisect_right(cum, u), len(items) - 1)]

    def hex(self, n: int) -> str:
        """``n`` random hex digits (``n`` <= 64)."""
        if self._pos + 32 > len(self._bytes):
            self._bytes, self._pos = self.np.bytes(32 * 4096), 0
        out = self._bytes[self._pos : self._pos + (n + 1) // 2].hex()[:n]
        self._pos += 32
        return out

    def uuid4(self) -> str:
        """A version-4 UUID."""
        h = self.hex(32)
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative, normalised weights for :meth:`FastRandom.choice`."""
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    return out


# -- time ------------------------------------------------------------------------------
def to_ns(moment: datetime) -> int:
    """Aware datetime -> integer nanoseconds since the epoch."""
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def from_ns(ns: int) -> datetime:
    """Integer nanoseconds -> aware UTC datetime (microsecond precision)."""
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


_DAYS: dict[int, str] = {}


def split_ns(ns: int) -> tuple[str, int, int, int, int]:
    """``(YYYY-MM-DD, hour, minute, second, microsecond)`` of ``ns`` (fast, cached by day)."""
    day, rem = divmod(int(ns) // 1000, 86_400_000_000)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
    hour, rem = divmod(rem, 3_600_000_000)
    minute, rem = divmod(rem, 60_000_000)
    second, micro = divmod(rem, 1_000_000)
    return date, hour, minute, second, micro


def iso_z(ns: int, digits: int = 3) -> str:
    """``2026-11-03T14:02:11.123Z`` (``digits`` fractional digits, 0 for none)."""
    date, h, m, s, us = split_ns(ns)
    frac = "." + f"{us:06d}"[:digits] if digits else ""
    return f"{date}T{h:02d}:{m:02d}:{s:02d}{frac}Z"


def py_asctime(ns: int) -> str:
    """Python logging's default ``asctime``: ``2026-11-03 14:02:11,123``."""
    date, h, m, s, us = split_ns(ns)
    return f"{date} {h:02d}:{m:02d}:{s:02d},{us // 1000:03d}"


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth S in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def grid(start: datetime, end: datetime, step_s: int) -> np.ndarray:
    """Nanosecond timestamps ``[start, end)`` every ``step_s`` seconds."""
    return np.arange(to_ns(start), to_ns(end), step_s * NS, dtype=np.int64)


def event_times(
    rng: np.random.Generator, bins: np.ndarray, rate: np.ndarray | float, step_s: float
) -> np.ndarray:
    """Poisson event times: ``rate`` events per second in each bin of ``step_s`` seconds."""
    lam = np.broadcast_to(np.asarray(rate, dtype=float), bins.shape) * step_s
    counts = rng.poisson(np.maximum(lam, 0.0))
    starts = np.repeat(bins, counts)
    offsets = rng.uniform(0, step_s * NS, starts.size).astype(np.int64)
    return np.sort(starts + offsets)


def periodic_times(
    rng: np.random.Generator, start: int, end: int, period_s: float, jitter_s: float = 0.05
) -> np.ndarray:
    """Times every ``period_s`` seconds in ``[start, end)``, random phase, slightly jittered."""
    if end <= start:
        return np.empty(0, dtype=np.int64)
    phase = int(rng.uniform(0, period_s) * NS)
    base = np.arange(start + phase, end, int(period_s * NS), dtype=np.int64)
    return base + rng.uniform(0, jitter_s * NS, base.size).astype(np.int64)


_PRECISION = {"ns": 1, "us": 1_000, "s": NS}


def utc_series(values: Sequence[int | None] | np.ndarray, precision: str = "ns") -> pd.Series:
    """Nanosecond integers (``None`` for missing) -> ``datetime64[ns, UTC]`` series.

    ``precision`` floors the values the way the source reports them: ``"s"`` for the
    Kubernetes API's timestamps, ``"us"`` for PostgreSQL's, ``"ns"`` for kubelet logs.
    """
    nat = np.iinfo(np.int64).min
    arr = np.array([nat if v is None or v != v else int(v) for v in values], dtype=np.int64)
    step = _PRECISION[precision]
    arr = np.where(arr == nat, nat, arr // step * step)
    return pd.Series(arr.view("datetime64[ns]")).dt.tz_localize("UTC")


# -- Kubernetes objects ----------------------------------------------------------------
@dataclass(slots=True)
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

    def alive(self, t: int | np.ndarray) -> np.ndarray | bool:
        """Whether the pod's main process runs at ``t``."""
        end = self.exited if self.exited is not None else np.iinfo(np.int64).max
        return (t >= self.started) & (t < end)

    def serving(self, t: int | np.ndarray) -> np.ndarray | bool:
        """Whether the pod receives traffic (ready and not being deleted) at ``t``."""
        end = self.deleted if self.deleted is not None else np.iinfo(np.int64).max
        ok = (t >= self.ready) & (t < end)
        if self.down is not None:
            ok = ok & ~((t >= self.down[0]) & (t < self.down[1]))
        return ok


def pod_name(deployment: str, rs_hash: str, rng: np.random.Generator) -> str:
    """``api-7d4b8c9f6-x2x9k``."""
    return f"{deployment}-{rs_hash}-{k8s_suffix(rng)}"


# -- collectors -> contract frames -----------------------------------------------------
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
            lines = []
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


def metrics_frame(
    times: np.ndarray,
    series: Sequence[tuple[str, str, str, np.ndarray]],
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


def records_frame(
    rows: Sequence[Mapping[str, Any]], kind: str, time_cols: Sequence[str], precision: str = "s"
) -> pd.DataFrame:
    """A contract frame from row dicts whose ``time_cols`` hold nanoseconds or ``None``."""
    df = pd.DataFrame(list(rows))
    for col in time_cols:
        df[col] = utc_series(df[col].tolist(), precision)
    return conform(df, kind)


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


@dataclass(frozen=True, slots=True)
class Capture:
    """One frame to capture into the evidence store, with its manifest fields."""

    source: str
    name: str
    frame: pd.DataFrame
    query: Mapping[str, Any]
    fetched_at: datetime


def bin_counts(times: np.ndarray, bins: np.ndarray, step_s: int) -> np.ndarray:
    """How many of ``times`` fall in each bin ``[b, b + step)``."""
    idx = (np.asarray(times, dtype=np.int64) - bins[0]) // (step_s * NS)
    idx = idx[(idx >= 0) & (idx < bins.size)]
    return np.bincount(idx, minlength=bins.size)


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
            "time": to_ns(datetime.fromisoformat(f"{day}T{t}+00:00")),
            "monitor_id": monitors[k][0],
            "monitor": monitors[k][1],
            "state": state,
            "message": msg,
        }
        for t, k, state, msg in sorted(events)
    ]
    return records_frame(rows, "monitor_events", ["time"])


def datadog_events_frame(
    day: str, events: Sequence[tuple[str, str, str, str, Sequence[str]]]
) -> pd.DataFrame:
    """``datadog_events`` from ``(HH:MM:SS, source_type, title, message, tags)`` on ``day``.

    Each event is shaped like an item of Datadog's v2 events search and read by
    the Datadog source's own converters (:func:`incident_lib.sources._datadog_frames.event_row`,
    ``events_frame``), so the markdown folding, the 500-character cut, redaction
    and dtypes are those of a live capture.
    """
    from ..sources import _datadog_frames as frames

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


def evaluate_monitor(
    times: np.ndarray,
    values: np.ndarray,
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


#: the pg_stat_activity sample a live PostgreSQL capture records as its query
PG_ACTIVITY_QUERY = (
    "SELECT now() AS sampled_at, pid, datname, usename, application_name, client_addr, "
    "state, backend_start, xact_start, query_start, state_change, wait_event_type, "
    "wait_event, pg_blocking_pids(pid) AS blocking_pids, query FROM pg_stat_activity "
    "WHERE backend_type = 'client backend'"
)
PG_SETTINGS_NAMES = [
    "max_connections", "superuser_reserved_connections",
    "idle_in_transaction_session_timeout", "statement_timeout",
]  # fmt: skip


def resolved_record(truth: Any, *, title: str, roles: Mapping[str, str], impact: str) -> Incident:
    """The incident record of a scenario, as the responders left it once resolved."""
    return Incident.create(
        id=truth.incident_id,
        title=title,
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
        roles=dict(roles),
        impact=impact,
    )
