"""Changes: deploy and rollback markers, recent rollouts, and change-to-onset ranking.

:func:`changes_timeline` merges rollouts, ConfigMap and Secret changes (their
field managers' last operations), Kubernetes events (config changes, scaling),
git commits and Datadog events (deploys, feature flags, campaigns, notes) into
one frame; :func:`rank_changes` ranks them by how closely they precede the
error onset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, cast

from ..core.errors import InvalidInput
from ..core.findings import Finding, change_fact
from ..core.time import Window

if TYPE_CHECKING:
    import pandas as pd

    from .related import Relations

__all__ = [
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


def image_tag(images: str) -> str:
    """The tag of the first image (``registry/app:v2.34`` -> ``v2.34``), or the image."""
    first = str(images).split(",")[0].strip()
    name, _, tag = first.rpartition(":")
    return tag if name and "/" not in tag else first


def _with_kind(rollouts: pd.DataFrame) -> pd.DataFrame:
    """Add ``kind``: ``rollback`` or ``deploy``, per revision in revision order.

    A revision is a rollback when it re-deploys images an earlier revision had,
    or when its ReplicaSet is older than the revision before it went live: a
    Kubernetes rollback re-uses the old ReplicaSet and renumbers it, so the old
    revision disappears from the history while ``created_at`` stays old.
    """
    ordered = rollouts.sort_values(["deployment", "revision"]).copy()
    kinds = []
    for _, group in ordered.groupby("deployment", sort=False):
        seen: set[str] = set()
        previous_live: pd.Timestamp | None = None
        for created_at, deployed_at, images in zip(
            group["created_at"], group["deployed_at"], group["images"], strict=True
        ):
            reused = previous_live is not None and created_at < previous_live
            kinds.append("rollback" if images in seen or reused else "deploy")
            seen.add(images)
            previous_live = deployed_at
    ordered["kind"] = kinds
    return ordered


def deploy_markers(
    rollouts: pd.DataFrame, *, within: Window | None = None, relations: Relations | None = None
) -> pd.DataFrame:
    """One marker per rollout: ``time`` (deployed_at), ``label``, ``kind``, ``revision``.

    A revision that re-deploys images of an earlier revision is a ``rollback``;
    a Kubernetes rollback re-uses the old ReplicaSet, so its ``created_at`` is old
    and ``deployed_at`` is when it went live again. With ``relations``
    (:func:`~incident_lib.analysis.related.service_relations`) a ``relation``
    column says whose Deployment it is (``this``, ``dependency``, ``other``):
    a new log signature is pinned only to this service's rollouts
    (:func:`~incident_lib.analysis.signatures.signature_findings`).
    """
    import pandas as pd

    cols = ["time", "label", "kind", "deployment", "revision"]
    cols += ["relation"] if relations is not None else []
    if rollouts.empty:
        return pd.DataFrame(columns=cols)
    marked = _with_kind(rollouts)
    marked = marked.assign(
        relation=[relations.relation(str(d)) if relations else "" for d in marked["deployment"]],
        time=marked["deployed_at"],
        label=[
            f"{'rollback to ' if k == 'rollback' else 'deploy '}{image_tag(i)}"
            for k, i in zip(marked["kind"], marked["images"], strict=True)
        ],
    )
    if within is not None:
        marked = marked[
            (marked["time"] >= pd.Timestamp(within.start))
            & (marked["time"] < pd.Timestamp(within.end))
        ]
    return marked[cols].sort_values("time").reset_index(drop=True)


def recent_rollouts(rollouts: pd.DataFrame, *, limit: int = 5) -> pd.DataFrame:
    """The ``limit`` most recent rollouts, newest first, in a readable shape."""
    import pandas as pd

    cols = ["deployment", "revision", "version", "kind", "deployed_at", "current", "change_cause"]
    if rollouts.empty:
        return pd.DataFrame(columns=cols)
    marked = _with_kind(rollouts)
    marked["version"] = marked["images"].map(image_tag)
    newest = marked.sort_values("deployed_at", ascending=False).head(limit)
    return newest[cols].reset_index(drop=True)


# --- one timeline of changes -------------------------------------------------------------

#: columns of :func:`changes_timeline`
TIMELINE_COLUMNS: list[str] = ["time", "kind", "source", "label", "detail", "service"]
_KIND_ORDER = {
    "deploy": 0,
    "config": 1,
    "job": 2,
    "scale": 3,
    "commit": 4,
    "rollback": 5,
    "event": 6,
}
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


def _text(value: object) -> str:
    return "" if value is None or value != value else str(value)


def _row(
    time: object, kind: str, label: str, detail: str, *, service: str = ""
) -> dict[str, object]:
    """A ``kubernetes`` timeline row; ``service``: the workload it concerns ("" unknown)."""
    return {
        "time": time,
        "kind": kind,
        "source": "kubernetes",
        "label": label,
        "detail": detail,
        "service": service,
    }


def _rollout_rows(rollouts: pd.DataFrame) -> list[dict[str, object]]:
    """One row per revision; the private ``_version`` and ``_rollout`` keys (dropped later)
    serve deduplication."""
    causes = {
        (d, int(r)): (_text(c), image_tag(i))
        for d, r, c, i in zip(
            rollouts["deployment"],
            rollouts["revision"],
            rollouts["change_cause"],
            rollouts["images"],
            strict=True,
        )
    }
    rows: list[dict[str, object]] = []
    markers = deploy_markers(rollouts)
    for time, kind, label, deployment, revision in zip(
        markers["time"],
        markers["kind"],
        markers["label"],
        markers["deployment"],
        markers["revision"],
        strict=True,
    ):
        cause, version = causes.get((deployment, int(revision)), ("", ""))
        row = _row(
            time, kind, f"{label} ({deployment} rev {int(revision)})", cause, service=deployment
        )
        rows.append(row | {"_version": version, "_rollout": (deployment, int(revision))})
    return rows


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


def _commit_rows(commits: pd.DataFrame) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for time, sha, short_sha, author, subject_value, files_changed in zip(
        commits["time"],
        commits["sha"],
        commits["short_sha"],
        commits["author"],
        commits["subject"],
        commits["files_changed"],
        strict=True,
    ):
        subject = _text(subject_value)
        short = subject if len(subject) <= 60 else subject[:59] + "…"
        files = int(files_changed)
        rows.append(
            {
                "time": time,
                "kind": "commit",
                "source": "git",
                "label": f"commit {short_sha} {short} ({_text(author)})",
                "detail": f"{sha}: {files} file{'s' if files != 1 else ''} changed",
            }
        )
    return rows


# Datadog events: deploys reported by CI/CD, feature flags, campaigns, notes

#: Datadog ``source_type`` names (lower case, ``_`` for spaces) of deploy tools
_DEPLOY_SOURCES = frozenset(
    {"deployment", "deployments", "jenkins", "argocd", "argo_cd", "spinnaker", "harness",
     "octopus_deploy", "flux", "fluxcd", "circleci", "azure_devops"}
)  # fmt: skip
#: source control also reports pushes and pull requests: a deploy only by its title or tags
_SCM_SOURCES = frozenset({"github", "gitlab", "bitbucket"})
#: ``source_type`` names of feature-flag and configuration services
_CONFIG_SOURCES = frozenset(
    {"launchdarkly", "split", "optimizely", "flagsmith", "configcat", "unleash", "statsig",
     "growthbook", "consul", "aws_appconfig"}
)  # fmt: skip
#: a tag (key or value) saying the event is a deployment: ``deploy``, ``event_type:deployment``
_DEPLOY_TAGS = frozenset({"deploy", "deploys", "deployment", "deployments"})
_CONFIG_TAGS = frozenset({"feature_flag", "feature-flag", "flag", "config_change"})
_DEPLOY_TITLE = re.compile(r"\b(?:deploy(?:s|ed|ing|ment)?|rolled out|rolling out)\b", re.I)
_ROLLBACK_TITLE = re.compile(r"\b(?:roll(?:ed|ing)?[ -]?back|rollback|revert(?:ed|ing)?)\b", re.I)
_CONFIG_TITLE = re.compile(
    r"\bfeature[ _-]?flag|\bflag\b.*\bturned (?:on|off)\b|\bconfig(?:uration)? (?:change|update)",
    re.I,
)
#: a Datadog deploy event this close to a rollout of the same version is that rollout
_SAME_DEPLOY_S = 5 * 60
_LABEL_CHARS = 80
_DETAIL_CHARS = 200


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _datadog_kind(title: str, tags: list[str], source_type: str) -> str:
    """``deploy``, ``rollback``, ``config`` or ``event`` for one Datadog event."""
    source = re.sub(r"[\s-]+", "_", source_type.strip().lower())
    words = {part.lower() for tag in tags for part in tag.split(":", 1)}
    if source in _CONFIG_SOURCES:
        return "config"
    rollback = bool(_ROLLBACK_TITLE.search(title))
    if (
        source in _DEPLOY_SOURCES
        or words & _DEPLOY_TAGS
        or _DEPLOY_TITLE.search(title)
        or (rollback and source not in _SCM_SOURCES)  # a GitHub 'Revert "..."' is a commit
    ):
        return "rollback" if rollback else "deploy"
    if words & _CONFIG_TAGS or _CONFIG_TITLE.search(title):
        return "config"
    return "event"


#: tags naming the service an event concerns, most specific first
_SERVICE_TAGS = ("service", "kube_deployment", "kube_service")


def _tagged_service(tags: list[str]) -> str:
    """The service a Datadog event's tags name (``service:checkout``), "" when none does.

    ``service`` first, then ``kube_deployment`` and ``kube_service``; several
    values of the first of these keys present are kept, comma-separated.
    """
    for key in _SERVICE_TAGS:
        values = [
            value.strip()
            for name, sep, value in (tag.partition(":") for tag in tags)
            if sep and name.strip().lower() == key and value.strip()
        ]
        if values:
            return ",".join(dict.fromkeys(values))
    return ""


def _datadog_rows(events: pd.DataFrame) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    ordered = events.sort_values("time", kind="stable")
    for time, title_value, text_value, source_value, tags_value in zip(
        ordered["time"],
        ordered["title"],
        ordered["text"],
        ordered["source_type"],
        ordered["tags"],
        strict=True,
    ):
        title, text = _text(title_value).strip(), _text(text_value)
        source = _text(source_value).strip()
        tags = [t.strip() for t in _text(tags_value).split(",") if t.strip()]
        first = text.strip().splitlines()[0].strip() if text.strip() else ",".join(tags)
        rows.append(
            {
                "time": time,
                "kind": _datadog_kind(title, tags, source),
                "source": "datadog",
                "label": _cut(title or first, _LABEL_CHARS),
                "detail": _cut(f"{source}: {first}" if source else first, _DETAIL_CHARS),
                "service": _tagged_service(tags),
                "_match": f"{title},{','.join(tags)}",
            }
        )
    return rows


def _mentions(text: str, version: str) -> bool:
    """Whether ``version`` appears in ``text`` as a whole token (``v2.34`` not in ``v2.341``)."""
    return bool(version and re.search(rf"(?<![\w.-]){re.escape(version)}(?![\w-]|\.\w)", text))


def _same_rollout(
    row: dict[str, object], rollouts: list[dict[str, object]]
) -> dict[str, object] | None:
    """The rollout a Datadog deploy or rollback event reports, if it is listed."""
    if row["kind"] not in ("deploy", "rollback"):
        return None
    moment = cast("pd.Timestamp", row["time"])
    for rollout in rollouts:
        gap = abs((cast("pd.Timestamp", rollout["time"]) - moment).total_seconds())
        version = str(rollout.get("_version") or "")
        if gap <= _SAME_DEPLOY_S and _mentions(str(row["_match"]), version):
            return rollout
    return None


def _without_duplicates(
    rollouts: list[dict[str, object]], datadog: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Datadog rows less the deploys that are a listed rollout; those rollouts note the event."""
    kept = []
    for row in datadog:
        same = _same_rollout(row, rollouts)
        if same is None:
            kept.append(row)
            continue
        note = f"Datadog event: {row['label']}"
        same["detail"] = _cut(
            f"{same['detail']}; {note}" if same["detail"] else note, _DETAIL_CHARS
        )
    return kept


