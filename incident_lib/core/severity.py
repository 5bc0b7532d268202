"""Severity from impact, response deadlines, required roles, who to page, update cadence.

The table follows the response runbook:

========  =============================================  ===========  =================  =======
severity  impact                                         respond      roles required     updates
========  =============================================  ===========  =================  =======
SEV-1     complete outage, data loss or security breach  immediately  IC, tech, comms,   30 min
                                                                      scribe
SEV-2     major feature broken                           < 30 min     a lead             30 min
SEV-3     degraded performance                           < 2 h        a lead             1 h
SEV-4     minor issue                                    < 24 h       (owning team)      4 h
========  =============================================  ===========  =================  =======

"updates" is how often status updates go out while the incident is open.
When unsure between levels, take the higher one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from .errors import InvalidInput

__all__ = [
    "IMPACTS",
    "ROLE_NAMES",
    "SEVERITIES",
    "SEVERITY_LEVELS",
    "SeverityAssessment",
    "SeverityLevel",
    "assess_severity",
    "check_severity",
    "missing_roles",
    "response_deadline",
    "update_interval",
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


@dataclass(frozen=True, slots=True)
class SeverityLevel:
    """What one severity level asks of the response (a row of :data:`SEVERITY_LEVELS`).

    Attributes
    ----------
    severity
        ``SEV-1`` .. ``SEV-4``.
    respond_within
        How soon after detection the response must have started.
    respond_text
        The same in words (``respond within 30 minutes``).
    required_roles
        Roles that must be filled (``lead``: the incident commander or the tech lead).
    page
        Who to page or notify.
    update_every
        How often status updates go out while the incident is open.
    """

    severity: str
    respond_within: timedelta
    respond_text: str
    required_roles: tuple[str, ...]
    page: str
    update_every: timedelta


#: severity -> what it asks of the response
SEVERITY_LEVELS: Mapping[str, SeverityLevel] = MappingProxyType(
    {
        level.severity: level
        for level in (
            SeverityLevel(
                severity="SEV-1",
                respond_within=timedelta(0),
                respond_text="respond immediately",
                required_roles=("incident_commander", "tech_lead", "communications", "scribe"),
                page=(
                    "page the on-call engineer, the incident commander and the communications "
                    "lead now; open the incident bridge"
                ),
                update_every=timedelta(minutes=30),
            ),
            SeverityLevel(
                severity="SEV-2",
                respond_within=timedelta(minutes=30),
                respond_text="respond within 30 minutes",
                required_roles=("lead",),
                page="page the on-call engineer for the service; a lead takes the incident",
                update_every=timedelta(minutes=30),
            ),
            SeverityLevel(
                severity="SEV-3",
                respond_within=timedelta(hours=2),
                respond_text="respond within 2 hours",
                required_roles=("lead",),
                page="notify the on-call engineer and the team channel; no page out of hours",
                update_every=timedelta(hours=1),
            ),
            SeverityLevel(
                severity="SEV-4",
                respond_within=timedelta(hours=24),
                respond_text="respond within 24 hours",
                required_roles=(),
                page="open a ticket for the owning team; no page",
                update_every=timedelta(hours=4),
            ),
        )
    }
)


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
    update_every: timedelta

    def deadline(self, detected_at: datetime) -> datetime:
        """When the response must have started, counted from detection."""
        return detected_at + self.respond_within


def _assessment(severity: str, impact: tuple[str, ...] = ()) -> SeverityAssessment:
    level = SEVERITY_LEVELS[severity]
    return SeverityAssessment(
        severity=severity,
        impact=impact,
        respond_within=level.respond_within,
        respond_text=level.respond_text,
        required_roles=level.required_roles,
        page=level.page,
        update_every=level.update_every,
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
    return detected_at + SEVERITY_LEVELS[check_severity(severity)].respond_within


def update_interval(severity: str) -> timedelta:
    """How often status updates go out while an incident of ``severity`` is open.

    Parameters
    ----------
    severity
        ``SEV-1`` .. ``SEV-4`` (``sev2`` and the like are accepted).

    Returns
    -------
    datetime.timedelta
        The cadence from :data:`SEVERITY_LEVELS` (30 min for SEV-1 and SEV-2).

    Raises
    ------
    InvalidInput
        An unknown severity.
    """
    return SEVERITY_LEVELS[check_severity(severity)].update_every


def missing_roles(severity: str, assigned: Mapping[str, str | None]) -> list[str]:
    """Required roles for ``severity`` that nobody holds yet (human-readable names)."""
    missing = []
    for role in SEVERITY_LEVELS[check_severity(severity)].required_roles:
        if role == "lead":
            if not (assigned.get("incident_commander") or assigned.get("tech_lead")):
                missing.append("a lead (incident commander or tech lead)")
        elif not assigned.get(role):
            missing.append(ROLE_NAMES[role])
    return missing
