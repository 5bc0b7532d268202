"""Kubernetes change rows: scaling and HPA rescales, config events, ConfigMap/Secret changes.

Events (``k8s_events``) give ``scale`` rows only when no rollout or HPA rescale
explains them, and ``config`` rows when a controller says a ConfigMap or Secret
changed; the field managers' last operations (``k8s_config``) give one ``config``
row per change, and a config event reporting such a change is dropped. Each row
names the workload it concerns (``service``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from ._rows import _DETAIL_CHARS, _cut, _row, _text

if TYPE_CHECKING:
    import pandas as pd

#: a ScalingReplicaSet event this long after a rollout went live is one of its steps
_ROLLOUT_SPAN_S = 15 * 60
#: two replica sets of one Deployment scaled this close together: a rollout's steps
_ROLLOUT_STEP_S = 5 * 60
#: a ScalingReplicaSet event this soon after an HPA rescale carries it out
_HPA_FOLLOW_S = 60
#: a config event this close to a field manager's change of the same object reports that change
_SAME_CONFIG_S = 5 * 60
#: how the source marks a field manager that owns only metadata (labels, annotations)
_METADATA_ONLY = "(metadata only)"
#: a field manager's operation this close to the object's creation is the creation
_CREATED_S = 2

_CONFIG_REFS = (
    # Flux / kubectl style "ConfigMap/prod/api-config configured", object "Secret/db"
    re.compile(r"\b(?P<kind>configmap|secret)s?/(?:[\w.-]+/)?(?P<name>[\w.-]+)", re.IGNORECASE),
    # Reloader: "Changes detected in 'db-credentials' of type 'SECRET'"
    re.compile(
        r"['\"]?(?P<name>[\w.-]+)['\"]? of type ['\"]?(?P<kind>configmap|secret)\b", re.IGNORECASE
    ),
    # prose: 'ConfigMap "api-config" updated', "secret db-credentials rotated"
    re.compile(r"\b(?P<kind>configmap|secret)\s+['\"]?(?P<name>[a-z0-9][\w.-]*)", re.IGNORECASE),
)
_CHANGE_WORDS = re.compile(
    r"updat|configur|chang|creat|patch|modif|reload|rotat|appl|replac", re.IGNORECASE
)
_SCALED_RS = re.compile(
    r"Scaled (?P<way>up|down) replica set (?P<rs>\S+) (?:from \d+ )?to (?P<to>\d+)"
    r"(?: from (?P<before>\d+))?",
    re.IGNORECASE,
)
_HPA_SIZE = re.compile(r"New size: (\d+)", re.IGNORECASE)
#: object kinds of events that concern a workload (others, e.g. Node or a Flux
#: Kustomization, say nothing about which service a change concerns)
_WORKLOAD_KINDS = frozenset(
    {"deployment", "statefulset", "daemonset", "job", "cronjob", "horizontalpodautoscaler",
     "service", "rollout"}
)  # fmt: skip
#: ``<deployment>-<template hash>`` of a ReplicaSet, ``<replicaset>-<5 chars>`` of a pod
_RS_HASH = re.compile(r"-[a-z0-9]{6,10}$")
_POD_HASH = re.compile(r"-[a-z0-9]{5}$")


def _hpa_row(time: pd.Timestamp, hpa: str, message: str) -> dict[str, object]:
    """``HPA checkout scaled up to 5``: the direction from the HPA's stated reason."""
    lower = message.lower()
    way = "up" if "above target" in lower else "down" if "below target" in lower else ""
    size = _HPA_SIZE.search(message)
    to = f" to {size.group(1)}" if size else ""
    label = f"HPA {hpa} {f'scaled {way}' if way else 'rescaled'}{to}"
    return _row(time, "scale", label, message, service=hpa)


def _owners(rollouts: pd.DataFrame | None) -> dict[str, str]:
    """ReplicaSet name -> its Deployment, from the rollouts."""
    if rollouts is None or rollouts.empty:
        return {}
    return {
        _text(rs): _text(d)
        for rs, d in zip(rollouts["replicaset"], rollouts["deployment"], strict=True)
        if _text(rs)
    }


