"""Container log text -> the ``logs`` frame: formats, levels, folding, time, truncation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from incident_lib.core.errors import InvalidInput
from incident_lib.core.schema import CONTRACTS, validate
from incident_lib.sources.logparse import ParsedLog, parse_line, parse_pod_log

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
LOGHUB = SHARED / "loghub2k"
T = "2026-11-03T14:02:11.123456789Z"  # a kubelet prefix


def parse(text: str, **kw) -> ParsedLog:
    kw.setdefault("timestamps", False)
    result = parse_pod_log(text, pod="api-0", container="api", **kw)
    validate(result.frame, "logs")
    return result


def one(line: str, *, kubelet: bool = True) -> pd.Series:
    """The single event of a one-line log (behind a kubelet prefix, by default)."""
    frame = parse(f"{T} {line}" if kubelet else line, timestamps=kubelet).frame
    assert len(frame) == 1, frame
    return frame.iloc[0]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def prefixed(*lines: str, stamp: str = T) -> str:
    return "".join(f"{stamp} {line}\n" for line in lines)


# -- JSON lines ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "level"),
    [
        ({"level": "info"}, "info"),
        ({"level": "WARN"}, "warning"),
        ({"lvl": "err"}, "error"),
        ({"severity": "CRITICAL"}, "critical"),
        ({"severity": "Notice"}, "info"),
        ({"log.level": "warning"}, "warning"),
        ({"log": {"level": "error"}, "message": "ecs nested"}, "error"),
        ({"levelname": "DEBUG"}, "debug"),
        ({"level": "trace"}, "debug"),
        ({"level": "fatal"}, "critical"),
        ({"level": "crit"}, "critical"),
        ({"level": "panic"}, "critical"),
        ({"level": "emerg"}, "critical"),
        ({"level": "alert"}, "critical"),
        ({"level": "no-such-level"}, "info"),
        ({}, "info"),
    ],
)
def test_json_level_keys_and_values(fields, level):
    row = one(json.dumps({"msg": "hello", **fields}))
    assert row.level == level


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (10, "debug"),
        (20, "debug"),
        (30, "info"),
        (40, "warning"),
        (50, "error"),
        (60, "critical"),
        ("50", "error"),
    ],
)
def test_pino_numeric_levels(value, level):
    assert one(json.dumps({"level": value, "msg": "x"})).level == level


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"time": "2026-11-03T14:02:11.5Z"}, "2026-11-03T14:02:11.5Z"),
        ({"ts": "2026-11-03T15:02:11+01:00"}, "2026-11-03T14:02:11Z"),
        ({"timestamp": "2026-11-03 14:02:11,250"}, "2026-11-03T14:02:11.25Z"),
        ({"@timestamp": "2026-11-03T14:02:11.123456789Z"}, "2026-11-03T14:02:11.123456789Z"),
        ({"date": "2026-11-03T14:02:11"}, "2026-11-03T14:02:11Z"),  # naive: UTC
        ({"time": 1793714531}, "2026-11-03T14:02:11Z"),  # epoch seconds
        ({"ts": 1793714531.25}, "2026-11-03T14:02:11.25Z"),  # zap's float seconds
        ({"time": 1793714531123}, "2026-11-03T14:02:11.123Z"),  # pino's millis
        ({"time": 1793714531123456}, "2026-11-03T14:02:11.123456Z"),  # micros
        ({"time": 1793714531123456789}, "2026-11-03T14:02:11.123456789Z"),  # nanos
        ({"ts": "1793714531.5"}, "2026-11-03T14:02:11.5Z"),  # a number as text
    ],
)
def test_json_time_keys(fields, expected):
    assert one(json.dumps({"msg": "x", **fields}), kubelet=False).time == ts(expected)


@pytest.mark.parametrize("key", ["msg", "message", "event", "log"])
def test_json_message_keys(key):
    assert one(json.dumps({"level": "info", key: "the text"})).message == "the text"


def test_json_without_a_message_key_keeps_the_object():
    row = one('{"level": "info", "ts": "2026-11-03T14:02:11Z", "status": 200}')
    assert json.loads(row.message)["status"] == 200


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            {"error": "dial tcp 10.0.0.1:5432: i/o timeout"},
            "db call failed | dial tcp 10.0.0.1:5432: i/o timeout",
        ),
        ({"err": "boom\ngoroutine 7 [running]:"}, "db call failed | boom"),
        (
            {
                "exc_info": 'Traceback (most recent call last):\n  File "a.py", line 1, in f\n'
                "    g()\nKeyError: 'user'"
            },
            "db call failed | KeyError: 'user'",
        ),
        (
            {"stack_trace": "java.net.SocketTimeoutException: Read timed out\n\tat x.Y(Y.java:1)"},
            "db call failed | java.net.SocketTimeoutException: Read timed out",
        ),
        ({"exception": "ValueError: bad"}, "db call failed | ValueError: bad"),
        ({"stack": "Error: nope\n    at f (a.js:1:1)"}, "db call failed | Error: nope"),
        (
            {"error": {"type": "TimeoutError", "message": "pool exhausted"}},
            "db call failed | TimeoutError: pool exhausted",
        ),
        ({"error": "db call failed"}, "db call failed"),  # already in the message
        ({"error": ""}, "db call failed"),
    ],
)
def test_json_error_keys_are_appended(error, message):
    line = json.dumps({"level": "error", "msg": "db call failed", **error})
    row = one(line)
    assert row.message == message
    assert row.raw == line


def test_logfmt_lines():
    row = one(
        'time="2026-11-03T14:02:11Z" level=error msg="failed to sync" '
        'err="dial tcp: i/o timeout" component=informer',
        kubelet=False,
    )
    assert (row.time, row.level) == (ts("2026-11-03T14:02:11Z"), "error")
    assert row.message == "failed to sync | dial tcp: i/o timeout"
    row = one("level=warn ts=2026-11-03T14:02:11.5Z caller=main.go:42 msg=retrying")
    assert (row.level, row.message) == ("warning", "retrying")
    # key=value text without a level or a message is plain text
    assert one("2026-11-03 14:02:11 INFO a=b c=d").message == "a=b c=d"


# -- plain text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "time", "level", "message"),
    [
        # Python logging: the default format, and with asctime
        ("ERROR:root:payment failed", None, "error", "root:payment failed"),
        (
            "WARNING:urllib3.connectionpool:Retrying",
            None,
            "warning",
            "urllib3.connectionpool:Retrying",
        ),
        (
            "2026-11-03 14:02:11,120 ERROR [worker-3] app.db: too many clients",
            "2026-11-03T14:02:11.120Z",
            "error",
            "[worker-3] app.db: too many clients",
        ),
        # Spring Boot / logback, log4j
        (
            "2026-11-03 14:02:11.123 ERROR 1 --- [main] c.e.App : Application run failed",
            "2026-11-03T14:02:11.123Z",
            "error",
            "1 --- [main] c.e.App : Application run failed",
        ),
        (
            "2026-11-03T14:02:11.123Z  WARN 1 --- [app] [exec-1] c.e.Pool : slow",
            "2026-11-03T14:02:11.123Z",
            "warning",
            "1 --- [app] [exec-1] c.e.Pool : slow",
        ),
        (
            "2026-11-03 14:02:11 [main] INFO c.e.App - started",
            "2026-11-03T14:02:11Z",
            "info",
            "[main] c.e.App - started",
        ),
        # glog / klog (no year in the line: this year, or the kubelet's)
        (
            "E1103 14:02:11.123456       1 reflector.go:138] failed to watch",
            None,
            "error",
            "reflector.go:138] failed to watch",
        ),
        ("W1103 14:02:11.000001    42 main.go:9] slow", None, "warning", "main.go:9] slow"),
        # nginx and Apache error logs
        (
            "2026/11/03 14:02:11 [error] 12#12: *1 connect() failed (111: Connection refused)",
            "2026-11-03T14:02:11Z",
            "error",
            "12#12: *1 connect() failed (111: Connection refused)",
        ),
        (
            "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
            "2005-12-04T04:47:44Z",
            "info",
            "workerEnv.init() ok",
        ),
        (
            "[Wed Nov 03 14:02:11.123456 2026] [proxy:warn] [pid 7] AH01144: No protocol handler",
            "2026-11-03T14:02:11.123456Z",
            "warning",
            "[pid 7] AH01144: No protocol handler",
        ),
        # access logs: no level word, the status decides
        (
            '10.0.0.1 - - [03/Nov/2026:15:02:11 +0100] "GET /v1/x HTTP/1.1" 503 12 "-" "curl"',
            "2026-11-03T14:02:11Z",
            "error",
            '10.0.0.1 - - "GET /v1/x HTTP/1.1" 503 12 "-" "curl"',
        ),
        (
            '[2026-11-03T14:02:11.500Z] "POST /api HTTP/1.1" 404 - via_upstream',
            "2026-11-03T14:02:11.5Z",
            "warning",
            '"POST /api HTTP/1.1" 404 - via_upstream',
        ),
        (
            '10.0.0.1 - - [03/Nov/2026:14:02:11 +0000] "GET / HTTP/1.1" 200 5',
            "2026-11-03T14:02:11Z",
            "info",
            '10.0.0.1 - - "GET / HTTP/1.1" 200 5',
        ),
        # gunicorn, Zookeeper, JVM unified logging, istio-agent
        (
            "[2026-11-03 14:02:11 +0000] [7] [CRITICAL] WORKER TIMEOUT (pid:12)",
            "2026-11-03T14:02:11Z",
            "critical",
            "[7] WORKER TIMEOUT (pid:12)",
        ),
        (
            "2015-07-29 17:41:44,747 - WARN  [SendWorker:188978561024:QuorumCnxManager@688] - "
            "Send worker leaving thread",
            "2015-07-29T17:41:44.747Z",
            "warning",
            "[SendWorker:188978561024:QuorumCnxManager@688] - Send worker leaving thread",
        ),
        (
            "[2026-11-03T14:02:11.123+0000][info][gc] GC(3) Pause Young 12M->3M(64M) 1.2ms",
            "2026-11-03T14:02:11.123Z",
            "info",
            "[gc] GC(3) Pause Young 12M->3M(64M) 1.2ms",
        ),
        (
            "2026-11-03T14:02:11.123456Z\twarn\tsds\tcertificate expires soon",
            "2026-11-03T14:02:11.123456Z",
            "warning",
            "sds\tcertificate expires soon",
        ),
        # HDFS, Spark, OpenStack (a file name before the time), syslog
        (
            "081109 203615 148 INFO dfs.DataNode: Receiving block",
            "2008-11-09T20:36:15Z",
            "info",
            "148 dfs.DataNode: Receiving block",
        ),
        (
            "17/06/09 20:10:40 ERROR executor.Executor: Exception in task 0.0",
            "2017-06-09T20:10:40Z",
            "error",
            "executor.Executor: Exception in task 0.0",
        ),
        (
            "nova-api.log.1 2017-05-16 00:00:00.008 25746 INFO nova.wsgi [req-1] GET /v2",
            "2017-05-16T00:00:00.008Z",
            "info",
            "nova-api.log.1 25746 nova.wsgi [req-1] GET /v2",
        ),
        # bare lines: no time, no level
        (
            "Picked up JAVA_TOOL_OPTIONS: -XX:+UseG1GC",
            None,
            None,
            "Picked up JAVA_TOOL_OPTIONS: -XX:+UseG1GC",
        ),
        ("Error connecting to the database", None, None, "Error connecting to the database"),
        ("warning: the cache is cold", None, "warning", "the cache is cold"),
        ("<warn> disk 91% full", None, "warning", "disk 91% full"),
    ],
)
def test_parse_line_plain_formats(line, time, level, message):
    parsed = parse_line(line)
    if line[0] in "EW" and line[1].isdigit():  # glog: the year is not in the line
        assert parsed.time is not None and parsed.time.strftime("%m-%d %H:%M") == "11-03 14:02"
    else:
        assert parsed.time == (ts(time) if time else None)
    assert (parsed.level, parsed.message) == (level, message)


def test_plain_lines_in_the_frame_default_to_info():
    frame = parse("2026-11-03 14:02:11 hello\n2026-11-03 14:02:12 ERROR bad\n").frame
    assert frame.level.tolist() == ["info", "error"]
    assert frame.message.tolist() == ["hello", "bad"]


def test_trailing_whitespace_is_kept_in_raw_only():
    row = one("2026-11-03 14:02:11 INFO done   ", kubelet=False)
    assert (row.message, row.raw) == ("done", "2026-11-03 14:02:11 INFO done   ")


def test_glog_year_comes_from_the_time_seen_before():
    glog = "I1231 23:59:59.000001    1 main.go:1] tick"
    frame = parse(f"2025-12-31 23:59:58 INFO before\n{glog}\n").frame
    assert frame.time[1] == ts("2025-12-31T23:59:59.000001Z")
    row = parse(f"2025-12-31T23:59:59Z {glog}\n", timestamps=True).frame.iloc[0]
    assert (row.time, row.level, row.message) == (
        ts("2025-12-31T23:59:59Z"),
        "info",
        "main.go:1] tick",
    )


# -- the kubelet prefix --------------------------------------------------------------


def test_kubelet_prefix_is_the_time_and_is_stripped():
    text = prefixed(
        '{"level":"info","msg":"hello","ts":"2020-01-01T00:00:00Z"}',
        "2026-11-03 14:02:10,120 ERROR [worker-3] app.db: too many clients",
        "plain line",
    )
    frame = parse(text, timestamps=True).frame
    assert frame.time.tolist() == [ts(T)] * 3  # nanoseconds kept; the line's own time ignored
    assert frame.level.tolist() == ["info", "error", "info"]
    assert frame.message.tolist() == ["hello", "[worker-3] app.db: too many clients", "plain line"]
    assert frame.raw[0] == '{"level":"info","msg":"hello","ts":"2020-01-01T00:00:00Z"}'
    assert frame.raw[1].startswith("2026-11-03 14:02:10,120 ERROR")


def test_kubelet_prefix_variants_and_lines_without_one():
    text = (
        "2026-11-03T14:02:11Z one\n"
        "2026-11-03T15:02:12.5+01:00 two\n"
        "2026-11-03 14:02:13,000 INFO three has no prefix\n"
        "2026-11-03T14:02:14.1Z \n"  # an empty line written by the app
        "2026-11-03T14:02:15.000000001Z five\n"
    )
    result = parse(text, timestamps=True)
    assert result.frame.message.tolist() == ["one", "two", "three has no prefix", "five"]
    assert result.frame.time.tolist() == [
        ts("2026-11-03T14:02:11Z"),
        ts("2026-11-03T14:02:12.5Z"),
        ts("2026-11-03T14:02:13Z"),
        ts("2026-11-03T14:02:15.000000001Z"),
    ]
    assert result.frame.raw[2] == "2026-11-03 14:02:13,000 INFO three has no prefix"
    assert result.lines == 5


def test_windows_line_ends():
    frame = parse("2026-11-03 14:02:11 INFO a\r\n2026-11-03 14:02:12 INFO b\r\n").frame
    assert frame.message.tolist() == ["a", "b"]
    assert not frame.raw.str.contains("\r").any()


# -- multi-line events ---------------------------------------------------------------

PY_TRACE = [
    "2026-11-03 14:02:11,120 ERROR [ThreadPoolExecutor-0_3] api.app: Exception on /v1/orders "
    "[POST]",
    "Traceback (most recent call last):",
    '  File "/usr/lib/python3.12/site-packages/psycopg2/__init__.py", line 122, in connect',
    "    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)",
    "psycopg2.OperationalError: connection to server failed: FATAL:  sorry, too many clients "
    "already",
    "",
    "The above exception was the direct cause of the following exception:",
    "",
    "Traceback (most recent call last):",
    '  File "/app/api/views/orders.py", line 63, in create_order',
    "    order = service.place_order(payload)",
    "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) FATAL:  sorry, too many "
    "clients already",
    "",
    "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
]


@pytest.mark.parametrize("kubelet", [False, True])
def test_python_traceback_folds_into_its_log_line(kubelet):
    lines = [*PY_TRACE, "2026-11-03 14:02:12,000 INFO [main] api.app: next request"]
    text = prefixed(*lines) if kubelet else "\n".join(lines) + "\n"
    result = parse(text, timestamps=kubelet)
    frame = result.frame
    assert (result.events, result.lines) == (2, len(lines))
    assert frame.level.tolist() == ["error", "info"]
    assert frame.message[0] == (
        "[ThreadPoolExecutor-0_3] api.app: Exception on /v1/orders [POST] | "
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) FATAL:  sorry, too many "
        "clients already"
    )
    assert frame.raw[0] == "\n".join(PY_TRACE)  # every line, no kubelet prefixes
    assert frame.message[1] == "[main] api.app: next request"


def test_a_bare_traceback_is_an_event_of_its_own():
    text = prefixed(
        "2026-11-03 14:02:11,000 INFO [main] app: request done",
        "Traceback (most recent call last):",
        '  File "/app/worker.py", line 9, in run',
        "    raise ValueError(f'bad batch {n}')",
        "ValueError: bad batch 7",
        "Traceback (most recent call last):",  # a second crash, no chain line: a new event
        '  File "/app/worker.py", line 9, in run',
        "KeyError: 'id'",
    )
    frame = parse(text, timestamps=True).frame
    assert frame.level.tolist() == ["info", "error", "error"]
    assert frame.message.tolist() == [
        "[main] app: request done",
        "ValueError: bad batch 7",
        "KeyError: 'id'",
    ]
    assert frame.raw[1].split("\n")[0] == "Traceback (most recent call last):"
    assert frame.raw[1].count("\n") == 3


def test_python_default_logging_with_exception():
    text = prefixed(
        *[
            "ERROR:root:job failed",
            "Traceback (most recent call last):",
            '  File "job.py", line 3, in <module>',
            "ZeroDivisionError: division by zero",
            "INFO:root:next job",
        ]
    )
    frame = parse(text, timestamps=True).frame
    assert frame.message.tolist() == [
        "root:job failed | ZeroDivisionError: division by zero",
        "root:next job",
    ]


JAVA = [
    "2026-11-03 14:02:11.123 ERROR 1 --- [nio-8080-exec-3] c.e.c.PaymentClient : payment failed",
    "org.springframework.web.client.ResourceAccessException: I/O error on POST: Read timed out",
    "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:906)",
    "\tat com.example.checkout.payment.PaymentClient.authorize(PaymentClient.java:88)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishRead(NioSocketImpl.java:278)",
    "\t... 5 more",
    "\tSuppressed: java.lang.IllegalStateException: closed",
    "\t\tat com.example.Pool.close(Pool.java:12)",
]


@pytest.mark.parametrize("kubelet", [False, True])
def test_java_stack_trace_with_caused_by(kubelet):
    lines = [*JAVA, "2026-11-03 14:02:12.000  INFO 1 --- [main] c.e.App : still alive"]
    text = prefixed(*lines) if kubelet else "\n".join(lines)
    frame = parse(text, timestamps=kubelet).frame
    assert len(frame) == 2
    assert frame.level.tolist() == ["error", "info"]
    assert frame.message[0] == (
        "1 --- [nio-8080-exec-3] c.e.c.PaymentClient : payment failed | "
        "org.springframework.web.client.ResourceAccessException: I/O error on POST: Read timed out"
    )
    assert frame.raw[0] == "\n".join(JAVA)


def test_uncaught_java_exception_is_an_error_event():
    text = prefixed(
        *[
            '{"level":"INFO","message":"started"}',
            'Exception in thread "payment-retry-3" java.lang.IllegalStateException: pool closed',
            "\tat com.example.Retry.run(Retry.java:41)",
            "Caused by: java.io.IOException: broken pipe",
            "\t... 3 more",
            '{"level":"INFO","message":"next"}',
        ]
    )
    frame = parse(text, timestamps=True).frame
    assert frame.level.tolist() == ["info", "error", "info"]
    assert frame.message[1].startswith('Exception in thread "payment-retry-3"')
    assert frame.raw[1].count("\n") == 3


def test_go_panic_folds_its_goroutine_dump():
    text = prefixed(
        '{"level":"info","ts":1793714531.0,"msg":"serving"}',
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2f1c]",
        "",
        "goroutine 1 [running]:",
        "main.(*Server).handle(0x0, {0x7ffd, 0x3})",
        "\t/app/server.go:42 +0x1c",
        "main.main()",
        "\t/app/main.go:12 +0x1d",
        "exit status 2",
        '{"level":"info","msg":"restarted"}',
    )
    frame = parse(text, timestamps=True).frame
    assert frame.level.tolist() == ["info", "critical", "info"]
    assert frame.message[1] == (
        "panic: runtime error: invalid memory address or nil pointer dereference"
    )
    assert frame.raw[1].count("\n") == 8
    assert frame.raw[1].endswith("exit status 2")


def test_indented_lines_fold_into_any_event():
    text = "\n".join(
        [
            "2026-11-03 14:02:11 INFO config:",
            "    pool_size: 20",
            "    timeout: 30s",
            "",
            "2026-11-03 14:02:12 INFO ready",
        ]
    )
    frame = parse(text).frame
    assert frame.raw.tolist() == [
        "2026-11-03 14:02:11 INFO config:\n    pool_size: 20\n    timeout: 30s",
        "2026-11-03 14:02:12 INFO ready",
    ]
    assert frame.message[0] == "config:"
    assert frame.level[0] == "info"  # indented text is not a stack trace


def test_traceback_after_a_json_line_is_its_own_event():
    text = prefixed(
        '{"level":"error","msg":"request failed"}',
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in f',
        "OSError: disk full",
    )
    frame = parse(text, timestamps=True).frame
    assert frame.message.tolist() == ["request failed", "OSError: disk full"]


def test_traceback_after_an_info_line_is_not_folded():
    text = "\n".join(
        [
            "2026-11-03 14:02:11 INFO [main] app: request done",
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in f',
            "OSError: disk full",
        ]
    )
    frame = parse(text).frame
    assert frame.level.tolist() == ["info", "error"]
    assert frame.message[1] == "OSError: disk full"


def test_a_line_starting_with_a_timestamp_ends_a_traceback():
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in f',
            "OSError: disk full",
            "2026-11-03 14:02:12 no level here",
        ]
    )
    frame = parse(text).frame
    assert frame.message.tolist() == ["OSError: disk full", "no level here"]
    assert frame.time.tolist() == [ts("2026-11-03T14:02:12Z")] * 2  # see the time rule


# -- time rules, truncation, empty input ---------------------------------------------


def test_events_without_time_inherit_the_previous_time():
    text = "\n".join(
        [
            "starting up",  # before any time: takes the first time seen after it
            "2026-11-03 14:02:11 INFO one",
            "no time here",
            '{"msg": "json without time"}',
            "2026-11-03 14:02:15 INFO two",
            "again no time",
        ]
    )
    result = parse(text)
    assert result.dropped == 0
    assert (
        result.frame.time.tolist()
        == [ts("2026-11-03T14:02:11Z")] * 4 + [ts("2026-11-03T14:02:15Z")] * 2
    )


def test_an_impossible_time_counts_as_none():
    frame = parse("2026-11-03 14:02:11 INFO one\n2026-13-45 14:02:11 INFO two\n").frame
    assert frame.time.tolist() == [ts("2026-11-03T14:02:11Z")] * 2
    assert frame.message.tolist() == ["one", "two"]


def test_a_log_without_any_time_is_dropped_and_counted():
    result = parse("hello\nworld\n")
    assert (result.events, result.dropped, len(result.frame)) == (2, 2, 0)
    assert list(result.frame.columns) == list(CONTRACTS["logs"].columns)


def test_truncation_keeps_the_newest_events():
    text = "".join(f"2026-11-03T14:02:{s:02d}Z event {s}\n" for s in range(10))
    result = parse(text, timestamps=True, max_events=3)
    assert (result.events, result.truncated, result.lines) == (10, True, 10)
    assert result.frame.message.tolist() == ["event 7", "event 8", "event 9"]
    assert result.frame.index.tolist() == [0, 1, 2]
    result = parse(text, timestamps=True, max_events=10)
    assert (len(result.frame), result.truncated) == (10, False)


def test_truncation_counts_folded_events_not_lines():
    result = parse("\n".join(PY_TRACE + PY_TRACE), max_events=1)
    assert (result.events, result.truncated, len(result.frame)) == (2, True, 1)
    assert result.frame.raw[0] == "\n".join(PY_TRACE)


@pytest.mark.parametrize("bad", [0, -1])
def test_max_events_must_be_positive(bad):
    with pytest.raises(InvalidInput, match="max_events"):
        parse_pod_log("x", pod="p", container="c", max_events=bad)


@pytest.mark.parametrize("text", ["", "\n", "\n\n  \n"])
def test_empty_text_gives_an_empty_contract_frame(text):
    result = parse(text, timestamps=True)
    assert (result.events, result.truncated, result.dropped) == (0, False, 0)
    assert result.frame.empty
    assert list(result.frame.columns) == list(CONTRACTS["logs"].columns)
    assert str(result.frame.time.dtype) == "datetime64[ns, UTC]"


def test_frame_meets_the_contract():
    text = prefixed(*PY_TRACE, *JAVA, '{"level":30,"msg":"ok"}', "bare")
    frame = parse(text, timestamps=True).frame
    validate(frame, "logs")
    assert str(frame.time.dtype) == "datetime64[ns, UTC]"
    assert set(frame.pod) == {"api-0"} and set(frame.container) == {"api"}
    assert frame.level.isin(["debug", "info", "warning", "error", "critical"]).all()
    assert not frame.isna().any().any()


def test_parse_line_returns_utc_timestamps():
    parsed = parse_line("2026-11-03T16:02:11+02:00 INFO x")
    assert parsed.time == ts("2026-11-03T14:02:11Z")
    assert str(parsed.time.tz) == "UTC"
    assert parse_line("hello") == (None, None, "hello")
    assert parse_line("2026-13-45 14:02:11 INFO impossible date").time is None
    assert parse_line("") == (None, None, "")


def test_importing_the_module_does_not_import_pandas():
    import subprocess
    import sys

    code = "import sys, incident_lib.sources.logparse; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_speed():
    """100k mixed lines (JSON, plain, tracebacks) well under a few seconds."""
    block = prefixed(
        '{"level":"info","msg":"GET /v1/orders 200 took 12ms"}',
        "2026-11-03 14:02:11,120 WARNING [w-1] api.db: slow query took 2129ms",
        *PY_TRACE[:5],
        *JAVA[:4],
    )
    text = block * (100_000 // block.count("\n"))
    start = time.perf_counter()
    result = parse_pod_log(text, pod="p", container="c")
    elapsed = time.perf_counter() - start
    assert result.lines >= 99_000
    assert elapsed < 5, f"{result.lines / elapsed:,.0f} lines/s"


# -- real logs -----------------------------------------------------------------------


def _rebuild(raws: pd.Series, times: pd.Series) -> str:
    """The kubelet-prefixed text a container's events were read from."""
    out = []
    for t, raw in zip(times, raws, strict=True):
        stamp = f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond * 1000 + t.nanosecond:09d}Z"
        out.extend(f"{stamp} {line}\n" for line in raw.split("\n"))
    return "".join(out)


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_demo_logs_round_trip(demo_root, scenario):
    """Each container's demo events, written back as kubelet text, parse to the same events."""
    from incident_lib.infra.evidence import EvidenceStore

    logs = EvidenceStore(demo_root / scenario).read("kubernetes", "logs")
    for (pod, container), want in logs.groupby(["pod", "container"], sort=False):
        want = want.reset_index(drop=True)
        got = parse_pod_log(_rebuild(want.raw, want.time), pod=pod, container=container).frame
        assert got.raw.tolist() == want.raw.tolist(), (pod, container)
        assert got.time.tolist() == want.time.tolist(), (pod, container)
        assert got.level.tolist() == want.level.tolist(), (pod, container)
        # our messages keep [thread] logger: prefixes and append the exception
        assert all(w in g for w, g in zip(want.message, got.message, strict=True))


