"""Log text of the demo services: line formats, request lines, stack traces, messages.

The formats are those real services write: structlog JSON, Python logging's
default format, gunicorn, logstash-logback-encoder JSON, istio-agent, Envoy's
access log and the JVM's unified GC log. Planted secrets enter through
:func:`env_dump` and the callers' header dumps and URLs.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ._clock import from_ns, iso_z, py_asctime, split_ns
from ._random import FastRandom, cumulative
from ._secrets import AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, DD_API_KEY

__all__ = [
    "API_INGRESS_IPS",
    "API_TRACE_FATAL",
    "API_TRACE_TIMEOUT",
    "CHECKOUT_PATHS",
    "CHECKOUT_PATH_CUM",
    "CHECKOUT_TRACE",
    "FATAL_RESERVED",
    "FATAL_TOO_MANY",
    "QUEUEPOOL",
    "agent_line",
    "api_request",
    "env_dump",
    "envoy_line",
    "fatal",
    "gc_line",
    "gunicorn_line",
    "java_line",
    "json_line",
    "plain_line",
]


def env_dump(dsn: str) -> str:
    """The settings line a careless start-up prints (planted secrets inside)."""
    return (
        f"environment: DATABASE_URL={dsn} AWS_REGION=eu-west-1 "
        f"AWS_ACCESS_KEY_ID={AWS_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={AWS_SECRET_ACCESS_KEY} "
        f"DD_API_KEY={DD_API_KEY} DD_ENV=prod"
    )


# -- Python (api) ------------------------------------------------------------------------
def json_line(t: int, level: str, logger: str, msg: str, **extra: Any) -> str:
    """A structlog JSON line (``ts`` / ``level`` / ``msg`` spelling)."""
    body = {"ts": iso_z(t, 6), "level": level, "logger": logger, "msg": msg, **extra}
    return json.dumps(body)


def plain_line(t: int, level: str, thread: str, logger: str, msg: str) -> str:
    """A line of Python logging's ``%(asctime)s %(levelname)s [%(threadName)s] %(name)s:``."""
    return f"{py_asctime(t)} {level.upper()} [{thread}] {logger}: {msg}"


def gunicorn_line(t: int, pid: int, level: str, msg: str) -> str:
    """A gunicorn master / worker line."""
    stamp = from_ns(t).strftime("[%Y-%m-%d %H:%M:%S +0000]")
    return f"{stamp} [{pid}] [{level.upper()}] {msg}"


API_INGRESS_IPS = ("10.0.20.11", "10.0.21.14")
_API_PATHS = (
    ("GET", "/v1/products/{sku}"),
    ("GET", "/v1/orders/{oid}"),
    ("GET", "/v1/orders?customer_id={cid}&page={page}"),
    ("POST", "/v1/orders"),
    ("PUT", "/v1/carts/{cart}/items"),
    ("GET", "/v1/carts/{cart}"),
    ("GET", "/v1/search?q={q}"),
)
_API_PATH_CUM = cumulative((0.33, 0.15, 0.12, 0.06, 0.12, 0.14, 0.08))
_WORDS = ("shoes", "red+dress", "usb-c", "coffee", "lamp", "socks", "backpack", "gift+card")


def api_request(r: FastRandom, slow: float) -> tuple[str, str, int, int]:
    """A sampled api request: method, path, status and milliseconds (slow with ``slow``)."""
    method, tpl = r.choice(_API_PATHS, _API_PATH_CUM)
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


QUEUEPOOL = (
    "QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00 "
    "(Background on this error at: https://sqlalche.me/e/20/3o7r)"
)
FATAL_RESERVED = "remaining connection slots are reserved for non-replication superuser connections"
FATAL_TOO_MANY = "sorry, too many clients already"


def fatal(kind: str, host: str, ip: str) -> str:
    """psycopg2's message when PostgreSQL refuses a new connection with ``FATAL: kind``."""
    return (
        f'(psycopg2.OperationalError) connection to server at "{host}" ({ip}), '
        f"port 5432 failed: FATAL:  {kind}"
    )


API_TRACE_TIMEOUT = "\n".join(
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

#: ``{kind}``: the FATAL message
API_TRACE_FATAL = "\n".join(
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


# -- Java (checkout) and its Istio sidecar -----------------------------------------------
_LOGBACK_LEVELS = {
    "debug": ("DEBUG", 10000),
    "info": ("INFO", 20000),
    "warning": ("WARN", 30000),
    "error": ("ERROR", 40000),
}


def java_line(t: int, level: str, logger: str, thread: str, msg: str) -> str:
    """A logstash-logback-encoder JSON line."""
    name, value = _LOGBACK_LEVELS[level]
    return (  # what json.dumps(..., separators=(",", ":")) writes, at a third of the cost
        f'{{"@timestamp":"{iso_z(t, 3)}","@version":"1","message":{json.dumps(msg)},'
        f'"logger_name":"{logger}","thread_name":"{thread}","level":"{name}",'
        f'"level_value":{value}}}'
    )


def agent_line(t: int, level: str, msg: str, scope: str = "") -> str:
    """istio-agent's own lines: ``<time>\\t<level>\\t[<scope>\\t]<message>``."""
    return f"{iso_z(t, 6)}\t{level}\t{scope + chr(9) if scope else ''}{msg}"


def gc_line(t: int, gc_id: int, r: FastRandom) -> str:
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


CHECKOUT_PATHS = (
    ("POST", "/api/v1/checkout"),
    ("GET", "/api/v1/cart/{cart}"),
    ("POST", "/api/v1/cart/{cart}/items"),
    ("POST", "/api/v1/shipping/quote"),
    ("POST", "/api/v1/promotions/validate"),
)
CHECKOUT_PATH_CUM = cumulative((0.2, 0.35, 0.2, 0.15, 0.1))
_CLIENT_IPS = ("203.0.113.7", "198.51.100.23", "192.0.2.146", "203.0.113.88", "198.51.100.4")
_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "shop-android/5.12.0 (Pixel 8; Android 15)",
)


def envoy_line(
    t: int,
    r: FastRandom,
    pod_ip: str,
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
    peer = f"{r.choice(_CLIENT_IPS)}"
    upstream = "-" if status == 504 else str(max(duration - r.integers(0, 3), 0))
    entry = (
        f'"{method} {path} HTTP/1.1" {status} {flags} {details} - "-" '
        f"{r.integers(200, 1800)} {r.integers(20, 900)} {duration} {upstream} "
        f'"{peer}" "{r.choice(_AGENTS)}" "{r.uuid4()}" "shop.example.com" "{pod_ip}:8080" '
        f"inbound|8080|| 127.0.0.6:{r.integers(32768, 60999)} {pod_ip}:8080 "
        f"10.0.20.{r.integers(10, 40)}:0 outbound_.8080_._.checkout.prod.svc.cluster.local default"
    )
    return f"[{iso_z(t - duration * 10**6, 3)}] {entry}"


#: ``{n}``: the number of the payment-retry thread
CHECKOUT_TRACE = "\n".join(
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
