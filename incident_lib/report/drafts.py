"""Drafts of status updates: the public status page and the internal stakeholder note.

Drafts are filled from the incident record and the facts the notebooks found;
the engineer edits and sends them. Every draft passes through redaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..core.incident import Incident
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

#: how often updates go out while an incident is open
UPDATE_EVERY = {
    "SEV-1": timedelta(minutes=30),
    "SEV-2": timedelta(minutes=30),
    "SEV-3": timedelta(hours=1),
    "SEV-4": timedelta(hours=4),
}

_STATE_TEXT = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


def next_update_at(incident: Incident, as_of: datetime) -> datetime:
    """When the next update is due: the severity's cadence from ``as_of``, on the minute."""
    due = as_of + UPDATE_EVERY[incident.severity]
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

    ``health`` from :func:`incident_lib.analysis.metrics.health_table`, ``markers``
    from :func:`incident_lib.analysis.changes.deploy_markers` (inside the window),
    ``alerts`` from :func:`incident_lib.analysis.alerts.alert_summary`, ``errors``
    a signatures table (``template``, ``count``).
    """
    facts: list[str] = []
    names = {
        "error_ratio": ("5xx share of requests", "{:.1f} %"),
        "latency_p95": ("p95 latency", "{:.0f} ms"),
        "request_rate": ("request rate", "{:.0f} req/s"),
        "cpu": ("CPU use", "{:.1f} cores"),
        "db_connections": ("DB connections", "{:.0f}"),
    }
    for row in health.itertuples():
        if row.metric not in names:
            continue
        label, fmt = names[row.metric]
        moved = row.peak_vs_baseline == row.peak_vs_baseline and row.peak_vs_baseline >= 1.5
        if moved:
            facts.append(
                f"{label} peaked at {fmt.format(row.peak)} at {row.peak_at:%H:%M} UTC "
                f"(baseline {fmt.format(row.baseline)}); latest {fmt.format(row.latest)}."
            )
    for row in markers.itertuples():
        facts.append(
            f"{row.label} at {row.time:%H:%M} UTC ({row.deployment}, revision {row.revision})."
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
