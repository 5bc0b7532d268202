"""Prometheus source: range and instant PromQL queries, and the alerts Prometheus holds.

:class:`PrometheusSource` talks to the Prometheus HTTP API (``/api/v1/query_range``,
``/api/v1/query``, ``/api/v1/alerts``) through an injected ``requests.Session``
(:meth:`PrometheusSource.from_environment` reads ``PROMETHEUS_URL`` and an
optional bearer token ``PROMETHEUS_TOKEN``). Query results become ``metrics``
frames, alerts ``monitor_events`` frames (contracts in :mod:`incident_lib.core.schema`).
Every failure becomes a :class:`SourceUnavailable` whose reason says what went
wrong; the token, the headers' values and any password in the URL never appear
in a reason. :class:`PrometheusConnector` is the
:class:`~incident_lib.sources.base.Source` protocol the runbook uses.

Decisions
---------
* **Step.** Unless given, the step is the largest of :data:`NICE_STEPS` that still
  gives at least :data:`TARGET_POINTS` points over the window (2 h -> 60 s,
  1 h -> 30 s, 24 h -> 10 min), never below 10 s, and never so small that a
  series would exceed Prometheus' 11,000 points. Sample times are multiples of
  the step (as Grafana aligns them), so captures of overlapping windows line up.
  The window is half-open: a point at its end is dropped.
* **Scope** of a row is the series' label set without ``__name__``, sorted and
  rendered ``k=v,k=v``; an aggregated series without labels has scope ``""``.
* **Values** that are ``NaN`` or infinite (a ratio over zero traffic, a quantile
  of an empty histogram) are dropped, not kept as gaps.
* **Retries**: a timeout or a 502 / 503 / 504 answer is retried once, after
  :data:`RETRY_DELAY` seconds; nothing else is retried.
* **Bounds**: every request's timeout is clipped to what is left of the
  source's time budget (:class:`~incident_lib.sources.base.Budget`; used up:
  "time budget of N s used up"), an answer is read through a byte cap
  (``max_bytes``, checking the budget between chunks) and one holding more than
  ``max_points`` samples is refused before any row is built: "reply too large:
  narrow the query or the window".
* **Errors**: a PromQL Prometheus rejects (``errorType`` ``bad_data``) is reported
  as ``bad PromQL for <key>: <Prometheus' message>``; a query that returns no
  series is not an error: it is listed in the notes of the result, with any
  ``warnings`` Prometheus sent.
* **Alerts** are all the alerts the server holds (firing and pending), whatever
  the service: relating them to the service is analysis' job. ``time`` is the
  alert's ``activeAt``: when its expression first became true, that is when it
  became *pending*; a rule with ``for:`` fires that much later. Messages are
  returned as Prometheus holds them; the evidence store redacts them on capture.
* **Default queries** (:func:`default_queries`) follow common conventions
  (instrumented ``http_requests_total`` / ``http_request_duration_seconds``,
  cAdvisor, postgres_exporter); they are a starting point to override per
  service, not a discovery of what the service exports.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInput, SourceUnavailable
from ..core.schema import conform, empty_frame
from ..core.text import shorten
from ..core.time import Window, format_duration, parse_time
from .base import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_POINTS,
    MAX_BYTES_ENV,
    MAX_POINTS_ENV,
    TOO_LARGE,
    Budget,
    BudgetedConnector,
    Fetched,
    Limits,
    check_frame,
    format_size,
    scrub_secrets,
)

if TYPE_CHECKING:
    import pandas as pd
    import requests

    from ..core.incident import Incident

__all__ = [
    "DEFAULT_TIMEOUT",
    "FETCH_NAMES",
    "MAX_POINTS",
    "NICE_STEPS",
    "TARGET_POINTS",
    "PrometheusConnector",
    "PrometheusSource",
    "auto_step",
    "default_queries",
    "parse_step",
    "safe_url",
]

SOURCE = "prometheus"
#: seconds to wait for each HTTP answer
DEFAULT_TIMEOUT = 15.0
#: frames :class:`PrometheusConnector` provides (its ``schema.EVIDENCE_KINDS`` entries)
FETCH_NAMES = ("metrics", "monitor_events")
#: fewest points per series the automatic step aims for
TARGET_POINTS = 120
#: Prometheus refuses range queries of more points per series than this
MAX_POINTS = 11_000
#: candidate automatic steps, in seconds
NICE_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
#: seconds to wait before the one retry of a timeout or a 502 / 503 / 504 answer
RETRY_DELAY = 0.5
_RETRY_STATUSES = frozenset({502, 503, 504})
#: labels shown next to the alert name in ``monitor`` (when the alert has them)
_KEY_LABELS = ("service", "namespace", "job", "instance", "pod", "deployment", "severity")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_QUERY_PARAM = re.compile(r'^invalid parameter "query":\s*')


class PrometheusSource:
    """Read-only client of one Prometheus server (or a compatible API: Thanos, Mimir...).

    Parameters
    ----------
    url
        Base URL, e.g. ``"http://prometheus.monitoring:9090"`` (a path prefix is kept).
    session
        A ``requests.Session`` to send requests with; default: a new one, closed by
        :meth:`close`.
    timeout
        Seconds to wait for each answer (connect and read).
    headers
        Extra headers sent with every request (``Authorization``, ``X-Scope-OrgID``).
        They are never shown in reasons or in ``repr``.
    budget
        The time this source may spend (shared with the connector's other
        fetches); default: none.
    max_bytes, max_points
        Most bytes and samples one answer may hold; a larger one is refused.
    """

    def __init__(
        self,
        *,
        url: str,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        budget: Budget | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> None:
        if not re.match(r"^https?://[^/]", url or ""):
            raise InvalidInput(
                f"Prometheus URL must start with http:// or https://, got {safe_url(url)!r}"
            )
        if session is None:
            import requests

            session = requests.Session()
            self._owns_session = True
        else:
            self._owns_session = False
        self.url = url.rstrip("/")
        self.session = session
        self.timeout = timeout
        self._headers = dict(headers or {})
        self.budget = budget if budget is not None else Budget.unlimited(SOURCE)
        self.max_bytes = max_bytes
        self.max_points = max_points

    def __repr__(self) -> str:
        return f"PrometheusSource(url={safe_url(self.url)!r})"

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        budget: Budget | None = None,
        limits: Limits | None = None,
    ) -> PrometheusSource:
        """Build the source from ``PROMETHEUS_URL`` and optional ``PROMETHEUS_TOKEN``.

        The token, when set, is sent as ``Authorization: Bearer <token>``.
        ``budget`` and ``limits`` (size caps; default: the defaults) bound it.

        Raises
        ------
        SourceUnavailable
            ``PROMETHEUS_URL`` is not set or is not an http(s) URL.
        """
        url = (environ.get("PROMETHEUS_URL") or "").strip()
        if not url:
            raise SourceUnavailable(SOURCE, "PROMETHEUS_URL is not set")
        token = (environ.get("PROMETHEUS_TOKEN") or "").strip()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = limits or Limits()
        try:
            return cls(
                url=url,
                timeout=timeout,
                headers=headers,
                budget=budget,
                max_bytes=limits.max_bytes,
                max_points=limits.max_points,
            )
        except InvalidInput as exc:
            raise SourceUnavailable(SOURCE, f"PROMETHEUS_URL: {exc}") from None

    def close(self) -> None:
        """Close the session (only one this source created itself)."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- frames ------------------------------------------------------------------
    def query_range(
        self, queries: Mapping[str, str], window: Window, *, step: str | None = None
    ) -> Fetched:
        """Evaluate each PromQL query over ``window`` (contract ``metrics``).

        Parameters
        ----------
        queries
            Metric key (e.g. ``"error_rate"``) -> PromQL. The key becomes the
            ``metric`` column, the PromQL the ``query`` column.
        window
            The time range; points at or after its end are dropped.
        step
            Resolution: a Prometheus duration (``"30s"``, ``"1m30s"``) or seconds
            (``"15"``). Default: :func:`auto_step` of the window.

        Returns
        -------
        Fetched
            One row per sample, sorted by metric, scope and time. Queries that
            returned no series, and Prometheus' warnings, are the notes.

        Raises
        ------
        InvalidInput
            ``step`` is not a duration or gives more than :data:`MAX_POINTS` points.
        SourceUnavailable
            Unreachable, refused, or a query Prometheus rejects (the reason names it).
        """
        seconds = auto_step(window.duration) if step is None else parse_step(step)
        points = window.duration.total_seconds() / seconds
        if points > MAX_POINTS:
            least = math.ceil(window.duration.total_seconds() / MAX_POINTS)
            raise InvalidInput(
                f"step {step} over {format_duration(window.duration)} gives {points:,.0f} "
                f"points per series; Prometheus allows {MAX_POINTS:,}: use a step of at "
                f"least {least} s"
            )
        start = math.ceil(window.start.timestamp() / seconds) * seconds
        params = {"start": f"{start:.3f}", "end": f"{window.end.timestamp():.3f}", "step": seconds}
        frames, notes = [], []
        for key, promql in queries.items():
            data, warnings = self._api("/api/v1/query_range", {"query": promql, **params}, key)
            frame = _frame(key, promql, data)
            frame = frame[frame["time"] < window.end]
            notes += [f"{key}: {w}" for w in warnings]
            if frame.empty:
                notes.append(f"{key}: no data for {promql}")
            frames.append(frame)
        return _finish(frames, notes)

    def query(self, promql: str, at: datetime, *, metric: str | None = None) -> Fetched:
        """Evaluate ``promql`` at one moment (instant query; contract ``metrics``).

        Parameters
        ----------
        promql
            The expression.
        at
            When to evaluate it (timezone-aware).
        metric
            The ``metric`` column; default: the PromQL itself.

        Returns
        -------
        Fetched
            One row per series (a range selector such as ``x[5m]`` gives one row
            per raw sample); a scalar gives one row with scope ``""``. An empty
            answer and Prometheus' warnings are the notes.

        Raises
        ------
        SourceUnavailable
            Unreachable, refused, or the expression is rejected.
        """
        moment = parse_time(at, field="at")
        what = metric or shorten(promql, 60)
        data, warnings = self._api(
            "/api/v1/query", {"query": promql, "time": f"{moment.timestamp():.3f}"}, what
        )
        frame = _frame(metric or promql, promql, data)
        notes = [f"{what}: {w}" for w in warnings]
        if frame.empty:
            notes.append(f"{what}: no data at {moment:%Y-%m-%d %H:%M:%S}Z")
        return _finish([frame], notes)

    def alerts(self) -> pd.DataFrame:
        """Alerts the server holds now, firing and pending (contract ``monitor_events``).

        ``state`` is ``alert`` (firing) or ``warn`` (pending); ``monitor_id`` is a
        stable id of the alert name and all labels; ``monitor`` is the alert name
        with its key labels (service, namespace, job, instance, pod, deployment,
        severity); ``message`` is the ``summary`` annotation, else ``description``.
        Sorted by time.
        """
        import pandas as pd

        data, _ = self._api("/api/v1/alerts", {}, "alerts")
        rows = [
            _alert_row(alert)
            for alert in (data or {}).get("alerts") or []
            if alert.get("state") in ("firing", "pending")
        ]
        if not rows:
            return empty_frame("monitor_events")
        frame = conform(pd.DataFrame(rows), "monitor_events")
        return frame.sort_values(["time", "monitor"], kind="stable").reset_index(drop=True)

    # -- HTTP --------------------------------------------------------------------
    def _api(self, path: str, params: Mapping[str, Any], what: str) -> tuple[Any, list[str]]:
        """GET ``path``, retrying once on a timeout or 502/503/504; the ``data`` and warnings.

        Reasons and warnings never hold the configured header values (the token).
        """
        try:
            with self.budget.spending():
                data, warnings = self._get(path, params, what)
        except SourceUnavailable as exc:
            raise SourceUnavailable(SOURCE, self._scrub(exc.reason)) from None
        samples = _samples(data)
        if samples > self.max_points:
            raise SourceUnavailable(
                SOURCE,
                f"{TOO_LARGE} ({what}: {samples:,} samples; the cap is {self.max_points:,}, "
                f"{MAX_POINTS_ENV})",
            )
        return data, [self._scrub(w) for w in warnings]

    def _scrub(self, text: str) -> str:
        """``text`` without the configured header values (nor a bearer token alone)."""
        values = list(self._headers.values())
        values += [v.split(" ", 1)[1] for v in values if " " in v]
        return scrub_secrets(text, values)

    def _get(self, path: str, params: Mapping[str, Any], what: str) -> tuple[Any, list[str]]:
        import requests

        where = safe_url(self.url)
        for attempt in (1, 2):
            timeout = self.budget.clip(self.timeout)
            try:
                response = self.session.get(
                    self.url + path,
                    params=params,
                    headers=self._headers,
                    timeout=timeout,
                    stream=True,
                )
                try:
                    content = self._read(response)
                finally:
                    response.close()
            except requests.RequestException as exc:
                if not _timed_out(exc):
                    raise SourceUnavailable(SOURCE, _network_reason(exc, where)) from None
                if timeout < self.timeout:  # the budget's end, not the timeout
                    raise self.budget.used_up(f"{where} did not answer") from None
                if attempt == 1 and self.budget.remaining() > RETRY_DELAY:
                    time.sleep(RETRY_DELAY)
                    continue
                raise SourceUnavailable(
                    SOURCE, f"{where} did not answer within {self.timeout:g} s (tried twice)"
                ) from None
            retry = response.status_code in _RETRY_STATUSES and attempt == 1
            if retry and self.budget.remaining() > RETRY_DELAY:
                time.sleep(RETRY_DELAY)
                continue
            return _payload(response, content, where, what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, response: Any) -> bytes:
        """The body, read through the byte cap, checking the budget between chunks."""
        declared = str(response.headers.get("Content-Length") or "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large(size, more=True)
            chunks.append(chunk)
            self.budget.check(f"{safe_url(self.url)} was still sending its answer")
        return b"".join(chunks)

    def _too_large(self, size: int, *, more: bool = False) -> SourceUnavailable:
        over = "over " if more else ""
        return SourceUnavailable(
            SOURCE,
            f"{TOO_LARGE} (an answer of {over}{format_size(size)}; the cap is "
            f"{format_size(self.max_bytes)}, {MAX_BYTES_ENV})",
        )


# -- steps and default queries -----------------------------------------------------
def auto_step(duration: timedelta) -> int:
    """The step in seconds for a window of ``duration`` (see the module notes).

    Examples
    --------
    >>> auto_step(timedelta(hours=2)), auto_step(timedelta(minutes=10))
    (60, 10)
    """
    ideal = duration.total_seconds() / TARGET_POINTS
    fitting = [s for s in NICE_STEPS if s <= ideal]
    nice = fitting[-1] if fitting else NICE_STEPS[0]
    return max(nice, math.ceil(duration.total_seconds() / MAX_POINTS))


def parse_step(step: str | float) -> float:
    """Seconds of a step given as a Prometheus duration (``"1m30s"``) or a number.

    Raises
    ------
    InvalidInput
        Not a positive duration.
    """
    text = str(step).strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise InvalidInput(
                f"step {step!r} is not a duration; write it like 30s, 1m or 1m30s"
            ) from None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InvalidInput(f"step {step!r} must be more than zero")
    return seconds


def default_queries(
    service: str,
    namespace: str,
    *,
    service_label: str = "service",
    database: str | None = None,
) -> dict[str, str]:
    """PromQL for the canonical metric keys, following common exporter conventions.

    These are conventions, not discovery: a service that names or labels its
    metrics differently needs its own queries (pass them to
    :meth:`PrometheusSource.query_range`).

    ============== ===============================================================
    request_rate   ``sum(rate(http_requests_total{<service_label>="<service>"}[1m]))``, req/s
    error_rate     the same with ``code=~"5.."``, 5xx req/s
    latency_p95    ``histogram_quantile(0.95, ...http_request_duration_seconds_bucket
                   ...[5m]) * 1000``, ms
    cpu            cAdvisor ``container_cpu_usage_seconds_total`` of the pods named
                   ``<service>-...`` in ``namespace`` (``container!=""`` leaves out the
                   pod-level cgroup series), summed, cores
    memory         cAdvisor ``container_memory_working_set_bytes``, same pods, bytes
    db_connections postgres_exporter ``pg_stat_activity_count`` of database
                   ``database`` (default: the service name), summed over states
    ============== ===============================================================

    Parameters
    ----------
    service, namespace
        The service name and its Kubernetes namespace.
    service_label
        The label carrying the service name on the HTTP metrics (``job``, ``app``...).
    database
        The PostgreSQL database name, when it differs from the service name.
    """
    http = f'{service_label}="{_quote(service)}"'
    pods = f'namespace="{_quote(namespace)}", pod=~"{re.escape(service)}-.*", container!=""'
    db = f'datname="{_quote(database or service)}"'
    return {
        "request_rate": f"sum(rate(http_requests_total{{{http}}}[1m]))",
        "error_rate": f'sum(rate(http_requests_total{{{http}, code=~"5.."}}[1m]))',
        "latency_p95": (
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(http_request_duration_seconds_bucket{{{http}}}[5m]))) * 1000"
        ),
        "cpu": f"sum(rate(container_cpu_usage_seconds_total{{{pods}}}[5m]))",
        "memory": f"sum(container_memory_working_set_bytes{{{pods}}})",
        "db_connections": f"sum(pg_stat_activity_count{{{db}}})",
    }


