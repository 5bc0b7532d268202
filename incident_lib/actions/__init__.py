"""Mitigation actions: the only code that changes the systems under investigation.

Every change is a dry run unless the caller confirms it and names its target;
the values it works with (:class:`~incident_lib.core.actions.Action`, plans and
results) are in :mod:`incident_lib.core.actions`. Write credentials are their own
configuration (``INCIDENT_KUBE_WRITE_CONTEXT``, ``INCIDENT_FLAG_URL`` /
``INCIDENT_FLAG_TOKEN``), never the read-only one the sources use.
"""

from __future__ import annotations

__all__: list[str] = []
