"""A real alerting chain on loopback: target -> Prometheus -> Alertmanager -> a webhook sink.

* :class:`MetricTarget` serves ``/metrics`` with one gauge,
  ``incident_test_failing{service="api",namespace="prod"}``, whose value the test sets
  (1: failing, 0: healthy).
* :func:`start_prometheus_scraping` runs Debian's ``prometheus`` scraping the target
  every second, with an alerting rule ``IncidentTestFailing`` (``for: 0s``, evaluated
  every second) that sends to the Alertmanager.
* :func:`start_alertmanager` runs ``prometheus-alertmanager`` (clustering off) whose
  ``webhook_config`` posts to a :class:`WebhookSink`, with ``group_wait`` and
  ``group_interval`` of 1 s and ``send_resolved: true``.

Everything listens on 127.0.0.1 at free ports, works in a temporary folder and is
stopped (terminated, then killed) on exit; every wait is bounded and a failure message
carries the tail of the process's log. The payload the sink records is the real
Alertmanager's, not a hand-written one.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from loopback import LoopbackServer
from prom_server import PromServer, free_port

__all__ = [
    "ALERTMANAGER",
    "ALERT_NAME",
    "MetricTarget",
    "Posted",
    "WebhookSink",
    "start_alertmanager",
    "start_prometheus_scraping",
]

#: Debian's name for the Alertmanager binary (package prometheus-alertmanager)
ALERTMANAGER = "prometheus-alertmanager"
ALERT_NAME = "IncidentTestFailing"
METRIC = "incident_test_failing"

RULES = f"""\
groups:
  - name: incident-receiver-tests
    interval: 1s
    rules:
      - alert: {ALERT_NAME}
        expr: {METRIC} > 0
        for: 0s
        labels: {{severity: critical}}
        annotations:
          summary: "api is failing (test target)"
"""

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: target
    static_configs:
      - targets: ["{target}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{alertmanager}"]
"""

ALERTMANAGER_CONFIG = """\
global:
  resolve_timeout: 5s
route:
  receiver: incident
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: incident
    webhook_configs:
      - url: "{webhook}"
        send_resolved: true
{auth}"""


@dataclass
class MetricTarget(LoopbackServer):
    """``/metrics`` with the gauge :data:`METRIC`; set :attr:`value` to fail or recover."""

    value: float = 1.0

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Serve the gauge in the Prometheus text format."""

        class Handler(BaseHTTPRequestHandler):
            fake: MetricTarget

            def do_GET(self) -> None:
                text = (
                    f"# TYPE {METRIC} gauge\n"
                    f'{METRIC}{{service="api",namespace="prod"}} {self.fake.value}\n'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` (a scrape target)."""
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"


@dataclass(frozen=True)
class Posted:
    """One request the sink received: path, headers (names lower-cased), raw body."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookSink(LoopbackServer):
    """Records every POST; :meth:`wait_for` waits (bounded) for one that matches."""

    posted: list[Posted] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Answer 200 to every POST after recording it."""

        class Handler(BaseHTTPRequestHandler):
            fake: WebhookSink

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with self.fake._arrived:
                    self.fake.posted.append(Posted(self.path, headers, body))
                    self.fake._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def wait_for(
        self, matches: Callable[[Posted], bool], timeout: float, what: str = "a webhook"
    ) -> Posted:
        """The first recorded request that ``matches``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for item in self.posted:
                    if matches(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no {what} within {timeout:g} s; received {len(self.posted)}"
                    )
                self._arrived.wait(left)


def _wait_ready(server: PromServer, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited while starting:\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name}: not ready within {timeout:g} s:\n{server.log_tail()}")


@contextmanager
def _run(name: str, argv: list[str], port: int, workdir: Path) -> Iterator[PromServer]:
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    server = PromServer(process=process, url=f"http://127.0.0.1:{port}", log=log)
    try:
        _wait_ready(server, name)
        yield server
    finally:
        server.stop()


@contextmanager
def start_alertmanager(
    workdir: Path, webhook_url: str, *, bearer: str | None = None
) -> Iterator[PromServer]:
    """Run ``prometheus-alertmanager`` posting to ``webhook_url``; stop it on exit.

    With ``bearer``, the webhook carries ``Authorization: Bearer <bearer>``
    (``http_config.authorization``, as a deployment configures it).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    auth = (
        "        http_config:\n          authorization:\n"
        f'            type: Bearer\n            credentials: "{bearer}"\n'
        if bearer
        else ""
    )
    config.write_text(ALERTMANAGER_CONFIG.format(webhook=webhook_url, auth=auth), encoding="utf-8")
    port = free_port()
    argv = [
        ALERTMANAGER,
        f"--config.file={config}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: a single instance
    ]
    with _run("alertmanager", argv, port, workdir) as server:
        yield server


@contextmanager
def start_prometheus_scraping(
    workdir: Path, target: str, alertmanager_url: str
) -> Iterator[PromServer]:
    """Run ``prometheus`` scraping ``target`` (host:port) every second, alerting to the AM."""
    workdir.mkdir(parents=True, exist_ok=True)
    rules = workdir / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    config = workdir / "prometheus.yml"
    config.write_text(
        PROMETHEUS_CONFIG.format(
            rules=rules,
            target=target,
            alertmanager=alertmanager_url.removeprefix("http://"),
        ),
        encoding="utf-8",
    )
    port = free_port()
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _run("prometheus", argv, port, workdir) as server:
        yield server