_LOGHUB_LEVELS = {
    "notice": "info",
    "info": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "fatal": "critical",
}


@pytest.mark.skipif(not LOGHUB.is_dir(), reason=f"needs the shared Loghub data at {LOGHUB}")
@pytest.mark.parametrize("system", ["Apache", "HDFS", "Hadoop", "OpenStack", "Spark", "Zookeeper"])
def test_loghub_levels_times_and_messages(system):
    """Each Loghub sample: every level as Loghub labelled it, its content ends the message."""
    log = LOGHUB / system / f"{system}_2k.log"
    truth = pd.read_csv(f"{log}_structured.csv")
    result = parse(log.read_text(), timestamps=False)
    frame = result.frame
    assert result.events == len(truth) == len(frame)
    assert frame.level.tolist() == truth.Level.str.lower().map(_LOGHUB_LEVELS).tolist()
    assert frame.level.nunique() > 1 or system == "Spark"  # Spark's sample is all INFO
    for message, content in zip(frame.message, truth.Content, strict=True):
        assert message.endswith(str(content).strip()), (message, content)
    assert frame.time.dt.year.between(2005, 2017).all()


# -- one logged failure is one event (issue 8) -----------------------------------------

#: Spring WebFlux with logstash-logback's JSON encoder: the JSON line, then the raw trace
#: with Reactor's checkpoint block and the original stack trace.
WEBFLUX = r"""{"@timestamp":"2026-11-10T17:07:25.326Z","@version":"1","message":"[7f3a1c2e-118] 500 Server Error for HTTP POST \"/api/v1/checkout\"","logger_name":"org.springframework.boot.autoconfigure.web.reactive.error.AbstractErrorWebExceptionHandler","thread_name":"reactor-http-epoll-3","level":"ERROR","level_value":40000}
org.springframework.web.reactive.function.client.WebClientRequestException: Connection refused: payment-gateway.prod.svc.cluster.local/10.0.31.7:8080
	at org.springframework.web.reactive.function.client.ExchangeFunctions$DefaultExchangeFunction.lambda$wrapException$9(ExchangeFunctions.java:136)
	Suppressed: reactor.core.publisher.FluxOnAssembly$OnAssemblyException: 
Error has been observed at the following site(s):
	*__checkpoint ⇢ Request to POST http://payment-gateway.prod.svc.cluster.local:8080/v1/authorize [DefaultWebClient]
	*__checkpoint ⇢ Handler com.example.checkout.web.CheckoutController#checkout(CheckoutRequest) [DispatcherHandler]
	*__checkpoint ⇢ HTTP POST "/api/v1/checkout" [ExceptionHandlingWebHandler]
Original Stack Trace:
		at org.springframework.web.reactive.function.client.ExchangeFunctions$DefaultExchangeFunction.lambda$wrapException$9(ExchangeFunctions.java:136)
		at reactor.core.publisher.MonoErrorSupplied.subscribe(MonoErrorSupplied.java:55)
		at reactor.core.publisher.Mono.subscribe(Mono.java:4512)
Caused by: io.netty.channel.AbstractChannel$AnnotatedConnectException: Connection refused: payment-gateway.prod.svc.cluster.local/10.0.31.7:8080
Caused by: java.net.ConnectException: Connection refused
	at java.base/sun.nio.ch.Net.pollConnect(Native Method)
	at java.base/sun.nio.ch.Net.pollConnectNow(Net.java:672)
	at io.netty.channel.socket.nio.NioSocketChannel.doFinishConnect(NioSocketChannel.java:337)
	... 1 common frames omitted"""  # noqa: E501, W291

