"""Rows of the ``k8s_jobs`` frame: the namespace's Jobs around an incident window.

Every Job of the namespace is a candidate, not only the service's: a batch job
on a shared database or cache is a common trigger that no deploy explains. A
Job is kept when it was running during the window or started up to
:data:`LOOKBACK` before it.

* ``started_at``: ``status.startTime``, else the creation time;
  ``finished_at``: ``status.completionTime``, else the time of the ``Failed``
  condition (a failed Job has no completion time), else empty (still running).
* ``status``: ``succeeded`` (condition ``Complete`` or ``SuccessCriteriaMet``),
  ``failed`` (``Failed`` or ``FailureTarget``), else ``running``; ``reason`` and
  ``message`` are those of that condition (``BackoffLimitExceeded``...).
* ``exit_codes`` and ``pods``: from the Job's pods (label
  ``batch.kubernetes.io/job-name``, or ``job-name`` on clusters before 1.27),
  every exit code of their containers' current and last termination.
* ``cronjob``: the Job's ``CronJob`` owner reference.

A CronJob's run whose Job is already gone (``ttlSecondsAfterFinished``, or the
CronJob's history limits) is recovered from the CronJob's ``lastScheduleTime``:
its Job is named as the controller names it (``<cronjob>-<minutes since the
epoch>``), its status is ``succeeded`` when ``lastSuccessfulTime`` follows it,
else ``unknown``, with reason ``JobDeleted``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.errors import SourceUnavailable

if TYPE_CHECKING:
    from ...core.time import Window

__all__ = [
    "JOB_NAME_LABELS",
    "LOOKBACK",
    "deleted_run_row",
    "exit_codes",
    "in_range",
    "job_row",
    "job_times",
    "jobs_rows",
]

#: a Job started this long before the window is still a candidate
LOOKBACK = timedelta(hours=2)
#: the labels the Job controller puts on its pods: current, then before Kubernetes 1.27
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")

_SUCCEEDED = ("Complete", "SuccessCriteriaMet")
_FAILED = ("Failed", "FailureTarget")


def _true_condition(job: Any, types: tuple[str, ...]) -> Any:
    """The first condition of ``job`` of one of ``types`` whose status is True, or None."""
    conditions = (job.status.conditions if job.status is not None else None) or []
    for kind in types:
        for cond in conditions:
            if cond.type == kind and cond.status == "True":
                return cond
    return None


def job_times(job: Any) -> tuple[datetime | None, datetime | None]:
    """``(started_at, finished_at)`` of a ``V1Job`` (see the module notes)."""
    status = job.status
    started = (status.start_time if status is not None else None) or job.metadata.creation_timestamp
    finished = status.completion_time if status is not None else None
    if finished is None:
        failed = _true_condition(job, _FAILED)
        finished = failed.last_transition_time if failed is not None else None
    return started, finished


def in_range(started: datetime | None, finished: datetime | None, window: Window) -> bool:
    """Whether a Job ran during ``window`` or started up to :data:`LOOKBACK` before it."""
    if started is None or started >= window.end:
        return False
    return finished is None or finished >= window.start or started >= window.start - LOOKBACK


def exit_codes(pods: Iterable[Any]) -> str:
    """The distinct exit codes of the pods' containers (current and last state), ascending."""
    codes: set[int] = set()
    for pod in pods:
        status = pod.status
        if status is None:
            continue
        for cs in [*(status.init_container_statuses or []), *(status.container_statuses or [])]:
            for state in (cs.state, cs.last_state):
                ended = state.terminated if state is not None else None
                if ended is not None and ended.exit_code is not None:
                    codes.add(int(ended.exit_code))
    return ",".join(str(c) for c in sorted(codes))


def _images(template: Any) -> str:
    spec = template.spec if template is not None else None
    return ",".join(str(c.image or "") for c in (spec.containers if spec else None) or [])


def _cronjob(job: Any) -> str:
    refs = job.metadata.owner_references or []
    return next((str(ref.name) for ref in refs if ref.kind == "CronJob"), "")


def job_row(job: Any, pods: Iterable[Any] | None) -> dict[str, Any]:
    """The ``k8s_jobs`` row of a ``V1Job``; ``pods`` its pods, None when they were not read.

    Pods not read leave ``exit_codes`` and ``pods`` empty (the source's notes say why).
    """
    started, finished = job_times(job)
    succeeded = _true_condition(job, _SUCCEEDED)
    failed = _true_condition(job, _FAILED)
    ending = failed or succeeded
    status = job.status
    owned = list(pods or [])
    return {
        "job": job.metadata.name,
        "cronjob": _cronjob(job),
        "started_at": started,
        "finished_at": finished,
        "status": "failed" if failed else "succeeded" if succeeded else "running",
        "succeeded": int((status.succeeded if status is not None else 0) or 0),
        "failed": int((status.failed if status is not None else 0) or 0),
        "exit_codes": exit_codes(owned),
        "reason": ending.reason if ending is not None else None,
        "message": (ending.message or "").strip() if ending is not None else None,
        "pods": ",".join(sorted(str(p.metadata.name) for p in owned)),
        "images": _images(job.spec.template if job.spec is not None else None),
    }


