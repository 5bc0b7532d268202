"""The post-mortem document (``postmortem.md``), its action items as JSON and as issue texts.

The document has the runbook's sections: summary, impact, timeline, root cause,
what went well, what could have gone better, action items, lessons learned and
the response times (TTD, TTA, TTM, TTR) with their definitions.

The numbers and the timeline come from the evidence. The human parts (root
cause, went well / could improve, action items, lessons) come from
``postmortem.yaml`` (:class:`~incident_lib.core.postmortem.PostmortemInput`);
where it is absent, or a part is left out, the document proposes a draft from
the evidence, marked :data:`DRAFT`, e.g. "Detection took 2 min after the onset".

Every claim names the evidence it rests on: a clause's ``refs``
(:class:`~incident_lib.analysis.diagnosis.Clause`) or an event's
:attr:`~incident_lib.core.timeline.Event.reference`. Text from the systems and
from people is redacted and quoted (:func:`~incident_lib.core.text.md_text`,
:func:`~incident_lib.core.text.md_code`), so ``size <NUM>`` stays text.

The same inputs give byte-identical output apart from the ``Generated`` line:
nothing here reads the clock or the disk.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.diagnosis import Clause, Diagnosis
from ..analysis.impact import Impact, ResponseTimes, response_times
from ..core.errors import InvalidInput
from ..core.incident import Incident
from ..core.metrics import format_percent
from ..core.postmortem import ActionItem, PostmortemInput, parse_postmortem
from ..core.text import md_code, md_text, shorten
from ..core.time import format_duration, utc
from ..core.timeline import Event, events_frame, events_from_frame
from ..infra.redact import redact
from .render import safe_markdown

if TYPE_CHECKING:
    import pandas as pd

    from ..infra.workspace import Workspace
    from .story import Story

__all__ = [
    "ACTION_ITEMS_FILE",
    "DRAFT",
    "FOLLOWUP_LABEL",
    "MAX_MECHANISM_ITEMS",
    "MAX_TIMELINE_ROWS",
    "POSTMORTEM_FILE",
    "POSTMORTEM_INPUT",
    "SLOW_DETECTION",
    "FollowUp",
    "PostmortemFiles",
    "action_items",
    "action_items_json",
    "issue_texts",
    "postmortem_html",
    "postmortem_markdown",
    "write_postmortem",
]

#: how a part drafted from the evidence is marked
DRAFT = "Draft (from the evidence; edit postmortem.yaml)"
#: the label every follow-up issue carries
FOLLOWUP_LABEL = "incident-followup"
#: the timeline table keeps at most this many rows (key events first)
MAX_TIMELINE_ROWS = 40
#: at most this many "add a test and an alert" drafts (one per mechanism)
MAX_MECHANISM_ITEMS = 4
#: detection slower than this counts as something to improve in the drafts
SLOW_DETECTION = timedelta(minutes=5)

#: change kinds that can trigger an incident (a rollback is a mitigation)
_TRIGGER_KINDS = ("deploy", "config", "scale", "commit", "event")
#: event kinds that show a mechanism when the diagnosis names none
_MECHANISM_KINDS = ("saturation", "new_signature", "oomkill", "crashloop", "blocking")
#: metrics whose onset and recovery mark when impact began and ended, preferred in order
_SYMPTOM_METRICS = ("error_ratio", "error_rate")
#: events kept first when the timeline is capped: (lane, kind), kind "" = any
_KEY_EVENTS = (
    ("changes", ""),
    ("people", ""),
    ("actions", ""),
    ("metrics", "onset"),
    ("metrics", "recovery"),
    ("metrics", "saturation"),
    ("database", ""),
    ("dependencies", ""),
    ("monitors", "alert"),
    ("logs", "new_signature"),
    ("kubernetes", "oomkill"),
    ("kubernetes", "crashloop"),
)
#: how the timeline summary of a send of the action items as issues starts (comms.github)
_FILED_SEND = "github: file action items"
#: an issue's page (github.com or GitHub Enterprise Server): owner/repo/issues/N
_ISSUE_URL = re.compile(
    r"https://[A-Za-z0-9.-]+(?::[0-9]+)?/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/issues/[0-9]+(?![0-9A-Za-z_/])"
)
_REF_LEGEND = (
    "References: `source/name#row=N` is a row of the captured evidence, a notebook name "
    "(`03_changes`) its page in the bundle, `timeline` the incident timeline "
    "(`timeline.jsonl`), `incident.yaml` the incident record."
)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """An action item as the document lists it.

    Attributes
    ----------
    item
        The action, owner, deadline and priority.
    refs
        The evidence it follows from (empty for one written in ``postmortem.yaml``).
    draft
        Proposed from the evidence, not written by people.
    """

    item: ActionItem
    refs: tuple[str, ...] = ()
    draft: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the item, its labels, evidence and whether it is a draft."""
        return {
            **self.item.to_dict(),
            "labels": [FOLLOWUP_LABEL, self.item.priority],
            "evidence": list(self.refs),
            "draft": self.draft,
        }


