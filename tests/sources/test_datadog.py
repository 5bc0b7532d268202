"""The Datadog source, through the real ``datadog-api-client`` over HTTP to a fake API.

The fake account (``dd_server.FakeDatadogServer``): APM, Kubernetes and
PostgreSQL series of service ``api`` over the incident window 13:00-15:00 (one
point a minute; a null point; latency in seconds, CPU in nanocores, memory in
MiB), monitors of ``api`` (one tagged ``service:api``, one named after it, one
whose name only contains the letters), alert events before and inside the
window, a deploy event, and log events with and without status, pod tags,
JSON messages and a stack trace.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dd_server import FakeDatadogServer, FakeSeries, event, log, monitor
from incident_records import sample_incident

from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.schema import validate
from incident_lib.core.time import Window
from incident_lib.sources import datadog as dd_source
from incident_lib.sources.base import default_registry
from incident_lib.sources.datadog import DatadogConnector, DatadogSource, default_queries
from incident_lib.sources.datadog.frames import (
    EVENT_COLUMNS,
    event_row,
    monitor_transition,
    plain_text,
    rollup_interval,
    scope_of,
)

API_KEY = "3f2a9c41b7d84e0f9a6c1b2d3e4f5a6b"
APP_KEY = "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"
WINDOW = Window(datetime(2026, 11, 3, 13, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
QUERIES = default_queries("api", "prod", namespace="prod")


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, 3, hh, mm, ss, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def minutes(values: list[float | None], start: datetime = WINDOW.start):
    return [(start + timedelta(minutes=i), v) for i, v in enumerate(values)]


# -- the fake account -------------------------------------------------------------------------
def populate(dd: FakeDatadogServer) -> None:
    dd.add_series(QUERIES["request_rate"], FakeSeries(minutes([100.0, 120.0, 90.0]), unit="hit"))
    dd.add_series(QUERIES["error_rate"], FakeSeries(minutes([0.5, None, 2.5])))
    dd.add_series(QUERIES["latency_p95"], FakeSeries(minutes([0.25, 1.5]), unit="second"))
    dd.add_series(QUERIES["cpu"], FakeSeries(minutes([1.5e9, 2.0e9]), unit="nanocore"))
    dd.add_series(QUERIES["memory"], FakeSeries(minutes([300.0, 310.0]), unit="mebibyte"))
    # a point outside the window is never served
    dd.add_series(QUERIES["memory"], FakeSeries([(at(15, 5), 1.0)], unit="mebibyte"))

    dd.monitors += [
        monitor(101, "[api] 5xx error rate high", tags=("service:api", "team:shop"), state="Alert"),
        monitor(102, "api p95 latency high", tags=("team:shop",), state="OK"),
        monitor(103, "rapid cache hit ratio low", tags=("team:cache",), state="Alert"),
        monitor(104, "[checkout] 5xx", tags=("service:checkout",), state="Alert"),
    ]
    text = "%%%\n5xx rate of service:api is 2.5 req/s (alert threshold 0.8) @pagerduty-api\n%%%"
    alerts = [
        (at(10, 30), "[Triggered] api p95 latency high", 102, "error"),  # before the lookback
        (at(12, 20), "[Triggered] api p95 latency high", 102, "error"),
        (at(12, 40), "[Warn] api p95 latency high", 102, "warn"),
        (at(13, 20), "[Triggered on {service:api}] [api] 5xx error rate high", 101, "error"),
        (at(13, 25), "[Re-Triggered] [api] 5xx error rate high", 101, "error"),
        (at(13, 40), "[Recovered] api p95 latency high", 102, "success"),
        (at(13, 50), "[Triggered] rapid cache hit ratio low", 103, "error"),
        (at(14, 10), "[Recovered] [api] 5xx error rate high", 101, "success"),
        (at(14, 20), "[P2] [Triggered] [api] 5xx error rate high", 101, "error"),
        (at(14, 30), "[Triggered] [checkout] 5xx", 104, "error"),
        (at(14, 40), "[Triggered] deleted monitor", 999, "error"),
    ]
    for when, title, ident, status in alerts:
        dd.add_event(
            event(
                when,
                title,
                message=text,
                monitor_id=ident,
                status=status,
                source_type="Monitor Alert",
                tags=("monitor",),
            ),
            source="alert",
        )
    dd.add_event(
        event(
            at(13, 5),
            "Deployed api 1.5.0",
            message="%%%\nDeploy by **ci** password=hunter2 " + "xx " * 200 + "\n%%%",
            tags=("service:api", "env:prod", "version:1.5.0"),
            source_type="my_apps",
        ),
    )
    dd.add_event(event(at(12, 0), "Deployed api 1.4.0", tags=("service:api",)))  # before
    dd.add_event(event(at(13, 30), "Deployed checkout 2.0", tags=("service:checkout",)))

    dd.logs += [
        log(
            at(13, 1),
            "connection pool exhausted",
            status="error",
            tags=("pod_name:api-5d8f7-aaaaa", "container_name:api", "env:prod"),
        ),
        log(
            at(13, 2),
            '{"level": "warn", "msg": "slow query 1200 ms", "ts": 1}',
            status="warn",
            tags=("kube_pod_name:api-5d8f7-bbbbb", "kube_container_name:api"),
        ),
        log(
            at(13, 3),
            "2026-11-03 13:03:00,000 ERROR api.app: Exception on /v1/orders [POST]\n"
            'Traceback (most recent call last):\n  File "app.py", line 1, in x\n'
            "OperationalError: too many clients already",
            tags=("pod_name:api-5d8f7-aaaaa", "container_name:api"),
        ),
        log(at(13, 4), "disk full", status="emergency", host="node-7"),
        log(
            at(13, 5),
            None,
            status="info",
            host="node-7",
            attributes={"event": "heartbeat", "ok": True},
        ),
        log(
            at(13, 6),
            "GET /healthz 200",
            status="info",
            tags=("pod_name:api-5d8f7-ccccc", "container_name:proxy"),
        ),
        log(
            at(13, 7),
            "retrying",
            status="debug",
            tags=("pod_name:api-5d8f7-ccccc", "container_name:api"),
        ),
        log(at(15, 1), "after the window", status="error"),
        log(at(13, 8), "another service", status="error", service="checkout"),
    ]


@pytest.fixture
def dd():
    with FakeDatadogServer(api_key=API_KEY, app_key=APP_KEY) as server:
        populate(server)
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_source(dd: FakeDatadogServer, sleeps: list[float] | None = None, **options):
    configuration = dd.configuration(request_timeout=options.pop("request_timeout", (5, 10)))
    return DatadogSource(
        service="api",
        configuration=configuration,
        namespace="prod",
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        **options,
    )


@pytest.fixture
def source(dd, sleeps):
    with make_source(dd, sleeps) as made:
        yield made


def body_of(dd: FakeDatadogServer, path: str, n: int = 0) -> dict:
    return dd.paths(path)[n].body


# -- metrics ----------------------------------------------------------------------------------
def test_metrics_ask_every_query_in_one_request_with_the_rollup(dd, source):
    source.metrics(WINDOW)

    requests = dd.paths("/api/v2/query/timeseries")
    assert len(requests) == 1 and requests[0].method == "POST"
    data = requests[0].body["data"]
    assert data["type"] == "timeseries_request"
    attributes = data["attributes"]
    assert attributes["from"] == ms(WINDOW.start) and attributes["to"] == ms(WINDOW.end)
    assert attributes["interval"] == 60_000  # 2 h -> 60 s, 120 points
    assert [q["query"] for q in attributes["queries"]] == list(QUERIES.values())
    assert {q["data_source"] for q in attributes["queries"]} == {"metrics"}
    names = [q["name"] for q in attributes["queries"]]
    assert [f["formula"] for f in attributes["formulas"]] == names
    assert requests[0].headers["dd-api-key"] == API_KEY
    assert requests[0].headers["dd-application-key"] == APP_KEY


def test_metrics_frame_meets_the_contract_with_units_converted(source):
    result = source.metrics(WINDOW)
    frame = result.frame

    validate(frame, "metrics")
    assert str(frame["time"].dt.tz) == "UTC"

    def values(key: str) -> list[float]:
        return frame.loc[frame["metric"] == key, "value"].round(6).tolist()

    assert values("request_rate") == [100.0, 120.0, 90.0]
    assert values("error_rate") == [0.5, 2.5]  # the null point is dropped
    assert values("latency_p95") == [250.0, 1500.0]  # seconds -> ms
    assert values("cpu") == [1.5, 2.0]  # nanocores -> cores
    assert values("memory") == [300.0 * 2**20, 310.0 * 2**20]  # MiB -> bytes
    latency = frame[frame["metric"] == "latency_p95"].iloc[0]
    assert latency["query"] == QUERIES["latency_p95"]
    assert latency["scope"] == "service:api,env:prod"
    assert latency["time"] == pd.Timestamp(WINDOW.start)
    errors = frame[frame["metric"] == "error_rate"].iloc[0]
    assert errors["scope"] == "service:api,env:prod,http.status_class:5xx"
    cpu = frame[frame["metric"] == "cpu"].iloc[0]
    assert cpu["scope"] == "kube_deployment:api,kube_namespace:prod"
    assert list(result.notes) == [f"no data for db_connections ({QUERIES['db_connections']})"]


def test_metrics_of_given_queries_keep_group_tags_in_the_scope(dd, source):
    query = "avg:kubernetes.cpu.usage.total{kube_namespace:prod} by {pod_name}"
    dd.add_series(
        query,
        FakeSeries(minutes([5e8]), group_tags=("pod_name:api-1",), unit="nanocore"),
        FakeSeries(minutes([7e8]), group_tags=("pod_name:api-2",), unit="nanocore"),
    )

    result = source.metrics(WINDOW, {"cpu": query}, interval=30)
    frame = result.frame

    assert body_of(dd, "/query/timeseries")["data"]["attributes"]["interval"] == 30_000
    assert frame["scope"].tolist() == [
        "kube_namespace:prod,pod_name:api-1",
        "kube_namespace:prod,pod_name:api-2",
    ]
    assert frame["value"].round(6).tolist() == [0.5, 0.7]
    assert list(result.notes) == []


def test_metrics_with_many_queries_go_in_batches(dd, source):
    queries = {f"m{i}": f"sum:custom.metric{i}{{service:api}}" for i in range(12)}
    dd.add_series(queries["m11"], FakeSeries(minutes([1.0])))

    result = source.metrics(WINDOW, queries)
    frame = result.frame

    bodies = [r.body["data"]["attributes"] for r in dd.paths("/query/timeseries")]
    assert [len(b["queries"]) for b in bodies] == [10, 2]
    assert frame["metric"].tolist() == ["m11"]
    assert len(result.notes) == 11


def test_a_unit_of_another_family_is_left_alone_and_noted(dd, source):
    query = "p95:trace.http.request{service:api,env:prod}.as_count()"
    dd.add_series(query, FakeSeries(minutes([3.0]), unit="percent"))

    result = source.metrics(WINDOW, {"latency_p95": query})
    frame = result.frame

    assert frame["value"].tolist() == [3.0]
    assert list(result.notes) == [
        "latency_p95: Datadog reports unit 'percent', values left unconverted"
    ]


def test_without_a_reported_unit_the_default_query_unit_is_assumed(dd, source):
    query = "sum:kubernetes.cpu.usage.total{kube_deployment:api}"
    dd.add_series(query, FakeSeries(minutes([2.5e8])))

    assert source.metrics(WINDOW, {"cpu": query}).frame["value"].tolist() == [0.25]


def test_errors_datadog_reports_with_the_answer_are_noted(dd, source):
    dd.timeseries_errors = "Error parsing query: unknown function as_ratez"

    result = source.metrics(WINDOW)

    assert "Datadog reported: Error parsing query: unknown function as_ratez" in result.notes


@pytest.mark.parametrize(
    ("length", "interval"),
    [
        (timedelta(minutes=5), 10),
        (timedelta(minutes=15), 10),
        (timedelta(hours=1), 30),
        (timedelta(hours=2), 60),
        (timedelta(hours=6), 120),
        (timedelta(hours=24), 600),
        (timedelta(days=7), 3600),
    ],
)
def test_rollup_interval_gives_enough_points(length, interval):
    window = Window(WINDOW.start, WINDOW.start + length)

    assert rollup_interval(window) == interval
    if length >= timedelta(minutes=20):
        assert length.total_seconds() / interval >= 120


def test_scope_of_a_query_without_tags():
    assert scope_of("sum:trace.http.request.hits{*}.as_rate()") == ""
    assert scope_of("avg:system.load.1{*} by {host}", ["host:a"]) == "host:a"


def test_default_queries(monkeypatch):
    monkeypatch.setenv("INCIDENT_DD_ENV", "staging")

    queries = default_queries("checkout")

    assert queries == {
        "request_rate": "sum:trace.http.request.hits{service:checkout,env:staging}.as_rate()",
        "error_rate": "sum:trace.http.request.errors{service:checkout,env:staging,"
        "http.status_class:5xx}.as_rate()",
        "latency_p95": "p95:trace.http.request{service:checkout,env:staging}",
        "cpu": "sum:kubernetes.cpu.usage.total{kube_deployment:checkout}",
        "memory": "sum:kubernetes.memory.usage{kube_deployment:checkout}",
        "db_connections": "sum:postgresql.connections{service:checkout,env:staging}",
    }
    assert default_queries("checkout", "prod")["latency_p95"].endswith("env:prod}")


# -- logs -------------------------------------------------------------------------------------
def test_logs_search_body_and_cursor_pagination(dd, source):
    result = source.logs(WINDOW, page_size=3)
    frame = result.frame

    requests = dd.paths("/api/v2/logs/events/search")
    assert [r.method for r in requests] == ["POST"] * 3
    first, second = requests[0].body, requests[1].body
    assert first["filter"] == {
        "from": "2026-11-03T13:00:00.000Z",
        "to": "2026-11-03T15:00:00.000Z",
        "query": "service:api",
    }
    assert first["sort"] == "-timestamp"
    assert first["page"] == {"limit": 3}
    assert second["page"] == {"limit": 3, "cursor": "3"}  # meta.page.after of the first page
    assert requests[2].body["page"] == {"limit": 3, "cursor": "6"}
    assert len(frame) == 7
    assert frame["time"].is_monotonic_increasing
    assert list(result.notes) == []


def test_logs_rows_meet_the_contract_the_kubernetes_source_uses(source):
    result = source.logs(WINDOW)
    frame = result.frame

    validate(frame, "logs")
    rows = frame.set_index(frame["time"].dt.strftime("%H:%M")).to_dict("index")
    assert rows["13:01"] | {"time": None} == {
        "time": None,
        "pod": "api-5d8f7-aaaaa",
        "container": "api",
        "level": "error",
        "message": "connection pool exhausted",
        "raw": "connection pool exhausted",
    }
    slow = rows["13:02"]
    assert (slow["pod"], slow["container"], slow["level"]) == ("api-5d8f7-bbbbb", "api", "warning")
    assert slow["message"] == "slow query 1200 ms"  # the JSON line's msg
    assert slow["raw"].startswith('{"level": "warn"')
    trace = rows["13:03"]  # no status: the level is read from the line
    assert trace["level"] == "error"
    assert trace["message"].splitlines()[0] == "api.app: Exception on /v1/orders [POST]"
    assert trace["message"].endswith("OperationalError: too many clients already")
    assert trace["raw"].startswith("2026-11-03 13:03:00,000 ERROR")
    assert (rows["13:04"]["level"], rows["13:04"]["pod"]) == ("critical", "node-7")
    assert pd.isna(rows["13:04"]["container"])
    assert json.loads(rows["13:05"]["raw"]) == {"event": "heartbeat", "ok": True}
    assert rows["13:06"]["container"] == "proxy" and rows["13:06"]["level"] == "info"
    assert rows["13:07"]["level"] == "debug"
    assert "13:08" not in rows  # another service


def test_logs_cap_keeps_the_newest_events_and_says_so(dd, source):
    result = source.logs(WINDOW, max_events=4, page_size=3)
    frame = result.frame

    pages = [r.body["page"] for r in dd.paths("/logs/events/search")]
    assert pages == [{"limit": 3}, {"limit": 1, "cursor": "3"}]
    assert frame["time"].dt.strftime("%H:%M").tolist() == ["13:04", "13:05", "13:06", "13:07"]
    assert list(result.notes) == [
        "logs truncated: kept the newest 4 events matching 'service:api'; older events of "
        "the window were not fetched"
    ]


def test_logs_warnings_of_datadog_are_noted(dd, source):
    dd.log_warnings.append(("unknown_index", "indexes: foo", "One or several indexes are missing"))

    result = source.logs(WINDOW, query="service:api status:error")

    assert body_of(dd, "/logs/events/search")["filter"]["query"] == "service:api status:error"
    assert list(result.notes) == ["Datadog warned: indexes: foo"]


def test_logs_of_nothing_is_an_empty_frame(dd, source):
    result = source.logs(WINDOW, query="service:nothing")
    frame = result.frame

    validate(frame, "logs")
    assert frame.empty


# -- monitors ---------------------------------------------------------------------------------
def test_monitor_events_of_the_service_in_the_window(dd, source):
    result = source.monitor_events(WINDOW, now=at(18, 0))
    frame = result.frame

    validate(frame, "monitor_events")
    got = [
        (t.strftime("%H:%M"), ident, state)
        for t, ident, state in zip(frame["time"], frame["monitor_id"], frame["state"], strict=True)
    ]
    assert got == [
        ("12:40", "102", "warn"),  # its state when the window opened
        ("13:20", "101", "alert"),
        ("13:40", "102", "ok"),
        ("14:10", "101", "ok"),
        ("14:20", "101", "alert"),
    ]
    assert frame["monitor"].tolist()[:2] == ["api p95 latency high", "[api] 5xx error rate high"]
    assert frame["message"].iloc[1] == (
        "5xx rate of service:api is 2.5 req/s (alert threshold 0.8) @pagerduty-api"
    )
    assert list(result.notes) == []


def test_monitor_events_requests(dd, source):
    source.monitor_events(WINDOW, now=at(18, 0))

    listed = [r.query for r in dd.paths("/api/v1/monitor")]
    assert listed == [
        {"monitor_tags": "service:api", "page": "0", "page_size": "1000"},
        {"name": "api", "page": "0", "page_size": "1000"},
    ]
    search = body_of(dd, "/api/v2/events/search")
    assert search["filter"] == {
        "from": "2026-11-03T11:00:00.000Z",  # one window length before
        "to": "2026-11-03T15:00:00.000Z",
        "query": "source:alert",
    }
    assert search["sort"] == "-timestamp" and search["page"] == {"limit": 1000}


def test_current_states_are_added_while_the_window_holds_the_present(dd, source):
    dd.monitors[0].overall_state = type(dd.monitors[0].overall_state)("Alert")
    dd.monitors[1].overall_state = type(dd.monitors[1].overall_state)("No Data")

    result = source.monitor_events(WINDOW, now=at(14, 45))
    frame = result.frame

    last = frame.iloc[-1]
    assert (last["time"], last["monitor_id"], last["state"]) == (
        pd.Timestamp(at(14, 45)),
        "102",
        "no_data",
    )
    assert last["message"] == "current state No Data (Datadog overall_state when fetched)"
    assert len(frame) == 6  # 101 is in Alert as its last change says: nothing added


def test_no_monitor_of_the_service_is_an_empty_frame(dd):
    with DatadogSource(service="billing", configuration=dd.configuration()) as source:
        result = source.monitor_events(WINDOW)
        frame = result.frame

    validate(frame, "monitor_events")
    assert frame.empty
    assert not dd.paths("/events/search")


@pytest.mark.parametrize(
    ("title", "status", "expected"),
    [
        ("[Triggered] x", None, ("alert", False)),
        ("[Triggered on {host:web-1}] x", None, ("alert", False)),
        ("[P1] [Re-Triggered] x", "error", ("alert", True)),
        ("[Warn] x", None, ("warn", False)),
        ("[Re-Warn on {pod:a}] x", None, ("warn", True)),
        ("[Recovered] x", "success", ("ok", False)),
        ("[Warn Recovered] x", None, ("ok", False)),
        ("[No Data] x", None, ("no_data", False)),
        ("x is failing", "error", ("alert", False)),
        ("x", "warning", ("warn", False)),
        ("[Muted] x", "info", None),
    ],
)
def test_monitor_transition_from_title_and_status(title, status, expected):
    assert monitor_transition(title, status) == expected


# -- events -----------------------------------------------------------------------------------
def test_events_of_the_service_in_the_window(dd, source):
    result = source.events(WINDOW)
    frame = result.frame

    assert body_of(dd, "/api/v2/events/search")["filter"]["query"] == "service:api -source:alert"
    assert tuple(frame.columns) == EVENT_COLUMNS
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["title"].tolist() == ["Deployed api 1.5.0"]
    row = frame.iloc[0]
    assert row["tags"] == "service:api,env:prod,version:1.5.0"
    assert row["source_type"] == "my_apps"
    # Markdown gone (the fences, **ci**), folded onto one line and cut with an ellipsis
    assert row["text"].startswith("Deploy by ci password=hunter2 xx xx")
    assert 490 <= len(row["text"]) <= 500 and row["text"].endswith("xx…")


def test_event_text_is_redacted_when_captured(source, tmp_path):
    from incident_lib import EvidenceStore

    store = EvidenceStore(tmp_path, create=True)
    entry = store.capture(source.events(WINDOW).frame, source="datadog", name="events")

    row = store.read_entry(entry).iloc[0]
    assert row["text"].startswith("Deploy by ci password=[REDACTED] xx xx")
    assert "hunter2" not in row["text"]


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        (
            "%%%\nMaria Rossi turned on flag **product-reviews-carousel** in *Production*: "
            "serving `true` to 25% of users.\n%%%",
            "Maria Rossi turned on flag product-reviews-carousel in Production: "
            "serving true to 25% of users.",
        ),
        ("See [the runbook](https://wiki.example/rb?x=1) now", "See the runbook now"),
        ("![graph](https://p.datadoghq.com/snap.png) spiked", "graph spiked"),
        ("<https://app.datadoghq.com/event/1>", "https://app.datadoghq.com/event/1"),
        ("### Deploy ###\n> by ci\n- step one\n1. step two\n---", "Deploy by ci step one step two"),
        ("__bold__ _em_ ~~old~~ ***both***", "bold em old both"),
        (
            "`kubectl rollout undo deployment/api -n prod` done",
            "kubectl rollout undo deployment/api -n prod done",
        ),
        ("`a **b** c` stays verbatim", "a **b** c stays verbatim"),
        (r"\*literal\* and pod_name_x and 5 * 3", "*literal* and pod_name_x and 5 * 3"),
        (None, ""),
    ],
)
def test_plain_text_strips_datadog_markdown(markdown, plain):
    assert plain_text(markdown) == plain


def test_event_title_and_text_are_plain_text():
    row = event_row(
        {
            "attributes": {
                "timestamp": datetime(2026, 11, 3, 13, 5, tzinfo=UTC),
                "message": "%%%\nGitHub Actions workflow **deploy-prod** deployed "
                "`api:v2.34` ([run](https://github.example/r/1))\n%%%",
                "attributes": {"title": "Deployed **api** v2.34"},
            }
        }
    )
    assert row is not None
    assert row["title"] == "Deployed api v2.34"
    assert row["text"] == "GitHub Actions workflow deploy-prod deployed api:v2.34 (run)"


def test_monitor_messages_are_plain_text():
    from incident_lib.sources.datadog.frames import monitor_rows

    alert = {
        "attributes": {
            "timestamp": datetime(2026, 11, 3, 14, 0, tzinfo=UTC),
            "message": "%%%\n**5xx** of `api` is *2.5 req/s* [dashboard](https://x.example)\n%%%",
            "attributes": {"monitor_id": 7, "title": "[Triggered] 5xx", "status": "error"},
        }
    }
    (row,) = monitor_rows({7: "5xx"}, [alert], WINDOW)
    assert row["message"] == "5xx of api is 2.5 req/s dashboard"


# -- failures ---------------------------------------------------------------------------------
RATE_LIMITED = {
    "X-RateLimit-Limit": "300",
    "X-RateLimit-Period": "3600",
    "X-RateLimit-Remaining": "0",
    "X-RateLimit-Reset": "7",
}


def test_rate_limited_then_answered_waits_for_the_reset(dd, source, sleeps):
    dd.fail(r"/query/timeseries$", 429, times=2, headers=RATE_LIMITED)

    result = source.metrics(WINDOW)
    frame = result.frame

    assert sleeps == [7.0, 7.0]
    assert len(dd.paths("/query/timeseries")) == 3
    assert len(frame) == 11


def test_rate_limited_for_ever_is_unavailable_after_three_tries(dd, source, sleeps):
    dd.fail(r"/logs/events/search$", 429, headers=RATE_LIMITED)

    with pytest.raises(SourceUnavailable) as caught:
        source.logs(WINDOW)

    assert caught.value.source == "datadog"
    assert caught.value.reason == "rate limited (429) after 3 tries; reset in 7 s"
    assert sleeps == [7.0, 7.0]
    assert len(dd.paths("/logs/events/search")) == 3


def test_a_long_reset_is_waited_for_at_most_max_wait(dd, sleeps):
    dd.fail(r"/api/v1/monitor$", 429, headers={"X-RateLimit-Reset": "3600"})

    with (
        make_source(dd, sleeps, max_wait=20.0, max_tries=2) as source,
        pytest.raises(SourceUnavailable, match=r"after 2 tries; reset in 3600 s$"),
    ):
        source.monitor_events(WINDOW)

    assert sleeps == [20.0]


def test_a_server_error_is_retried(dd, source, sleeps):
    dd.fail(r"/events/search$", 503, times=1)

    result = source.events(WINDOW)
    frame = result.frame

    assert sleeps == [1.0] and len(frame) == 1


def test_a_server_error_that_stays_is_unavailable(dd, source, sleeps):
    dd.fail(r"/events/search$", 502, errors=("upstream timed out",))

    with pytest.raises(SourceUnavailable) as caught:
        source.events(WINDOW)

    assert caught.value.reason == (
        "Datadog answered 502 Bad Gateway to the events search after 3 tries: upstream timed out"
    )
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_keys_are_not_retried_and_never_shown(dd, source, sleeps, status):
    dd.fail(r"/query/timeseries$", status)

    with pytest.raises(SourceUnavailable) as caught:
        source.metrics(WINDOW)

    assert caught.value.reason == (
        f"API key rejected ({status}): check DD_API_KEY/DD_APP_KEY and DD_SITE={dd.netloc}"
    )
    assert len(dd.paths("/query/timeseries")) == 1 and sleeps == []
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert API_KEY not in str(caught.value) and APP_KEY not in str(caught.value)


def test_wrong_keys_are_refused_by_datadog(dd):
    from datadog_api_client import Configuration

    wrong = "0000aaaa1111bbbb2222cccc3333dddd"
    configuration = Configuration(host=dd.url, api_key={"apiKeyAuth": wrong, "appKeyAuth": APP_KEY})
    with (
        DatadogSource(service="api", configuration=configuration) as source,
        pytest.raises(
            SourceUnavailable, match=r"^datadog unavailable: API key rejected \(403\)"
        ) as caught,
    ):
        source.logs(WINDOW)

    assert dd.requests[0].headers["dd-api-key"] == wrong
    assert wrong not in str(caught.value) and APP_KEY not in str(caught.value)


def test_a_permission_problem_says_what_datadog_said(dd, source):
    dd.fail(r"/query/timeseries$", 403, errors=("Failed permission authorization checks",))

    with pytest.raises(SourceUnavailable, match=r"; Datadog said: Failed permission authoriz"):
        source.metrics(WINDOW)


def test_a_bad_query_says_why(dd, source):
    dd.fail(r"/logs/events/search$", 400, errors=("invalid query: unbalanced parenthesis",))

    with pytest.raises(SourceUnavailable) as caught:
        source.logs(WINDOW, query="service:(api")

    assert caught.value.reason == (
        "Datadog rejected the logs search (400): invalid query: unbalanced parenthesis"
    )


def test_a_key_echoed_by_the_server_is_hidden(dd, source):
    dd.fail(r"/logs/events/search$", 400, errors=(f"bad request from key {API_KEY}",))

    with pytest.raises(SourceUnavailable) as caught:
        source.logs(WINDOW)

    assert API_KEY not in caught.value.reason and "[REDACTED]" in caught.value.reason


def test_a_dropped_connection_is_tried_again_at_once(dd, source, sleeps):
    dd.drop(r"/api/v1/monitor$", times=1)

    result = source.monitor_events(WINDOW, now=at(18, 0))
    frame = result.frame

    assert len(frame) == 5 and sleeps == []
    assert len(dd.paths("/api/v1/monitor")) == 3


def test_a_connection_dropped_every_time_is_unavailable(dd, source):
    dd.drop(r"/logs/events/search$")

    with pytest.raises(SourceUnavailable) as caught:
        source.logs(WINDOW)

    assert caught.value.reason == (
        f"{dd.netloc} dropped the connection (ProtocolError) after 3 tries"
    )


def test_a_hanging_api_times_out(dd, sleeps):
    dd.hang(r"/query/timeseries$")

    with (
        make_source(dd, sleeps, request_timeout=(2, 0.3)) as source,
        pytest.raises(SourceUnavailable) as caught,
    ):
        source.metrics(WINDOW)

    assert caught.value.reason == f"{dd.netloc} did not answer within 0.3 s"
    assert len(dd.paths("/query/timeseries")) == 1 and sleeps == []


def test_an_api_that_is_down_is_unreachable():
    from datadog_api_client import Configuration

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    configuration = Configuration(
        host=f"http://127.0.0.1:{port}", api_key={"apiKeyAuth": API_KEY, "appKeyAuth": APP_KEY}
    )
    with (
        DatadogSource(service="api", configuration=configuration) as source,
        pytest.raises(SourceUnavailable) as caught,
    ):
        source.events(WINDOW)

    assert caught.value.reason == f"127.0.0.1:{port} could not be reached (connection refused)"


# -- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "DD_API_KEY and DD_APP_KEY are not set"),
        ({"DD_API_KEY": API_KEY}, "DD_APP_KEY is not set"),
        ({"DD_APP_KEY": APP_KEY, "DD_SITE": "datadoghq.eu"}, "DD_API_KEY is not set"),
    ],
)
def test_missing_keys(environ, missing):
    with pytest.raises(SourceUnavailable) as caught:
        DatadogSource.from_environment(service="api", environ=environ)

    assert caught.value.reason.startswith(missing + ": create an API key and an application key")


def test_a_configuration_without_keys_is_refused():
    from datadog_api_client import Configuration

    configuration = Configuration(host="http://127.0.0.1:9")
    configuration.api_key = {}
    with pytest.raises(SourceUnavailable, match="DD_API_KEY and DD_APP_KEY are not set"):
        DatadogSource(service="api", configuration=configuration)


def test_from_environment_reads_the_site(monkeypatch):
    monkeypatch.setenv("DD_SITE", "us5.datadoghq.com")  # the client would read this one
    environ = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "DD_SITE": "https://app.datadoghq.eu/"}

    with DatadogSource.from_environment(service="api", environ=environ) as source:
        assert source.site == "datadoghq.eu"
        assert source.api_client.configuration.host == "https://api.datadoghq.eu"
        assert source.api_client.configuration.request_timeout == dd_source.DEFAULT_TIMEOUT
        assert source.env == "prod"


def test_from_environment_talks_to_the_host_with_the_keys(dd):
    environ = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "INCIDENT_DD_ENV": "prod"}

    with DatadogSource.from_environment(
        service="api", namespace="prod", environ=environ, host=dd.url
    ) as source:
        outputs = [
            source.metrics(WINDOW),
            source.logs(WINDOW),
            source.monitor_events(WINDOW),
            source.events(WINDOW),
        ]

    assert all(len(result.frame) for result in outputs)
    headers = {(r.headers["dd-api-key"], r.headers["dd-application-key"]) for r in dd.requests}
    assert headers == {(API_KEY, APP_KEY)}
    text = "".join(r.frame.to_csv() + repr(r.frame.attrs) + repr(r.notes) for r in outputs)
    assert API_KEY not in text and APP_KEY not in text


def test_the_given_configuration_is_not_changed(dd):
    configuration = dd.configuration(enable_retry=True)

    with DatadogSource(service="api", configuration=configuration) as source:
        assert source.api_client.configuration is not configuration
        assert source.api_client.configuration.enable_retry is False

    assert configuration.enable_retry is True and configuration.request_timeout is None


# -- live_fetch entry point -------------------------------------------------------------------
INCIDENT = sample_incident(title="5xx", start="2026-11-03T13:00:00Z")


def test_fetch_of_an_unknown_name():
    with pytest.raises(SourceUnavailable, match="no live fetch named 'pods'"):
        DatadogConnector().fetch("pods", INCIDENT, WINDOW)


def test_fetch_without_keys_is_unavailable(monkeypatch):
    monkeypatch.delenv("DD_API_KEY", raising=False)
    monkeypatch.delenv("DD_APP_KEY", raising=False)

    with pytest.raises(SourceUnavailable, match="DD_API_KEY and DD_APP_KEY are not set"):
        default_registry().resolve("datadog", "metrics").fetch("metrics", INCIDENT, WINDOW)


def test_fetch_uses_the_environment_and_returns_notes(dd):
    environ = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "INCIDENT_DD_ENV": "prod"}
    connector = DatadogConnector(environ=environ, host=dd.url)

    result = connector.fetch("metrics", INCIDENT, WINDOW)

    validate(result.frame, "metrics")
    assert result.notes == (f"no data for db_connections ({QUERIES['db_connections']})",)


def test_manifest_query_says_what_is_asked_without_keys():
    environ = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "DD_SITE": "datadoghq.eu"}
    connector = DatadogConnector.from_environment(environ)

    query = connector.query("metrics", INCIDENT, WINDOW)

    assert query["site"] == "datadoghq.eu" and query["interval"] == "60s"
    assert query["queries"] == QUERIES
    assert API_KEY not in repr(query) and APP_KEY not in repr(query)
    for name in dd_source.FETCH_NAMES:
        assert "from" in connector.query(name, INCIDENT, WINDOW)


def test_importing_the_source_imports_neither_the_client_nor_pandas():
    code = (
        "import sys, incident_lib.sources.datadog\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('datadog_api_client', 'pandas')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


#: secrets a detector recognises by their shape alone, with no key name beside them
SHAPED_SECRETS = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZW1vLXVzZXItMDAwMCJ9."
    "pHSoJYcyCGFtv8p0EWZisy2G8CiMkKgqcHt0tvvG4Og",  # a JWT
    "AKIADEMONOTREAL12345",  # an AWS access key id
)


@pytest.mark.parametrize("secret", SHAPED_SECRETS)
@pytest.mark.parametrize("offset", range(0, 60, 3))
def test_a_secret_straddling_the_cut_of_event_text_never_survives_capture(tmp_path, secret, offset):
    """The source cuts before the store redacts: a cut must never leave half a key behind."""
    import pandas as pd

    from incident_lib import EvidenceStore
    from incident_lib.sources.datadog.frames import event_text

    store = EvidenceStore(tmp_path, create=True)
    spaced = "deploy note " + "x" * (470 - offset) + " see "
    glued = "https://ci.example/run/" + "x" * (450 - offset) + "/"  # no space to cut at
    text = event_text(spaced + secret + " end", 500) + " " + event_text(glued + secret, 500)
    store.capture(pd.DataFrame({"text": [text]}), source="datadog", name="events")
    kept = store.read("datadog", "events")["text"][0]
    pieces = {secret[i : i + 10] for i in range(len(secret) - 9)}
    assert not any(piece in kept for piece in pieces), kept[-80:]


def test_the_record_s_own_queries_replace_the_conventional_ones(dd):
    """A service whose metrics are named its own way sets them in incident.yaml."""
    own = "sum:checkout.http.errors{service:api,env:prod}.as_rate()"
    incident = INCIDENT.with_changes(queries={"datadog": {"error_rate": own}})
    environ = {"DD_API_KEY": API_KEY, "DD_APP_KEY": APP_KEY, "INCIDENT_DD_ENV": "prod"}
    connector = DatadogConnector(environ=environ, host=dd.url)

    asked = connector.query("metrics", incident, WINDOW)["queries"]
    connector.fetch("metrics", incident, WINDOW)

    assert asked == QUERIES | {"error_rate": own}
    sent = [
        q["query"]
        for r in dd.requests
        if r.path.endswith("/query/timeseries")
        for q in r.body["data"]["attributes"]["queries"]
    ]
    assert own in sent and QUERIES["error_rate"] not in sent
    assert QUERIES["request_rate"] in sent
