"""incident_lib: the helper library behind the incident-runbooks notebooks.

The public surface is :data:`__all__`. Names are imported on first use so that
``import incident_lib`` stays fast and never imports pandas, matplotlib,
kubernetes, datadog-api-client or psycopg.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.errors import (
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
    "Window": ".core.time",
    "parse_time": ".core.time",
    "format_duration": ".core.time",
    "parse_list": ".core.params",
    "Incident": ".core.incident",
    "Roles": ".core.incident",
    "Times": ".core.incident",
    "SeverityAssessment": ".core.severity",
    "assess_severity": ".core.severity",
    "missing_roles": ".core.severity",
    "Workspace": ".infra.workspace",
    "open_workspace": ".infra.workspace",
    "create_workspace": ".infra.workspace",
    "EvidenceStore": ".infra.evidence",
    "Finding": ".core.findings",
    "Runbook": ".runbook",
    "start_runbook": ".runbook",
    "redact": ".infra.redact",
    "run_bundle": ".report.bundle",
    "Triage": ".analysis.triage",
    "triage": ".analysis.triage",
}
#: submodules reached as attributes (``il.charts``); ``schema`` lives in the core layer
_SUBMODULES: dict[str, str] = {
    "analysis": ".analysis",
    "charts": ".charts",
    "core": ".core",
    "demo": ".demo",
    "errors": ".core.errors",
    "infra": ".infra",
    "report": ".report",
    "schema": ".core.schema",
    "sources": ".sources",
}

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
    "parse_list",
    "parse_time",
    "redact",
    "run_bundle",
    "start_runbook",
    "triage",
]

if TYPE_CHECKING:
    from .analysis.triage import Triage, triage
    from .core.findings import Finding
    from .core.incident import Incident, Roles, Times
    from .core.params import parse_list
    from .core.severity import SeverityAssessment, assess_severity, missing_roles
    from .core.time import Window, format_duration, parse_time
    from .infra.evidence import EvidenceStore
    from .infra.redact import redact
    from .infra.workspace import Workspace, create_workspace, open_workspace
    from .report.bundle import run_bundle
    from .runbook import Runbook, start_runbook


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name], __name__)
    raise AttributeError(f"module 'incident_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_SUBMODULES))
