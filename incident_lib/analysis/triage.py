"""Triage of an incident record: severity, response deadline, roles, timers, paging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..core.findings import Finding
from ..core.incident import Incident
from ..core.severity import ROLE_NAMES, SeverityAssessment, assess_severity, missing_roles
from ..core.time import format_duration

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Triage", "triage"]


@dataclass(frozen=True, slots=True)
class Triage:
    """What triage concludes about an incident at a given moment."""

    incident: Incident
    as_of: datetime
    recorded: SeverityAssessment
    classified: SeverityAssessment | None
    missing_roles: tuple[str, ...]

    @property
    def severity(self) -> SeverityAssessment:
        """The severity to act on: the higher of recorded and classified."""
        if self.classified and self.classified.severity < self.recorded.severity:
            return self.classified
        return self.recorded

    @property
    def deadline(self) -> datetime:
        """When the response must have started (from detection)."""
        return self.severity.deadline(self.incident.detected_at)

    @property
    def since_detection(self) -> str:
        """Time elapsed from detection to ``as_of`` (or to resolution, once resolved)."""
        end = self.incident.times.resolved or self.as_of
        return format_duration(end - self.incident.detected_at)

    @property
    def deadline_status(self) -> str:
        """``met``, ``missed`` (with by how much) or ``due in ...``."""
        ack = self.incident.times.acknowledged
        if ack is not None:
            late = ack - self.deadline
            if late.total_seconds() <= 0:
                return (
                    f"met: acknowledged {format_duration(ack - self.incident.detected_at)} "
                    "after detection"
                )
            return f"missed by {format_duration(late)}"
        left = self.deadline - self.as_of
        if left.total_seconds() < 0:
            return f"missed by {format_duration(-left)} (not yet acknowledged)"
        return f"due in {format_duration(left)}"

    def record_table(self) -> pd.DataFrame:
        """The record as a two-column table for display."""
        import pandas as pd

        inc = self.incident
        rows = [
            ("id", inc.id),
            ("title", inc.title),
            ("service", inc.service),
            ("namespace", inc.namespace),
            ("severity", inc.severity),
            ("status", inc.status),
            (
                "window",
                f"{inc.start:%Y-%m-%d %H:%M}Z → "
                + (f"{inc.end:%Y-%m-%d %H:%M}Z" if inc.end else "ongoing"),
            ),
            ("impact", inc.impact or "—"),
        ]
        return pd.DataFrame(rows, columns=["field", "value"]).set_index("field")

    def roles_table(self) -> pd.DataFrame:
        """Each role: required for this severity or not, and who holds it."""
        import pandas as pd

        required = set(self.severity.required_roles)
        assigned = self.incident.roles.assigned()
        rows = []
        for key, label in ROLE_NAMES.items():
            needed = key in required or (
                "lead" in required and key in ("incident_commander", "tech_lead")
            )
            rows.append(
                {
                    "role": label,
                    "required": "yes" if key in required else ("one of" if needed else "no"),
                    "holder": assigned.get(key, "") or "— unassigned —",
                }
            )
        return pd.DataFrame(rows).set_index("role")

    def timings(self) -> pd.DataFrame:
        """Detected / acknowledged / mitigated / resolved, with the time from detection."""
        import pandas as pd

        t = self.incident.times
        detected = self.incident.detected_at
        rows = []
        for label, moment in (
            ("detected", detected),
            ("acknowledged", t.acknowledged),
            ("mitigated", t.mitigated),
            ("resolved", t.resolved),
        ):
            rows.append(
                {
                    "moment": label,
                    "time (UTC)": "—" if moment is None else f"{moment:%Y-%m-%d %H:%M}",
                    "after detection": "—"
                    if moment is None
                    else format_duration(moment - detected),
                }
            )
        return pd.DataFrame(rows).set_index("moment")

    def findings(self) -> list[Finding]:
        """Findings: severity and paging, a severity to raise, missing roles, a late response.

        All are ``context`` for the story (facts ``severity``, ``roles``,
        ``response-deadline``), except a missed deadline: ``response``.
        """
        sev = self.severity
        out = [
            Finding(
                title=f"{sev.severity}: {sev.respond_text}",
                severity="info",
                summary=f"Response deadline {self.deadline:%H:%M} UTC ({self.deadline_status}). "
                f"Paging: {sev.page}.",
                fact="severity",
                role="context",
            )
        ]
        if self.classified and self.classified.severity < self.recorded.severity:
            out.append(
                Finding(
                    title=f"Raise severity to {self.classified.severity}",
                    severity="high",
                    summary=f"The record says {self.recorded.severity} but the impact "
                    f"({', '.join(self.classified.impact)}) means {self.classified.severity}; "
                    "when unsure, take the higher level.",
                    fact="severity",
                    role="context",
                )
            )
        if self.missing_roles:
            out.append(
                Finding(
                    title="Roles not assigned: " + ", ".join(self.missing_roles),
                    severity="high" if sev.severity in ("SEV-1", "SEV-2") else "medium",
                    summary=f"{sev.severity} needs these roles filled; "
                    "record them in incident.yaml.",
                    fact="roles",
                    role="context",
                )
            )
        if self.deadline_status.startswith("missed"):
            out.append(
                Finding(
                    title="Response deadline missed",
                    severity="medium",
                    summary=f"{sev.severity} must be acknowledged within "
                    f"{format_duration(sev.respond_within)}: {self.deadline_status}.",
                    fact="response-deadline",
                    role="response",
                )
            )
        return out

    def summary_markdown(self) -> str:
        """Severity, deadline, time since detection and paging, as markdown."""
        sev = self.severity
        text = (
            f"**{sev.severity}** — {sev.respond_text}. Response deadline "
            f"**{self.deadline:%Y-%m-%d %H:%M} UTC** ({self.deadline_status}).  \n"
            f"Time since detection: **{self.since_detection}**"
            + (" (to resolution)" if self.incident.times.resolved else "")
            + f".  \n**Page:** {sev.page}."
        )
        if self.classified and self.classified.severity != self.recorded.severity:
            text += (
                f"  \nImpact given ({', '.join(self.classified.impact)}) classifies as "
                f"**{self.classified.severity}**; recorded **{self.recorded.severity}**."
            )
        return text


def triage(incident: Incident, *, as_of: datetime, impact: str | list[str] = "") -> Triage:
    """Triage ``incident`` as of ``as_of``.

    Parameters
    ----------
    incident
        The record.
    as_of
        The moment of triage (now when live).
    impact
        Optional impact category(ies) (comma-separated text or a list) to classify
        the severity from; when they give a higher level than recorded, the
        higher one wins.
    """
    if isinstance(impact, str):
        impact = [i.strip() for i in impact.split(",") if i.strip()]
    classified = assess_severity(impact) if impact else None
    recorded = assess_severity(severity=incident.severity)
    chosen = classified if classified and classified.severity < recorded.severity else recorded
    return Triage(
        incident=incident,
        as_of=as_of,
        recorded=recorded,
        classified=classified,
        missing_roles=tuple(missing_roles(chosen.severity, incident.roles.assigned())),
    )
