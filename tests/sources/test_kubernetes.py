"""The Kubernetes source, through the real ``kubernetes`` client over HTTP to a fake API server.

The fake cluster (namespace ``prod``): Deployment ``api`` with three ReplicaSets
(revision 1; revision 3, the bad 1.5.0 deploy at 14:05; revision 4, the 1.4.0
ReplicaSet re-used by the rollback at 14:31, created weeks ago), three pods of the
current ReplicaSet with containers ``api`` and ``proxy`` (one ``api`` restarted
twice, last OOMKilled), plain and JSON log lines with a Python traceback,
Warning and Normal events, PodMetrics; plus a ``worker`` service that must never
show up.
"""

from __future__ import annotations

import math
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from incident_records import sample_incident
from k8s_server import FakeKubeServer

from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.schema import validate
from incident_lib.core.time import Window
from incident_lib.sources import kubernetes as k8s
from incident_lib.sources.base import Fetched, default_registry
from incident_lib.sources.kubernetes import KubernetesConnector, KubernetesSource, parse_quantity
from incident_lib.sources.kubernetes import logs as k8s_logs
from incident_lib.sources.kubernetes.errors import EXPIRED
from incident_lib.sources.kubernetes.rollouts import activation_times

TOKEN = "sekret-token-5f2b8c1d9e"
NS = "prod"
WINDOW = Window(datetime(2026, 11, 3, 14, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
PODS = ("api-5d8f7-aaaaa", "api-5d8f7-bbbbb", "api-5d8f7-ccccc")
OOM_POD = "api-5d8f7-ccccc"


def at(hh: int, mm: int, ss: float = 0, day: int = 3, month: int = 11) -> datetime:
    whole = int(ss)
    micro = round((ss - whole) * 1e6)
    return datetime(2026, month, day, hh, mm, whole, micro, tzinfo=UTC)


# -- the fake cluster ---------------------------------------------------------------------
def _meta(name: str, **kw):
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=NS, **kw)


def _template(image: str, *, app: str = "api"):
    from kubernetes import client

    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": app}),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(name="api", image=image),
                client.V1Container(name="proxy", image="envoyproxy/envoy:v1.31"),
            ]
        ),
    )


def _container_status(name: str, *, restarts: int = 0, started: datetime, oom: datetime | None):
    from kubernetes import client

    last = None
    if oom is not None:
        last = client.V1ContainerState(
            terminated=client.V1ContainerStateTerminated(
                exit_code=137, reason="OOMKilled", started_at=at(14, 35), finished_at=oom
            )
        )
    return client.V1ContainerStatus(
        name=name,
        image="x",
        image_id="",
        ready=True,
        restart_count=restarts,
        state=client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=started)),
        last_state=last,
    )


def make_pod(name: str, node: str, *, app: str = "api", oom: bool = False, rs: str = "api-5d8f7"):
    from kubernetes import client

    api = client.V1Container(
        name="api",
        image="registry.example.com/api:1.4.0",
        resources=client.V1ResourceRequirements(
            requests={"cpu": "250m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "512Mi"}
        ),
    )
    proxy = client.V1Container(
        name="proxy",
        image="envoyproxy/envoy:v1.31",
        resources=client.V1ResourceRequirements(requests={"cpu": "100m", "memory": "128M"}),
    )
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=_meta(
            name,
            labels={"app": app, "pod-template-hash": rs.rsplit("-", 1)[-1]},
            owner_references=[
                client.V1OwnerReference(
                    api_version="apps/v1", kind="ReplicaSet", name=rs, uid=f"uid-{rs}"
                )
            ],
        ),
        spec=client.V1PodSpec(containers=[api, proxy], node_name=node),
        status=client.V1PodStatus(
            phase="Running",
            start_time=at(14, 31, 20),
            container_statuses=[
                _container_status(
                    "api",
                    restarts=2 if oom else 0,
                    started=at(14, 40, 15) if oom else at(14, 31, 20),
                    oom=at(14, 40, 12) if oom else None,
                ),
                _container_status("proxy", started=at(14, 31, 20), oom=None),
            ],
        ),
    )


def make_deployment(name: str, revision: str, *, labels: dict[str, str] | None = None):
    from kubernetes import client

    app = name
    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=_meta(
            name,
            uid=f"uid-dep-{name}",
            labels=labels if labels is not None else {"app": app},
            annotations={"deployment.kubernetes.io/revision": revision},
        ),
        spec=client.V1DeploymentSpec(
            replicas=3,
            selector=client.V1LabelSelector(match_labels={"app": app}),
            template=_template(f"registry.example.com/{name}:1.4.0", app=app),
        ),
    )