#: the same failure through a shipper that strips leading whitespace, Reactor 3.4's
#: assembly-trace form (``*__Mono.error``, ``|_ Mono.map``) and a ``... N more`` line
WEBFLUX_FLAT = r"""{"@timestamp":"2026-11-10T17:07:26.001Z","message":"payment authorization failed for order 5418621","logger_name":"com.example.checkout.payment.PaymentClient","level":"WARN"}
reactor.core.Exceptions$ReactiveException: java.util.concurrent.TimeoutException: Did not observe any item or terminal signal within 5000ms in 'flatMap' (and no fallback has been configured)
at reactor.core.Exceptions.propagate(Exceptions.java:410)
Suppressed: reactor.core.publisher.FluxOnAssembly$OnAssemblyException: 
Assembly trace from producer [reactor.core.publisher.MonoTimeout] :
	reactor.core.publisher.Mono.timeout(Mono.java:4822)
	com.example.checkout.payment.PaymentClient.authorize(PaymentClient.java:88)
Error has been observed at the following site(s):
*__Mono.timeout ⇢ at com.example.checkout.payment.PaymentClient.authorize(PaymentClient.java:88)
|_     Mono.map ⇢ at com.example.checkout.web.CheckoutController.checkout(CheckoutController.java:52)
Original Stack Trace:
at reactor.core.publisher.BlockingSingleSubscriber.blockingGet(BlockingSingleSubscriber.java:87)
Caused by: java.util.concurrent.TimeoutException: Did not observe any item or terminal signal within 5000ms in 'flatMap' (and no fallback has been configured)
	at reactor.core.publisher.FluxTimeout$TimeoutMainSubscriber.handleTimeout(FluxTimeout.java:296)
	... 12 more"""  # noqa: E501, W291

