"""The Datadog façade: metrics, monitor state changes, events and logs of one service.

:class:`DatadogSource` talks to the Datadog API through ``datadog-api-client``
with an injected ``Configuration``; the decisions are documented in
:mod:`incident_lib.sources.datadog`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...core.schema import empty_frame
from ..base import DEFAULT_MAX_BYTES, MAX_BYTES_ENV, Budget, Fetched, format_size, progress_bar
from . import frames
from .frames import rollup_interval
from .http import (
    DEFAULT_TIMEOUT,
    MAX_TRIES,
    MAX_WAIT,
    Caller,
    cap_replies,
    configuration_from_environment,
    prepare_configuration,
)
from .requests import events_request, logs_request, timeseries_request

if TYPE_CHECKING:
    from datadog_api_client import Configuration

    from ...core.time import Window

__all__ = [
    "DEFAULT_ENV",
    "EVENT_CAP",
    "LOG_CAP",
    "DatadogSource",
    "default_queries",
]

#: environment tag of the default queries, unless ``INCIDENT_DD_ENV`` says otherwise
DEFAULT_ENV = "prod"
#: most log events one fetch returns (the newest are kept)
LOG_CAP = 50_000
#: events per log search page (the most the API allows)
LOG_PAGE = 1000
#: most events (change evidence, or alert events for monitors) one search returns
EVENT_CAP = 10_000
#: events per events search page (the API allows up to 1000)
EVENT_PAGE = 1000
#: monitors per ``list_monitors`` page
MONITOR_PAGE = 1000
#: timeseries queries per request
QUERIES_PER_REQUEST = 10
_OVERALL = {"Alert": "alert", "Warn": "warn", "OK": "ok", "No Data": "no_data"}


def default_queries(
    service: str, env: str | None = None, *, namespace: str | None = None
) -> dict[str, str]:
    """Canonical metric key -> Datadog query for ``service`` (APM and Kubernetes metrics).

    Parameters
    ----------
    service
        The APM service and Kubernetes deployment name.
    env
        The ``env`` tag; default ``INCIDENT_DD_ENV``, else ``prod``.
    namespace
        Adds ``kube_namespace:<namespace>`` to the Kubernetes queries.

    Notes
    -----
    ``latency_p95`` is the p95 of the ``trace.http.request`` latency distribution
    (seconds, converted to ms; a percentile aggregator needs the distribution, the
    legacy ``trace.http.request.duration`` gauge has none); ``error_rate`` counts
    errored requests answered 5xx; ``cpu`` is in nanocores (converted to cores);
    ``db_connections`` assumes the PostgreSQL check is tagged with the service and
    env: pass your own queries to :meth:`DatadogSource.metrics` otherwise.
    """
    env = env or os.environ.get("INCIDENT_DD_ENV") or DEFAULT_ENV
    apm = f"service:{service},env:{env}"
    kube = f"kube_deployment:{service}" + (f",kube_namespace:{namespace}" if namespace else "")
    return {
        "request_rate": f"sum:trace.http.request.hits{{{apm}}}.as_rate()",
        "error_rate": f"sum:trace.http.request.errors{{{apm},http.status_class:5xx}}.as_rate()",
        "latency_p95": f"p95:trace.http.request{{{apm}}}",
        "cpu": f"sum:kubernetes.cpu.usage.total{{{kube}}}",
        "memory": f"sum:kubernetes.memory.usage{{{kube}}}",
        "db_connections": f"sum:postgresql.connections{{{apm}}}",
    }


class DatadogSource:
    """Read-only view of one service in Datadog.

    Parameters
    ----------
    service
        The service (APM ``service`` tag, Kubernetes deployment, log ``service``).
    configuration
        A ``datadog_api_client.Configuration`` with both keys; it is copied, and in
        the copy the client's own retries are turned off (this source retries) and
        :data:`DEFAULT_TIMEOUT` is set when it has no ``request_timeout``.
    env
        The ``env`` tag of the default metric queries.
    namespace
        Kubernetes namespace of the service (narrows the Kubernetes metrics).
    sleep, max_tries, max_wait
        Waiting between tries of a rate-limited (429) or failing (5xx) request:
        the sleep function (tests inject one), tries in all, longest wait (s).
    budget
        The time this source may spend (:class:`~incident_lib.sources.base.Budget`,
        shared with the connector's other fetches); default: none.
    max_bytes
        Most bytes one answer may hold (a larger one is refused), and most log
        bytes :meth:`logs` reads (it stops paging there and says so).

    Raises
    ------
    SourceUnavailable
        The configuration lacks a key.
    """

    def __init__(
        self,
        *,
        service: str,
        configuration: Configuration,
        env: str = DEFAULT_ENV,
        namespace: str | None = None,
        sleep: Callable[[float], object] = time.sleep,
        max_tries: int = MAX_TRIES,
        max_wait: float = MAX_WAIT,
        budget: Budget | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        from datadog_api_client import ApiClient

        self.service = service
        self.env = env
        self.namespace = namespace
        self.max_bytes = max_bytes
        self.budget = budget if budget is not None else Budget.unlimited("datadog")
        self.api_client = ApiClient(prepare_configuration(configuration))
        self._pool = cap_replies(self.api_client, max_bytes=max_bytes, budget=self.budget)
        self._caller = Caller(
            self.api_client,
            sleep=sleep,
            max_tries=max_tries,
            max_wait=max_wait,
            budget=self.budget,
        )

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_environment(
        cls,
        *,
        service: str,
        namespace: str | None = None,
        env: str | None = None,
        environ: Mapping[str, str] = os.environ,
        host: str | None = None,
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], object] = time.sleep,
        budget: Budget | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> DatadogSource:
        """Build the source from ``DD_API_KEY``, ``DD_APP_KEY`` and ``DD_SITE``.

        ``DD_SITE`` defaults to ``datadoghq.com`` (``app.datadoghq.eu`` or a URL
        is read as ``datadoghq.eu``); ``env`` defaults to ``INCIDENT_DD_ENV``, else
        ``prod``; ``host`` replaces the site's API host. ``budget`` and
        ``max_bytes`` bound it (see the class).

        Raises
        ------
        SourceUnavailable
            ``DD_API_KEY`` or ``DD_APP_KEY`` is not set.
        """
        configuration = configuration_from_environment(
            environ, host=host, request_timeout=request_timeout
        )
        return cls(
            service=service,
            configuration=configuration,
            env=env or environ.get("INCIDENT_DD_ENV") or DEFAULT_ENV,
            namespace=namespace,
            sleep=sleep,
            budget=budget,
            max_bytes=max_bytes,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.api_client.close()

    def __enter__(self) -> DatadogSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def bytes_read(self) -> int:
        """Bytes of the answers read so far (what :attr:`max_bytes` bounds for logs)."""
        return self._pool.bytes_read

    @property
    def site(self) -> str:
        """The Datadog site (``datadoghq.eu``), or the API host when it was overridden."""
        return self._caller.site

    def default_queries(self) -> dict[str, str]:
        """:func:`default_queries` of this source's service, env and namespace."""
        return default_queries(self.service, self.env, namespace=self.namespace)

    # -- frames ------------------------------------------------------------------------
    def metrics(
        self,
        window: Window,
        queries: Mapping[str, str] | None = None,
        *,
        interval: int | None = None,
    ) -> Fetched:
        """Metric series over ``window`` (contract ``metrics``), one request per 10 queries.

        Parameters
        ----------
        queries
            Canonical key -> Datadog query; default :meth:`default_queries`.
        interval
            Rollup in seconds; default :func:`rollup_interval` of the window.

        The notes name every key without data and what Datadog reported
        (partial errors, unconvertible units).
        """
        import pandas as pd
        from datadog_api_client.v2.api.metrics_api import MetricsApi

        chosen = dict(self.default_queries() if queries is None else queries)
        step = int(interval or rollup_interval(window))
        api = MetricsApi(self.api_client)  # type: ignore[no-untyped-call]
        notes: list[str] = []
        parts = []
        items = list(chosen.items())
        for first in range(0, len(items), QUERIES_PER_REQUEST):
            batch = items[first : first + QUERIES_PER_REQUEST]
            response = self._caller.call(
                "timeseries query",
                api.query_timeseries_data,
                body=timeseries_request(window, batch, step),
            )
            parts.append(frames.metrics_frame(response, batch, notes))
        parts = [p for p in parts if len(p)]
        frame = pd.concat(parts, ignore_index=True) if parts else empty_frame("metrics")
        present = set(frame["metric"].unique())
        notes += [f"no data for {key} ({query})" for key, query in items if key not in present]
        return Fetched(frame, tuple(notes))

    def monitor_events(self, window: Window, *, now: datetime | None = None) -> Fetched:
        """State changes of the service's monitors (contract ``monitor_events``).

        See the module notes; ``now`` (default: the current time) stamps the
        current-state rows of a window that holds the present. No monitor of the
        service gives an empty frame.
        """
        monitors = self._monitors()
        if not monitors:
            return Fetched(frames.monitor_frame([]))
        names = {ident: str(m.get("name") or ident) for ident, m in monitors.items()}
        alerts, notes = self._events_search(
            window.start - frames.lookback(window),
            window.end,
            "source:alert",
            EVENT_CAP,
            label="alert events",
        )
        rows = frames.monitor_rows(names, alerts, window)
        now = now or datetime.now(UTC)
        if window.start <= now < window.end:
            last = {int(r["monitor_id"]): r["state"] for r in rows}
            for ident, monitor in monitors.items():
                overall = _text(monitor.get("overall_state"))
                state = _OVERALL.get(overall)
                row = state and frames.current_state_row(
                    ident, names[ident], state, overall, now, last.get(ident)
                )
                if row:
                    rows.append(row)
        return Fetched(frames.monitor_frame(rows), tuple(notes))

    def events(
        self, window: Window, *, query: str | None = None, max_events: int = EVENT_CAP
    ) -> Fetched:
        """Events in ``window`` (deploys and other changes): time, title, text, tags, source_type.

        ``query`` defaults to ``service:<service> -source:alert`` (monitor
        transitions are :meth:`monitor_events`). The newest ``max_events`` are
        kept; a cut is noted.
        """
        query = query or f"service:{self.service} -source:alert"
        found, notes = self._events_search(window.start, window.end, query, max_events)
        rows = [row for event in found if (row := frames.event_row(event)) is not None]
        frame = frames.events_frame(rows)
        frame = frame[(frame["time"] >= window.start) & (frame["time"] < window.end)]
        return Fetched(frame.reset_index(drop=True), tuple(notes))

    def logs(
        self,
        window: Window,
        *,
        query: str | None = None,
        max_events: int = LOG_CAP,
        page_size: int = LOG_PAGE,
        progress: bool = False,
    ) -> Fetched:
        """Log events in ``window`` (contract ``logs``, as the Kubernetes source gives).

        ``query`` defaults to ``service:<service>``. The newest ``max_events`` are
        kept, and paging stops once ``max_bytes`` were read; a cut and Datadog's
        warnings are the notes.
        ``progress`` shows a progress bar over the pages.
        """
        from datadog_api_client.v2.api.logs_api import LogsApi

        query = query or f"service:{self.service}"
        api = LogsApi(self.api_client)  # type: ignore[no-untyped-call]
        bar = progress_bar(max_events, enabled=progress, desc="datadog logs", unit="event")
        try:
            found, cut, warnings = self._paged(
                "logs search",
                api.list_logs,
                lambda cursor, limit: logs_request(window, query, cursor, limit),
                max_events,
                page_size,
                bar,
            )
        finally:
            bar.close()
        frame = frames.logs_frame([frames.log_row(log) for log in found], window)
        notes = [f"Datadog warned: {w}" for w in warnings]
        if cut:
            why = (
                f" (the read cap of {format_size(self.max_bytes)}, {MAX_BYTES_ENV}, was reached)"
                if cut == "bytes"
                else ""
            )
            notes.insert(
                0,
                f"logs truncated: kept the newest {len(found):,} events matching '{query}'"
                f"{why}; older events of the window were not fetched",
            )
        return Fetched(frame, tuple(notes))

    # -- API access --------------------------------------------------------------------
    def _monitors(self) -> dict[int, Any]:
        """The service's monitors by id: tagged ``service:<service>`` or named after it."""
        from datadog_api_client.v1.api.monitors_api import MonitorsApi

        api = MonitorsApi(self.api_client)  # type: ignore[no-untyped-call]
        word = re.compile(rf"(?<![\w-]){re.escape(self.service)}(?![\w-])", re.IGNORECASE)
        found: dict[int, Any] = {}
        for by_name, selector in (
            (False, {"monitor_tags": f"service:{self.service}"}),
            (True, {"name": self.service}),
        ):
            for monitor in self._monitor_pages(api, selector):
                ident = monitor.get("id")
                if ident is None or (by_name and not word.search(str(monitor.get("name")))):
                    continue
                found.setdefault(int(ident), monitor)
        return found

    def _monitor_pages(self, api: Any, selector: Mapping[str, str]) -> Iterator[Any]:
        page = 0
        while True:
            batch = self._caller.call(
                "monitor list", api.list_monitors, page=page, page_size=MONITOR_PAGE, **selector
            )
            yield from batch
            if len(batch) < MONITOR_PAGE:
                return
            page += 1

    def _events_search(
        self, start: datetime, end: datetime, query: str, cap: int, *, label: str = "events"
    ) -> tuple[list[Any], list[str]]:
        from datadog_api_client.v2.api.events_api import EventsApi

        api = EventsApi(self.api_client)  # type: ignore[no-untyped-call]
        found, cut, warnings = self._paged(
            "events search",
            api.search_events,
            lambda cursor, limit: events_request(start, end, query, cursor, limit),
            cap,
            EVENT_PAGE,
            None,
        )
        notes = [f"Datadog warned: {w}" for w in warnings]
        if cut:
            notes.insert(
                0,
                f"{label} truncated: kept the newest {len(found):,} events matching '{query}'",
            )
        return found, notes

    def _paged(
        self,
        what: str,
        method: Callable[..., Any],
        request: Callable[[str | None, int], Any],
        cap: int,
        page_size: int,
        bar: Any,
    ) -> tuple[list[Any], str, list[str]]:
        """Items of a cursor-paginated search, newest first: (items, cut, warnings).

        ``cut`` is ``"count"`` when ``cap`` items were read and Datadog offered
        another page, ``"bytes"`` when :attr:`max_bytes` were read and it offered
        another page, else ``""``.
        """
        items: list[Any] = []
        warnings: list[str] = []
        cursor: str | None = None
        read_before = self._pool.bytes_read
        while True:
            want = max(1, min(page_size, cap - len(items)))
            response = self._caller.call(what, method, body=request(cursor, want))
            data = list(response.get("data") or [])[:want]
            items.extend(data)
            if bar is not None:
                bar.update(len(data))
            meta = response.get("meta")
            for warning in (meta.get("warnings") or []) if meta is not None else []:
                text = warning.get("detail") or warning.get("title") or warning.get("code")
                if text and str(text) not in warnings:
                    warnings.append(self._caller.scrub(str(text)))
            page = meta.get("page") if meta is not None else None
            cursor = page.get("after") if page is not None else None
            if not cursor or not data:
                return items, "", warnings
            if len(items) >= cap:
                return items, "count", warnings
            if self._pool.bytes_read - read_before >= self.max_bytes:
                return items, "bytes", warnings


# -- helpers ---------------------------------------------------------------------------
def _text(value: Any) -> str:
    """The text of an enum model (``MonitorOverallStates``) or a plain value."""
    return str(getattr(value, "value", value) or "")