# -- quoting ----------------------------------------------------------------------------------


def _q(text: object) -> str:
    """Untrusted text for Markdown prose: redacted first, then escaped."""
    return md_text(redact(str(text)))


def _refs(refs: Sequence[str]) -> str:
    """`` (evidence: `a`, `b`)`` for prose, or ``""``."""
    shown = [md_code(redact(r)) for r in dict.fromkeys(refs) if r]
    return f" (evidence: {', '.join(shown)})" if shown else ""


def _cell_refs(refs: Sequence[str]) -> str:
    """References for a table cell: code spans, or escaped text when one holds a ``|``."""
    shown = [
        md_text(redact(r)) if "|" in r else md_code(redact(r)) for r in dict.fromkeys(refs) if r
    ]
    return ", ".join(shown) or "—"


def _clause(clause: Clause) -> str:
    return f"{_q(clause.text)}{_refs(clause.refs)}"


def _hm(moment: datetime | pd.Timestamp) -> str:
    """``14:21 UTC``, or ``14:18:45 UTC`` when the seconds matter."""
    return f"{moment:%H:%M:%S} UTC" if moment.second else f"{moment:%H:%M} UTC"


_LEADING_TIME = re.compile(r"^\d\d:\d\d(:\d\d)?( UTC)?:\s*")


def _brief(text: str, width: int = 100) -> str:
    """A summary or a clause inside a sentence: its leading ``14:10:15 UTC:`` dropped, shortened."""
    return shorten(_LEADING_TIME.sub("", text), width)


def _head(summary: str) -> str:
    """What a change event is about: its summary up to the first ``": "`` (``deploy v2.34
    (api rev 42)``), shortened."""
    head, sep, _ = summary.partition(": ")
    return _brief(head if sep and len(head) >= 8 else summary, 60)


def _ref(event: Event) -> str:
    return event.reference or "timeline"


def _count(value: float) -> str:
    return f"{round(value):,}"


# -- what the evidence shows ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Facts:
    """The events the drafts are built from (``None`` when the timeline lacks them)."""

    onset: Event | None
    detected: Event | None
    trigger: Event | None
    saturation: Event | None
    rollback: Event | None
    recovery: Event | None
    alerts: tuple[Event, ...]


def _ordered(events: pd.DataFrame | Sequence[Event]) -> list[Event]:
    """Events in timeline order (time, lane, kind, id), each id once, from a frame or a list."""
    listed = list(events) if isinstance(events, Sequence) else events_from_frame(events)
    unique = {event.id: event for event in reversed(listed)}  # one per id, the first kept
    return events_from_frame(events_frame(list(unique.values())))


def _find(
    events: Sequence[Event],
    kind: str,
    *,
    lanes: Sequence[str] = (),
    after: datetime | None = None,
) -> Event | None:
    """The first event of ``kind`` (in ``lanes`` when given) at or after ``after``."""
    for event in events:
        if event.kind != kind or (lanes and event.source not in lanes):
            continue
        if after is None or event.time >= after:
            return event
    return None


def _symptom(events: Sequence[Event], kind: str, *, after: datetime | None = None) -> Event | None:
    """The first ``metrics`` event of ``kind`` (``onset``, ``recovery``) at or after ``after``,
    preferring the error ratio's (keys ``onset:error_ratio``...): when impact began or ended."""
    for metric in _SYMPTOM_METRICS:
        found = [
            e
            for e in events
            if e.source == "metrics"
            and e.kind == kind
            and e.key == f"{kind}:{metric}"
            and (after is None or e.time >= after)
        ]
        if found:
            return found[0]
    return _find(events, kind, lanes=("metrics",), after=after)


def _trigger(
    events: Sequence[Event], diagnosis: Diagnosis | None, onset: Event | None
) -> Event | None:
    """The trigger event: the one the diagnosis' trigger clause cites, else the last change
    (deploy, config, scale, commit, announced event) at or before the onset."""
    changes = [e for e in events if e.source == "changes" and e.kind in _TRIGGER_KINDS]
    if diagnosis is not None and diagnosis.trigger is not None:
        cited = set(diagnosis.trigger.refs)
        for event in changes:
            names = {event.reference}
            if event.evidence and event.row is not None:
                names.add(f"{event.evidence}#row={event.row}")
            if names & cited:
                return event
    before = [e for e in changes if onset is None or e.time <= onset.time]
    return before[-1] if before else None


