"""Talking to people's tools: PagerDuty, Slack, Atlassian Statuspage and GitHub issues.

Each service is a channel configured from the environment only
(``from_environment``); drafts are built from the evidence without credentials
or I/O (:class:`Draft`), shown as the exact requests a send makes with secrets
masked (:meth:`Call.shown`), and sent by the channel with retries (:class:`Http`).
Whether a draft may be sent, keeping it and recording the send on the timeline
is :mod:`incident_lib.communicating`'s job: this package never touches a workspace.

- :mod:`._http`: one request shown, sent with retries, secrets masked;
- :mod:`._model`: :class:`Draft`, :class:`Sent`, the :class:`Channel` protocol;
- :mod:`.github`: the post-mortem's action items filed as issues once each;
- :mod:`.pagerduty`: acknowledge, resolve, notes; the incident's times and responders read
  from its log entries (:meth:`PagerDuty.fetch_incident`, :func:`apply_pagerduty`);
- :mod:`.slack`: the announcement, status updates and the resolution in Block Kit, by
  incoming webhook or ``chat.postMessage`` (later posts in the announcement's thread);
- :mod:`.statuspage`: open, update and resolve the public incident, the update cadence.
"""

from __future__ import annotations

from ._http import MASK, Call, Http, Reply
from ._model import CHANNELS, Channel, ChannelName, Draft, Sent
from .github import GitHub, file_action_items
from .pagerduty import (
    PAGERDUTY_NOTE_CHARS,
    PagerDuty,
    PagerDutyIncident,
    apply_pagerduty,
    check_pagerduty_id,
    incident_from_pagerduty,
    pagerduty_acknowledge,
    pagerduty_note,
    pagerduty_resolve,
)
from .slack import Slack
from .statuspage import Statuspage

__all__ = [
    "CHANNELS",
    "MASK",
    "PAGERDUTY_NOTE_CHARS",
    "Call",
    "Channel",
    "ChannelName",
    "Draft",
    "GitHub",
    "Http",
    "PagerDuty",
    "PagerDutyIncident",
    "Reply",
    "Sent",
    "Slack",
    "Statuspage",
    "apply_pagerduty",
    "check_pagerduty_id",
    "file_action_items",
    "incident_from_pagerduty",
    "pagerduty_acknowledge",
    "pagerduty_note",
    "pagerduty_resolve",
]
