"""incident_lib: the helper library behind the incident-runbooks notebooks.

The public surface is :data:`__all__`. Names are imported on first use so that
``import incident_lib`` stays fast and never imports pandas, matplotlib,
kubernetes, datadog-api-client or psycopg.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    EvidenceError,
    EvidenceIntegrityError,
    EvidenceNotFound,
    IncidentError,
    InvalidIncident,
    InvalidInput,
    InvalidParameter,
    RunError,
    SourceUnavailable,
    WorkspaceError,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Window": "._types",
    "parse_time": "._types",
    "format_duration": "._types",
    "Incident": ".incident",
    "Roles": ".incident",
    "Times": ".incident",
    "SeverityAssessment": ".severity",
    "assess_severity": ".severity",
    "missing_roles": ".severity",
    "Workspace": ".workspace",
    "open_workspace": ".workspace",
    "create_workspace": ".workspace",
    "EvidenceStore": ".evidence",
    "Finding": ".findings",
    "Runbook": ".runbook",
    "start_runbook": ".runbook",
    "redact": ".redact",
    "run_bundle": ".report.bundle",
    "Triage": ".triage",
    "triage": ".triage",
}
_SUBMODULES = ("analysis", "charts", "demo", "report", "schema", "sources")

__all__ = [
    "EvidenceError",
    "EvidenceIntegrityError",
    "EvidenceNotFound",
    "EvidenceStore",
    "Finding",
    "Incident",
    "IncidentError",
    "InvalidIncident",
    "InvalidInput",
    "InvalidParameter",
    "Roles",
    "RunError",
    "Runbook",
    "SeverityAssessment",
    "SourceUnavailable",
    "Times",
    "Triage",
    "Window",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "assess_severity",
    "create_workspace",
    "format_duration",
    "missing_roles",
    "open_workspace",
    "parse_time",
    "redact",
    "run_bundle",
    "start_runbook",
    "triage",
]

if TYPE_CHECKING:
    from ._types import Window, format_duration, parse_time
    from .evidence import EvidenceStore
    from .findings import Finding
    from .incident import Incident, Roles, Times
    from .redact import redact
    from .report.bundle import run_bundle
    from .runbook import Runbook, start_runbook
    from .severity import SeverityAssessment, assess_severity, missing_roles
    from .triage import Triage, triage
    from .workspace import Workspace, create_workspace, open_workspace


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'incident_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_SUBMODULES))
