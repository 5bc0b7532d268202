"""Scenario ``traffic-surge``: an e-mail campaign saturates checkout; no deploy involved.

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
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd

from ..core.incident import Incident
from ..core.schema import conform
from ._common import (
    NS,
    PG_ACTIVITY_QUERY,
    PG_SETTINGS_NAMES,
    Capture,
    Container,
    EventSink,
    FastRandom,
    LogSink,
    Pod,
    bin_counts,
    cumulative,
    datadog_events_frame,
    env_dump,
    evaluate_monitor,
    event_times,
    grid,
    iso_z,
    metrics_frame,
    monitor_frame,
    periodic_times,
    pod_name,
    pod_start_events,
    records_frame,
    resolved_record,
    rng_for,
    rollout_row,
    scale_event,
    smoothstep,
    split_ns,
    to_ns,
)
from ._scenarios import TRAFFIC_SURGE
from ._secrets import CHECKOUT_DB_PASSWORD, JWT, URL_TOKEN, VAULT_ROLE_PASSWORD

TRUTH = TRAFFIC_SURGE.truth
SERVICE = TRUTH.service
NAMESPACE = TRUTH.namespace
B0, W0, W1 = TRUTH.baseline.start, TRUTH.window.start, TRUTH.window.end
DAY = "2026-11-10"
RS = "5c8d7f9b64"
VERSION = TRUTH.running_version
IMAGE = f"registry.example.com/shop/checkout:{VERSION}"
PROXY_IMAGE = "docker.io/istio/proxyv2:1.23.2"
DSN = f"postgresql://checkout:{CHECKOUT_DB_PASSWORD}@pgbouncer.prod:6432/checkout"
CHECKOUT = Container("checkout", 0.5, 1.0, 768 * 2**20, 1024 * 2**20)
PROXY = Container("istio-proxy", 0.1, 2.0, 128 * 2**20, 1024 * 2**20)
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
CLIENT_IPS = ("203.0.113.7", "198.51.100.23", "192.0.2.146", "203.0.113.88", "198.51.100.4")
AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "shop-android/5.12.0 (Pixel 8; Android 15)",
)


def _d(hms: str, day: str = DAY) -> int:
    return to_ns(datetime.fromisoformat(f"{day}T{hms}+00:00"))


# -- the model -------------------------------------------------------------------------
class _Model:
    """Pods, demand, capacity and saturation, per second, shared by every source."""

    def __init__(self, seed: int) -> None:
        rng = rng_for(seed, "surge/pods")
        self.b0, self.w0, self.w1 = to_ns(B0), to_ns(W0), to_ns(W1)
        self.sec = grid(B0, W1, 1)
        self.n = self.sec.size
        self.pods = self._pods(rng)
        t = (self.sec - _d("17:05:30")) / NS
        rise = 3.0 * smoothstep(t / 150)
        fade = 1 - 0.5 * smoothstep((self.sec - _d("17:35:00")) / NS / 1500)
        x = np.arange(self.n) / self.n
        self.demand = BASE_RPS * (1 + 0.05 * np.sin(2 * np.pi * 2.3 * x)) * (1 + rise * fade)
        self.warm = {p.name: self._warmth(p) for p in self.pods}
        cap = {p.name: WARM_CAPACITY * self.warm[p.name] * p.serving(self.sec) for p in self.pods}
        self.capacity = {name: c.astype(float) for name, c in cap.items()}
        total = np.maximum(sum(self.capacity.values()), 1.0)
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
        self.db_server = 12 + 2 * ((self.sec >= _d("17:07:40")) & (self.sec < _d("17:22:10")))

    def _pods(self, rng) -> list[Pod]:
        def ip(node: int) -> str:
            return f"{NODES[node][1]}.{int(rng.integers(20, 250))}"

        pods = []
        for i in range(4):
            created = _d("15:42:05", "2026-11-06") + i * 41 * NS
            pods.append(
                Pod(
                    pod_name(SERVICE, RS, rng),
                    RS,
                    VERSION,
                    NODES[i][0],
                    ip(i),
                    created,
                    created + 36 * NS,
                    created + 98 * NS,
                )
            )
        # HPA 4 -> 5 at 17:06:45 and 5 -> 10 at 17:07:45
        plans = [  # (created, scheduled, node, pull images, seconds to start, to ready)
            ("17:06:45.3", None, 0, False, 3.6, 82),
            ("17:07:45.4", None, 2, True, 16.8, 84),
            ("17:07:45.4", "17:10:40.2", 4, True, 27.5, 66),
            ("17:07:45.5", "17:10:41.0", 4, True, 28.9, 68),
            ("17:07:45.5", "17:10:46.7", 5, True, 26.1, 64),
            ("17:07:45.6", "17:10:47.3", 5, True, 27.0, 71),
        ]
        for created, scheduled, node, pull, to_start, to_ready in plans:
            c = _d(created)
            s = _d(scheduled) if scheduled else c + int(0.05 * NS)
            started = s + int(to_start * NS)
            pod = Pod(
                pod_name(SERVICE, RS, rng),
                RS,
                VERSION,
                NODES[node][0],
                ip(node),
                c,
                started,
                started + int(to_ready * NS),
            )
            pod.scheduled, pod.pull = s, pull
            pods.append(pod)
        oom = pods[1]  # an old pod, a little fatter than the others
        oom.restarts = 1
        oom.last_termination_reason = "OOMKilled"
        oom.last_termination_at = _d("17:08:40.6")
        oom.down = (oom.last_termination_at, _d("17:09:55.2"))
        return pods

    def _warmth(self, p: Pod) -> np.ndarray:
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
            return np.where(self.sec < p.down[0], 1.0, warming)
        return warming

    def restarted_at(self, p: Pod) -> int | None:
        """When the main container of ``p`` started again after its OOM kill."""
        return None if p.down is None else p.down[0] + int(1.9 * NS)

    def latency_p95(self) -> np.ndarray:
        """p95 in ms per second (before 15 s aggregation): queueing, then mesh timeouts."""
        rho = self.rho
        base = 175 * (1 + 0.5 * np.minimum(rho, 1) ** 2)
        return np.minimum(base + 14800 * smoothstep((rho - 0.85) / 0.8), 15000.0)


# -- logs ------------------------------------------------------------------------------
_LOGBACK_LEVELS = {
    "debug": ("DEBUG", 10000),
    "info": ("INFO", 20000),
    "warning": ("WARN", 30000),
    "error": ("ERROR", 40000),
}


def _java(t: int, level: str, logger: str, thread: str, msg: str) -> str:
    """A logstash-logback-encoder JSON line."""
    name, value = _LOGBACK_LEVELS[level]
    return (  # what json.dumps(..., separators=(",", ":")) writes, at a third of the cost
        f'{{"@timestamp":"{iso_z(t, 3)}","@version":"1","message":{json.dumps(msg)},'
        f'"logger_name":"{logger}","thread_name":"{thread}","level":"{name}",'
        f'"level_value":{value}}}'
    )


def _agent(t: int, level: str, msg: str, scope: str = "") -> str:
    """istio-agent's own lines: ``<time>\\t<level>\\t[<scope>\\t]<message>``."""
    return f"{iso_z(t, 6)}\t{level}\t{scope + chr(9) if scope else ''}{msg}"


