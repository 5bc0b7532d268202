"""Datadog source: metrics, monitor state changes, events and logs of one service.

:class:`DatadogSource` talks to the Datadog API through ``datadog-api-client``
with an injected ``Configuration`` (:meth:`DatadogSource.from_environment` builds
one from ``DD_API_KEY``, ``DD_APP_KEY`` and ``DD_SITE``; a ``host`` replaces the
site's API host, for tests) and returns frames that meet the contracts of
:mod:`incident_lib.core.schema`. Only read endpoints are called. Every failure a user
will meet becomes a :class:`SourceUnavailable` whose reason says what to do; the
keys never appear in a frame, a note or a reason (see :mod:`._datadog_http` for
retries: 429 and 5xx are retried at most 3 tries in all, sleeping
``min(X-RateLimit-Reset, 60 s)``; the sleep is injectable).

Decisions
---------
* **Metrics: v2** ``MetricsApi.query_timeseries_data`` (``POST
  /api/v2/query/timeseries``), not v1 ``query_metrics``: one request carries every
  query (one named query and one formula per canonical key, so ``query_index``
  maps a series back to its key), the rollup is an explicit ``interval`` (ms)
  rather than a ``.rollup()`` edited into each query string, ``from``/``to`` are
  ms, each series reports its unit, and Datadog recommends it over
  ``/api/v1/query``. At most :data:`QUERIES_PER_REQUEST` queries go in one request.
* **Rollup**: the largest of 10 s, 20 s, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 4,
  12, 24 h that still gives at least 120 points, never under 10 s: 15 min ->
  10 s, 2 h -> 60 s, 24 h -> 600 s (:func:`rollup_interval`). Datadog may widen
  it for very long windows.
* **Units** (the canonical units of :data:`incident_lib.charts.METRIC_LABELS`):
  ``latency_*`` -> milliseconds (APM durations are seconds: x 1000), ``cpu`` ->
  cores (``kubernetes.cpu.usage.total`` is nanocores: x 1e-9), ``memory`` -> bytes.
  The conversion follows the unit Datadog reports for the series (nanosecond,
  millisecond, second, nanocore, millicore, byte, kibibyte, ...), and assumes the
  default query's unit when none is reported; other keys are left as they come
  (``.as_rate()`` counts are per second). Null points are dropped; ``scope`` is
  the query's tag filter plus the series' group tags, comma-joined.
* **Monitors**: the service's monitors are those tagged ``service:<service>``
  (``list_monitors(monitor_tags=...)``) plus those whose name contains the service
  as a word (``list_monitors(name=...)``). Their state changes come from the v2
  events search (``source:alert``: every monitor transition is an event with
  ``monitor_id`` and a title such as ``[Triggered] ...``, ``[Recovered] ...``,
  ``[Warn] ...``, ``[No Data] ...``), kept for those monitors, not v1
  ``list_events``: v2 gives ``monitor_id`` as a field and cursor pagination. The
  search starts one window length (at least 1 h) before the window, and each
  monitor's last change before the window is kept so its state when the window
  opened is known. Renotifications (``[Re-Triggered]``) count only when the state
  differs from the one before. When the window holds the present, each monitor's
  current ``overall_state`` (Alert -> alert, Warn -> warn, OK -> ok, No Data ->
  no_data) is added as a row stamped with the fetch time when it differs from its
  last change (a monitor OK throughout adds nothing).
* **Events** (:meth:`DatadogSource.events`, change evidence such as deploys):
  v2 events search, default query ``service:<service> -source:alert``, columns
  ``time, title, text, tags, source_type`` (text without markdown fences,
  redacted, at most 500 characters; tags comma-joined). There is no contract for
  them in :mod:`incident_lib.core.schema` yet (``datadog_events`` would be it).
* **Logs**: v2 ``LogsApi.list_logs`` (``POST /api/v2/logs/events/search``),
  default query ``service:<service>`` (every status: the signatures and the
  baseline comparison need the info lines too), newest first, page by page
  (``page[cursor]`` = ``meta.page.after``) up to :data:`LOG_CAP` events: like the
  Kubernetes source, a cut keeps the *newest* events and says so in
  ``frame.attrs["notes"]``. Rows are built by :func:`._datadog_frames.log_row`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..core.schema import empty_frame
from . import _datadog_frames as frames
from ._datadog_frames import rollup_interval
from ._datadog_http import (
    DEFAULT_TIMEOUT,
    MAX_TRIES,
    MAX_WAIT,
    SOURCE,
    Caller,
    configuration_from_environment,
    normalise_site,
    prepare_configuration,
)
from ._datadog_requests import events_request, iso, logs_request, timeseries_request
from ._shared import check_fetch_name, progress_bar

if TYPE_CHECKING:
    import pandas as pd
    from datadog_api_client import Configuration

    from ..core.incident import Incident
    from ..core.time import Window

__all__ = [
    "DEFAULT_ENV",
    "DEFAULT_TIMEOUT",
    "FETCH_NAMES",
    "LOG_CAP",
    "DatadogSource",
    "default_queries",
    "fetch",
    "manifest_query",
    "rollup_interval",
]

#: names :func:`fetch` serves (``events`` has no contract yet)
FETCH_NAMES = ("metrics", "monitor_events", "logs", "events")
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
    ) -> None:
        from datadog_api_client import ApiClient

        self.service = service
        self.env = env
        self.namespace = namespace
        self.api_client = ApiClient(prepare_configuration(configuration))
        self._caller = Caller(self.api_client, sleep=sleep, max_tries=max_tries, max_wait=max_wait)

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
    ) -> DatadogSource:
        """Build the source from ``DD_API_KEY``, ``DD_APP_KEY`` and ``DD_SITE``.

        ``DD_SITE`` defaults to ``datadoghq.com`` (``app.datadoghq.eu`` or a URL
        is read as ``datadoghq.eu``); ``env`` defaults to ``INCIDENT_DD_ENV``, else
        ``prod``; ``host`` replaces the site's API host.

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
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.api_client.close()

    def __enter__(self) -> DatadogSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
    ) -> pd.DataFrame:
        """Metric series over ``window`` (contract ``metrics``), one request per 10 queries.

        Parameters
        ----------
        queries
            Canonical key -> Datadog query; default :meth:`default_queries`.
        interval
            Rollup in seconds; default :func:`rollup_interval` of the window.

        ``frame.attrs["notes"]`` names every key without data and what Datadog
        reported (partial errors, unconvertible units).
        """
        import pandas as pd
        from datadog_api_client.v2.api.metrics_api import MetricsApi

        chosen = dict(self.default_queries() if queries is None else queries)
        step = int(interval or rollup_interval(window))
        api = MetricsApi(self.api_client)
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
        frame.attrs["notes"] = notes
        return frame

    def monitor_events(self, window: Window, *, now: datetime | None = None) -> pd.DataFrame:
        """State changes of the service's monitors (contract ``monitor_events``).

        See the module notes; ``now`` (default: the current time) stamps the
        current-state rows of a window that holds the present. No monitor of the
        service gives an empty frame.
        """
        monitors = self._monitors()
        if not monitors:
            empty = frames.monitor_frame([])
            empty.attrs["notes"] = []
            return empty
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
        frame = frames.monitor_frame(rows)
        frame.attrs["notes"] = notes
        return frame

    def events(
        self, window: Window, *, query: str | None = None, max_events: int = EVENT_CAP
    ) -> pd.DataFrame:
        """Events in ``window`` (deploys and other changes): time, title, text, tags, source_type.

        ``query`` defaults to ``service:<service> -source:alert`` (monitor
        transitions are :meth:`monitor_events`). The newest ``max_events`` are
        kept; a cut is noted in ``frame.attrs["notes"]``.
        """
        query = query or f"service:{self.service} -source:alert"
        found, notes = self._events_search(window.start, window.end, query, max_events)
        rows = [row for event in found if (row := frames.event_row(event)) is not None]
        frame = frames.events_frame(rows)
        frame = frame[(frame["time"] >= window.start) & (frame["time"] < window.end)]
        frame = frame.reset_index(drop=True)
        frame.attrs["notes"] = notes
        return frame

    def logs(
        self,
        window: Window,
        *,
        query: str | None = None,
        max_events: int = LOG_CAP,
        page_size: int = LOG_PAGE,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Log events in ``window`` (contract ``logs``, as the Kubernetes source gives).

        ``query`` defaults to ``service:<service>``. The newest ``max_events`` are
        kept; a cut and Datadog's warnings are listed in ``frame.attrs["notes"]``.
        ``progress`` shows a progress bar over the pages.
        """
        from datadog_api_client.v2.api.logs_api import LogsApi

        query = query or f"service:{self.service}"
        api = LogsApi(self.api_client)
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
            notes.insert(
                0,
                f"logs truncated: kept the newest {len(found):,} events matching '{query}'; "
                "older events of the window were not fetched",
            )
        frame.attrs["notes"] = notes
        return frame

    # -- API access --------------------------------------------------------------------
    def _monitors(self) -> dict[int, Any]:
        """The service's monitors by id: tagged ``service:<service>`` or named after it."""
        from datadog_api_client.v1.api.monitors_api import MonitorsApi

        api = MonitorsApi(self.api_client)
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

        api = EventsApi(self.api_client)
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
    ) -> tuple[list[Any], bool, list[str]]:
        """Items of a cursor-paginated search, newest first: (items, cut, warnings).

        ``cut`` is true when ``cap`` items were read and Datadog offered another page.
        """
        items: list[Any] = []
        warnings: list[str] = []
        cursor: str | None = None
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
                return items, False, warnings
            if len(items) >= cap:
                return items, True, warnings


