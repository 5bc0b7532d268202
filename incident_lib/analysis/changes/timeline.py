"""One timeline of changes: :func:`changes_timeline` and :func:`changes_from_evidence`.

Merges the rows of rollouts, Kubernetes events and ConfigMap/Secret changes,
Datadog events, git commits, releases (Helm, Argo CD, Flux) and Jobs into one
frame of :data:`TIMELINE_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from ._rows import _DETAIL_CHARS, _KIND_ORDER, _cut, _text
from .datadog import _datadog_rows, _without_duplicates
from .kubernetes import _config_object_rows, _config_once, _event_rows
from .rollouts import _rollout_rows

if TYPE_CHECKING:
    import pandas as pd

    from ...core.time import Window

__all__ = ["CHANGE_EVIDENCE", "TIMELINE_COLUMNS", "changes_from_evidence", "changes_timeline"]


#: columns of :func:`changes_timeline`
TIMELINE_COLUMNS: list[str] = ["time", "kind", "source", "label", "detail", "service"]


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


def _release_rows(
    releases: pd.DataFrame, rollouts: pd.DataFrame | None, rows: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Release rows (Helm, Argo CD, Flux) less those that caused a listed rollout.

    Such a release is noted in its rollout's detail instead (one change, one row).
    """
    from ..releases import release_causes, release_changes

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
        from ..jobs import job_changes

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
