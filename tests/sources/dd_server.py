"""A fake Datadog API for the tests of ``incident_lib.sources.datadog``.

A threaded HTTP server on 127.0.0.1 (port 0) serving the endpoints the source
uses, with payloads built from ``datadog-api-client``'s own model classes and
serialised by its own ``model_utils.data_to_dict`` (what the client uses for the
wire), so the shapes are right by construction:

* ``POST /api/v2/query/timeseries``: the series registered per query string
  (:meth:`FakeDatadogServer.add_series`), one response series per formula and
  registered series, points inside ``[from, to)``, ``errors`` when set;
* ``POST /api/v2/logs/events/search`` and ``POST /api/v2/events/search``: the
  logs / events inside ``[from, to)`` matching the query (space-separated
  ``key:value`` terms, ``-`` negates; ``service``, ``source`` or a tag), sorted
  as asked, ``page[limit]`` per page with ``meta.page.after`` as the cursor;
* ``GET /api/v1/monitor``: monitors filtered by ``monitor_tags`` and ``name``
  (substring, any case), paged by ``page`` / ``page_size``.

Every request is recorded (:attr:`FakeDatadogServer.requests`: method, path,
query, headers, JSON body). With ``api_key`` / ``app_key`` set, a request
without both keys gets 403 ``{"errors": ["Forbidden"]}`` as Datadog answers.
:meth:`FakeDatadogServer.fail` answers a status (with headers such as
``X-RateLimit-Reset``) a number of times or for ever; :meth:`FakeDatadogServer.drop`
closes the connection without an answer; :meth:`FakeDatadogServer.hang` never
answers (until the server closes).
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import LoopbackServer

__all__ = [
    "FakeDatadogServer",
    "FakeSeries",
    "Recorded",
    "event",
    "log",
    "monitor",
    "unit",
]

#: Datadog unit name -> (family, plural, scale factor, short name)
_UNITS = {
    "second": ("time", "seconds", 1.0, "s"),
    "millisecond": ("time", "milliseconds", 0.001, "ms"),
    "nanocore": ("cpu", "nanocores", 1e-9, "ncores"),
    "byte": ("bytes", "bytes", 1.0, "B"),
    "mebibyte": ("bytes", "mebibytes", 1048576.0, "MiB"),
    "hit": ("general", "hits", 1.0, "hits"),
    "percent": ("percentage", "percent", 1.0, "%"),
}


# -- model builders ------------------------------------------------------------------------
def unit(name: str) -> Any:
    """A v2 ``Unit`` model for ``name`` (see ``_UNITS``)."""
    from datadog_api_client.v2.model.unit import Unit

    family, plural, scale, short = _UNITS[name]
    return Unit(family=family, name=name, plural=plural, scale_factor=scale, short_name=short)


def log(
    time: datetime,
    message: str | None,
    *,
    status: str | None = None,
    tags: tuple[str, ...] = (),
    host: str | None = None,
    service: str = "api",
    attributes: dict[str, Any] | None = None,
    ident: str | None = None,
) -> Any:
    """A v2 ``Log`` model."""
    from datadog_api_client.v2.model.log import Log
    from datadog_api_client.v2.model.log_attributes import LogAttributes
    from datadog_api_client.v2.model.log_type import LogType

    fields: dict[str, Any] = {"timestamp": time, "service": service, "tags": list(tags)}
    if message is not None:
        fields["message"] = message
    if status is not None:
        fields["status"] = status
    if host is not None:
        fields["host"] = host
    if attributes is not None:
        fields["attributes"] = attributes
    return Log(
        id=ident or f"AQAAAY{int(time.timestamp() * 1000)}",
        type=LogType.LOG,
        attributes=LogAttributes(**fields),
    )


def event(
    time: datetime,
    title: str,
    *,
    message: str = "",
    tags: tuple[str, ...] = (),
    monitor_id: int | None = None,
    status: str | None = None,
    source_type: str | None = None,
) -> Any:
    """A v2 ``EventResponse`` model (as the events search returns it)."""
    from datadog_api_client.v2.model.event_attributes import EventAttributes
    from datadog_api_client.v2.model.event_response import EventResponse
    from datadog_api_client.v2.model.event_response_attributes import EventResponseAttributes
    from datadog_api_client.v2.model.event_status_type import EventStatusType
    from datadog_api_client.v2.model.event_type import EventType

    inner: dict[str, Any] = {
        "title": title,
        "timestamp": int(time.timestamp() * 1000),
        "tags": list(tags),
    }
    if monitor_id is not None:
        inner["monitor_id"] = monitor_id
    if status is not None:
        inner["status"] = EventStatusType(status)
    if source_type is not None:
        inner["source_type_name"] = source_type
    return EventResponse(
        id=f"AZ{int(time.timestamp() * 1000)}{abs(hash(title)) % 10**6}",
        type=EventType.EVENT,
        attributes=EventResponseAttributes(
            timestamp=time, message=message, tags=list(tags), attributes=EventAttributes(**inner)
        ),
    )


def monitor(ident: int, name: str, *, tags: tuple[str, ...] = (), state: str = "OK") -> Any:
    """A v1 ``Monitor`` model with id and ``overall_state`` (read-only: set after building)."""
    from datadog_api_client.v1.model.monitor import Monitor
    from datadog_api_client.v1.model.monitor_overall_states import MonitorOverallStates
    from datadog_api_client.v1.model.monitor_type import MonitorType

    made = Monitor(
        name=name,
        type=MonitorType.METRIC_ALERT,
        query="avg(last_5m):sum:trace.http.request.errors{service:api}.as_rate() > 1",
        tags=list(tags),
        message="5xx rate high @pagerduty-api",
    )
    made.id = ident
    made.overall_state = MonitorOverallStates(state)
    return made


def _wire(obj: Any) -> Any:
    from datadog_api_client.model_utils import data_to_dict

    return data_to_dict(obj)


def _error_body(*errors: str) -> Any:
    from datadog_api_client.v2.model.api_error_response import APIErrorResponse

    return _wire(APIErrorResponse(errors=list(errors)))


# -- recording and faults ------------------------------------------------------------------
@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int | None  # None: hang; 0: close the connection without an answer
    headers: dict[str, str]
    errors: tuple[str, ...]
    times: int | None  # None: for ever


@dataclass
class FakeSeries:
    """One series of a query: points (time, value or None), group tags, unit name."""

    points: list[tuple[datetime, float | None]]
    group_tags: tuple[str, ...] = ()
    unit: str | None = None


@dataclass
class FakeDatadogServer(LoopbackServer):
    """The fake API; use as a context manager (``with FakeDatadogServer() as dd:``)."""

    api_key: str | None = None
    app_key: str | None = None
    series: dict[str, list[FakeSeries]] = field(default_factory=lambda: defaultdict(list))
    timeseries_errors: str | None = None
    logs: list[Any] = field(default_factory=list)
    log_warnings: list[tuple[str, str, str]] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)
    monitors: list[Any] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle ---------------------------------------------------------------------
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler bound to this fake."""
        return _Handler

    @property
    def netloc(self) -> str:
        """``127.0.0.1:<port>``."""
        return self.url.removeprefix("http://")

    def configuration(self, **options: Any) -> Any:
        """A real ``datadog_api_client.Configuration`` pointed at this server, with its keys."""
        from datadog_api_client import Configuration

        keys = {"apiKeyAuth": self.api_key or "k", "appKeyAuth": self.app_key or "a"}
        return Configuration(host=self.url, api_key=keys, **options)

    # -- content and behaviour ---------------------------------------------------------
    def add_series(self, query: str, *series: FakeSeries) -> None:
        """Serve ``series`` for the timeseries query string ``query``."""
        self.series[query].extend(series)

    def add_event(self, item: Any, *, source: str = "my_apps") -> None:
        """Serve ``item`` (an ``EventResponse``) with the search source ``source``."""
        self.events.append((source, item))

    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int | None = None,
        headers: dict[str, str] | None = None,
        errors: tuple[str, ...] = (),
    ) -> None:
        """Answer ``status`` to requests whose path matches ``path`` (``times`` times)."""
        self._faults.append(_Fault(re.compile(path), status, dict(headers or {}), errors, times))

    def drop(self, path: str, *, times: int | None = None) -> None:
        """Close the connection without answering requests whose path matches ``path``."""
        self._faults.append(_Fault(re.compile(path), 0, {}, (), times))

    def hang(self, path: str) -> None:
        """Never answer requests whose path matches ``path`` (until :meth:`close`)."""
        self._faults.append(_Fault(re.compile(path), None, {}, (), None))

    # -- serving -----------------------------------------------------------------------
    def handle(self, handler: _Handler) -> None:
        path, query, headers = self.request_parts(handler)
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Recorded(handler.command, path, query, headers, body))
            fault = next((f for f in self._faults if f.pattern.search(path)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        if fault is not None:
            if fault.status is None:
                self._closing.wait(30)
                return
            if fault.status == 0:
                handler.close_connection = True
                return
            errors = fault.errors or (_DEFAULT_ERRORS.get(fault.status, "Internal Server Error"),)
            handler.send_json(fault.status, _error_body(*errors), fault.headers)
            return
        if self.api_key is not None and (
            headers.get("dd-api-key") != self.api_key
            or headers.get("dd-application-key") != self.app_key
        ):
            handler.send_json(403, _error_body("Forbidden"))
            return
        route = (handler.command, path)
        if route == ("POST", "/api/v2/query/timeseries"):
            handler.send_json(200, self._timeseries(body))
        elif route == ("POST", "/api/v2/logs/events/search"):
            handler.send_json(200, self._logs(body))
        elif route == ("POST", "/api/v2/events/search"):
            handler.send_json(200, self._events(body))
        elif route == ("GET", "/api/v1/monitor"):
            handler.send_json(200, self._monitors(query))
        else:
            handler.send_json(404, _error_body("Not found"))

    def _timeseries(self, body: dict[str, Any]) -> Any:
        from datadog_api_client.v2.model.timeseries_formula_query_response import (
            TimeseriesFormulaQueryResponse,
        )
        from datadog_api_client.v2.model.timeseries_formula_response_type import (
            TimeseriesFormulaResponseType,
        )
        from datadog_api_client.v2.model.timeseries_response import TimeseriesResponse
        from datadog_api_client.v2.model.timeseries_response_attributes import (
            TimeseriesResponseAttributes,
        )
        from datadog_api_client.v2.model.timeseries_response_series import TimeseriesResponseSeries
        from datadog_api_client.v2.model.timeseries_response_series_list import (
            TimeseriesResponseSeriesList,
        )
        from datadog_api_client.v2.model.timeseries_response_times import TimeseriesResponseTimes
        from datadog_api_client.v2.model.timeseries_response_values import TimeseriesResponseValues
        from datadog_api_client.v2.model.timeseries_response_values_list import (
            TimeseriesResponseValuesList,
        )

        attributes = body["data"]["attributes"]
        start, end = attributes["from"], attributes["to"]
        by_name = {q["name"]: q["query"] for q in attributes["queries"]}
        formulas = [f["formula"] for f in attributes.get("formulas") or []] or list(by_name)
        found: list[tuple[int, FakeSeries, dict[int, float | None]]] = []
        for index, name in enumerate(formulas):
            for fake in self.series.get(by_name.get(name, ""), []):
                points = {
                    int(t.timestamp() * 1000): v
                    for t, v in fake.points
                    if start <= t.timestamp() * 1000 < end
                }
                found.append((index, fake, points))
        times = sorted({t for _, _, points in found for t in points})
        series = [
            TimeseriesResponseSeries(
                group_tags=list(fake.group_tags),
                query_index=index,
                unit=[unit(fake.unit), None] if fake.unit else None,
            )
            for index, fake, _ in found
        ]
        values = [
            TimeseriesResponseValues([points.get(t) for t in times]) for _, _, points in found
        ]
        extra = {"errors": self.timeseries_errors} if self.timeseries_errors else {}
        response = TimeseriesFormulaQueryResponse(
            data=TimeseriesResponse(
                type=TimeseriesFormulaResponseType.TIMESERIES_RESPONSE,
                attributes=TimeseriesResponseAttributes(
                    series=TimeseriesResponseSeriesList(series),
                    times=TimeseriesResponseTimes(times),
                    values=TimeseriesResponseValuesList(values),
                ),
            ),
            **extra,
        )
        return _wire(response)

    def _logs(self, body: dict[str, Any]) -> Any:
        from datadog_api_client.v2.model.logs_list_response import LogsListResponse
        from datadog_api_client.v2.model.logs_list_response_links import LogsListResponseLinks
        from datadog_api_client.v2.model.logs_response_metadata import LogsResponseMetadata
        from datadog_api_client.v2.model.logs_response_metadata_page import (
            LogsResponseMetadataPage,
        )
        from datadog_api_client.v2.model.logs_warning import LogsWarning

        def fields(item: Any) -> dict[str, Any]:
            a = item.attributes
            return {"service": a.get("service"), "tags": a.get("tags") or [], "source": None}

        items = [(item, item.attributes.timestamp, fields(item)) for item in self.logs]
        page, after = _search_page(items, body)
        meta: dict[str, Any] = {}
        if after:
            meta["page"] = LogsResponseMetadataPage(after=after)
        if self.log_warnings:
            meta["warnings"] = [
                LogsWarning(code=c, detail=d, title=t) for c, d, t in self.log_warnings
            ]
        extra: dict[str, Any] = {"meta": LogsResponseMetadata(**meta)} if meta else {}
        if after:
            extra["links"] = LogsListResponseLinks(
                next=f"{self.url}/api/v2/logs/events?page[cursor]={after}"
            )
        return _wire(LogsListResponse(data=page, **extra))

    def _events(self, body: dict[str, Any]) -> Any:
        from datadog_api_client.v2.model.events_list_response import EventsListResponse
        from datadog_api_client.v2.model.events_list_response_links import (
            EventsListResponseLinks,
        )
        from datadog_api_client.v2.model.events_response_metadata import EventsResponseMetadata
        from datadog_api_client.v2.model.events_response_metadata_page import (
            EventsResponseMetadataPage,
        )

        items = [
            (
                item,
                item.attributes.timestamp,
                {"service": None, "tags": item.attributes.get("tags") or [], "source": source},
            )
            for source, item in self.events
        ]
        page, after = _search_page(items, body)
        extra: dict[str, Any] = {}
        if after:
            extra["meta"] = EventsResponseMetadata(page=EventsResponseMetadataPage(after=after))
            extra["links"] = EventsListResponseLinks(
                next=f"{self.url}/api/v2/events?page[cursor]={after}"
            )
        return _wire(EventsListResponse(data=page, **extra))

    def _monitors(self, query: dict[str, str]) -> Any:
        wanted_tags = [t for t in query.get("monitor_tags", "").split(",") if t]
        name = query.get("name", "").lower()
        found = [
            m
            for m in self.monitors
            if all(t in (m.tags or []) for t in wanted_tags) and name in m.name.lower()
        ]
        if "page" in query:
            size = int(query.get("page_size") or 100)
            first = int(query["page"]) * size
            found = found[first : first + size]
        return [_wire(m) for m in found]


_DEFAULT_ERRORS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    429: "Rate limit of 300 requests in 3600 seconds reached. Please try again later.",
    503: "Service Unavailable",
}


def _search_page(
    items: list[tuple[Any, datetime, dict[str, Any]]], body: dict[str, Any]
) -> tuple[list[Any], str | None]:
    """One page of a v2 search (logs or events): filter, sort, cursor = offset."""
    filt = body.get("filter") or {}
    start = _parse(filt.get("from"))
    end = _parse(filt.get("to"))
    terms = (filt.get("query") or "").split()
    chosen = [
        (item, when)
        for item, when, fields in items
        if start <= when < end and all(_term_matches(t, fields) for t in terms)
    ]
    chosen.sort(key=lambda pair: pair[1], reverse=body.get("sort") == "-timestamp")
    page = body.get("page") or {}
    offset = int(page.get("cursor") or 0)
    limit = int(page.get("limit") or 10)
    after = str(offset + limit) if offset + limit < len(chosen) else None
    return [item for item, _ in chosen[offset : offset + limit]], after


def _term_matches(term: str, fields: dict[str, Any]) -> bool:
    negate = term.startswith("-")
    key, _, value = term.lstrip("-").partition(":")
    if key in ("service", "source") and fields.get(key) is not None:
        hit = fields[key] == value
    else:
        hit = f"{key}:{value}" in fields.get("tags", [])
    return hit != negate


def _parse(text: str | None) -> datetime:
    if not text:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDatadogServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            self.fake.handle(self)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            self.close_connection = True

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""