def make_replicaset(
    name: str,
    revision: str,
    image: str,
    created: datetime,
    replicas: int,
    cause: str,
    *,
    deployment: str = "api",
):
    from kubernetes import client

    return client.V1ReplicaSet(
        api_version="apps/v1",
        kind="ReplicaSet",
        metadata=_meta(
            name,
            uid=f"uid-{name}",
            labels={"app": deployment, "pod-template-hash": name.rsplit("-", 1)[-1]},
            creation_timestamp=created,
            annotations={
                "deployment.kubernetes.io/revision": revision,
                "kubernetes.io/change-cause": cause,
            },
            owner_references=[
                client.V1OwnerReference(
                    api_version="apps/v1",
                    kind="Deployment",
                    name=deployment,
                    uid=f"uid-dep-{deployment}",
                    controller=True,
                )
            ],
        ),
        spec=client.V1ReplicaSetSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": deployment}),
            template=_template(image, app=deployment),
        ),
        status=client.V1ReplicaSetStatus(replicas=replicas),
    )


def make_event(
    name: str,
    kind: str,
    obj: str,
    reason: str,
    message: str,
    *,
    first: datetime | None,
    last: datetime | None = None,
    count: int | None = 1,
    type_: str = "Normal",
    event_time: datetime | None = None,
    series: tuple[int, datetime] | None = None,
):
    from kubernetes import client

    return client.CoreV1Event(
        api_version="v1",
        kind="Event",
        metadata=_meta(name),
        involved_object=client.V1ObjectReference(kind=kind, name=obj, namespace=NS),
        reason=reason,
        message=message,
        type=type_,
        first_timestamp=first,
        last_timestamp=last or first,
        count=count,
        event_time=event_time,
        series=None
        if series is None
        else client.CoreV1EventSeries(count=series[0], last_observed_time=series[1]),
    )


SCALING = [
    (at(14, 5, 1), "Scaled up replica set api-7c9b2 to 1 from 0"),
    (at(14, 5, 40), "Scaled down replica set api-5d8f7 to 2 from 3"),
    (at(14, 6, 30), "Scaled up replica set api-7c9b2 to 3 from 2"),
    (at(14, 6, 50), "Scaled down replica set api-5d8f7 to 0 from 1"),
    (at(14, 31, 2), "Scaled up replica set api-5d8f7 to 1 from 0"),
    (at(14, 31, 40), "Scaled up replica set api-5d8f7 to 3 from 1"),
    (at(14, 32, 15), "Scaled down replica set api-7c9b2 to 0 from 1"),
]

TRACEBACK = [
    "ERROR [req-17] charge failed",
    "Traceback (most recent call last):",
    '  File "/app/api/payments.py", line 88, in charge',
    "    gateway.capture(order)",
    "ValueError: card declined",
]


