"""The Datadog source as the runbook sees it: the :class:`~incident_lib.sources.base.Source`
protocol over :class:`~.source.DatadogSource`.

Each fetch builds a client for the incident's service and namespace from the
environment (``DD_API_KEY``, ``DD_APP_KEY``, ``DD_SITE``, ``INCIDENT_DD_ENV``)
and closes it afterwards. :meth:`DatadogConnector.query` records what a fetch
asks Datadog: the site, the time range and the metric queries or the search
query; never a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..base import BudgetedConnector, Fetched, Limits, check_frame
from .frames import rollup_interval
from .http import SOURCE, normalise_site
from .requests import iso
from .source import DEFAULT_ENV, EVENT_CAP, LOG_CAP, DatadogSource, default_queries

if TYPE_CHECKING:
    from ...core.incident import Incident
    from ...core.time import Window

__all__ = ["FETCH_NAMES", "DatadogConnector"]

#: frames it provides (the ``datadog`` entries of ``schema.EVIDENCE_KINDS``)
FETCH_NAMES = ("metrics", "monitor_events", "logs", "events")


class DatadogConnector(BudgetedConnector):
    """Metrics, monitor state changes, logs and events of an incident's service, from Datadog.

    Parameters
    ----------
    environ
        Where ``DD_API_KEY``, ``DD_APP_KEY``, ``DD_SITE`` and ``INCIDENT_DD_ENV`` are read.
    host
        Replaces the site's API host (tests).
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
        host: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.host = host
        self._start_budget(environ, limits)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> DatadogConnector:
        """The connector configured from ``environ`` (keys are checked at the first fetch)."""
        return cls(environ=environ)

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        """What :meth:`fetch` asks Datadog for ``frame``, for the evidence manifest (no keys)."""
        check_frame(self, frame)
        site = normalise_site(self.environ.get("DD_SITE") or "datadoghq.com")
        base: dict[str, Any] = {"site": site, "from": iso(window.start), "to": iso(window.end)}
        service = incident.service
        if frame == "metrics":
            env = self.environ.get("INCIDENT_DD_ENV") or DEFAULT_ENV
            return base | {
                "interval": f"{rollup_interval(window)}s",
                "queries": incident.metric_queries(
                    "datadog", default_queries(service, env, namespace=incident.namespace)
                ),
            }
        if frame == "monitor_events":
            return base | {
                "monitor_tags": [f"service:{service}"],
                "monitor_name": service,
                "events_query": "source:alert",
            }
        if frame == "logs":
            return base | {"query": f"service:{service}", "max_events": LOG_CAP}
        return base | {"query": f"service:{service} -source:alert", "max_events": EVENT_CAP}

    def _fetch(self, frame: str, incident: Incident, window: Window, progress: bool) -> Fetched:
        with DatadogSource.from_environment(
            service=incident.service,
            namespace=incident.namespace,
            environ=self.environ,
            host=self.host,
            budget=self.budget,
            max_bytes=self.limits.max_bytes,
        ) as source:
            if frame == "metrics":
                return source.metrics(
                    window,
                    queries=incident.metric_queries("datadog", source.default_queries()),
                )
            if frame == "monitor_events":
                return source.monitor_events(window)
            if frame == "logs":
                return source.logs(window, progress=progress)
            return source.events(window)
