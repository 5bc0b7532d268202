"""Drafts of status updates: the public status page and the internal stakeholder note.

Drafts are filled from the incident record and the facts the notebooks found;
the engineer edits and sends them. Every draft passes through redaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..core.incident import Incident
from ..core.metrics import metric_info
from ..core.severity import update_interval
from ..core.time import format_duration
from ..infra.redact import redact

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "next_update_at",
    "quick_facts",
    "resolved_draft",
    "stakeholder_draft",
    "status_page_draft",
]

#: a metric counts as moved in the facts when its peak is this many times its baseline
_MOVED_RATIO = 1.5

_STATE_TEXT = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


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
    state: str = "investigating",
    actions: str = "Our engineers are investigating the cause.",
) -> str:
    """A customer-facing status-page update (no internal names, versions or hosts).

    Parameters
    ----------
    incident
        The record (title, severity, detection time).
    as_of
        The moment of the update.
    impact
        What customers experience, in their words ("Some checkout requests fail").
    state
        ``investigating``, ``identified``, ``monitoring`` or ``resolved``.
    actions
        What we are doing, one sentence.
    """
    heading = _STATE_TEXT.get(state, state.title())
    lines = [
        f"**{heading}** — {incident.title}",
        "",
        f"{impact} We first saw this at {_hm(incident.detected_at)}.",
        "",
        f"{actions}",
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
    actions: Sequence[str],
    state: str = "investigating",
) -> str:
    """An internal update for stakeholders: what we know, impact, what we do, next update."""
    elapsed = format_duration(as_of - incident.detected_at)
    roles = incident.roles.assigned()
    role_line = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in roles.items()) or (
        "roles not yet assigned"
    )
    lines = [
        f"**[{incident.severity}] {incident.id} — {incident.title} — {state}**",
        "",
        f"Detected {_hm(incident.detected_at)}, {elapsed} ago. Service `{incident.service}` "
        f"in `{incident.namespace}`. {role_line}.",
        "",
        "**What we know**",
        *[f"- {f}" for f in facts],
        "",
        f"**Impact:** {impact}",
        "",
        "**What we are doing**",
        *[f"- {a}" for a in actions],
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
        From :func:`incident_lib.analysis.changes.deploy_markers` (inside the window).
    alerts
        From :func:`incident_lib.analysis.alerts.alert_summary`.
    errors
        A signatures table (``template``, ``count``), most frequent first.

    Returns
    -------
    list of str
        One sentence per fact, or one sentence saying nothing has moved yet.
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
        facts.append(
            f"{change['label']} at {change['time']:%H:%M} UTC "
            f"({change['deployment']}, revision {change['revision']})."
        )
    firing = alerts[alerts["firing"]] if len(alerts) else alerts
    if len(alerts):
        facts.append(
            f"{len(alerts)} monitor(s) fired in the window"
            + (
                f", {len(firing)} still firing: " + ", ".join(firing["monitor"])
                if len(firing)
                else ", none firing now"
            )
            + "."
        )
    if errors is not None and len(errors):
        top = errors.iloc[0]
        facts.append(f"Most frequent error: “{top['template']}” ({int(top['count'])} times).")
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
        f"**Resolved** — {incident.title}",
        "",
        f"Between {_hm(began)} and {_hm(recovered_at)} ({duration}), {impact[0].lower()}"
        f"{impact[1:]}",
        "",
        summary or "The issue has been fixed and the service is operating normally.",
        "",
        "We are sorry for the disruption. A post-incident review will follow.",
    ]
    return redact("\n".join(lines))