def _object_service(obj: str, owners: dict[str, str]) -> str:
    """The workload an event's object belongs to: ``Pod/api-7d9f8c6b5-x2x7q`` -> ``api``.

    A Pod or ReplicaSet maps to its Deployment through the rollouts' ReplicaSet
    names, else by dropping the ReplicaSet's template hash and the pod's suffix
    (an owner-less name is kept). Workload kinds (Deployment, StatefulSet,
    DaemonSet, Job, CronJob, HPA, Service, Rollout) are their own name; other
    objects (Node, ConfigMap, a Flux Kustomization) give "" (unknown).
    """
    kind, _, name = obj.partition("/")
    kind = kind.strip().lower()
    if kind == "replicaset":
        return owners.get(name) or _RS_HASH.sub("", name)
    if kind == "pod":
        replicaset = _POD_HASH.sub("", name)
        if replicaset in owners:
            return owners[replicaset]
        return next(
            (d for rs, d in owners.items() if name.startswith(f"{rs}-")),
            _RS_HASH.sub("", replicaset) if replicaset != name else name,
        )
    return name if kind in _WORKLOAD_KINDS else ""


def _used_by(value: object) -> str:
    """``Deployment/api,Pod/one-off`` -> ``api,one-off``: the workloads' names."""
    names = [part.strip().rpartition("/")[2] for part in _text(value).split(",")]
    return ",".join(dict.fromkeys(n for n in names if n))


