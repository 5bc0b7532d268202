"""Rollouts: image tags, deploy and rollback markers, recent rollouts and their timeline rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._rows import _row, _text

if TYPE_CHECKING:
    import pandas as pd

    from ...core.time import Window
    from ..related import Relations

__all__ = ["deploy_markers", "image_tag", "recent_rollouts"]


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
