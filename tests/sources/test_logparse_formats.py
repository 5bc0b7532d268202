"""Real Kubernetes application log formats: klog, logfmt, JSON dialects, zap console, traces.

The fixtures in tests/data/logformats are real lines (see its README for where from).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from incident_lib.core.schema import validate
from incident_lib.sources.logparse import parse_line, parse_pod_log

DATA = Path(__file__).resolve().parents[1] / "data" / "logformats"


def frame(name: str) -> pd.DataFrame:
    """The logs frame of one fixture file."""
    text = (DATA / name).read_text(encoding="utf-8")
    result = parse_pod_log(text, pod="p", container="c", timestamps="kubelet" in name)
    validate(result.frame, "logs")
    return result.frame


def rows(name: str) -> list[tuple[str, str, int]]:
    """(level, message, lines in raw) per event."""
    df = frame(name)
    return [
        (level, message, raw.count("\n") + 1)
        for level, message, raw in zip(df.level, df.message, df.raw, strict=True)
    ]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


# -- klog / glog ---------------------------------------------------------------------


def test_klog_headers_levels_and_structured_messages():
    assert [(lv, msg) for lv, msg, _ in rows("klog.log")] == [
        ("info", "metrics.go:347] registered and exported metrics on port 8888"),
        (
            "info",
            "leaderelection.go:243] attempting to acquire leader lease  "
            "default/aad-pod-identity-mic...",
        ),
        ("info", "leaderelection.go:253] successfully acquired lease default/aad-pod-identity-mic"),
        (
            "warning",
            'controller.go:371] Service "kube-system/default-http-backend" does not have any '
            "active Endpoint",
        ),
        (
            "error",
            'leaderelection.go:369] Failed to update lock: Put "https://10.96.0.1:443/apis/'
            'coordination.k8s.io/v1/namespaces/kong/leases/api-gateway": context deadline exceeded',
        ),
        # structured klog: the quoted message, its err appended, other pairs dropped
        ("info", "leaderelection.go:248] attempting to acquire leader lease"),
        (
            "error",
            "run.go:74] command failed | failed to create listener: listen tcp 0.0.0.0:10259: "
            "bind: address already in use",
        ),
        ("critical", "main.go:38] Error running | bad config"),
    ]


def test_klog_time_has_no_year_and_the_raw_line_is_kept():
    df = frame("klog.log")
    assert df.time.iloc[0].strftime("%m-%d %H:%M:%S.%f") == "02-07 02:22:34.365553"
    assert df.raw.iloc[5].startswith('I0212 12:07:11.890184       1 leaderelection.go:248] "')


def test_a_year_less_time_is_never_days_in_the_future():
    now = datetime.now(UTC)
    soon = now + timedelta(days=3)
    parsed = parse_line(f"W{soon:%m%d %H:%M:%S}.000001    1 main.go:9] slow")
    assert parsed.time is not None
    assert parsed.time <= pd.Timestamp(now + timedelta(days=1))
    assert (parsed.time.month, parsed.time.day) == (soon.month, soon.day)


# -- logfmt --------------------------------------------------------------------------


def test_logfmt_lines_of_real_programs():
    df = frame("logfmt.log")
    assert list(zip(df.level, df.message, strict=True)) == [
        ("info", "Starting Prometheus"),
        ("info", 'build_context="(go=go1.10.3, user=root@5258e0bd9cc1, date=20180712-14:02:52)"'),
        ("info", "Loading configuration file"),
        # no msg: the pairs other than time, level and caller
        (
            "error",
            'err="opening storage failed: lock DB directory: resource temporarily unavailable"',
        ),
        ("info", "transport=gRPC addr=:9000"),  # go-kit without msg or level
        ("info", "settings: Starting Grafana"),  # Grafana: logger=, t=
        # Go-quoted escapes decoded, terminal colours dropped, the error appended
        ("warning", 'Failed to "pull" image nginx | context deadline exceeded'),
    ]
    assert df.time.iloc[0] == ts("2018-08-18T12:57:33.232435663Z")
    assert df.time.iloc[4] == ts("2016-12-27T12:49:44Z")
    assert df.time.iloc[5] == ts("2023-09-05T10:31:28.456789012Z")  # t=
    assert "\\x1b[1mnginx" in df.raw.iloc[6]  # raw is the line as written


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (r'"a \"quoted\" word"', 'a "quoted" word'),
        (r'"tab\there"', "tab\there"),
        (r'"caf\u00e9"', "café"),
        (r'"smile \U0001f600"', "smile \U0001f600"),  # Go's 8-digit escape
        (r'"bell\a octal\101"', "bell\a octalA"),
        (r'"back\\slash"', "back\\slash"),
        ("plain", "plain"),
        ('""', ""),
    ],
)
def test_logfmt_quoted_values_lose_quotes_and_escapes(value, text):
    assert parse_line(f"level=info msg={value} k=v").message == text


def test_a_lone_pair_or_a_sentence_with_an_equals_sign_is_plain_text():
    assert parse_line("a=b").message == "a=b"
    assert parse_line("x=1 is the answer").message == "x=1 is the answer"
    assert parse_line('key="unterminated').message == 'key="unterminated'


# -- JSON dialects -------------------------------------------------------------------


def test_json_dialects_of_real_programs():
    df = frame("json.log")
    assert list(zip(df.level, df.message, strict=True)) == [
        ("info", "kubebuilder.controller: Starting EventSource"),
        ("info", "Starting HTTP server on port 8080"),  # the caller is context, not message
        ("error", 'webhook: Reconcile error | deployments.apps "spring-petclinic" not found'),
        (
            "info",
            "n.d.b.g.s.s.GrpcServerLifecycle: gRPC Server started, listening on address: *, "
            "port: 50051",
        ),
        ("warning", "User {UserId} failed login from {Ip}"),  # CLEF: @l, @mt
        ("error", "Disk full on /dev/sda1 | System.IO.IOException: No space left on device"),
        ("info", "Starting up"),  # CLEF without @l: Information
        ("warning", "terraform.ui: deprecated argument"),  # hclog
        ("info", "Microsoft.Hosting.Lifetime: Now listening on: http://[::]:8080"),  # .NET
        ("error", "reflector.go:138] failed to watch *v1.Pod"),  # Docker json-file + klog
    ]
    assert df.time.iloc[4] == ts("2026-08-06T07:12:03.417Z")  # @t
    assert df.time.iloc[8] == ts("2025-05-10T03:27:48Z")  # Timestamp
    assert df.time.iloc[9] == ts("2025-02-12T12:07:12.134545678Z")  # the record's time


@pytest.mark.parametrize(
    ("fields", "level", "message"),
    [
        ({"@l": "Information", "@m": "rendered 5", "@mt": "rendered {N}"}, "info", "rendered 5"),
        ({"Level": "Warning", "RenderedMessage": "r", "MessageTemplate": "t"}, "warning", "r"),
        ({"@fields": {"levelname": "WARNING"}, "@message": "v0"}, "warning", "v0"),
        ({"LOGLEVEL": "error", "Message": "upper"}, "error", "upper"),
        ({"Severity": "ERROR", "Message": "m", "Exception": "KeyError: 'x'"}, "error",
         "m | KeyError: 'x'"),
    ],
)  # fmt: skip
def test_json_keys_in_any_case_and_other_names(fields, level, message):
    parsed = parse_line(json.dumps(fields))
    assert (parsed.level, parsed.message) == (level, message)


def test_a_number_under_t_is_no_time_but_text_is():
    assert parse_line('{"t": 5, "msg": "x"}').time is None
    assert parse_line('{"t": "2026-11-03T14:02:11Z", "msg": "x"}').time == ts(
        "2026-11-03T14:02:11Z"
    )


# -- zap console, logrus, Envoy ------------------------------------------------------


def test_zap_console_lines_and_their_go_stack_trace():
    assert rows("zap_console.log") == [
        ("info", "controller-runtime.webhook.webhooks\tstarting webhook server", 1),
        (
            "error",
            "controller.app\tReconciler error | Operation cannot be fulfilled on "
            'apps.example.com "web": the object has been modified',
            5,  # the stack trace folds into the line that logged it
        ),
        ("info", "controller.app\tStarting workers", 1),
    ]


def test_zap_console_caller_column_is_dropped():
    line = '2023-05-09T07:57:53.476Z\tERROR\tsetup\tmanager/main.go:42\tfailed\t{"err": "x"}'
    assert parse_line(line).message == "setup\tfailed | x"
    # a host and port is no caller
    line = "2023-05-09T07:57:53.476Z\tERROR\tdial failed\tdb.example.com:5432"
    assert parse_line(line).message == "dial failed\tdb.example.com:5432"


def test_a_go_function_line_after_an_info_line_is_its_own_event():
    text = "2023-05-09 07:57:53 INFO ready\nmain.main\n"
    assert [m for _, m, _ in _rows_of(text)] == ["ready", "main.main"]


def _rows_of(text: str) -> list[tuple[str, str, str]]:
    df = parse_pod_log(text, pod="p", container="c", timestamps=False).frame
    return list(zip(df.level, df.message, df.raw, strict=True))


@pytest.mark.parametrize(
    ("line", "level", "message"),
    [
        ("INFO[0000] Running the operator locally.", "info", "Running the operator locally."),
        ("WARN[0042] cache cold                         key=v", "warning", "cache cold key=v"),
        ("\x1b[31mERRO\x1b[0m[0001] failed to dial", "error", "failed to dial"),
        ("FATA[0001] cannot start", "critical", "cannot start"),
    ],
)
def test_logrus_terminal_format(line, level, message):
    parsed = parse_line(line)
    assert (parsed.time, parsed.level, parsed.message) == (None, level, message)


def test_logrus_with_a_full_timestamp():
    parsed = parse_line("INFO[2026-11-03T14:02:11Z] started")
    assert (parsed.time, parsed.level, parsed.message) == (
        ts("2026-11-03T14:02:11Z"),
        "info",
        "started",
    )


def test_access_logs_and_envoy_application_lines():
    assert [(lv, msg[:40]) for lv, msg, _ in rows("access.log")] == [
        ("error", '"GET /hello HTTP/1.1" 503 UF upstream_re'),
        ("error", '"GET / HTTP/1.1" 503 UF 0 91 1998 - "103'),
        ("warning", "[1][config] [source/common/config/grpc_s"),  # Envoy's [thread][level]
        ("info", '192.168.1.1 - - "GET / HTTP/1.1" 200 615'),
        ("warning", '192.168.1.2 - - "POST /api/orders HTTP/1'),
        ("error", "31#31: *1 connect() failed (111: Connect"),
    ]


# -- multi-line traces made by real runtimes ------------------------------------------


def test_python_traceback_with_a_chain_is_one_event():
    assert rows("python_traceback.log") == [
        (
            "error",
            "[MainThread] api.orders: Exception on /v1/orders [POST] | "
            "RuntimeError: cannot read order payload",
            18,
        )
    ]


def test_java_stack_traces_are_one_event_each():
    assert rows("java_trace.log") == [
        (
            "error",
            "1 --- [main] c.e.orders.OrderService : order rejected | "
            "java.lang.IllegalStateException: bad order quantity",
            17,
        ),
        ("error", 'Exception in thread "main" java.lang.RuntimeException: unrecoverable', 2),
    ]


def test_node_stack_trace_is_one_event():
    assert rows("node_trace.log") == [
        ("error", "request failed | Error: ECONNREFUSED", 1),
        ("error", "TypeError: Cannot read properties of undefined (reading 'id')", 9),
    ]


# -- one container, every format -----------------------------------------------------


def test_mixed_formats_in_one_container():
    assert [(lv, msg, n) for lv, msg, n in rows("mixed_kubelet.log")] == [
        ("info", "leaderelection.go:248] attempting to acquire leader lease", 1),
        ("warning", "pool near its limit", 1),
        ("info", "http: GET /v1/orders 200", 1),
        # a truncated JSON line is kept as it is, as plain text
        ("info", '{"level":"error","ts":"2026-11-28T10:41:17.4Z","msg":"truncated line"', 1),
        ("warning", "cache miss ratio high ratio=0.9", 1),  # coloured logrus
        (
            "error",
            "[MainThread] api.orders: Exception on /v1/orders [POST] | "
            "RuntimeError: cannot read order payload",
            18,
        ),
        (
            "error",
            "1 --- [main] c.e.orders.OrderService : order rejected | "
            "java.lang.IllegalStateException: bad order quantity",
            17,
        ),
        ("error", 'Exception in thread "main" java.lang.RuntimeException: unrecoverable', 2),
        ("error", "request failed | Error: ECONNREFUSED", 1),
        ("error", "TypeError: Cannot read properties of undefined (reading 'id')", 9),
        ("error", "run.go:74] command failed | listen tcp :8080: bind: address already in use", 1),
    ]


def test_mixed_raw_keeps_every_line_without_the_kubelet_prefix():
    text = (DATA / "mixed_kubelet.log").read_text(encoding="utf-8")
    lines = [line.split(" ", 1)[1] for line in text.splitlines()]
    df = frame("mixed_kubelet.log")
    assert "\n".join(df.raw).split("\n") == lines
    assert df.time.is_monotonic_increasing
    assert df.time.iloc[0] == ts("2026-11-28T10:41:17Z")  # the kubelet's time wins
