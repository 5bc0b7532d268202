"""The incident record the communication tests draft from (one place, not one per module)."""

from __future__ import annotations

from datetime import UTC, datetime

from incident_lib.core.incident import Incident

__all__ = ["INCIDENT"]

INCIDENT = Incident.create(
    id="INC-2026-0042",
    title="api returns 500s",
    service="api",
    namespace="prod",
    severity="SEV-2",
    start=datetime(2026, 11, 3, 14, 0, tzinfo=UTC),
)
