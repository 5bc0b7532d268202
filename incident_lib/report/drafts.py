"""Drafts of status updates: the public status page and the internal stakeholder note.

Drafts are filled from the incident record and the facts the notebooks found;
the engineer edits and sends them. Every draft passes through redaction.

A draft follows the record's status (``investigating`` ... ``resolved``) and what
the evidence shows was done (:func:`mitigations`: a rollback in the rollouts, the
record's ``mitigated`` time): a resolved, rolled-back incident is never announced
as "investigating, preparing a mitigation". Text from the systems (log templates,
monitor and deployment names) and from the record is quoted with
:func:`~incident_lib.core.text.md_text` / :func:`~incident_lib.core.text.md_code`
after redaction, so ``size <NUM>`` stays text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..core.incident import Incident
from ..core.metrics import metric_info
from ..core.severity import update_interval
from ..core.text import md_code, md_text
from ..core.time import format_duration
from ..infra.redact import redact

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Mitigation",
    "mitigations",
    "next_steps",
    "next_update_at",
    "public_actions",
    "quick_facts",
    "resolved_draft",
    "stakeholder_draft",
    "status_check",
    "status_page_draft",
]

#: a metric counts as moved in the facts when its peak is this many times its baseline
_MOVED_RATIO = 1.5
#: how a fact says whose rollout it is (``relation`` of the markers; this service's: nothing)
_WHOSE = {"dependency": ", a dependency", "other": ", another service"}

_STATE_TEXT = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


def _q(text: object) -> str:
    """Untrusted text for Markdown prose: redacted first (escaping must not hide a secret)."""
    return md_text(redact(str(text)))


def _c(text: object) -> str:
    """Untrusted text as inline code, redacted first."""
    return md_code(redact(str(text)))


@dataclass(frozen=True, slots=True)
class Mitigation:
    """Something the evidence or the record shows was done to mitigate.

    Attributes
    ----------
    at
        When.
    text
        For the stakeholder draft (Markdown, quoted): "Rollback to v2.33 of `api` ...".
    public
        For the status page, no internal names: "We rolled back a recent change at 14:33 UTC".
    """

    at: datetime
    text: str
    public: str


def mitigations(incident: Incident, markers: pd.DataFrame) -> list[Mitigation]:
    """What was done, from the evidence and the record, oldest first.

    Parameters
    ----------
    incident
        The record; its ``times.mitigated`` counts when no rollback explains it.
    markers
        From :func:`incident_lib.analysis.changes.deploy_markers` (inside the
        window); rows of ``kind`` ``"rollback"`` are rollbacks that went live.
        With a ``relation`` column, another service's rollback (``other``) is
        not this incident's mitigation.

    Returns
    -------
    list of Mitigation
        One per rollback, then the record's mitigation time when no rollback is
        at or before it.
    """
    done: list[Mitigation] = []
    if len(markers) and "kind" in markers:
        mine = markers["relation"] != "other" if "relation" in markers else True
        for row in markers[(markers["kind"] == "rollback") & mine].to_dict("records"):
            at = row["time"].to_pydatetime()
            label = str(row["label"])
            done.append(
                Mitigation(
                    at=at,
                    text=f"{_q(label[:1].upper() + label[1:])} of {_c(row['deployment'])} "
                    f"at {_hm(at)} (revision {_q(row['revision'])}).",
                    public=f"We rolled back a recent change at {_hm(at)}",
                )
            )
    mitigated = incident.times.mitigated
    if mitigated is not None and not any(m.at <= mitigated for m in done):
        done.append(
            Mitigation(
                at=mitigated,
                text=f"Mitigated at {_hm(mitigated)} (the incident record).",
                public=f"We applied a mitigation at {_hm(mitigated)}",
            )
        )
    return sorted(done, key=lambda m: m.at)


def public_actions(incident: Incident, done: Sequence[Mitigation] = (), *, state: str = "") -> str:
    """The status page's "what we are doing" sentence for the state and what was done.

    Parameters
    ----------
    incident
        The record (its status, unless ``state`` is given; its resolved time).
    done
        From :func:`mitigations`.
    state
        ``investigating``, ``identified``, ``monitoring`` or ``resolved``
        (default: the record's status).
    """
    state = state or incident.status
    last = done[-1].public if done else ""
    if state == "resolved":
        resolved = incident.times.resolved
        since = f" since {_hm(resolved)}" if resolved is not None else ""
        lead = f"{last}. " if last else ""
        return f"{lead}The issue is resolved and the service has been operating normally{since}."
    if state == "monitoring":
        return f"{last or 'A fix has been applied'} and we are monitoring the results."
    if state == "identified":
        if last:
            return f"We have identified the cause. {last} and are checking that it holds."
        return "We have identified the cause and are working on a fix."
    if last:
        return f"{last} and are checking whether it fixed the problem while we investigate."
    return "Our engineers are investigating the cause."


def next_steps(state: str, mitigated: bool) -> list[str]:
    """What the team does next, for the stakeholder draft, by state and whether mitigated."""
    if state == "resolved":
        return [
            "Post-incident review: timeline, root cause and action items.",
        ]
    if state == "monitoring" or mitigated:
        return [
            "Verifying that the recovery holds for the stability period (10_verify).",
            "Investigating the root cause (notebooks 03-07).",
        ]
    if state == "identified":
        return [
            "Preparing the mitigation for the identified cause (rollback, scale-out or "
            "config revert).",
        ]
    return [
        "Investigating recent changes, error logs and metrics (notebooks 03-07).",
        "Preparing a mitigation (rollback or scale-out) if a change lines up with the onset.",
    ]


def status_check(incident: Incident, done: Sequence[Mitigation]) -> str | None:
    """A note for the responder when the record's status lags what the evidence shows.

    Returns
    -------
    str or None
        E.g. the record says ``investigating`` while a rollback went live at
        14:33 UTC: update the status (``monitoring``) once the recovery is
        verified. ``None`` when they agree.
    """
    if not done or incident.status in ("monitoring", "resolved"):
        return None
    last = done[-1]
    return (
        f"> ⚠️ The record says **{_q(incident.status)}**, but a mitigation went out at "
        f"{_hm(last.at)}: {last.text} Set the status to `monitoring` in `incident.yaml` "
        "(and `resolved` once `10_verify` confirms) so that the drafts say so."
    )


def next_update_at(incident: Incident, as_of: datetime) -> datetime:
    """When the next update is due: the severity's cadence from ``as_of``, on the minute.

    Parameters
    ----------
    incident
        The record; its severity sets the cadence,
        :attr:`~incident_lib.core.severity.SeverityLevel.update_every` (SEV-1 and
        SEV-2: 30 minutes, SEV-3: 1 hour, SEV-4: 4 hours).
    as_of
        The moment of the update being written.

    Returns
    -------
    datetime.datetime
        ``as_of`` plus the cadence, seconds dropped.
    """
    due = as_of + update_interval(incident.severity)
    return due.replace(second=0, microsecond=0)


def _hm(moment: datetime) -> str:
    return moment.strftime("%H:%M UTC")


def status_page_draft(
    incident: Incident,
    *,
    as_of: datetime,
    impact: str,
    state: str = "",
    actions: str = "",
    done: Sequence[Mitigation] = (),
) -> str:
    """A customer-facing status-page update (no internal names, versions or hosts).

    Parameters
    ----------
    incident
        The record (title, status, detection time).
    as_of
        The moment of the update.
    impact
        What customers experience, in their words ("Some checkout requests fail").
    state
        ``investigating``, ``identified``, ``monitoring`` or ``resolved``
        (default: the record's status).
    actions
        What we are doing, one sentence (default: :func:`public_actions` of the
        state and ``done``).
    done
        What was done, from :func:`mitigations`.
    """
    state = state or incident.status
    heading = _STATE_TEXT.get(state, state.title())
    actions = actions or public_actions(incident, done, state=state)
    lines = [
        f"**{heading}** — {_q(incident.title)}",
        "",
        f"{_q(impact)} We first saw this at {_hm(incident.detected_at)}.",
        "",
        f"{_q(actions)}",
    ]
    if state != "resolved":
        lines += ["", f"Next update by {_hm(next_update_at(incident, as_of))}."]
    lines += ["", f"_Posted {as_of:%Y-%m-%d %H:%M} UTC_"]
    return redact("\n".join(lines))


def stakeholder_draft(
    incident: Incident,
    *,
    as_of: datetime,
    facts: Sequence[str],
    impact: str,
    actions: Sequence[str] | None = None,
    state: str = "",
    done: Sequence[Mitigation] = (),
) -> str:
    """An internal update for stakeholders: what we know, impact, what was done, what we
    do, next update.

    Parameters
    ----------
    incident
        The record.
    as_of
        The moment of the update.
    facts
        Markdown sentences (from :func:`quick_facts`: already quoted).
    impact
        What customers experience (quoted here).
    actions
        What we do next (Markdown); default :func:`next_steps` of the state and ``done``.
    state
        Default: the record's status.
    done
        What was done, from :func:`mitigations`.
    """
    state = state or incident.status
    detected = incident.detected_at
    resolved = incident.times.resolved
    if state == "resolved" and resolved is not None:
        when = f"resolved {_hm(resolved)}, {format_duration(resolved - detected)} later"
    else:
        when = f"{format_duration(as_of - detected)} ago"
    roles = incident.roles.assigned()
    role_line = ", ".join(f"{k.replace('_', ' ')}: {_q(v)}" for k, v in roles.items()) or (
        "roles not yet assigned"
    )
    steps = list(actions) if actions is not None else next_steps(state, bool(done))
    lines = [
        # severity, id and state are validated record values; the title is free text
        f"**[{incident.severity}] {incident.id} — {_q(incident.title)} — {state}**",
        "",
        f"Detected {_hm(detected)}, {when}. Service {_c(incident.service)} "
        f"in {_c(incident.namespace)}. {role_line}.",
        "",
        "**What we know**",
        *[f"- {f}" for f in facts],
        "",
        f"**Impact:** {_q(impact)}",
        "",
    ]
    if done:
        lines += ["**What we have done**", *[f"- {m.text}" for m in done], ""]
    lines += [
        "**What we are doing**",
        *[f"- {a}" for a in steps],
    ]
    if state != "resolved":
        lines += ["", f"**Next update:** {_hm(next_update_at(incident, as_of))}"]
    return redact("\n".join(lines))


def quick_facts(
    *,
    health: pd.DataFrame,
    markers: pd.DataFrame,
    alerts: pd.DataFrame,
    errors: pd.DataFrame | None = None,
    unknown: Sequence[str] = (),
) -> list[str]:
    """Plain sentences for the drafts from the assessment tables.

    Metrics are named and their values formatted from the metric vocabulary
    (:mod:`incident_lib.core.metrics`): "p95 latency peaked at 30,045 ms ...".

    Parameters
    ----------
    health
        From :func:`incident_lib.analysis.metrics.health_table`; a metric whose
        peak is at least 1.5× its baseline becomes a fact (``error_rate`` is left
        out when ``error_ratio`` is there: the same story twice).
    markers
        From :func:`incident_lib.analysis.changes.deploy_markers` (inside the window);
        with a ``relation`` column a dependency's or another service's rollout says so.
    alerts
        From :func:`incident_lib.analysis.alerts.alert_summary`.
    errors
        A signatures table (``template``, ``count``), most frequent first.
    unknown
        Evidence that could not be read (``"kubernetes/logs"``, see
        :attr:`incident_lib.Runbook.missing`): said to be unknown, and "nothing
        has moved" is then never claimed.

    Returns
    -------
    list of str
        One Markdown sentence per fact (untrusted text quoted), or one sentence
        saying nothing has moved yet.
    """
    facts: list[str] = []
    shown = set(health["metric"])
    for row in health.to_dict("records"):
        key = str(row["metric"])
        if key == "error_rate" and "error_ratio" in shown:
            continue  # the 5xx share tells the same story
        ratio = float(row["peak_vs_baseline"])
        if not ratio >= _MOVED_RATIO:  # NaN (no baseline) is not a move
            continue
        info = metric_info(key)
        facts.append(
            f"{info.name} peaked at {info.format(row['peak'])} at {row['peak_at']:%H:%M} UTC "
            f"(baseline {info.format(row['baseline'])}); latest {info.format(row['latest'])}."
        )
    for change in markers.to_dict("records"):
        label = str(change["label"])
        whose = _WHOSE.get(str(change.get("relation", "") or ""), "")
        facts.append(
            f"{_q(label[:1].upper() + label[1:])} at {change['time']:%H:%M} UTC "
            f"({_c(change['deployment'])}, revision {_q(change['revision'])}{whose})."
        )
    firing = alerts[alerts["firing"]] if len(alerts) else alerts
    if len(alerts):
        facts.append(
            f"{len(alerts)} monitor(s) fired in the window"
            + (
                f", {len(firing)} still firing: " + ", ".join(_q(m) for m in firing["monitor"])
                if len(firing)
                else ", none firing now"
            )
            + "."
        )
    if errors is not None and len(errors):
        top = errors.iloc[0]
        count = int(top["count"])
        facts.append(
            f"Most frequent error: {_c(top['template'])} "
            f"({count:,} event{'s' if count != 1 else ''})."
        )
    if unknown:
        facts.append(
            "Not known yet: "
            + ", ".join(_c(u) for u in unknown)
            + " could not be read, so what they would show is unknown."
        )
        return facts
    return facts or ["No metric, change or alert has moved yet; still gathering evidence."]


def resolved_draft(
    incident: Incident,
    *,
    began: datetime,
    recovered_at: datetime,
    impact: str,
    summary: str = "",
) -> str:
    """The customer-facing "resolved" status-page update: duration, impact, summary.

    Parameters
    ----------
    incident
        The record (title).
    began, recovered_at
        When customers were first affected and when service recovered (the
        verified recovery start).
    impact
        What customers experienced, in their words.
    summary
        One or two sentences on what happened and what was done (no internals).
    """
    duration = format_duration(recovered_at - began)
    lines = [
        f"**Resolved** — {_q(incident.title)}",
        "",
        f"Between {_hm(began)} and {_hm(recovered_at)} ({duration}), "
        f"{_q(impact[:1].lower() + impact[1:])}",
        "",
        _q(summary)
        if summary
        else "The issue has been fixed and the service is operating normally.",
        "",
        "We are sorry for the disruption. A post-incident review will follow.",
    ]
    return redact("\n".join(lines))
