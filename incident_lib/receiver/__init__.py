"""The alert receiver: alert payloads in, incidents with a bundle out.

:mod:`.alerts` turns the senders' payloads (Alertmanager, PagerDuty, Datadog) into
:class:`~.alerts.Notice` values; :mod:`.routing` maps a notice to the incident to
create and the notebooks to run, from the receiver's configuration file;
:mod:`.server` is the HTTP side, :mod:`.pipeline` the work per notice (capture,
bundle), :mod:`.notify` the message back and :mod:`.service` ``incident serve``.
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
from .jobs import JobRunner, JobSettings
from .notify import Delivery, Message, Notifier
from .pipeline import Handled, Pipeline
from .routing import IncidentPlan, ReceiverConfig, Route, incident_for, load_config
from .server import Drained, Receiver, WebhookRoute
from .service import build_receiver, serve

__all__ = [
    "Delivery",
    "Drained",
    "Handled",
    "IncidentPlan",
    "JobRunner",
    "JobSettings",
    "Message",
    "Notice",
    "NoticeStatus",
    "Notifier",
    "Parser",
    "PayloadRejected",
    "Pipeline",
    "Receiver",
    "ReceiverConfig",
    "Route",
    "WebhookRoute",
    "build_receiver",
    "incident_for",
    "load_config",
    "pagerduty_parser",
    "parse_alertmanager",
    "parse_datadog",
    "serve",
]
