"""The receiver's HTTP side: webhook routes, sender authentication, a bounded work queue.

:class:`Receiver` accepts alert webhooks on loopback or in a pod and hands each
parsed notice to an injected ``work`` callable; it knows nothing of incidents,
captures or bundles (that is the pipeline's job). Everything is injected: the
routes (path -> parser and bearer token), ``work``, ``abandon`` and the
Prometheus registry, so tests run it against fake parsers on port 0.

A webhook request is checked in this order, cheapest first and before the body
is read: method (``405``), route (``404``), bearer token (``401`` with
``WWW-Authenticate: Bearer``; a route without a token is one whose parser checks
its own signature, PagerDuty's), ``Content-Type: application/json`` or
``application/*+json`` (``415``), ``Content-Length`` (missing ``411``, malformed
``400``, over the cap ``413``).
The parser then turns the body into notices or raises an
:class:`~incident_lib.core.errors.InvalidInput` carrying ``status`` and
``reason`` (``PayloadRejected``), answered as ``{"error": reason}``. Accepted
notices are queued and answered ``202`` with their keys; a full queue answers
``503`` with ``Retry-After`` and queues nothing of that request.

The queue runs at most ``workers`` jobs at once and never two jobs of one notice
key at the same time: a later notice for a key being worked on waits for the
earlier one. A delivery already queued, running or recently done is not queued
again (it is answered ``202`` and listed under ``duplicates``).

No token, signature, secret or payload is ever written to a response or a log
line: a failing job is logged with its key and the exception's type only.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from ..core.errors import InvalidInput

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "Drained",
    "NoticeLike",
    "Receiver",
    "WebhookRoute",
]

logger = logging.getLogger(__name__)

HEALTHZ = "/healthz"
METRICS = "/metrics"
# seconds a time-to-bundle may take; the goal is 30 s (issue 14)
_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0)
# request headers never handed to a parser (the bearer token, cookies)
_PRIVATE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# how often the serving loop looks for a shutdown request (the stdlib's is 0.5 s)
_POLL_SECONDS = 0.1
# bytes of an unread body drained before closing, so the client reads our answer
_DRAIN_LIMIT = 64 * 1024


class NoticeLike(Protocol):
    """What the server needs of a notice (``receiver.alerts.Notice`` has it)."""

    @property
    def key(self) -> str:
        """One incident per key; jobs of one key never run at the same time."""

    @property
    def delivery(self) -> str:
        """Identifies one delivery, for duplicate detection."""


N = TypeVar("N", bound=NoticeLike)


@dataclass(frozen=True, slots=True)
class WebhookRoute(Generic[N]):
    """A webhook route: which parser reads it and the bearer token that guards it.

    Parameters
    ----------
    source
        The sender's name, the ``source`` label of the metrics (``"alertmanager"``).
    parser
        ``parser(body, headers) -> notices``; ``headers`` are lower-cased and
        never include ``Authorization`` or ``Cookie``. Raises an ``InvalidInput``
        with ``status`` (a 4xx) and ``reason`` to reject the payload.
    token
        The shared bearer token the sender must present, or ``None`` when the
        parser verifies the sender itself (a signature). Never shown in ``repr``.
    """

    source: str
    parser: Callable[[bytes, Mapping[str, str]], Sequence[N]]
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Drained(Generic[N]):
    """What :meth:`Receiver.shutdown` did not finish.

    Attributes
    ----------
    abandoned
        Notices queued and never started; ``abandon`` was called for each.
    unfinished
        Notices whose job was still running at the deadline; ``abandon`` was
        called for each too (the job's thread is left to end with the process).
    """

    abandoned: tuple[N, ...]
    unfinished: tuple[N, ...]


@dataclass(slots=True)
class _Job(Generic[N]):
    notice: N
    source: str
    received: float  # time.monotonic() when the request arrived


class _Metrics:
    """The receiver's own metrics, in one registry (never the global one)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.registry = registry
        self.received = Counter(
            "alerts_received_total",
            "Notices parsed from accepted webhook payloads, by sender",
            ["source"],
            registry=registry,
        )
        self.rejected = Counter(
            "notices_rejected_total",
            "Webhook requests answered with an error status, by sender and status",
            ["source", "status"],
            registry=registry,
        )
        self.duplicates = Counter(
            "notices_duplicate_total",
            "Notices not queued again because their delivery was already seen",
            ["source"],
            registry=registry,
        )
        self.bundles = Counter(
            "bundles_total",
            "Jobs ended, by outcome (ok, failed, abandoned)",
            ["outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "failures_total",
            "Jobs that raised, by sender",
            ["source"],
            registry=registry,
        )
        self.seconds = Histogram(
            "alert_to_bundle_seconds",
            "Seconds from receiving a webhook to the end of its job",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.depth = Gauge(
            "queue_depth",
            "Notices queued and not yet started",
            registry=registry,
        )

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _QueueFull(Exception):
    """The work queue has no room for a request's notices."""


class _Draining(Exception):
    """The receiver is shutting down and accepts nothing new."""


class Receiver(Generic[N]):
    """An HTTP server for alert webhooks with a bounded, per-key serial work queue.

    Parameters
    ----------
    routes
        Webhook path (``"/alertmanager"``) -> :class:`WebhookRoute`.
    work
        Called once per queued notice on a worker thread; an exception counts
        as a failure (logged without the payload).
    abandon
        Called by :meth:`shutdown` for each notice it does not let finish.
    host, port
        Where to listen; port ``0`` picks a free port (see :attr:`url`).
    workers
        How many jobs run at once (at least 1).
    max_queue
        How many notices may wait; a request that does not fit is answered 503.
    max_body
        The request size cap in bytes (413 above it).
    retry_after
        Seconds sent in ``Retry-After`` with a 503.
    read_timeout
        Seconds a connection may stay silent while a request is read.
    registry
        The Prometheus registry for :attr:`metrics`; a fresh one by default.
    remember
        How many finished deliveries are remembered for duplicate detection.

    Raises
    ------
    InvalidInput
        A route path or a number is unusable.
    """

    def __init__(
        self,
        routes: Mapping[str, WebhookRoute[N]],
        work: Callable[[N], None],
        *,
        abandon: Callable[[N], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 2,
        max_queue: int = 64,
        max_body: int = 1024 * 1024,
        retry_after: int = 30,
        read_timeout: float = 10.0,
        registry: CollectorRegistry | None = None,
        remember: int = 4096,
    ) -> None:
        for path, route in routes.items():
            if not path.startswith("/") or "?" in path or path in (HEALTHZ, METRICS):
                raise InvalidInput(
                    f"receiver route {path!r}: give a path starting with '/', without a "
                    f"query, other than {HEALTHZ} and {METRICS}"
                )
            if route.token is not None and not route.token.strip():
                raise InvalidInput(
                    f"receiver route {path!r}: the bearer token is empty; give one or None"
                )
        numbers = {
            "workers": workers,
            "max_queue": max_queue,
            "max_body": max_body,
            "remember": remember,
        }
        for name, value in numbers.items():
            if value < 1:
                raise InvalidInput(f"receiver {name} must be at least 1, got {value}")
        if retry_after < 0 or read_timeout <= 0:
            raise InvalidInput("receiver retry_after must be >= 0 and read_timeout > 0")
        if registry is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry(auto_describe=True)
        self._routes = dict(routes)
        self._work = work
        self._abandon = abandon
        self._host = host
        self._port = port
        self._workers = workers
        self._max_queue = max_queue
        self._max_body = max_body
        self._retry_after = retry_after
        self._read_timeout = read_timeout
        self._remember = remember
        self.metrics = _Metrics(registry)

        self._lock = threading.Condition()
        self._pending: deque[_Job[N]] = deque()
        self._running: dict[int, _Job[N]] = {}  # id(job) -> job
        self._running_keys: set[str] = set()
        self._seen_live: set[str] = set()  # deliveries queued or running
        self._seen_done: OrderedDict[str, None] = OrderedDict()
        self._draining = False
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://host:port`` of the listening server (after :meth:`start`).

        Raises
        ------
        RuntimeError
            The server has not been started.
        """
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        host, port = self._server.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}"

    @property
    def draining(self) -> bool:
        """Whether :meth:`shutdown` has begun (new requests are answered 503)."""
        with self._lock:
            return self._draining

    def start(self) -> Receiver[N]:
        """Bind, start the worker threads and serve in a background thread.

        Returns
        -------
        Receiver
            ``self``, for chaining.

        Raises
        ------
        RuntimeError
            Already started.
        OSError
            The address cannot be bound.
        """
        if self._server is not None or self._stopped:
            raise RuntimeError("a receiver is started once")
        server_class = _V6Server if ":" in self._host else _V4Server
        server = server_class((self._host, self._port), _handler_for(self))
        self._server = server
        for number in range(self._workers):
            thread = threading.Thread(
                target=self._worker, name=f"receiver-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._serve_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name="receiver-http",
            daemon=True,
        )
        self._serve_thread.start()
        logger.info("receiver listening on %s", self.url)
        return self

    def shutdown(self, timeout: float = 30.0) -> Drained[N]:
        """Stop accepting, let running jobs finish, abandon the rest.

        New requests are answered 503 from the first moment. Queued notices that
        have not started are taken off the queue and passed to ``abandon``;
        running jobs get until ``timeout`` seconds to finish, and those still
        running then are passed to ``abandon`` too. The HTTP server is closed
        last. Calling it again returns an empty result.

        Parameters
        ----------
        timeout
            Seconds running jobs may take to finish.

        Returns
        -------
        Drained
            The notices abandoned before starting and those left unfinished.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            if self._draining:
                return Drained((), ())
            self._draining = True
            queued = list(self._pending)
            self._pending.clear()
            for job in queued:
                self._seen_live.discard(job.notice.delivery)
            self.metrics.depth.set(0)
            self._lock.notify_all()
        for job in queued:
            self._call_abandon(job)
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        with self._lock:
            late = list(self._running.values())
        for job in late:
            self._call_abandon(job)
        self._stopped = True
        server = self._server
        if server is not None:
            server.shutdown()
            server.server_close()
        logger.info(
            "receiver stopped: %d queued notice(s) abandoned, %d unfinished",
            len(queued),
            len(late),
        )
        return Drained(tuple(job.notice for job in queued), tuple(job.notice for job in late))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no notice is queued or running.

        Parameters
        ----------
        timeout
            Seconds to wait at most; ``None`` waits as long as it takes.

        Returns
        -------
        bool
            Whether the queue became idle in time.
        """
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and not self._running, timeout)

    def __enter__(self) -> Receiver[N]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ queue
    def _submit(self, route: WebhookRoute[N], notices: Sequence[N], received: float) -> list[str]:
        """Queue the new notices of one request, all or none; return duplicate keys."""
        with self._lock:
            if self._draining:
                raise _Draining
            fresh: list[N] = []
            duplicates: list[str] = []
            deliveries: set[str] = set()
            for notice in notices:
                delivery = notice.delivery
                if (
                    delivery in self._seen_live
                    or delivery in self._seen_done
                    or delivery in deliveries
                ):
                    duplicates.append(notice.key)
                else:
                    deliveries.add(delivery)
                    fresh.append(notice)
            if len(self._pending) + len(fresh) > self._max_queue:
                raise _QueueFull
            for notice in fresh:
                self._pending.append(_Job(notice, route.source, received))
                self._seen_live.add(notice.delivery)
            self.metrics.depth.set(len(self._pending))
            self._lock.notify_all()
        if duplicates:
            self.metrics.duplicates.labels(route.source).inc(len(duplicates))
        return duplicates

    def _next_job(self) -> _Job[N] | None:
        """The first queued job whose key is not running (caller holds the lock)."""
        for job in self._pending:
            if job.notice.key not in self._running_keys:
                self._pending.remove(job)
                return job
        return None

    def _worker(self) -> None:
        while True:
            with self._lock:
                job = None
                while not self._draining:
                    job = self._next_job()
                    if job is not None:
                        break
                    self._lock.wait()
                if job is None:
                    return
                self._running[id(job)] = job
                self._running_keys.add(job.notice.key)
                self.metrics.depth.set(len(self._pending))
            ok = self._run(job)
            with self._lock:
                self._running.pop(id(job), None)
                self._running_keys.discard(job.notice.key)
                self._seen_live.discard(job.notice.delivery)
                if ok:
                    self._seen_done[job.notice.delivery] = None
                    while len(self._seen_done) > self._remember:
                        self._seen_done.popitem(last=False)
                self._lock.notify_all()

    def _run(self, job: _Job[N]) -> bool:
        try:
            self._work(job.notice)
        except Exception as exc:  # the job's failure is counted, never fatal to the worker
            self.metrics.failures.labels(job.source).inc()
            self.metrics.bundles.labels("failed").inc()
            # the type only: an exception's message may quote the payload
            logger.error(
                "receiver job for %s (%s) failed: %s",
                job.notice.key,
                job.source,
                type(exc).__name__,
            )
            return False
        finally:
            self.metrics.seconds.observe(time.monotonic() - job.received)
        self.metrics.bundles.labels("ok").inc()
        return True

    def _call_abandon(self, job: _Job[N]) -> None:
        self.metrics.bundles.labels("abandoned").inc()
        if self._abandon is None:
            return
        try:
            self._abandon(job.notice)
        except Exception as exc:  # marking one notice must not stop the shutdown
            logger.error(
                "receiver could not mark %s as abandoned: %s",
                job.notice.key,
                type(exc).__name__,
            )

    # ------------------------------------------------------------------ HTTP
    def _handle(self, request: _Handler, method: str) -> None:
        received = time.monotonic()
        path = request.path.split("?", 1)[0]
        route = self._routes.get(path)
        source = route.source if route is not None else ""
        if path == METRICS and method == "GET":
            # served while draining too: the last values are the interesting ones
            request.answer_bytes(
                200, self.metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8"
            )
            return
        if self.draining:
            self._reject(request, source, 503, "the receiver is shutting down", retry=True)
            return
        if path in (HEALTHZ, METRICS):
            if method != "GET":
                request.answer(405, {"error": "use GET"}, headers={"Allow": "GET"})
            else:
                request.answer(200, {"status": "ok"})
            return
        if route is None:
            request.answer(404, {"error": "no webhook route at this path"})
            return
        if method != "POST":
            self._reject(request, source, 405, "use POST", headers={"Allow": "POST"})
            return
        if route.token is not None and not _bearer_ok(
            request.headers.get("Authorization"), route.token
        ):
            self._reject(
                request,
                source,
                401,
                "missing or invalid bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="incident-receiver"'},
            )
            return
        media = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            self._reject(request, source, 415, "send Content-Type: application/json")
            return
        length_text = request.headers.get("Content-Length")
        if length_text is None or request.headers.get("Transfer-Encoding") is not None:
            # a chunked body has no length to check before reading, and a length
            # next to a transfer coding is ambiguous: both are refused
            self._reject(request, source, 411, "send a Content-Length, not a chunked body")
            return
        try:
            length = int(length_text.strip())
        except ValueError:
            length = -1
        if length < 0:
            self._reject(request, source, 400, "the Content-Length is not a number")
            return
        if length > self._max_body:
            self._reject(request, source, 413, f"the request is larger than {self._max_body} bytes")
            return
        body = request.read_body(length)
        if body is None:
            self._reject(request, source, 400, "the request body ended early")
            return
        headers = {
            name.lower(): value
            for name, value in request.headers.items()
            if name.lower() not in _PRIVATE_HEADERS
        }
        try:
            notices = list(route.parser(body, headers))
        except InvalidInput as exc:
            status = getattr(exc, "status", 400)
            if not isinstance(status, int) or not 400 <= status < 500:
                status = 400
            reason = getattr(exc, "reason", None)
            self._reject(request, source, status, str(reason or exc))
            return
        except Exception as exc:  # a parser bug: the sender will retry
            logger.error("receiver parser for %s failed: %s", source, type(exc).__name__)
            self._reject(request, source, 500, "the payload could not be processed")
            return
        self.metrics.received.labels(source).inc(len(notices))
        try:
            duplicates = self._submit(route, notices, received)
        except _Draining:
            self._reject(request, source, 503, "the receiver is shutting down", retry=True)
            return
        except _QueueFull:
            self._reject(request, source, 503, "the work queue is full", retry=True)
            return
        request.answer(
            202,
            {"keys": [notice.key for notice in notices], "duplicates": duplicates},
        )

    def _reject(
        self,
        request: _Handler,
        source: str,
        status: int,
        reason: str,
        *,
        headers: Mapping[str, str] | None = None,
        retry: bool = False,
    ) -> None:
        if source:
            self.metrics.rejected.labels(source, str(status)).inc()
        extra = dict(headers or {})
        if retry:
            extra["Retry-After"] = str(self._retry_after)
        request.answer(status, {"error": reason}, headers=extra)


def _bearer_ok(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (constant-time compare)."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


class _V4Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        # the stdlib prints a traceback to stderr (a client that went away, mostly)
        error = sys.exc_info()[1]
        logger.debug("receiver connection error: %s", type(error).__name__)


class _V6Server(_V4Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """One request; all decisions are the receiver's (:meth:`Receiver._handle`)."""

    receiver: Receiver[Any]
    server_version = "incident-receiver"
    sys_version = ""
    _body_read = False

    def do_GET(self) -> None:
        self.receiver._handle(self, "GET")

    def do_POST(self) -> None:
        self.receiver._handle(self, "POST")

    def do_PUT(self) -> None:
        self.receiver._handle(self, "PUT")

    def do_DELETE(self) -> None:
        self.receiver._handle(self, "DELETE")

    def do_PATCH(self) -> None:
        self.receiver._handle(self, "PATCH")

    def do_HEAD(self) -> None:
        self.receiver._handle(self, "HEAD")

    def read_body(self, length: int) -> bytes | None:
        """Exactly ``length`` bytes of body, or ``None`` when the client stops early."""
        self._body_read = True
        chunks: list[bytes] = []
        remaining = length
        try:
            while remaining > 0:
                chunk = self.rfile.read(remaining)
                if not chunk:
                    return None
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError:  # includes the read timeout
            return None
        return b"".join(chunks)

    def answer(
        self, status: int, payload: object, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``payload`` as JSON with ``status``."""
        data = json.dumps(payload).encode("utf-8")
        self.answer_bytes(status, data, "application/json", headers=headers)

    def answer_bytes(
        self,
        status: int,
        data: bytes,
        content_type: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send ``data`` with ``status``, then drain a small unread body."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True
        if not self._body_read:
            self._drain()

    def _drain(self) -> None:
        # closing with unread bytes makes the kernel reset the connection, and the
        # client may lose our answer: read (and drop) a small unread body first
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return
        if not 0 < length <= _DRAIN_LIMIT:
            return
        try:
            self.connection.settimeout(1.0)
            self.rfile.read(length)
        except OSError:
            return

    def log_message(self, format: str, *args: object) -> None:
        # the stdlib writes every request line to stderr; ours go to logging, path only
        logger.debug(
            "receiver %s %s -> %s",
            self.command,
            (self.path or "").split("?", 1)[0],
            args[1] if len(args) > 1 else "",
        )

    def log_error(self, format: str, *args: object) -> None:
        logger.debug("receiver request error: " + format, *args)


def _handler_for(receiver: Receiver[N]) -> type[_Handler]:
    """A handler class bound to ``receiver`` (one per server)."""
    bound = type(
        "_BoundHandler",
        (_Handler,),
        {"receiver": receiver, "timeout": receiver._read_timeout},
    )
    return cast("type[_Handler]", bound)
