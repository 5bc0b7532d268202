"""A real Prometheus server over known data, for the tests of ``incident_lib.sources.prometheus``.

:func:`write_openmetrics` writes two hours of deterministic samples
(2026-11-03 13:00-15:00 UTC, every 15 s) as OpenMetrics text; ``promtool tsdb
create-blocks-from openmetrics`` turns them into TSDB blocks; :func:`start_prometheus`
runs ``prometheus`` on those blocks on 127.0.0.1 with a rule file (evaluated every
second) holding a firing and a pending alert, waits until it is ready and the
alerts are visible, and stops it afterwards. :class:`ScriptedServer` answers
with scripted statuses or hangs, for what a real server will not do on demand
(503, 401, no answer).

The data (``service="api"`` unless said otherwise), with a step change at
:data:`CHANGE` (14:00) from the ``before`` to the ``after`` value of :data:`RATES`:

* ``http_requests_total{code="200"|"500"}`` counters (plus a ``worker`` service
  that must never show up);
* ``http_request_duration_seconds`` histogram: every request under 100 ms before
  (p95 = 95 ms), every request between 0.5 s and 1 s after (p95 = 975 ms);
* ``container_cpu_usage_seconds_total`` and ``container_memory_working_set_bytes``
  of two ``api-`` pods in namespace ``prod``, each with the pod-level cgroup series
  (``container=""``) that cAdvisor also exports, and one ``worker-`` pod;
* ``pg_stat_activity_count`` gauges of database ``api`` by state (plus ``postgres``).

Retention is 100 years: the data is weeks old, and Prometheus drops blocks
older than its retention.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import needs_server

__all__ = [
    "CHANGE",
    "END",
    "RATES",
    "START",
    "PromServer",
    "ScriptedServer",
    "free_port",
    "prometheus",
    "start_prometheus",
    "write_openmetrics",
]

START = datetime(2026, 11, 3, 13, 0, tzinfo=UTC)
END = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
CHANGE = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
SCRAPE = timedelta(seconds=15)
API_PODS = ("api-7f9c4-aaaaa", "api-7f9c4-bbbbb")
MIB = 1024 * 1024

#: what each series does per second (counters) or holds (gauges): (before, after) CHANGE
RATES: dict[str, tuple[float, float]] = {
    "requests_200": (50.0, 20.0),
    "requests_500": (0.5, 10.0),
    "requests_worker": (5.0, 5.0),
    "latency_requests": (10.0, 10.0),  # histogram observations per second
    "cpu_per_pod": (0.25, 0.75),  # cores
    "memory_per_pod": (256 * MIB, 384 * MIB),  # bytes
    "pg_active": (5.0, 5.0),
    "pg_idle_in_transaction": (2.0, 60.0),
}

RULES = """\
groups:
  - name: incident-tests
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: label_replace(vector(1), "pod", "api-1", "", "")
          or label_replace(vector(2), "pod", "api-2", "", "")
        labels: {severity: page, service: api}
        annotations:
          summary: "api is failing; retry with password=hunter2"
          description: "long text"
      - alert: SlowBurn
        expr: vector(1)
        for: 1h
        labels: {severity: ticket, service: api}
        annotations:
          description: "error budget burning slowly"
"""

CONFIG = """\
global:
  scrape_interval: 1m
  evaluation_interval: 1s
rule_files:
  - {rules}
