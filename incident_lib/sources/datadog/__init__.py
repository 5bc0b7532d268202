"""Datadog source: metrics, monitor state changes, events and logs of one service.

:class:`DatadogSource` talks to the Datadog API through ``datadog-api-client``
with an injected ``Configuration`` (:meth:`DatadogSource.from_environment` builds
one from ``DD_API_KEY``, ``DD_APP_KEY`` and ``DD_SITE``; a ``host`` replaces the
site's API host, for tests) and returns frames that meet the contracts of
:mod:`incident_lib.core.schema`. Only read endpoints are called. Every failure a user
will meet becomes a :class:`SourceUnavailable` whose reason says what to do; the
keys never appear in a frame, a note or a reason (see :mod:`.http` for
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
  at most 500 characters; tags comma-joined; redacted when captured). There is no contract for
  them in :mod:`incident_lib.core.schema` yet (``datadog_events`` would be it).
* **Logs**: v2 ``LogsApi.list_logs`` (``POST /api/v2/logs/events/search``),
  default query ``service:<service>`` (every status: the signatures and the
  baseline comparison need the info lines too), newest first, page by page
  (``page[cursor]`` = ``meta.page.after``) up to :data:`LOG_CAP` events: like the
  Kubernetes source, a cut keeps the *newest* events and says so in
  the fetch's notes. Rows are built by :func:`.frames.log_row`.

Modules, by job: :mod:`.source` (:class:`DatadogSource`, the façade),
:mod:`.connector` (:class:`DatadogConnector`, the
:class:`~incident_lib.sources.base.Source` protocol the runbook uses),
:mod:`.http` (configuration, retries, reasons), :mod:`.requests` (request
bodies) and :mod:`.frames` (answers -> frames; public, the demo uses it).
Importing this package imports neither the client nor pandas.
"""

from __future__ import annotations

from .connector import FETCH_NAMES, DatadogConnector
from .frames import rollup_interval
from .http import DEFAULT_TIMEOUT
from .source import DEFAULT_ENV, EVENT_CAP, LOG_CAP, DatadogSource, default_queries

__all__ = [
    "DEFAULT_ENV",
    "DEFAULT_TIMEOUT",
    "EVENT_CAP",
    "FETCH_NAMES",
    "LOG_CAP",
    "DatadogConnector",
    "DatadogSource",
    "default_queries",
    "rollup_interval",
]