# -- parsing -----------------------------------------------------------------------
def _payload(response: Any, content: bytes, where: str, what: str) -> tuple[Any, list[str]]:
    """``data`` and ``warnings`` of a Prometheus answer, or the reason it is unusable."""
    import json

    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("status") == "success" and response.ok:
        return body.get("data"), [str(w) for w in body.get("warnings") or []]
    if isinstance(body, dict) and body.get("status") == "error":
        message = _one_line(_QUERY_PARAM.sub("", str(body.get("error", ""))))
        kind = body.get("errorType", "error")
        if kind == "bad_data":
            raise SourceUnavailable(SOURCE, f"bad PromQL for {what}: {message}")
        raise SourceUnavailable(SOURCE, f"{what} failed at {where} ({kind}): {message}")
    code = response.status_code
    if code == 401:
        reason = f"{where} rejected the credentials (401): check PROMETHEUS_TOKEN"
    elif code == 403:
        reason = f"{where} refused access (403): the token lacks read permission"
    elif code == 404:
        reason = f"{where} has no Prometheus API (404): check PROMETHEUS_URL"
    elif response.ok:
        reason = f"{where} answered {what} with something that is not the Prometheus API"
    else:
        text = _one_line(content.decode(response.encoding or "utf-8", "replace"))
        reason = f"{where} answered HTTP {code}" + (f": {text}" if text else "")
    raise SourceUnavailable(SOURCE, reason)


