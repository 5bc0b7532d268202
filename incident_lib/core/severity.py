"""Severity from impact, response deadlines, required roles and who to page.

The table follows the response runbook:

=========  ==============================================  ============  =========================
severity   impact                                          respond       roles required
=========  ==============================================  ============  =========================
SEV-1      complete outage, data loss or security breach   immediately   IC, tech, comms, scribe
SEV-2      major feature broken                            < 30 min      a lead
SEV-3      degraded performance                            < 2 h         a lead
SEV-4      minor issue                                     < 24 h        (owning team)
=========  ==============================================  ============  =========================

When unsure between levels, take the higher one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InvalidInput

__all__ = [
    "IMPACTS",
    "ROLE_NAMES",
    "SEVERITIES",
    "SeverityAssessment",
    "assess_severity",
    "check_severity",
    "missing_roles",
    "response_deadline",
]

SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")

#: impact category -> severity
IMPACTS: dict[str, str] = {
    "complete-outage": "SEV-1",
    "data-loss": "SEV-1",
    "security-breach": "SEV-1",
    "major-feature-broken": "SEV-2",
    "degraded-performance": "SEV-3",
    "minor": "SEV-4",
}

ROLE_NAMES = {
    "incident_commander": "incident commander",
    "tech_lead": "tech lead",
    "communications": "communications lead",
    "scribe": "scribe",
}

_RESPONSE = {
    "SEV-1": timedelta(0),
    "SEV-2": timedelta(minutes=30),
    "SEV-3": timedelta(hours=2),
    "SEV-4": timedelta(hours=24),
}

_RESPOND_TEXT = {
    "SEV-1": "respond immediately",
    "SEV-2": "respond within 30 minutes",
    "SEV-3": "respond within 2 hours",
    "SEV-4": "respond within 24 hours",
}

# Which roles must be filled. "lead" means one person leading: the incident
# commander or the tech lead.
_REQUIRED_ROLES: dict[str, tuple[str, ...]] = {
    "SEV-1": ("incident_commander", "tech_lead", "communications", "scribe"),
    "SEV-2": ("lead",),
    "SEV-3": ("lead",),
    "SEV-4": (),
}

_PAGE = {
    "SEV-1": (
        "page the on-call engineer, the incident commander and the communications lead now; "
        "open the incident bridge"
    ),
    "SEV-2": "page the on-call engineer for the service; a lead takes the incident",
    "SEV-3": "notify the on-call engineer and the team channel; no page out of hours",
    "SEV-4": "open a ticket for the owning team; no page",
}


def check_severity(severity: str) -> str:
    """Return ``severity`` normalised (``'sev2'`` -> ``'SEV-2'``) or raise :class:`InvalidInput`."""
    text = str(severity).strip().upper().replace("_", "-")
    if text.startswith("SEV") and not text.startswith("SEV-"):
        text = "SEV-" + text[3:]
    if text not in SEVERITIES:
        raise InvalidInput(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    return text


@dataclass(frozen=True, slots=True)
class SeverityAssessment:
    """A severity with what it implies for the response."""

    severity: str
    impact: tuple[str, ...]
    respond_within: timedelta
    respond_text: str
    required_roles: tuple[str, ...]
    page: str

    def deadline(self, detected_at: datetime) -> datetime:
        """When the response must have started, counted from detection."""
        return detected_at + self.respond_within


def _assessment(severity: str, impact: tuple[str, ...] = ()) -> SeverityAssessment:
    return SeverityAssessment(
        severity=severity,
        impact=impact,
        respond_within=_RESPONSE[severity],
        respond_text=_RESPOND_TEXT[severity],
        required_roles=_REQUIRED_ROLES[severity],
        page=_PAGE[severity],
    )


def assess_severity(
    impact: str | Iterable[str] | None = None, *, severity: str | None = None
) -> SeverityAssessment:
    """Classify severity from impact, or describe a given severity.

    Parameters
    ----------
    impact
        One impact category from :data:`IMPACTS`, or several when unsure between
        them: the most severe wins ("when unsure, take the higher level").
    severity
        Describe this severity instead of classifying.

    Returns
    -------
    SeverityAssessment

    Raises
    ------
    InvalidInput
        An unknown impact category, or neither argument given.
    """
    if severity is not None:
        return _assessment(check_severity(severity))
    if impact is None:
        raise InvalidInput("give an impact (one of " + ", ".join(IMPACTS) + ") or a severity")
    impacts = (impact,) if isinstance(impact, str) else tuple(impact)
    unknown = [i for i in impacts if i not in IMPACTS]
    if unknown or not impacts:
        raise InvalidInput(
            f"impact {unknown or impacts!r} is not known; use one or more of "
            + ", ".join(IMPACTS)
            + " (when unsure between two, give both: the higher severity is taken)"
        )
    chosen = min(IMPACTS[i] for i in impacts)  # "SEV-1" < "SEV-2" < ...
    return _assessment(chosen, impacts)


def response_deadline(severity: str, detected_at: datetime) -> datetime:
    """The time by which a response must have started for ``severity``."""
    return detected_at + _RESPONSE[check_severity(severity)]


def missing_roles(severity: str, assigned: dict[str, str | None]) -> list[str]:
    """Required roles for ``severity`` that nobody holds yet (human-readable names)."""
    missing = []
    for role in _REQUIRED_ROLES[check_severity(severity)]:
        if role == "lead":
            if not (assigned.get("incident_commander") or assigned.get("tech_lead")):
                missing.append("a lead (incident commander or tech lead)")
        elif not assigned.get(role):
            missing.append(ROLE_NAMES[role])
    return missing
