"""The ``k8s_jobs`` frame: the namespace's Jobs and CronJob runs around the window (fake API).

The fake cluster (namespace ``prod``, window 14:00-15:00): CronJob ``nightly-reindex``
whose run ``nightly-reindex-29895230`` started at 13:50 and failed at 14:12
(BackoffLimitExceeded, its pods exited 1 and 137); a one-off Job ``backfill-orders``
still running since 11:40 (started more than 2 h before the window, but running in
it); Job ``cleanup`` that started and finished at 09:00 (out of range); Job
``report`` started at 15:30 (after the window); CronJob ``hourly-export`` whose
14:30 run's Job was already deleted (TTL) but succeeded at 14:34.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from k8s_server import FakeKubeServer

from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.schema import EVIDENCE_KINDS, validate
from incident_lib.core.time import Window
from incident_lib.sources.kubernetes import KubernetesSource
from incident_lib.sources.kubernetes.jobs import in_range

NS = "prod"
WINDOW = Window(datetime(2026, 11, 3, 14, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
REINDEX = "nightly-reindex-29895230"


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 3, hh, mm, tzinfo=UTC)


def _meta(name: str, **kw):
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=NS, **kw)


def _template(image: str):
    from kubernetes import client

    return client.V1PodTemplateSpec(
        spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="main", image=image)]
        )
    )


def job(
    name: str,
    started: datetime,
    *,
    completed: datetime | None = None,
    failed_at: datetime | None = None,
    cronjob: str = "",
    succeeded: int = 0,
    failed: int = 0,
    active: int = 0,
):
    from kubernetes import client

    conditions = []
    if completed is not None:
        conditions.append(
            client.V1JobCondition(type="Complete", status="True", last_transition_time=completed)
        )
    if failed_at is not None:
        conditions += [
            client.V1JobCondition(
                type="FailureTarget", status="True", reason="BackoffLimitExceeded",
                message="Job has reached the specified backoff limit",
                last_transition_time=failed_at,
            ),
            client.V1JobCondition(
                type="Failed", status="True", reason="BackoffLimitExceeded",
                message="Job has reached the specified backoff limit",
                last_transition_time=failed_at,
            ),
        ]  # fmt: skip
    owners = (
        [
            client.V1OwnerReference(
                api_version="batch/v1", kind="CronJob", name=cronjob, uid="uid-cj"
            )
        ]
        if cronjob
        else None
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=_meta(
            name, uid=f"uid-{name}", owner_references=owners, creation_timestamp=started
        ),
        spec=client.V1JobSpec(template=_template(f"registry.example.com/{cronjob or name}:3.1")),
        status=client.V1JobStatus(
            start_time=started,
            completion_time=completed,
            conditions=conditions or None,
            succeeded=succeeded or None,
            failed=failed or None,
            active=active or None,
        ),
    )


def job_pod(name: str, job_name: str, exit_code: int | None, *, legacy: bool = False):
    from kubernetes import client

    labels = {"job-name": job_name}
    if not legacy:
        labels["batch.kubernetes.io/job-name"] = job_name
    state = (
        client.V1ContainerState(
            terminated=client.V1ContainerStateTerminated(exit_code=exit_code, reason="Error")
        )
        if exit_code is not None
        else client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=at(12, 40)))
    )
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=_meta(
            name,
            labels=labels,
            owner_references=[
                client.V1OwnerReference(
                    api_version="batch/v1", kind="Job", name=job_name, uid=f"uid-{job_name}"
                )
            ],
        ),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main")]),
        status=client.V1PodStatus(
            phase="Failed" if exit_code else "Running",
            container_statuses=[
                client.V1ContainerStatus(
                    name="main", image="x", image_id="", ready=False, restart_count=0, state=state
                )
            ],
        ),
    )


def cronjob(name: str, *, scheduled: datetime | None, success: datetime | None):
    from kubernetes import client

    return client.V1CronJob(
        api_version="batch/v1",
        kind="CronJob",
        metadata=_meta(name),
        spec=client.V1CronJobSpec(
            schedule="30 * * * *",
            job_template=client.V1JobTemplateSpec(
                spec=client.V1JobSpec(template=_template(f"registry.example.com/{name}:1.0"))
            ),
        ),
        status=client.V1CronJobStatus(last_schedule_time=scheduled, last_successful_time=success),
    )


def populate(kube: FakeKubeServer) -> None:
    kube.add(
        "jobs",
        NS,
        job(REINDEX, at(13, 50), failed_at=at(14, 12), cronjob="nightly-reindex", failed=2),
        job("backfill-orders", at(11, 40), active=1),
        job("cleanup", at(9, 0), completed=at(9, 1), succeeded=1),
        job("report", at(15, 30), active=1),
    )
    kube.add(
        "pods",
        NS,
        job_pod(f"{REINDEX}-abcde", REINDEX, 1),
        job_pod(f"{REINDEX}-fghij", REINDEX, 137),
        job_pod("backfill-orders-k2l3m", "backfill-orders", None),
        job_pod("cleanup-n4o5p", "cleanup", 0),
    )
    kube.add(
        "cronjobs",
        NS,
        cronjob("nightly-reindex", scheduled=at(13, 50), success=None),
        cronjob("hourly-export", scheduled=at(14, 30), success=at(14, 34)),
        cronjob("never-ran", scheduled=None, success=None),
    )


@pytest.fixture
def kube():
    with FakeKubeServer() as server:
        populate(server)
        yield server


def _source(kube: FakeKubeServer) -> KubernetesSource:
    return KubernetesSource(
        namespace=NS, selector="app=api", api_client=kube.api_client(), request_timeout=(5, 10)
    )


def test_jobs_in_and_before_the_window_whatever_service(kube):
    result = _source(kube).jobs(WINDOW)
    frame = result.frame

    validate(frame, "k8s_jobs")
    assert EVIDENCE_KINDS[("kubernetes", "jobs")] == "k8s_jobs"
    assert result.notes == ()
    # cleanup ended 5 h before; report starts after the window
    assert list(frame["job"]) == ["backfill-orders", REINDEX, "hourly-export-29895270"]
    rows = frame.set_index("job")

    reindex = rows.loc[REINDEX]
    assert reindex["cronjob"] == "nightly-reindex"
    assert (reindex["status"], reindex["reason"]) == ("failed", "BackoffLimitExceeded")
    assert reindex["message"] == "Job has reached the specified backoff limit"
    assert reindex["started_at"] == pd.Timestamp("2026-11-03T13:50:00Z")
    assert reindex["finished_at"] == pd.Timestamp("2026-11-03T14:12:00Z")  # the Failed condition
    assert (reindex["failed"], reindex["succeeded"]) == (2, 0)
    assert reindex["exit_codes"] == "1,137"
    assert reindex["pods"] == f"{REINDEX}-abcde,{REINDEX}-fghij"
    assert reindex["images"] == "registry.example.com/nightly-reindex:3.1"

    backfill = rows.loc["backfill-orders"]  # started 2 h 20 min before, still running in it
    assert (backfill["status"], backfill["cronjob"], backfill["exit_codes"]) == ("running", "", "")
    assert pd.isna(backfill["finished_at"])
    assert backfill["pods"] == "backfill-orders-k2l3m"

    gone = rows.loc["hourly-export-29895270"]  # the Job was deleted: the CronJob's status tells
    assert (gone["cronjob"], gone["status"], gone["reason"]) == (
        "hourly-export",
        "succeeded",
        "JobDeleted",
    )
    assert gone["finished_at"] == pd.Timestamp("2026-11-03T14:34:00Z")
    assert gone["images"] == "registry.example.com/hourly-export:1.0"


def test_exact_requests_one_list_each_no_per_job_calls(kube):
    _source(kube).jobs(WINDOW)

    (jobs,) = kube.paths("/jobs")
    assert jobs.path == f"/apis/batch/v1/namespaces/{NS}/jobs"
    assert "labelSelector" not in jobs.query  # every Job of the namespace
    (cronjobs,) = kube.paths("/cronjobs")
    assert cronjobs.path == f"/apis/batch/v1/namespaces/{NS}/cronjobs"
    (pods,) = kube.paths("/pods")
    assert pods.path == f"/api/v1/namespaces/{NS}/pods"
    assert pods.query["labelSelector"] == "batch.kubernetes.io/job-name"
    assert {r.method for r in kube.requests} == {"GET"}


def test_pods_of_a_cluster_before_1_27_are_found_by_the_legacy_label(kube):
    kube.objects[("pods", NS)] = [
        job_pod(f"{REINDEX}-abcde", REINDEX, 1, legacy=True),
    ]

    frame = _source(kube).jobs(WINDOW).frame

    assert frame.set_index("job").loc[REINDEX, "exit_codes"] == "1"
    labels = [r.query["labelSelector"] for r in kube.paths("/pods")]
    assert labels == ["batch.kubernetes.io/job-name", "job-name"]


def test_no_job_in_range_reads_no_pods(kube):
    window = Window(at(6, 0), at(7, 0))
    kube.objects[("cronjobs", NS)].clear()

    result = _source(kube).jobs(window)

    validate(result.frame, "k8s_jobs")
    assert result.frame.empty
    assert not kube.paths("/pods")


def test_forbidden_jobs_is_unavailable(kube):
    kube.fail(r"/jobs$", 403)

    with pytest.raises(SourceUnavailable) as caught:
        _source(kube).jobs(WINDOW)

    assert "RBAC must allow 'list' on 'jobs.batch' in namespace 'prod'" in caught.value.reason


def test_forbidden_cronjobs_and_pods_are_notes_and_the_jobs_are_kept(kube):
    kube.fail(r"/cronjobs$", 403)
    kube.fail(r"/pods$", 403)

    result = _source(kube).jobs(WINDOW)

    assert list(result.frame["job"]) == ["backfill-orders", REINDEX]  # the deleted run unknown
    assert (result.frame["exit_codes"] == "").all()
    cron, pods = result.notes
    assert cron.startswith("cronjobs.batch not readable (forbidden (403)")
    assert "'list' on 'cronjobs.batch'" in cron and "already deleted are not listed" in cron
    assert pods.startswith("pods not readable (forbidden (403)")
    assert pods.endswith("the Jobs' exit codes and pods are unknown")


def test_a_deleted_run_of_unknown_outcome_counts_only_by_its_start(kube):
    kube.objects[("cronjobs", NS)][:] = [
        cronjob("weekly", scheduled=at(8, 0), success=None),  # 6 h before: out of range
        cronjob("hourly-export", scheduled=at(13, 30), success=None),
    ]

    frame = _source(kube).jobs(WINDOW).frame
    gone = frame[frame["reason"] == "JobDeleted"]

    assert list(gone["job"]) == ["hourly-export-29895210"]
    assert list(gone["status"]) == ["unknown"]


def test_in_range_bounds():
    assert in_range(at(12, 0), at(12, 30), WINDOW)  # started exactly 2 h before
    assert not in_range(at(11, 59), at(12, 30), WINDOW)  # longer before, ended before
    assert in_range(at(8, 0), None, WINDOW)  # still running
    assert in_range(at(8, 0), at(14, 0), WINDOW)  # ran into the window
    assert not in_range(at(15, 0), None, WINDOW)  # starts at the end
    assert not in_range(None, None, WINDOW)