def _samples(data: Any) -> int:
    """How many samples an answer's ``data`` holds (0 for what is not a query result)."""
    if not isinstance(data, dict):
        return 0
    result = data.get("result")
    if data.get("resultType") == "matrix" and isinstance(result, list):
        return sum(len(s.get("values") or []) for s in result if isinstance(s, dict))
    if data.get("resultType") == "vector" and isinstance(result, list):
        return len(result)
    return 0


def _timed_out(exc: Exception) -> bool:
    """Whether a requests error is a timeout (before or while reading the answer)."""
    import requests

    if isinstance(exc, requests.Timeout):
        return True
    return isinstance(exc, requests.ConnectionError) and "timed out" in str(exc).lower()


def _frame(metric: str, promql: str, data: Any) -> pd.DataFrame:
    """Rows of one query result (matrix, vector or scalar), non-finite values dropped."""
    import pandas as pd

    data = data or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        series: Iterable[tuple[Mapping[str, str], list[Any]]] = [({}, [result])]
    elif kind == "vector":
        series = ((s.get("metric") or {}, [s["value"]]) for s in result or [])
    elif kind == "matrix":
        series = ((s.get("metric") or {}, s.get("values") or []) for s in result or [])
    else:
        raise SourceUnavailable(SOURCE, f"{metric}: a {kind} result cannot become metrics rows")
    times, scopes, values = [], [], []
    for labels, samples in series:
        scope = _scope(labels)
        for stamp, text in samples:
            value = float(text)
            if math.isfinite(value):
                times.append(round(float(stamp) * 1000))
                scopes.append(scope)
                values.append(value)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(pd.Series(times, dtype="int64"), unit="ms", utc=True),
            "metric": metric,
            "query": promql,
            "scope": pd.Series(scopes, dtype="str"),
            "value": pd.Series(values, dtype="float64"),
        }
    )
    return conform(frame, "metrics")