def _gc_line(t: int, gc_id: int, r: FastRandom) -> str:
    """A JVM unified-logging GC line (``-Xlog:gc:stdout:time,level,tags``)."""
    date, h, m, s, us = split_ns(t)
    before = r.integers(380, 700)
    after = r.integers(120, 260)
    pause = r.uniform(3, 28)
    cause = r.choice(
        (
            "(Normal) (G1 Evacuation Pause)",
            "(Normal) (G1 Evacuation Pause)",
            "(Concurrent Start) (G1 Humongous Allocation)",
        )
    )
    msg = f"GC({gc_id}) Pause Young {cause} {before}M->{after}M(768M) {pause:.3f}ms"
    return f"[{date}T{h:02d}:{m:02d}:{s:02d}.{us // 1000:03d}+0000][info][gc] {msg}"


_PATHS = (
    ("POST", "/api/v1/checkout"),
    ("GET", "/api/v1/cart/{cart}"),
    ("POST", "/api/v1/cart/{cart}/items"),
    ("POST", "/api/v1/shipping/quote"),
    ("POST", "/api/v1/promotions/validate"),
)
_PATH_CUM = cumulative((0.2, 0.35, 0.2, 0.15, 0.1))


def _envoy(
    t: int,
    r: FastRandom,
    pod: Pod,
    method: str,
    path: str,
    status: int,
    flags: str,
    details: str,
    duration: int,
) -> str:
    """An Envoy access-log line in Istio's default text format (inbound).

    ``t`` is when the line is written (the response ended); the line starts with the
    request's start time, ``duration`` milliseconds earlier, as Envoy's ``START_TIME``.
    """
    peer = f"{r.choice(CLIENT_IPS)}"
    upstream = "-" if status == 504 else str(max(duration - r.integers(0, 3), 0))
    entry = (
        f'"{method} {path} HTTP/1.1" {status} {flags} {details} - "-" '
        f"{r.integers(200, 1800)} {r.integers(20, 900)} {duration} {upstream} "
        f'"{peer}" "{r.choice(AGENTS)}" "{r.uuid4()}" "shop.example.com" "{pod.ip}:8080" '
        f"inbound|8080|| 127.0.0.6:{r.integers(32768, 60999)} {pod.ip}:8080 "
        f"10.0.20.{r.integers(10, 40)}:0 outbound_.8080_._.checkout.prod.svc.cluster.local default"
    )
    return f"[{iso_z(t - duration * 10**6, 3)}] {entry}"


_TRACE = "\n".join(
    (
        'Exception in thread "payment-retry-{n}" org.springframework.web.client.Resourc'
        'eAccessException: I/O error on POST request for "http://payment-gateway.prod.sv'
        'c.cluster.local:8080/v1/authorize": Read timed out',
        "\tat org.springframework.web.client.RestTemplate.createResourceAccessException(R"
        "estTemplate.java:926)",
        "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:906)",
        "\tat org.springframework.web.client.RestTemplate.execute(RestTemplate.java:801)",
        "\tat org.springframework.web.client.RestTemplate.postForEntity(RestTemplate.java:534)",
        "\tat com.example.checkout.payment.PaymentClient.authorize(PaymentClient.java:88)",
        "\tat com.example.checkout.payment.PaymentRetryTask.run(PaymentRetryTask.java:41)",
        "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecu"
        "tor.java:1144)",
        "\tat java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExec"
        "utor.java:642)",
        "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
        "Caused by: java.net.SocketTimeoutException: Read timed out",
        "\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishRead(NioSocketImpl.java:278)",
        "\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:304)",
        "\tat java.base/sun.nio.ch.NioSocketImpl.read(NioSocketImpl.java:346)",
        "\tat java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)",
        "\tat java.base/java.io.BufferedInputStream.fill(BufferedInputStream.java:291)",
        "\tat java.base/sun.net.www.http.HttpClient.parseHTTPHeader(HttpClient.java:827)",
        "\tat java.base/sun.net.www.protocol.http.HttpURLConnection.getInputStream0(HttpU"
        "RLConnection.java:1688)",
        "\tat org.springframework.http.client.SimpleClientHttpResponse.getStatusCode(Simp"
        "leClientHttpResponse.java:57)",
        "\tat org.springframework.web.client.DefaultResponseErrorHandler.hasError(Default"
        "ResponseErrorHandler.java:62)",
        "\tat org.springframework.web.client.RestTemplate.handleResponse(RestTemplate.java:941)",
        "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:900)",
        "\t... 6 more",
    )
)