def _facts(events: Sequence[Event], diagnosis: Diagnosis | None) -> _Facts:
    onset = _symptom(events, "onset")
    trigger = _trigger(events, diagnosis, onset)
    saturation = _find(events, "saturation", after=trigger.time if trigger else None)
    rollback = _find(
        events, "rollback", lanes=("changes",), after=trigger.time if trigger else None
    )
    recovery = _symptom(events, "recovery", after=rollback.time if rollback else None)
    return _Facts(
        onset=onset,
        detected=_find(events, "detected", lanes=("people",)),
        trigger=trigger,
        saturation=saturation,
        rollback=rollback,
        recovery=recovery,
        alerts=tuple(e for e in events if e.source == "monitors" and e.kind == "alert"),
    )


def _times(incident: Incident, times: ResponseTimes | None, facts: _Facts) -> ResponseTimes:
    """The response times given, or computed from the record and the onset event."""
    if times is not None:
        return times
    return response_times(incident, impact_start=facts.onset.time if facts.onset else None)


# -- drafts -----------------------------------------------------------------------------------

#: a drafted statement: plain text (quoted when rendered) and its references
_Said = tuple[str, tuple[str, ...]]


def _detected_ref(facts: _Facts) -> str:
    return _ref(facts.detected) if facts.detected else "incident.yaml"


def _went_well_drafts(facts: _Facts, times: ResponseTimes) -> list[_Said]:
    out: list[_Said] = []
    ttd, _, ttm, _ = times.measures()
    if ttd.valid and ttd.duration is not None and ttd.duration <= SLOW_DETECTION:
        out.append(_detection(ttd.duration, times, facts))
    detected_at = times.detected
    alert = next((a for a in facts.alerts if detected_at is None or a.time <= detected_at), None)
    if alert is not None:
        after = (
            f", {format_duration(alert.time - facts.onset.time)} after the onset"
            if facts.onset and alert.time >= facts.onset.time
            else ""
        )
        out.append(
            (
                f"A monitor alerted at {_hm(alert.time)}{after}: {_brief(alert.summary)}",
                (_ref(alert),),
            )
        )
    if facts.rollback and facts.recovery:
        took = format_duration(facts.recovery.time - facts.rollback.time)
        out.append(
            (
                f"The rollback took {took} from the rollback ({_hm(facts.rollback.time)}: "
                f"{_head(facts.rollback.summary)}) to recovery "
                f"({_hm(facts.recovery.time)}: {_brief(facts.recovery.summary, 60)})",
                (_ref(facts.rollback), _ref(facts.recovery)),
            )
        )
    if ttm.valid and ttm.duration is not None:
        out.append(
            (
                f"The incident was mitigated {format_duration(ttm.duration)} after detection",
                (_detected_ref(facts), "incident.yaml"),
            )
        )
    return out


def _detection(duration: timedelta, times: ResponseTimes, facts: _Facts) -> _Said:
    anchor = "the onset" if times.impact_start_label == "onset" else "the window start"
    refs = (_ref(facts.onset),) if facts.onset else ()
    return (
        f"Detection took {format_duration(duration)} after {anchor} ({_hm(times.impact_start)})",
        (*refs, _detected_ref(facts)),
    )


def _could_improve_drafts(facts: _Facts, times: ResponseTimes) -> list[_Said]:
    out: list[_Said] = []
    ttd = times.measures()[0]
    if ttd.valid and ttd.duration is not None and ttd.duration > SLOW_DETECTION:
        text, refs = _detection(ttd.duration, times, facts)
        out.append((f"{text}, more than {format_duration(SLOW_DETECTION)}", refs))
    if facts.trigger and facts.saturation:
        took = format_duration(facts.saturation.time - facts.trigger.time)
        warned = [a for a in facts.alerts if facts.trigger.time <= a.time <= facts.saturation.time]
        quiet = "" if warned else "; no monitor alerted in between"
        out.append(
            (
                f"The limit was hit {took} after the trigger: {_brief(facts.saturation.summary)} "
                f"({_hm(facts.saturation.time)}), after {_head(facts.trigger.summary)} "
                f"({_hm(facts.trigger.time)}){quiet}",
                (_ref(facts.trigger), _ref(facts.saturation)),
            )
        )
    for measure in times.measures():
        if measure.problem:
            out.append((f"The {measure.name} is unknown: {measure.problem}", ("incident.yaml",)))
    return out


def _priority(incident: Incident) -> str:
    """Draft priority from the severity: SEV-1 -> P1 ... SEV-4 -> P4."""
    digits = re.findall(r"\d", incident.severity)
    return f"P{digits[0]}" if digits and digits[0] in "1234" else "P3"