def _finish(frames: list[pd.DataFrame], notes: list[str]) -> Fetched:
    import pandas as pd

    kept = [f for f in frames if not f.empty]
    if kept:
        frame = pd.concat(kept, ignore_index=True)
        frame = frame.sort_values(["metric", "scope", "time"], kind="stable")
        frame = conform(frame, "metrics")
    else:
        frame = empty_frame("metrics")
    return Fetched(frame, tuple(notes))


def _scope(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")


def _alert_row(alert: Mapping[str, Any]) -> dict[str, Any]:
    labels = dict(alert.get("labels") or {})
    name = labels.get("alertname", "alert")
    canonical = "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    key = ",".join(f"{k}={labels[k]}" for k in _KEY_LABELS if labels.get(k))
    annotations = alert.get("annotations") or {}
    message = annotations.get("summary") or annotations.get("description") or ""
    return {
        "time": alert.get("activeAt"),
        "monitor_id": f"{name}-{digest}",
        "monitor": f"{name}{{{key}}}" if key else name,
        "state": "alert" if alert.get("state") == "firing" else "warn",
        "message": str(message),
    }


# -- small helpers -----------------------------------------------------------------
def _quote(value: str) -> str:
    """Escape a value for a double-quoted PromQL label matcher."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _one_line(text: str, limit: int = 300) -> str:
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return shorten(line, limit, whole_tokens=True) if line else ""


def safe_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, a query string or a fragment.

    Examples
    --------
    >>> safe_url("https://bot:hunter2@prom.example:9090/api?x=1")
    'https://prom.example:9090/api'
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url or "")
        host = parts.hostname
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if not host:
        return re.sub(r"//[^/@]*@", "//", url or "")
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


def _network_reason(exc: Exception, where: str) -> str:
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS with {where} failed: {_one_line(text.split('SSLError(')[-1])}"
    if "refused" in text.lower():
        return f"{where} refused the connection"
    if "NameResolution" in text or "resolve" in text.lower():
        return f"{where} could not be reached: its name does not resolve"
    if isinstance(exc, requests.ConnectionError):
        return f"{where} could not be reached ({type(exc).__name__})"
    return f"request to {where} failed ({type(exc).__name__})"


# -- the Source protocol ---------------------------------------------------------------
class PrometheusConnector(BudgetedConnector):
    """Metrics and alerts of an incident's service, from the Prometheus at ``PROMETHEUS_URL``.

    Parameters
    ----------
    environ
        Where ``PROMETHEUS_URL`` and ``PROMETHEUS_TOKEN`` are read (at each fetch).
    timeout
        Seconds to wait for each answer.
    limits
        Time budget and size caps (default: :meth:`Limits.from_environment`). The
        budget starts here and is shared by every fetch of this connector.

    Raises
    ------
    InvalidInput
        A limit in the environment is not a positive number.
    """

    name: str = SOURCE
    frames: tuple[str, ...] = FETCH_NAMES

    def __init__(
        self,
        *,
        environ: Mapping[str, str] = os.environ,
        timeout: float = DEFAULT_TIMEOUT,
        limits: Limits | None = None,
    ) -> None:
        self.timeout = timeout
        self._start_budget(environ, limits)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PrometheusConnector:
        """The connector configured from ``environ`` (the URL is checked at the first fetch)."""
        return cls(environ=environ)

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        """The server (without credentials) and the PromQL or endpoint a fetch uses."""
        check_frame(self, frame)
        base = {"url": safe_url((self.environ.get("PROMETHEUS_URL") or "").strip())}
        if frame == "monitor_events":
            return base | {"endpoint": "/api/v1/alerts", "states": ["firing", "pending"]}
        return base | {
            "window": str(window),
            "step": f"{auto_step(window.duration)}s",
            "queries": _queries(incident),
        }

    def _fetch(self, frame: str, incident: Incident, window: Window, progress: bool) -> Fetched:
        """``metrics`` evaluates :func:`default_queries` of the incident's service and
        namespace (the record's own ``queries.prometheus`` in their place) over ``window``;
        ``monitor_events`` is :meth:`PrometheusSource.alerts` (the alerts held now, whatever
        ``window``). ``progress`` is not used: the
        handful of queries needs no progress bar."""
        del progress
        with PrometheusSource.from_environment(
            self.environ, timeout=self.timeout, budget=self.budget, limits=self.limits
        ) as source:
            if frame == "metrics":
                return source.query_range(_queries(incident), window)
            return Fetched(source.alerts())


def _queries(incident: Incident) -> dict[str, str]:
    """The conventional queries of the incident's service, overridden by its record."""
    return incident.metric_queries(
        "prometheus", default_queries(incident.service, incident.namespace)
    )