def populate(kube: FakeKubeServer) -> None:
    """The realistic fixture described in the module docstring."""
    kube.add("pods", NS, make_pod(PODS[0], "node-1"), make_pod(PODS[1], "node-2"))
    kube.add("pods", NS, make_pod(OOM_POD, "node-3", oom=True))
    kube.add("pods", NS, make_pod("worker-6c5d4-zzzzz", "node-1", app="worker", rs="worker-6c5d4"))

    kube.add("deployments", NS, make_deployment("api", "4"), make_deployment("worker", "7"))
    kube.add(
        "replicasets",
        NS,
        make_replicaset(
            "api-6b4f9",
            "1",
            "registry.example.com/api:1.3.2",
            at(9, 0, day=1, month=10),
            0,
            "deploy 1.3.2",
        ),
        make_replicaset(
            "api-7c9b2", "3", "registry.example.com/api:1.5.0", at(14, 5), 0, "deploy 1.5.0"
        ),
        make_replicaset(
            "api-5d8f7",
            "4",
            "registry.example.com/api:1.4.0",
            at(10, 0, day=20, month=10),
            3,
            "kubectl rollout undo deployment/api --to-revision=2",
        ),
        make_replicaset(
            "worker-6c5d4",
            "7",
            "registry.example.com/worker:2.0",
            at(8, 0),
            2,
            "deploy",
            deployment="worker",
        ),
    )

    events = [
        make_event(f"api.scale{i}", "Deployment", "api", "ScalingReplicaSet", msg, first=t)
        for i, (t, msg) in enumerate(SCALING)
    ]
    events += [
        make_event(
            "ccccc.backoff",
            "Pod",
            OOM_POD,
            "BackOff",
            "Back-off restarting failed container api",
            first=at(14, 38),
            last=at(14, 40, 10),
            count=4,
            type_="Warning",
        ),
        make_event(
            "ccccc.unhealthy",
            "Pod",
            OOM_POD,
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            first=None,
            count=None,
            type_="Warning",
            event_time=at(14, 39),
            series=(7, at(14, 39, 50)),
        ),
        make_event(
            "aaaaa.pulled", "Pod", PODS[0], "Pulled", "Container image pulled", first=at(14, 31, 10)
        ),
        make_event(
            "old.scheduled", "Pod", "api-old", "Scheduled", "Successfully assigned", first=at(13, 0)
        ),
        make_event(
            "api-x.failedscheduling",
            "Pod",
            "api-x",
            "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient memory.",
            first=at(13, 50),
            last=at(14, 2),
            count=9,
            type_="Warning",
        ),
        make_event(
            "late.killing", "Pod", PODS[1], "Killing", "Stopping container api", first=at(15, 10)
        ),
    ]
    kube.add("events", NS, *events)

    for pod in PODS:
        kube.add_log(
            NS,
            pod,
            "proxy",
            [
                (at(14, 2), f'[2026-11-03T14:02:00.000Z] "GET /health HTTP/1.1" 200 {pod}'),
                (at(14, 45), f'[2026-11-03T14:45:00.000Z] "POST /pay HTTP/1.1" 503 {pod}'),
            ],
        )
    kube.add_log(
        NS,
        PODS[0],
        "api",
        [
            (at(13, 59, 50), "INFO booting (before the window)"),
            (at(14, 0, 5), "INFO listening on :8080"),
            (at(14, 10), '{"level": "error", "msg": "payment failed", "order": 42}'),
            *[(at(14, 20, 0.123456), line) for line in TRACEBACK],
            (at(14, 59, 59.5), "INFO still here"),
            (at(15, 0), "INFO at the window end (excluded)"),
            (at(15, 0, 5), "INFO after the window"),
        ],
    )
    kube.add_log(
        NS,
        PODS[1],
        "api",
        [
            (at(14, 1), "INFO listening on :8080"),
            (at(14, 12), '{"level": "warn", "msg": "slow upstream", "ms": 950}'),
        ],
    )
    kube.add_log(
        NS,
        OOM_POD,
        "api",
        [
            (at(14, 30), "INFO loading cache"),
            (at(14, 40, 5), "WARNING memory at 98% of limit"),
        ],
        previous=True,
    )
    kube.add_log(NS, OOM_POD, "api", [(at(14, 40, 20), "INFO listening on :8080")])

    def metrics(pod: str, app: str = "api") -> dict:
        return {
            "kind": "PodMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": pod, "namespace": NS, "labels": {"app": app}},
            "timestamp": "2026-11-26T19:00:00Z",
            "window": "15s",
            "containers": [
                {"name": "api", "usage": {"cpu": "123456789n", "memory": "262144Ki"}},
                {"name": "proxy", "usage": {"cpu": "12m", "memory": "64Mi"}},
            ],
        }

    kube.metrics[NS] = [metrics(p) for p in PODS] + [metrics("worker-6c5d4-zzzzz", "worker")]


@pytest.fixture
def kube():
    with FakeKubeServer() as server:
        populate(server)
        yield server


@pytest.fixture
def source(kube):
    client = kube.api_client(token=TOKEN)
    yield KubernetesSource(
        namespace=NS, selector="app=api", api_client=client, request_timeout=(5, 10)
    )
    client.close()


def other_source(kube, **kw) -> KubernetesSource:
    options = {"namespace": NS, "selector": "app=api", "request_timeout": (5, 10)}
    options.update(kw)
    return KubernetesSource(api_client=kube.api_client(token=TOKEN), **options)


def logs_of(frame: pd.DataFrame, pod: str, container: str) -> pd.DataFrame:
    return frame[(frame["pod"] == pod) & (frame["container"] == container)]


# -- pods -----------------------------------------------------------------------------------
def test_pods_one_row_per_container_with_status_and_resources(kube, source):
    pods = source.pods()

    validate(pods, "pods")
    assert sorted(zip(pods["pod"], pods["container"], strict=True)) == sorted(
        (p, c) for p in PODS for c in ("api", "proxy")
    )
    oom = pods[(pods["pod"] == OOM_POD) & (pods["container"] == "api")].iloc[0]
    assert oom["restarts"] == 2
    assert oom["last_termination_reason"] == "OOMKilled"
    assert oom["last_termination_at"] == pd.Timestamp("2026-11-03T14:40:12Z")
    assert oom["started_at"] == pd.Timestamp("2026-11-03T14:40:15Z")
    assert oom["node"] == "node-3" and oom["phase"] == "Running" and bool(oom["ready"])
    api = pods[pods["container"] == "api"]
    assert set(api["cpu_request"]) == {0.25} and set(api["cpu_limit"]) == {1.0}
    assert set(api["memory_request"]) == {256 * 2**20}
    assert set(api["memory_limit"]) == {512 * 2**20}
    proxy = pods[pods["container"] == "proxy"]
    assert set(proxy["memory_request"]) == {128e6}  # SI "M"
    assert proxy["cpu_limit"].isna().all() and proxy["memory_limit"].isna().all()
    healthy = pods[(pods["pod"] == PODS[0]) & (pods["container"] == "api")].iloc[0]
    assert healthy["restarts"] == 0 and pd.isna(healthy["last_termination_reason"])
    assert pd.isna(healthy["last_termination_at"])

    (request,) = kube.paths("/pods")
    assert request.path == f"/api/v1/namespaces/{NS}/pods"
    assert request.query["labelSelector"] == "app=api"
    assert request.query["limit"] == "500"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_pods_matching_nothing_is_an_empty_frame(kube):
    pods = other_source(kube, selector="app=nothing").pods()

    validate(pods, "pods")
    assert pods.empty