def action_items(
    *,
    incident: Incident,
    events: pd.DataFrame | Sequence[Event],
    diagnosis: Diagnosis | None,
    human: PostmortemInput | None,
    times: ResponseTimes | None = None,
) -> list[FollowUp]:
    """The action items: those of ``postmortem.yaml``, else drafts from the evidence.

    Drafts: one per mechanism of the diagnosis ("Add a test and an alert for ..."),
    one to review how the trigger reached production, one to detect earlier when
    detection took more than :data:`SLOW_DETECTION`. Their priority follows the
    severity (SEV-2 -> P2); owner and deadline are left for people to fill.

    Parameters
    ----------
    incident
        The record (its severity sets the drafts' priority).
    events
        The timeline (a frame with ``TIMELINE_COLUMNS`` or a list of events).
    diagnosis
        The diagnosis, or ``None`` when none was made.
    human
        ``postmortem.yaml`` as read, or ``None`` when absent.
    times
        The response times; default computed from the record and the onset event.

    Returns
    -------
    list of FollowUp
        In order; drafts have ``draft=True`` and their evidence in ``refs``.
    """
    if human is not None and human.action_items is not None:
        return [FollowUp(item) for item in human.action_items]
    ordered = _ordered(events)
    facts = _facts(ordered, diagnosis)
    priority = _priority(incident)
    drafts: list[tuple[str, tuple[str, ...]]] = []
    mechanism = diagnosis.mechanism if diagnosis else ()
    for clause in mechanism[:MAX_MECHANISM_ITEMS]:
        drafts.append((f"Add a test and an alert for: {_brief(clause.text, 140)}", clause.refs))
    if not mechanism:
        found = [e for e in ordered if e.kind in _MECHANISM_KINDS][:MAX_MECHANISM_ITEMS]
        drafts += [
            (f"Add a test and an alert for: {_brief(e.summary, 140)}", (_ref(e),)) for e in found
        ]
    if facts.trigger is not None:
        drafts.append((_review(facts.trigger), (_ref(facts.trigger),)))
    ttd = _times(incident, times, facts).measures()[0]
    if ttd.valid and ttd.duration is not None and ttd.duration > SLOW_DETECTION:
        what = facts.onset.summary if facts.onset else "the first symptom"
        drafts.append(
            (
                f"Detect earlier: alert within {format_duration(SLOW_DETECTION)} on "
                f"{_brief(what)} (detection took {format_duration(ttd.duration)})",
                tuple(
                    r for r in (_ref(facts.onset) if facts.onset else "", _detected_ref(facts)) if r
                ),
            )
        )
    seen: set[str] = set()
    out = []
    for action, refs in drafts:
        if action in seen:
            continue
        seen.add(action)
        out.append(FollowUp(ActionItem(action=action, priority=priority), refs, draft=True))
    return out


def _review(trigger: Event) -> str:
    """The draft follow-up of the trigger: a change is reviewed, an outside event planned for."""
    what = _head(trigger.summary)
    if trigger.kind == "event":  # announced in the events stream: a campaign, a launch
        return f"Plan capacity for events like {what}: tell on-call ahead and load-test for them"
    return (
        f"Review how {what} reached production and what would have stopped it "
        "(tests, canary, rollout checks)"
    )


def _lessons_drafts(facts: _Facts, diagnosis: Diagnosis | None) -> list[_Said]:
    out: list[_Said] = []
    if facts.trigger is not None:
        first = diagnosis.mechanism[0] if diagnosis and diagnosis.mechanism else None
        what = f" before it led to: {_brief(first.text)}" if first else ""
        refs = (_ref(facts.trigger), *(first.refs if first else ()))
        question = (
            "How could we have seen {} coming{}?"
            if facts.trigger.kind == "event"
            else "What in review, tests or the rollout would have caught {}{}?"
        )
        out.append((question.format(_head(facts.trigger.summary), what), refs))
    if facts.saturation is not None:
        out.append(
            (
                f"Which limit was reached ({_brief(facts.saturation.summary)}), and should "
                "it alert before it is reached?",
                (_ref(facts.saturation),),
            )
        )
    if diagnosis is not None and diagnosis.alternatives:
        out.append(
            (
                "The evidence did not single out one cause: what would have told the "
                "hypotheses apart sooner?",
                tuple(r for c in diagnosis.alternatives for r in c.refs),
            )
        )
    return out


# -- the document ----------------------------------------------------------------------------


def _header(incident: Incident, generated_at: datetime) -> list[str]:
    window = (
        f"{incident.start:%Y-%m-%d %H:%M} – {incident.end:%H:%M} UTC"
        if incident.end is not None and incident.end.date() == incident.start.date()
        else f"{incident.start:%Y-%m-%d %H:%M} – "
        + (f"{incident.end:%Y-%m-%d %H:%M} UTC" if incident.end else "ongoing")
    )
    return [
        f"# Post-mortem: {_q(incident.id)}: {_q(incident.title)}",
        "",
        f"Generated {utc(generated_at):%Y-%m-%d %H:%M:%S}Z from the captured evidence.",
        "",
        f"Service {md_code(incident.service)} in {md_code(incident.namespace)} · "
        f"{_q(incident.severity)} · status {_q(incident.status)} · window {window}",
    ]