def _config_users(config: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """``(kind, name)`` of each ConfigMap / Secret -> the workloads that use it."""
    if config is None or config.empty:
        return {}
    return {
        (_text(k), _text(n)): _used_by(u)
        for k, n, u in zip(config["kind"], config["name"], config["used_by"], strict=True)
    }


def _scale_steps(events: pd.DataFrame) -> list[tuple[pd.Timestamp, str, str]]:
    """``(time, deployment, replica set)`` of every ScalingReplicaSet event."""
    steps: list[tuple[pd.Timestamp, str, str]] = []
    scaling = events[events["reason"] == "ScalingReplicaSet"]
    for first_seen, obj, message in zip(
        scaling["first_seen"], scaling["object"], scaling["message"], strict=True
    ):
        found = _SCALED_RS.search(_text(message))
        if found:
            steps.append((first_seen, _text(obj).partition("/")[2], found["rs"]))
    return steps


def _explained(
    time: pd.Timestamp,
    deployment: str,
    replicaset: str,
    *,
    live: list[pd.Timestamp],
    steps: list[tuple[pd.Timestamp, str, str]],
    hpa: list[pd.Timestamp],
) -> bool:
    """Whether a ScalingReplicaSet event is part of a rollout or of an HPA rescale."""

    def after(t: pd.Timestamp, seconds: int) -> bool:
        return 0 <= (time - t).total_seconds() <= seconds

    return (
        any(after(t, _ROLLOUT_SPAN_S) for t in live)
        or any(after(t, _HPA_FOLLOW_S) for t in hpa)
        or any(
            d == deployment
            and rs != replicaset
            and abs((t - time).total_seconds()) <= _ROLLOUT_STEP_S
            for t, d, rs in steps
        )
    )


def _config_row(
    time: pd.Timestamp, event_type: str, obj: str, reason: str, message: str
) -> dict[str, object] | None:
    """A ``config`` row for a Normal event that says a ConfigMap or Secret changed."""
    if event_type == "Warning" or not _CHANGE_WORDS.search(f"{reason} {message}"):
        return None
    for text in (obj, message):
        for pattern in _CONFIG_REFS:
            found = pattern.search(text)
            if not found:
                continue
            what = "Secret" if found["kind"].lower() == "secret" else "ConfigMap"
            if what == "Secret" or "secret" in f"{obj} {message}".lower():
                detail = f"{reason} on {obj} (message not shown: it concerns a Secret)"
            else:
                detail = f"{reason}: {message}"
            row = _row(time, "config", f"{what} {found['name']} updated", detail)
            return row | {"_object": (what, found["name"])}
    return None


def _event_rows(
    events: pd.DataFrame, rollouts: pd.DataFrame | None, config: pd.DataFrame | None = None
) -> list[dict[str, object]]:
    hpa = list(events.loc[events["reason"] == "SuccessfulRescale", "first_seen"])
    steps = _scale_steps(events)
    owners = _owners(rollouts)
    users = _config_users(config)
    rows: list[dict[str, object]] = []
    ordered = events.sort_values("first_seen", kind="stable")
    for first_seen, event_type, obj_value, message_value, reason_value in zip(
        ordered["first_seen"],
        ordered["type"],
        ordered["object"],
        ordered["message"],
        ordered["reason"],
        strict=True,
    ):
        obj, message, reason = _text(obj_value), _text(message_value), _text(reason_value)
        kind_name, _, name = obj.partition("/")
        found = _SCALED_RS.search(message) if reason == "ScalingReplicaSet" else None
        if reason == "SuccessfulRescale":
            rows.append(_hpa_row(first_seen, name, message))
        elif found:
            live = (
                list(rollouts.loc[rollouts["deployment"] == name, "deployed_at"])
                if rollouts is not None and not rollouts.empty
                else []
            )
            if _explained(first_seen, name, found["rs"], live=live, steps=steps, hpa=hpa):
                continue
            since = f" from {found['before']}" if found["before"] else ""
            label = f"{kind_name} {name} scaled {found['way'].lower()} to {found['to']}{since}"
            rows.append(_row(first_seen, "scale", label, message, service=name))
        else:
            row = _config_row(first_seen, _text(event_type), obj, reason, message)
            if row:
                what = cast("tuple[str, str]", row["_object"])
                row["service"] = users.get(what) or _object_service(obj, owners)
                rows.append(row)
    return rows


def _config_object_rows(config: pd.DataFrame) -> list[dict[str, object]]:
    """One ``config`` row per field manager's last operation on a ConfigMap or Secret.

    ``"ConfigMap api-config changed by kubectl-edit"`` (``created by`` when the
    operation is the object's creation); the private ``_object`` key (dropped
    later) serves deduplication against the events.
    """
    import pandas as pd

    rows: list[dict[str, object]] = []
    for kind, name, used_by, version, created_at, manager_value, operation, changed_at in zip(
        config["kind"],
        config["name"],
        config["used_by"],
        config["resource_version"],
        config["created_at"],
        config["manager"],
        config["operation"],
        config["changed_at"],
        strict=True,
    ):
        if pd.isna(changed_at) or _text(operation).endswith(_METADATA_ONLY):
            continue  # a label or annotation stamped: no data changed
        manager = _text(manager_value) or "an unknown field manager"
        created = not pd.isna(created_at) and (
            abs((changed_at - created_at).total_seconds()) <= _CREATED_S
        )
        what = f"{_text(kind)} {_text(name)}"
        label = f"{what} {'created' if created else 'changed'} by {manager}"
        parts = [f"{_text(operation) or 'Update'} by field manager {manager}"]
        if _text(used_by):
            parts.append(f"used by {_text(used_by)}")
        if _text(version):
            parts.append(f"resourceVersion {_text(version)}")
        row = _row(changed_at, "config", label, "; ".join(parts), service=_used_by(used_by))
        rows.append(row | {"_object": (_text(kind), _text(name))})
    return rows


def _config_once(
    objects: list[dict[str, object]], events: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Event rows less the config events that report a listed field manager's change.

    Such a change keeps its row (it names who made it) and notes the event, so
    one change of one object is never counted twice.
    """
    kept = []
    for row in events:
        same = next(
            (
                obj
                for obj in objects
                if "_object" in row
                and obj["_object"] == row["_object"]
                and abs(
                    (cast("pd.Timestamp", obj["time"]) - cast("pd.Timestamp", row["time"]))
                ).total_seconds()
                <= _SAME_CONFIG_S
            ),
            None,
        )
        if same is None:
            kept.append(row)
            continue
        note = f"event: {row['detail']}"
        same["detail"] = _cut(f"{same['detail']}; {note}", _DETAIL_CHARS)
    return kept
