"""Changes: deploy and rollback markers, recent rollouts, and change-to-onset ranking.

:func:`changes_timeline` merges rollouts, ConfigMap and Secret changes (their
field managers' last operations), Kubernetes events (config changes, scaling),
git commits and Datadog events (deploys, feature flags, campaigns, notes) into
one frame; :func:`rank_changes` ranks them by how closely they precede the
error onset.

One module per job; every public name is re-exported here:

- :mod:`.rollouts`: :func:`image_tag`, :func:`deploy_markers`,
  :func:`recent_rollouts` and the rollouts' timeline rows;
- :mod:`.kubernetes`: rows from Kubernetes events (scaling, HPA rescales, config
  events) and ConfigMap/Secret changes, and the workload each concerns;
- :mod:`.datadog`: Datadog event rows and their de-duplication against rollouts;
- :mod:`.timeline`: :data:`TIMELINE_COLUMNS`, :func:`changes_timeline` (commits,
  releases and jobs wired in), :data:`CHANGE_EVIDENCE`,
  :func:`changes_from_evidence`;
- :mod:`.ranking`: :data:`KIND_WEIGHTS`, :data:`RELATION_FACTORS`,
  :func:`rank_changes`, :func:`change_findings`, :func:`relation_label`.
"""

from __future__ import annotations

from .ranking import (
    DEPENDENCY_FACTOR,
    KIND_WEIGHTS,
    OTHER_FACTOR,
    RELATION_FACTORS,
    change_findings,
    rank_changes,
    relation_label,
)
from .rollouts import deploy_markers, image_tag, recent_rollouts
from .timeline import CHANGE_EVIDENCE, TIMELINE_COLUMNS, changes_from_evidence, changes_timeline

__all__ = [
    "CHANGE_EVIDENCE",
    "DEPENDENCY_FACTOR",
    "KIND_WEIGHTS",
    "OTHER_FACTOR",
    "RELATION_FACTORS",
    "TIMELINE_COLUMNS",
    "change_findings",
    "changes_from_evidence",
    "changes_timeline",
    "deploy_markers",
    "image_tag",
    "rank_changes",
    "recent_rollouts",
    "relation_label",
]