def _summary(incident: Incident, diagnosis: Diagnosis | None) -> list[str]:
    lines = ["## Summary", ""]
    if diagnosis is None:
        lines.append("No diagnosis was made from the evidence; see the timeline below.")
    else:
        lines.append(f"**{_q(diagnosis.headline)}**")
        lines.append("")
        parts: list[tuple[str, Clause | None]] = [
            ("Trigger", diagnosis.trigger),
            ("Mechanism", diagnosis.mechanism[0] if diagnosis.mechanism else None),
            ("Impact", diagnosis.impact),
            ("What was done", diagnosis.actions[-1] if diagnosis.actions else None),
            ("Verdict", diagnosis.verdict),
        ]
        lines.extend(f"- {name}: {_clause(c)}" for name, c in parts if c is not None)
        if diagnosis.unknown:
            lines.append(
                "- Not read (the story may miss what it would show): "
                + ", ".join(md_code(u) for u in diagnosis.unknown)
            )
    if incident.summary:
        lines += ["", f"Recorded summary: {_q(incident.summary)} (evidence: `incident.yaml`)"]
    return lines


def _impact(impact: Impact | None, diagnosis: Diagnosis | None, facts: _Facts) -> list[str]:
    lines = ["## Impact", ""]
    if impact is None:
        return [*lines, "Impact unknown: no request metrics were read."]
    refs = (
        diagnosis.impact.refs if diagnosis is not None and diagnosis.impact is not None else ()
    ) or ("05_metrics",)
    window = impact.window
    lines.append(
        f"- Duration: incident window {window.start:%Y-%m-%d %H:%M} – {window.end:%H:%M} UTC "
        f"({format_duration(window.duration)})" + _refs(("incident.yaml",))
    )
    if impact.minutes_degraded > 0 and impact.degraded_from is not None:
        until = impact.degraded_until
        lines.append(
            f"- Degraded (5xx share above {impact.degraded_above:g} %): "
            f"{format_duration(timedelta(minutes=impact.minutes_degraded))}, from "
            f"{_hm(impact.degraded_from)} to {_hm(until) if until is not None else 'unknown'}, "
            f"peak {format_percent(impact.peak_error_ratio)}"
            + (f" at {_hm(impact.peak_at)}" if impact.peak_at is not None else "")
            + _refs(refs)
        )
    if facts.onset and facts.recovery and facts.recovery.time >= facts.onset.time:
        lines.append(
            f"- From the onset ({_hm(facts.onset.time)}) to recovery "
            f"({_hm(facts.recovery.time)}): "
            f"{format_duration(facts.recovery.time - facts.onset.time)}"
            + _refs((_ref(facts.onset), _ref(facts.recovery)))
        )
    if impact.total_requests > 0:
        lines.append(
            f"- Requests affected: {_count(impact.total_requests)} requests were served in the "
            f"window; users affected were not measured (no per-user evidence)" + _refs(refs)
        )
        excess = (
            ""
            if math.isnan(impact.excess_failed)  # no baseline traffic
            else f", {_count(impact.excess_failed)} beyond the baseline share "
            f"({format_percent(impact.baseline_error_ratio)})"
        )
        lines.append(
            f"- Failed requests: {_count(impact.failed_requests)} "
            f"({format_percent(impact.share_failed)}){excess}" + _refs(refs)
        )
    else:
        lines.append("- Requests affected: no request traffic was recorded" + _refs(refs))
    lines += [
        "",
        "Method: counts are the request and 5xx rates from the metrics integrated over the "
        "window, each sample counting until the next (at most one sampling step), so a gap "
        "in the data adds nothing; beyond the baseline = failed − baseline 5xx share × "
        f"requests. Request samples cover {impact.coverage:.0%} of the window.",
    ]
    return lines


def _rank(event: Event) -> int:
    for i, (lane, kind) in enumerate(_KEY_EVENTS):
        if event.source == lane and kind in ("", event.kind):
            return i
    return len(_KEY_EVENTS)


