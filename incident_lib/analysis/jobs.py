"""Jobs and CronJob runs as changes: a batch job is a common trigger that no deploy explains.

:func:`job_changes` turns the ``k8s_jobs`` frame (:mod:`incident_lib.core.schema`)
into changes-timeline rows (kind ``job``, at the Job's start);
:func:`job_findings` says which Jobs failed or were still running during the
incident. Every Job of the namespace is there, not only the service's: a
reindex, a backfill or a vacuum on a shared database holds locks and saturates
it for every service.

Pure functions over contract frames: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.findings import Finding, change_fact
from ..core.text import md_code, md_text, shorten
from ..core.time import Window, format_duration
from .changes import TIMELINE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["job_changes", "job_findings", "job_label"]

_LABEL_CHARS = 80
_DETAIL_CHARS = 200
_TITLE_CHARS = 120
_PODS_LISTED = 2
_MESSAGE_CHARS = 80


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _present(value: Any) -> bool:
    import pandas as pd

    return value is not None and bool(pd.notna(value))


def job_label(job: str, cronjob: str) -> str:
    """The label of a Job run: ``"CronJob reindex run started (job reindex-29360)"``.

    Parameters
    ----------
    job
        The Job's name.
    cronjob
        The CronJob that started it, ``""`` when none did.

    Returns
    -------
    str
        The change's label (``"Job <job> started"`` without a CronJob), at most
        80 characters.
    """
    text = f"CronJob {cronjob} run started (job {job})" if cronjob else f"Job {job} started"
    return shorten(text, _LABEL_CHARS)


def _listed(names: str) -> str:
    items = [n for n in names.split(",") if n]
    more = len(items) - _PODS_LISTED
    return ", ".join(items[:_PODS_LISTED]) + (f", +{more} more" if more > 0 else "")


def _detail(row: Mapping[Any, Any]) -> str:
    """End, status (with its reason), exit codes and pods of one ``k8s_jobs`` row."""
    status = _text(row["status"]) or "unknown"
    started, finished = row["started_at"], row["finished_at"]
    parts = []
    if _present(finished):
        took = format_duration(finished - started) if _present(started) else ""
        parts.append(f"ended {finished:%H:%M:%S} UTC" + (f" after {took}" if took else ""))
    elif status == "running":
        parts.append("still running when captured")
    reason, message = _text(row["reason"]), _text(row["message"])
    why = ": ".join(p for p in (reason, shorten(message, _MESSAGE_CHARS) if message else "") if p)
    parts.append(status + (f" ({why})" if why else ""))
    codes = _text(row["exit_codes"])
    if codes:
        parts.append(f"exit code{'s' if ',' in codes else ''} {codes}")
    pods = _text(row["pods"])
    if pods:
        parts.append(f"pods {_listed(pods)}")
    return shorten("; ".join(parts), _DETAIL_CHARS)


def job_changes(jobs: pd.DataFrame) -> pd.DataFrame:
    """One changes-timeline row per Job run: kind ``job``, at its start.

    Parameters
    ----------
    jobs
        A ``k8s_jobs`` frame.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~incident_lib.analysis.changes.TIMELINE_COLUMNS`: ``time``
        (the start, UTC), ``kind`` ``"job"``, ``source`` ``"kubernetes"``,
        ``label`` (:func:`job_label`), ``detail`` (end, status and reason, exit
        codes, pods) and ``service`` (the CronJob, else the Job); sorted by time.
        Rows without a start are left out. An empty frame gives an empty frame.
    """
    import pandas as pd

    rows = []
    for row in jobs.to_dict("records"):
        if not _present(row["started_at"]):
            continue
        job, cronjob = _text(row["job"]), _text(row["cronjob"])
        rows.append(
            {
                "time": row["started_at"],
                "kind": "job",
                "source": "kubernetes",
                "label": job_label(job, cronjob),
                "detail": _detail(row),
                "service": cronjob or job,
            }
        )
    frame = pd.DataFrame(rows, columns=TIMELINE_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]")
    frame = frame.astype({c: "str" for c in TIMELINE_COLUMNS[1:]})
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def job_findings(jobs: pd.DataFrame, window: Window) -> list[Finding]:
    """Findings for the Jobs that failed, or were running, during the incident ``window``.

    A Job running at some moment of the window (started before its end, not
    finished before its start) competed with the service for what they share:
    ``medium`` when it failed, else ``low``. A Job that failed before the window
    (in the ``k8s_jobs`` lookback) is ``low``. Each finding's fact is the
    change's (:func:`~incident_lib.core.findings.change_fact` of its label), so
    it joins the changes timeline's entry of that run; its role is ``context``
    (whether it is the trigger is the changes ranking's call).

    Parameters
    ----------
    jobs
        A ``k8s_jobs`` frame.
    window
        The incident window.

    Returns
    -------
    list of Finding
        Most severe first, then failed runs, then by start.
    """
    import pandas as pd

    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    found: list[tuple[pd.Timestamp, Finding]] = []
    for row in jobs.to_dict("records"):
        began, finished = row["started_at"], row["finished_at"]
        if not _present(began) or began >= end:
            continue
        failed = row["status"] == "failed"
        during = not _present(finished) or finished >= start
        if not (failed or during):
            continue
        job, cronjob = _text(row["job"]), _text(row["cronjob"])
        label = job_label(job, cronjob)
        what = f"CronJob {cronjob} run {job}" if cronjob else f"Job {job}"
        verb = "failed" if failed else "ran"
        when = "during the incident" if during else "before the incident"
        codes = _text(row["exit_codes"])
        title = f"{what} {verb} {when}" + (f" (exit code {codes})" if failed and codes else "")
        quoted = f"CronJob {md_code(cronjob)} run {md_code(job)}" if cronjob else md_code(job)
        ran = (
            f"from {began:%H:%M} UTC, still running when captured"
            if not _present(finished)
            else f"from {began:%H:%M} to {finished:%H:%M} UTC"
        )
        summary = (
            f"{quoted} ran {ran}: {md_text(_detail(row))}. A batch job runs against what the "
            "service shares (database, cache, queue); check whether its load or locks "
            "match the incident."
        )
        found.append(
            (
                began,
                Finding(
                    title=shorten(title, _TITLE_CHARS),
                    severity="medium" if failed and during else "low",
                    summary=summary,
                    fact=change_fact(label),
                    role="context",
                ),
            )
        )
    found.sort(key=lambda item: (item[1].rank, item[1].title.find(" failed ") < 0, item[0]))
    return [finding for _, finding in found]