def _release_rows(
    releases: pd.DataFrame, rollouts: pd.DataFrame | None, rows: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Release rows (Helm, Argo CD, Flux) less those that caused a listed rollout.

    Such a release is noted in its rollout's detail instead (one change, one row).
    """
    from .releases import release_causes, release_changes

    if rollouts is not None and not rollouts.empty:
        for deployment, revision, cause in release_causes(releases, rollouts).itertuples(
            index=False
        ):
            for row in rows:
                if row.get("_rollout") == (deployment, int(revision)):
                    detail = str(row["detail"])
                    row["detail"] = _cut(f"{detail}; {cause}" if detail else cause, _DETAIL_CHARS)
    return cast("list[dict[str, object]]", release_changes(releases, rollouts).to_dict("records"))


def _timeline_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame([{"service": ""} | row for row in rows], columns=TIMELINE_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]")
    return frame.astype({c: "str" for c in TIMELINE_COLUMNS[1:]})


def changes_timeline(
    *,
    rollouts: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    commits: pd.DataFrame | None = None,
    datadog_events: pd.DataFrame | None = None,
    within: Window | None = None,
    config: pd.DataFrame | None = None,
    jobs: pd.DataFrame | None = None,
    releases: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One frame of every change: deploys, rollbacks, config changes, scaling, commits, events.

    Parameters
    ----------
    rollouts
        A ``rollouts`` contract frame: one ``deploy`` or ``rollback`` row per
        revision (see :func:`deploy_markers`), labelled ``"deploy v2.34 (api rev
        42)"``, with the change cause as detail.
    events
        A ``k8s_events`` contract frame. Kept:

        * ``config``: a Normal event saying a ConfigMap or Secret was updated,
          configured, created, patched, reloaded or rotated (Flux, Argo CD,
          Reloader and similar controllers emit these; Kubernetes itself does
          not). For a Secret, or any event mentioning one, only the name is
          shown: never the message, which might carry a value.
        * ``scale``: an HPA ``SuccessfulRescale`` (labelled ``"HPA checkout
          scaled up to 5"``), and a Deployment ``ScalingReplicaSet`` only when
          nothing else explains it: not within 15 min after a rollout of that
          Deployment went live, not alongside the scaling of another replica set
          of that Deployment within 5 min (a rollout's steps), not within 60 s
          after an HPA rescale (the HPA's own doing).
    commits
        A frame from :func:`incident_lib.sources.git.commits`.
    datadog_events
        A ``datadog_events`` contract frame (:meth:`DatadogSource.events
        <incident_lib.sources.datadog.DatadogSource.events>`), one row per event
        with source ``datadog``, labelled with the title (cut to 80 characters),
        detailed with ``"<source_type>: <first line of the text>"`` (at most 200
        characters; the evidence store redacted it at capture). The kind:

        * ``deploy``: a deploy tool's event (``source_type`` ``deployment``,
          ``jenkins``, ``argocd``, ``spinnaker``, ...), a tag ``deploy`` /
          ``deployment`` (as key or value: ``event_type:deployment``), or a
          title saying deployed / deploying / rolled out. GitHub and GitLab also
          report pushes and pull requests, so theirs count only by title or tag.
          ``rollback`` instead when the title says rolled back / rollback / revert.
        * ``config``: a feature-flag or configuration service's event
          (``launchdarkly``, ``split``, ``optimizely``, ...), a tag
          ``feature_flag`` / ``flag``, or a title like ``"Feature flag ...
          turned on"`` / ``"configuration change"``.
        * ``event``: anything else, e.g. a marketing campaign or a manual note.

        A Datadog ``deploy`` or ``rollback`` within 5 min of a Kubernetes rollout
        whose version (``v2.34``) appears in the event's title or tags is that
        rollout: it is dropped, and the rollout's detail names it, so one change
        is never counted twice.
    within
        Keep only changes inside this window (half-open).
    config
        A ``k8s_config`` contract frame: each field manager's last operation on a
        ConfigMap or Secret the service uses is a ``config`` row (weighted like a
        deploy by :func:`rank_changes`), labelled ``"ConfigMap api-config changed
        by kubectl-edit"`` (``created by`` for the operation that created it),
        detailed with the operation, the workloads using it and the
        resourceVersion (never a value). A config event (see ``events``) about
        the same object within 5 min of such a change is that change: it is
        dropped and the change's detail quotes it. A manager that owns only
        metadata (``"Update (metadata only)"``: a label or an annotation stamped)
        changed no data and is not listed.
    jobs
        A ``k8s_jobs`` contract frame: one ``job`` row per Job or CronJob run
        (weighted like a deploy; see :func:`incident_lib.analysis.jobs.job_changes`).
    releases
        A ``releases`` contract frame: Helm revisions, Argo CD syncs and Flux
        applies as ``deploy`` or ``rollback`` rows with source ``helm``,
        ``argocd`` or ``flux`` (see
        :func:`incident_lib.analysis.releases.release_changes`). A release that a
        rollout of the same service carried out is that rollout: it is not
        listed, and the rollout's detail names it.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIMELINE_COLUMNS`: ``time`` (UTC), ``kind`` (``deploy``,
        ``rollback``, ``config``, ``job``, ``scale``, ``commit``, ``event``), ``source``
        (``kubernetes``, ``git``, ``datadog``, ``helm``, ``argocd``, ``flux``),
        ``label`` (short text for people and chart markers), ``detail`` and
        ``service`` (the workload or service the change concerns, as the
        evidence names it; "" when the evidence does not say):

        * a rollout: its Deployment;
        * a Kubernetes event: the involved workload (a Pod or ReplicaSet is
          mapped to its Deployment through the rollouts' ReplicaSet names, else
          by its name less the template hash and pod suffix; an HPA is its own
          name); a config event names the workloads using the ConfigMap or
          Secret when ``config`` lists it, and "" when its object is not a
          workload (a Flux Kustomization, a Node);
        * a ConfigMap or Secret change: the workloads in ``used_by``
          (comma-separated names);
        * a Datadog event: its tag ``service:<x>``, else ``kube_deployment:<x>``,
          else ``kube_service:<x>``;
        * a commit: "" (the repository is the service's own).

        Sorted by time. Empty inputs give an empty frame with these columns.
    """
    import pandas as pd

    rows: list[dict[str, object]] = []
    if rollouts is not None and not rollouts.empty:
        rows += _rollout_rows(rollouts)
    if datadog_events is not None and not datadog_events.empty:
        rows += _without_duplicates(rows, _datadog_rows(datadog_events))
    objects = _config_object_rows(config) if config is not None and not config.empty else []
    rows += objects
    if events is not None and not events.empty:
        rows += _config_once(objects, _event_rows(events, rollouts, config))
    if commits is not None and not commits.empty:
        rows += _commit_rows(commits)
    if releases is not None and not releases.empty:
        rows += _release_rows(releases, rollouts, rows)
    if jobs is not None and not jobs.empty:
        from .jobs import job_changes

        rows += cast("list[dict[str, object]]", job_changes(jobs).to_dict("records"))
    frame = _timeline_frame(rows)
    if within is not None:
        frame = frame[
            (frame["time"] >= pd.Timestamp(within.start))
            & (frame["time"] < pd.Timestamp(within.end))
        ]
    order = frame["kind"].map(_KIND_ORDER)
    frame = frame.assign(_order=order).sort_values(["time", "_order", "label"], kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


#: the captured evidence a change timeline is built from: ``source/name`` -> keyword of
#: :func:`changes_timeline`
CHANGE_EVIDENCE: dict[str, str] = {
    "kubernetes/rollouts": "rollouts",
    "kubernetes/events": "events",
    "kubernetes/config": "config",
    "kubernetes/jobs": "jobs",
    "kubernetes/releases": "releases",
    "git/commits": "commits",
    "datadog/events": "datadog_events",
}


def changes_from_evidence(
    frames: Mapping[str, pd.DataFrame | None], *, within: Window | None = None
) -> pd.DataFrame:
    """:func:`changes_timeline` of the frames in ``frames`` (keyed ``source/name``).

    The keys are those of :data:`CHANGE_EVIDENCE`; a frame absent or None is
    left out (never taken for "no change"), other keys are ignored.
    """
    given = {kw: frames.get(key) for key, kw in CHANGE_EVIDENCE.items()}
    return changes_timeline(
        rollouts=given["rollouts"],
        events=given["events"],
        config=given["config"],
        jobs=given["jobs"],
        releases=given["releases"],
        commits=given["commits"],
        datadog_events=given["datadog_events"],
        within=within,
    )


# --- ranking changes against the onset --------------------------------------------------

#: weight of each kind of change as a possible cause (see :func:`rank_changes`)
KIND_WEIGHTS: dict[str, float] = {
    "deploy": 1.0,
    "config": 1.0,
    "job": 1.0,
    "scale": 0.5,
    "commit": 0.5,
    "rollback": 0.0,
    "event": 0.5,
}


#: a dependency's change weighs this share of the same change of this service
DEPENDENCY_FACTOR = 0.7
#: an unrelated service's change weighs this share: at most 0.45, never a likely trigger
OTHER_FACTOR = 0.45
#: what each relation multiplies a change's weight by (``unknown`` counts as this service's)
RELATION_FACTORS: dict[str, float] = {
    "this": 1.0,
    "unknown": 1.0,
    "dependency": DEPENDENCY_FACTOR,
    "other": OTHER_FACTOR,
}


def _weight(kind: str, label: str) -> float:
    if kind == "scale" and label.startswith("HPA ") and " scaled up" in label:
        return 0.0  # the autoscaler reacting to load, not a cause of it
    return KIND_WEIGHTS.get(kind, 0.5)


def _duration(value: str | pd.Timedelta, name: str, *, zero_ok: bool = False) -> pd.Timedelta:
    import pandas as pd

    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: {value!r} is not a duration; write it like '2h'") from None
    if pd.isna(delta) or delta < pd.Timedelta(0) or (delta == pd.Timedelta(0) and not zero_ok):
        raise InvalidInput(f"{name} must be a positive duration, got {value!r}")
    return delta


def _utc_timestamp(value: pd.Timestamp | datetime, name: str) -> pd.Timestamp:
    import pandas as pd

    moment = pd.Timestamp(value)
    if moment.tzinfo is None:
        raise InvalidInput(f"{name}: {value!s} has no timezone; give it in UTC")
    return moment.tz_convert("UTC")


def rank_changes(
    timeline: pd.DataFrame,
    onset: pd.Timestamp | datetime | None,
    *,
    lookback: str | pd.Timedelta = "2h",
    grace: str | pd.Timedelta = "2min",
    half_life: str | pd.Timedelta = "30min",
    relations: Relations | None = None,
) -> pd.DataFrame:
    """Rank changes by how closely they precede the error onset.

    Scoring: ``score = weight(kind) * factor(relation) * 0.5 ** (|lead| /
    half_life)`` for a candidate, 0 otherwise, where ``lead = onset - time``.

    * A change is a *candidate* cause when it happened at most ``lookback``
      before the onset and at most ``grace`` after it (onset detection can be a
      sample or two late), and its weight is above 0.
    * Weights (:data:`KIND_WEIGHTS`): deploy and config 1.0; scale and commit
      0.5 (a scale is rarely the cause; a commit only matters once deployed,
      and its deploy is usually listed too); event 0.5 (a Datadog event that
      changes nothing itself, but may drive traffic or load: a marketing
      campaign can be the trigger of an incident without a deploy); rollback 0
      (a remedy). An HPA scaling *up* weighs 0: it reacts to load rather than
      causing it.
    * With the default half-life of 30 min a deploy 5 min before the onset
      scores 0.89, 30 min before 0.5, 90 min before 0.125; a commit 90 min
      before scores 0.06; an event 3 min before 0.47.
    * With no onset (``None`` or NaT) nothing is a candidate: every score is 0,
      so a quiet incident never blames a change.
    * ``relations`` (:func:`~incident_lib.analysis.related.service_relations`)
      says whose change each is, from the timeline's ``service``
      (:data:`RELATION_FACTORS`): this service's, or unknown (the evidence does
      not say), counts in full; a dependency's at :data:`DEPENDENCY_FACTOR`
      (0.7: a dependency's deploy 5 min before the onset scores 0.62, below
      this service's 0.89); an unrelated service's at :data:`OTHER_FACTOR`
      (0.45), so it never reaches 0.5 and is never the likely trigger, at most
      a possible one. Without ``relations`` every change counts in full.

    Non-candidates stay in the frame as context.

    Parameters
    ----------
    timeline
        A frame from :func:`changes_timeline`.
    onset
        When the error rate departed from its baseline (aware), or ``None``.
    lookback, grace, half_life
        Durations as described above.

    Returns
    -------
    pandas.DataFrame
        The timeline's columns plus ``lead`` (timedelta, NaT without onset),
        ``score`` in [0, 1], ``candidate`` (bool) and, with ``relations``,
        ``relation`` (``this``, ``dependency``, ``other``, ``unknown``); sorted by
        score (highest first), then time, kind and label.
    """
    import numpy as np
    import pandas as pd

    windows = {
        "lookback": _duration(lookback, "lookback"),
        "grace": _duration(grace, "grace", zero_ok=True),
        "half_life": _duration(half_life, "half_life"),
    }
    ranked = timeline.reset_index(drop=True).copy()
    services = ranked.get("service", pd.Series("", index=ranked.index))
    ranked["relation"] = [
        "unknown" if relations is None else relations.relation(_text(n)) for n in services
    ]
    if onset is None or pd.isna(onset):
        ranked["lead"] = pd.Series(pd.NaT, index=ranked.index, dtype="timedelta64[ns]")
        ranked["candidate"] = False
        ranked["score"] = 0.0
    else:
        moment = _utc_timestamp(onset, "onset")
        lead = (moment - ranked["time"]).astype("timedelta64[ns]")
        weight = np.array(
            [
                _weight(k, str(lb)) * RELATION_FACTORS[r]
                for k, lb, r in zip(
                    ranked["kind"], ranked["label"], ranked["relation"], strict=True
                )
            ],
            dtype="float64",
        )
        near = (lead <= windows["lookback"]) & (lead >= -windows["grace"])
        ranked["lead"] = lead
        ranked["candidate"] = (near & (weight > 0)).astype(bool)
        decay = 0.5 ** (lead.abs() / windows["half_life"]).to_numpy(dtype="float64")
        ranked["score"] = np.where(ranked["candidate"], weight * decay, 0.0)
    ranked["_order"] = ranked["kind"].map(_KIND_ORDER).fillna(len(_KIND_ORDER))
    ranked = ranked.sort_values(
        ["score", "time", "_order", "label"], ascending=[False, True, True, True], kind="stable"
    )
    columns = [*timeline.columns, "lead", "score", "candidate"]
    columns += ["relation"] if relations is not None else []
    return ranked[columns].reset_index(drop=True)


#: what a finding suggests doing about a candidate of each kind
_NEXT_STEP = {
    "deploy": "compare a rollback against the evidence.",
    "commit": "compare a rollback against the evidence.",
    "config": "compare reverting the change against the evidence.",
    "scale": "check whether the new replica count can carry the load.",
    "event": "check whether it drove traffic or load (05_metrics) before the errors began.",
    "job": "check what the job did to shared resources (06_database) and whether it is still "
    "running.",
}


#: how a finding names whose change a candidate is (this service's and unknown: nothing)
_RELATION_WORDS = {"dependency": "a dependency", "other": "another service"}


def relation_label(label: str, service: str, relation: str) -> str:
    """A change's label saying whose change it is, for a dependency's or another service's.

    ``deploy v1.2 (checkout rev 3)`` -> ``deploy v1.2 (checkout rev 3; another service)``;
    ``Feature flag on`` -> ``Feature flag on of payments (a dependency)``; this
    service's or an unknown one's label is unchanged.
    """
    words = _RELATION_WORDS.get(relation)
    if not words or not service:
        return label
    if service in label and label.endswith(")"):
        return f"{label[:-1]}; {words})"
    return f"{label} of {service} ({words})"


def _relation_note(service: str, relation: str, relations: Relations | None) -> str:
    """A sentence on whose change it is, for a dependency's or another service's."""
    if relation == "dependency":
        dep = relations.dependency(service) if relations is not None else None
        why = f" ({dep.reason})" if dep is not None else ""
        return f" {service} is a dependency of this service{why}."
    if relation == "other":
        return (
            f" {service} is another service (not a known dependency): its change can "
            "explain this incident only through a dependency not yet known, so it is at "
            "most a possible trigger."
        )
    return ""


def change_findings(
    ranked: pd.DataFrame,
    onset: pd.Timestamp | None,
    *,
    metric: str = "error rate",
    ref: str = "",
    relations: Relations | None = None,
) -> list[Finding]:
    """Findings from :func:`rank_changes`: the likely trigger, or that none preceded the onset.

    A change scoring 0.5 or more (about 30 min or less before the onset for a
    deploy) is reported as the likely trigger (high), 0.2-0.5 as a possible one
    (medium): ``"Possible trigger: <label> N min before the error rate onset"``,
    whatever its kind (a deploy, a flag, a campaign), with the next step that
    fits the kind. Without a candidate, an info finding says so, so that a
    no-deploy incident sends the engineer to traffic, dependencies and
    resources instead.

    A likely or possible trigger has the role ``trigger`` and the fact
    :func:`~incident_lib.core.findings.change_fact` of its label (a rollout's
    ``change:<deployment> rev <revision>``, as 02_assess names it); a finding
    that no change lines up is ``context``.

    When ``ranked`` has a ``relation`` column (always, from :func:`rank_changes`),
    a dependency's or another service's change says so in the title
    (``"Possible trigger: deploy v1.2 (payments rev 3; another service) ..."``)
    and the summary says why it is a dependency (from ``relations``) or that
    an unrelated service's change is at most a possible trigger.
    """
    import pandas as pd

    if onset is None or pd.isna(onset):
        return [
            Finding(
                title=f"No sustained {metric} departure found",
                severity="info",
                summary="Without an onset no change can be lined up with the incident; "
                "check the window and the metrics in 05_metrics.",
                ref=ref,
                fact="no-trigger",
                role="context",
            )
        ]
    out: list[Finding] = []
    top = ranked[ranked["candidate"] & (ranked["score"] >= 0.2)].head(3)
    blank = pd.Series("", index=top.index)
    for time, kind, label, detail, lead, score, service, relation in zip(
        top["time"],
        top["kind"],
        top["label"],
        top["detail"],
        top["lead"],
        top["score"],
        top.get("service", blank),
        top.get("relation", blank),
        strict=True,
    ):
        whose = relation_label(str(label), _text(service), _text(relation))
        minutes = lead / pd.Timedelta(minutes=1)
        when = f"{minutes:.0f} min before" if minutes >= 1 else "at"
        strong = score >= 0.5
        out.append(
            Finding(
                title=f"{'Likely' if strong else 'Possible'} trigger: {whose} "
                f"{when} the {metric} onset",
                severity="high" if strong else "medium",
                summary=f"{label} at {time:%H:%M} UTC ({detail}); the {metric} left "
                f"its baseline at {onset:%H:%M} UTC."
                f"{_relation_note(_text(service), _text(relation), relations)} "
                f"Score {score:.2f}: {_NEXT_STEP.get(kind, _NEXT_STEP['deploy'])}",
                ref=ref,
                fact=change_fact(str(label)),
                role="trigger",
            )
        )
    if not out:
        out.append(
            Finding(
                title=f"No change preceded the {metric} onset",
                severity="info",
                summary=f"Nothing was rolled out, reconfigured or committed in the 2 h before "
                f"{onset:%H:%M} UTC: look at traffic, dependencies and resources.",
                ref=ref,
                fact="no-trigger",
                role="context",
            )
        )
    return out