# -- logs -----------------------------------------------------------------------------------
def test_logs_of_every_container_over_the_window(kube, source):
    fetched = source.logs(WINDOW, progress=False)
    frame = fetched.frame

    validate(frame, "logs")
    assert fetched.errors == {} and fetched.truncated == {}
    assert fetched.requested == 7  # 3 pods x 2 containers + the previous OOMKilled api
    assert frame["time"].is_monotonic_increasing
    assert frame["time"].min() >= pd.Timestamp(WINDOW.start)
    assert frame["time"].max() < pd.Timestamp(WINDOW.end)
    first = logs_of(frame, PODS[0], "api")
    assert list(first["message"].str.slice(0, 14)) == [
        "listening on :",
        "payment failed",
        "[req-17] charg",
        "still here",
    ]
    traceback = first.iloc[2]
    assert traceback["level"] == "error" and "ValueError: card declined" in traceback["message"]
    assert traceback["raw"].count("\n") == len(TRACEBACK) - 1  # folded into one event
    assert first.iloc[1]["level"] == "error"  # JSON level
    oom = logs_of(frame, OOM_POD, "api")
    assert "memory at 98%" in " ".join(oom["message"])  # the previous instance's log
    assert "listening on :8080" in " ".join(oom["message"])
    assert len(logs_of(frame, PODS[2], "proxy")) == 2


def test_logs_requests_ask_for_what_the_window_needs(kube, source):
    source.logs(WINDOW, progress=False, max_lines_per_container=1000)

    requests = kube.paths("/log")
    asked = sorted(
        (r.path.split("/")[-2], r.query["container"], r.query.get("previous", "-"))
        for r in requests
    )
    assert asked == sorted(
        [(p, c, "-") for p in PODS for c in ("api", "proxy")] + [(OOM_POD, "api", "true")]
    )
    for r in requests:
        assert r.query["sinceTime"] == "2026-11-03T14:00:00Z"
        assert r.query["timestamps"] == "true"
        assert r.query["limitBytes"] == str(1000 * k8s.LOG_BYTES_PER_LINE)
        assert "tailLines" not in r.query  # a past window: tailLines would count from now
        assert r.headers["authorization"] == f"Bearer {TOKEN}"
    assert {r.method for r in kube.requests} == {"GET"}


def test_logs_truncation_keeps_the_newest_lines_and_is_reported(kube, source):
    fetched = source.logs(WINDOW, progress=False, max_lines_per_container=3)

    key = f"{PODS[0]}/api"
    assert fetched.truncated == {key: 3}  # 8 lines in the window, 3 kept
    kept = logs_of(fetched.frame, PODS[0], "api")
    assert list(kept["message"])[-1] == "still here"
    assert "listening on :8080" not in set(kept["message"])
    assert any(key in note and "truncated" in note for note in fetched.notes())


def test_logs_byte_cap_is_reported(kube, source, monkeypatch):
    monkeypatch.setattr(k8s_logs, "LOG_BYTES_PER_LINE", 40)  # limitBytes = 10 x 40 bytes

    fetched = source.logs(WINDOW, progress=False, max_lines_per_container=10)

    assert f"{PODS[0]}/api" in fetched.truncated
    validate(fetched.frame, "logs")


def test_logs_of_a_window_reaching_now_are_cut_by_tail_lines(kube):
    now = datetime.now(UTC).replace(microsecond=0)
    kube.add_log(
        NS, PODS[0], "api", [(now - timedelta(minutes=9 - i), f"INFO tick {i}") for i in range(5)]
    )
    window = Window(now - timedelta(minutes=30), now + timedelta(minutes=1))
    source = other_source(kube)

    fetched = source.logs(window, progress=False, max_lines_per_container=3)

    request = next(r for r in kube.paths(f"/{PODS[0]}/log") if r.query["container"] == "api")
    assert request.query["tailLines"] == "3" and "limitBytes" not in request.query
    assert fetched.truncated == {f"{PODS[0]}/api": 3}
    assert list(logs_of(fetched.frame, PODS[0], "api")["message"]) == ["tick 2", "tick 3", "tick 4"]