def _timeline(events: list[Event]) -> list[str]:
    lines = ["## Timeline", ""]
    # one row per send: the links of a send are in its own row and under the action items
    events = [e for e in events if not (e.source == "people" and e.kind == "message_link")]
    if not events:
        return [*lines, "No events on the timeline."]
    shown = events
    if len(events) > MAX_TIMELINE_ROWS:
        keep = sorted(range(len(events)), key=lambda i: (_rank(events[i]), i))
        chosen = set(keep[:MAX_TIMELINE_ROWS])
        shown = [e for i, e in enumerate(events) if i in chosen]
    days = {e.time.date() for e in events}
    fmt = "%H:%M:%S" if len(days) == 1 else "%Y-%m-%d %H:%M:%S"
    day = f", {next(iter(days)):%Y-%m-%d}" if len(days) == 1 else ""
    lines += [
        f"Times in UTC{day}.",
        "",
        "| time | lane | what | reference |",
        "|---|---|---|---|",
    ]
    for event in shown:
        lines.append(
            f"| {event.time:{fmt}} | {event.source} | {_q(shorten(event.summary, 200))} | "
            f"{_cell_refs((_ref(event),))} |"
        )
    if len(shown) < len(events):
        lines += ["", f"{len(events) - len(shown)} more in `timeline.jsonl` (key events shown)."]
    return lines


def _statements(
    heading: str,
    written: Sequence[str] | None,
    drafts: list[_Said],
    *,
    empty: str,
) -> list[str]:
    lines = [f"## {heading}", ""]
    if written is not None:
        if not written:
            return [*lines, "Nothing written (postmortem.yaml)."]
        return [*lines, *(f"- {_q(text)}" for text in written)]
    lines += [f"*{DRAFT}*", ""]
    if not drafts:
        return [*lines, empty]
    return [*lines, *(f"- {_q(text)}{_refs(refs)}" for text, refs in drafts)]


def _root_cause(human: PostmortemInput | None, diagnosis: Diagnosis | None) -> list[str]:
    lines = ["## Root cause", ""]
    if human is not None and human.root_cause is not None:
        paragraphs = [_q(p) for p in re.split(r"\n\s*\n", human.root_cause) if p.strip()]
        return [*lines, "\n\n".join(paragraphs)]
    lines += [f"*{DRAFT}*", ""]
    clauses = [
        *((diagnosis.trigger,) if diagnosis and diagnosis.trigger else ()),
        *(diagnosis.mechanism if diagnosis else ()),
    ]
    if not clauses:
        return [*lines, "Unknown from the evidence: write `root_cause` in postmortem.yaml."]
    return [*lines, *(f"- {_clause(c)}" for c in clauses)]


def _filed_issues(events: Sequence[Event]) -> list[str]:
    """The issue URLs the sends of the action items put on the timeline, in order, each once.

    A confirmed send (:func:`incident_lib.communicating.message_event`, ``people``
    lane) names the issues it created or found filed in its summary
    (``github: file action items acme/api by alice: ...; https://.../issues/12 ...``).
    """
    urls: list[str] = []
    for event in events:
        if (
            event.source == "people"
            and event.kind in ("message", "message_failed", "message_link")
            and event.summary.startswith(_FILED_SEND)
        ):
            urls += _ISSUE_URL.findall(event.summary)
    return list(dict.fromkeys(urls))


def _filed_lines(urls: Sequence[str]) -> list[str]:
    if not urls:
        return []
    lines = ["", "Filed as issues (from the timeline):", ""]
    for url in urls:
        owner, repo, _, number = url.split("/")[-4:]
        lines.append(f"- [{md_text(f'{owner}/{repo}#{number}')}]({url})")
    return lines


