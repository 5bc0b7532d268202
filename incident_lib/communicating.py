"""Telling people from the runbook: draft kept, dry run shown, sent only when confirmed, recorded.

:func:`communicate` is what the notebooks (through ``Runbook.send``) and the
``incident send`` commands call; it is the one place that decides whether a
message or a change leaves the machine:

* without ``confirm`` nothing is sent and nothing written: the result holds the
  exact requests a confirmed send would make, secrets masked, for the caller
  to show beside the draft;
* with ``confirm`` the draft is kept first, in ``comms/drafts/`` of the
  workspace (redacted), so a failed or refused send never loses the text;
* with ``confirm``: refused offline (a post-mortem re-run must never page
  anyone) and on demo workspaces (their incident is not real);
* every confirmed send, failed or not, lands on the timeline (``people`` lane,
  kind ``message`` or ``message_failed``) with who, when, what and the answer,
  and the ids it returned (a Status page incident, filed issues) are kept in
  ``comms/state.json`` for the next send.

Which channel is configured comes from the environment only
(:func:`channel_for`); credentials never reach a parameter, an output or the
timeline.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .comms import CHANNELS, Channel, Draft, PagerDuty, PagerDutyIncident, Sent
from .core.errors import ActionRefused, InvalidInput, SourceUnavailable
from .core.incident import Incident
from .core.text import shorten
from .core.timeline import Event
from .infra.files import atomic_write_text, check_inside
from .infra.redact import redact, redact_obj
from .infra.workspace import Workspace

__all__ = [
    "COMMS_DIR",
    "Communicated",
    "channel_for",
    "communicate",
    "keep_draft",
    "last_sent",
    "link_event",
    "message_event",
    "remember_refs",
    "sent_refs",
    "sync_pagerduty",
]

#: the workspace folder that keeps drafts and what was sent
COMMS_DIR = "comms"
_STATE = "state.json"
_SLUG = re.compile(r"[^a-z0-9]+")
#: how many sends ``comms/state.json`` lists (the timeline keeps them all)
_KEEP_SENT = 500


@dataclass(frozen=True, slots=True)
class Communicated:
    """What :func:`communicate` did.

    Attributes
    ----------
    draft
        The draft as kept and sent (its text and payload redacted).
    requests
        The exact requests a confirmed send makes, secrets masked, one block each.
    sent
        What sending did; None for a dry run.
    kept
        The file the draft was kept in (every send attempted keeps it, so a
        refused or failed one loses nothing); None for a dry run.
    """

    draft: Draft
    requests: str
    sent: Sent | None
    kept: Path | None

    @property
    def dry_run(self) -> bool:
        """Nothing was sent."""
        return self.sent is None


def channel_for(name: str, environ: Mapping[str, str] = os.environ) -> Channel:
    """The channel ``name`` configured from ``environ``.

    Parameters
    ----------
    name
        One of ``pagerduty``, ``slack``, ``statuspage``, ``github``.
    environ
        Where the credentials are read (``os.environ`` unless given).

    Raises
    ------
    InvalidInput
        An unknown channel.
    SourceUnavailable
        The channel is not configured; the message names the variables to set.
    """
    if name not in CHANNELS:
        raise InvalidInput(f"channel {name!r} is not one of {', '.join(CHANNELS)}")
    from . import comms

    channel: Channel | None
    if name == "pagerduty":
        channel = comms.PagerDuty.from_environment(environ)
    elif name == "slack":
        channel = comms.Slack.from_environment(environ)
    elif name == "statuspage":
        channel = comms.Statuspage.from_environment(environ)
    else:
        channel = comms.GitHub.from_environment(environ)
    if channel is None:
        needs = {
            "pagerduty": "INCIDENT_PAGERDUTY_TOKEN and INCIDENT_PAGERDUTY_FROM",
            "slack": "INCIDENT_SLACK_WEBHOOK_URL, or INCIDENT_SLACK_BOT_TOKEN and "
            "INCIDENT_SLACK_CHANNEL",
            "statuspage": "INCIDENT_STATUSPAGE_API_KEY and INCIDENT_STATUSPAGE_PAGE_ID",
            "github": "INCIDENT_GITHUB_TOKEN and INCIDENT_GITHUB_REPO",
        }[name]
        raise SourceUnavailable(name, f"not configured: set {needs} in the environment")
    return channel


def communicate(
    workspace: Workspace,
    draft: Draft,
    channel: Channel,
    *,
    live: bool,
    confirm: bool = False,
    by: str = "",
    section: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Communicated:
    """Keep ``draft``, show its requests, and send it only when confirmed; record the send.

    Parameters
    ----------
    workspace
        The incident's workspace (drafts, state and timeline are written there).
    draft
        What to send.
    channel
        The configured channel (:func:`channel_for`); its name must be the draft's.
    live
        Whether this run may reach the systems at all (``mode="live"``).
    confirm
        Send; without it nothing leaves the machine.
    by
        Who sends (recorded on the timeline).
    section
        Where it was sent from (``"01_triage"``, ``"cli"``), for the timeline.
    clock
        The current time.

    Returns
    -------
    Communicated
        The requests shown and, when sent, the kept draft and what sending did.

    Raises
    ------
    InvalidInput
        A channel that is not the draft's, or one that cannot build the requests
        (a setting missing: the draft is kept all the same).
    ActionRefused
        ``confirm`` offline or on a demo workspace (the draft is kept all the same).
    """
    if channel.name != draft.channel:
        raise InvalidInput(f"a {draft.channel} draft cannot be sent through {channel.name}")
    # drafts quote the evidence: what leaves the machine is redacted like everything shown
    draft = replace(draft, text=redact(draft.text), payload=redact_obj(draft.payload))
    at = clock()
    try:
        requests = "\n\n".join(channel.http.shown(call) for call in channel.calls(draft))
    except InvalidInput:  # e.g. a setting writes need is missing: the text is kept all the same
        if confirm:
            keep_draft(workspace, draft, at=at)
        raise
    if not confirm:  # the caller shows the draft; nothing is written
        return Communicated(draft, requests, None, None)
    kept = keep_draft(workspace, draft, requests=requests, at=at)
    if not live:
        raise ActionRefused(
            f"{draft.describe()} is refused offline: an offline run replays captured evidence "
            f"and never sends; run it live to send (the draft is kept in {_rel(workspace, kept)})"
        )
    if workspace.demo_scenario:
        raise ActionRefused(
            f"{draft.describe()} is refused on a demo workspace: its incident is not real "
            f"(the draft is kept in {_rel(workspace, kept)})"
        )
    sent = channel.send(draft)
    sent = Sent(
        draft=sent.draft,
        ok=sent.ok,
        detail=redact(sent.detail),
        replies=sent.replies,
        links=sent.links,
        refs=dict(sent.refs),
    )
    _remember(workspace, sent, at, by)
    events = [message_event(sent, at=at, by=by, section=section)]
    if len(sent.links) > 1:  # one event each: a summary's 500 characters hold a few only
        events += [link_event(sent, link, at=at, by=by, section=section) for link in sent.links]
    workspace.timeline.append(events)
    return Communicated(draft, requests, sent, kept)


def message_event(sent: Sent, *, at: datetime, by: str = "", section: str = "") -> Event:
    """The timeline event of a confirmed send (``people`` lane).

    Its kind is ``message`` when every request was accepted, else
    ``message_failed``; its summary says what, by whom, the answer and the links.
    """
    draft = sent.draft
    who = f" by {by}" if by else ""
    parts = [f"{draft.describe()}{who}: {sent.detail}"]
    if sent.links:
        parts.append(" ".join(sent.links))
    first = next((line.strip() for line in draft.text.splitlines() if line.strip()), "")
    if first:
        parts.append(first)
    stamp = f"{at:%Y-%m-%dT%H:%M:%S.%fZ}"  # two sends within a second are two events
    return Event(
        time=at,
        source="people",
        kind="message" if sent.ok else "message_failed",
        summary=shorten(redact("; ".join(parts)), 500),
        key=f"{draft.channel} {draft.action} {draft.target}@{stamp}",
        section=section,
        author=by,
    )


def link_event(sent: Sent, link: str, *, at: datetime, by: str = "", section: str = "") -> Event:
    """The timeline event of one thing a send made or found (an issue, a status-page incident).

    Its kind is ``message_link``; its key is the channel and the link, so filing
    again adds nothing.
    """
    draft = sent.draft
    return Event(
        time=at,
        source="people",
        kind="message_link",  # after its send's own event (same time: ordered by kind)
        summary=shorten(redact(f"{draft.describe()}: {link}"), 500),
        key=f"{draft.channel} link {link}",
        section=section,
        author=by,
    )


def sent_refs(workspace: Workspace) -> dict[str, str]:
    """The ids earlier sends returned (``statuspage_incident``, ``pagerduty_incident``...)."""
    state = _read_state(workspace)
    refs = state.get("refs", {})
    return {str(k): str(v) for k, v in refs.items()} if isinstance(refs, dict) else {}


def last_sent(workspace: Workspace, channel: str) -> datetime | None:
    """When a send through ``channel`` last succeeded, None when none did.

    Parameters
    ----------
    workspace
        The incident's workspace.
    channel
        ``statuspage``, ``slack``...: the cadence of updates is counted from it.
    """
    history = _read_state(workspace).get("sent", [])
    times = [
        datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
        for item in (history if isinstance(history, list) else [])
        if isinstance(item, dict) and item.get("channel") == channel and item.get("ok") is True
    ]
    return max(times) if times else None


def sync_pagerduty(
    workspace: Workspace, pagerduty: PagerDuty, incident_id: str = ""
) -> tuple[Incident, list[Event]]:
    """The pager's times and commander into the record; status and responders onto the timeline.

    The PagerDuty incident is ``incident_id``, else the one remembered for the
    workspace (opened from a PagerDuty alert or an earlier import). Times come
    from its log entries (see :func:`incident_lib.comms.apply_pagerduty`), so
    MTTA and MTTR rest on the pager's clock.

    Parameters
    ----------
    workspace
        The incident's workspace (``incident.yaml`` and the timeline are updated).
    pagerduty
        The configured channel (reads only).
    incident_id
        The PagerDuty incident (``PT4KHLK``); default: the remembered one.

    Returns
    -------
    tuple[Incident, list[Event]]
        The updated record and the status events added to the timeline (already
        recorded ones are not added again).

    Raises
    ------
    InvalidInput
        No incident id given or remembered, a malformed one, or pager times that
        contradict the record (nothing is written).
    SourceUnavailable
        PagerDuty did not answer or refused.
    """
    from .comms import apply_pagerduty, check_pagerduty_id
    from .core.timeline import status_event
    from .infra.workspace import write_incident

    wanted = incident_id.strip() or sent_refs(workspace).get("pagerduty_incident", "")
    if not wanted:
        raise InvalidInput(
            "no PagerDuty incident is known for this workspace: give its id "
            "(incident sync WS --pagerduty PT4KHLK)"
        )
    found = pagerduty.fetch_incident(check_pagerduty_id(wanted))
    updated = apply_pagerduty(workspace.incident, found)
    workspace.timeline.read()  # a damaged timeline stops us before the record changes
    if updated != workspace.incident:
        write_incident(updated, workspace.path, overwrite=True)
    remember_refs(workspace, {"pagerduty_incident": found.id})
    events = [
        status_event(kind, moment, author=author)
        for kind, moment, author in (
            ("detected", found.detected, "pagerduty"),
            ("acknowledged", found.acknowledged, found.acknowledged_by or "pagerduty"),
            ("resolved", found.resolved, "pagerduty"),
        )
        if moment is not None
    ]
    people = _responders(found)
    if people is not None:
        events.append(people)
    return updated, workspace.timeline.append(events)


def _responders(found: PagerDutyIncident) -> Event | None:
    """Who the pager assigned and asked to respond, as a ``people`` event (once per set)."""
    parts = []
    if found.assignees:
        parts.append(f"assigned: {', '.join(found.assignees)}")
    if found.responders:
        parts.append(f"asked to respond: {', '.join(found.responders)}")
    at = found.acknowledged or found.detected
    if not parts or at is None:
        return None
    names = sorted({*found.assignees, *found.responders})
    return Event(
        time=at,
        source="people",
        kind="responders",
        summary=shorten(redact(f"PagerDuty {found.id}: " + "; ".join(parts)), 500),
        key=f"responders {found.id} {','.join(names)}",
        author="pagerduty",
    )


def remember_refs(workspace: Workspace, refs: Mapping[str, str]) -> None:
    """Keep ``refs`` (e.g. the PagerDuty incident an incident was imported from)."""
    state = _read_state(workspace)
    known = state.get("refs", {})
    state["refs"] = {**(known if isinstance(known, dict) else {}), **refs}
    _write_state(workspace, state)


def keep_draft(
    workspace: Workspace, draft: Draft, *, requests: str = "", at: datetime | None = None
) -> Path:
    """Write ``draft`` (and the requests a send makes) to ``comms/drafts/``, redacted.

    Parameters
    ----------
    workspace
        The incident's workspace.
    draft
        What was drafted.
    requests
        The requests as shown (secrets masked), ``""`` when no channel is configured.
    at
        When it was drafted (default: now); part of the file name.

    Returns
    -------
    Path
        The file written.
    """
    at = at or datetime.now(UTC)
    folder = check_inside(workspace.path / COMMS_DIR / "drafts", workspace.path)
    folder.mkdir(parents=True, exist_ok=True)
    slug = _SLUG.sub("-", f"{draft.channel}-{draft.action}".lower()).strip("-")
    target = folder / f"{at:%Y%m%dT%H%M%S.%f}Z-{slug}.md"
    lines = [f"# {draft.describe()}", "", f"Drafted at {at:%Y-%m-%d %H:%M:%S} UTC.", ""]
    lines += [draft.text.strip(), ""]
    if requests:
        lines += ["## Requests a confirmed send makes (secrets masked)", "", "```", requests, "```"]
    atomic_write_text(target, redact("\n".join(lines)) + "\n", root=workspace.path)
    return target


def _remember(workspace: Workspace, sent: Sent, at: datetime, by: str) -> None:
    state = _read_state(workspace)
    known = state.get("refs", {})
    state["refs"] = {**(known if isinstance(known, dict) else {}), **sent.refs}
    record = {
        "at": f"{at:%Y-%m-%dT%H:%M:%SZ}",
        "channel": sent.draft.channel,
        "action": sent.draft.action,
        "target": sent.draft.target,
        "ok": sent.ok,
        "detail": sent.detail,
        "links": list(sent.links),
        "by": by,
    }
    history = state.get("sent", [])
    state["sent"] = [*(history if isinstance(history, list) else []), record][-_KEEP_SENT:]
    _write_state(workspace, state)


def _state_file(workspace: Workspace) -> Path:
    return check_inside(workspace.path / COMMS_DIR / _STATE, workspace.path)


def _read_state(workspace: Workspace) -> dict[str, Any]:
    file = _state_file(workspace)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"{_rel(workspace, file)} is not readable JSON ({type(exc).__name__}): fix or "
            "remove it (it lists what was sent; the timeline keeps the same)"
        ) from None
    return data if isinstance(data, dict) else {}


def _write_state(workspace: Workspace, state: Mapping[str, Any]) -> None:
    file = _state_file(workspace)
    file.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(state, indent=1, ensure_ascii=False, sort_keys=True)
    atomic_write_text(file, redact(text) + "\n", root=workspace.path)


def _rel(workspace: Workspace, path: Path) -> str:
    try:
        return str(path.relative_to(workspace.path))
    except ValueError:
        return str(path)
