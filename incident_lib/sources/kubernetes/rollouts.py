"""Rollouts: a Deployment's ReplicaSets as revisions, and when each went live.

``deployed_at`` of a revision is the start of the latest run of
``ScalingReplicaSet`` "Scaled up replica set <rs>" events of its Deployment (the
earliest scale-up after the last scale-down of that ReplicaSet to 0); without
such events (the API server keeps them about an hour) it is the ReplicaSet's
creation time. A rollback re-uses the old ReplicaSet and gives it a new revision
number, so its ``created_at`` stays old: only the events tell when it went live
again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .pods import event_times

__all__ = ["CHANGE_CAUSE", "REVISION", "activation_times", "annotation", "owned_by", "rollout_row"]

#: annotation holding a Deployment's or a ReplicaSet's revision number
REVISION = "deployment.kubernetes.io/revision"
#: annotation holding the reason of a change (``kubectl annotate ... change-cause``)
CHANGE_CAUSE = "kubernetes.io/change-cause"
_SCALED = re.compile(r"^Scaled (up|down) replica set (\S+) to (\d+)")


def rollout_row(
    dep: Any, rs: Any, current: str | None, live: Mapping[str, datetime]
) -> dict[str, Any]:
    """The ``rollouts`` row of ReplicaSet ``rs`` of Deployment ``dep``."""
    revision = annotation(rs, REVISION)
    template = rs.spec.template if rs.spec else None
    containers = template.spec.containers if template and template.spec else []
    created = rs.metadata.creation_timestamp
    return {
        "deployment": dep.metadata.name,
        "revision": int(revision) if revision and revision.isdigit() else 0,
        "replicaset": rs.metadata.name,
        "images": ",".join(c.image or "" for c in containers),
        "created_at": created,
        "deployed_at": live.get(rs.metadata.name, created),
        "change_cause": annotation(rs, CHANGE_CAUSE),
        "replicas": int((rs.status.replicas if rs.status else 0) or 0),
        "current": revision is not None and revision == current,
    }


def annotation(obj: Any, key: str) -> str | None:
    """The annotation ``key`` of an API object (None when it is not set)."""
    return (obj.metadata.annotations or {}).get(key)


def owned_by(rs: Any, dep: Any) -> bool:
    """Whether ReplicaSet ``rs`` is owned by Deployment ``dep`` (by uid, else by name)."""
    for ref in rs.metadata.owner_references or []:
        if ref.kind != "Deployment":
            continue
        if ref.uid and dep.metadata.uid:
            if ref.uid == dep.metadata.uid:
                return True
        elif ref.name == dep.metadata.name:
            return True
    return False


def activation_times(events: Iterable[Any]) -> dict[str, datetime]:
    """ReplicaSet name -> when it last went live, from ScalingReplicaSet events.

    The earliest "Scaled up" of a ReplicaSet after its last "Scaled down ... to 0"
    that precedes its latest scale-up. Aggregated events count at their first and
    their last time.
    """
    ups: dict[str, list[datetime]] = defaultdict(list)
    zeros: dict[str, list[datetime]] = defaultdict(list)
    for ev in events:
        match = _SCALED.match(ev.message or "")
        first, last, _ = event_times(ev)
        if match is None or first is None:
            continue
        direction, name, target = match.group(1), match.group(2), int(match.group(3))
        if direction == "up":
            ups[name] += [first, last]
        elif target == 0:
            zeros[name] += [first, last]
    live = {}
    for name, times in ups.items():
        latest = max(times)
        floor = max((t for t in zeros[name] if t < latest), default=None)
        live[name] = min(t for t in times if floor is None or t > floor)
    return live