# -- helpers ---------------------------------------------------------------------------
def _text(value: Any) -> str:
    """The text of an enum model (``MonitorOverallStates``) or a plain value."""
    return str(getattr(value, "value", value) or "")


# -- live_fetch entry point ----------------------------------------------------------------
def manifest_query(
    name: str, incident: Incident, window: Window, *, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """What :func:`fetch` asks Datadog for ``name``: for the evidence manifest (no keys)."""
    site = normalise_site(environ.get("DD_SITE") or "datadoghq.com")
    base: dict[str, Any] = {"site": site, "from": iso(window.start), "to": iso(window.end)}
    service = incident.service
    if name == "metrics":
        env = environ.get("INCIDENT_DD_ENV") or DEFAULT_ENV
        return base | {
            "interval": f"{rollup_interval(window)}s",
            "queries": default_queries(service, env, namespace=incident.namespace),
        }
    if name == "monitor_events":
        return base | {
            "monitor_tags": [f"service:{service}"],
            "monitor_name": service,
            "events_query": "source:alert",
        }
    if name == "logs":
        return base | {"query": f"service:{service}", "max_events": LOG_CAP}
    return base | {"query": f"service:{service} -source:alert", "max_events": EVENT_CAP}


def fetch(name: str, incident: Incident, window: Window, *, progress: bool = False) -> pd.DataFrame:
    """Fetch ``name`` (one of :data:`FETCH_NAMES`) for ``incident`` from Datadog.

    The source is built from the environment (:meth:`DatadogSource.from_environment`)
    for the incident's service and namespace. Truncation and partial answers are
    listed in ``frame.attrs["notes"]``, which the runbook shows and records, so
    they are never silent. ``progress`` shows a progress bar over the log pages.

    Raises
    ------
    SourceUnavailable
        Not configured, unreachable or refused, or ``name`` is not served here.
    """
    check_fetch_name(SOURCE, name, FETCH_NAMES)
    with DatadogSource.from_environment(
        service=incident.service, namespace=incident.namespace
    ) as source:
        if name == "metrics":
            return source.metrics(window)
        if name == "monitor_events":
            return source.monitor_events(window)
        if name == "logs":
            return source.logs(window, progress=progress)
        return source.events(window)
