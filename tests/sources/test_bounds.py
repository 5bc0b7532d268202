"""Bounded time and size per source (issue 10): budgets, rate limits, hung servers, huge replies.

Every source holds a time budget per notebook run (``INCIDENT_SOURCE_BUDGET``),
shared by its fetches, and size caps (``INCIDENT_SOURCE_MAX_MB``,
``INCIDENT_PROMETHEUS_MAX_POINTS``). The fake servers of the other source tests
play the faults: a Datadog 429 with a one-hour reset, servers that accept and
never answer, a Prometheus reply of 600,000 samples. Timings are only checked
against generous bounds ("under the budget + 5 s").
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from dd_server import FakeDatadogServer, FakeSeries, log
from incident_records import sample_incident
from k8s_server import FakeKubeServer
from prom_server import ScriptedServer

from incident_lib.core.errors import InvalidInput, SourceUnavailable
from incident_lib.core.time import Window
from incident_lib.sources.base import (
    DEFAULT_BUDGET,
    TOO_LARGE,
    Budget,
    Limits,
    default_registry,
)
from incident_lib.sources.datadog import DatadogConnector, DatadogSource, default_queries
from incident_lib.sources.git import GitSource
from incident_lib.sources.kubernetes import KubernetesConnector, KubernetesSource
from incident_lib.sources.prometheus import PrometheusConnector, PrometheusSource

API_KEY = "3f2a9c41b7d84e0f9a6c1b2d3e4f5a6b"
APP_KEY = "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"
TOKEN = "sekret-token-5f2b8c1d9e"
NS = "prod"
WINDOW = Window(datetime(2026, 11, 3, 13, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
INCIDENT = sample_incident(namespace=NS)
#: "under the budget + 5 s": the only timing the tests assert
SLACK = 5.0


class FakeClock:
    """Monotonic seconds that move only when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def elapsed_of(action) -> tuple[float, BaseException | None]:
    began = time.monotonic()
    try:
        action()
    except Exception as exc:
        return time.monotonic() - began, exc
    return time.monotonic() - began, None


# -- the budget -------------------------------------------------------------------------------
def test_the_budget_runs_only_while_a_fetch_is_in_progress():
    clock = FakeClock()
    budget = Budget(10, source="datadog", clock=clock)

    with budget.spending():
        clock.now += 4
        with budget.spending():  # nested (a request inside a fetch): counted once
            clock.now += 2
    clock.now += 500  # the notebook analyses between two fetches: free
    assert budget.spent == pytest.approx(6) and budget.remaining() == pytest.approx(4)

    with budget.spending():
        assert budget.clip(15.0) == pytest.approx(4)
        assert budget.clip_pair((5.0, 15.0)) == (pytest.approx(4), pytest.approx(4))
        clock.now += 4
        with pytest.raises(SourceUnavailable) as caught:
            budget.check("waiting for an answer")
    assert caught.value.source == "datadog"
    assert caught.value.reason == (
        "time budget of 10 s used up (waiting for an answer); "
        "set INCIDENT_SOURCE_BUDGET to allow more"
    )
    assert budget.exhausted


def test_an_unlimited_budget_never_clips():
    budget = Budget.unlimited("git")
    assert budget.clip(30.0) == 30.0 and not budget.exhausted


def test_limits_from_the_environment():
    assert Limits.from_environment({}) == Limits()
    assert Limits().budget == DEFAULT_BUDGET == 60.0
    limits = Limits.from_environment(
        {
            "INCIDENT_SOURCE_BUDGET": "12.5",
            "INCIDENT_SOURCE_MAX_MB": "2",
            "INCIDENT_PROMETHEUS_MAX_POINTS": "1000",
        }
    )
    assert (limits.budget, limits.max_bytes, limits.max_points) == (12.5, 2 * 2**20, 1000)
    assert limits.new_budget("kubernetes").seconds == 12.5


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "60s"])
@pytest.mark.parametrize(
    "name", ["INCIDENT_SOURCE_BUDGET", "INCIDENT_SOURCE_MAX_MB", "INCIDENT_PROMETHEUS_MAX_POINTS"]
)
def test_a_bad_limit_is_refused_naming_the_variable(name, value):
    with pytest.raises(InvalidInput) as caught:
        Limits.from_environment({name: value})
    assert str(caught.value).startswith(f"{name} must be a number of ")
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("source", ["kubernetes", "datadog", "prometheus"])
def test_each_connector_gets_its_own_budget_from_the_environment(source):
    environ = {"INCIDENT_SOURCE_BUDGET": "7", "PROMETHEUS_URL": "http://127.0.0.1:9"}
    registry = default_registry(environ)
    built = registry.get(source)
    assert built.budget.seconds == 7 and built.budget.source == source  # type: ignore[attr-defined]
    assert registry.get(source) is built  # one budget per run: the registry builds once

    with pytest.raises(InvalidInput, match="INCIDENT_SOURCE_BUDGET must be a number"):
        default_registry({"INCIDENT_SOURCE_BUDGET": "soon"}).get(source)