def _startup(sink: LogSink, r: FastRandom, pod: Pod, start: int, ready: int, fresh: bool) -> None:
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
            sink.add(t, name, "istio-proxy", _agent(t, "info", msg, scope))
            t += int(r.uniform(0.05, 0.6) * NS)
    t = start + int(0.2 * NS)
    opts = (
        "Picked up JAVA_TOOL_OPTIONS: -XX:MaxRAMPercentage=75.0 -XX:+UseG1GC "
        "-Xlog:gc:stdout:time,level,tags"
    )
    sink.add(t, name, "checkout", opts)
    boot = (ready - start) / NS - 6
    lines = (
        (
            0.05,
            "com.example.checkout.CheckoutApplication",
            f"Starting CheckoutApplication {VERSION} using Java 21.0.5 with PID 1 "
            "(/app/checkout.jar started by app in /app)",
        ),
        (
            0.07,
            "com.example.checkout.CheckoutApplication",
            'The following 1 profile is active: "prod"',
        ),
        (0.09, "com.example.checkout.config.StartupDiagnostics", env_dump(DSN)),
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
            "com.example.checkout.CheckoutApplication",
            f"Started CheckoutApplication in {boot:.3f} seconds (process running for "
            f"{boot + 2.4:.2f})",
        ),
    )
    for share, logger, msg in lines:
        t = start + int((2 + share * boot) * NS)
        sink.add(t, name, "checkout", _java(t, "info", logger, "main", msg))


