"""The ``terminations`` frame: container terminations, of pods deleted since too (fake API).

The fake cluster (namespace ``prod``): Deployment ``api`` with its current ReplicaSet
``api-7c9d8`` and a previous one ``api-5f6b4`` (scaled down: its pod
``api-5f6b4-bbbbb`` is gone, only its events are left), one current pod
``api-7c9d8-aaaaa`` on ``node-a`` whose container was OOMKilled and restarted, and a
``worker`` Deployment whose deleted pod must never show up. Node events live in
namespace ``default`` and are read at cluster scope.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from k8s_server import FakeKubeServer

from incident_lib.core.schema import EVIDENCE_KINDS, validate
from incident_lib.core.time import Window
from incident_lib.sources.kubernetes import KubernetesSource
from incident_lib.sources.kubernetes.connector import FETCH_NAMES, RESOURCES

NS = "prod"
T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(hours=1))
CURRENT, PREVIOUS = "api-7c9d8", "api-5f6b4"
LIVE, GONE = f"{CURRENT}-aaaaa", f"{PREVIOUS}-bbbbb"
KERNEL = (
    "Memory cgroup out of memory: Killed process 2741 (java) total-vm:5023412kB, "
    "anon-rss:1046128kB, file-rss:24312kB, shmem-rss:0kB, UID:1000 pgtables:2464kB "
    "oom_score_adj:984"
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _meta(name: str, ns: str = NS, **kw):
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=ns, **kw)


def _owner(kind: str, name: str):
    from kubernetes import client

    return client.V1OwnerReference(
        api_version="apps/v1", kind=kind, name=name, uid=f"uid-{name}", controller=True
    )


def _deployment(name: str):
    from kubernetes import client

    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=_meta(name, uid=f"uid-{name}", labels={"app": name}),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(containers=[client.V1Container(name=name)])
            ),
        ),
    )


def _replicaset(name: str, deployment: str):
    from kubernetes import client

    return client.V1ReplicaSet(
        api_version="apps/v1",
        kind="ReplicaSet",
        metadata=_meta(
            name,
            uid=f"uid-{name}",
            labels={"app": deployment},
            owner_references=[_owner("Deployment", deployment)],
        ),
        spec=client.V1ReplicaSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": deployment})
        ),
    )


def _live_pod():
    from kubernetes import client

    terminated = client.V1ContainerStateTerminated
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=_meta(
            LIVE,
            labels={"app": "api"},
            owner_references=[_owner("ReplicaSet", CURRENT)],
            creation_timestamp=at(-120),
        ),
        spec=client.V1PodSpec(
            node_name="node-a",
            init_containers=[client.V1Container(name="migrate")],
            containers=[client.V1Container(name="api")],
        ),
        status=client.V1PodStatus(
            phase="Running",
            start_time=at(-120),
            init_container_statuses=[
                client.V1ContainerStatus(
                    name="migrate",
                    image="migrate:1",
                    image_id="",
                    ready=False,
                    restart_count=0,
                    # before the window: not a termination of the incident
                    state=client.V1ContainerState(
                        terminated=terminated(exit_code=0, reason="Completed", finished_at=at(-119))
                    ),
                )
            ],
            container_statuses=[
                client.V1ContainerStatus(
                    name="api",
                    image="api:2.34",
                    image_id="",
                    ready=True,
                    restart_count=1,
                    state=client.V1ContainerState(
                        running=client.V1ContainerStateRunning(started_at=at(20.5))
                    ),
                    last_state=client.V1ContainerState(
                        terminated=terminated(exit_code=137, reason="OOMKilled", finished_at=at(20))
                    ),
                )
            ],
        ),
    )


def _event(
    name: str,
    kind: str,
    obj: str,
    reason: str,
    message: str,
    first: datetime,
    last: datetime | None = None,
    count: int = 1,
    ns: str = NS,
):
    from kubernetes import client

    return client.CoreV1Event(
        api_version="v1",
        kind="Event",
        metadata=_meta(name, ns),
        involved_object=client.V1ObjectReference(kind=kind, name=obj, namespace=ns),
        reason=reason,
        message=message,
        type="Normal" if reason in ("Scheduled", "Started", "Killing") else "Warning",
        first_timestamp=first,
        last_timestamp=last or first,
        count=count,
    )


def populate(kube: FakeKubeServer) -> None:
    kube.add("deployments", NS, _deployment("api"), _deployment("worker"))
    kube.add(
        "replicasets",
        NS,
        _replicaset(CURRENT, "api"),
        _replicaset(PREVIOUS, "api"),
        _replicaset("worker-6c5d4", "worker"),
    )
    kube.add("pods", NS, _live_pod())
    kube.add(
        "events",
        NS,
        # the deleted pod of the previous ReplicaSet: scheduled before the window
        _event(
            "e1", "Pod", GONE, "Scheduled", f"Successfully assigned prod/{GONE} to node-b", at(-90)
        ),
        _event("e2", "Pod", GONE, "Started", "Started container api", at(-89)),
        _event(
            "e3",
            "Pod",
            GONE,
            "BackOff",
            f"Back-off restarting failed container api in pod {GONE}_prod(uid-x)",
            at(10),
            at(15),
            count=7,
        ),
        _event("e4", "Pod", GONE, "Killing", "Stopping container api", at(30)),
        # another service's deleted pod
        _event("e5", "Pod", "worker-6c5d4-zzzzz", "Killing", "Stopping container worker", at(31)),
        # the live pod's own events are covered by its status
        _event("e6", "Pod", LIVE, "Started", "Started container api", at(20.5)),
    )
    kube.add(
        "events",
        "default",
        # the deleted pod's kernel OOM kills, twice (one aggregated event)
        _event("n1", "Node", "node-b", "OOMKilling", KERNEL, at(12), at(14), count=2, ns="default"),
        # the live pod's OOM kill, also in its status: one kill
        _event(
            "n2",
            "Node",
            "node-a",
            "OOMKilling",
            KERNEL,
            at(20) - timedelta(seconds=1),
            ns="default",
        ),
        # a node that never ran the service
        _event("n3", "Node", "node-z", "OOMKilling", KERNEL, at(25), ns="default"),
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


def test_a_deleted_pods_oom_kills_come_from_its_nodes_events(kube):
    fetched = _source(kube).terminations(WINDOW)
    frame = fetched.frame

    validate(frame, "k8s_terminations")
    assert fetched.notes == ()
    ooms = frame[(frame["reason"] == "OOMKilled") & frame["pod_deleted"]]
    # one aggregated event, two kills: one row per occurrence, not per event object
    assert len(ooms) == 2
    assert set(ooms["pod"]) == {GONE} and set(ooms["container"]) == {"api"}
    assert set(ooms["node"]) == {"node-b"} and set(ooms["workload"]) == {"api"}
    assert set(ooms["source"]) == {"node-event"}
    assert (ooms["exit_code"] == 137).all()
    assert list(ooms["finished_at"]) == [at(12), at(14)]
    assert "Killed process 2741 (java)" in ooms["message"].iloc[0]


def test_a_deleted_pods_events_give_its_crash_loop_and_its_stop(kube):
    frame = _source(kube).terminations(WINDOW).frame

    gone = frame[(frame["pod"] == GONE) & (frame["source"] == "event")]
    assert sorted(gone["reason"]) == ["BackOff", "Killing"]  # BackOff once, whatever its count
    assert set(gone["container"]) == {"api"} and gone["pod_deleted"].all()
    assert math.isnan(gone["exit_code"].iloc[0])
    # another service's deleted pod, Scheduled/Started: not terminations
    assert not frame["pod"].str.startswith("worker").any()
    assert not frame["reason"].isin(["Scheduled", "Started"]).any()


def test_a_running_pods_last_state_oomkilled_seen_by_its_node_too_is_one_row(kube):
    frame = _source(kube).terminations(WINDOW).frame

    live = frame[frame["pod"] == LIVE]
    assert len(live) == 1  # the init container's Completed was before the window
    row = live.iloc[0]
    assert (row.container, row.reason, row.exit_code) == ("api", "OOMKilled", 137)
    assert (row.source, row.pod_deleted, row.workload, row.node) == (
        "status",
        False,
        "api",
        "node-a",
    )
    assert row.finished_at == at(20)
    assert row.message == KERNEL  # the kernel's account of that same kill
    assert "node-z" not in set(frame["node"])
    assert len(frame) == 5


def test_refused_node_events_are_a_note_and_the_other_rows_stay(kube):
    kube.fail(r"^/api/v1/events$", 403)

    fetched = _source(kube).terminations(WINDOW)

    frame = fetched.frame
    validate(frame, "k8s_terminations")
    assert (frame["source"] != "node-event").all()
    assert len(frame) == 3  # the live pod's OOM kill (status), the deleted pod's two events
    (note,) = fetched.notes
    assert note.startswith("Node events not readable (RBAC: list events at cluster scope")
    assert "unknown, not absent" in note and "ClusterRole" in note


def test_refused_pod_events_are_a_note_too(kube):
    kube.fail(r"^/api/v1/namespaces/prod/events$", 403)

    fetched = _source(kube).terminations(WINDOW)

    assert list(fetched.frame["pod"]) == [LIVE]
    assert any("Pod events not readable" in n and "unknown, not absent" in n for n in fetched.notes)


def test_the_requests_made(kube):
    _source(kube).terminations(WINDOW)

    made = [
        (r.path, r.query.get("labelSelector"), r.query.get("fieldSelector")) for r in kube.requests
    ]
    assert made == [
        ("/api/v1/namespaces/prod/pods", "app=api", None),
        ("/apis/apps/v1/namespaces/prod/deployments", "app=api", None),
        ("/apis/apps/v1/namespaces/prod/replicasets", "app=api", None),
        ("/api/v1/namespaces/prod/events", None, "involvedObject.kind=Pod"),
        # one request at cluster scope for every node, not one per node
        ("/api/v1/events", None, "involvedObject.kind=Node,reason=OOMKilling"),
    ]


def test_an_evicted_pod_still_listed_gives_a_row_of_its_own(kube):
    from kubernetes import client

    pod = _live_pod()
    pod.metadata.name = f"{CURRENT}-ccccc"
    pod.status = client.V1PodStatus(
        phase="Failed",
        reason="Evicted",
        message="The node was low on resource: memory.",
        conditions=[
            client.V1PodCondition(type="Ready", status="False", last_transition_time=at(40))
        ],
    )
    kube.add("pods", NS, pod)

    frame = _source(kube).terminations(WINDOW).frame

    row = frame[frame["pod"] == f"{CURRENT}-ccccc"].iloc[0]
    assert (row.container, row.reason, row.source) == ("", "Evicted", "status")
    assert row.finished_at == at(40)


def test_the_connector_provides_the_terminations_frame():
    assert "terminations" in FETCH_NAMES
    assert EVIDENCE_KINDS[("kubernetes", "terminations")] == "k8s_terminations"
    assert "events (cluster scope, Node, optional)" in RESOURCES["terminations"]