NEXT_JSON = (
    '{"@timestamp":"2026-11-10T17:07:27.412Z","message":"checkout completed for order 5418620",'
    '"logger_name":"com.example.checkout.web.CheckoutController","level":"INFO"}'
)


@pytest.mark.parametrize("kubelet", [False, True])
def test_json_line_and_its_raw_java_trace_with_reactor_blocks_are_one_event(kubelet):
    lines = [*WEBFLUX.split("\n"), *WEBFLUX_FLAT.split("\n"), NEXT_JSON]
    text = prefixed(*lines) if kubelet else "\n".join(lines) + "\n"
    frame = parse(text, timestamps=kubelet).frame
    assert len(frame) == 3, frame.message.tolist()
    assert frame.level.tolist() == ["error", "warning", "info"]
    assert frame.raw.tolist() == [WEBFLUX, WEBFLUX_FLAT, NEXT_JSON]
    # fields, not one opaque string: the logger (abbreviated as logback does), the message
    # and the exception line the JSON line logged
    assert frame.message[0] == (
        "o.s.b.a.w.r.e.AbstractErrorWebExceptionHandler: [7f3a1c2e-118] 500 Server Error for "
        'HTTP POST "/api/v1/checkout" | org.springframework.web.reactive.function.client.'
        "WebClientRequestException: Connection refused: "
        "payment-gateway.prod.svc.cluster.local/10.0.31.7:8080"
    )
    assert frame.message[1].startswith(
        "c.e.c.p.PaymentClient: payment authorization failed for order 5418621 | "
        "reactor.core.Exceptions$ReactiveException: java.util.concurrent.TimeoutException"
    )
    assert frame.message[2] == "c.e.c.w.CheckoutController: checkout completed for order 5418620"
    assert frame.time.tolist() == [
        ts("2026-11-10T17:07:25.326Z") if not kubelet else ts(T),
        ts("2026-11-10T17:07:26.001Z") if not kubelet else ts(T),
        ts("2026-11-10T17:07:27.412Z") if not kubelet else ts(T),
    ]


