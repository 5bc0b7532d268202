"""The ``traffic-surge`` simulation: an e-mail campaign saturates checkout; no deploy involved.

The story (UTC, 2026-11-10); the last rollout of ``checkout`` was on 2026-11-06:

* 17:04 the promotion EARLY-ACCESS-NOV goes live and the campaign e-mail goes out (the
  growth team's Datadog event "Black Friday early-access email campaign sent to 2.1M
  customers", tagged ``service:checkout``);
  from 17:05:30 checkout traffic climbs ~4x in two and a half minutes.
* The four pods reach their CPU limit (throttled) by ~17:07:30: p95 latency climbs,
  the servlet pool saturates (503 "worker pool saturated"), the mesh times requests out
  (504 UT), payment calls time out ("context deadline exceeded", "Read timed out").
* The HPA scales 4 -> 5 (17:06:45) -> 10 (17:07:45). Two new pods fit on the nodes,
  four stay Pending until the cluster autoscaler adds nodes (~17:10:40). One old pod
  is OOMKilled at 17:08:40 under the load and restarts.
* New JVMs need a few minutes to warm up; by ~17:13 capacity has caught up, by 17:15
  latency and errors are back to normal. Database connections (via PgBouncer) stay
  flat around 13-17 the whole time.

The scenario's data (record, rollouts, monitors, ...) is in :mod:`._specs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._clock import NS, Array, event_times, grid, periodic_times, smoothstep, to_ns
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
from ._kube import Pod, hpa_frame, new_pod, pod_start_events, scale_event
from ._logtext import (
    CHECKOUT_PATH_CUM,
    CHECKOUT_PATHS,
    CHECKOUT_TRACE,
    agent_line,
    env_dump,
    envoy_line,
    gc_line,
    java_line,
)
from ._model import Logs, Model, Usage
from ._random import FastRandom
from ._secrets import JWT, URL_TOKEN, VAULT_ROLE_PASSWORD

if TYPE_CHECKING:
    from ._spec import ScenarioSpec

__all__ = ["RS", "SurgeModel"]

RS = "5c8d7f9b64"
PROXY_IMAGE = "docker.io/istio/proxyv2:1.23.2"
BASE_RPS = 30.0
WARM_CAPACITY = 23.5  # requests per second one warm pod serves at its CPU limit
CPU_PER_REQUEST = 0.04  # core-seconds
NODES = (
    ("ip-10-0-21-14.eu-west-1.compute.internal", "10.0.21"),
    ("ip-10-0-22-73.eu-west-1.compute.internal", "10.0.22"),
    ("ip-10-0-23-102.eu-west-1.compute.internal", "10.0.23"),
    ("ip-10-0-21-190.eu-west-1.compute.internal", "10.0.21"),
    ("ip-10-0-15-41.eu-west-1.compute.internal", "10.0.15"),  # added by the autoscaler
    ("ip-10-0-16-218.eu-west-1.compute.internal", "10.0.16"),  # added by the autoscaler
)
#: HPA 4 -> 5 at 17:06:45 and 5 -> 10 at 17:07:45:
#: (created, scheduled, node, pull images, seconds to start, to ready)
SCALE_UP = (
    ("17:06:45.3", None, 0, False, 3.6, 82),
    ("17:07:45.4", None, 2, True, 16.8, 84),
    ("17:07:45.4", "17:10:40.2", 4, True, 27.5, 66),
    ("17:07:45.5", "17:10:41.0", 4, True, 28.9, 68),
    ("17:07:45.5", "17:10:46.7", 5, True, 26.1, 64),
    ("17:07:45.6", "17:10:47.3", 5, True, 27.0, 71),
)


class SurgeModel(Model):
    """Pods, demand, capacity and saturation, per second, shared by every source."""

    def __init__(self, spec: ScenarioSpec, seed: int) -> None:
        super().__init__(spec, seed)
        self.version = spec.truth.running_version
        self.main = next(c for c in spec.containers if c.name == spec.main_container)
        self.pods = self._pods(self.rng("pods"))
        t = (self.sec - self.at("17:05:30")) / NS
        rise = 3.0 * smoothstep(t / 150)
        fade = 1 - 0.5 * smoothstep((self.sec - self.at("17:35:00")) / NS / 1500)
        x = np.arange(self.n) / self.n
        self.demand = BASE_RPS * (1 + 0.05 * np.sin(2 * np.pi * 2.3 * x)) * (1 + rise * fade)
        self.warm = {p.name: self._warmth(p) for p in self.pods}
        cap = {p.name: WARM_CAPACITY * self.warm[p.name] * p.serving(self.sec) for p in self.pods}
        self.capacity = {name: c.astype(float) for name, c in cap.items()}
        total = np.maximum(sum(self.capacity.values(), np.zeros(self.n)), 1.0)
        rho = self.demand / total
        smooth = np.empty_like(rho)  # backlog: the queue drains with a lag
        acc = rho[0]
        for i, r in enumerate(rho):
            acc += (r - acc) * (1 / 40 if r < acc else 1 / 15)
            smooth[i] = acc
        self.rho = smooth
        self.total_capacity = total
        share = np.minimum(self.rho, 1.0)
        self.load = {name: c * share for name, c in self.capacity.items()}
        self.error_fraction = 0.085 * smoothstep((self.rho - 0.97) / 0.4)
        busy = (self.sec >= self.at("17:07:40")) & (self.sec < self.at("17:22:10"))
        self.db_server = 12 + 2 * busy

    def _pods(self, rng: np.random.Generator) -> list[Pod]:
        def pod(node: int, created: int, started: int, ready: int) -> Pod:
            return new_pod(
                rng,
                deployment=self.spec.truth.service,
                replicaset=RS,
                version=self.version,
                node=NODES[node],
                created=created,
                started=started,
                ready=ready,
            )

        pods = []
        for i in range(4):
            created = self.at("15:42:05", "2026-11-06") + i * 41 * NS
            pods.append(pod(i, created, created + 36 * NS, created + 98 * NS))
        for when, scheduled, node, pull, to_start, to_ready in SCALE_UP:
            c = self.at(when)
            s = self.at(scheduled) if scheduled else c + int(0.05 * NS)
            started = s + int(to_start * NS)
            scaled = pod(node, c, started, started + int(to_ready * NS))
            scaled.scheduled, scaled.pull = s, pull
            pods.append(scaled)
        oom = pods[1]  # an old pod, a little fatter than the others
        oom.restarts = 1
        oom.last_termination_reason = "OOMKilled"
        oom.last_termination_at = self.at("17:08:40.6")
        oom.down = (oom.last_termination_at, self.at("17:09:55.2"))
        return pods

    def _warmth(self, p: Pod) -> Array:
        """Share of a warm pod's capacity: a fresh JVM starts at 35 % and warms in ~4 min."""
        since = None
        if p.started >= self.b0:
            since = p.ready
        elif p.down is not None:
            since = p.down[1]
        if since is None:
            return np.ones(self.n)
        warming = 0.35 + 0.65 * smoothstep((self.sec - since) / NS / 240)
        if p.down is not None:
            return np.asarray(np.where(self.sec < p.down[0], 1.0, warming))
        return warming

    def restarted_at(self, pod: Pod) -> int | None:
        """When the main container of ``pod`` started again after its OOM kill."""
        return None if pod.down is None else pod.down[0] + int(1.9 * NS)

    def latency_p95_per_second(self) -> Array:
        """p95 in ms per second (before 15 s aggregation): queueing, then mesh timeouts."""
        rho = self.rho
        base = 175 * (1 + 0.5 * np.minimum(rho, 1) ** 2)
        return np.asarray(np.minimum(base + 14800 * smoothstep((rho - 0.85) / 0.8), 15000.0))

    # -- metrics --------------------------------------------------------------------
    def latency_p95(
        self, bins: Array, idx: Array, hits: Array, timeouts: Array, rng: np.random.Generator
    ) -> Array:
        """The worst second of each bin, noisy, capped by the mesh's 15 s timeout."""
        p95s = self.latency_p95_per_second()
        p95 = np.array([p95s[i : i + 15].max() for i in idx]) * np.exp(
            rng.normal(0, 0.07, bins.size)
        )
        return np.asarray(np.minimum(p95, 15000 + rng.uniform(0, 4, bins.size)))

    def db_connections(self, bins: Array, idx: Array) -> Array:
        """PgBouncer's server connections plus the Datadog agent; Vault rotates a password."""
        conns = (self.db_server[idx] + 1).astype(float)
        rotating = (bins >= self.at("16:40:00")) & (bins < self.at("16:40:30"))
        conns[rotating] += 1
        return np.asarray(conns)

    def usage(self, pod: Pod, times: Array, rng: np.random.Generator) -> Usage:
        """Per container: CPU (cores) and memory (bytes) of ``pod`` at ``times``."""
        p = pod
        idx = np.clip((times - self.b0) // NS, 0, self.n - 1).astype(int)
        alive = p.alive(times)
        load = self.load[p.name][idx]  # requests per second
        warm = self.warm[p.name][idx]
        cpu = 0.06 + CPU_PER_REQUEST * load / np.maximum(warm, 0.35)
        cpu = cpu + rng.normal(0, 0.01, times.size)
        starting = (times >= p.started) & (times < p.ready)
        restart = self.restarted_at(p)
        if restart is not None and p.down is not None:
            starting |= (times >= restart) & (times < p.down[1])
        cpu = np.where(starting, 0.97 + rng.normal(0, 0.01, times.size), cpu)
        limit = self.main.cpu_limit * (1 - np.abs(rng.normal(0, 0.004, times.size)))
        cpu = np.clip(cpu, 0.02, limit)
        util = load / WARM_CAPACITY
        mib = 640 + 260 * util + rng.normal(0, 4, times.size)
        fresh_from = p.ready if p.started >= self.b0 else None
        if p.down is not None:
            oom = p.down[0]
            before = 700 + 324 * smoothstep((times - self.at("17:06:00")) / NS / 160)
            after = 430 + 170 * smoothstep((times - oom) / NS / 150) + 240 * util
            mib = np.where(times < oom, np.minimum(before, 1023.5), after)
        elif fresh_from is not None:
            mib = 420 + 180 * smoothstep((times - p.started) / NS / 150) + 240 * util
        proxy_cpu = 0.015 + 0.0016 * load + np.abs(rng.normal(0, 0.002, times.size))
        proxy_mib = 62 + 0.08 * load + rng.normal(0, 0.5, times.size)
        off = ~alive
        return {
            self.main.name: (np.where(off, 0.0, cpu), np.where(off, 0.0, mib * 2**20)),
            "istio-proxy": (np.where(off, 0.0, proxy_cpu), np.where(off, 0.0, proxy_mib * 2**20)),
        }

    # -- logs -----------------------------------------------------------------------
    def _startup(
        self, add: LogAdd, r: FastRandom, pod: Pod, start: int, ready: int, fresh: bool
    ) -> None:
        """Start-up lines of the JVM (and, for a new pod, of the sidecar)."""
        name = pod.name
        if fresh:
            t = start - int(r.uniform(1.5, 3) * NS)
            for msg, scope in (
                ('FLAG: --concurrency="2"', ""),
                ("Version 1.23.2-c8bb5f7f4bb2e4c67b0dc4e7ad7bb8e1a0c1d932-Clean", ""),
                ("Starting SDS grpc server", "sds"),
                ("Readiness succeeded in 1.481s", ""),
                ("Envoy proxy is ready", ""),
            ):
                add(t, name, "istio-proxy", agent_line(t, "info", msg, scope))
                t += int(r.uniform(0.05, 0.6) * NS)
        t = start + int(0.2 * NS)
        opts = (
            "Picked up JAVA_TOOL_OPTIONS: -XX:MaxRAMPercentage=75.0 -XX:+UseG1GC "
            "-Xlog:gc:stdout:time,level,tags"
        )
        add(t, name, "checkout", opts)
        boot = (ready - start) / NS - 6
        app = "com.example.checkout.CheckoutApplication"
        lines = (
            (
                0.05,
                app,
                f"Starting CheckoutApplication {self.version} using Java 21.0.5 with PID 1 "
                "(/app/checkout.jar started by app in /app)",
            ),
            (0.07, app, 'The following 1 profile is active: "prod"'),
            (
                0.09,
                "com.example.checkout.config.StartupDiagnostics",
                env_dump(self.spec.database.dsn),
            ),
            (0.55, "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Starting..."),
            (
                0.58,
                "com.zaxxer.hikari.pool.HikariPool",
                f"HikariPool-1 - Added connection org.postgresql.jdbc.PgConnection@{r.hex(8)}",
            ),
            (0.59, "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Start completed."),
            (
                0.97,
                "org.springframework.boot.web.embedded.tomcat.TomcatWebServer",
                "Tomcat started on port 8080 (http) with context path '/'",
            ),
            (
                1.0,
                app,
                f"Started CheckoutApplication in {boot:.3f} seconds (process running for "
                f"{boot + 2.4:.2f})",
            ),
        )
        for share, logger, msg in lines:
            t = start + int((2 + share * boot) * NS)
            add(t, name, "checkout", java_line(t, "info", logger, "main", msg))

    def logs(self) -> Logs:
        """The checkout and istio-proxy containers' logs, and the times of the 5xx responses."""
        rng = self.rng("logs")
        r = FastRandom(self.rng("logs/text"))
        sink = LogSink()
        errors: list[int] = []
        for pod in self.pods:
            self._pod_logs(sink.add, rng, r, pod, errors)
        self._planted_and_baseline_logs(sink.add, r, errors)
        return Logs(
            sink.frame(), np.array(sorted(errors), dtype=np.int64), np.empty(0, dtype=np.int64)
        )

    def _pod_logs(
        self, add: LogAdd, rng: np.random.Generator, r: FastRandom, pod: Pod, errors: list[int]
    ) -> None:
        name = pod.name
        p95 = self.latency_p95_per_second()
        begin, end = max(pod.started, self.b0), self.w1
        if pod.started >= self.b0:
            self._startup(add, r, pod, pod.started, pod.ready, fresh=True)
        restart = self.restarted_at(pod)
        if restart is not None and pod.down is not None:
            self._startup(add, r, pod, restart, pod.down[1], fresh=False)
        i0, i1 = int((begin - self.b0) // NS), self.n
        bins = self.sec[i0:i1]
        serving = pod.serving(bins)
        share = np.where(serving, self.capacity[name][i0:i1] / self.total_capacity[i0:i1], 0.0)
        pod_rps = self.demand[i0:i1] * share
        load = self.load[name][i0:i1] / WARM_CAPACITY

        # sampled request log (3 %)
        for t in event_times(rng, bins, pod_rps * 0.03, 1):
            i = int((t - self.b0) // NS)
            method, tpl = r.choice(CHECKOUT_PATHS, CHECKOUT_PATH_CUM)
            path = tpl.format(cart=r.uuid4())
            took = int(r.lognormal(np.log(70), 0.5) * p95[i] / 175)
            status = 201 if path.endswith("/items") else 200
            suffix = (
                f" (orderId={r.integers(5_400_000, 5_600_000)})"
                if path.endswith("checkout")
                else ""
            )
            thread = f"http-nio-8080-exec-{r.integers(1, 201)}"
            msg = f"{method} {path} completed {status} in {took} ms{suffix}"
            logger = "com.example.checkout.web.RequestLoggingFilter"
            add(t, name, "checkout", java_line(t, "info", logger, thread, msg))
        # client errors (4xx) seen by the mesh
        for t in event_times(rng, bins, pod_rps * 0.004, 1):
            status, method, path = r.choice(_CLIENT_ERRORS)
            path = path.format(cart=r.uuid4())
            took = r.integers(4, 60)
            line = envoy_line(t, r, pod.ip, method, path, status, "-", "via_upstream", took)
            add(t, name, "istio-proxy", line)
        # JVM garbage collection, more often under load; a new JVM counts from GC(0)
        gc_rate = np.where(pod.alive(bins), (0.3 + 1.6 * load) / 25, 0.0)
        if restart is not None and pod.down is not None:
            gc_rate[(bins >= pod.down[0]) & (bins < restart)] = 0.0
        gc_id = -1 if pod.started >= self.b0 else r.integers(300, 900)
        prev = 0
        for t in event_times(rng, bins, gc_rate, 1):
            if restart is not None and prev < restart <= t:
                gc_id = -1
            prev = t
            gc_id += 1
            add(t, name, "checkout", gc_line(t, gc_id, r))
        self._scheduled_logs(add, rng, r, pod, begin, end)
        self._overload_logs(add, rng, r, pod, bins, pod_rps * self.error_fraction[i0:i1], errors)

    def _scheduled_logs(
        self, add: LogAdd, rng: np.random.Generator, r: FastRandom, pod: Pod, begin: int, end: int
    ) -> None:
        """Promotions refresh every minute (the campaign's goes live at 17:04); cache stats."""
        name = pod.name
        promo = "com.example.checkout.promo.PromotionCache"
        announced = False
        for t in periodic_times(rng, begin + 30 * NS, end, 60, 0.02):
            active = 412 if t < self.at("17:04:00") else 413
            msg = f"Refreshed promotion rules: {active} active in {r.integers(18, 60)} ms"
            add(t, name, "checkout", java_line(t, "info", promo, "scheduling-1", msg))
            if active == 413 and not announced:
                announced = True
                t2 = t + NS // 100
                msg = (
                    "Promotion EARLY-ACCESS-NOV activated: 20% off, valid until "
                    "2026-11-12T23:59:59Z"
                )
                add(t2, name, "checkout", java_line(t2, "info", promo, "scheduling-1", msg))
        for t in periodic_times(rng, begin + 60 * NS, end, 300, 0.02):
            msg = (
                f"Cache 'carts' stats: hitRate={r.uniform(0.88, 0.95):.2f}, evictions=0, "
                f"size={r.integers(15000, 21000)}"
            )
            logger = "com.example.checkout.cache.CacheMetrics"
            add(t, name, "checkout", java_line(t, "info", logger, "scheduling-1", msg))

    def _overload_logs(
        self,
        add: LogAdd,
        rng: np.random.Generator,
        r: FastRandom,
        pod: Pod,
        bins: Array,
        err: Array,
        errors: list[int],
    ) -> None:
        """Overload: rejected (503), mesh timeouts (504 UT), payment timeouts (502)."""
        name, end = pod.name, self.w1
        for kind, weight in (("503", 0.35), ("504", 0.40), ("502", 0.25)):
            for t in event_times(rng, bins, err * weight, 1):
                if kind == "504":
                    t += 15 * NS
                if t >= end:
                    continue
                errors.append(t)
                thread = f"http-nio-8080-exec-{r.integers(1, 201)}"
                oid = r.integers(5_400_000, 5_600_000)
                te = t + int(0.002 * NS)  # the sidecar logs right after the app answers
                if kind == "503":
                    msg = (
                        "worker pool saturated: 200/200 threads busy, queue 100/100; rejecting "
                        "POST /api/v1/checkout with 503"
                    )
                    logger = "com.example.checkout.web.LoadShedder"
                    add(t, name, "checkout", java_line(t, "warning", logger, thread, msg))
                    line = envoy_line(te, r, pod.ip, "POST", "/api/v1/checkout", 503, "-",
                                      "via_upstream", r.integers(2, 40))  # fmt: skip
                elif kind == "504":
                    line = envoy_line(te, r, pod.ip, "POST", "/api/v1/checkout", 504, "UT",
                                      "response_timeout", 15000 + r.integers(0, 4))  # fmt: skip
                else:
                    if r.random() < 0.25:  # printed to stderr by the thread's default handler
                        add(t, name, "checkout", CHECKOUT_TRACE.format(n=r.integers(1, 9)))
                    else:
                        msg = (
                            f"payment-gateway returned 504 Gateway Timeout for order {oid}: "
                            '{"error":"context deadline exceeded"}'
                        )
                        logger = "com.example.checkout.payment.PaymentClient"
                        add(t, name, "checkout", java_line(t, "error", logger, thread, msg))
                    line = envoy_line(te, r, pod.ip, "POST", "/api/v1/checkout", 502, "-",
                                      "via_upstream", r.integers(2000, 2100))  # fmt: skip
                add(te, name, "istio-proxy", line)

    def _planted_and_baseline_logs(self, add: LogAdd, r: FastRandom, errors: list[int]) -> None:
        """Planted secrets (a header dump, a token in a URL, rotated credentials) and a
        payment-gateway hiccup."""
        first, third = self.pods[0], self.pods[2]
        client = "com.example.checkout.payment.PaymentClient"
        for hms in ("17:08:03.412", "17:09:47.090"):
            t = self.at(hms)
            msg = (
                "payment-gateway call failed after 2000 ms; request headers: {Authorization=Bearer "
                f"{JWT}, Content-Type=application/json, X-Request-Id={r.uuid4()}}}"
            )
            add(
                t,
                first.name,
                "checkout",
                java_line(t, "warning", client, "http-nio-8080-exec-77", msg),
            )
        # Spring Cloud Vault logs the rotated credentials it renews (the ALTER ROLE that set
        # them is masked in pg_stat_activity, not in an application's own log line)
        t = self.at("16:40:01.207")
        msg = (
            "Secret rotated for lease database/creds/checkout-analytics-ro: "
            f"{{username=v-checkout-analytics-ro-2NqP, password={VAULT_ROLE_PASSWORD}}}"
        )
        logger = "org.springframework.vault.core.lifecycle.SecretLeaseContainer"
        add(t, third.name, "checkout", java_line(t, "debug", logger, "spring-vault-1", msg))
        for hms, pod in (("16:27:31.554", first), ("17:41:02.118", third)):
            t = self.at(hms)
            path = f"/api/v1/orders/export?token={URL_TOKEN}&format=csv"
            line = envoy_line(t, r, pod.ip, "GET", path, 403, "-", "via_upstream", 11)
            add(t, pod.name, "istio-proxy", line)
        # a payment-gateway hiccup in the baseline: a burst of 502s inside one 15 s bin
        for k in range(9):
            pod = self.pods[k % 4]
            t = self.at("16:22:31") + int(r.uniform(0, 12) * NS)
            oid = r.integers(5_400_000, 5_600_000)
            msg = f"payment-gateway returned 502 Bad Gateway for order {oid}"
            add(
                t, pod.name, "checkout", java_line(t, "error", client, "http-nio-8080-exec-12", msg)
            )
            te = t + int(0.002 * NS)
            line = envoy_line(
                te, r, pod.ip, "POST", "/api/v1/checkout", 502, "-", "via_upstream", 180
            )
            add(te, pod.name, "istio-proxy", line)
            errors.append(t)

    # -- kubernetes -------------------------------------------------------------------
    def k8s_events(self) -> pd.DataFrame:
        """The HPA scaling up, Pending pods, slow starts, missed probes and the OOM kill."""
        rng = self.rng("events")
        sink = EventSink()
        service, namespace = self.spec.truth.service, self.spec.truth.namespace
        image = self.spec.image.format(self.version)
        hpa = f"HorizontalPodAutoscaler/{service}"
        reason = "cpu resource utilization (percentage of request) above target"
        for hms, old, new in (("17:06:45.1", 4, 5), ("17:07:45.2", 5, 10)):
            at = self.at(hms)
            sink.add(at, "Normal", "SuccessfulRescale", hpa, f"New size: {new}; reason: {reason}")
            scale_event(sink, at + int(0.1 * NS), service, RS, old, new)
        for p in self.pods:
            if p.started < self.b0:
                continue
            obj = f"Pod/{p.name}"
            assert p.scheduled is not None
            if p.scheduled - p.created > NS:  # Pending until the cluster autoscaler added nodes
                for t in np.arange(p.created + int(0.1 * NS), p.scheduled, 45 * NS):
                    sink.add(
                        int(t),
                        "Warning",
                        "FailedScheduling",
                        obj,
                        "0/4 nodes are available: 4 Insufficient cpu. preemption: 0/4 nodes are "
                        "available: 4 No preemption victims found for incoming pod.",
                    )
                sink.add(
                    p.created + int(11.3 * NS),
                    "Normal",
                    "TriggeredScaleUp",
                    obj,
                    "pod triggered scale-up: [{eks-general-c2a81f04-6b1e-4c3d-9a5f-"
                    "2d7e0b3c8f11 4->6 (max: 12)}]",
                )
            containers = [
                ("istio-init", PROXY_IMAGE, p.pull),
                ("istio-proxy", PROXY_IMAGE, False),
                ("checkout", image, p.pull),
            ]
            pod_start_events(sink, rng, p, containers, namespace=namespace, scheduled=p.scheduled)
            sink.add(
                p.started + int(1.1 * NS),
                "Warning",
                "Unhealthy",
                obj,
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            )
            for t in np.arange(p.started + 20 * NS, p.ready - 5 * NS, 10 * NS):
                sink.add(int(t), "Warning", "Unhealthy", obj, _refused(p.ip))
        # saturated pods miss readiness probes (timeout 1 s)
        for p in self.pods:
            for t in np.arange(
                max(p.ready, self.w0) + int(rng.uniform(0, 10) * NS), self.w1, 10 * NS
            ):
                i = int((t - self.b0) // NS)
                if self.rho[i] > 1.05 and p.serving(int(t)) and rng.random() < 0.35:
                    sink.add(
                        int(t),
                        "Warning",
                        "Unhealthy",
                        f"Pod/{p.name}",
                        f'Readiness probe failed: Get "http://{p.ip}:8080/actuator/health/'
                        'readiness": context deadline exceeded (Client.Timeout exceeded while '
                        "awaiting headers)",
                    )
        oom = next(p for p in self.pods if p.down is not None)
        assert oom.down is not None
        kill = oom.down[0]
        sink.add(
            kill - int(0.2 * NS),
            "Warning",
            "OOMKilling",
            f"Node/{oom.node}",
            "Memory cgroup out of memory: Killed process 2741 (java) total-vm:5023412kB, "
            "anon-rss:1046128kB, file-rss:24312kB, shmem-rss:0kB, UID:1000 pgtables:2464kB "
            "oom_score_adj:984",
        )
        restart = self.restarted_at(oom)
        assert restart is not None
        obj = f"Pod/{oom.name}"
        sink.add(
            restart - int(0.6 * NS),
            "Normal",
            "Pulled",
            obj,
            f'Container image "{image}" already present on machine',
        )
        sink.add(restart - int(0.3 * NS), "Normal", "Created", obj, "Created container checkout")
        sink.add(restart, "Normal", "Started", obj, "Started container checkout")
        for t in np.arange(restart + 20 * NS, oom.down[1] - 5 * NS, 10 * NS):
            sink.add(int(t), "Warning", "Unhealthy", obj, _refused(oom.ip))
        return sink.frame(since=self.w0)

    def hpa(self) -> pd.DataFrame:
        """checkout's autoscaler (4-10): 4 -> 5 -> 10 and still held at 10 when captured.

        The same rescales as the ``SuccessfulRescale`` events. CPU is the pods' use
        against their requests in the window's last minute, about the 70 % target: the
        recommendations of the last five minutes (the scale-down stabilization) were
        still above 10, so the HPA holds its maximum.
        """
        since = self.at("15:44:20", "2026-11-06")
        limited = self.at("17:07:45.2")
        rng = self.rng("hpa")
        last = np.array([self.w1 - 60 * NS])
        pods = [p for p in self.pods if p.alive(last).all()]
        cores = sum(
            float(np.nan_to_num(cpu).sum())
            for p in pods
            for cpu, _ in self.usage(p, last, rng).values()
        )
        requests = sum(c.cpu_request for c in self.spec.containers) * len(pods)
        return hpa_frame(
            self.spec.truth.service,
            replicas=(4, 10, 10, 10),
            metrics=f"cpu {round(100 * cores / requests)}%/70%",
            since=since,
            limited=("TooManyReplicas", limited),
            captured_at=to_ns(self.spec.fetched_at("kubernetes", "hpa")),
        )

    # -- postgres ---------------------------------------------------------------------
    def database(self) -> PgFrames:
        """checkout-db as a capture sees it: busier, never near its limits."""
        # every served request writes once or twice (cart, checkout session)
        served = self.demand * (1 - self.error_fraction)
        clock = XidClock(self.b0, 1.4 * served, 1_204_993_571)
        activity = self.pg_activity(clock)
        samples = grid(self.spec.truth.baseline.start, self.spec.truth.window.end, 30)
        since, until = int(samples[0]), int(samples[-1])
        last = activity[activity["sampled_at"] == activity["sampled_at"].max()]
        users = last["usename"].value_counts()
        limits = [("role", u, lim, int(users.get(u, 0))) for u, lim in _ROLE_LIMITS]
        limits.append(("database", self.spec.database.dbname, -1, len(last)))
        limits.append(("database", "postgres", -1, 0))
        i0, i1 = self.idx(since), self.idx(until)
        done = float(served[i0:i1].sum())
        timed_out = float((self.demand * self.error_fraction)[i0:i1].sum())
        stats = database_stats_frame(
            [
                (self.spec.database.dbname, int(2.6 * done), int(0.002 * done + 0.4 * timed_out),
                 0, 0, 0, 0, int(done * 0.8), int(done * 61.5)),
                ("postgres", int((until - since) / NS / 15), 0, 0, 0, 0, 0, 9,
                 int((until - since) / NS / 15 * 28)),
            ],
            since,
            until,
        )  # fmt: skip
        return PgFrames(
            activity=activity,
            settings=pg_settings_frame(self.spec.database.settings),
            limits=limits_frame(limits),
            locks=LockRows().frame(),
            database_stats=stats,
            statements=self._statements(),
            replication=self._replication(samples, served),
            since=since,
            until=until,
        )

    def _statements(self) -> pd.DataFrame:
        """pg_stat_statements since its reset the day before: many more calls, still fast."""
        reset = self.at("00:00:00", "2026-11-09")
        calls = BASE_RPS * (self.w0 - reset) / NS + float(self.demand.sum())
        shares = (1.0, 1.0, 0.35, 0.9, 0.4)
        means = (0.21, 0.38, 0.92, 0.57, 0.16)
        maxes = (38.4, 41.7, 63.2, 88.9, 12.5)
        rows: list[tuple[str, int, float, float, int, int, int, int, str]] = []
        for query, share, mean, most in zip(_QUERIES, shares, means, maxes, strict=True):
            n = int(calls * share)
            rows.append(("checkout", n, n * mean, most, n, n * 6, n // 400, 0, query))
        polls = int((self.w1 - self.at("06:00:11")) / NS / 15)
        rows.append(("datadog", polls, polls * 1.7, 22.3, polls * 4, polls * 20, 0, 0,
                     _DATADOG_QUERY))  # fmt: skip
        return statements_frame(self.spec.database.dbname, rows)

    def _replication(self, samples: Array, served: Array) -> pd.DataFrame:
        """One streaming standby; its lag grows a little with the write rate."""
        rows = []
        for t in (int(s) for s in samples):
            rate = float(served[self.idx(t)])
            write = 0.0004 + 0.000012 * rate
            rows.append(
                {
                    "sampled_at": t,
                    "application_name": "checkout-db-replica-1",
                    "client_addr": "10.0.22.41",
                    "state": "streaming",
                    "sync_state": "async",
                    "write_lag": round(write, 6),
                    "flush_lag": round(write * 1.3, 6),
                    "replay_lag": round(write * 1.9, 6),
                    "replay_lag_bytes": float(int(rate * 5200 * write * 1.9) + 312),
                }
            )
        return replication_frame(rows)

    def pg_activity(self, clock: XidClock) -> pd.DataFrame:
        """PgBouncer's server connections (busier under load), the Datadog agent, and Vault
        rotating a role's password."""
        r = FastRandom(self.rng("pg"))
        truth = self.spec.truth
        samples = grid(truth.baseline.start, truth.window.end, 30)
        bouncers = ("10.0.31.7", "10.0.33.12")
        # PgBouncer keeps 12 server connections (6 per instance), 14 while the pool is busy
        servers: list[tuple[int, str, int, int | None]] = []
        for k in range(14):
            pid = 21000 + k * 37 + r.integers(0, 30)
            closed: int | None
            if k < 12:
                opened = self.at("15:58:02") + int(r.uniform(0, 600) * NS)
                closed = None
            else:
                opened = self.at("17:07:40") - int(r.uniform(0, 5) * NS)
                closed = self.at("17:22:10") - int(r.uniform(0, 5) * NS)
            servers.append((pid, bouncers[k % 2], opened, closed))
        act = ActivityRows(self.spec.database.dbname)
        row = act.add
        user = self.spec.truth.service
        for t in (int(s) for s in samples):
            i = int((t - self.b0) // NS)
            busy = min(0.15 + 0.55 * min(self.rho[i], 1.2), 0.85)
            for pid, client, opened, closed in servers:
                if opened > t or (closed is not None and closed <= t):
                    continue
                if r.random() < busy:
                    q0 = t - int(r.uniform(0.001, 0.03) * NS)
                    query = r.choice(_QUERIES)
                    begin = q0 - int(0.004 * NS)
                    xid = clock.at(begin) if query.startswith(("INSERT", "UPDATE")) else None
                    xmin = clock.horizon(q0)
                    row(t, pid, user, user, client, "active", opened, begin, q0, q0, query,
                        xid_age=clock.age(t, xid), xmin_age=clock.age(t, xmin))  # fmt: skip
                else:
                    q0 = t - int(r.uniform(0.01, 5) * NS)
                    row(t, pid, user, user, client, "idle", opened, None, q0,
                        q0 + int(0.001 * NS), "COMMIT")  # fmt: skip
            q0 = t - int(r.uniform(0.5, 14) * NS)
            row(t, 14077, "datadog", "datadog-agent", "10.0.21.5", "idle", self.at("06:00:11"),
                None, q0, q0 + int(0.003 * NS), _DATADOG_QUERY)  # fmt: skip
            if self.at("16:40:00") <= t < self.at("16:40:30"):
                s0 = self.at("16:40:00.118")
                row(t, 29377, "vault-admin", "vault", "10.0.9.14", "idle", s0, None,
                    s0 + NS // 50, s0 + NS // 40, _VAULT_QUERY)  # fmt: skip
        return act.frame()


def _refused(ip: str) -> str:
    return (
        f'Readiness probe failed: Get "http://{ip}:8080/actuator/health/readiness": '
        f"dial tcp {ip}:8080: connect: connection refused"
    )


_CLIENT_ERRORS = (
    (401, "POST", "/api/v1/checkout"),
    (404, "GET", "/api/v1/cart/{cart}"),
    (409, "POST", "/api/v1/cart/{cart}/items"),
    (422, "POST", "/api/v1/shipping/quote"),
)
_QUERIES = (
    "SELECT c.id, c.customer_id, c.updated_at FROM carts c WHERE c.id = $1",
    "SELECT ci.sku, ci.qty, ci.unit_price_cents FROM cart_items ci WHERE ci.cart_id = $1",
    "INSERT INTO checkout_sessions (id, cart_id, status, created_at) VALUES ($1, $2, $3, $4)",
    "UPDATE carts SET updated_at = $1 WHERE id = $2",
    "SELECT p.code, p.discount_pct, p.valid_until FROM promotions p WHERE p.code = $1 AND p.active",
)
_DATADOG_QUERY = (
    "SELECT psd.datname, numbackends, xact_commit, xact_rollback "
    "FROM pg_stat_database psd WHERE psd.datname not ilike 'template%'"
)
_VAULT_QUERY = (
    f"ALTER ROLE \"v-checkout-analytics-ro-2NqP\" WITH PASSWORD '{VAULT_ROLE_PASSWORD}' "
    "VALID UNTIL '2026-11-11 16:40:00+00'"
)
#: (role, rolconnlimit) of checkout-db's login roles
_ROLE_LIMITS = (("checkout", 60), ("datadog", 5), ("postgres", -1), ("vault-admin", 3))