@pytest.mark.parametrize("workers", [1, 2])
def test_logs_concurrency_is_bounded_by_workers(kube, source, workers):
    kube.log_delay = 0.05

    fetched = source.logs(WINDOW, progress=False, workers=workers)

    assert len(kube.paths("/log")) == 7
    assert 1 <= kube.max_logs_in_flight <= workers
    assert not fetched.errors


def test_logs_of_a_container_that_never_started_are_an_error_not_a_crash(kube, source):
    from kubernetes import client

    pending = make_pod("api-5d8f7-ddddd", "node-2")
    pending.status = client.V1PodStatus(
        phase="Pending",
        container_statuses=[
            client.V1ContainerStatus(
                name=c,
                image="x",
                image_id="",
                ready=False,
                restart_count=0,
                state=client.V1ContainerState(
                    waiting=client.V1ContainerStateWaiting(reason="ContainerCreating")
                ),
            )
            for c in ("api", "proxy")
        ],
    )
    kube.add("pods", NS, pending)

    fetched = source.logs(WINDOW, progress=False)

    assert set(fetched.errors) == {"api-5d8f7-ddddd/api", "api-5d8f7-ddddd/proxy"}
    assert "waiting to start: ContainerCreating" in fetched.errors["api-5d8f7-ddddd/api"]
    assert len(logs_of(fetched.frame, PODS[0], "api")) == 4  # the others were read
    assert any("not read" in note for note in fetched.notes())


def test_logs_with_no_matching_pod_are_unavailable(kube):
    with pytest.raises(SourceUnavailable) as caught:
        other_source(kube, selector="app=nothing").logs(WINDOW, progress=False)

    assert caught.value.reason == "no pods match app=nothing in namespace prod"


def test_logs_forbidden_names_the_rbac_rule(kube, source):
    kube.fail(r"/log$", 403)

    with pytest.raises(SourceUnavailable) as caught:
        source.logs(WINDOW, progress=False)

    reason = caught.value.reason
    assert reason.startswith(
        "forbidden (403): RBAC must allow 'get' on 'pods/log' in namespace 'prod'"
    )
    assert "system:serviceaccount:prod:incident-bot" in reason
    assert TOKEN not in str(caught.value)


# -- rollouts -------------------------------------------------------------------------------
def test_rollouts_revisions_current_and_deployed_at(kube, source):
    result = source.rollouts()
    rollouts = result.frame

    validate(rollouts, "rollouts")
    assert list(rollouts["replicaset"]) == ["api-5d8f7", "api-7c9b2", "api-6b4f9"]
    assert list(rollouts["revision"]) == [4, 3, 1]
    assert list(rollouts["current"]) == [True, False, False]
    assert set(rollouts["deployment"]) == {"api"}
    by_rs = rollouts.set_index("replicaset")
    rollback = by_rs.loc["api-5d8f7"]
    assert rollback["created_at"] == pd.Timestamp("2026-10-20T10:00:00Z")
    assert rollback["deployed_at"] == pd.Timestamp("2026-11-03T14:31:02Z")  # from the events
    assert rollback["replicas"] == 3
    assert rollback["change_cause"].startswith("kubectl rollout undo")
    assert by_rs.loc["api-7c9b2", "deployed_at"] == pd.Timestamp("2026-11-03T14:05:01Z")
    assert by_rs.loc["api-7c9b2", "images"] == (
        "registry.example.com/api:1.5.0,envoyproxy/envoy:v1.31"
    )
    old = by_rs.loc["api-6b4f9"]
    assert old["deployed_at"] == old["created_at"]  # no events left: creation time

    assert result.notes == ()
    (deps,) = kube.paths("/deployments")
    assert deps.query["labelSelector"] == "app=api"
    (rss,) = kube.paths("/replicasets")
    assert rss.query["labelSelector"] == "app=api"
    (events,) = kube.paths("/events")
    assert events.query["fieldSelector"] == (
        "involvedObject.kind=Deployment,involvedObject.name=api,reason=ScalingReplicaSet"
    )


def test_rollouts_follow_owner_references_when_the_deployment_is_not_labelled(kube):
    kube.objects[("deployments", NS)] = [
        make_deployment("api", "4", labels={"team": "payments"}),
        make_deployment("worker", "7"),
    ]

    rollouts = other_source(kube).rollouts().frame

    assert list(rollouts["replicaset"]) == ["api-5d8f7", "api-7c9b2", "api-6b4f9"]
    assert list(rollouts["current"]) == [True, False, False]