def test_a_java_exception_after_an_info_json_line_is_not_folded_into_it():
    text = "\n".join(
        [
            '{"ts":"2026-11-10T17:07:25Z","level":"info","msg":"shutting down"}',
            "java.lang.IllegalStateException: executor already terminated",
            "\tat com.example.Pool.submit(Pool.java:12)",
        ]
    )
    frame = parse(text).frame
    assert frame.level.tolist() == ["info", "error"]
    assert frame.message[1] == "java.lang.IllegalStateException: executor already terminated"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"logger": "api.payments"}, "api.payments: charge failed"),
        ({"logger_name": "com.example.checkout.Pay"}, "com.example.checkout.Pay: charge failed"),
        ({"log.logger": "org.example.billing.internal.Charger"}, "o.e.b.i.Charger: charge failed"),
        ({"log": {"logger": "billing", "level": "error"}}, "billing: charge failed"),
        (
            {"error.type": "TimeoutError", "error.message": "pool exhausted"},
            "charge failed | TimeoutError: pool exhausted",
        ),
        (
            {"error.stack": "TypeError: x is undefined\n    at f (/app/a.js:1:1)"},
            "charge failed | TypeError: x is undefined",
        ),
        (
            {"error": {"stack_trace": "java.io.IOException: broken pipe\n\tat a.B(B.java:1)"}},
            "charge failed | java.io.IOException: broken pipe",
        ),
        (
            {"exception.type": "ValueError", "exception.message": "bad amount"},
            "charge failed | ValueError: bad amount",
        ),
    ],
)
def test_json_fields_logger_and_flattened_errors(fields, message):
    row = one(json.dumps({"severity": "ERROR", "msg": "charge failed", **fields}))
    assert (row.level, row.message) == ("error", message)


