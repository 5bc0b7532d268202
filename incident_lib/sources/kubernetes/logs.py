"""Pod logs: which container logs to read, reading them concurrently, and cutting to a window.

Each container is read from the window start (``sinceTime``) and lines stamped
at or after the window end are dropped. The per-container cap keeps the
*newest* lines of the window: when the window reaches the present the server
cuts with ``tailLines``; for a past window ``tailLines`` would count from now,
so the reader streams from the window start, keeps the last ``max_lines``
lines before the end and stops reading there, with ``limitBytes`` bounding the
stream. Every cut is reported in :attr:`LogFetch.truncated`, every container
that could not be read in :attr:`LogFetch.errors`; 401 and 403 stop the whole
fetch (every container would fail alike). Init containers and ephemeral (debug)
containers are read too, once they have run (a running or terminated state, or
a restart for the previous instance): one that has not started yet has no log.

Bounds: each request's timeouts are clipped to what is left of the source's
time budget, which is also checked between chunks (a container whose read the
budget cut is "not read: time budget of N s used up"); all containers together
read at most ``max_bytes`` (the reads stop there and :meth:`LogFetch.notes` says so).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.errors import SourceUnavailable
from ...core.schema import conform, empty_frame
from ..base import DEFAULT_MAX_BYTES, MAX_BYTES_ENV, Budget, format_size, progress_bar
from .errors import SOURCE, api_reason, safe_host, status_message, timed_out

if TYPE_CHECKING:
    import pandas as pd
    from kubernetes.client import ApiClient

    from ...core.time import Window

__all__ = [
    "LIVE_SLACK",
    "LOG_BYTES_PER_LINE",
    "ContainerFailed",
    "LogFetch",
    "LogReader",
    "LogTarget",
    "concat_logs",
    "line_time",
    "log_targets",
    "read_window",
]

#: server-side byte budget per log line (``limitBytes`` = lines x this)
LOG_BYTES_PER_LINE = 4096
#: a window ending later than this before now reaches the present (``tailLines`` applies)
LIVE_SLACK = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class LogFetch:
    """Pod logs of the service over a window, with what was cut and what failed.

    Attributes
    ----------
    frame
        ``logs`` contract frame: every container of every pod, sorted by time.
    truncated
        ``"pod/container"`` (``" (previous)"`` for the previous instance) -> lines
        kept, for every log cut by the line or byte cap (the newest lines are kept).
    errors
        Same keys -> why that log could not be read (e.g. container waiting to start).
    requested
        How many container logs were requested.
    capped_at
        The byte cap the reads reached (0: not reached); the logs it cut are in
        :attr:`truncated`.
    """

    frame: pd.DataFrame
    truncated: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    requested: int = 0
    capped_at: int = 0

    def notes(self) -> list[str]:
        """One sentence per truncated or failed log, for the notebook and the bundle."""
        cap = (
            [
                f"log read cap of {format_size(self.capped_at)} ({MAX_BYTES_ENV}) reached: "
                "the logs marked truncated were cut there"
            ]
            if self.capped_at
            else []
        )
        cut = [
            f"{key}: truncated, kept the last {lines} lines of the window"
            for key, lines in sorted(self.truncated.items())
        ]
        errors = [f"{key}: not read: {why}" for key, why in sorted(self.errors.items())]
        return cap + cut + errors


@dataclass(frozen=True, slots=True)
class LogTarget:
    """One container log to read: of the running instance, or of the previous one."""

    pod: str
    container: str
    previous: bool

    @property
    def key(self) -> str:
        """``pod/container``, with `` (previous)`` for the previous instance."""
        return f"{self.pod}/{self.container}" + (" (previous)" if self.previous else "")


class ContainerFailed(Exception):
    """One container log could not be read; the others go on."""


class _Meter:
    """Counts the bytes all containers read (thread-safe) and checks the budget per chunk."""

    def __init__(self, max_bytes: int, budget: Budget) -> None:
        self.max_bytes = max_bytes
        self.budget = budget
        self.total = 0
        self.reached = False
        self._lock = threading.Lock()

    def chunks(self, stream: Iterable[bytes], cut: list[bool]) -> Iterator[bytes]:
        """``stream`` until the shared cap is reached (then ``cut[0]`` is set)."""
        for chunk in stream:
            self.budget.check("a container log was still being read")
            with self._lock:
                room = self.max_bytes - self.total
                self.total += min(len(chunk), max(room, 0))
                if len(chunk) > room:
                    self.reached = True
            if len(chunk) > room:
                cut[0] = True  # read_window drops the partial line it ends with
                if room > 0:
                    yield chunk[:room]
                return
            yield chunk


class LogReader:
    """Reads container logs of one namespace through a configured ``ApiClient``.

    Parameters
    ----------
    api_client
        The ``kubernetes.client.ApiClient``.
    namespace
        The pods' namespace.
    request_timeout
        ``(connect, read)`` seconds of every request.
    budget
        The source's time budget (default: none).
    max_bytes
        Most bytes all the logs of one :meth:`read` hold together.
    """

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        request_timeout: tuple[float, float],
        *,
        budget: Budget | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.request_timeout = request_timeout
        self.budget = budget if budget is not None else Budget.unlimited(SOURCE)
        self.max_bytes = max_bytes
        self._meter = _Meter(max_bytes, self.budget)

    @property
    def capped(self) -> bool:
        """Whether the reads reached :attr:`max_bytes`."""
        return self._meter.reached

    def read(
        self,
        targets: list[LogTarget],
        window: Window,
        max_lines: int,
        workers: int,
        progress: bool,
    ) -> tuple[list[pd.DataFrame], dict[str, int], dict[str, str]]:
        """Read ``targets`` with at most ``workers`` threads: (frames, truncated, errors).

        Raises
        ------
        SourceUnavailable
            The API refuses (401, 403): every container would fail alike.
        """
        from concurrent.futures import ThreadPoolExecutor, as_completed

        frames: list[pd.DataFrame] = []
        truncated: dict[str, int] = {}
        errors: dict[str, str] = {}
        bar = progress_bar(len(targets), enabled=progress, desc="pod logs", unit="container")
        pool = ThreadPoolExecutor(max_workers=min(workers, len(targets)))
        try:
            with self.budget.spending():
                futures = {pool.submit(self._read_one, t, window, max_lines): t for t in targets}
                for future in as_completed(futures):
                    target = futures[future]
                    try:
                        frame, kept, cut = future.result()
                    except ContainerFailed as exc:
                        errors[target.key] = str(exc)
                    else:
                        frames.append(frame)
                        if cut:
                            truncated[target.key] = kept
                    bar.update(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return frames, truncated, errors

    def _read_one(
        self, target: LogTarget, window: Window, max_lines: int
    ) -> tuple[pd.DataFrame, int, bool]:
        """Read one container log; raise ContainerFailed, or SourceUnavailable on 401/403."""
        from ..logparse import parse_pod_log

        try:
            lines, cut = self._stream(target, window, max_lines)
        except SourceUnavailable as exc:  # the time budget ran out
            raise ContainerFailed(exc.reason) from None
        except Exception as exc:
            raise self._failure(exc, target) from None
        parsed = parse_pod_log(
            "\n".join(lines),
            pod=target.pod,
            container=target.container,
            timestamps=True,
            max_events=max_lines,
        )
        frame = parsed.frame
        frame = frame[(frame["time"] >= window.start) & (frame["time"] < window.end)]
        return frame, len(lines), cut or bool(parsed.truncated)

    def _stream(self, target: LogTarget, window: Window, max_lines: int) -> tuple[list[str], bool]:
        """GET .../pods/{pod}/log from the window start: the newest lines before its end.

        The generated ``read_namespaced_pod_log`` has no ``sinceTime`` (it is missing
        from the OpenAPI spec), so the request is built with the client's own
        serialiser, which applies its authentication and TLS settings.
        """
        from datetime import UTC

        from kubernetes.client.exceptions import ApiException

        live = window.end > datetime.now(UTC) - LIVE_SLACK
        limit_bytes = None if live else max_lines * LOG_BYTES_PER_LINE
        query: list[tuple[str, Any]] = [
            ("container", target.container),
            ("timestamps", True),
            ("sinceTime", window.start.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("tailLines", max_lines) if live else ("limitBytes", limit_bytes),
        ]
        if target.previous:
            query.append(("previous", True))
        timeout = self.budget.clip_pair(self.request_timeout)
        request = self.api_client.param_serialize(
            method="GET",
            resource_path="/api/v1/namespaces/{namespace}/pods/{name}/log",
            path_params={"namespace": self.namespace, "name": target.pod},
            query_params=query,
            header_params={"Accept": "text/plain"},
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.call_api(*request, _request_timeout=timeout)
            raw = response.response
            try:
                if not 200 <= response.status <= 299:
                    response.read()  # type: ignore[no-untyped-call]
                    raise ApiException.from_response(http_resp=response, body=None, data=None)
                cut = [False]
                chunks = self._meter.chunks(raw.stream(65536), cut)
                lines, truncated = read_window(
                    chunks, window.end, max_lines, limit_bytes=limit_bytes, cut_short=cut
                )
                return lines, truncated or cut[0]
            finally:
                raw.close()
                raw.release_conn()
        except Exception as exc:
            if timeout != self.request_timeout and timed_out(exc):  # the budget's end
                raise self.budget.used_up(
                    f"API server {safe_host(self.api_client)} did not answer"
                ) from None
            raise

    def _failure(self, exc: Exception, target: LogTarget) -> Exception:
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, ApiException) and exc.status in (401, 403):
            return SourceUnavailable(SOURCE, self._reason(exc) or "")
        if isinstance(exc, ApiException) and exc.status == 404:
            return ContainerFailed(f"pod {target.pod} not found (replaced since it was listed)")
        if isinstance(exc, ApiException) and exc.status == 400:
            return ContainerFailed(status_message(exc.body) or "bad request (400)")
        reason = self._reason(exc)
        if reason is None:
            return exc
        return ContainerFailed(reason)

    def _reason(self, exc: Exception) -> str | None:
        return api_reason(
            exc,
            verb="get",
            resource="pods/log",
            namespace=self.namespace,
            api_client=self.api_client,
            timeout=self.request_timeout,
        )


def log_targets(pod: Any) -> Iterator[LogTarget]:
    """The logs to read of ``pod``: each container, and its previous instance if it restarted.

    App containers first, then init containers and ephemeral containers, these
    two only once they have run (see the module notes).
    """
    status = pod.status
    name = pod.metadata.name
    statuses = {cs.name: cs for cs in (status.container_statuses or [])} if status else {}
    for container in pod.spec.containers or []:
        cs = statuses.get(container.name)
        if cs is not None and (cs.restart_count or 0) > 0:
            yield LogTarget(name, container.name, previous=True)
        yield LogTarget(name, container.name, previous=False)
    others = (
        (pod.spec.init_containers, status.init_container_statuses if status else None),
        (pod.spec.ephemeral_containers, status.ephemeral_container_statuses if status else None),
    )
    for containers, container_statuses in others:
        ran = {cs.name: cs for cs in container_statuses or []}
        for container in containers or []:
            cs = ran.get(container.name)
            if cs is None:
                continue
            if (cs.restart_count or 0) > 0:
                yield LogTarget(name, container.name, previous=True)
            state = cs.state
            if state is not None and (state.running is not None or state.terminated is not None):
                yield LogTarget(name, container.name, previous=False)


def concat_logs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One ``logs`` frame of the containers' frames, sorted by time, pod and container."""
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame("logs")
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(["time", "pod", "container"], kind="stable")
    return conform(frame, "logs")


