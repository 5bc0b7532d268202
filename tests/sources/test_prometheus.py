"""The Prometheus source against a real Prometheus server (Debian's ``prometheus`` package).

The server holds two hours of known data (2026-11-03 13:00-15:00 UTC, a step
change at 14:00, see ``prom_server``) and a rule file with a firing and a pending
alert. What a real server will not do on demand (503, 401, hanging) is played by
a scripted HTTP stub.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from prom_server import (  # the fixture is imported so that pytest finds it
    CHANGE,
    END,
    MIB,
    START,
    ScriptedServer,
    free_port,
    prometheus,  # noqa: F401
)

from incident_lib.core.errors import InvalidInput, SourceUnavailable
from incident_lib.core.incident import Incident
from incident_lib.core.schema import validate
from incident_lib.core.time import Window
from incident_lib.infra.evidence import EvidenceStore
from incident_lib.sources import prometheus as prom
from incident_lib.sources.base import Fetched, default_registry
from incident_lib.sources.prometheus import (
    PrometheusSource,
    auto_step,
    default_queries,
    parse_step,
)

WINDOW = Window(START, END)
BEFORE = datetime(2026, 11, 3, 13, 30, tzinfo=UTC)
AFTER = datetime(2026, 11, 3, 14, 30, tzinfo=UTC)
#: canonical key -> (value before the change, value after) in the test data
EXPECTED = {
    "request_rate": (50.5, 30.0),
    "error_rate": (0.5, 10.0),
    "latency_p95": (95.0, 975.0),
    "cpu": (0.5, 1.5),
    "memory": (512 * MIB, 768 * MIB),
    "db_connections": (7.0, 65.0),
}
API = 'http_requests_total{service="api"}'


@pytest.fixture(scope="module")
def source(prometheus):  # noqa: F811
    with PrometheusSource(url=prometheus.url) as src:
        yield src


@pytest.fixture(scope="module")
def fetched(source) -> Fetched:
    return source.query_range(default_queries("api", "prod"), WINDOW)


@pytest.fixture(scope="module")
def metrics(fetched) -> pd.DataFrame:
    return fetched.frame


@pytest.fixture
def no_retry_delay(monkeypatch):
    monkeypatch.setattr(prom, "RETRY_DELAY", 0.0)


def value_at(frame: pd.DataFrame, metric: str, moment: datetime) -> float:
    rows = frame[(frame["metric"] == metric) & (frame["time"] == pd.Timestamp(moment))]
    assert len(rows) == 1, f"{metric} at {moment}: {len(rows)} rows"
    return float(rows["value"].iloc[0])


def reason_of(excinfo: pytest.ExceptionInfo) -> str:
    assert excinfo.value.source == "prometheus"
    return excinfo.value.reason


# -- query_range -----------------------------------------------------------------------
def test_default_queries_give_the_known_values_before_and_after_the_change(metrics, fetched):
    validate(metrics, "metrics")
    assert set(metrics["metric"]) == set(EXPECTED)
    for metric, (before, after) in EXPECTED.items():
        assert value_at(metrics, metric, BEFORE) == pytest.approx(before, rel=1e-6), metric
        assert value_at(metrics, metric, AFTER) == pytest.approx(after, rel=1e-6), metric
    assert fetched.notes == ()


def test_rows_carry_key_query_and_aggregated_scope(metrics):
    queries = default_queries("api", "prod")
    for metric, promql in queries.items():
        rows = metrics[metrics["metric"] == metric]
        assert set(rows["query"]) == {promql}
        assert set(rows["scope"]) == {""}  # sum(...) keeps no labels
    assert metrics["time"].dt.tz is not None and str(metrics["time"].dt.tz) == "UTC"


def test_the_step_change_shows_at_the_known_time(metrics):
    errors = metrics[metrics["metric"] == "error_rate"].set_index("time")["value"]
    before, after = errors[errors.index <= CHANGE], errors[errors.index > CHANGE]
    assert len(before) == 60 and len(after) == 59  # 13:01 (a rate needs two samples) .. 14:59
    assert before.tolist() == pytest.approx([0.5] * len(before))
    assert after.tolist() == pytest.approx([10.0] * len(after))


def test_automatic_step_is_60_s_over_two_hours_inside_the_half_open_window(metrics):
    times = metrics.loc[metrics["metric"] == "memory", "time"]
    assert set(times.diff().dropna()) == {pd.Timedelta(seconds=60)}
    assert times.min() == pd.Timestamp(START) and times.max() == pd.Timestamp(END) - pd.Timedelta(
        minutes=1
    )
    assert len(times) == 120


@pytest.mark.parametrize(("step", "seconds"), [("5m", 300), ("1m30s", 90), ("45", 45)])
def test_given_step_is_honoured(source, step, seconds):
    frame = source.query_range(
        {"memory": default_queries("api", "prod")["memory"]}, WINDOW, step=step
    ).frame
    times = frame["time"]
    assert set(times.diff().dropna()) == {pd.Timedelta(seconds=seconds)}
    assert (times.astype("int64") // 10**9 % seconds == 0).all()  # aligned to the step
    assert times.min() >= pd.Timestamp(START) and times.max() < pd.Timestamp(END)


def test_too_fine_a_step_is_refused_before_asking(source):
    with pytest.raises(InvalidInput, match="11,000"):
        source.query_range({"x": "up"}, WINDOW, step="500ms")


def test_auto_step_rule():
    assert auto_step(timedelta(hours=2)) == 60
    assert auto_step(timedelta(hours=1)) == 30
    assert auto_step(timedelta(minutes=10)) == 10
    assert auto_step(timedelta(hours=24)) == 600
    assert auto_step(timedelta(days=365 * 10)) * 11_000 >= 365 * 10 * 86400


@pytest.mark.parametrize("bad", ["", "fast", "5 m", "0s", "-3", "1m-"])
def test_parse_step_refuses_what_is_not_a_duration(bad):
    with pytest.raises(InvalidInput, match="step"):
        parse_step(bad)


def test_several_queries_and_scope_labels_sorted_without_name(source):
    frame = source.query_range(
        {
            "by_code": f"sum by (service, code) (rate({API}[1m]))",
            "raw": API,
        },
        WINDOW,
    ).frame
    assert set(frame["metric"]) == {"by_code", "raw"}
    assert set(frame.loc[frame["metric"] == "by_code", "scope"]) == {
        "code=200,service=api",
        "code=500,service=api",
    }
    assert set(frame.loc[frame["metric"] == "raw", "scope"]) == {
        "code=200,service=api",
        "code=500,service=api",
    }
    by_code = frame[frame["metric"] == "by_code"]
    ok = by_code[by_code["scope"] == "code=200,service=api"]
    assert value_at(ok, "by_code", BEFORE) == pytest.approx(50.0)
    assert value_at(ok, "by_code", AFTER) == pytest.approx(20.0)


def test_nan_and_infinite_values_are_dropped(source):
    errors = 'sum(rate(http_requests_total{service="api", code="500"}[1m]))'
    frame = source.query_range(
        {
            "nan_before": f"({errors} - 0.5) / ({errors} - 0.5)",  # 0/0 before the change
            "inf_before": f"1 / ({errors} - 0.5)",  # 1/0 before the change
        },
        WINDOW,
    ).frame
    assert frame["time"].min() > pd.Timestamp(CHANGE)
    assert set(frame.loc[frame["metric"] == "nan_before", "value"]) == {1.0}
    assert value_at(frame, "inf_before", AFTER) == pytest.approx(1 / 9.5)


def test_a_query_without_series_is_an_empty_frame_with_a_note(source):
    result = source.query_range(
        {"db_connections": 'pg_stat_activity_count{datname="nope"}'}, WINDOW
    )
    frame = result.frame
    validate(frame, "metrics")
    assert frame.empty
    assert list(result.notes) == [
        'db_connections: no data for pg_stat_activity_count{datname="nope"}'
    ]


# -- instant query ------------------------------------------------------------------------
def test_instant_query_one_row_per_series(source):
    frame = source.query(API, AFTER).frame
    validate(frame, "metrics")
    assert list(frame["scope"]) == ["code=200,service=api", "code=500,service=api"]
    assert set(frame["time"]) == {pd.Timestamp(AFTER)}
    assert set(frame["metric"]) == {API} and set(frame["query"]) == {API}
    seconds_before, seconds_after = 3600, 1800  # 13:00 -> 14:00 -> 14:30
    assert list(frame["value"]) == pytest.approx(
        [1e6 + 50 * seconds_before + 20 * seconds_after, 1e6 + 0.5 * seconds_before + 10 * 1800]
    )


def test_instant_query_aggregate_and_scalar(source):
    total = source.query(f"sum(rate({API}[1m]))", BEFORE, metric="request_rate").frame
    assert list(total["metric"]) == ["request_rate"]
    assert list(total["value"]) == pytest.approx([50.5])
    scalar = source.query("scalar(vector(3))", BEFORE).frame
    assert list(scalar["scope"]) == [""] and list(scalar["value"]) == [3.0]


def test_instant_query_needs_an_aware_time(source):
    with pytest.raises(InvalidInput, match="timezone"):
        source.query("up", datetime(2026, 11, 3, 14, 30))


# -- alerts ---------------------------------------------------------------------------------
def test_alerts_map_firing_to_alert_and_pending_to_warn(source):
    frame = source.alerts()
    validate(frame, "monitor_events")
    states = dict(zip(frame["monitor"], frame["state"], strict=True))
    assert states == {
        "AlwaysFiring{service=api,pod=api-1,severity=page}": "alert",
        "AlwaysFiring{service=api,pod=api-2,severity=page}": "alert",
        "SlowBurn{service=api,severity=ticket}": "warn",
    }
    firing = frame[frame["state"] == "alert"]
    assert set(firing["message"]) == {"api is failing; retry with password=hunter2"}  # as held
    pending = frame[frame["state"] == "warn"]
    assert list(pending["message"]) == ["error budget burning slowly"]  # description fallback
    now = pd.Timestamp.now(tz="UTC")
    assert ((now - frame["time"]) < pd.Timedelta(minutes=10)).all()  # activeAt: this run


def test_alert_messages_are_redacted_when_captured(source, tmp_path):
    store = EvidenceStore(tmp_path, create=True)
    entry = store.capture(source.alerts(), source="prometheus", name="monitor_events")

    captured = store.read_entry(entry)
    firing = captured[captured["state"] == "alert"]
    assert set(firing["message"]) == {"api is failing; retry with password=[REDACTED]"}


def test_alert_ids_are_distinct_and_stable(source):
    first, second = source.alerts(), source.alerts()
    assert first["monitor_id"].is_unique
    assert list(first["monitor_id"]) == list(second["monitor_id"])
    assert all(mid.startswith(("AlwaysFiring-", "SlowBurn-")) for mid in first["monitor_id"])


# -- errors ---------------------------------------------------------------------------------
def test_bad_promql_names_the_metric_and_the_parse_error(source):
    with pytest.raises(SourceUnavailable) as excinfo:
        source.query_range({"request_rate": "sum(rate(x[1m])"}, WINDOW)
    reason = reason_of(excinfo)
    assert reason.startswith("bad PromQL for request_rate: 1:")
    assert "parse error" in reason and "invalid parameter" not in reason


def test_an_execution_error_is_reported_with_its_type(source):
    with pytest.raises(SourceUnavailable) as excinfo:
        source.query(f"{API} / on(service) {API}", AFTER, metric="ratio")
    assert reason_of(excinfo).startswith(f"ratio failed at {source.url} (execution): ")


def test_a_url_that_is_not_the_api_root_says_so(prometheus):  # noqa: F811
    with (
        PrometheusSource(url=prometheus.url + "/nope") as src,
        pytest.raises(SourceUnavailable) as excinfo,
    ):
        src.alerts()
    assert (
        reason_of(excinfo)
        == f"{prometheus.url}/nope has no Prometheus API (404): check PROMETHEUS_URL"
    )


def test_connection_refused_names_the_url_never_the_password():
    port = free_port()
    with (
        PrometheusSource(url=f"http://reader:s3cret-pw@127.0.0.1:{port}") as src,
        pytest.raises(SourceUnavailable) as excinfo,
    ):
        src.query("up", AFTER)
    assert reason_of(excinfo) == f"http://127.0.0.1:{port} refused the connection"
    assert "s3cret" not in repr(src)


def test_503_is_retried_once(no_retry_delay):
    ok = {"status": "success", "data": {"resultType": "vector", "result": []}}
    with ScriptedServer([(503, {}), (200, ok)]) as stub:
        frame = PrometheusSource(url=stub.url).query("up", AFTER).frame
    assert frame.empty and len(stub.requests) == 2


def test_503_twice_gives_up_with_the_status(no_retry_delay):
    unavailable = {"status": "error", "errorType": "unavailable", "error": "too many queries"}
    with ScriptedServer([(503, unavailable)]) as stub:
        with pytest.raises(SourceUnavailable) as excinfo:
            PrometheusSource(url=stub.url).alerts()
        assert len(stub.requests) == 2
    assert reason_of(excinfo) == f"alerts failed at {stub.url} (unavailable): too many queries"


def test_a_server_that_does_not_answer_times_out_after_one_retry(no_retry_delay):
    with ScriptedServer([("hang", 1.0)]) as stub:
        with pytest.raises(SourceUnavailable) as excinfo:
            PrometheusSource(url=stub.url, timeout=0.2).alerts()
        assert len(stub.requests) == 2
    assert reason_of(excinfo) == f"{stub.url} did not answer within 0.2 s (tried twice)"


def test_a_plain_http_error_shows_status_and_first_line():
    with ScriptedServer([(500, "upstream exploded\nsecond line")]) as stub:
        with pytest.raises(SourceUnavailable) as excinfo:
            PrometheusSource(url=stub.url).alerts()
        assert len(stub.requests) == 1  # 500 is not retried
    assert reason_of(excinfo) == f"{stub.url} answered HTTP 500: upstream exploded"


# -- from_environment and fetch ---------------------------------------------------------------
def test_from_environment_without_url():
    with pytest.raises(SourceUnavailable) as excinfo:
        PrometheusSource.from_environment({})
    assert reason_of(excinfo) == "PROMETHEUS_URL is not set"


def test_from_environment_refuses_a_url_without_scheme():
    with pytest.raises(SourceUnavailable) as excinfo:
        PrometheusSource.from_environment({"PROMETHEUS_URL": "prometheus:9090"})
    assert "http://" in reason_of(excinfo)


def test_token_is_sent_as_bearer_and_never_shown():
    token = "tok-9f8e7d6c5b4a"
    with ScriptedServer([(401, {"status": "error", "errorType": "", "error": ""})]) as stub:
        environ = {"PROMETHEUS_URL": stub.url + "/", "PROMETHEUS_TOKEN": token}
        with PrometheusSource.from_environment(environ) as src:
            with pytest.raises(SourceUnavailable) as excinfo:
                src.alerts()
            shown = repr(src)
    assert stub.requests[0][1]["Authorization"] == f"Bearer {token}"
    assert stub.requests[0][0] == "/api/v1/alerts"
    assert token not in reason_of(excinfo) and token not in shown


def test_a_token_the_server_echoes_is_scrubbed_from_the_reason():
    token = "tok-9f8e7d6c5b4a"
    echo = {"status": "error", "errorType": "bad_data", "error": f"who is Bearer {token}?"}
    with ScriptedServer([(400, echo)]) as stub:
        environ = {"PROMETHEUS_URL": stub.url, "PROMETHEUS_TOKEN": token}
        with (
            PrometheusSource.from_environment(environ) as src,
            pytest.raises(SourceUnavailable) as excinfo,
        ):
            src.query("up", AFTER, metric="up")
    assert reason_of(excinfo) == "bad PromQL for up: who is [REDACTED]?"


def test_a_401_without_error_json_points_at_the_token():
    with (
        ScriptedServer([(401, "Unauthorized")]) as stub,
        pytest.raises(SourceUnavailable) as excinfo,
    ):
        PrometheusSource(url=stub.url).alerts()
    assert reason_of(excinfo) == (
        f"{stub.url} rejected the credentials (401): check PROMETHEUS_TOKEN"
    )


def test_default_queries_quote_and_parameterise():
    queries = default_queries("pay", "shop", service_label="job", database="payments")
    assert queries["request_rate"] == 'sum(rate(http_requests_total{job="pay"}[1m]))'
    assert 'code=~"5.."' in queries["error_rate"]
    assert 'namespace="shop", pod=~"pay-.*", container!=""' in queries["cpu"]
    assert queries["db_connections"] == 'sum(pg_stat_activity_count{datname="payments"})'
    assert 'service="a\\"b"' in default_queries('a"b', "ns")["request_rate"]


def test_fetch_uses_the_environment(prometheus, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PROMETHEUS_URL", prometheus.url)
    monkeypatch.delenv("PROMETHEUS_TOKEN", raising=False)
    incident = Incident.from_dict(
        {
            "id": "INC-2026-0042",
            "title": "api returns 500s",
            "service": "api",
            "namespace": "prod",
            "severity": "SEV-2",
            "window": {"start": "2026-11-03T13:00:00Z", "end": "2026-11-03T15:00:00Z"},
        }
    )
    connector = default_registry().resolve("prometheus", "metrics")
    result = connector.fetch("metrics", incident, incident.window)
    metrics = result.frame
    assert set(metrics["metric"]) == set(EXPECTED)
    assert value_at(metrics, "error_rate", AFTER) == pytest.approx(10.0)
    events = connector.fetch("monitor_events", incident, incident.window).frame
    assert set(events["state"]) == {"alert", "warn"}
    with pytest.raises(SourceUnavailable, match="no live fetch named 'logs'"):
        connector.fetch("logs", incident, incident.window)
    query = connector.query("metrics", incident, incident.window)
    assert query["url"] == prometheus.url and query["step"] == "60s"
    assert query["queries"] == default_queries("api", "prod")


def test_the_record_s_own_queries_are_evaluated_in_place_of_the_defaults(
    prometheus,  # noqa: F811
    monkeypatch,
):
    """A service whose metrics carry other names or labels sets its queries in the record."""
    monkeypatch.setenv("PROMETHEUS_URL", prometheus.url)
    monkeypatch.delenv("PROMETHEUS_TOKEN", raising=False)
    own = 'sum(rate(http_requests_total{service="api", code=~"5.."}[1m])) * 1000'
    incident = Incident.from_dict(
        {
            "id": "INC-2026-0042",
            "title": "api returns 500s",
            "service": "api",
            "namespace": "prod",
            "severity": "SEV-2",
            "window": {"start": "2026-11-03T13:00:00Z", "end": "2026-11-03T15:00:00Z"},
            "queries": {"prometheus": {"error_rate": own}},
        }
    )
    connector = default_registry().resolve("prometheus", "metrics")

    metrics = connector.fetch("metrics", incident, incident.window).frame
    asked = connector.query("metrics", incident, incident.window)["queries"]

    assert asked == default_queries("api", "prod") | {"error_rate": own}
    assert value_at(metrics, "error_rate", AFTER) == pytest.approx(10_000.0)
    assert set(metrics.loc[metrics["metric"] == "error_rate", "query"]) == {own}
    assert set(metrics["metric"]) == set(EXPECTED)
