"""The incident record the communication tests draft from (one place, not one per module)."""

from __future__ import annotations

from datetime import UTC, datetime

from incident_records import sample_incident

__all__ = ["INCIDENT"]

INCIDENT = sample_incident(end=None, start=datetime(2026, 11, 3, 14, 0, tzinfo=UTC))
