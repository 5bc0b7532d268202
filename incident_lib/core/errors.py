"""The one exception tree of incident_lib.

Every error the library raises on purpose derives from :class:`IncidentError`,
so a caller (the CLI, a notebook) can catch one class and print one line.

``IncidentError``
    ``InvalidInput`` (also a ``ValueError``): something the user gave is wrong;
    the message says what and how to fix it. Raised before any work starts.

        ``InvalidIncident``: an ``incident.yaml`` or its fields.
        ``InvalidParameter``: a notebook / run parameter (unknown, secret-looking).
        ``WorkspaceError``: a missing or unusable incident workspace.
        ``ActionRefused``: a mitigation action refused before anything changed
        (unknown workload, revision, object changed since the plan, RBAC).
    ``EvidenceError``: the evidence store.

        ``EvidenceNotFound``: nothing captured under that source and name.
        ``EvidenceIntegrityError``: a file or the manifest chain was changed.
    ``SourceUnavailable``: a data source is down, refuses or is not configured;
    notebooks turn it into an "unavailable: why" section.
    ``RunError``: the notebook runner could not produce a bundle.
"""

from __future__ import annotations

__all__ = [
    "ActionRefused",
    "EvidenceError",
    "EvidenceIntegrityError",
    "EvidenceNotFound",
    "IncidentError",
    "InvalidIncident",
    "InvalidInput",
    "InvalidParameter",
    "RunError",
    "SourceUnavailable",
    "WorkspaceError",
]


class IncidentError(Exception):
    """Base class of every error incident_lib raises on purpose."""


class InvalidInput(IncidentError, ValueError):
    """Something the user gave is invalid; the message says how to fix it."""


class InvalidIncident(InvalidInput):
    """An incident record (``incident.yaml``) or one of its fields is invalid."""


class InvalidParameter(InvalidInput):
    """A notebook or run parameter is unknown, malformed or looks like a secret."""


class WorkspaceError(InvalidInput):
    """An incident workspace is missing or unusable."""


class ActionRefused(InvalidInput):
    """A mitigation action was refused before anything changed; the message says why."""


class EvidenceError(IncidentError):
    """Base class of evidence store errors."""


class EvidenceNotFound(EvidenceError, LookupError):
    """Nothing was captured under the requested source and name."""


class EvidenceIntegrityError(EvidenceError):
    """An evidence file or the manifest chain no longer matches what was captured."""


class SourceUnavailable(IncidentError):
    """A data source is down, refuses the request or is not configured.

    Parameters
    ----------
    source
        The source name, e.g. ``"kubernetes"``.
    reason
        One line saying why, safe to show (never contains credentials).
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source} unavailable: {reason}")
        self.source = source
        self.reason = reason


class RunError(IncidentError):
    """The notebook runner could not produce a bundle."""
