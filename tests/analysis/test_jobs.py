"""Jobs as changes: ``job_changes`` (timeline rows) and ``job_findings``."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from incident_lib.analysis.changes import TIMELINE_COLUMNS
from incident_lib.analysis.jobs import job_changes, job_findings, job_label
from incident_lib.core.findings import change_fact
from incident_lib.core.schema import conform, empty_frame
from incident_lib.core.time import Window

WINDOW = Window(datetime(2026, 11, 3, 14, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
REINDEX = "nightly-reindex-29895230"


def at(hh: int, mm: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(2026, 11, 3, hh, mm, tzinfo=UTC))


def _row(job: str, started, finished, status: str, **kw) -> dict[str, object]:
    return {
        "job": job,
        "cronjob": "",
        "started_at": started,
        "finished_at": finished,
        "status": status,
        "succeeded": 0,
        "failed": 0,
        "exit_codes": "",
        "reason": None,
        "message": None,
        "pods": "",
        "images": "",
    } | kw


def jobs() -> pd.DataFrame:
    rows = [
        _row(
            REINDEX, at(13, 50), at(14, 12), "failed", cronjob="nightly-reindex", failed=2,
            exit_codes="1,137", reason="BackoffLimitExceeded",
            message="Job has reached the specified backoff limit",
            pods=",".join(f"{REINDEX}-{x}" for x in ("a", "b", "c", "d", "e")),
        ),
        _row("backfill-orders", at(11, 40), None, "running", pods="backfill-orders-k2l3m"),
        _row("cleanup", at(12, 10), at(12, 20), "succeeded", succeeded=1, exit_codes="0"),
        _row("migrate-once", at(12, 30), at(12, 35), "failed", exit_codes="2"),
    ]  # fmt: skip
    return conform(pd.DataFrame(rows), "k8s_jobs")


def test_job_changes_rows():
    frame = job_changes(jobs())

    assert list(frame.columns) == TIMELINE_COLUMNS
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert list(frame["label"]) == [
        "Job backfill-orders started",
        "Job cleanup started",
        "Job migrate-once started",
        f"CronJob nightly-reindex run started (job {REINDEX})",
    ]  # by start
    assert set(frame["kind"]) == {"job"} and set(frame["source"]) == {"kubernetes"}
    assert list(frame["service"]) == [
        "backfill-orders",
        "cleanup",
        "migrate-once",
        "nightly-reindex",
    ]
    reindex = frame.iloc[-1]
    assert reindex["time"] == at(13, 50)
    assert reindex["detail"] == (
        "ended 14:12:00 UTC after 22 min; failed (BackoffLimitExceeded: Job has reached the "
        f"specified backoff limit); exit codes 1,137; pods {REINDEX}-a, {REINDEX}-b, +3 more"
    )
    assert (
        frame.iloc[0]["detail"]
        == "still running when captured; running; pods backfill-orders-k2l3m"
    )
    assert frame.iloc[1]["detail"] == "ended 12:20:00 UTC after 10 min; succeeded; exit code 0"


def test_job_changes_of_nothing():
    frame = job_changes(empty_frame("k8s_jobs"))

    assert frame.empty and list(frame.columns) == TIMELINE_COLUMNS
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"


def test_job_findings_failed_and_running_during_the_incident():
    findings = job_findings(jobs(), WINDOW)

    titles = [f.title for f in findings]
    assert titles == [
        f"CronJob nightly-reindex run {REINDEX} failed during the incident (exit code 1,137)",
        "Job migrate-once failed before the incident (exit code 2)",
        "Job backfill-orders ran during the incident",
    ]  # failed first; cleanup ended before the window and succeeded: nothing to say
    reindex, migrate, backfill = findings
    assert (reindex.severity, migrate.severity, backfill.severity) == ("medium", "low", "low")
    assert reindex.fact == change_fact(job_label(REINDEX, "nightly-reindex"))
    assert {f.role for f in findings} == {"context"}
    assert "still running when captured" in backfill.summary
    assert "`backfill-orders`" in backfill.summary


def test_job_findings_quote_cluster_text():
    frame = jobs()
    frame.loc[0, "message"] = "<img src=x onerror=alert(1)>"

    (reindex, *_) = job_findings(frame, WINDOW)

    assert "\\<img src=x onerror=alert\\(1\\)\\>" in reindex.summary  # shown, never a tag
    assert " <img" not in reindex.summary