# -- Datadog: rate limits ---------------------------------------------------------------------
def dd_environ(**extra: str) -> dict[str, str]:
    return {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, **extra}


@pytest.fixture
def dd():
    with FakeDatadogServer(api_key=API_KEY, app_key=APP_KEY) as server:
        yield server


def test_a_429_with_a_one_hour_reset_is_unavailable_at_once(dd):
    connector = DatadogConnector(environ=dd_environ(), host=dd.url)
    connector.fetch("metrics", INCIDENT, WINDOW)  # answered (and the client's modules loaded)
    dd.fail(r"/query/timeseries$", 429, headers={"X-RateLimit-Reset": "3600"})
    before = datetime.now(UTC)

    elapsed, error = elapsed_of(lambda: connector.fetch("metrics", INCIDENT, WINDOW))

    assert elapsed < 2.0
    assert isinstance(error, SourceUnavailable) and error.source == "datadog"
    until = {f"{moment + timedelta(hours=1):%H:%M}" for moment in (before, datetime.now(UTC))}
    assert error.reason.split(" UTC", 1)[0] in {f"rate-limited until {hhmm}" for hhmm in until}
    assert re.search(
        r" UTC \(429: the limit resets in 3600 s, after the \d+ s left of the time budget "
        r"of 60 s\)$",
        error.reason,
    )
    assert len(dd.paths("/query/timeseries")) == 2  # the answered one, then one 429: no retry
    assert API_KEY not in error.reason


def test_a_reset_within_the_budget_is_waited_for():
    clock = FakeClock()
    with FakeDatadogServer(api_key=API_KEY, app_key=APP_KEY) as dd:
        dd.fail(r"/query/timeseries$", 429, times=1, headers={"X-RateLimit-Reset": "7"})
        dd.add_series(default_queries("api", "prod")["cpu"], FakeSeries([(WINDOW.start, 1e9)]))
        with DatadogSource(
            service="api",
            configuration=dd.configuration(),
            sleep=clock.sleep,
            budget=Budget(10, source="datadog", clock=clock),
        ) as source:
            result = source.metrics(WINDOW)

    assert clock.sleeps == [7.0] and len(result.frame) == 1


def test_a_reset_after_the_budget_left_is_not_slept_on():
    clock = FakeClock()
    with FakeDatadogServer(api_key=API_KEY, app_key=APP_KEY) as dd:
        dd.fail(r"/logs/events/search$", 429, headers={"X-RateLimit-Reset": "7"})
        budget = Budget(10, source="datadog", clock=clock)
        with (
            DatadogSource(
                service="api", configuration=dd.configuration(), sleep=clock.sleep, budget=budget
            ) as source,
            pytest.raises(SourceUnavailable) as caught,
        ):
            source.logs(WINDOW)  # 429, sleeps 7 s, 429 again: 3 s left, reset in 7 s

    assert clock.sleeps == [7.0]
    assert caught.value.reason.startswith("rate-limited until ")
    assert "after the 3 s left of the time budget of 10 s" in caught.value.reason


