"""Changes from rollout history: deploy and rollback markers, recent rollouts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._types import Window

if TYPE_CHECKING:
    import pandas as pd

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
        previous_live = None
        for row in group.itertuples():
            reused = previous_live is not None and row.created_at < previous_live
            kinds.append("rollback" if row.images in seen or reused else "deploy")
            seen.add(row.images)
            previous_live = row.deployed_at
    ordered["kind"] = kinds
    return ordered


def deploy_markers(rollouts: pd.DataFrame, *, within: Window | None = None) -> pd.DataFrame:
    """One marker per rollout: ``time`` (deployed_at), ``label``, ``kind``, ``revision``.

    A revision that re-deploys images of an earlier revision is a ``rollback``;
    a Kubernetes rollback re-uses the old ReplicaSet, so its ``created_at`` is old
    and ``deployed_at`` is when it went live again.
    """
    import pandas as pd

    cols = ["time", "label", "kind", "deployment", "revision"]
    if rollouts.empty:
        return pd.DataFrame(columns=cols)
    marked = _with_kind(rollouts)
    marked = marked.assign(
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