"""


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _counter(rate: tuple[float, float], t: datetime, *, offset: float = 1e6) -> float:
    """A counter growing at ``rate[0]`` per second until CHANGE, ``rate[1]`` after."""
    before = (min(t, CHANGE) - START).total_seconds()
    after = max((t - CHANGE).total_seconds(), 0.0)
    return offset + rate[0] * before + rate[1] * after


def _gauge(level: tuple[float, float], t: datetime) -> float:
    return level[0] if t < CHANGE else level[1]


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def write_openmetrics(path: Path) -> Path:
    """Write the data described in the module docstring to ``path`` (OpenMetrics text)."""
    times = [START + i * SCRAPE for i in range(int((END - START) / SCRAPE) + 1)]
    lines: list[str] = []

    def series(name: str, labels: dict[str, str], value) -> None:
        for t in times:
            lines.append(f"{name}{_labels(**labels)} {value(t):.6f} {_seconds(t):.3f}")

    lines.append("# TYPE http_requests counter")
    for code, key in (("200", "requests_200"), ("500", "requests_500")):
        series(
            "http_requests_total",
            {"service": "api", "code": code},
            lambda t, k=key: _counter(RATES[k], t),
        )
    series(
        "http_requests_total",
        {"service": "worker", "code": "200"},
        lambda t: _counter(RATES["requests_worker"], t),
    )

    lines.append("# TYPE http_request_duration_seconds histogram")
    per_s = RATES["latency_requests"]
    fast = (per_s[0], 0.0)  # observations <= 0.1 s
    histogram = {"0.1": fast, "0.25": fast, "0.5": fast, "1.0": per_s, "+Inf": per_s}
    for t in times:  # one MetricPoint (all buckets, count, sum) per timestamp
        stamp = f"{_seconds(t):.3f}"
        for le, rate in histogram.items():
            value = _counter(rate, t, offset=0)
            lines.append(
                f"http_request_duration_seconds_bucket"
                f"{_labels(service='api', le=le)} {value:.6f} {stamp}"
            )
        count = _counter(per_s, t, offset=0)
        for suffix, value in (("count", count), ("sum", count * 0.3)):
            lines.append(
                f'http_request_duration_seconds_{suffix}{{service="api"}} {value:.6f} {stamp}'
            )

    pods = [(pod, "prod") for pod in API_PODS] + [("worker-5c6d7-zzzzz", "prod")]
    lines.append("# TYPE container_cpu_usage_seconds counter")
    for pod, ns in pods:
        for container, share in (("app", 1.0), ("", 1.0)):  # "" = the pod cgroup
            series(
                "container_cpu_usage_seconds_total",
                {"namespace": ns, "pod": pod, "container": container},
                lambda t, s=share: _counter(RATES["cpu_per_pod"], t) * s,
            )
    lines.append("# TYPE container_memory_working_set_bytes gauge")
    for pod, ns in pods:
        for container in ("app", ""):
            series(
                "container_memory_working_set_bytes",
                {"namespace": ns, "pod": pod, "container": container},
                lambda t: _gauge(RATES["memory_per_pod"], t),
            )

    lines.append("# TYPE pg_stat_activity_count gauge")
    for datname, state, key in (
        ("api", "active", "pg_active"),
        ("api", "idle in transaction", "pg_idle_in_transaction"),
        ("postgres", "active", "pg_active"),
    ):
        series(
            "pg_stat_activity_count",
            {"datname": datname, "state": state},
            lambda t, k=key: _gauge(RATES[k], t),
        )
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PromServer:
    """A running ``prometheus`` process and where to reach it."""

    process: subprocess.Popen
    url: str
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log, for failure messages."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate, wait, kill if it does not stop."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _create_blocks(workdir: Path) -> Path:
    data = write_openmetrics(workdir / "data.om")
    tsdb = workdir / "tsdb"
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(data), str(tsdb)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool failed: {done.stderr.strip() or done.stdout.strip()}")
    return tsdb


def _wait_until(server: PromServer, ready, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"prometheus exited while waiting for {what}:\n{server.log_tail()}")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus: no {what} within {timeout:g} s:\n{server.log_tail()}")


def _alerts_visible(url: str) -> bool:
    alerts = requests.get(f"{url}/api/v1/alerts", timeout=2).json()["data"]["alerts"]
    states = {(a["labels"]["alertname"], a["state"]) for a in alerts}
    return {("AlwaysFiring", "firing"), ("SlowBurn", "pending")} <= states


@contextmanager
def start_prometheus(workdir: Path) -> Iterator[PromServer]:
    """Run Prometheus on the test data in ``workdir``; stop it on exit.

    Yields once ``/-/ready`` answers 200 and both alerts show in ``/api/v1/alerts``.
    """
    tsdb = _create_blocks(workdir)
    rules = workdir / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    config = workdir / "prometheus.yml"
    config.write_text(CONFIG.format(rules=rules), encoding="utf-8")
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = PromServer(process=process, url=f"http://127.0.0.1:{port}", log=log)
    try:
        _wait_until(
            server,
            lambda: requests.get(f"{server.url}/-/ready", timeout=2).status_code == 200,
            "readiness",
        )
        _wait_until(server, lambda: _alerts_visible(server.url), "alerts")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[PromServer]:
    """A Prometheus server on the test data, shared by one test module."""
    needs_server("prometheus")
    needs_server("promtool")
    with start_prometheus(tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@dataclass
class ScriptedServer:
    """An HTTP server on 127.0.0.1 answering each request with the next scripted reply.

    A reply is ``(status, body)`` (a ``str`` body is sent as plain text, anything
    else as JSON), or ``("hang", seconds)`` to answer only after that
    long; the last reply repeats. Request paths and headers are recorded.
    """

    replies: list[tuple[int | str, object]]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __enter__(self) -> ScriptedServer:
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                script.requests.append((self.path, dict(self.headers)))
                index = min(len(script.requests), len(script.replies)) - 1
                status, body = script.replies[index]
                if status == "hang":
                    time.sleep(float(body))
                    status, body = 200, {"status": "success", "data": {}}
                text = isinstance(body, str)
                payload = (body if text else json.dumps(body)).encode()
                self.send_response(int(status))
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                # a client that refuses a reply over its cap hangs up: expected
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """Base URL of the server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"