def read_window(
    chunks: Iterable[bytes],
    end: datetime,
    max_lines: int,
    *,
    limit_bytes: int | None,
    cut_short: list[bool] | None = None,
) -> tuple[list[str], bool]:
    """The last ``max_lines`` lines stamped before ``end``, and whether any were cut.

    ``limit_bytes`` is None when the server cut with ``tailLines=max_lines``: then
    the whole answer is read and a full answer means older lines were left out.
    Otherwise reading stops at the first line at or after ``end``, and the log was
    cut when more lines came before it or the server stopped at ``limit_bytes``
    first (its last, partial line is dropped). ``cut_short[0]`` set by whoever
    feeds ``chunks`` means they stopped early (a byte cap on our side): the last,
    partial line is dropped and the log counts as cut.
    """
    kept: deque[str] = deque(maxlen=max_lines)
    received = before_end = size = 0
    pending = b""

    def take(line: bytes) -> bool:
        nonlocal received, before_end
        received += 1
        stamp = line_time(line)
        if stamp is not None and stamp >= end:
            return limit_bytes is not None  # stop reading (unless counting a tail)
        before_end += 1
        kept.append(line.decode("utf-8", "replace"))
        return False

    for chunk in chunks:
        size += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if take(line):
                return list(kept), before_end > max_lines
    stopped = bool(cut_short and cut_short[0])
    capped = stopped or (limit_bytes is not None and size >= limit_bytes)
    if pending and not capped and take(pending):
        return list(kept), before_end > max_lines
    if limit_bytes is None:
        return list(kept), stopped or received >= max_lines
    return list(kept), capped or before_end > max_lines


def line_time(line: bytes) -> datetime | None:
    """The timestamp the server put at the start of ``line`` (None if there is none)."""
    head = line[:40].split(b" ", 1)[0]
    try:
        stamp = datetime.fromisoformat(head.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return stamp if stamp.tzinfo is not None else None