def test_rollouts_without_readable_events_fall_back_to_creation_time(kube, source):
    kube.fail(r"/events$", 403)

    result = source.rollouts()
    rollouts = result.frame

    assert (rollouts["deployed_at"] == rollouts["created_at"]).all()
    assert "events not readable" in result.notes[0]
    assert "RBAC must allow 'list' on 'events'" in result.notes[0]
    assert "notes" not in rollouts.attrs  # notes travel in the result, not on the frame


def test_rollouts_of_nothing_is_an_empty_frame(kube):
    rollouts = other_source(kube, selector="app=nothing").rollouts().frame

    validate(rollouts, "rollouts")
    assert rollouts.empty


def test_activation_time_with_old_style_aggregated_events():
    from types import SimpleNamespace as Obj

    def ev(message, first, last):
        return Obj(
            message=message,
            first_timestamp=first,
            last_timestamp=last,
            event_time=None,
            series=None,
            count=2,
            metadata=Obj(creation_timestamp=first),
        )

    # rs "b" deployed at 14:00, replaced at 14:32, deployed again at 14:50 (aggregated)
    live = activation_times(
        [
            ev("Scaled up replica set api-b to 3", at(14, 0), at(14, 50)),
            ev("Scaled down replica set api-b to 0", at(14, 32), at(14, 32)),
            ev("Scaled up replica set api-a to 3", at(14, 31), at(14, 31)),
        ]
    )

    assert live == {"api-b": at(14, 50), "api-a": at(14, 31)}


# -- events ---------------------------------------------------------------------------------
def test_events_touching_the_window(kube):
    source = other_source(kube, page_size=4)

    events = source.events(WINDOW)

    validate(events, "k8s_events")
    assert len(events) == len(SCALING) + 4
    assert events["first_seen"].is_monotonic_increasing
    assert "Scheduled" not in set(events["reason"])  # 13:00, before the window
    assert "Killing" not in set(events["reason"])  # 15:10, after it
    spans = events.set_index("reason")
    assert spans.loc["FailedScheduling", "count"] == 9  # began before, touched the window
    unhealthy = spans.loc["Unhealthy"]  # new-style: eventTime and series
    assert unhealthy["object"] == f"Pod/{OOM_POD}" and unhealthy["type"] == "Warning"
    assert unhealthy["count"] == 7
    assert unhealthy["first_seen"] == pd.Timestamp("2026-11-03T14:39:00Z")
    assert unhealthy["last_seen"] == pd.Timestamp("2026-11-03T14:39:50Z")
    assert spans.loc["BackOff", "count"] == 4
    pages = kube.paths("/events")
    assert len(pages) == 4  # 13 events, 4 per page
    assert [r.query.get("continue") for r in pages] == [None, "4", "8", "12"]


# -- usage ----------------------------------------------------------------------------------
def test_usage_from_pod_metrics(kube, source):
    usage = source.usage()

    validate(usage, "pod_usage")
    assert len(usage) == 6 and set(usage["pod"]) == set(PODS)
    api = usage[usage["container"] == "api"]
    assert api["cpu"].tolist() == pytest.approx([0.123456789] * 3)
    assert set(api["memory"]) == {256 * 2**20}
    proxy = usage[usage["container"] == "proxy"]
    assert proxy["cpu"].tolist() == pytest.approx([0.012] * 3)
    assert usage["time"].eq(pd.Timestamp("2026-11-26T19:00:00Z")).all()
    (request,) = kube.paths("metrics.k8s.io")
    assert request.path == f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods"
    assert request.query["labelSelector"] == "app=api"


def test_usage_without_metrics_server_is_unavailable(kube, source):
    kube.fail(r"^/apis/metrics\.k8s\.io/", 404)

    with pytest.raises(SourceUnavailable) as caught:
        source.usage()

    assert caught.value.reason == (
        "metrics.k8s.io is not served by this cluster (metrics-server not installed); "
        "resource usage unavailable"
    )


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, EXPIRED),
        (
            403,
            "forbidden (403): RBAC must allow 'list' on 'pods' in namespace 'prod' for "
            "user 'system:serviceaccount:prod:incident-bot'",
        ),
        (404, "namespace 'prod' not found"),
        (
            500,
            "API server answered 500 Internal Server Error to list pods: etcdserver: "
            "request timed out",
        ),
    ],
)
def test_api_refusals_become_clear_reasons_without_secrets(kube, source, status, expected):
    messages = {404: 'namespaces "prod" not found', 500: "etcdserver: request timed out"}
    kube.fail(r"/pods$", status, messages.get(status))

    with pytest.raises(SourceUnavailable) as caught:
        source.pods()

    assert caught.value.reason == expected
    assert caught.value.source == "kubernetes"
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_token_shaped_text_in_a_server_message_is_hidden(kube, source):
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJlMTIzNDU2Nzg5MA"
    kube.fail(r"/pods$", 502, f"proxy rejected Authorization: Bearer {jwt} for api-5d8f7-aaaaa")

    with pytest.raises(SourceUnavailable) as caught:
        source.pods()

    assert jwt not in caught.value.reason
    assert "Bearer [redacted] for api-5d8f7-aaaaa" in caught.value.reason


