"""Datadog request bodies (v2 timeseries, logs and events search) from a window.

The client's model classes are imported when a body is built, never at module import.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...core.time import Window

__all__ = ["events_request", "iso", "logs_request", "ms", "timeseries_request"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-11-03T13:20:00.000Z``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def timeseries_request(window: Window, batch: list[tuple[str, str]], step: int) -> Any:
    """One named query and one formula (``q0``, ``q1``...) per ``(key, query)``; ``step`` s."""
    from datadog_api_client.v2.model.metrics_data_source import MetricsDataSource
    from datadog_api_client.v2.model.metrics_timeseries_query import MetricsTimeseriesQuery
    from datadog_api_client.v2.model.query_formula import QueryFormula
    from datadog_api_client.v2.model.timeseries_formula_query_request import (
        TimeseriesFormulaQueryRequest,
    )
    from datadog_api_client.v2.model.timeseries_formula_request import TimeseriesFormulaRequest
    from datadog_api_client.v2.model.timeseries_formula_request_attributes import (
        TimeseriesFormulaRequestAttributes,
    )
    from datadog_api_client.v2.model.timeseries_formula_request_queries import (
        TimeseriesFormulaRequestQueries,
    )
    from datadog_api_client.v2.model.timeseries_formula_request_type import (
        TimeseriesFormulaRequestType,
    )

    names = [f"q{i}" for i in range(len(batch))]
    queries = [
        MetricsTimeseriesQuery(data_source=MetricsDataSource.METRICS, name=name, query=query)
        for name, (_, query) in zip(names, batch, strict=True)
    ]
    return TimeseriesFormulaQueryRequest(
        data=TimeseriesFormulaRequest(
            type=TimeseriesFormulaRequestType.TIMESERIES_REQUEST,
            attributes=TimeseriesFormulaRequestAttributes(
                _from=ms(window.start),
                to=ms(window.end),
                interval=step * 1000,
                queries=TimeseriesFormulaRequestQueries(queries),  # type: ignore[no-untyped-call]
                formulas=[QueryFormula(formula=name) for name in names],
            ),
        )
    )


def logs_request(window: Window, query: str, cursor: str | None, limit: int) -> Any:
    """A logs search page over ``window``, newest first."""
    from datadog_api_client.v2.model.logs_list_request import LogsListRequest
    from datadog_api_client.v2.model.logs_list_request_page import LogsListRequestPage
    from datadog_api_client.v2.model.logs_query_filter import LogsQueryFilter
    from datadog_api_client.v2.model.logs_sort import LogsSort

    page = LogsListRequestPage(limit=limit, **({"cursor": cursor} if cursor else {}))
    return LogsListRequest(
        filter=LogsQueryFilter(_from=iso(window.start), to=iso(window.end), query=query),
        page=page,
        sort=LogsSort.TIMESTAMP_DESCENDING,
    )


def events_request(
    start: datetime, end: datetime, query: str, cursor: str | None, limit: int
) -> Any:
    """An events search page over ``[start, end)``, newest first."""
    from datadog_api_client.v2.model.events_list_request import EventsListRequest
    from datadog_api_client.v2.model.events_query_filter import EventsQueryFilter
    from datadog_api_client.v2.model.events_request_page import EventsRequestPage
    from datadog_api_client.v2.model.events_sort import EventsSort

    page = EventsRequestPage(limit=limit, **({"cursor": cursor} if cursor else {}))
    return EventsListRequest(
        filter=EventsQueryFilter(_from=iso(start), to=iso(end), query=query),
        page=page,
        sort=EventsSort.TIMESTAMP_DESCENDING,
    )