PY_JSON_TRACE = [
    "2026-11-03 14:02:11,120 ERROR [batch-worker] orders.batch: flush of batch 7 failed",
    "Traceback (most recent call last):",
    '  File "/app/orders/batch.py", line 88, in flush',
    "    session.commit()",
    '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/orm/session.py", line 1969, in '
    "commit",
    "    trans.commit(_to_root=True)",
    "sqlalchemy.exc.TimeoutError: QueuePool limit of size 20 overflow 10 reached, connection "
    "timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "/app/orders/batch.py", line 91, in flush',
    "    session.rollback()",
    "sqlalchemy.exc.PendingRollbackError: Can't reconnect until invalid transaction is rolled "
    "back.",
]


def test_python_traceback_with_a_chain_is_one_event_of_its_log_line():
    text = prefixed(*PY_JSON_TRACE, '{"level":"info","msg":"next batch"}')
    frame = parse(text, timestamps=True).frame
    assert len(frame) == 2
    assert frame.raw[0] == "\n".join(PY_JSON_TRACE)
    assert frame.message[0] == (
        "[batch-worker] orders.batch: flush of batch 7 failed | sqlalchemy.exc."
        "PendingRollbackError: Can't reconnect until invalid transaction is rolled back."
    )


#: zap's ``logger.Panic``: the JSON line, then the runtime's panic and goroutine dump
ZAP_PANIC = [
    '{"level":"panic","ts":1793714531.123,"caller":"server/handler.go:88",'
    '"msg":"nil order in checkout handler","order_id":"o-77"}',
    "panic: nil order in checkout handler",
    "",
    "goroutine 42 [running]:",
    "go.uber.org/zap/zapcore.CheckWriteAction.OnWrite(0x2, 0xc000132000, {0x0, 0x0, 0x0})",
    "\t/go/pkg/mod/go.uber.org/zap@v1.27.0/zapcore/entry.go:196 +0x54",
    "go.uber.org/zap.(*Logger).Panic(0xc0001a4000, {0xa2b3c4, 0x1f}, {0x0, 0x0, 0x0})",
    "\t/go/pkg/mod/go.uber.org/zap@v1.27.0/logger.go:285 +0x51",
    "main.(*Handler).Checkout(0xc0001b0000, {0xb1c2d0, 0xc0002a0000}, 0xc0002b4000)",
    "\t/app/server/handler.go:88 +0x1a5",
    "created by net/http.(*Server).Serve in goroutine 1",
    "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4",
    "",
    "goroutine 1 [IO wait]:",
    "internal/poll.runtime_pollWait(0x7f1c2e1d8e08, 0x72)",
    "\t/usr/local/go/src/runtime/netpoll.go:351 +0x85",
]


def test_a_go_panic_logged_by_zap_is_one_event_with_its_goroutine_dump():
    text = prefixed(*ZAP_PANIC, '{"level":"info","ts":1793714540.0,"msg":"starting server"}')
    frame = parse(text, timestamps=True).frame
    assert frame.level.tolist() == ["critical", "info"]
    assert frame.raw[0] == "\n".join(ZAP_PANIC)  # blank lines inside the dump included
    assert frame.message[0] == "nil order in checkout handler"


def test_a_go_panic_after_an_error_line_it_did_not_log_is_its_own_event():
    text = prefixed(
        '{"level":"error","msg":"payment call failed"}',
        "panic: runtime error: index out of range [3] with length 3",
        "",
        "goroutine 7 [running]:",
        "main.pick(...)",
        "\t/app/main.go:20",
    )
    frame = parse(text, timestamps=True).frame
    assert frame.level.tolist() == ["error", "critical"]
    assert frame.raw[1].count("\n") == 4