def _logs(m: _Model, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The logs frame, and the times of the 5xx responses."""
    rng = rng_for(seed, "surge/logs")
    r = FastRandom(rng_for(seed, "surge/logs/text"))
    sink = LogSink()
    add = sink.add
    errors: list[int] = []
    p95 = m.latency_p95()
    total_cap = m.total_capacity
    for pod in m.pods:
        name = pod.name
        begin, end = max(pod.started, m.b0), m.w1
        if pod.started >= m.b0:
            _startup(sink, r, pod, pod.started, pod.ready, fresh=True)
        restart = m.restarted_at(pod)
        if restart is not None and pod.down is not None:
            _startup(sink, r, pod, restart, pod.down[1], fresh=False)
        i0, i1 = int((begin - m.b0) // NS), m.n
        bins = m.sec[i0:i1]
        serving = pod.serving(bins)
        share = np.where(serving, m.capacity[name][i0:i1] / total_cap[i0:i1], 0.0)
        pod_rps = m.demand[i0:i1] * share
        load = m.load[name][i0:i1] / WARM_CAPACITY

        # sampled request log (3 %)
        for t in event_times(rng, bins, pod_rps * 0.03, 1):
            i = int((t - m.b0) // NS)
            method, tpl = r.choice(_PATHS, _PATH_CUM)
            path = tpl.format(cart=r.uuid4())
            took = int(r.lognormal(np.log(70), 0.5) * p95[i] / 175)
            status = 201 if path.endswith("/items") else 200
            suffix = (
                f" (orderId={r.integers(5_400_000, 5_600_000)})"
                if path.endswith("checkout")
                else ""
            )
            add(
                t,
                name,
                "checkout",
                _java(
                    t,
                    "info",
                    "com.example.checkout.web.RequestLoggingFilter",
                    f"http-nio-8080-exec-{r.integers(1, 201)}",
                    f"{method} {path} completed {status} in {took} ms{suffix}",
                ),
            )
        # client errors (4xx) seen by the mesh
        for t in event_times(rng, bins, pod_rps * 0.004, 1):
            status, method, path = r.choice(
                (
                    (401, "POST", "/api/v1/checkout"),
                    (404, "GET", "/api/v1/cart/{cart}"),
                    (409, "POST", "/api/v1/cart/{cart}/items"),
                    (422, "POST", "/api/v1/shipping/quote"),
                )
            )
            path = path.format(cart=r.uuid4())
            add(
                t,
                name,
                "istio-proxy",
                _envoy(t, r, pod, method, path, status, "-", "via_upstream", r.integers(4, 60)),
            )
        # JVM garbage collection, more often under load; a new JVM counts from GC(0)
        gc_rate = np.where(pod.alive(bins), (0.3 + 1.6 * load) / 25, 0.0)
        if restart is not None and pod.down is not None:
            gc_rate[(bins >= pod.down[0]) & (bins < restart)] = 0.0
        gc_id = -1 if pod.started >= m.b0 else r.integers(300, 900)
        prev = 0
        for t in event_times(rng, bins, gc_rate, 1):
            if restart is not None and prev < restart <= t:
                gc_id = -1
            prev = t
            gc_id += 1
            add(t, name, "checkout", _gc_line(t, gc_id, r))
        # promotions refresh every minute; the campaign's promotion goes live at 17:04
        announced = False
        for t in periodic_times(rng, begin + 30 * NS, end, 60, 0.02):
            active = 412 if t < _d("17:04:00") else 413
            add(
                t,
                name,
                "checkout",
                _java(
                    t,
                    "info",
                    "com.example.checkout.promo.PromotionCache",
                    "scheduling-1",
                    f"Refreshed promotion rules: {active} active in {r.integers(18, 60)} ms",
                ),
            )
            if active == 413 and not announced:
                announced = True
                add(
                    t + NS // 100,
                    name,
                    "checkout",
                    _java(
                        t + NS // 100,
                        "info",
                        "com.example.checkout.promo.PromotionCache",
                        "scheduling-1",
                        "Promotion EARLY-ACCESS-NOV activated: 20% off, valid until "
                        "2026-11-12T23:59:59Z",
                    ),
                )
        for t in periodic_times(rng, begin + 60 * NS, end, 300, 0.02):
            add(
                t,
                name,
                "checkout",
                _java(
                    t,
                    "info",
                    "com.example.checkout.cache.CacheMetrics",
                    "scheduling-1",
                    f"Cache 'carts' stats: hitRate={r.uniform(0.88, 0.95):.2f}, evictions=0, "
                    f"size={r.integers(15000, 21000)}",
                ),
            )

        # overload: rejected (503), mesh timeouts (504 UT), payment timeouts (502)
        err = pod_rps * m.error_fraction[i0:i1]
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
                    add(
                        t,
                        name,
                        "checkout",
                        _java(
                            t,
                            "warning",
                            "com.example.checkout.web.LoadShedder",
                            thread,
                            "worker pool saturated: 200/200 threads busy, queue 100/100; rejecting "
                            "POST /api/v1/checkout with 503",
                        ),
                    )
                    line = _envoy(
                        te,
                        r,
                        pod,
                        "POST",
                        "/api/v1/checkout",
                        503,
                        "-",
                        "via_upstream",
                        r.integers(2, 40),
                    )
                elif kind == "504":
                    line = _envoy(
                        te,
                        r,
                        pod,
                        "POST",
                        "/api/v1/checkout",
                        504,
                        "UT",
                        "response_timeout",
                        15000 + r.integers(0, 4),
                    )
                else:
                    if r.random() < 0.25:  # printed to stderr by the thread's default handler
                        add(t, name, "checkout", _TRACE.format(n=r.integers(1, 9)))
                    else:
                        add(
                            t,
                            name,
                            "checkout",
                            _java(
                                t,
                                "error",
                                "com.example.checkout.payment.PaymentClient",
                                thread,
                                f"payment-gateway returned 504 Gateway Timeout for order {oid}: "
                                '{"error":"context deadline exceeded"}',
                            ),
                        )
                    line = _envoy(
                        te,
                        r,
                        pod,
                        "POST",
                        "/api/v1/checkout",
                        502,
                        "-",
                        "via_upstream",
                        r.integers(2000, 2100),
                    )
                add(te, name, "istio-proxy", line)

    # planted secrets: a header dump on a failed payment call, a token in a URL
    first, third = m.pods[0], m.pods[2]
    for hms in ("17:08:03.412", "17:09:47.090"):
        t = _d(hms)
        add(
            t,
            first.name,
            "checkout",
            _java(
                t,
                "warning",
                "com.example.checkout.payment.PaymentClient",
                "http-nio-8080-exec-77",
                "payment-gateway call failed after 2000 ms; request headers: {Authorization=Bearer "
                f"{JWT}, Content-Type=application/json, X-Request-Id={r.uuid4()}}}",
            ),
        )
    for hms, pod in (("16:27:31.554", first), ("17:41:02.118", third)):
        t = _d(hms)
        path = f"/api/v1/orders/export?token={URL_TOKEN}&format=csv"
        add(
            t, pod.name, "istio-proxy", _envoy(t, r, pod, "GET", path, 403, "-", "via_upstream", 11)
        )
    # a payment-gateway hiccup in the baseline: a burst of 502s inside one 15 s bin
    for k in range(9):
        pod = m.pods[k % 4]
        t = _d("16:22:31") + int(r.uniform(0, 12) * NS)
        add(
            t,
            pod.name,
            "checkout",
            _java(
                t,
                "error",
                "com.example.checkout.payment.PaymentClient",
                "http-nio-8080-exec-12",
                "payment-gateway returned 502 Bad Gateway for order "
                f"{r.integers(5_400_000, 5_600_000)}",
            ),
        )
        add(
            t + int(0.002 * NS),
            pod.name,
            "istio-proxy",
            _envoy(
                t + int(0.002 * NS),
                r,
                pod,
                "POST",
                "/api/v1/checkout",
                502,
                "-",
                "via_upstream",
                180,
            ),
        )
        errors.append(t)
    return sink.frame(), np.array(sorted(errors), dtype=np.int64)


# -- resources ---------------------------------------------------------------------------
def _usage(p: Pod, m: _Model, times: np.ndarray, rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per container: CPU (cores) and memory (bytes) of ``p`` at ``times``."""
    idx = np.clip((times - m.b0) // NS, 0, m.n - 1).astype(int)
    alive = p.alive(times)
    load = m.load[p.name][idx]  # requests per second
    warm = m.warm[p.name][idx]
    cpu = 0.06 + CPU_PER_REQUEST * load / np.maximum(warm, 0.35) + rng.normal(0, 0.01, times.size)
    starting = (times >= p.started) & (times < p.ready)
    restart = m.restarted_at(p)
    if restart is not None and p.down is not None:
        starting |= (times >= restart) & (times < p.down[1])
    cpu = np.where(starting, 0.97 + rng.normal(0, 0.01, times.size), cpu)
    cpu = np.clip(cpu, 0.02, CHECKOUT.cpu_limit * (1 - np.abs(rng.normal(0, 0.004, times.size))))
    util = load / WARM_CAPACITY
    mib = 640 + 260 * util + rng.normal(0, 4, times.size)
    fresh_from = p.ready if p.started >= m.b0 else None
    if p.down is not None:
        oom = p.down[0]
        before = 700 + 324 * smoothstep((times - _d("17:06:00")) / NS / 160)
        after = 430 + 170 * smoothstep((times - oom) / NS / 150) + 240 * util
        mib = np.where(times < oom, np.minimum(before, 1023.5), after)
    elif fresh_from is not None:
        mib = 420 + 180 * smoothstep((times - p.started) / NS / 150) + 240 * util
    proxy_cpu = 0.015 + 0.0016 * load + np.abs(rng.normal(0, 0.002, times.size))
    proxy_mib = 62 + 0.08 * load + rng.normal(0, 0.5, times.size)
    off = ~alive
    return {
        "checkout": (np.where(off, 0.0, cpu), np.where(off, 0.0, mib * 2**20)),
        "istio-proxy": (np.where(off, 0.0, proxy_cpu), np.where(off, 0.0, proxy_mib * 2**20)),
    }


def _metrics(m: _Model, seed: int, errors: np.ndarray):
    rng = rng_for(seed, "surge/metrics")
    bins = grid(B0, W1, 15)
    idx = ((bins - m.b0) // NS).astype(int)
    err = bin_counts(errors, bins, 15).astype(float)
    demand = np.array([m.demand[i : i + 15].mean() for i in idx])
    hits = rng.poisson(demand * 15).astype(float)
    hits[int((_d("16:12:00") - m.b0) // (15 * NS))] *= 1.45
    p95s = m.latency_p95()
    p95 = np.array([p95s[i : i + 15].max() for i in idx]) * np.exp(rng.normal(0, 0.07, bins.size))
    p95 = np.minimum(p95, 15000 + rng.uniform(0, 4, bins.size))
    p95[int((_d("16:47:30") - m.b0) // (15 * NS))] = 1900 + rng.uniform(0, 80)
    cpu = np.zeros(bins.size)
    mem = np.zeros(bins.size)
    app_cpu = np.zeros(bins.size)  # the checkout containers only, for the CPU-limit monitor
    app_limit = np.zeros(bins.size)
    for p in m.pods:
        for ctr, (c, mm) in _usage(p, m, bins, rng).items():
            cpu += c
            mem += mm
            if ctr == "checkout":
                app_cpu += c
                app_limit += CHECKOUT.cpu_limit * p.alive(bins)
    conns = (m.db_server[idx] + 1).astype(float)
    conns[(bins >= _d("16:40:00")) & (bins < _d("16:40:30"))] += 1  # vault rotating a password
    istio = "destination_workload:checkout,destination_workload_namespace:prod"
    k8s = "kube_deployment:checkout,kube_namespace:prod"
    series = [
        (
            "request_rate",
            f"sum:istio.mesh.request.count.total{{{istio}}}.as_rate()",
            istio,
            hits / 15,
        ),
        (
            "error_rate",
            f"sum:istio.mesh.request.count.total{{{istio},response_code:5*}}.as_rate()",
            istio + ",response_code:5*",
            err / 15,
        ),
        ("latency_p95", f"p95:istio.mesh.request.duration.milliseconds{{{istio}}}", istio, p95),
        ("cpu", f"sum:kubernetes.cpu.usage.total{{{k8s}}}", k8s, cpu),
        ("memory", f"sum:kubernetes.memory.usage{{{k8s}}}", k8s, mem),
        (
            "db_connections",
            "sum:postgresql.connections{db:checkout,env:prod}",
            "db:checkout,env:prod",
            conns,
        ),
    ]
    gaps = {
        "cpu": (_d("16:41:00"), _d("16:41:45")),
        "memory": (_d("16:41:00"), _d("16:41:45")),
        "db_connections": (_d("17:41:15"), _d("17:42:00")),
    }
    frame = metrics_frame(bins, series, gaps)
    out = {metric: (bins, values) for metric, _, _, values in series}
    out["cpu_of_limit"] = (bins, app_cpu / np.maximum(app_limit, 1e-9))
    return frame, out


# -- kubernetes ----------------------------------------------------------------------------
def _k8s_events(m: _Model, seed: int) -> pd.DataFrame:
    rng = rng_for(seed, "surge/events")
    sink = EventSink()
    hpa, deploy = f"HorizontalPodAutoscaler/{SERVICE}", SERVICE
    reason = "cpu resource utilization (percentage of request) above target"
    for hms, old, new in (("17:06:45.1", 4, 5), ("17:07:45.2", 5, 10)):
        t = _d(hms)
        sink.add(t, "Normal", "SuccessfulRescale", hpa, f"New size: {new}; reason: {reason}")
        scale_event(sink, t + int(0.1 * NS), deploy, RS, old, new)
    for p in m.pods:
        if p.started < m.b0:
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
        pod_start_events(
            sink,
            rng,
            p,
            [
                ("istio-init", PROXY_IMAGE, p.pull),
                ("istio-proxy", PROXY_IMAGE, False),
                ("checkout", IMAGE, p.pull),
            ],
            namespace=NAMESPACE,
            scheduled=p.scheduled,
        )
        sink.add(
            p.started + int(1.1 * NS),
            "Warning",
            "Unhealthy",
            obj,
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        )
        for t in np.arange(p.started + 20 * NS, p.ready - 5 * NS, 10 * NS):
            sink.add(
                int(t),
                "Warning",
                "Unhealthy",
                obj,
                f'Readiness probe failed: Get "http://{p.ip}:8080/actuator/health/readiness"'
                f": dial tcp {p.ip}:8080: connect: connection refused",
            )
    # saturated pods miss readiness probes (timeout 1 s)
    for p in m.pods:
        for t in np.arange(max(p.ready, m.w0) + int(rng.uniform(0, 10) * NS), m.w1, 10 * NS):
            i = int((t - m.b0) // NS)
            if m.rho[i] > 1.05 and p.serving(int(t)) and rng.random() < 0.35:
                sink.add(
                    int(t),
                    "Warning",
                    "Unhealthy",
                    f"Pod/{p.name}",
                    f'Readiness probe failed: Get "http://{p.ip}:8080/actuator/health/'
                    'readiness": context deadline exceeded (Client.Timeout exceeded while '
                    "awaiting headers)",
                )
    oom = next(p for p in m.pods if p.down is not None)
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
    restart = m.restarted_at(oom)
    assert restart is not None
    obj = f"Pod/{oom.name}"
    sink.add(
        restart - int(0.6 * NS),
        "Normal",
        "Pulled",
        obj,
        f'Container image "{IMAGE}" already present on machine',
    )
    sink.add(restart - int(0.3 * NS), "Normal", "Created", obj, "Created container checkout")
    sink.add(restart, "Normal", "Started", obj, "Started container checkout")
    for t in np.arange(restart + 20 * NS, oom.down[1] - 5 * NS, 10 * NS):
        sink.add(
            int(t),
            "Warning",
            "Unhealthy",
            obj,
            f'Readiness probe failed: Get "http://{oom.ip}:8080/actuator/health/readiness": '
            f"dial tcp {oom.ip}:8080: connect: connection refused",
        )
    return sink.frame(since=m.w0)


def _pods_frame(m: _Model) -> pd.DataFrame:
    rows = []
    for p in m.pods:
        for c in (PROXY, CHECKOUT):
            main = c is CHECKOUT
            restarted = m.restarted_at(p) if main else None
            rows.append(
                {
                    "pod": p.name,
                    "container": c.name,
                    "node": p.node,
                    "phase": "Running",
                    "ready": True,
                    "restarts": p.restarts if main else 0,
                    "last_termination_reason": p.last_termination_reason if main else None,
                    "last_termination_at": p.last_termination_at if main else None,
                    "started_at": restarted or (p.started if main else p.started - int(1.6 * NS)),
                    "cpu_request": c.cpu_request,
                    "cpu_limit": c.cpu_limit,
                    "memory_request": c.memory_request,
                    "memory_limit": c.memory_limit,
                }
            )
    return records_frame(rows, "pods", ["last_termination_at", "started_at"])


def _pod_usage(m: _Model, seed: int) -> pd.DataFrame:
    rng = rng_for(seed, "surge/usage")
    minutes = grid(B0, W1, 60)
    parts = []
    for p in m.pods:
        keep = p.alive(minutes)
        if not keep.any():
            continue
        for ctr, (cpu, mem) in _usage(p, m, minutes, rng).items():
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


def _rollouts() -> pd.DataFrame:
    history = (
        (
            17,
            "7b9d5c4f86",
            "v3.7.0",
            "2026-10-14T09:12:00Z",
            "checkout v3.7.0: saved carts (#2210)",
        ),
        (
            18,
            "58c7f6d94b",
            "v3.7.1",
            "2026-10-21T14:03:00Z",
            "checkout v3.7.1: fix rounding of shipping quotes (#2231)",
        ),
        (
            19,
            "6c4b8d7f59",
            "v3.8.0",
            "2026-10-28T10:37:00Z",
            "checkout v3.8.0: promotion engine v2 (#2254)",
        ),
        (
            20,
            "9f6d7c5b48",
            "v3.8.1",
            "2026-11-04T11:20:00Z",
            "checkout v3.8.1: payment client timeouts configurable (#2269)",
        ),
        (
            21,
            RS,
            VERSION,
            "2026-11-06T15:42:00Z",
            "checkout v3.8.2: Java 21.0.5 base image (#2275)",
        ),
    )
    rows = [
        rollout_row(
            SERVICE,
            rev,
            rs,
            f"registry.example.com/shop/checkout:{v}",
            when,
            when,
            cause,
            10 if rev == 21 else 0,
            rev == 21,
        )
        for rev, rs, v, when, cause in history
    ]
    return records_frame(rows, "rollouts", ["created_at", "deployed_at"])


# -- datadog events ------------------------------------------------------------------------
def _datadog_events() -> pd.DataFrame:
    """The growth team's campaign event, tagged for checkout; nothing deploy-like."""
    assert TRUTH.trigger_event is not None and TRUTH.trigger_event_at is not None
    sent = iso_z(to_ns(TRUTH.trigger_event_at), 0)[11:19]
    return datadog_events_frame(DAY, [
        (sent, "my_apps", TRUTH.trigger_event,
         "%%%\nBraze campaign **bf-2026-early-access** delivered to 2,104,337 subscribers. "
         "Promotion EARLY-ACCESS-NOV (20% off) is live; the e-mail links straight to the "
         "checkout.\n%%%",
         ("service:checkout", "env:prod", "team:growth", "campaign:bf-2026")),
    ])  # fmt: skip


# -- datadog monitors ----------------------------------------------------------------------
_MONITORS = {
    "p95": ("51170204", "[checkout] p95 latency high"),
    "5xx": ("51170215", "[checkout] 5xx error rate high"),
    "cpu": ("51170233", "[checkout] CPU usage near limit"),
    "restarts": ("51170241", "[checkout] container restarts"),
    "hpa": ("51170258", "[checkout] HPA at max replicas"),
    "pgw": ("50990112", "[payment-gateway] error budget burn rate high"),
}
NOTIFY = "@pagerduty-checkout-oncall @slack-checkout"


def _monitor_events(series) -> pd.DataFrame:
    rows = [
        (
            "16:31:00",
            "pgw",
            "warn",
            "payment-gateway is burning its 30-day error budget 4.1x (warn 2x) over the last 1h",
        ),
        ("16:36:00", "pgw", "ok", "payment-gateway error budget burn rate 1.2x over the last 1h"),
        (
            "17:09:00",
            "restarts",
            "alert",
            f"1 container restart of kube_deployment:checkout in the last 10m (alert > 0) {NOTIFY}",
        ),
        (
            "17:24:00",
            "restarts",
            "ok",
            "0 container restarts of kube_deployment:checkout in the last 10m",
        ),
        (
            "17:13:00",
            "hpa",
            "warn",
            "HorizontalPodAutoscaler prod/checkout has been at its "
            "maximum of 10 replicas for 5m (warn)",
        ),
    ]
    checks = (
        (
            "p95",
            "latency_p95",
            3,
            1000.0,
            3000.0,
            "p95 latency of checkout is {s:.2f} s over the last 3m",
            "{t:.0f} ms",
        ),
        (
            "5xx",
            "error_rate",
            2,
            1.0,
            3.0,
            "5xx rate of checkout is {v:.2f} req/s over the last 2m",
            "{t:.1f} req/s",
        ),
        (
            "cpu",
            "cpu_of_limit",
            2,
            0.8,
            0.9,
            "checkout containers use {p:.0f}% of their CPU limit over the last 2m",
            "{t:.0%}",
        ),
    )
    for key, metric, minutes, warn, alert, text, unit in checks:
        times, values = series[metric]
        for t, state, v in evaluate_monitor(
            times, values, minutes=minutes, warn=warn, alert=alert, start=W0, end=W1
        ):
            msg = text.format(v=v, s=v / 1000, p=v * 100)
            if state != "ok":
                msg += f" ({state} threshold {unit.format(t=alert if state == 'alert' else warn)})"
                if state == "alert":
                    msg += f" {NOTIFY}"
            rows.append((iso_z(t, 0)[11:19], key, state, msg))
    return monitor_frame(DAY, _MONITORS, rows)


# -- postgres ------------------------------------------------------------------------------
_QUERIES = (
    "SELECT c.id, c.customer_id, c.updated_at FROM carts c WHERE c.id = $1",
    "SELECT ci.sku, ci.qty, ci.unit_price_cents FROM cart_items ci WHERE ci.cart_id = $1",
    "INSERT INTO checkout_sessions (id, cart_id, status, created_at) VALUES ($1, $2, $3, $4)",
    "UPDATE carts SET updated_at = $1 WHERE id = $2",
    "SELECT p.code, p.discount_pct, p.valid_until FROM promotions p WHERE p.code = $1 AND p.active",
)


def _pg_activity(m: _Model, seed: int) -> pd.DataFrame:
    r = FastRandom(rng_for(seed, "surge/pg"))
    samples = grid(B0, W1, 30)
    bouncers = ("10.0.31.7", "10.0.33.12")
    # PgBouncer keeps 12 server connections (6 per instance), 14 while the pool is busy
    servers = []
    for k in range(14):
        pid = 21000 + k * 37 + r.integers(0, 30)
        if k < 12:
            opened = _d("15:58:02") + int(r.uniform(0, 600) * NS)
            closed = None
        else:
            opened = _d("17:07:40") - int(r.uniform(0, 5) * NS)
            closed = _d("17:22:10") - int(r.uniform(0, 5) * NS)
        servers.append((pid, bouncers[k % 2], opened, closed))
    rows: list[dict] = []

    def row(
        t,
        pid,
        user,
        app,
        client,
        state,
        start,
        xact,
        qstart,
        change,
        query,
        wtype=None,
        wevent=None,
    ):
        rows.append(
            {
                "sampled_at": t,
                "pid": pid,
                "datname": "checkout",
                "usename": user,
                "application_name": app,
                "client_addr": client,
                "state": state,
                "backend_start": start,
                "xact_start": xact,
                "query_start": qstart,
                "state_change": change,
                "wait_event_type": wtype,
                "wait_event": wevent,
                "blocking_pids": "",
                "query": query,
            }
        )

    for t in samples:
        t = int(t)
        i = int((t - m.b0) // NS)
        busy = min(0.15 + 0.55 * min(m.rho[i], 1.2), 0.85)
        for pid, client, opened, closed in servers:
            if opened > t or (closed is not None and closed <= t):
                continue
            if r.random() < busy:
                q0 = t - int(r.uniform(0.001, 0.03) * NS)
                row(
                    t,
                    pid,
                    "checkout",
                    "checkout",
                    client,
                    "active",
                    opened,
                    q0 - int(0.004 * NS),
                    q0,
                    q0,
                    r.choice(_QUERIES),
                )
            else:
                q0 = t - int(r.uniform(0.01, 5) * NS)
                row(
                    t,
                    pid,
                    "checkout",
                    "checkout",
                    client,
                    "idle",
                    opened,
                    None,
                    q0,
                    q0 + int(0.001 * NS),
                    "COMMIT",
                )
        q0 = t - int(r.uniform(0.5, 14) * NS)
        row(
            t,
            14077,
            "datadog",
            "datadog-agent",
            "10.0.21.5",
            "idle",
            _d("06:00:11"),
            None,
            q0,
            q0 + int(0.003 * NS),
            "SELECT psd.datname, numbackends, xact_commit, xact_rollback "
            "FROM pg_stat_database psd WHERE psd.datname not ilike 'template%'",
        )
        if _d("16:40:00") <= t < _d("16:40:30"):
            s0 = _d("16:40:00.118")
            row(
                t,
                29377,
                "vault-admin",
                "vault",
                "10.0.9.14",
                "idle",
                s0,
                None,
                s0 + NS // 50,
                s0 + NS // 40,
                f'ALTER ROLE "v-checkout-analytics-ro-2NqP" WITH PASSWORD '
                f"'{VAULT_ROLE_PASSWORD}' VALID UNTIL '2026-11-11 16:40:00+00'",
            )
    return records_frame(
        rows,
        "pg_activity",
        ["sampled_at", "backend_start", "xact_start", "query_start", "state_change"],
        "us",
    )


def _pg_settings() -> pd.DataFrame:
    rows = [
        ("max_connections", "100", None),
        ("superuser_reserved_connections", "3", None),
        ("idle_in_transaction_session_timeout", "60000", "ms"),
        ("statement_timeout", "30000", "ms"),
        ("lock_timeout", "5000", "ms"),
        ("idle_session_timeout", "0", "ms"),
        ("log_min_duration_statement", "500", "ms"),
        ("shared_buffers", "262144", "8kB"),
        ("work_mem", "8192", "kB"),
        ("server_version", "16.4", None),
    ]
    return conform(pd.DataFrame(rows, columns=["name", "setting", "unit"]), "pg_settings")


# -- the record ----------------------------------------------------------------------------
def incident() -> Incident:
    """The incident record, as the responders left it."""
    return resolved_record(
        TRUTH,
        title="checkout: slow checkouts and 5xx/504s",
        roles={
            "incident_commander": "erik.larsen",
            "tech_lead": "fatima.haddad",
            "scribe": "gustavo.pereira",
        },
        impact=(
            "From about 17:07 to 17:14 UTC checkout was slow (p95 up to 15 s) and up to ~10 % "
            "of checkout requests failed with 502/503/504; customers had to retry. No data loss."
        ),
    )


def build(seed: int) -> list[Capture]:
    """Every evidence frame of the scenario, deterministic for ``seed``."""
    m = _Model(seed)
    logs, errors = _logs(m, seed)
    metrics, series = _metrics(m, seed, errors)
    since, until = iso_z(m.b0, 0), iso_z(m.w1, 0)
    selector = f"app={SERVICE}"

    def fetched(seconds: int) -> datetime:
        return W1.replace(second=seconds)

    return [
        Capture(
            "kubernetes",
            "rollouts",
            _rollouts(),
            {"namespace": NAMESPACE, "deployment": SERVICE},
            fetched(2),
        ),
        Capture(
            "kubernetes",
            "events",
            _k8s_events(m, seed),
            {
                "namespace": NAMESPACE,
                "since": since,
                "until": until,
                "involved_object_kinds": [
                    "Deployment",
                    "ReplicaSet",
                    "Pod",
                    "Node",
                    "HorizontalPodAutoscaler",
                ],
            },
            fetched(3),
        ),
        Capture(
            "kubernetes",
            "pods",
            _pods_frame(m),
            {"namespace": NAMESPACE, "label_selector": selector},
            fetched(4),
        ),
        Capture(
            "kubernetes",
            "pod_usage",
            _pod_usage(m, seed),
            {
                "namespace": NAMESPACE,
                "label_selector": selector,
                "since": since,
                "until": until,
                "step": "60s",
            },
            fetched(6),
        ),
        Capture(
            "kubernetes",
            "logs",
            logs,
            {
                "namespace": NAMESPACE,
                "label_selector": selector,
                "containers": ["checkout", "istio-proxy"],
                "since": since,
                "until": until,
                "timestamps": True,
                "previous": True,
            },
            fetched(11),
        ),
        Capture(
            "datadog",
            "metrics",
            metrics,
            {
                "site": "datadoghq.eu",
                "from": since,
                "to": until,
                "interval": "15s",
                "scope": "kube_deployment:checkout,kube_namespace:prod",
            },
            fetched(15),
        ),
        Capture(
            "datadog",
            "monitor_events",
            _monitor_events(series),
            {
                "site": "datadoghq.eu",
                "from": since,
                "to": until,
                "monitor_tags": ["service:checkout", "team:checkout"],
            },
            fetched(16),
        ),
        Capture(
            "datadog",
            "events",
            _datadog_events(),
            {
                "site": "datadoghq.eu",
                "from": since,
                "to": until,
                "query": "service:checkout -source:alert",
                "max_events": 10_000,
            },
            fetched(17),
        ),
        Capture(
            "postgres",
            "activity",
            _pg_activity(m, seed),
            {
                "host": "checkout-db.prod",
                "port": 5432,
                "dbname": "checkout",
                "since": since,
                "until": until,
                "interval": "30s",
                "query": PG_ACTIVITY_QUERY,
            },
            fetched(18),
        ),
        Capture(
            "postgres",
            "settings",
            _pg_settings(),
            {
                "host": "checkout-db.prod",
                "port": 5432,
                "dbname": "checkout",
                "names": PG_SETTINGS_NAMES,
            },
            fetched(19),
        ),
    ]


__all__ = ["build", "incident"]