def deleted_run_row(cronjob: Any) -> dict[str, Any] | None:
    """The ``k8s_jobs`` row of a CronJob's last run (its Job may be gone), or None.

    See the module notes; None when the CronJob never ran.
    """
    status = cronjob.status
    scheduled = status.last_schedule_time if status is not None else None
    if scheduled is None:
        return None
    success = status.last_successful_time
    done = success is not None and success >= scheduled
    name = str(cronjob.metadata.name)
    spec = cronjob.spec.job_template.spec if cronjob.spec and cronjob.spec.job_template else None
    return {
        "job": f"{name}-{int(scheduled.timestamp() // 60)}",
        "cronjob": name,
        "started_at": scheduled,
        "finished_at": success if done else None,
        "status": "succeeded" if done else "unknown",
        "succeeded": 0,  # pod counts went with the Job
        "failed": 0,
        "exit_codes": "",
        "reason": "JobDeleted",
        "message": "the Job no longer exists (ttlSecondsAfterFinished or the CronJob's "
        "history limit); this run is known from the CronJob's status only",
        "pods": "",
        "images": _images(spec.template if spec is not None else None),
    }


def _job_of(pod: Any, jobs: dict[str, Any]) -> str | None:
    """The name of the listed Job owning ``pod`` (owner reference, else the job-name label)."""
    for ref in pod.metadata.owner_references or []:
        if ref.kind == "Job" and ref.name in jobs:
            return str(ref.name)
    labels = pod.metadata.labels or {}
    return next((labels[k] for k in JOB_NAME_LABELS if labels.get(k) in jobs), None)


def _job_pods(list_: Callable[..., list[Any]], core: Any, namespace: str) -> list[Any]:
    """The pods Jobs made: labelled ``batch.kubernetes.io/job-name``, else ``job-name``."""
    found: list[Any] = []
    for label in JOB_NAME_LABELS:
        found = list_("list", "pods", core.list_namespaced_pod, namespace, label_selector=label)
        if found:
            break
    return found


def jobs_rows(
    list_: Callable[..., list[Any]], batch: Any, core: Any, namespace: str, window: Window
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``k8s_jobs`` rows of ``namespace`` around ``window``, and notes.

    Jobs are listed once (every Job of the namespace), CronJobs once (for runs
    whose Job is gone) and, when a kept Job had pods, the Jobs' pods once by
    label (``batch.kubernetes.io/job-name``, again with ``job-name`` when a
    cluster before 1.27 labels none so).

    Parameters
    ----------
    list_
        The source's paged list call (``KubernetesSource._list``).
    batch, core
        A ``BatchV1Api`` and a ``CoreV1Api``.
    namespace
        The namespace.
    window
        The incident window.

    Returns
    -------
    tuple
        The rows and the notes (CronJobs or pods the API refused).

    Raises
    ------
    SourceUnavailable
        The Jobs cannot be listed.
    """
    listed = list_("list", "jobs.batch", batch.list_namespaced_job, namespace)
    kept = {str(j.metadata.name): j for j in listed if in_range(*job_times(j), window)}
    notes: list[str] = []
    try:
        cronjobs = list_("list", "cronjobs.batch", batch.list_namespaced_cron_job, namespace)
    except SourceUnavailable as exc:
        cronjobs = []
        notes.append(
            f"cronjobs.batch not readable ({exc.reason}); CronJob runs whose Job was "
            "already deleted are not listed"
        )
    pods: dict[str, list[Any]] | None = {name: [] for name in kept}
    ran = any(
        (j.status.active or 0) + (j.status.succeeded or 0) + (j.status.failed or 0)
        for j in kept.values()
        if j.status is not None
    )
    if ran:
        try:
            for pod in _job_pods(list_, core, namespace):
                name = _job_of(pod, kept)
                if name is not None and pods is not None:
                    pods[name].append(pod)
        except SourceUnavailable as exc:
            pods = None
            notes.append(
                f"pods not readable ({exc.reason}); the Jobs' exit codes and pods are unknown"
            )
    rows = [job_row(job, pods[name] if pods is not None else None) for name, job in kept.items()]
    names = {str(j.metadata.name) for j in listed}
    for cronjob in cronjobs:
        row = deleted_run_row(cronjob)
        if row is None or row["job"] in names:
            continue
        # an outcome unknown is no evidence it ran on: only its start places it
        if in_range(row["started_at"], row["finished_at"] or row["started_at"], window):
            rows.append(row)
    return rows, notes