def test_server_error_retries_sleep_only_within_the_budget():
    clock = FakeClock()
    with FakeDatadogServer(api_key=API_KEY, app_key=APP_KEY) as dd:
        dd.fail(r"/events/search$", 502, errors=("upstream timed out",))
        budget = Budget(2.5, source="datadog", clock=clock)
        with (
            DatadogSource(
                service="api", configuration=dd.configuration(), sleep=clock.sleep, budget=budget
            ) as source,
            pytest.raises(SourceUnavailable) as caught,
        ):
            source.events(WINDOW)  # waits 1 s, then the 2 s wait would pass the budget's end

    assert clock.sleeps == [1.0]
    assert caught.value.reason.startswith("time budget of 2.5 s used up (Datadog answered 502")
    assert "the next try was 2 s away" in caught.value.reason


# -- hung servers cost at most the budget -----------------------------------------------------
def test_a_hung_datadog_costs_at_most_the_budget_then_fails_fast(dd):
    dd.hang(r"/query/timeseries$")
    connector = DatadogConnector(environ=dd_environ(INCIDENT_SOURCE_BUDGET="2"), host=dd.url)

    elapsed, error = elapsed_of(lambda: connector.fetch("metrics", INCIDENT, WINDOW))

    assert elapsed < 2 + SLACK
    assert isinstance(error, SourceUnavailable)
    assert error.reason == (
        f"time budget of 2 s used up ({dd.netloc} did not answer); "
        "set INCIDENT_SOURCE_BUDGET to allow more"
    )
    asked = len(dd.requests)
    elapsed, error = elapsed_of(lambda: connector.fetch("logs", INCIDENT, WINDOW))
    assert elapsed < 1.0 and isinstance(error, SourceUnavailable)
    assert error.reason.startswith("time budget of 2 s used up")
    assert len(dd.requests) == asked  # nothing asked once the budget is gone


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{url}"}}}}]
users: [{{name: bot, user: {{token: {token}}}}}]
contexts: [{{name: bot, context: {{cluster: fake, user: bot}}}}]
current-context: bot
"""


def pod(name: str, *containers: str):
    from kubernetes import client

    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=NS, labels={"app": "api"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name=c) for c in containers]),
        status=client.V1PodStatus(
            phase="Running",
            container_statuses=[
                client.V1ContainerStatus(
                    name=c, ready=True, restart_count=0, image="api:1", image_id="sha"
                )
                for c in containers
            ],
        ),
    )


@pytest.fixture
def kube(tmp_path, monkeypatch):
    with FakeKubeServer() as server:
        server.add("pods", NS, pod("api-1", "api"))
        config = tmp_path / "kubeconfig"
        config.write_text(KUBECONFIG.format(url=server.url, token=TOKEN))
        monkeypatch.setenv("KUBECONFIG", str(config))
        monkeypatch.delenv("INCIDENT_KUBE_CONTEXT", raising=False)
        yield server


@pytest.mark.parametrize(("hung", "frame"), [(r"/pods$", "pods"), (r"/log$", "logs")])
def test_a_hung_kubernetes_api_costs_a_frame_at_most_the_budget(kube, hung, frame):
    kube.hang(hung)
    connector = KubernetesConnector(environ={**os.environ, "INCIDENT_SOURCE_BUDGET": "2"})

    elapsed, error = elapsed_of(lambda: connector.fetch(frame, INCIDENT, WINDOW))

    assert elapsed < 2 + SLACK
    assert isinstance(error, SourceUnavailable) and error.source == "kubernetes"
    assert error.reason.startswith("time budget of 2 s used up")
    assert TOKEN not in error.reason
    elapsed, error = elapsed_of(lambda: connector.fetch("events", INCIDENT, WINDOW))
    assert elapsed < 1.0 and isinstance(error, SourceUnavailable)
    assert error.reason.startswith("time budget of 2 s used up")


def test_kubernetes_timeouts_are_short_and_a_timeout_is_not_retried(kube):
    from incident_lib.sources.kubernetes import DEFAULT_TIMEOUT

    assert DEFAULT_TIMEOUT == (5.0, 15.0)
    kube.hang(r"/pods$")
    source = KubernetesSource.from_environment(
        namespace=NS, selector="app=api", request_timeout=(2, 0.5)
    )

    with source, pytest.raises(SourceUnavailable) as caught:
        source.pods()

    assert caught.value.reason == f"API server {kube.url} did not answer within 0.5 s"
    assert len(kube.paths("/pods")) == 1  # the client's one retry is for connections only


def test_a_hung_prometheus_costs_at_most_the_budget():
    with ScriptedServer([("hang", 10.0)]) as stub:
        environ = {"PROMETHEUS_URL": stub.url, "INCIDENT_SOURCE_BUDGET": "2"}
        connector = PrometheusConnector(environ=environ)

        elapsed, error = elapsed_of(lambda: connector.fetch("metrics", INCIDENT, WINDOW))

        assert elapsed < 2 + SLACK
        assert isinstance(error, SourceUnavailable)
        assert error.reason == (
            f"time budget of 2 s used up ({stub.url} did not answer); "
            "set INCIDENT_SOURCE_BUDGET to allow more"
        )
        assert len(stub.requests) == 1  # no retry once the budget is gone


def test_a_hung_git_costs_at_most_the_budget(tmp_path):
    fake_git = tmp_path / "git"
    fake_git.write_text("#!/bin/sh\nexec sleep 30\n")
    fake_git.chmod(0o755)
    source = GitSource(tmp_path, git=str(fake_git), budget=Budget(1, source="git"))

    elapsed, error = elapsed_of(lambda: source.fetch("commits", INCIDENT, WINDOW))

    assert elapsed < 1 + SLACK
    assert isinstance(error, SourceUnavailable) and error.source == "git"
    assert error.reason.startswith("time budget of 1 s used up (git rev-parse was still running)")


def test_git_reads_its_budget_from_the_environment_at_the_first_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("INCIDENT_SOURCE_BUDGET", "never")
    source = GitSource(tmp_path)  # built in a notebook cell: must not raise there

    with pytest.raises(InvalidInput, match="INCIDENT_SOURCE_BUDGET must be a number"):
        source.fetch("commits", INCIDENT, WINDOW)


# -- size caps --------------------------------------------------------------------------------
def matrix(series: int, points: int) -> str:
    """A query_range answer of ``series`` series of ``points`` samples each (built as text)."""
    start = WINDOW.start.timestamp()
    values = json.dumps([[start + 15 * i, "1"] for i in range(points)])
    result = ",".join(f'{{"metric":{{"pod":"api-{s}"}},"values":{values}}}' for s in range(series))
    return '{"status":"success","data":{"resultType":"matrix","result":[' + result + "]}}"


def test_a_huge_prometheus_reply_is_refused():
    body = matrix(60, 10_000)  # 600,000 samples, over the default cap
    with (
        ScriptedServer([(200, body)]) as stub,
        PrometheusSource(url=stub.url) as source,
        pytest.raises(SourceUnavailable) as caught,
    ):
        source.query_range({"cpu": "container_cpu"}, WINDOW, step="15s")

    assert caught.value.reason == (
        f"{TOO_LARGE} (cpu: 600,000 samples; the cap is 500,000, INCIDENT_PROMETHEUS_MAX_POINTS)"
    )
    assert caught.value.reason.startswith("reply too large: narrow the query or the window")


def test_a_prometheus_reply_over_the_byte_cap_is_refused_before_parsing():
    body = matrix(2, 200)
    with (
        ScriptedServer([(200, body)]) as stub,
        PrometheusSource(url=stub.url, max_bytes=1000) as src,
        pytest.raises(SourceUnavailable) as caught,
    ):
        src.query_range({"cpu": "container_cpu"}, WINDOW, step="15s")

    assert caught.value.reason.startswith(f"{TOO_LARGE} (an answer of ")
    assert "INCIDENT_SOURCE_MAX_MB" in caught.value.reason


def test_the_prometheus_caps_come_from_the_environment():
    with ScriptedServer([(200, matrix(1, 500))]) as stub:
        environ = {"PROMETHEUS_URL": stub.url, "INCIDENT_PROMETHEUS_MAX_POINTS": "100"}
        with pytest.raises(SourceUnavailable, match=r"^prometheus unavailable: reply too large"):
            PrometheusConnector(environ=environ).fetch("metrics", INCIDENT, WINDOW)
        fits = {"PROMETHEUS_URL": stub.url, "INCIDENT_PROMETHEUS_MAX_POINTS": "500"}
        result = PrometheusConnector(environ=fits).fetch("metrics", INCIDENT, WINDOW)
    assert len(result.frame) > 0


def test_a_datadog_reply_over_the_byte_cap_is_refused(dd):
    connector = DatadogConnector(
        environ=dd_environ(INCIDENT_SOURCE_MAX_MB="0.00001"), host=dd.url
    )  # 10 bytes

    with pytest.raises(SourceUnavailable) as caught:
        connector.fetch("metrics", INCIDENT, WINDOW)

    assert caught.value.reason.startswith(f"{TOO_LARGE} (an answer of ")
    assert "the cap is 10 bytes, INCIDENT_SOURCE_MAX_MB" in caught.value.reason


def test_datadog_logs_stop_paging_at_the_byte_cap():
    with FakeDatadogServer(api_key=API_KEY, app_key=APP_KEY) as dd:
        dd.logs += [
            log(WINDOW.start + timedelta(seconds=i), f"request {i} failed " + "x" * 200)
            for i in range(100)
        ]
        with DatadogSource(service="api", configuration=dd.configuration()) as whole:
            everything = whole.logs(WINDOW, page_size=10)
            per_page = whole.bytes_read / len(dd.requests)
        with DatadogSource(
            service="api", configuration=dd.configuration(), max_bytes=int(per_page * 2.5)
        ) as capped:
            result = capped.logs(WINDOW, page_size=10)

    assert len(everything.frame) == 100 and not everything.notes
    assert len(result.frame) == 30  # the newest three pages: the cap is reached on the third
    assert result.frame["time"].min() == WINDOW.start + timedelta(seconds=70)
    assert result.notes[0].startswith("logs truncated: kept the newest 30 events matching")
    assert "(the read cap of " in result.notes[0] and "INCIDENT_SOURCE_MAX_MB" in result.notes[0]


def test_kubernetes_logs_stop_at_the_byte_cap_with_whole_lines(kube):
    lines = [
        (WINDOW.start + timedelta(seconds=i), f"GET /orders/{i} 500 upstream failed")
        for i in range(1000)
    ]
    kube.add_log(NS, "api-1", "api", lines)
    with KubernetesSource.from_environment(
        namespace=NS, selector="app=api", max_bytes=10_000
    ) as source:
        result = source.logs(WINDOW, progress=False)

    frame = result.frame
    assert 0 < len(frame) < 1000
    assert all(m.endswith(" 500 upstream failed") for m in frame["message"])
    notes = result.notes()
    assert notes[0].startswith("log read cap of ") and "INCIDENT_SOURCE_MAX_MB" in notes[0]
    assert notes[1].startswith("api-1/api: truncated")


# -- in a notebook: the section says why and the notebook goes on -----------------------------
def test_a_live_runbook_says_the_budget_is_used_up_and_goes_on(tmp_path, monkeypatch):
    from incident_lib import create_workspace, start_runbook

    with ScriptedServer([("hang", 10.0)]) as stub:
        monkeypatch.setenv("PROMETHEUS_URL", stub.url)
        monkeypatch.setenv("INCIDENT_SOURCE_BUDGET", "1")
        ws = create_workspace(INCIDENT, tmp_path / "ws")
        rb = start_runbook(
            "05_metrics", workspace=str(ws.path), mode="live", run_dir=str(tmp_path / "run")
        )

        began = time.monotonic()
        metrics = rb.evidence("prometheus", "metrics")
        alerts = rb.evidence("prometheus", "monitor_events")
        elapsed = time.monotonic() - began

    assert elapsed < 1 + SLACK
    assert metrics.empty and alerts.empty
    for key in ("prometheus/metrics", "prometheus/monitor_events"):
        assert rb.unavailable[key].startswith("time budget of 1 s used up")


def test_a_log_cut_short_by_the_byte_cap_drops_its_partial_last_line():
    from incident_lib.sources.kubernetes.logs import read_window

    chunks = [b"2026-11-03T13:00:01Z first line\n2026-11-03T13:00:02Z sec", b"ond li"]

    lines, cut = read_window(chunks, WINDOW.end, 100, limit_bytes=None, cut_short=[True])

    assert lines == ["2026-11-03T13:00:01Z first line"] and cut
    whole, cut = read_window(chunks, WINDOW.end, 100, limit_bytes=None, cut_short=[False])
    assert len(whole) == 2 and not cut
