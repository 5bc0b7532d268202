"""The incident record most tests start from (one place, not one per module)."""

from __future__ import annotations

from typing import Any

from incident_lib.core.incident import Incident

__all__ = ["sample_incident"]

#: INC-2026-0042: the api in prod at SEV-2, 14:00 to 15:00 UTC on 2026-11-03
_FIELDS: dict[str, Any] = {
    "id": "INC-2026-0042",
    "title": "api returns 500s",
    "service": "api",
    "namespace": "prod",
    "severity": "SEV-2",
    "start": "2026-11-03T14:00:00Z",
    "end": "2026-11-03T15:00:00Z",
}


def sample_incident(**changes: Any) -> Incident:
    """The sample record with ``changes`` (``end=None``: still open), validated."""
    return Incident.create(**{**_FIELDS, **changes})
