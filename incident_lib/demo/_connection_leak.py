"""Scenario ``connection-leak``: api v2.34 leaks database connections until orders-db is full.

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
"""

from __future__ import annotations

import json
from datetime import datetime
from statistics import NormalDist

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
    from_ns,
    grid,
    iso_z,
    metrics_frame,
    monitor_frame,
    periodic_times,
    pod_name,
    pod_start_events,
    pod_stop_events,
    py_asctime,
    records_frame,
    resolved_record,
    rng_for,
    rollout_row,
    scale_event,
    smoothstep,
    to_ns,
)
from ._scenarios import CONNECTION_LEAK
from ._secrets import API_DB_PASSWORD, DBLINK_PASSWORD, JWT, URL_TOKEN

TRUTH = CONNECTION_LEAK.truth
DAY = "2026-11-03"
SERVICE = TRUTH.service
NAMESPACE = TRUTH.namespace
B0, W0, W1 = TRUTH.baseline.start, TRUTH.window.start, TRUTH.window.end
T0 = TRUTH.deploy_at
RB = TRUTH.rollback_at
assert T0 is not None and RB is not None

RS_GOOD, RS_BAD = "6f9c7b5d48", "7d4b8c9f6"
IMAGE = "registry.example.com/shop/api:{}"
GOOD, BAD = "v2.33", "v2.34"
DB_HOST, DB_IP, DB_NAME = "orders-db.prod", "10.0.40.12", "orders"
DSN = f"postgresql://api:{API_DB_PASSWORD}@{DB_HOST}:5432/{DB_NAME}"
MAX_CONNECTIONS, RESERVED = 100, 3
POOL_MAX = 30  # pool_size 20 + max_overflow 10
DB_FRACTION = 0.12  # share of requests that need a database connection (the rest: cache)
NODES = (
    ("ip-10-0-12-34.eu-west-1.compute.internal", "10.0.12"),
    ("ip-10-0-13-187.eu-west-1.compute.internal", "10.0.13"),
    ("ip-10-0-14-9.eu-west-1.compute.internal", "10.0.14"),
    ("ip-10-0-12-201.eu-west-1.compute.internal", "10.0.12"),
)
INGRESS_IPS = ("10.0.20.11", "10.0.21.14")
API_CONTAINER = Container("api", 0.25, 1.0, 384 * 2**20, 768 * 2**20)
QUEUEPOOL = (
    "QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00 "
    "(Background on this error at: https://sqlalche.me/e/20/3o7r)"
)
FATAL_RESERVED = "remaining connection slots are reserved for non-replication superuser connections"
FATAL_TOO_MANY = "sorry, too many clients already"


def _fatal(kind: str) -> str:
    return (
        f'(psycopg2.OperationalError) connection to server at "{DB_HOST}" ({DB_IP}), '
        f"port 5432 failed: FATAL:  {kind}"
    )


def _d(hms: str, day: str = DAY) -> int:
    return to_ns(datetime.fromisoformat(f"{day}T{hms}+00:00"))


