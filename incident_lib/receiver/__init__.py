"""The alert receiver: alert payloads in, incidents with a bundle out.

:mod:`.alerts` turns the senders' payloads (Alertmanager, PagerDuty, Datadog) into
:class:`~.alerts.Notice` values; :mod:`.routing` maps a notice to the incident to
create and the notebooks to run, from the receiver's configuration file.
"""

from __future__ import annotations

from .alerts import (
    Notice,
    NoticeStatus,
    Parser,
    PayloadRejected,
    pagerduty_parser,
    parse_alertmanager,
    parse_datadog,
)
from .routing import IncidentPlan, ReceiverConfig, Route, incident_for, load_config

__all__ = [
    "IncidentPlan",
    "Notice",
    "NoticeStatus",
    "Parser",
    "PayloadRejected",
    "ReceiverConfig",
    "Route",
    "incident_for",
    "load_config",
    "pagerduty_parser",
    "parse_alertmanager",
    "parse_datadog",
]
