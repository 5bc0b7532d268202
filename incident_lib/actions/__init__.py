"""Mitigation actions: the only code that changes the systems under investigation.

Every change is a dry run unless the caller confirms it and names its target;
the values it works with (:class:`~incident_lib.core.actions.Action`, plans and
results) are in :mod:`incident_lib.core.actions`. Write credentials are their own
configuration (``INCIDENT_KUBE_WRITE_CONTEXT``, ``INCIDENT_FLAG_URL`` /
``INCIDENT_FLAG_TOKEN``), never the read-only one the sources use.

* :mod:`.kubernetes`: :class:`KubernetesActor` (roll back, scale, restart, set a
  limit of a Deployment, StatefulSet or DaemonSet: plan, server-side dry run,
  apply, follow the rollout); the patches it sends are computed in
  :mod:`._kube_plans`.

Importing this package imports no client library.
"""

from __future__ import annotations

from .flags import FLAG_TOKEN_ENV, FLAG_URL_ENV, FlagActor
from .kubernetes import WRITE_CONTEXT, KubernetesActor, Rollout

__all__ = [
    "FLAG_TOKEN_ENV",
    "FLAG_URL_ENV",
    "WRITE_CONTEXT",
    "FlagActor",
    "KubernetesActor",
    "Rollout",
]