# -- the model -------------------------------------------------------------------------
class _Model:
    """Pods, traffic and the per-second connection simulation shared by every source."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = rng_for(seed, "leak/pods")
        self.b0, self.w0, self.w1 = to_ns(B0), to_ns(W0), to_ns(W1)
        self.sec = grid(B0, W1, 1)
        self.n = self.sec.size
        self.old, self.new, self.back = self._pods(rng)
        self.pods = [*self.old, *self.new, *self.back]
        x = np.arange(self.n) / self.n
        self.rps = 24.0 * (1 + 0.06 * x) * (1 + 0.025 * np.sin(2 * np.pi * 3.7 * x))
        serving = np.array([p.serving(self.sec) for p in self.pods])
        self.serving = {p.name: serving[i] for i, p in enumerate(self.pods)}
        n_serving = np.maximum(serving.sum(axis=0), 1)
        self.rps_pod = {p.name: self.rps / n_serving * serving[i] for i, p in enumerate(self.pods)}
        self._others()
        self._simulate(rng_for(seed, "leak/leaks"))
        self._batches(rng_for(seed, "leak/batches"))

    def _pods(self, rng):
        def ip(i: int) -> str:
            return f"{NODES[i % 4][1]}.{int(rng.integers(20, 250))}"

        old = []
        for i in range(3):
            created = _d("09:14:05", "2026-11-01") + i * 31 * NS
            old.append(
                Pod(
                    pod_name(SERVICE, RS_GOOD, rng),
                    RS_GOOD,
                    GOOD,
                    NODES[i][0],
                    ip(i),
                    created,
                    created + 9 * NS,
                    created + 31 * NS,
                )
            )
        new, t = [], to_ns(T0)
        for i in range(3):
            created = t + int(0.2 * NS)
            started = created + int((8.4 + 0.6 * i) * NS)
            ready = started + int(rng.uniform(21, 24) * NS)
            node = (i + 1) % 4
            new.append(
                Pod(
                    pod_name(SERVICE, RS_BAD, rng),
                    RS_BAD,
                    BAD,
                    NODES[node][0],
                    ip(node),
                    created,
                    started,
                    ready,
                )
            )
            old[i].deleted, old[i].exited = ready, ready + int(3.5 * NS)
            t = ready
        back, t = [], to_ns(RB)
        for i in range(3):
            created = t + int(0.3 * NS)
            started = created + int(2.4 * NS)
            ready = started + int(rng.uniform(21, 23) * NS)
            node = (i + 2) % 4
            back.append(
                Pod(
                    pod_name(SERVICE, RS_GOOD, rng),
                    RS_GOOD,
                    GOOD,
                    NODES[node][0],
                    ip(node),
                    created,
                    started,
                    ready,
                )
            )
            new[i].deleted, new[i].exited = ready, ready + int(8 * NS)
            t = ready
        return old, new, back

    def _idx(self, moment: int | str) -> int:
        """Index into the per-second arrays of ``HH:MM:SS`` (or nanoseconds)."""
        ns = _d(moment) if isinstance(moment, str) else moment
        return int((ns - self.b0) // NS)

    def _others(self) -> None:
        """Other clients of orders-db: orders-worker, datadog, a cron job, DBAs (superusers)."""
        worker = np.full(self.n, 3, dtype=np.int64)
        for moment in ("14:17:40", "14:19:30", "14:21:10", "14:23:00", "14:24:30"):
            worker[self._idx(moment) :] += 1
        for moment in ("14:36:10", "14:36:50", "14:37:30", "14:38:20", "14:39:00"):
            worker[self._idx(moment) :] -= 1
        self.worker_wanted = worker  # it gets them only while orders-db has room
        cron = np.zeros(self.n, dtype=np.int64)
        cron[self._idx("13:30:00") : self._idx("13:31:40")] = 1
        self.cron = cron
        self.superusers = [  # (start, end, application_name, client)
            (_d("14:26:10"), _d("14:41:00"), "psql", "10.0.5.23"),
            (_d("14:28:40"), _d("14:31:20"), "psql", "10.0.5.31"),
            (_d("14:29:50"), _d("14:32:30"), "pgAdmin 4 - DB:orders", "10.0.5.40"),
        ]
        sup = np.zeros(self.n, dtype=np.int64)
        for start, end, _, _ in self.superusers:
            sup[self._idx(start) : self._idx(end)] += 1
        self.super_count = sup

    def _leak_schedule(self, rng) -> dict[str, list[int]]:
        full = ("14:18:30", "14:21:30", "14:25:30")
        out = {}
        for pod, end in zip(self.new, full, strict=True):
            start = pod.ready + 30 * NS
            stop = _d(end)
            spacing = (stop - start) / POOL_MAX
            times = start + spacing * np.arange(1, POOL_MAX + 1)
            times += rng.uniform(-0.3, 0.3, POOL_MAX) * spacing
            times[-1] = stop - rng.uniform(0, 2) * NS
            out[pod.name] = sorted(int(t) for t in times)
        return out

    def _simulate(self, rng) -> None:
        """Per second: each pod's open and leaked connections, orders-db totals."""
        schedule = self._leak_schedule(rng)
        self.leak_times = schedule
        leak_at = {name: {int((t - self.b0) // NS): t for t in ts} for name, ts in schedule.items()}
        alive = {p.name: p.alive(self.sec) for p in self.pods}
        conns = {p.name: np.zeros(self.n, dtype=np.int64) for p in self.pods}
        leaked = {p.name: np.zeros(self.n, dtype=np.int64) for p in self.pods}
        total = np.zeros(self.n, dtype=np.int64)
        self.sessions: list[dict] = []
        open_: dict[str, list[dict]] = {p.name: [] for p in self.pods}
        pid_rng = rng_for(self.seed, "leak/pids")
        next_pid = [31000]

        def new_pid() -> int:
            next_pid[0] += int(pid_rng.integers(3, 60))
            return next_pid[0]

        pooled: dict[str, list[dict]] = {p.name: [] for p in self.pods}
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
                            c["closed"] = p.exited
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
                        target["leaked_at"] = leak_at[name][s]
                        n_leaked[name] += 1
                while len(free) < 2 and len(mine) < POOL_MAX and used < room:
                    c = self._open(p, t + int(pid_rng.uniform(0, 0.9) * NS), new_pid())
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
        self.total_leaked = sum(leaked.values())

    def _batches(self, rng) -> None:
        """The v2.34 pods' order-batch flushes (every ~10 s) and aborted flushes, one id sequence.

        An aborted flush that got its connection leaks it (``leak_batch``: leak time ->
        batch id, the row its open transaction keeps locked); one that got none fails.
        """
        leaked = {s["leaked_at"] for s in self.sessions if s["leaked_at"] is not None}
        events = []
        for p in self.new:
            free = (self.conns[p.name] - self.leaked[p.name]) > 0
            for t in periodic_times(rng, p.ready + 10 * NS, p.exited, 10, 0.3):
                events.append((int(t), p.name, "flushed" if free[self._idx(int(t))] else "failed"))
            for t in self.leak_times[p.name]:
                if t < p.exited:
                    events.append((t, p.name, "aborted" if t in leaked else "failed"))
        events.sort()
        ids = 88000 + int(rng.integers(0, 400)) + np.cumsum(rng.integers(1, 4, len(events)))
        self.batches = [
            (t, pod, kind, int(i)) for (t, pod, kind), i in zip(events, ids, strict=True)
        ]
        self.leak_batch = {t: i for t, _, kind, i in self.batches if kind == "aborted"}

    def _open(self, pod: Pod, t: int, pid: int) -> dict:
        session = {"pid": pid, "pod": pod, "opened": t, "closed": None, "leaked_at": None}
        self.sessions.append(session)
        return session

    # -- derived per-second rates ---------------------------------------------------
    def lock_slow(self) -> np.ndarray:
        """Share of all requests slowed (seconds) by row locks the leaked transactions hold."""
        return np.clip(0.0006 * self.total_leaked, 0, 0.055)

    def failure_rates(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
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


# -- logs ------------------------------------------------------------------------------
def _json(t: int, level: str, logger: str, msg: str, **extra) -> str:
    """A structlog JSON line (``ts`` / ``level`` / ``msg`` spelling)."""
    body = {"ts": iso_z(t, 6), "level": level, "logger": logger, "msg": msg, **extra}
    return json.dumps(body)


def _plain(t: int, level: str, thread: str, logger: str, msg: str) -> str:
    """A line of Python logging's ``%(asctime)s %(levelname)s [%(threadName)s] %(name)s:``."""
    return f"{py_asctime(t)} {level.upper()} [{thread}] {logger}: {msg}"


def _gunicorn(t: int, pid: int, level: str, msg: str) -> str:
    """A gunicorn master / worker line."""
    stamp = from_ns(t).strftime("[%Y-%m-%d %H:%M:%S +0000]")
    return f"{stamp} [{pid}] [{level.upper()}] {msg}"


_PATHS = (
    ("GET", "/v1/products/{sku}"),
    ("GET", "/v1/orders/{oid}"),
    ("GET", "/v1/orders?customer_id={cid}&page={page}"),
    ("POST", "/v1/orders"),
    ("PUT", "/v1/carts/{cart}/items"),
    ("GET", "/v1/carts/{cart}"),
    ("GET", "/v1/search?q={q}"),
)
_PATH_CUM = cumulative((0.33, 0.15, 0.12, 0.06, 0.12, 0.14, 0.08))
_WORDS = ("shoes", "red+dress", "usb-c", "coffee", "lamp", "socks", "backpack", "gift+card")


def _request(r: FastRandom, slow: float) -> tuple[str, str, int, int]:
    method, tpl = r.choice(_PATHS, _PATH_CUM)
    path = tpl.format(
        sku=f"SKU-{r.integers(10000, 99999)}",
        oid=int(r.integers(5_400_000, 5_600_000)),
        cid=int(r.integers(10_000, 90_000)),
        page=int(r.integers(1, 6)),
        cart=r.uuid4(),
        q=r.choice(_WORDS),
    )
    status = 201 if method == "POST" else 200
    roll = r.random()
    if method == "POST" and roll < 0.03:
        status = 422
    elif "/orders/" in path and roll < 0.015:
        status = 404
    elif roll < 0.004:
        status = 401
    took = int(r.lognormal(np.log(38), 0.55))
    if r.random() < slow:
        took = int(r.uniform(1500, 9000))
    return method, path, status, took


_TRACE_TIMEOUT = "\n".join(
    (
        "Traceback (most recent call last):",
        '  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 1511, in wsgi_app',
        "    response = self.full_dispatch_request()",
        '  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 919, in fu'
        "ll_dispatch_request",
        "    rv = self.handle_user_exception(e)",
        '  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 917, in fu'
        "ll_dispatch_request",
        "    rv = self.dispatch_request()",
        '  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 902, in di'
        "spatch_request",
        "    return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)",
        '  File "/app/api/views/orders.py", line 88, in get_order',
        "    order = repo.get_order(order_id)",
        '  File "/app/api/repo/orders.py", line 41, in get_order',
        "    return session.get(Order, order_id)",
        '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/orm/session.py", li'
        "ne 2138, in _connection_for_bind",
        "    conn = self._connection_for_bind(bind)",
        '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/base.py", li'
        "ne 3276, in raw_connection",
        "    return self.pool.connect()",
        '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/base.py", line'
        " 449, in connect",
        "    return _ConnectionFairy._checkout(self)",
        '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", line'
        " 157, in _do_get",
        "    raise exc.TimeoutError(",
        "sqlalchemy.exc.TimeoutError: ",
    )
)

_TRACE_FATAL = "\n".join(
    (
        "Traceback (most recent call last):",
        '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/base.py", li'
        "ne 146, in __init__",
        "    self._dbapi_connection = engine.raw_connection()",
        '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", line'
        " 175, in _do_get",
        "    return self._create_connection()",
        '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/default.py",'
        " line 625, in connect",
        "    return self.loaded_dbapi.connect(*cargs, **cparams)",
        '  File "/usr/local/lib/python3.12/site-packages/psycopg2/__init__.py", line 12'
        "2, in connect",
        "    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)",
        'psycopg2.OperationalError: connection to server at "orders-db.prod" (10.0.40.1'
        "2), port 5432 failed: FATAL:  {kind}",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 917, in fu'
        "ll_dispatch_request",
        "    rv = self.dispatch_request()",
        '  File "/app/api/views/orders.py", line 63, in create_order',
        "    order = service.place_order(payload)",
        '  File "/app/api/services/orders.py", line 112, in place_order',
        "    batch = self.batches.open_batch_for(order.customer_id)",
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to serve"
        'r at "orders-db.prod" (10.0.40.12), port 5432 failed: FATAL:  {kind}',
        "",
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
    )
)


def _logs(m: _Model, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The logs frame, plus the times of 5xx responses and of timed-out requests."""
    rng = rng_for(seed, "leak/logs")
    r = FastRandom(rng_for(seed, "leak/logs/text"))
    sink = LogSink()
    add = sink.add
    sec = m.sec
    errors: list[int] = []
    timeouts: list[int] = []
    rates = m.failure_rates()
    slow_lock = m.lock_slow()

    for pod in m.pods:
        name, ctr = pod.name, "api"
        end = pod.exited if pod.exited is not None else m.w1
        begin = max(pod.started, m.b0)
        kubelet = pod.ip.rsplit(".", 1)[0] + ".1"
        # start-up and shut-down
        if pod.started >= m.b0:
            t = pod.started + int(0.3 * NS)
            for msg in (
                "Starting gunicorn 22.0.0",
                "Listening at: http://0.0.0.0:8000 (1)",
                "Using worker: gthread",
            ):
                add(t, name, ctr, _gunicorn(t, 1, "info", msg))
                t += int(r.uniform(0.001, 0.01) * NS)
            for wpid in (7, 8):
                t += int(r.uniform(0.01, 0.05) * NS)
                add(t, name, ctr, _gunicorn(t, 1, "info", f"Booting worker with pid: {wpid}"))
            t += int(1.8 * NS)
            sha = {"v2.33": "9e1d4c7", "v2.34": "3f9c2ab"}[pod.version]
            add(
                t,
                name,
                ctr,
                _json(
                    t, "info", "api.app", f"api {pod.version} starting (git {sha}, python 3.12.7)"
                ),
            )
            t += int(0.02 * NS)
            add(t, name, ctr, _plain(t, "info", "MainThread", "api.settings", env_dump(DSN)))
            t += int(0.03 * NS)
            add(
                t,
                name,
                ctr,
                _json(
                    t,
                    "info",
                    "api.db",
                    f"database engine created for {DSN} "
                    "(pool_size=20, max_overflow=10, pool_timeout=30)",
                ),
            )
            if pod.version == BAD:
                t += int(0.01 * NS)
                add(
                    t,
                    name,
                    ctr,
                    _json(
                        t,
                        "info",
                        "orders.batch",
                        "order batching enabled: flush every 10s, max 50 orders per batch",
                    ),
                )
        if pod.deleted is not None and pod.deleted < m.w1:
            t = pod.deleted + int(0.2 * NS)
            add(t, name, ctr, _gunicorn(t, 1, "info", "Handling signal: term"))
            for wpid in (7, 8):
                t += int(r.uniform(0.5, 3) * NS)
                add(t, name, ctr, _gunicorn(t, wpid, "info", f"Worker exiting (pid: {wpid})"))
            add(
                pod.exited - NS // 10,
                name,
                ctr,
                _gunicorn(pod.exited - NS // 10, 1, "info", "Shutting down: Master"),
            )

        # probes: readiness every 10 s, liveness every 20 s (logged by the app)
        for path, period in (("/healthz/ready", 10), ("/healthz/live", 20)):
            for t in periodic_times(rng, max(begin, pod.ready - 2 * NS), end, period):
                took = int(r.integers(0, 3))
                add(
                    t,
                    name,
                    ctr,
                    _json(
                        t,
                        "info",
                        "api.access",
                        f"GET {path} 200 took {took}ms",
                        remote_addr=kubelet,
                        user_agent="kube-probe/1.30",
                    ),
                )

        serving_rate = m.rps_pod[name]
        # sampled access log (5 % of successful requests)
        idx0 = int((begin - m.b0) // NS)
        idx1 = int((min(end, m.w1) - m.b0) // NS)
        bins = sec[idx0:idx1]
        timeout, refused, slow = (rate[idx0:idx1] for rate in rates[name])
        share_slow = np.clip(
            slow / np.maximum(serving_rate[idx0:idx1], 1e-9) + slow_lock[idx0:idx1], 0, 0.5
        )
        for t in event_times(rng, bins, serving_rate[idx0:idx1] * 0.05, 1):
            i = int((t - m.b0) // NS)
            method, path, status, took = _request(r, share_slow[i - idx0])
            level = "warning" if status >= 400 else "info"
            add(
                t,
                name,
                ctr,
                _json(
                    t,
                    level,
                    "api.access",
                    f"{method} {path} {status} took {took}ms",
                    request_id=r.uuid4(),
                    remote_addr=r.choice(INGRESS_IPS),
                    sampled=True,
                ),
            )

        # periodic housekeeping
        for t in periodic_times(rng, begin + 20 * NS, end, 60, 0.02):
            hits = int(r.integers(2200, 3100))
            miss = int(hits * r.uniform(0.04, 0.08))
            add(
                t,
                name,
                ctr,
                _plain(
                    t,
                    "info",
                    "cache-stats",
                    "api.cache",
                    f"hit ratio {hits / (hits + miss):.2f} over last 60s (hits={hits} misses={miss} "
                    f"evictions={int(r.integers(0, 4))})",
                ),
            )
        for t in periodic_times(rng, begin + 5 * NS, end, 300, 0.01):
            nxt = (t // (300 * NS) + 1) * 300 * NS
            job = (
                f'"refresh_exchange_rates (trigger: interval[0:05:00], next run at: '
                f'{from_ns(nxt):%Y-%m-%d %H:%M:%S} UTC)"'
            )
            scheduler = "apscheduler.executors.default"
            add(
                t,
                name,
                ctr,
                _plain(
                    t,
                    "info",
                    "APScheduler",
                    scheduler,
                    f"Running job {job} (scheduled at {from_ns(t):%Y-%m-%d %H:%M:%S}+00:00)",
                ),
            )
            t2 = t + int(r.uniform(0.3, 1.6) * NS)
            add(
                t2,
                name,
                ctr,
                _plain(t2, "info", "APScheduler", scheduler, f"Job {job} executed successfully"),
            )
        for t in event_times(rng, bins, 1 / 240, 1):
            add(
                t,
                name,
                ctr,
                _plain(
                    t,
                    "info",
                    "gc-monitor",
                    "api.runtime",
                    f"gc generation 2 collected {int(r.integers(8000, 30000))} objects in "
                    f"{r.uniform(15, 70):.1f}ms",
                ),
            )

        # baseline trouble that is not the incident
        for t in event_times(rng, bins, 0.03 / 3, 1):
            oid = int(r.integers(5_400_000, 5_600_000))
            add(
                t,
                name,
                ctr,
                _json(
                    t,
                    "warning",
                    "api.payments",
                    f"payment authorization for order {oid} failed with 502 Bad Gateway, retrying "
                    f"(attempt 2/3)",
                    request_id=r.uuid4(),
                ),
            )
        for t in event_times(rng, bins, 0.012 / 3, 1):
            oid = int(r.integers(5_400_000, 5_600_000))
            add(
                t,
                name,
                ctr,
                _json(
                    t,
                    "error",
                    "api.payments",
                    f"payment provider returned 502 Bad Gateway for order {oid}; giving up after 3 "
                    "attempts",
                    request_id=r.uuid4(),
                    status=502,
                ),
            )
            errors.append(t)
        for t in event_times(rng, bins, 0.004 / 3, 1):
            add(
                t,
                name,
                ctr,
                _plain(
                    t,
                    "warning",
                    "ThreadPoolExecutor-0_" + str(int(r.integers(0, 8))),
                    "api.db",
                    f"slow query took {int(r.integers(1000, 2600))}ms: SELECT orders.id, orders.status "
                    f"FROM orders WHERE orders.customer_id = {int(r.integers(10000, 90000))} "
                    "ORDER BY orders.created_at DESC LIMIT 20",
                ),
            )

        # order batching (v2.34 only): flushes; an aborted one leaks its connection
        for t, _, kind, batch in (b for b in m.batches if b[1] == name):
            if kind == "flushed":
                add(
                    t,
                    name,
                    ctr,
                    _plain(
                        t,
                        "info",
                        "batch-worker",
                        "orders.batch",
                        f"flushed batch {batch} with {r.integers(3, 40)} orders in "
                        f"{int(r.lognormal(np.log(180), 0.4))}ms",
                    ),
                )
            elif kind == "aborted":
                add(
                    t,
                    name,
                    ctr,
                    _plain(
                        t,
                        "warning",
                        "batch-worker",
                        "orders.batch",
                        f"batch {batch} flush aborted: order {r.integers(5_400_000, 5_600_000)} has "
                        "a pending payment authorization; will retry next cycle",
                    ),
                )
            else:
                i = int((t - m.b0) // NS)
                cause = (
                    QUEUEPOOL
                    if m.conns[name][i] >= POOL_MAX
                    else _fatal(FATAL_TOO_MANY if m.total[i] >= MAX_CONNECTIONS else FATAL_RESERVED)
                )
                add(
                    t,
                    name,
                    ctr,
                    _plain(
                        t,
                        "error",
                        "batch-worker",
                        "orders.batch",
                        f"flush of batch {batch} failed: {cause}",
                    ),
                )

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
                        f"api.app: Exception on {path} [{method}]\n{_TRACE_TIMEOUT}{QUEUEPOOL}"
                    )
                    add(t, name, ctr, raw)
                else:
                    add(
                        t,
                        name,
                        ctr,
                        _json(
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
                        ),
                    )
        for j in np.nonzero(counts_rf)[0]:
            i = idx0 + j
            kind = FATAL_TOO_MANY if m.total[i] >= MAX_CONNECTIONS else FATAL_RESERVED
            for _ in range(counts_rf[j]):
                t = int(bins[j]) + int(r.uniform(0.01, 1) * NS)
                errors.append(t)
                if r.random() < 0.05:
                    raw = (
                        f"{py_asctime(t)} ERROR [ThreadPoolExecutor-0_{int(r.integers(0, 8))}] "
                        "api.app: Exception on /v1/orders [POST]\n" + _TRACE_FATAL.format(kind=kind)
                    )
                    add(t, name, ctr, raw)
                else:
                    add(
                        t,
                        name,
                        ctr,
                        _json(
                            t,
                            "error",
                            "api.errors",
                            _fatal(kind),
                            exc_type="sqlalchemy.exc.OperationalError",
                            method="POST",
                            path="/v1/orders",
                            status=500,
                            duration_ms=int(r.integers(3, 12)),
                            request_id=r.uuid4(),
                        ),
                    )
        exhausted = (m.conns[name] >= POOL_MAX) & (m.conns[name] == m.leaked[name])
        for t in periodic_times(rng, begin, end, 30, 0.01):
            i = int((t - m.b0) // NS)
            if exhausted[i]:
                waiting = int(rates[name][0][i] * 30 + r.integers(0, 6))
                add(
                    t,
                    name,
                    ctr,
                    _plain(
                        t,
                        "critical",
                        "pool-monitor",
                        "api.db",
                        f"database pool exhausted: {POOL_MAX}/{POOL_MAX} connections checked out, "
                        f"{waiting} requests waiting",
                    ),
                )

    # planted secrets in ordinary-looking places
    first = m.old[0]
    for offset in (0.0, 12.4, 37.9):
        t = _d("13:41:07") + int(offset * NS)
        cid = int(r.integers(10000, 90000))
        add(
            t,
            first.name,
            "api",
            _plain(
                t,
                "debug",
                "ThreadPoolExecutor-0_2",
                "api.clients.customers",
                f"GET http://customers.prod.svc.cluster.local/v1/customers/{cid} headers="
                f"{{'User-Agent': 'api/2.33', 'Accept': 'application/json', "
                f"'Authorization': 'Bearer {JWT}'}}",
            ),
        )
    for pod, moment in ((m.old[1], "13:17:42"), (m.back[2], "14:44:10")):
        t = _d(moment)
        path = f"/v1/exports/orders.csv?token={URL_TOKEN}&from=2026-11-01&to=2026-11-02"
        add(
            t,
            pod.name,
            "api",
            _json(
                t,
                "info",
                "api.access",
                f"GET {path} 200 took 812ms",
                request_id=r.uuid4(),
                remote_addr=INGRESS_IPS[0],
                sampled=True,
            ),
        )
    # a redis hiccup in the baseline: one burst of 5xx inside a single 15 s bin
    burst = _d("13:24:16")
    for k in range(12):
        pod = m.old[k % 3]
        t = burst + int(r.uniform(0, 10.5) * NS)
        add(
            t,
            pod.name,
            "api",
            _json(
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
            ),
        )
        errors.append(t)

    return (
        sink.frame(),
        np.array(sorted(errors), dtype=np.int64),
        np.array(sorted(timeouts), dtype=np.int64),
    )


# -- metrics ---------------------------------------------------------------------------
def _metrics(
    m: _Model, seed: int, errors: np.ndarray, timeouts: np.ndarray
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    rng = rng_for(seed, "leak/metrics")
    bins = grid(B0, W1, 15)
    idx = ((bins - m.b0) // NS).astype(int)
    err = bin_counts(errors, bins, 15).astype(float)
    rate = np.array([m.rps[i : i + 15].mean() for i in idx])
    hits = rng.poisson(rate * 15).astype(float) + 0.5 * err
    spike = int((_d("13:12:00") - m.b0) // (15 * NS))
    hits[spike] *= 1.32
    to = bin_counts(timeouts, bins, 15).astype(float)
    rates = m.failure_rates()
    slow = sum(r[2] for r in rates.values())
    slow_bin = np.array([slow[i : i + 15].sum() for i in idx])
    lock = m.lock_slow()[idx]
    ft = to / np.maximum(hits, 1)
    fs = np.clip(slow_bin / np.maximum(hits, 1) + lock, 0, 0.5)
    wobble = 1 + 0.1 * np.sin(np.arange(bins.size) / 37)
    # requests queue behind the row locks the open transactions hold: latency creeps up
    creep = 1 + 1.2 * smoothstep(m.total_leaked[idx] / 80)
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
    lat_spike = int((_d("13:47:30") - m.b0) // (15 * NS))
    p95[lat_spike] = 1450 + rng.uniform(0, 60)

    cpu = np.zeros(bins.size)
    mem = np.zeros(bins.size)
    for p in m.pods:
        c, mm = _usage(p, m, bins, rng)
        cpu += c
        mem += mm
    conns = m.total[idx].astype(float)
    scope_apm, scope_k8s = "service:api,env:prod", "kube_deployment:api,kube_namespace:prod"
    series = [
        (
            "request_rate",
            "sum:trace.flask.request.hits{service:api,env:prod}.as_rate()",
            scope_apm,
            hits / 15,
        ),
        (
            "error_rate",
            "sum:trace.flask.request.errors{service:api,env:prod,http.status_class:5xx}.as_rate()",
            scope_apm + ",http.status_class:5xx",
            err / 15,
        ),
        ("latency_p95", "p95:trace.flask.request{service:api,env:prod}", scope_apm, p95),
        (
            "cpu",
            "sum:kubernetes.cpu.usage.total{kube_deployment:api,kube_namespace:prod}",
            scope_k8s,
            cpu,
        ),
        (
            "memory",
            "sum:kubernetes.memory.usage{kube_deployment:api,kube_namespace:prod}",
            scope_k8s,
            mem,
        ),
        (
            "db_connections",
            "sum:postgresql.connections{db:orders,env:prod}",
            "db:orders,env:prod",
            conns,
        ),
    ]
    gap_k8s = (_d("13:37:00"), _d("13:38:00"))
    gap_db = (_d("13:21:15"), _d("13:22:00"))
    frame = metrics_frame(
        bins, series, {"cpu": gap_k8s, "memory": gap_k8s, "db_connections": gap_db}
    )
    return frame, {metric: (bins, values) for metric, _, _, values in series}


def _usage(p: Pod, m: _Model, times: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """CPU (cores) and memory (bytes) of the api container of ``p`` at ``times``."""
    idx = np.clip((times - m.b0) // NS, 0, m.n - 1).astype(int)
    alive = p.alive(times)
    rps = m.rps_pod[p.name][idx]
    cpu = 0.06 + 0.0075 * rps + rng.normal(0, 0.008, times.size)
    if p.version == BAD:
        cpu += 0.015
    boot = (times >= p.started) & (times < p.started + 25 * NS)
    cpu = np.where(boot, 0.45 + rng.normal(0, 0.03, times.size), cpu)
    memory = 2**20 * (
        296 + 6 * np.sin((times - p.created) / NS / 1700) + rng.normal(0, 1.5, times.size)
    )
    memory = memory + 3.4 * 2**20 * m.leaked[p.name][idx]
    memory = np.where(boot, memory * np.clip((times - p.started) / (25 * NS), 0.35, 1), memory)
    return np.where(alive, np.clip(cpu, 0.01, None), 0.0), np.where(alive, memory, 0.0)


# -- kubernetes ------------------------------------------------------------------------
def _k8s_events(m: _Model, seed: int) -> pd.DataFrame:
    rng = rng_for(seed, "leak/events")
    sink = EventSink()
    for rs, pods, src in ((RS_BAD, m.new, m.old), (RS_GOOD, m.back, m.new)):
        version = BAD if rs == RS_BAD else GOOD
        src_rs = src[0].replicaset
        first = m.new[0].created if rs == RS_BAD else m.back[0].created
        scale_event(sink, first - int(0.15 * NS), SERVICE, rs, 0, 1)
        for i, pod in enumerate(pods):
            pod_start_events(
                sink, rng, pod, [("api", IMAGE.format(version), rs == RS_BAD)], namespace=NAMESPACE
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
            scale_event(sink, pod.ready + int(0.1 * NS), SERVICE, src_rs, 3 - i, 2 - i)
            if i < 2:
                scale_event(sink, pod.ready + int(0.12 * NS), SERVICE, rs, i + 1, i + 2)
    for pod in [*m.old, *m.new]:
        pod_stop_events(sink, pod, ["api"])
    return sink.frame(since=m.w0)


def _pods_frame(m: _Model) -> pd.DataFrame:
    rows = []
    for p in m.pods:
        if not p.alive(m.w1 - 1):
            continue
        c = API_CONTAINER
        rows.append(
            {
                "pod": p.name,
                "container": c.name,
                "node": p.node,
                "phase": "Running",
                "ready": True,
                "restarts": p.restarts,
                "last_termination_reason": None,
                "last_termination_at": None,
                "started_at": p.started,
                "cpu_request": c.cpu_request,
                "cpu_limit": c.cpu_limit,
                "memory_request": c.memory_request,
                "memory_limit": c.memory_limit,
            }
        )
    return records_frame(rows, "pods", ["last_termination_at", "started_at"])


def _pod_usage(m: _Model, seed: int) -> pd.DataFrame:
    rng = rng_for(seed, "leak/usage")
    minutes = grid(B0, W1, 60)
    parts = []
    for p in m.pods:
        keep = p.alive(minutes)
        if not keep.any():
            continue
        cpu, mem = _usage(p, m, minutes, rng)
        parts.append(
            pd.DataFrame(
                {
                    "time": pd.to_datetime(minutes[keep], unit="ns", utc=True),
                    "pod": p.name,
                    "container": "api",
                    "cpu": np.round(cpu[keep], 4),
                    "memory": np.round(mem[keep]),
                }
            )
        )
    df = pd.concat(parts, ignore_index=True).sort_values(["time", "pod"], kind="stable")
    return conform(df, "pod_usage")


def _rollouts() -> pd.DataFrame:
    rb, t0 = iso_z(to_ns(RB), 0), iso_z(to_ns(T0), 0)

    def row(rev, rs, version, created, deployed, cause, replicas=0, current=False):
        return rollout_row(
            SERVICE, rev, rs, IMAGE.format(version), created, deployed, cause, replicas, current
        )

    rows = [
        row(
            38,
            "5b7d9c6f84",
            "v2.30",
            "2026-10-13T10:02:00Z",
            "2026-10-13T10:02:00Z",
            "deploy v2.30: faster product search (#4711)",
        ),
        row(
            39,
            "84c6d5b9f7",
            "v2.31",
            "2026-10-20T09:47:00Z",
            "2026-10-20T09:47:00Z",
            "deploy v2.31: cart expiry job (#4738)",
        ),
        row(
            40,
            "6d8f4b7c59",
            "v2.32",
            "2026-10-27T13:25:00Z",
            "2026-10-27T13:25:00Z",
            "deploy v2.32: upgrade SQLAlchemy to 2.0.36 (#4760)",
        ),
        row(42, RS_BAD, BAD, t0, t0, "deploy v2.34: order batching (#4812)"),
        # the rollback re-uses v2.33's ReplicaSet: new revision, old created_at
        row(
            43,
            RS_GOOD,
            GOOD,
            "2026-11-01T09:14:00Z",
            rb,
            "deploy v2.33: payment retry backoff (#4790)",
            3,
            True,
        ),
    ]
    return records_frame(rows, "rollouts", ["created_at", "deployed_at"])


# -- datadog events --------------------------------------------------------------------
FLAG = "product-reviews-carousel"


def _datadog_events() -> pd.DataFrame:
    """The events ``service:api -source:alert`` finds: an unrelated flag, the deploy, the rollback.

    The feature flag was turned on an hour before the deploy; the deploy pipeline
    and the responder who rolled back each posted an event.
    """
    assert TRUTH.trigger_event is not None and TRUTH.trigger_event_at is not None
    deployed = iso_z(to_ns(TRUTH.trigger_event_at), 0)[11:19]
    rolled_back = iso_z(to_ns(RB) + 4 * NS, 0)[11:19]
    return datadog_events_frame(DAY, [
        ("13:05:12", "launchdarkly", f"Feature flag {FLAG} turned on in Production",
         f"%%%\nMaria Rossi turned on flag **{FLAG}** in *Production*: "
         "serving `true` to 25% of users.\n%%%",
         ("service:api", "env:prod", f"flag:{FLAG}")),
        (deployed, "github", TRUTH.trigger_event,
         f"%%%\nGitHub Actions workflow **deploy-prod** run #1873 deployed "
         f"`{IMAGE.format(BAD)}` (order batching, #4812) to cluster prod-eu-west-1.\n%%%",
         ("service:api", "env:prod", f"version:{BAD}", "team:shop")),
        (rolled_back, "my_apps", f"Rolled back api to {GOOD} in prod",
         f"%%%\n`kubectl rollout undo deployment/api -n prod` by bruno.silva during "
         f"{TRUTH.incident_id}: back to {GOOD}.\n%%%",
         ("service:api", "env:prod", f"version:{GOOD}", f"incident:{TRUTH.incident_id.lower()}")),
    ])  # fmt: skip


# -- datadog monitors ------------------------------------------------------------------
_MONITORS = {
    "5xx": ("48211020", "[api] 5xx error rate high"),
    "p95": ("48211031", "[api] p95 latency high"),
    "conn": ("48213370", "[orders-db] connections near max_connections"),
    "lag": ("48213388", "[orders-db] replication lag high"),
}
NOTIFY = "@pagerduty-api-oncall @slack-shop-incidents"


def _monitor_events(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Monitor state changes, evaluated on the metrics like Datadog does (every 30 s)."""
    rows = [
        ("13:24:00", "lag", "warn", "replication lag on orders-db-replica-1 is 42 s (warn 30 s)"),
        ("13:27:30", "lag", "ok", "replication lag on orders-db-replica-1 recovered: 3 s"),
    ]
    checks = (
        (
            "5xx",
            "error_rate",
            2,
            None,
            0.8,
            "5xx rate of service:api,env:prod is {v:.2f} req/s over the last 2m",
            "{t:.2f} req/s",
        ),
        (
            "p95",
            "latency_p95",
            5,
            2000.0,
            10000.0,
            "p95 latency of service:api,env:prod is {s:.2f} s over the last 5m",
            "{t:.0f} ms",
        ),
        (
            "conn",
            "db_connections",
            1,
            80.0,
            95.0,
            "orders-db has {v:.0f} connections, {v:.0f}% of max_connections 100",
            "{t:.0f}%",
        ),
    )
    for key, metric, minutes, warn, alert, text, unit in checks:
        times, values = series[metric]
        for t, state, v in evaluate_monitor(
            times, values, minutes=minutes, warn=warn, alert=alert, start=W0, end=W1
        ):
            msg = text.format(v=v, s=v / 1000)
            if state != "ok":
                limit = alert if state == "alert" else warn
                msg += f" ({state} threshold {unit.format(t=limit)})"
                if state == "alert" or key == "conn":
                    msg += f" {NOTIFY}"
            rows.append((iso_z(t, 0)[11:19], key, state, msg))
    return monitor_frame("2026-11-03", _MONITORS, rows)


# -- postgres --------------------------------------------------------------------------
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


def _pg_activity(m: _Model, seed: int) -> pd.DataFrame:
    r = FastRandom(rng_for(seed, "leak/pg"))
    samples = grid(B0, W1, 30)
    rows: list[dict] = []

    def row(
        t,
        pid,
        user,
        app,
        client,
        state,
        backend_start,
        xact,
        qstart,
        change,
        query,
        wtype=None,
        wevent=None,
        blocking="",
    ):
        rows.append(
            {
                "sampled_at": t,
                "pid": pid,
                "datname": DB_NAME,
                "usename": user,
                "application_name": app,
                "client_addr": client,
                "state": state,
                "backend_start": backend_start,
                "xact_start": xact,
                "query_start": qstart,
                "state_change": change,
                "wait_event_type": wtype,
                "wait_event": wevent,
                "blocking_pids": blocking,
                "query": query,
            }
        )

    def fill(tpl: str) -> str:
        return tpl.format(
            oid=int(r.integers(5_400_000, 5_600_000)),
            cid=int(r.integers(10000, 90000)),
            cents=int(r.integers(500, 40000)),
        )

    # the leaked transaction that blocks orders-worker, and its batch
    holder = next(
        s
        for s in m.sessions
        if s["leaked_at"] and s["pod"] is m.new[0] and s["leaked_at"] >= _d("14:15:30")
    )
    w_pids = [r.integers(20000, 30000) for _ in range(3)]
    w_extra = [r.integers(30000, 31000) for _ in range(5)]
    w_start = _d("22:00:00", "2026-11-02")
    dd_pid = int(r.integers(12000, 19000))
    waiter1_from = _d("14:16:10")
    waiter2_from = _d("14:19:30")
    released = holder["closed"] if holder["closed"] else m.w1
    hb = m.leak_batch[holder["leaked_at"]]

    for t in samples:
        t = int(t)
        for s in m.sessions:
            if s["opened"] > t or (s["closed"] is not None and s["closed"] <= t):
                continue
            p = s["pod"]
            app, client = f"api-{p.version}", p.ip
            if s["leaked_at"] is not None and s["leaked_at"] <= t:
                lt = s["leaked_at"]
                row(
                    t,
                    s["pid"],
                    "api",
                    app,
                    client,
                    "idle in transaction",
                    s["opened"],
                    lt - int(0.21 * NS),
                    lt - int(0.05 * NS),
                    lt - int(0.04 * NS),
                    _LEAK_QUERY.format(batch=m.leak_batch[lt]),
                )
            elif r.random() < 0.18:
                q0 = t - int(r.uniform(0.001, 0.08) * NS)
                row(
                    t,
                    s["pid"],
                    "api",
                    app,
                    client,
                    "active",
                    s["opened"],
                    q0 - int(0.002 * NS),
                    q0,
                    q0,
                    fill(r.choice(_API_QUERIES)),
                )
            else:
                q0 = t - int(r.uniform(0.05, 20) * NS)
                row(
                    t,
                    s["pid"],
                    "api",
                    app,
                    client,
                    "idle",
                    s["opened"],
                    None,
                    q0,
                    q0 + int(0.001 * NS),
                    "ROLLBACK",
                )
        # orders-worker: three steady sessions, more while its jobs are stuck behind the leak
        i = int((t - m.b0) // NS)
        for k, pid in enumerate(w_pids):
            if k == 0 and waiter1_from <= t < released:
                row(
                    t,
                    pid,
                    "orders",
                    "orders-worker",
                    "10.0.13.77",
                    "active",
                    w_start,
                    waiter1_from - int(0.3 * NS),
                    waiter1_from,
                    waiter1_from,
                    _WORKER_QUERY.format(batch=hb),
                    "Lock",
                    "transactionid",
                    str(holder["pid"]),
                )
            elif k == 1 and waiter2_from <= t < released:
                row(
                    t,
                    pid,
                    "orders",
                    "orders-worker",
                    "10.0.13.77",
                    "active",
                    w_start,
                    waiter2_from - int(0.2 * NS),
                    waiter2_from,
                    waiter2_from,
                    _WORKER_QUERY.format(batch=hb),
                    "Lock",
                    "tuple",
                    str(w_pids[0]),
                )
            else:
                q0 = t - int(r.uniform(1, 30) * NS)
                row(
                    t,
                    pid,
                    "orders",
                    "orders-worker",
                    "10.0.13.77",
                    "idle",
                    w_start,
                    None,
                    q0,
                    q0 + int(0.004 * NS),
                    "COMMIT",
                )
        for k in range(int(m.worker[i]) - 3):
            opened = m.worker_opened_at[k]
            stuck = t < released
            row(
                t,
                w_extra[k],
                "orders",
                "orders-worker",
                "10.0.13.77",
                "active" if stuck else "idle",
                opened,
                opened if stuck else None,
                opened,
                opened if stuck else released + int((k + 1) * 1.3 * NS),
                "SELECT order_batches.id FROM order_batches WHERE status = 'open' AND "
                "created_at < now() - interval '5 minutes' ORDER BY id LIMIT 50 FOR UPDATE",
                "Lock" if stuck else None,
                "transactionid" if stuck else None,
                str(holder["pid"]) if stuck else "",
            )
        q0 = t - int(r.uniform(0.5, 14) * NS)
        row(
            t,
            dd_pid,
            "datadog",
            "datadog-agent",
            "10.0.12.5",
            "idle",
            _d("06:11:09", "2026-11-02"),
            None,
            q0,
            q0 + int(0.003 * NS),
            "SELECT psd.datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit, "
            "tup_returned FROM pg_stat_database psd JOIN pg_database pd "
            "ON psd.datname = pd.datname "
            "WHERE psd.datname not ilike 'template%'",
        )
        if m.cron[i]:
            opened = _d("13:30:00") + int(0.4 * NS)
            row(
                t,
                29411,
                "report",
                "reporting-cron",
                "10.0.14.52",
                "active",
                opened,
                opened,
                opened + int(0.01 * NS),
                opened + int(0.01 * NS),
                "SELECT dblink_connect('reports', 'host=reports-db.prod port=5432 dbname=reports "
                f"user=report password={DBLINK_PASSWORD}'); INSERT INTO daily_order_totals "
                "SELECT * FROM dblink('reports', 'SELECT day, total FROM v_orders_daily') AS "
                "t(day date, total bigint)",
            )
        for k, (start, end, app, client) in enumerate(m.superusers):
            if start <= t < end:
                mine = k == 0
                q0 = (
                    t - int(r.uniform(0.001, 0.02) * NS) if mine else t - int(r.uniform(3, 40) * NS)
                )
                row(
                    t,
                    40100 + k * 7,
                    "postgres",
                    app,
                    client,
                    "active" if mine else "idle",
                    start,
                    q0 if mine else None,
                    q0,
                    q0,
                    "SELECT pid, usename, application_name, state, now() - xact_start AS xact_age, "
                    "left(query, 60) FROM pg_stat_activity WHERE datname = 'orders' "
                    "ORDER BY xact_start NULLS LAST"
                    if mine
                    else "SELECT count(*), state FROM pg_stat_activity GROUP BY state",
                )
    return records_frame(
        rows,
        "pg_activity",
        ["sampled_at", "backend_start", "xact_start", "query_start", "state_change"],
        "us",
    )


def _pg_settings() -> pd.DataFrame:
    rows = [
        ("max_connections", str(MAX_CONNECTIONS), None),
        ("superuser_reserved_connections", str(RESERVED), None),
        ("idle_in_transaction_session_timeout", "0", "ms"),
        ("statement_timeout", "0", "ms"),
        ("lock_timeout", "0", "ms"),
        ("idle_session_timeout", "0", "ms"),
        ("tcp_keepalives_idle", "300", "s"),
        ("log_min_duration_statement", "1000", "ms"),
        ("shared_buffers", "524288", "8kB"),
        ("work_mem", "4096", "kB"),
        ("server_version", "15.8", None),
    ]
    df = pd.DataFrame(rows, columns=["name", "setting", "unit"])
    return conform(df, "pg_settings")


# -- the record ------------------------------------------------------------------------
def incident() -> Incident:
    """The incident record, as the responders left it."""
    return resolved_record(
        TRUTH,
        title="api: elevated 5xx errors and slow responses",
        roles={
            "incident_commander": "alice.nguyen",
            "tech_lead": "bruno.silva",
            "communications": "chen.wei",
            "scribe": "dana.okafor",
        },
        impact=(
            "From about 14:19 to 14:35 UTC a growing share of api requests (up to ~12 %) "
            "failed with HTTP 500 or took 30 s; order placement, order history and carts were "
            "slow or failing for all customers. No data loss known."
        ),
    )


def build(seed: int) -> list[Capture]:
    """Every evidence frame of the scenario, deterministic for ``seed``."""
    m = _Model(seed)
    logs, errors, timeouts = _logs(m, seed)
    metrics, series = _metrics(m, seed, errors, timeouts)
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
            fetched(3),
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
                    "HorizontalPodAutoscaler",
                ],
            },
            fetched(4),
        ),
        Capture(
            "kubernetes",
            "pods",
            _pods_frame(m),
            {"namespace": NAMESPACE, "label_selector": selector},
            fetched(5),
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
                "containers": ["api"],
                "since": since,
                "until": until,
                "timestamps": True,
                "previous": True,
            },
            fetched(9),
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
                "scope": "service:api,env:prod",
            },
            fetched(14),
        ),
        Capture(
            "datadog",
            "monitor_events",
            _monitor_events(series),
            {
                "site": "datadoghq.eu",
                "from": since,
                "to": until,
                "monitor_tags": ["service:api", "team:shop"],
            },
            fetched(15),
        ),
        Capture(
            "datadog",
            "events",
            _datadog_events(),
            {
                "site": "datadoghq.eu",
                "from": since,
                "to": until,
                "query": "service:api -source:alert",
                "max_events": 10_000,
            },
            fetched(16),
        ),
        Capture(
            "postgres",
            "activity",
            _pg_activity(m, seed),
            {
                "host": DB_HOST,
                "port": 5432,
                "dbname": DB_NAME,
                "since": since,
                "until": until,
                "interval": "30s",
                "query": PG_ACTIVITY_QUERY,
            },
            fetched(17),
        ),
        Capture(
            "postgres",
            "settings",
            _pg_settings(),
            {"host": DB_HOST, "port": 5432, "dbname": DB_NAME, "names": PG_SETTINGS_NAMES},
            fetched(18),
        ),
    ]


__all__ = ["build", "incident"]