def test_forbidden_deployments_name_the_api_group(kube, source):
    kube.fail(r"/deployments$", 403)

    with pytest.raises(SourceUnavailable, match=r"'list' on 'deployments\.apps' in namespace"):
        source.rollouts()


def test_an_api_server_that_hangs_times_out(kube):
    kube.hang(r"/pods$")
    source = other_source(kube, request_timeout=(2, 0.3))

    with pytest.raises(SourceUnavailable) as caught:
        source.pods()

    assert caught.value.reason == f"API server {kube.url} did not answer within 0.3 s"


def test_an_api_server_that_is_down_is_unreachable():
    from kubernetes import client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = client.Configuration(host=f"http://user:pw@127.0.0.1:{port}")
    config.retries = False
    source = KubernetesSource(namespace=NS, selector="app=api", api_client=client.ApiClient(config))

    with pytest.raises(SourceUnavailable) as caught:
        source.pods()

    assert caught.value.reason == (
        f"API server http://127.0.0.1:{port} could not be reached (connection refused)"
    )


# -- configuration --------------------------------------------------------------------------
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: oncall
  user:
    token: prod-user-token-1a2b3c
- name: bot
  user:
    token: {token}
contexts:
- name: prod-admin
  context: {{cluster: fake, user: oncall}}
- name: incident-bot
  context: {{cluster: fake, user: bot}}
