"""The ``connection-leak`` simulation: api v2.34 leaks database connections until orders-db is full.

The story, minute by minute (UTC, 2026-11-03):

* 13:05 an unrelated feature flag (product-reviews-carousel) is turned on in LaunchDarkly.
* 14:10 the ``api`` Deployment rolls out v2.34 (revision 42, three pods, one at a time);
  the deploy pipeline posts "Deployed api v2.34 to prod" to Datadog.
* From 14:11 every aborted order-batch flush leaves its transaction open
  (``idle in transaction``): one pooled connection leaks per abort. Each pod's pool
  (size 20 + overflow 10) grows, so orders-db connections climb from ~10.
* 14:18:30 the first pod's pool is exhausted: from 14:19 its database requests fail
  after waiting 30 s with SQLAlchemy's ``QueuePool limit ...`` (5xx and p95 climb;
  row locks held by the open transactions slow other requests too); 14:21:30 the
  second; ~14:24 orders-db reaches ``max_connections - superuser_reserved_connections``
  and new connections are refused (``remaining connection slots are reserved ...``,
  ``sorry, too many clients already`` while DBAs hold the reserved slots). A leaked
  transaction blocks orders-worker's ``UPDATE`` (a blocking chain in pg_stat_activity).
* 14:21 the 5xx monitor alerts; 14:24 acknowledged; 14:33 ``kubectl rollout undo``
  (v2.33's ReplicaSet becomes revision 43); ~14:34:30 the last v2.34 pod is gone,
  its connections close, errors and latency are back by 14:36. Resolved 14:50.

The scenario's data (record, rollouts, monitors, ...) is in :mod:`._specs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._clock import (
    NS,
    Array,
    bin_counts,
    event_times,
    from_ns,
    grid,
    periodic_times,
    py_asctime,
    smoothstep,
    to_ns,
)
from ._database import (
    ActivityRows,
    LockRows,
    PgFrames,
    XidClock,
    database_stats_frame,
    limits_frame,
    pg_settings_frame,
    replication_frame,
    statements_frame,
)
from ._frames import EventSink, LogAdd, LogSink
from ._kube import Pod, hpa_frame, new_pod, pod_start_events, pod_stop_events, scale_event
from ._logtext import (
    API_INGRESS_IPS,
    API_TRACE_FATAL,
    API_TRACE_TIMEOUT,
    FATAL_RESERVED,
    FATAL_TOO_MANY,
    QUEUEPOOL,
    api_request,
    env_dump,
    fatal,
    gunicorn_line,
    json_line,
    plain_line,
)
from ._model import Logs, Model, Usage
from ._random import FastRandom
from ._secrets import DBLINK_PASSWORD, JWT, URL_TOKEN

if TYPE_CHECKING:
    from ._spec import ScenarioSpec

__all__ = ["MAX_CONNECTIONS", "RESERVED", "RS_BAD", "RS_GOOD", "LeakModel"]

RS_GOOD, RS_BAD = "6f9c7b5d48", "7d4b8c9f6"
DB_IP = "10.0.40.12"
MAX_CONNECTIONS, RESERVED = 100, 3
POOL_MAX = 30  # pool_size 20 + max_overflow 10
DB_FRACTION = 0.12  # share of requests that need a database connection (the rest: cache)
NODES = (
    ("ip-10-0-12-34.eu-west-1.compute.internal", "10.0.12"),
    ("ip-10-0-13-187.eu-west-1.compute.internal", "10.0.13"),
    ("ip-10-0-14-9.eu-west-1.compute.internal", "10.0.14"),
    ("ip-10-0-12-201.eu-west-1.compute.internal", "10.0.12"),
)
GIT_SHA = {"v2.33": "9e1d4c7", "v2.34": "3f9c2ab"}


@dataclass(slots=True)
class Session:
    """A backend of orders-db opened by an api pod."""

    pid: int
    pod: Pod
    opened: int
    closed: int | None = None
    #: when the aborted flush left its transaction open (the connection leaked)
    leaked_at: int | None = None


class LeakModel(Model):
    """Pods, traffic and the per-second connection simulation shared by every source."""

    def __init__(self, spec: ScenarioSpec, seed: int) -> None:
        super().__init__(spec, seed)
        truth = spec.truth
        assert truth.deploy_at is not None and truth.rollback_at is not None
        assert truth.bad_version is not None and truth.good_version is not None
        self.good, self.bad = truth.good_version, truth.bad_version
        self.db_host = spec.database.host
        rng = self.rng("pods")
        self.old, self.new, self.back = self._pods(rng, truth.deploy_at, truth.rollback_at)
        self.pods = [*self.old, *self.new, *self.back]
        x = np.arange(self.n) / self.n
        self.demand = 24.0 * (1 + 0.06 * x) * (1 + 0.025 * np.sin(2 * np.pi * 3.7 * x))
        serving = np.array([p.serving(self.sec) for p in self.pods])
        self.serving = {p.name: serving[i] for i, p in enumerate(self.pods)}
        n_serving = np.maximum(serving.sum(axis=0), 1)
        self.rps_pod = {
            p.name: self.demand / n_serving * serving[i] for i, p in enumerate(self.pods)
        }
        self._others()
        self._simulate(self.rng("leaks"))
        self._batches(self.rng("batches"))

    def _pods(
        self, rng: np.random.Generator, deploy_at: datetime, rollback_at: datetime
    ) -> tuple[list[Pod], list[Pod], list[Pod]]:
        def pod(rs: str, version: str, node: int, created: int, started: int, ready: int) -> Pod:
            return new_pod(
                rng,
                deployment=self.spec.truth.service,
                replicaset=rs,
                version=version,
                node=NODES[node % 4],
                created=created,
                started=started,
                ready=ready,
            )

        old = []
        for i in range(3):
            created = self.at("09:14:05", "2026-11-01") + i * 31 * NS
            old.append(pod(RS_GOOD, self.good, i, created, created + 9 * NS, created + 31 * NS))
        new, t = [], to_ns(deploy_at)
        for i in range(3):
            created = t + int(0.2 * NS)
            started = created + int((8.4 + 0.6 * i) * NS)
            ready = started + int(rng.uniform(21, 24) * NS)
            new.append(pod(RS_BAD, self.bad, (i + 1) % 4, created, started, ready))
            old[i].deleted, old[i].exited = ready, ready + int(3.5 * NS)
            t = ready
        back, t = [], to_ns(rollback_at)
        for i in range(3):
            created = t + int(0.3 * NS)
            started = created + int(2.4 * NS)
            ready = started + int(rng.uniform(21, 23) * NS)
            back.append(pod(RS_GOOD, self.good, (i + 2) % 4, created, started, ready))
            new[i].deleted, new[i].exited = ready, ready + int(8 * NS)
            t = ready
        return old, new, back

    def _others(self) -> None:
        """Other clients of orders-db: orders-worker, datadog, a cron job, DBAs (superusers)."""
        worker = np.full(self.n, 3, dtype=np.int64)
        for moment in ("14:17:40", "14:19:30", "14:21:10", "14:23:00", "14:24:30"):
            worker[self.idx(moment) :] += 1
        for moment in ("14:36:10", "14:36:50", "14:37:30", "14:38:20", "14:39:00"):
            worker[self.idx(moment) :] -= 1
        self.worker_wanted = worker  # it gets them only while orders-db has room
        cron = np.zeros(self.n, dtype=np.int64)
        cron[self.idx("13:30:00") : self.idx("13:31:40")] = 1
        self.cron = cron
        self.superusers = [  # (start, end, application_name, client)
            (self.at("14:26:10"), self.at("14:41:00"), "psql", "10.0.5.23"),
            (self.at("14:28:40"), self.at("14:31:20"), "psql", "10.0.5.31"),
            (self.at("14:29:50"), self.at("14:32:30"), "pgAdmin 4 - DB:orders", "10.0.5.40"),
        ]
        sup = np.zeros(self.n, dtype=np.int64)
        for start, end, _, _ in self.superusers:
            sup[self.idx(start) : self.idx(end)] += 1
        self.super_count = sup

    def _leak_schedule(self, rng: np.random.Generator) -> dict[str, list[int]]:
        full = ("14:18:30", "14:21:30", "14:25:30")
        out = {}
        for pod, end in zip(self.new, full, strict=True):
            start = pod.ready + 30 * NS
            stop = self.at(end)
            spacing = (stop - start) / POOL_MAX
            times = start + spacing * np.arange(1, POOL_MAX + 1)
            times += rng.uniform(-0.3, 0.3, POOL_MAX) * spacing
            times[-1] = stop - rng.uniform(0, 2) * NS
            out[pod.name] = sorted(int(t) for t in times)
        return out

    def _simulate(self, rng: np.random.Generator) -> None:
        """Per second: each pod's open and leaked connections, orders-db totals."""
        schedule = self._leak_schedule(rng)
        self.leak_times = schedule
        leak_at = {name: {int((t - self.b0) // NS): t for t in ts} for name, ts in schedule.items()}
        alive = {p.name: p.alive(self.sec) for p in self.pods}
        conns = {p.name: np.zeros(self.n, dtype=np.int64) for p in self.pods}
        leaked = {p.name: np.zeros(self.n, dtype=np.int64) for p in self.pods}
        total = np.zeros(self.n, dtype=np.int64)
        self.sessions: list[Session] = []
        open_: dict[str, list[Session]] = {p.name: [] for p in self.pods}
        pid_rng = self.rng("pids")
        next_pid = [31000]

        def new_pid() -> int:
            next_pid[0] += int(pid_rng.integers(3, 60))
            return next_pid[0]

        pooled: dict[str, list[Session]] = {p.name: [] for p in self.pods}
        n_leaked = dict.fromkeys(open_, 0)
        in_use = 0  # open connections of api pods
        room = MAX_CONNECTIONS - RESERVED
        self.worker = np.zeros(self.n, dtype=np.int64)
        self.worker_opened_at: list[int] = []  # when orders-worker got its k-th extra connection
        extra = 0
        for s in range(self.n):
            t = int(self.sec[s])
            used = 3 + extra + 1 + int(self.cron[s]) + in_use  # orders-worker, datadog, cron
            want = int(self.worker_wanted[s]) - 3
            while extra < want and used < room:
                if extra == len(self.worker_opened_at):
                    self.worker_opened_at.append(t)
                else:
                    self.worker_opened_at[extra] = t
                extra += 1
                used += 1
            if extra > want:
                used -= extra - want
                extra = want
            self.worker[s] = 3 + extra
            for p in self.pods:
                name = p.name
                mine = open_[name]
                if not alive[name][s]:
                    if mine:
                        for c in mine:
                            c.closed = p.exited
                        in_use -= len(mine)
                        used -= len(mine)
                        mine.clear()
                        pooled[name].clear()
                        n_leaked[name] = 0
                    continue
                free = pooled[name]
                if s in leak_at.get(name, ()):
                    target = free.pop(0) if free else None
                    if target is None and len(mine) < POOL_MAX and used < room:
                        target = self._open(p, t, new_pid())
                        mine.append(target)
                        in_use += 1
                        used += 1
                    if target is not None:
                        target.leaked_at = leak_at[name][s]
                        n_leaked[name] += 1
                while len(free) < 2 and len(mine) < POOL_MAX and used < room:
                    c = self._open(p, t - int(pid_rng.uniform(0, 0.9) * NS), new_pid())
                    mine.append(c)
                    free.append(c)
                    in_use += 1
                    used += 1
                conns[name][s] = len(mine)
                leaked[name][s] = n_leaked[name]
            total[s] = used
        self.conns, self.leaked = conns, leaked
        self.total_normal = total
        self.total = total + self.super_count
        self.total_leaked: Array = sum(leaked.values(), np.zeros(self.n, dtype=np.int64))

    def _batches(self, rng: np.random.Generator) -> None:
        """The v2.34 pods' order-batch flushes (every ~10 s) and aborted flushes, one id sequence.

        An aborted flush that got its connection leaks it (``leak_batch``: leak time ->
        batch id, the row its open transaction keeps locked); one that got none fails.
        """
        leaked = {s.leaked_at for s in self.sessions if s.leaked_at is not None}
        events = []
        for p in self.new:
            assert p.exited is not None
            free = (self.conns[p.name] - self.leaked[p.name]) > 0
            for t in periodic_times(rng, p.ready + 10 * NS, p.exited, 10, 0.3):
                events.append((int(t), p.name, "flushed" if free[self.idx(int(t))] else "failed"))
            for t in self.leak_times[p.name]:
                if t < p.exited:
                    events.append((t, p.name, "aborted" if t in leaked else "failed"))
        events.sort()
        ids = 88000 + int(rng.integers(0, 400)) + np.cumsum(rng.integers(1, 4, len(events)))
        self.batches = [
            (t, pod, kind, int(i)) for (t, pod, kind), i in zip(events, ids, strict=True)
        ]
        self.leak_batch = {t: i for t, _, kind, i in self.batches if kind == "aborted"}

    def _open(self, pod: Pod, t: int, pid: int) -> Session:
        session = Session(pid, pod, t)
        self.sessions.append(session)
        return session

    # -- derived per-second rates ---------------------------------------------------
    def lock_slow(self) -> Array:
        """Share of all requests slowed (seconds) by row locks the leaked transactions hold."""
        return np.clip(0.0006 * self.total_leaked, 0, 0.055)

    def failure_rates(self) -> dict[str, tuple[Array, Array, Array]]:
        """Per pod: expected pool timeouts, refused connections, slow requests per second."""
        full = self.total_normal >= MAX_CONNECTIONS - RESERVED
        out = {}
        for p in self.pods:
            db = self.rps_pod[p.name] * DB_FRACTION
            c, lk = self.conns[p.name], self.leaked[p.name]
            pooled = c - lk
            alive = self.serving[p.name]
            at_cap = c >= POOL_MAX
            timeout = np.where(alive & at_cap & (pooled == 0), db, 0.0)
            refused = np.where(alive & ~at_cap & (pooled == 0), db, 0.0)
            refused += np.where(alive & ~at_cap & full & (pooled == 1), 0.2 * db, 0.0)
            refused += np.where(alive & ~at_cap & full & (pooled == 2), 0.05 * db, 0.0)
            slow = np.where(alive & at_cap & (pooled == 1), 0.3 * db, 0.0)
            slow += np.where(alive & at_cap & (pooled == 2), 0.05 * db, 0.0)
            out[p.name] = (timeout, refused, slow)
        return out

    def _fatal(self, kind: str) -> str:
        return fatal(kind, self.db_host, DB_IP)

    # -- metrics --------------------------------------------------------------------
    def latency_p95(
        self, bins: Array, idx: Array, hits: Array, timeouts: Array, rng: np.random.Generator
    ) -> Array:
        """Timed-out requests take 30 s; slow and lock-blocked ones 1.5-9 s."""
        to = bin_counts(timeouts, bins, 15).astype(float)
        rates = self.failure_rates()
        slow = sum((r[2] for r in rates.values()), np.zeros(self.n))
        slow_bin = np.array([slow[i : i + 15].sum() for i in idx])
        lock = self.lock_slow()[idx]
        ft = to / np.maximum(hits, 1)
        fs = np.clip(slow_bin / np.maximum(hits, 1) + lock, 0, 0.5)
        wobble = 1 + 0.1 * np.sin(np.arange(bins.size) / 37)
        # requests queue behind the row locks the open transactions hold: latency creeps up
        creep = 1 + 1.2 * smoothstep(self.total_leaked[idx] / 80)
        base = 142 * np.exp(rng.normal(0, 0.06, bins.size)) * wobble * creep
        nd = NormalDist()
        p95 = np.empty(bins.size)
        for k in range(bins.size):
            if ft[k] >= 0.05:
                p95[k] = 30000 + rng.uniform(8, 45)
            elif ft[k] + fs[k] >= 0.05:
                p95[k] = 1500 + 7500 * (1 - (0.05 - ft[k]) / fs[k])
            else:
                q = 0.95 / (1 - ft[k] - fs[k])
                p95[k] = base[k] * np.exp(0.55 * (nd.inv_cdf(min(q, 0.9999)) - 1.645))
        return p95

    def db_connections(self, bins: Array, idx: Array) -> Array:
        """orders-db's connections, superusers included."""
        return np.asarray(self.total[idx].astype(float))

    def usage(self, pod: Pod, times: Array, rng: np.random.Generator) -> Usage:
        """CPU (cores) and memory (bytes) of the api container of ``pod`` at ``times``."""
        idx = np.clip((times - self.b0) // NS, 0, self.n - 1).astype(int)
        alive = pod.alive(times)
        rps = self.rps_pod[pod.name][idx]
        cpu = 0.06 + 0.0075 * rps + rng.normal(0, 0.008, times.size)
        if pod.version == self.bad:
            cpu += 0.015
        boot = (times >= pod.started) & (times < pod.started + 25 * NS)
        cpu = np.where(boot, 0.45 + rng.normal(0, 0.03, times.size), cpu)
        memory = 2**20 * (
            296 + 6 * np.sin((times - pod.created) / NS / 1700) + rng.normal(0, 1.5, times.size)
        )
        memory = memory + 3.4 * 2**20 * self.leaked[pod.name][idx]
        memory = np.where(
            boot, memory * np.clip((times - pod.started) / (25 * NS), 0.35, 1), memory
        )
        return {
            self.spec.main_container: (
                np.where(alive, np.clip(cpu, 0.01, None), 0.0),
                np.where(alive, memory, 0.0),
            )
        }

    # -- logs -----------------------------------------------------------------------
    def logs(self) -> Logs:
        """The api containers' logs, plus the times of 5xx responses and of timed-out requests."""
        rng = self.rng("logs")
        r = FastRandom(self.rng("logs/text"))
        sink = LogSink()
        errors: list[int] = []
        timeouts: list[int] = []
        rates = self.failure_rates()
        slow_lock = self.lock_slow()
        for pod in self.pods:
            self._pod_logs(sink, rng, r, pod, rates, slow_lock, errors, timeouts)
        self._planted_and_baseline_logs(sink, r, errors)
        return Logs(
            sink.frame(),
            np.array(sorted(errors), dtype=np.int64),
            np.array(sorted(timeouts), dtype=np.int64),
        )

    def _lifecycle_logs(self, add: LogAdd, r: FastRandom, pod: Pod) -> None:
        """gunicorn and app start-up lines (a planted DSN among them) and shut-down lines."""
        name, ctr = pod.name, "api"
        dsn = self.spec.database.dsn
        if pod.started >= self.b0:
            t = pod.started + int(0.3 * NS)
            for msg in (
                "Starting gunicorn 22.0.0",
                "Listening at: http://0.0.0.0:8000 (1)",
                "Using worker: gthread",
            ):
                add(t, name, ctr, gunicorn_line(t, 1, "info", msg))
                t += int(r.uniform(0.001, 0.01) * NS)
            for wpid in (7, 8):
                t += int(r.uniform(0.01, 0.05) * NS)
                add(t, name, ctr, gunicorn_line(t, 1, "info", f"Booting worker with pid: {wpid}"))
            t += int(1.8 * NS)
            sha = GIT_SHA[pod.version]
            msg = f"api {pod.version} starting (git {sha}, python 3.12.7)"
            add(t, name, ctr, json_line(t, "info", "api.app", msg))
            t += int(0.02 * NS)
            add(t, name, ctr, plain_line(t, "info", "MainThread", "api.settings", env_dump(dsn)))
            t += int(0.03 * NS)
            msg = (
                f"database engine created for {dsn} "
                "(pool_size=20, max_overflow=10, pool_timeout=30)"
            )
            add(t, name, ctr, json_line(t, "info", "api.db", msg))
            if pod.version == self.bad:
                t += int(0.01 * NS)
                msg = "order batching enabled: flush every 10s, max 50 orders per batch"
                add(t, name, ctr, json_line(t, "info", "orders.batch", msg))
        if pod.deleted is not None and pod.deleted < self.w1:
            assert pod.exited is not None
            t = pod.deleted + int(0.2 * NS)
            add(t, name, ctr, gunicorn_line(t, 1, "info", "Handling signal: term"))
            for wpid in (7, 8):
                t += int(r.uniform(0.5, 3) * NS)
                add(t, name, ctr, gunicorn_line(t, wpid, "info", f"Worker exiting (pid: {wpid})"))
            t = pod.exited - NS // 10
            add(t, name, ctr, gunicorn_line(t, 1, "info", "Shutting down: Master"))

    def _pod_logs(
        self,
        sink: LogSink,
        rng: np.random.Generator,
        r: FastRandom,
        pod: Pod,
        rates: dict[str, tuple[Array, Array, Array]],
        slow_lock: Array,
        errors: list[int],
        timeouts: list[int],
    ) -> None:
        add = sink.add
        name, ctr = pod.name, "api"
        end = pod.exited if pod.exited is not None else self.w1
        begin = max(pod.started, self.b0)
        kubelet = pod.ip.rsplit(".", 1)[0] + ".1"
        self._lifecycle_logs(add, r, pod)

        # probes: readiness every 10 s, liveness every 20 s (logged by the app)
        for path, period in (("/healthz/ready", 10), ("/healthz/live", 20)):
            for t in periodic_times(rng, max(begin, pod.ready - 2 * NS), end, period):
                took = int(r.integers(0, 3))
                line = json_line(
                    t,
                    "info",
                    "api.access",
                    f"GET {path} 200 took {took}ms",
                    remote_addr=kubelet,
                    user_agent="kube-probe/1.30",
                )
                add(t, name, ctr, line)

        serving_rate = self.rps_pod[name]
        # sampled access log (5 % of successful requests)
        idx0 = int((begin - self.b0) // NS)
        idx1 = int((min(end, self.w1) - self.b0) // NS)
        bins = self.sec[idx0:idx1]
        timeout, refused, slow = (rate[idx0:idx1] for rate in rates[name])
        share_slow = np.clip(
            slow / np.maximum(serving_rate[idx0:idx1], 1e-9) + slow_lock[idx0:idx1], 0, 0.5
        )
        for t in event_times(rng, bins, serving_rate[idx0:idx1] * 0.05, 1):
            i = int((t - self.b0) // NS)
            method, path, status, took = api_request(r, share_slow[i - idx0])
            level = "warning" if status >= 400 else "info"
            line = json_line(
                t,
                level,
                "api.access",
                f"{method} {path} {status} took {took}ms",
                request_id=r.uuid4(),
                remote_addr=r.choice(API_INGRESS_IPS),
                sampled=True,
            )
            add(t, name, ctr, line)

        self._housekeeping_logs(add, rng, r, pod, begin, end, bins)
        self._baseline_trouble_logs(add, rng, r, pod, bins, errors)
        self._batch_logs(add, r, pod)

        # the incident: timeouts, refused connections, the pool monitor
        counts_to = rng.poisson(timeout)
        counts_rf = rng.poisson(refused)
        for j in np.nonzero(counts_to)[0]:
            for _ in range(counts_to[j]):
                started = int(bins[j]) + int(r.uniform(0, 1) * NS)
                t = started + int((30 + r.uniform(0.002, 0.03)) * NS)
                if t >= end:
                    continue
                errors.append(t)
                timeouts.append(t)
                oid = int(r.integers(5_400_000, 5_600_000))
                method, path = (
                    ("GET", f"/v1/orders/{oid}") if r.random() < 0.7 else ("POST", "/v1/orders")
                )
                if r.random() < 0.05:
                    raw = (
                        f"{py_asctime(t)} ERROR [ThreadPoolExecutor-0_{int(r.integers(0, 8))}] "
                        f"api.app: Exception on {path} [{method}]\n{API_TRACE_TIMEOUT}{QUEUEPOOL}"
                    )
                    add(t, name, ctr, raw)
                else:
                    line = json_line(
                        t,
                        "error",
                        "api.errors",
                        QUEUEPOOL,
                        exc_type="sqlalchemy.exc.TimeoutError",
                        method=method,
                        path=path,
                        status=500,
                        duration_ms=int((t - started) / 1e6),
                        request_id=r.uuid4(),
                    )
                    add(t, name, ctr, line)
        for j in np.nonzero(counts_rf)[0]:
            i = idx0 + int(j)
            kind = FATAL_TOO_MANY if self.total[i] >= MAX_CONNECTIONS else FATAL_RESERVED
            for _ in range(counts_rf[j]):
                t = int(bins[j]) + int(r.uniform(0.01, 1) * NS)
                errors.append(t)
                if r.random() < 0.05:
                    raw = (
                        f"{py_asctime(t)} ERROR [ThreadPoolExecutor-0_{int(r.integers(0, 8))}] "
                        "api.app: Exception on /v1/orders [POST]\n"
                        + API_TRACE_FATAL.format(kind=kind)
                    )
                    add(t, name, ctr, raw)
                else:
                    line = json_line(
                        t,
                        "error",
                        "api.errors",
                        self._fatal(kind),
                        exc_type="sqlalchemy.exc.OperationalError",
                        method="POST",
                        path="/v1/orders",
                        status=500,
                        duration_ms=int(r.integers(3, 12)),
                        request_id=r.uuid4(),
                    )
                    add(t, name, ctr, line)
        exhausted = (self.conns[name] >= POOL_MAX) & (self.conns[name] == self.leaked[name])
        for t in periodic_times(rng, begin, end, 30, 0.01):
            i = int((t - self.b0) // NS)
            if exhausted[i]:
                waiting = int(rates[name][0][i] * 30 + r.integers(0, 6))
                msg = (
                    f"database pool exhausted: {POOL_MAX}/{POOL_MAX} connections checked out, "
                    f"{waiting} requests waiting"
                )
                add(t, name, ctr, plain_line(t, "critical", "pool-monitor", "api.db", msg))

    def _housekeeping_logs(
        self,
        add: LogAdd,
        rng: np.random.Generator,
        r: FastRandom,
        pod: Pod,
        begin: int,
        end: int,
        bins: Array,
    ) -> None:
        """Cache statistics, the exchange-rate job and GC lines."""
        name, ctr = pod.name, "api"
        for t in periodic_times(rng, begin + 20 * NS, end, 60, 0.02):
            hits = int(r.integers(2200, 3100))
            miss = int(hits * r.uniform(0.04, 0.08))
            msg = (
                f"hit ratio {hits / (hits + miss):.2f} over last 60s (hits={hits} misses={miss} "
                f"evictions={int(r.integers(0, 4))})"
            )
            add(t, name, ctr, plain_line(t, "info", "cache-stats", "api.cache", msg))
        for t in periodic_times(rng, begin + 5 * NS, end, 300, 0.01):
            nxt = (t // (300 * NS) + 1) * 300 * NS
            job = (
                f'"refresh_exchange_rates (trigger: interval[0:05:00], next run at: '
                f'{from_ns(nxt):%Y-%m-%d %H:%M:%S} UTC)"'
            )
            scheduler = "apscheduler.executors.default"
            msg = f"Running job {job} (scheduled at {from_ns(t):%Y-%m-%d %H:%M:%S}+00:00)"
            add(t, name, ctr, plain_line(t, "info", "APScheduler", scheduler, msg))
            t2 = t + int(r.uniform(0.3, 1.6) * NS)
            msg = f"Job {job} executed successfully"
            add(t2, name, ctr, plain_line(t2, "info", "APScheduler", scheduler, msg))
        for t in event_times(rng, bins, 1 / 240, 1):
            msg = (
                f"gc generation 2 collected {int(r.integers(8000, 30000))} objects in "
                f"{r.uniform(15, 70):.1f}ms"
            )
            add(t, name, ctr, plain_line(t, "info", "gc-monitor", "api.runtime", msg))

    def _baseline_trouble_logs(
        self,
        add: LogAdd,
        rng: np.random.Generator,
        r: FastRandom,
        pod: Pod,
        bins: Array,
        errors: list[int],
    ) -> None:
        """Trouble that is not the incident: payment retries and failures, slow queries."""
        name, ctr = pod.name, "api"
        for t in event_times(rng, bins, 0.03 / 3, 1):
            oid = int(r.integers(5_400_000, 5_600_000))
            msg = (
                f"payment authorization for order {oid} failed with 502 Bad Gateway, retrying "
                f"(attempt 2/3)"
            )
            line = json_line(t, "warning", "api.payments", msg, request_id=r.uuid4())
            add(t, name, ctr, line)
        for t in event_times(rng, bins, 0.012 / 3, 1):
            oid = int(r.integers(5_400_000, 5_600_000))
            msg = (
                f"payment provider returned 502 Bad Gateway for order {oid}; giving up after 3 "
                "attempts"
            )
            line = json_line(t, "error", "api.payments", msg, request_id=r.uuid4(), status=502)
            add(t, name, ctr, line)
            errors.append(t)
        for t in event_times(rng, bins, 0.004 / 3, 1):
            thread = "ThreadPoolExecutor-0_" + str(int(r.integers(0, 8)))
            msg = (
                f"slow query took {int(r.integers(1000, 2600))}ms: SELECT orders.id, "
                "orders.status FROM orders WHERE orders.customer_id = "
                f"{int(r.integers(10000, 90000))} ORDER BY orders.created_at DESC LIMIT 20"
            )
            add(t, name, ctr, plain_line(t, "warning", thread, "api.db", msg))

    def _batch_logs(self, add: LogAdd, r: FastRandom, pod: Pod) -> None:
        """Order batching (v2.34 only): flushes; an aborted one leaks its connection."""
        name, ctr = pod.name, "api"
        for t, _, kind, batch in (b for b in self.batches if b[1] == name):
            if kind == "flushed":
                level = "info"
                msg = (
                    f"flushed batch {batch} with {r.integers(3, 40)} orders in "
                    f"{int(r.lognormal(np.log(180), 0.4))}ms"
                )
            elif kind == "aborted":
                level = "warning"
                msg = (
                    f"batch {batch} flush aborted: order {r.integers(5_400_000, 5_600_000)} has "
                    "a pending payment authorization; will retry next cycle"
                )
            else:
                i = int((t - self.b0) // NS)
                cause = (
                    QUEUEPOOL
                    if self.conns[name][i] >= POOL_MAX
                    else self._fatal(
                        FATAL_TOO_MANY if self.total[i] >= MAX_CONNECTIONS else FATAL_RESERVED
                    )
                )
                level = "error"
                msg = f"flush of batch {batch} failed: {cause}"
            add(t, name, ctr, plain_line(t, level, "batch-worker", "orders.batch", msg))

    def _planted_and_baseline_logs(self, sink: LogSink, r: FastRandom, errors: list[int]) -> None:
        """Planted secrets in ordinary-looking places, and a redis hiccup in the baseline.

        The reporting job's ``dblink`` password is logged by api's slow-query logger (a
        capture masks it in pg_stat_activity, not in an application's own log line).
        """
        add = sink.add
        first = self.old[0]
        t = self.at("13:30:03.412")
        msg = f"slow query took 3012ms: {_CRON_QUERY.split('; ')[0]}"
        add(t, self.old[2].name, "api", plain_line(t, "warning", "MainThread", "api.db", msg))
        for offset in (0.0, 12.4, 37.9):
            t = self.at("13:41:07") + int(offset * NS)
            cid = int(r.integers(10000, 90000))
            msg = (
                f"GET http://customers.prod.svc.cluster.local/v1/customers/{cid} headers="
                f"{{'User-Agent': 'api/2.33', 'Accept': 'application/json', "
                f"'Authorization': 'Bearer {JWT}'}}"
            )
            line = plain_line(t, "debug", "ThreadPoolExecutor-0_2", "api.clients.customers", msg)
            add(t, first.name, "api", line)
        for pod, moment in ((self.old[1], "13:17:42"), (self.back[2], "14:44:10")):
            t = self.at(moment)
            path = f"/v1/exports/orders.csv?token={URL_TOKEN}&from=2026-11-01&to=2026-11-02"
            line = json_line(
                t,
                "info",
                "api.access",
                f"GET {path} 200 took 812ms",
                request_id=r.uuid4(),
                remote_addr=API_INGRESS_IPS[0],
                sampled=True,
            )
            add(t, pod.name, "api", line)
        # a redis hiccup in the baseline: one burst of 5xx inside a single 15 s bin
        burst = self.at("13:24:16")
        for k in range(12):
            pod = self.old[k % 3]
            t = burst + int(r.uniform(0, 10.5) * NS)
            line = json_line(
                t,
                "error",
                "api.errors",
                "Timeout reading from socket",
                exc_type="redis.exceptions.TimeoutError",
                method="GET",
                path=f"/v1/products/SKU-{r.integers(10000, 99999)}",
                status=500,
                duration_ms=int(r.integers(1000, 1010)),
                request_id=r.uuid4(),
            )
            add(t, pod.name, "api", line)
            errors.append(t)

    # -- kubernetes -------------------------------------------------------------------
    def k8s_events(self) -> pd.DataFrame:
        """The rollout of v2.34 and the rollback to v2.33, one pod at a time."""
        rng = self.rng("events")
        sink = EventSink()
        service, namespace = self.spec.truth.service, self.spec.truth.namespace
        for rs, pods, src in ((RS_BAD, self.new, self.old), (RS_GOOD, self.back, self.new)):
            version = self.bad if rs == RS_BAD else self.good
            src_rs = src[0].replicaset
            scale_event(sink, pods[0].created - int(0.15 * NS), service, rs, 0, 1)
            for i, pod in enumerate(pods):
                image = self.spec.image.format(version)
                pod_start_events(
                    sink, rng, pod, [("api", image, rs == RS_BAD)], namespace=namespace
                )
                for _ in range(int(rng.integers(1, 3))):
                    t = pod.started + int(rng.uniform(4, 12) * NS)
                    sink.add(
                        t,
                        "Warning",
                        "Unhealthy",
                        f"Pod/{pod.name}",
                        f'Readiness probe failed: Get "http://{pod.ip}:8000/healthz/ready": '
                        f"dial tcp {pod.ip}:8000: connect: connection refused",
                    )
                scale_event(sink, pod.ready + int(0.1 * NS), service, src_rs, 3 - i, 2 - i)
                if i < 2:
                    scale_event(sink, pod.ready + int(0.12 * NS), service, rs, i + 1, i + 2)
        for pod in [*self.old, *self.new]:
            pod_stop_events(sink, pod, ["api"])
        return sink.frame(since=self.w0)

    def hpa(self) -> pd.DataFrame:
        """api's autoscaler (3-8 replicas): held at its minimum, never near its maximum.

        The leak costs connections, not CPU: no ``SuccessfulRescale`` in the window.
        """
        since = self.at("09:15:12", "2026-11-01")
        return hpa_frame(
            self.spec.truth.service,
            replicas=(3, 8, 3, 3),
            metrics="cpu 31%/70%",
            since=since,
            limited=("TooFewReplicas", since),
            captured_at=to_ns(self.spec.fetched_at("kubernetes", "hpa")),
        )

    # -- postgres ---------------------------------------------------------------------
    def xid_clock(self) -> XidClock:
        """orders-db's xids: api's writes, orders-worker's batches, and who holds one.

        The order-batch flush runs at REPEATABLE READ: a leaked transaction keeps the
        xid its ``SELECT ... FOR UPDATE`` took and the snapshot (xmin) it started with.
        """
        rate = self.demand * DB_FRACTION * 0.35 + 0.6
        clock = XidClock(self.b0, rate, 731_482_113)
        for s in self.sessions:
            if s.leaked_at is not None:
                clock.hold(s.leaked_at - int(0.05 * NS), s.closed or self.w1 + 3600 * NS)
        return clock

    def database(self) -> PgFrames:
        """orders-db as a capture sees it: full of api's leaked transactions."""
        clock = self.xid_clock()
        locks = LockRows()
        activity = self.pg_activity(clock, locks)
        samples = grid(self.spec.truth.baseline.start, self.spec.truth.window.end, 30)
        since, until = int(samples[0]), int(samples[-1])
        last = activity[activity["sampled_at"] == activity["sampled_at"].max()]
        users = last["usename"].value_counts()
        limits = [("role", u, lim, int(users.get(u, 0))) for u, lim in _ROLE_LIMITS]
        limits.append(("database", self.spec.database.dbname, -1, len(last)))
        limits.append(("database", "postgres", -1, 0))
        return PgFrames(
            activity=activity,
            settings=pg_settings_frame(self.spec.database.settings),
            limits=limits_frame(limits),
            locks=locks.frame(),
            database_stats=self._database_stats(since, until),
            statements=self._statements(),
            replication=replication_frame([]),
            since=since,
            until=until,
        )

    def _database_stats(self, since: int, until: int) -> pd.DataFrame:
        """pg_stat_database deltas: api's reads end in ROLLBACK (the pool's reset on
        return), its writes and orders-worker's in COMMIT; the leaked transactions
        are rolled back when their pods go away, and refused requests never start one."""
        i0, i1 = self.idx(since), self.idx(until)
        rates = self.failure_rates()
        failed = sum((r[0][i0:i1].sum() + r[1][i0:i1].sum() for r in rates.values()), 0.0)
        db = float((self.demand[i0:i1] * DB_FRACTION).sum()) - failed
        leaked = sum(1 for s in self.sessions if s.leaked_at and s.closed and s.closed <= until)
        seconds = (until - since) / NS
        commits = int(0.35 * db + 0.6 * seconds + seconds / 15)
        rollbacks = int(0.62 * db + leaked)
        return database_stats_frame(
            [
                (self.spec.database.dbname, commits, rollbacks, 0, 2, 2 * 18_874_368, 0,
                 int(db * 1.7), int(db * 41.3)),
                ("postgres", int(seconds / 15), 0, 0, 0, 0, 0, 12, int(seconds / 15 * 28)),
            ],
            since,
            until,
        )  # fmt: skip

    def _statements(self) -> pd.DataFrame:
        """pg_stat_statements since its reset two days earlier: api's queries, the flush's
        ``FOR UPDATE``, orders-worker's statements that waited behind a leaked transaction."""
        reset = self.at("00:00:00", "2026-11-02")
        seconds = (self.w1 - reset) / NS
        db = 24.0 * DB_FRACTION * seconds
        ms = 1000.0
        holder = self.blocking_holder()
        released = holder.closed or self.w1
        wait1 = (released - self.at("14:16:10")) / NS * ms
        wait2 = (released - self.at("14:19:30")) / NS * ms
        waited = [(released - t) / NS * ms for t in self.worker_opened_at]
        flushes = sum(1 for b in self.batches if b[2] != "failed")
        updates = int(seconds / 9)
        scans = int(seconds / 20)
        rows: list[tuple[str, int, float, float, int, int, int, int, str]] = [
            ("api", int(db * 0.3), db * 0.3 * 0.71, 912.4, int(db * 0.3), int(db * 1.2), 3811, 0,
             _API_QUERIES[0].format(oid=0, cid=0, cents=0)),
            ("api", int(db * 0.3), db * 0.3 * 0.44, 640.2, int(db * 2.1), int(db * 0.9), 2209, 0,
             _API_QUERIES[1].format(oid=0, cid=0, cents=0)),
            ("api", int(db * 0.12), db * 0.12 * 1.9, 8412.3, int(db * 0.12), int(db * 0.6), 415,
             0, _API_QUERIES[2].format(oid=0, cid=0, cents=0)),
            ("api", int(db * 0.28), db * 0.28 * 6.3, 2580.7, int(db * 3.1), int(db * 11.4),
             40_112, 0, _API_QUERIES[3].format(oid=0, cid=0, cents=0)),
            ("api", flushes, flushes * 0.93, 14.8, flushes, flushes * 4, 3, 0,
             _LEAK_QUERY.format(batch=1)),
            ("orders", updates, updates * 1.2 + wait1 + wait2, wait1, updates, updates * 5, 12, 0,
             _WORKER_QUERY.format(batch=1)),
            ("orders", scans, scans * 3.4 + sum(waited), max(waited, default=41.0), scans * 7,
             scans * 60, 48, 0, _WORKER_SCAN),
            ("datadog", int(seconds / 15), seconds / 15 * 2.1, 31.9, int(seconds / 15) * 4,
             int(seconds / 15) * 22, 0, 0, _DATADOG_QUERY),
            ("report", 3, 3 * 41.2, 57.0, 3, 12, 2, 0, _CRON_QUERY.split("; ")[0]),
            ("report", 3, 3 * 98_400.0, 101_180.4, 3, 91_812, 20_114, 18_432,
             _CRON_QUERY.split("; ")[1]),
            ("postgres", 212, 212 * 3.8, 19.7, 212 * 96, 212 * 40, 0, 0, _DBA_QUERY),
            ("postgres", 37, 37 * 1.1, 4.2, 37 * 4, 37 * 30, 0, 0, _DBA_COUNT),
        ]  # fmt: skip
        return statements_frame(self.spec.database.dbname, rows)

    def blocking_holder(self) -> Session:
        """The leaked transaction (first v2.34 pod, after 14:15:30) orders-worker waits for."""
        return next(
            s
            for s in self.sessions
            if s.leaked_at and s.pod is self.new[0] and s.leaked_at >= self.at("14:15:30")
        )

    def pg_activity(self, clock: XidClock, locks: LockRows) -> pd.DataFrame:
        """api's sessions (the leaked ones idle in transaction), orders-worker blocked behind
        one of them, the Datadog agent, a reporting cron job and the DBAs looking.

        ``locks`` receives, at each sample while it lasts, the blocking chain's locks.
        """
        r = FastRandom(self.rng("pg"))
        truth = self.spec.truth
        samples = grid(truth.baseline.start, truth.window.end, 30)
        act = ActivityRows(self.spec.database.dbname)

        def row(*args: Any, xid: int | None = None, xmin: int | None = None) -> None:
            t = int(args[0])
            act.add(*args, xid_age=clock.age(t, xid), xmin_age=clock.age(t, xmin))

        def fill(tpl: str) -> str:
            return tpl.format(
                oid=int(r.integers(5_400_000, 5_600_000)),
                cid=int(r.integers(10000, 90000)),
                cents=int(r.integers(500, 40000)),
            )

        # the leaked transaction that blocks orders-worker, and its batch
        holder = self.blocking_holder()
        w_pids = [r.integers(20000, 30000) for _ in range(3)]
        w_extra = [r.integers(30000, 31000) for _ in range(5)]
        w_start = self.at("22:00:00", "2026-11-02")
        dd_pid = int(r.integers(12000, 19000))
        waiter1_from = self.at("14:16:10")
        waiter2_from = self.at("14:19:30")
        released = holder.closed if holder.closed else self.w1
        assert holder.leaked_at is not None
        hb = self.leak_batch[holder.leaked_at]
        worker = ("orders", "orders-worker", "10.0.13.77")
        # who else holds an xid: orders-worker's stuck statements, the cron job's INSERT
        xid_of = {
            s.pid: clock.at(s.leaked_at - int(0.05 * NS))
            for s in self.sessions
            if s.leaked_at is not None
        }
        w_xid = [clock.hold(waiter1_from, released), clock.hold(waiter2_from, released)]
        x_xid = {
            k: clock.hold(t, released) for k, t in enumerate(self.worker_opened_at) if t < released
        }
        cron_at = self.at("13:30:00") + int(0.41 * NS)
        cron_xid = clock.hold(cron_at, self.at("13:31:40"))

        for t in (int(s) for s in samples):
            for s in self.sessions:
                if s.opened > t or (s.closed is not None and s.closed <= t):
                    continue
                p = s.pod
                app, client = f"api-{p.version}", p.ip
                if s.leaked_at is not None and s.leaked_at <= t:
                    lt = s.leaked_at
                    row(t, s.pid, "api", app, client, "idle in transaction", s.opened,
                        lt - int(0.21 * NS), lt - int(0.05 * NS), lt - int(0.04 * NS),
                        _LEAK_QUERY.format(batch=self.leak_batch[lt]), xid=xid_of[s.pid],
                        xmin=clock.horizon(lt - int(0.21 * NS)))  # fmt: skip
                elif r.random() < 0.18:
                    q0 = t - int(r.uniform(0.001, 0.08) * NS)
                    tpl = r.choice(_API_QUERIES)
                    query = fill(tpl)
                    xid = clock.at(q0) if tpl.startswith("INSERT") else None
                    row(t, s.pid, "api", app, client, "active", s.opened, q0 - int(0.002 * NS),
                        q0, q0, query, xid=xid, xmin=clock.horizon(q0))  # fmt: skip
                else:
                    q0 = t - int(r.uniform(0.05, 20) * NS)
                    row(t, s.pid, "api", app, client, "idle", s.opened, None, q0,
                        q0 + int(0.001 * NS), "ROLLBACK")  # fmt: skip
            # orders-worker: three steady sessions, more while its jobs are stuck behind the leak
            i = int((t - self.b0) // NS)
            for k, pid in enumerate(w_pids):
                if k == 0 and waiter1_from <= t < released:
                    row(t, pid, *worker, "active", w_start, waiter1_from - int(0.3 * NS),
                        waiter1_from, waiter1_from, _WORKER_QUERY.format(batch=hb), "Lock",
                        "transactionid", str(holder.pid), xid=w_xid[0],
                        xmin=clock.horizon(waiter1_from))  # fmt: skip
                elif k == 1 and waiter2_from <= t < released:
                    row(t, pid, *worker, "active", w_start, waiter2_from - int(0.2 * NS),
                        waiter2_from, waiter2_from, _WORKER_QUERY.format(batch=hb), "Lock",
                        "tuple", str(w_pids[0]), xid=w_xid[1],
                        xmin=clock.horizon(waiter2_from))  # fmt: skip
                else:
                    q0 = t - int(r.uniform(1, 30) * NS)
                    row(t, pid, *worker, "idle", w_start, None, q0, q0 + int(0.004 * NS),
                        "COMMIT")  # fmt: skip
            for k in range(int(self.worker[i]) - 3):
                opened = self.worker_opened_at[k]
                stuck = t < released
                row(
                    t,
                    w_extra[k],
                    *worker,
                    "active" if stuck else "idle",
                    opened,
                    opened if stuck else None,
                    opened,
                    opened if stuck else released + int((k + 1) * 1.3 * NS),
                    _WORKER_SCAN,
                    "Lock" if stuck else None,
                    "transactionid" if stuck else None,
                    str(holder.pid) if stuck else "",
                    xid=x_xid[k] if stuck else None,
                    xmin=clock.horizon(opened) if stuck else None,
                )
            if waiter1_from <= t < released:
                extras = [w_extra[k] for k in range(int(self.worker[i]) - 3)]
                chain = (holder.pid, xid_of[holder.pid], waiter1_from, waiter2_from)
                _chain_locks(locks, t, chain, w_pids, w_xid, extras, self.worker_opened_at)
            q0 = t - int(r.uniform(0.5, 14) * NS)
            row(t, dd_pid, "datadog", "datadog-agent", "10.0.12.5", "idle",
                self.at("06:11:09", "2026-11-02"), None, q0, q0 + int(0.003 * NS),
                _DATADOG_QUERY)  # fmt: skip
            if self.cron[i]:
                opened = self.at("13:30:00") + int(0.4 * NS)
                row(t, 29411, "report", "reporting-cron", "10.0.14.52", "active", opened, opened,
                    opened + int(0.01 * NS), opened + int(0.01 * NS), _CRON_QUERY, xid=cron_xid,
                    xmin=clock.horizon(opened + int(0.01 * NS)))  # fmt: skip
            for k, (start, end, app, client) in enumerate(self.superusers):
                if start <= t < end:
                    mine = k == 0
                    q0 = (
                        t - int(r.uniform(0.001, 0.02) * NS)
                        if mine
                        else t - int(r.uniform(3, 40) * NS)
                    )
                    row(t, 40100 + k * 7, "postgres", app, client, "active" if mine else "idle",
                        start, q0 if mine else None, q0, q0,
                        _DBA_QUERY if mine else _DBA_COUNT,
                        xmin=clock.horizon(q0) if mine else None)  # fmt: skip
        return act.frame()


def _chain_locks(
    locks: LockRows,
    t: int,
    chain: tuple[int, int, int, int],
    waiters: list[int],
    waiter_xids: list[int],
    extras: list[int],
    extras_from: list[int],
) -> None:
    """The locks that matter at ``t``: the leaked transaction's, and who waits for them.

    ``chain`` is (the leaked session's pid, its xid, when the first and the second
    ``UPDATE`` started waiting). The first ``UPDATE`` waits for the leaked xid
    (ShareLock on transactionid) and, once the second arrives, holds the row's
    tuple lock the second waits for; the stuck scans wait for the leaked xid too.
    """
    holder, holder_xid, first_from, second_from = chain
    table = "order_batches"
    locks.add(t, holder, "transactionid", "ExclusiveLock", granted=True, xid=holder_xid)
    locks.add(t, holder, "relation", "RowShareLock", granted=True, relation=table)
    w1, w2 = waiters[0], waiters[1]
    locks.add(t, w1, "transactionid", "ShareLock", granted=False, xid=holder_xid,
              waitstart=first_from + NS // 1000, blocking=str(holder))  # fmt: skip
    if t >= second_from:
        locks.add(t, w1, "tuple", "ExclusiveLock", granted=True, relation=table)
        locks.add(t, w1, "relation", "RowExclusiveLock", granted=True, relation=table)
        locks.add(t, w1, "transactionid", "ExclusiveLock", granted=True, xid=waiter_xids[0])
        locks.add(t, w2, "tuple", "ExclusiveLock", granted=False, relation=table,
                  waitstart=second_from + NS // 1000, blocking=str(w1))  # fmt: skip
    for pid, opened in zip(extras, extras_from, strict=False):
        locks.add(t, pid, "transactionid", "ShareLock", granted=False, xid=holder_xid,
                  waitstart=opened + 2 * NS // 1000, blocking=str(holder))  # fmt: skip


_API_QUERIES = (
    "SELECT orders.id, orders.status, orders.total_cents, orders.created_at FROM orders "
    "WHERE orders.id = {oid}",
    "SELECT order_items.sku, order_items.qty FROM order_items WHERE order_items.order_id = {oid}",
    "INSERT INTO orders (customer_id, status, total_cents, created_at) VALUES ({cid}, 'new', "
    "{cents}, now()) RETURNING orders.id",
    "SELECT orders.id, orders.status FROM orders WHERE orders.customer_id = {cid} "
    "ORDER BY orders.created_at DESC LIMIT 20 OFFSET 0",
)
_LEAK_QUERY = (
    "SELECT order_batches.id, order_batches.status, order_batches.customer_id FROM order_batches "
    "WHERE order_batches.id = {batch} FOR UPDATE"
)
_WORKER_QUERY = "UPDATE order_batches SET status = 'closed', closed_at = now() WHERE id = {batch}"
_WORKER_SCAN = (
    "SELECT order_batches.id FROM order_batches WHERE status = 'open' AND "
    "created_at < now() - interval '5 minutes' ORDER BY id LIMIT 50 FOR UPDATE"
)
_DATADOG_QUERY = (
    "SELECT psd.datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit, "
    "tup_returned FROM pg_stat_database psd JOIN pg_database pd "
    "ON psd.datname = pd.datname "
    "WHERE psd.datname not ilike 'template%'"
)
_CRON_QUERY = (
    "SELECT dblink_connect('reports', 'host=reports-db.prod port=5432 dbname=reports "
    f"user=report password={DBLINK_PASSWORD}'); INSERT INTO daily_order_totals "
    "SELECT * FROM dblink('reports', 'SELECT day, total FROM v_orders_daily') AS "
    "t(day date, total bigint)"
)
_DBA_QUERY = (
    "SELECT pid, usename, application_name, state, now() - xact_start AS xact_age, "
    "left(query, 60) FROM pg_stat_activity WHERE datname = 'orders' "
    "ORDER BY xact_start NULLS LAST"
)
_DBA_COUNT = "SELECT count(*), state FROM pg_stat_activity GROUP BY state"
#: (role, rolconnlimit) of orders-db's login roles
_ROLE_LIMITS = (("api", -1), ("datadog", 5), ("orders", 20), ("postgres", -1), ("report", 2))
