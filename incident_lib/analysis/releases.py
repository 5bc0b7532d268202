"""Releases as changes: Helm revisions, Argo CD syncs and Flux applies on the change timeline.

:func:`release_changes` turns a ``releases`` frame into timeline rows (columns
:data:`~incident_lib.analysis.changes.TIMELINE_COLUMNS`): kind ``deploy``, or
``rollback`` when the tool says so (Helm ``pending-rollback``) or when a revision
(for Helm, a chart version) that was deployed before, and is not the one just
before, is deployed again; source ``helm``, ``argocd`` or ``flux``; labelled
``"Helm release api revision 12 deployed"``, ``"Argo CD synced api to 3f2a9c1"``,
``"Flux applied Kustomization apps main@3f2a9c1"``; ``service`` the release,
Application or Flux object name.

One fact once: a release that a rollout of the same service follows (the rollout
going live from 2 min before to 5 min after the release's time: Argo CD records
a sync when it ends, Helm when it begins) is that rollout's cause, not a second
change. Given ``rollouts``, :func:`release_changes` leaves such a release out and
:func:`release_causes` gives, per rollout, the text to add to its detail. The
same service: the Deployment is named like the release (equal, or one is the
other plus ``-suffix``, as Helm's ``<release>-<chart>``), or the rollouts hold
a single Deployment (both frames are the service's).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .changes import TIMELINE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CAUSE_COLUMNS", "release_causes", "release_changes"]

#: columns of :func:`release_causes`
CAUSE_COLUMNS: list[str] = ["deployment", "revision", "cause"]
#: a rollout going live this long after a release's time is carried out by it
_FOLLOW_S = 5 * 60
#: ... or this long before (a sync is recorded when it ends)
_LEAD_S = 2 * 60
_SHA = re.compile(r"^(?:(?P<ref>.+?)@)?(?:sha1:)?(?P<sha>[0-9a-f]{40})$")
_DONE = {"deployed", "superseded", "synced", "applied"}


def _short(revision: str) -> str:
    """``main@sha1:3f2a9c1...`` -> ``main@3f2a9c1``; a bare SHA -> its first 7 digits."""
    match = _SHA.match(revision)
    if match is None:
        return revision
    ref = match["ref"]
    return f"{ref}@{match['sha'][:7]}" if ref else match["sha"][:7]


def _object(name: str) -> tuple[str, str]:
    """``("Kustomization", "apps")`` from ``Kustomization/apps``; ``("", name)`` otherwise."""
    kind, _, rest = name.partition("/")
    return (kind, rest) if rest else ("", name)


def _content(tool: str, name: str, revision: str, version: str) -> str:
    """What a revision deploys: the chart version for Helm releases, else the revision."""
    if tool == "helm" or _object(name)[0] == "HelmRelease":
        return version
    return revision


def _kinds(releases: pd.DataFrame) -> dict[int, str]:
    """Row label -> ``deploy`` or ``rollback``, per tool and name in time order."""
    kinds: dict[int, str] = {}
    ordered = releases.sort_values("deployed_at", kind="stable")
    for _, group in ordered.groupby(["tool", "name"], sort=False):
        seen: set[str] = set()
        previous = ""
        for index, row in group.iterrows():
            content = _content(row["tool"], row["name"], row["revision"], row["version"])
            back = "rollback" in row["status"] or (
                bool(content) and content in seen and content != previous
            )
            kinds[int(index)] = "rollback" if back else "deploy"  # type: ignore[call-overload]
            if content and row["status"] in _DONE:
                seen.add(content)
                previous = content
    return kinds


def _label(tool: str, name: str, revision: str, version: str, status: str, kind: str) -> str:
    short = _short(revision)
    if tool == "helm":
        if kind == "rollback":
            return f"Helm release {name} rolled back (revision {revision})"
        word = "deployed" if status in _DONE else status.replace("-", " ")
        return f"Helm release {name} revision {revision} {word}"
    if tool == "argocd":
        if status == "failed":
            return f"Argo CD sync of {name} to {short} failed"
        if status not in _DONE:
            return f"Argo CD sync of {name} to {short} {status}"
        if kind == "rollback":
            return f"Argo CD rolled {name} back to {short}"
        return f"Argo CD synced {name} to {short}"
    what, obj = _object(name)
    thing = f"{what} {obj}".strip()
    if what == "HelmRelease":
        short = version or short
    if status == "failed":
        return f"Flux {thing} failed at {short}".strip()
    if kind == "rollback":
        return f"Flux rolled {thing} back to {short}"
    verb = "upgraded" if what == "HelmRelease" else "applied"
    return f"Flux {verb} {thing} {'to ' if what == 'HelmRelease' else ''}{short}".strip()


def _same_service(release: str, deployment: str, deployments: set[str]) -> bool:
    if len(deployments) == 1:
        return True
    return (
        release == deployment
        or deployment.startswith(f"{release}-")
        or release.startswith(f"{deployment}-")
    )


def _rows(releases: pd.DataFrame) -> list[dict[str, object]]:
    import pandas as pd

    kinds = _kinds(releases)
    rows = []
    for index, row in releases.iterrows():
        if pd.isna(row["deployed_at"]):
            continue
        kind = kinds[int(index)]  # type: ignore[call-overload]
        tool, name = str(row["tool"]), str(row["name"])
        parts = [
            f"status {row['status']}" if row["status"] else "",
            f"version {row['version']}" if row["version"] else "",
            f"target {row['target']}" if row["target"] else "",
            str(row["detail"]),
        ]
        rows.append(
            {
                "time": row["deployed_at"],
                "kind": kind,
                "source": tool,
                "label": _label(tool, name, row["revision"], row["version"], row["status"], kind),
                "detail": "; ".join(p for p in parts if p),
                "service": _object(name)[1],
            }
        )
    return rows


def _match(
    rows: list[dict[str, object]], rollouts: pd.DataFrame | None
) -> list[tuple[dict[str, object], tuple[str, int] | None]]:
    """Each row with the rollout ``(deployment, revision)`` it caused, if any."""
    import pandas as pd

    if rollouts is None or rollouts.empty:
        return [(row, None) for row in rows]
    deployments = set(rollouts["deployment"].astype(str))
    matched: list[tuple[dict[str, object], tuple[str, int] | None]] = []
    for row in rows:
        moment = pd.Timestamp(row["time"])  # type: ignore[arg-type]
        caused = None
        for deployment, revision, live in zip(
            rollouts["deployment"], rollouts["revision"], rollouts["deployed_at"], strict=True
        ):
            gap = (pd.Timestamp(live) - moment).total_seconds()
            if -_LEAD_S <= gap <= _FOLLOW_S and _same_service(
                str(row["service"]), str(deployment), deployments
            ):
                caused = (str(deployment), int(revision))
                break
        matched.append((row, caused))
    return matched


def release_changes(releases: pd.DataFrame, rollouts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The change-timeline rows of a ``releases`` frame (see the module notes).

    Parameters
    ----------
    releases
        A ``releases`` contract frame.
    rollouts
        A ``rollouts`` contract frame: a release that one of these rollouts
        follows is left out (it is the rollout's cause: :func:`release_causes`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~incident_lib.analysis.changes.TIMELINE_COLUMNS`, sorted by
        time; rows without a time are left out. Empty input gives an empty frame.
    """
    import pandas as pd

    rows = [row for row, caused in _match(_rows(releases), rollouts) if caused is None]
    frame = pd.DataFrame(rows, columns=TIMELINE_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]")
    frame = frame.astype({c: "str" for c in TIMELINE_COLUMNS[1:]})
    return frame.sort_values(["time", "label"], kind="stable").reset_index(drop=True)


def release_causes(releases: pd.DataFrame, rollouts: pd.DataFrame) -> pd.DataFrame:
    """The releases that caused rollouts: ``deployment``, ``revision``, ``cause``.

    ``cause`` is the release's label (``"Helm release api revision 12
    deployed"``), to add to that rollout's detail (several, joined with ``"; "``).
    """
    import pandas as pd

    causes: dict[tuple[str, int], list[str]] = {}
    for row, caused in _match(_rows(releases), rollouts):
        if caused is not None:
            causes.setdefault(caused, []).append(str(row["label"]))
    frame = pd.DataFrame(
        [(d, r, "; ".join(labels)) for (d, r), labels in causes.items()], columns=CAUSE_COLUMNS
    )
    return frame.astype({"deployment": "str", "revision": "int64", "cause": "str"})
