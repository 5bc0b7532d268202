"""What every communication channel shares: a draft, what sending it did, the channel protocol.

A :class:`Draft` is built from the evidence without credentials or I/O: the text
people will read and the channel's payload. A :class:`Channel` (configured from
the environment) turns a draft into the exact :class:`~._http.Call` values a
confirmed send makes (:meth:`Channel.calls`, no I/O, for the dry run) and sends
it (:meth:`Channel.send`), returning a :class:`Sent` that never quotes a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

from ..core.errors import InvalidInput
from ._http import Call, Http, Reply

__all__ = ["CHANNELS", "Channel", "ChannelName", "Draft", "Sent"]

ChannelName = Literal["pagerduty", "slack", "statuspage", "github"]
#: the services a runbook can talk to
CHANNELS: tuple[ChannelName, ...] = get_args(ChannelName)


@dataclass(frozen=True, slots=True)
class Draft:
    """A message or change drafted from the evidence, not yet sent.

    Attributes
    ----------
    channel
        One of :data:`CHANNELS`.
    action
        What sending it does, a short phrase: ``"acknowledge"``, ``"announce"``,
        ``"status update"``, ``"resolve"``, ``"note"``, ``"file action items"``.
    text
        What people will read, in plain text (shown before sending, kept when a
        send fails).
    payload
        The channel's content, JSON-compatible (Block Kit blocks, a Statuspage
        incident, a list of issues...).
    target
        What it is sent to, when it names something that exists: a PagerDuty
        incident id, a Statuspage incident id, ``owner/repo``; ``""`` otherwise.
    """

    channel: ChannelName
    action: str
    text: str
    payload: Any = None
    target: str = ""

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise InvalidInput(f"channel {self.channel!r} is not one of {', '.join(CHANNELS)}")
        if not self.action.strip():
            raise InvalidInput("a draft needs an action, e.g. 'status update'")

    def describe(self) -> str:
        """``"slack: announce"``, ``"pagerduty: acknowledge P1ABCD"``."""
        target = f" {self.target}" if self.target else ""
        return f"{self.channel}: {self.action}{target}"


@dataclass(frozen=True, slots=True)
class Sent:
    """What sending a draft did.

    Attributes
    ----------
    draft
        What was sent.
    ok
        Every request was accepted.
    detail
        In words, never a secret: ``"posted (200)"``, ``"created 2 issues (#12, #13);
        1 already filed (#10)"``, ``"refused: 401 unauthorized: ..."``.
    replies
        One per request made, in order.
    links
        URLs the service made or points to (issues, the status-page incident).
    refs
        Ids to remember for the next send, e.g. ``{"statuspage_incident": "p31zjtct2jer"}``.
    """

    draft: Draft
    ok: bool
    detail: str
    replies: tuple[Reply, ...] = ()
    links: tuple[str, ...] = ()
    refs: Mapping[str, str] = field(default_factory=dict)


class Channel(Protocol):
    """One configured service (:mod:`incident_lib.comms`)."""

    @property
    def name(self) -> ChannelName:
        """The channel's name (one of :data:`CHANNELS`)."""
        ...

    @property
    def http(self) -> Http:
        """The client that sends, holding the channel's secrets (for masking)."""
        ...

    def calls(self, draft: Draft) -> tuple[Call, ...]:
        """The writes a confirmed send of ``draft`` makes, exactly; no I/O."""
        ...

    def send(self, draft: Draft) -> Sent:
        """Send ``draft`` (reads it needs included); never raises for an answer."""
        ...