current-context: prod-admin
"""


@pytest.fixture
def kubeconfig(kube, tmp_path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(url=kube.url, token=TOKEN))
    return path


def test_from_environment_without_any_configuration(tmp_path):
    with pytest.raises(SourceUnavailable) as caught:
        KubernetesSource.from_environment(
            namespace=NS, selector="app=api", environ={"HOME": str(tmp_path)}
        )

    assert caught.value.reason == (
        "no kubeconfig found (set KUBECONFIG) and not running in a cluster"
    )


def test_from_environment_in_a_cluster_without_a_service_account_token():
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}

    with pytest.raises(SourceUnavailable, match="service account is not usable"):
        KubernetesSource.from_environment(namespace=NS, selector="app=api", environ=environ)


@pytest.mark.parametrize(
    ("context", "environ_context", "user_token"),
    [
        ("incident-bot", None, TOKEN),
        (None, "incident-bot", TOKEN),
        (None, None, "prod-user-token-1a2b3c"),  # current-context
    ],
)
def test_from_environment_with_a_kubeconfig_and_a_context(
    kube, kubeconfig, context, environ_context, user_token
):
    environ = {"KUBECONFIG": str(kubeconfig)}
    if environ_context:
        environ["INCIDENT_KUBE_CONTEXT"] = environ_context

    with KubernetesSource.from_environment(
        namespace=NS, selector="app=api", context=context, environ=environ
    ) as source:
        pods = source.pods()

    assert len(pods) == 6
    assert kube.requests[-1].headers["authorization"] == f"Bearer {user_token}"


def test_from_environment_with_an_unknown_context(kubeconfig):
    with pytest.raises(SourceUnavailable) as caught:
        KubernetesSource.from_environment(
            namespace=NS,
            selector="app=api",
            context="staging",
            environ={"KUBECONFIG": str(kubeconfig)},
        )

    assert caught.value.reason == (
        f"context 'staging' is not in kubeconfig {kubeconfig}; available: incident-bot, prod-admin"
    )


def test_from_environment_without_a_current_context(kube, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(url=kube.url, token=TOKEN).replace("current-context", "#"))

    with pytest.raises(SourceUnavailable) as caught:
        KubernetesSource.from_environment(
            namespace=NS, selector="app=api", environ={"KUBECONFIG": str(path)}
        )

    assert caught.value.reason == (
        f"kubeconfig {path} has no current-context: set INCIDENT_KUBE_CONTEXT "
        "(available: incident-bot, prod-admin)"
    )


def test_from_environment_with_broken_yaml_names_the_line_not_the_content(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(f"users:\n- name: bot\n  user: {{token: {TOKEN}\n")

    with pytest.raises(SourceUnavailable) as caught:
        KubernetesSource.from_environment(
            namespace=NS, selector="app=api", environ={"KUBECONFIG": str(path)}
        )

    assert caught.value.reason == f"kubeconfig {path} is not valid YAML at line 4"
    assert TOKEN not in str(caught.value)


def test_from_environment_with_a_missing_kubeconfig_file(tmp_path):
    missing = tmp_path / "nope"

    with pytest.raises(SourceUnavailable, match=r"KUBECONFIG points at .*nope, which does not"):
        KubernetesSource.from_environment(
            namespace=NS, selector="app=api", environ={"KUBECONFIG": str(missing)}
        )


# -- the Source protocol (KubernetesConnector) ----------------------------------------------
@pytest.fixture
def incident():
    return sample_incident(title="Checkout 500s", namespace=NS)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("pods", "pods"),
        ("rollouts", "rollouts"),
        ("events", "k8s_events"),
        ("pod_usage", "pod_usage"),
        ("logs", "logs"),
    ],
)
def test_fetch_builds_the_source_from_the_environment(
    kubeconfig, incident, monkeypatch, name, kind
):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("INCIDENT_KUBE_CONTEXT", "incident-bot")

    result = default_registry().resolve("kubernetes", name).fetch(name, incident, WINDOW)

    assert isinstance(result, Fetched)
    frame = result.frame
    validate(frame, kind)
    assert len(frame) > 0


def test_fetch_reports_unreadable_logs(kubeconfig, incident, monkeypatch, kube):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    kube.fail(rf"/{OOM_POD}/log$", 404)

    result = KubernetesConnector(environ=os.environ).fetch("logs", incident, WINDOW)

    assert any(OOM_POD in note and "not found" in note for note in result.notes)


def test_live_runbook_captures_and_reports_what_the_cluster_withheld(
    kubeconfig, incident, monkeypatch, kube, tmp_path
):
    """Live mode end to end: real client -> capture -> notes shown and recorded as findings."""
    from incident_lib import EvidenceStore, create_workspace, start_runbook

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    kube.fail(rf"/{OOM_POD}/log$", 404)
    ws = create_workspace(incident, tmp_path / "ws")
    rb = start_runbook(
        "04_logs", workspace=str(ws.path), mode="live", run_dir=str(tmp_path / "run")
    )

    logs = rb.evidence("kubernetes", "logs")

    assert len(logs) > 0 and not rb.unavailable
    captured = EvidenceStore(ws.path).read("kubernetes", "logs")
    assert len(captured) == len(logs)
    query = EvidenceStore(ws.path).latest("kubernetes", "logs").query
    assert query["namespace"] == incident.namespace
    assert query["selector"] == incident.label_selector and query["resource"] == "pods/log"
    assert TOKEN not in repr(query)
    titles = [f.title for f in rb.findings.items]
    assert "kubernetes/logs incomplete" in titles
    assert TOKEN not in " ".join(f.summary for f in rb.findings.items)
    # the fetch covers the baseline hour too, or nothing could be compared with it
    since = {r.query["sinceTime"] for r in kube.requests if r.path.endswith("/log")}
    assert since == {"2026-11-03T13:00:00Z"}


def test_fetch_of_an_unknown_name_is_unavailable(incident):
    with pytest.raises(SourceUnavailable, match="no live fetch named 'deploys'"):
        KubernetesConnector().fetch("deploys", incident, WINDOW)


def test_importing_the_module_loads_no_client_library():
    import subprocess

    code = (
        "import sys, incident_lib.sources.kubernetes; "
        "print(sorted(m for m in ('kubernetes', 'pandas', 'urllib3', 'tqdm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


# -- quantities -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", 0.25),
        ("1", 1.0),
        ("1.5", 1.5),
        ("128Mi", 128 * 2**20),
        ("1Gi", 2**30),
        ("500M", 5e8),
        ("123456789n", 0.123456789),
        ("64Ki", 65536),
        ("2e3", 2000.0),
    ],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", [None, "", "lots"])
def test_parse_quantity_of_nothing_is_nan(text):
    assert math.isnan(parse_quantity(text))


def test_events_say_from_when_the_cluster_still_holds_them(kube):
    source = other_source(kube, page_size=4)

    held = source.events_fetched(WINDOW)  # the oldest event (13:00) predates the window
    assert held.notes == () and len(held.frame) == len(source.events(WINDOW))

    later = Window(WINDOW.start - timedelta(hours=2), WINDOW.end)  # events expired since
    expired = source.events_fetched(later)
    (note,) = expired.notes
    assert note.startswith("events are only available from 2026-11-03 13:00 UTC")
    assert "unknown, not absent" in note