def _actions(
    items: list[FollowUp], human: PostmortemInput | None, events: Sequence[Event] = ()
) -> list[str]:
    lines = ["## Action items", ""]
    if human is None or human.action_items is None:
        lines += [f"*{DRAFT}*", ""]
    filed = _filed_lines(_filed_issues(events))
    if not items:
        return [*lines, "None.", *filed]
    lines += [
        "| # | action | owner | deadline | priority | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for i, follow in enumerate(items, start=1):
        item = follow.item
        evidence = _cell_refs(follow.refs) if follow.draft else "postmortem.yaml"
        lines.append(
            f"| {i} | {_q(item.action)} | {_q(item.owner) or 'unassigned'} | "
            f"{item.deadline.isoformat() if item.deadline else 'to set'} | {item.priority} | "
            f"{evidence} |"
        )
    return [*lines, *filed]


def _response_times(times: ResponseTimes) -> list[str]:
    lines = [
        "## Response times",
        "",
        "From the timestamps of `incident.yaml` and the onset; a missing timestamp is "
        "unknown, never zero.",
        "",
        "| measure | duration | definition | from | to | note |",
        "|---|---|---|---|---|---|",
    ]
    for m in times.measures():
        start = f"{m.start} {_hm(m.start_at)}" if m.start_at else f"{m.start} (not recorded)"
        end = f"{m.end} {_hm(m.end_at)}" if m.end_at else f"{m.end} (not recorded)"
        lines.append(
            f"| {m.name} | {m.text} | {m.definition} | {start} | {end} | {_q(m.problem)} |"
        )
    return lines


def postmortem_markdown(
    *,
    incident: Incident,
    events: pd.DataFrame | Sequence[Event],
    diagnosis: Diagnosis | None,
    impact: Impact | None,
    times: ResponseTimes | None,
    human: PostmortemInput | None,
    generated_at: datetime,
) -> str:
    """The post-mortem as Markdown (``postmortem.md``).

    Parameters
    ----------
    incident
        The incident record.
    events
        The timeline: a frame with ``TIMELINE_COLUMNS`` or a list of events.
    diagnosis
        The diagnosis, or ``None`` when none was made.
    impact
        The impact measured over the incident window, or ``None`` without metrics.
    times
        The response times; ``None`` computes them from the record and the onset event.
    human
        ``postmortem.yaml`` as read, or ``None`` when absent (every human part drafted).
    generated_at
        When the document is generated: the one line that differs between runs.

    Returns
    -------
    str
        Markdown ending with a newline; the same inputs give the same bytes apart
        from the ``Generated`` line.
    """
    ordered = _ordered(events)
    facts = _facts(ordered, diagnosis)
    measured = _times(incident, times, facts)
    items = action_items(
        incident=incident, events=ordered, diagnosis=diagnosis, human=human, times=measured
    )
    sections = [
        _header(incident, generated_at),
        _summary(incident, diagnosis),
        _impact(impact, diagnosis, facts),
        _timeline(ordered),
        _root_cause(human, diagnosis),
        _statements(
            "What went well",
            human.went_well if human else None,
            _went_well_drafts(facts, measured),
            empty="Nothing found in the evidence: write `went_well` in postmortem.yaml.",
        ),
        _statements(
            "What could have gone better",
            human.could_improve if human else None,
            _could_improve_drafts(facts, measured),
            empty="Nothing found in the evidence: write `could_improve` in postmortem.yaml.",
        ),
        _actions(items, human, ordered),
        _statements(
            "Lessons learned",
            human.lessons if human else None,
            _lessons_drafts(facts, diagnosis),
            empty="Nothing drafted from the evidence: write `lessons` in postmortem.yaml.",
        ),
        _response_times(measured),
        [_REF_LEGEND],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


# -- exports -----------------------------------------------------------------------------------


def action_items_json(items: Sequence[FollowUp], *, incident: Incident) -> str:
    """The action items as JSON text (``action_items.json``), deterministic.

    Parameters
    ----------
    items
        From :func:`action_items`.
    incident
        The record (its id and title head the file).

    Returns
    -------
    str
        ``{"incident": {...}, "action_items": [...]}``, indented, ending with a newline.
    """
    data = {
        "incident": {"id": incident.id, "title": redact(incident.title)},
        "action_items": [
            {**f.to_dict(), "action": redact(f.item.action), "owner": redact(f.item.owner)}
            for f in items
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return shorten("-".join(words), 48).rstrip("…-") or "action"


def issue_texts(items: Sequence[FollowUp], *, incident: Incident) -> list[tuple[str, str]]:
    """One ready-to-file issue per action item: ``(filename, text)``.

    Each text starts with a front matter holding the ``title`` and the
    ``labels`` (:data:`FOLLOWUP_LABEL` and the priority), then a body that
    names the incident, the owner, the deadline and the evidence. A draft says
    so in its body.

    Parameters
    ----------
    items
        From :func:`action_items`.
    incident
        The record the items follow.

    Returns
    -------
    list of (str, str)
        ``("01-add-a-test-and-an-alert-for.md", text)`` and so on, in item order.
    """
    out = []
    for i, follow in enumerate(items, start=1):
        item = follow.item
        action = redact(item.action)
        title = shorten(action, 100)
        labels = [FOLLOWUP_LABEL, item.priority]
        body = [
            "---",
            f"title: {json.dumps(title, ensure_ascii=False)}",
            f"labels: {json.dumps(labels)}",
            "---",
            "",
            f"Follow-up of incident {md_code(incident.id)}: {_q(incident.title)} "
            "(see its post-mortem, `postmortem.md`).",
            "",
            _q(action),
            "",
            f"- Owner: {_q(item.owner) or 'unassigned'}",
            f"- Deadline: {item.deadline.isoformat() if item.deadline else 'to set'}",
            f"- Priority: {item.priority}",
        ]
        if follow.refs:
            body.append(f"- Evidence: {', '.join(md_code(redact(r)) for r in follow.refs)}")
        if follow.draft:
            body += ["", f"*{DRAFT}: check it before filing.*"]
        out.append((f"{i:02d}-{_slug(action)}.md", "\n".join(body) + "\n"))
    return out


_CSS = """
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
       max-width: 1100px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; width: 100%; margin-top: 8px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e2e2;
         vertical-align: top; }
th { background: #f5f5f5; } code { font-size: 12px; } em { color: #a15c00; }
"""


def postmortem_html(markdown: str) -> str:
    """The post-mortem Markdown as a standalone HTML page (safe rendering).

    The Markdown goes through :func:`~incident_lib.report.render.safe_markdown`:
    raw HTML escaped, only safe links, no images.
    """
    first = next((line for line in markdown.splitlines() if line.startswith("# ")), "# Post-mortem")
    title = html.escape(first[2:].replace("\\", ""))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{safe_markdown(markdown)}\n</body>\n</html>\n"
    )


# -- the files of a workspace ----------------------------------------------------------------

#: the human parts, written by people in the workspace
POSTMORTEM_INPUT = "postmortem.yaml"
#: the document, in the workspace
POSTMORTEM_FILE = "postmortem.md"
#: the action items as JSON, in the workspace
ACTION_ITEMS_FILE = "action_items.json"


@dataclass(frozen=True, slots=True)
class PostmortemFiles:
    """What :func:`write_postmortem` wrote, and the story it wrote it from."""

    story: Story
    markdown: str
    items: tuple[FollowUp, ...]
    document: Path
    html: Path | None
    action_items: Path
    issues: tuple[Path, ...]


def write_postmortem(
    workspace: Workspace,
    *,
    run_dir: Path | None = None,
    issues_dir: Path | None = None,
    generated_at: datetime | None = None,
    memo: Path | None = None,
) -> PostmortemFiles:
    """Write the post-mortem of ``workspace`` from its captured evidence alone.

    Builds the story (:func:`~incident_lib.report.story.build_story`: the timeline
    and the diagnosis), reads ``postmortem.yaml`` when people wrote one, and writes
    ``postmortem.md`` and ``action_items.json`` in the workspace (in ``run_dir`` when
    the bundle is written outside the workspace, which is then left untouched),
    ``postmortem.html`` in ``run_dir`` (the bundle) when given, and one issue text
    per action item in ``issues_dir`` when given. Nothing is fetched: re-run days
    later, it gives the same document apart from its ``Generated`` line. ``memo``
    is the run's memo folder (what the runner and other notebooks derive from the
    same captures is computed once: :func:`~incident_lib.report.story.captured_relations`).

    Raises
    ------
    InvalidInput
        ``postmortem.yaml`` is invalid (every problem named), or ``issues_dir`` is
        a file.
    """
    from ..infra.files import atomic_write_text
    from .story import build_story

    source = workspace.path / POSTMORTEM_INPUT
    human = (
        parse_postmortem(source.read_text(encoding="utf-8"), origin=str(source))
        if source.is_file()
        else None
    )
    if issues_dir is not None and issues_dir.exists() and not issues_dir.is_dir():
        raise InvalidInput(f"--issues {issues_dir} is a file; give a folder for the issue texts")
    # a bundle written outside the workspace (`incident run --output`, a read-only
    # workspace) leaves the workspace untouched: the documents go into the bundle
    elsewhere = run_dir is not None and not Path(run_dir).resolve().is_relative_to(
        workspace.path.resolve()
    )
    home = Path(run_dir) if elsewhere and run_dir is not None else workspace.path
    story = build_story(workspace, record=not elsewhere, memo=memo)
    inc = workspace.incident
    markdown = postmortem_markdown(
        incident=inc,
        events=story.timeline,
        diagnosis=story.diagnosis,
        impact=story.impact,
        times=None,
        human=human,
        generated_at=generated_at or datetime.now(UTC),
    )
    ordered = _ordered(story.timeline)
    facts = _facts(ordered, story.diagnosis)
    items = action_items(
        incident=inc,
        events=ordered,
        diagnosis=story.diagnosis,
        human=human,
        times=_times(inc, None, facts),
    )
    document = home / POSTMORTEM_FILE
    atomic_write_text(document, markdown)
    listed = home / ACTION_ITEMS_FILE
    atomic_write_text(listed, action_items_json(items, incident=inc))
    page = None
    if run_dir is not None:
        page = Path(run_dir) / "postmortem.html"
        atomic_write_text(page, postmortem_html(markdown))
    issues: list[Path] = []
    if issues_dir is not None:
        issues_dir.mkdir(parents=True, exist_ok=True)
        for name, text in issue_texts(items, incident=inc):
            atomic_write_text(issues_dir / name, text)
            issues.append(issues_dir / name)
    return PostmortemFiles(
        story=story,
        markdown=markdown,
        items=tuple(items),
        document=document,
        html=page,
        action_items=listed,
        issues=tuple(issues),
    )
