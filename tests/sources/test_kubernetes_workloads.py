"""Workloads beyond Deployments: StatefulSet and DaemonSet rollouts, init and ephemeral containers.

The fake cluster (namespace ``prod``): StatefulSet ``queue`` (pods ``app=queue``)
midway through a rollout from revision ``queue-5c4`` (1, weeks old) to
``queue-7f9`` (2, 14:05); DaemonSet ``agent`` labelled ``team=infra`` whose pods
carry ``app=agent`` and whose ControllerRevisions are not labelled like them; a
StatefulSet ``db`` of another service that must never show up; and a pod
``queue-0`` with init containers (one that failed once before completing, one
that completed cleanly, a native sidecar, one not started yet) and an ephemeral
debug container.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from k8s_server import FakeKubeServer

from incident_lib.core.schema import validate
from incident_lib.core.time import Window
from incident_lib.sources.kubernetes import KubernetesSource
from incident_lib.sources.kubernetes.logs import log_targets
from incident_lib.sources.kubernetes.pods import pod_rows

NS = "prod"
WINDOW = Window(datetime(2026, 11, 3, 14, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))


def at(hh: int, mm: int, day: int = 3, month: int = 11) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=UTC)


def _meta(name: str, **kw):
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=NS, **kw)


def _owner(kind: str, name: str):
    from kubernetes import client

    return client.V1OwnerReference(
        api_version="apps/v1", kind=kind, name=name, uid=f"uid-{name}", controller=True
    )


def _template(app: str, image: str):
    from kubernetes import client

    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": app}),
        spec=client.V1PodSpec(containers=[client.V1Container(name=app, image=image)]),
    )


def statefulset(name: str, *, labels: dict[str, str], update: str, current: str):
    from kubernetes import client

    return client.V1StatefulSet(
        api_version="apps/v1",
        kind="StatefulSet",
        metadata=_meta(name, uid=f"uid-{name}", labels=labels),
        spec=client.V1StatefulSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": name}),
            service_name=name,
            template=_template(name, f"registry.example.com/{name}:2.0"),
        ),
        status=client.V1StatefulSetStatus(
            replicas=3,
            update_revision=update,
            current_revision=current,
            updated_replicas=1,
            current_replicas=2,
        ),
    )


def daemonset(name: str, *, labels: dict[str, str]):
    from kubernetes import client

    return client.V1DaemonSet(
        api_version="apps/v1",
        kind="DaemonSet",
        metadata=_meta(name, uid=f"uid-{name}", labels=labels),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=_template(name, f"registry.example.com/{name}:1.1"),
        ),
        status=client.V1DaemonSetStatus(
            current_number_scheduled=4,
            desired_number_scheduled=4,
            number_misscheduled=0,
            number_ready=4,
            updated_number_scheduled=4,
        ),
    )


def revision(
    name: str,
    owner_kind: str,
    owner: str,
    number: int,
    image: str,
    created: datetime,
    *,
    labels: dict[str, str] | None = None,
    managed: list[datetime] | None = None,
    cause: str | None = None,
):
    from kubernetes import client

    return client.V1ControllerRevision(
        api_version="apps/v1",
        kind="ControllerRevision",
        metadata=_meta(
            name,
            labels=labels,
            creation_timestamp=created,
            owner_references=[_owner(owner_kind, owner)],
            annotations={"kubernetes.io/change-cause": cause} if cause else None,
            managed_fields=[
                client.V1ManagedFieldsEntry(
                    manager="kube-controller-manager", operation="Update", time=moment
                )
                for moment in (managed if managed is not None else [created])
            ],
        ),
        revision=number,
        # the raw patch the controllers store, camelCase as the API serves it
        data={
            "spec": {
                "template": {
                    "$patch": "replace",
                    "spec": {"containers": [{"name": owner, "image": image}]},
                }
            }
        },
    )


def _status(name: str, *, state=None, last=None, restarts: int = 0, ready: bool = False):
    from kubernetes import client

    return client.V1ContainerStatus(
        name=name,
        image=f"{name}:1",
        image_id="",
        ready=ready,
        restart_count=restarts,
        state=state,
        last_state=last,
    )


def _terminated(reason: str, code: int, finished: datetime):
    from kubernetes import client

    return client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(
            reason=reason, exit_code=code, finished_at=finished, started_at=finished
        )
    )


def _running(started: datetime):
    from kubernetes import client

    return client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=started))


def _waiting(reason: str):
    from kubernetes import client

    return client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason=reason))


def queue_pod(name: str = "queue-0"):
    """A pod with every kind of container: app, init (failed once, clean, sidecar), ephemeral."""
    from kubernetes import client

    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=_meta(
            name, labels={"app": "queue"}, owner_references=[_owner("StatefulSet", "queue")]
        ),
        spec=client.V1PodSpec(
            node_name="node-a",
            containers=[client.V1Container(name="queue", image="queue:2.0")],
            init_containers=[
                client.V1Container(name="migrate", image="queue-migrate:2.0"),
                client.V1Container(name="wait-db", image="busybox"),
                client.V1Container(
                    name="proxy",
                    image="envoy",
                    restart_policy="Always",
                    resources=client.V1ResourceRequirements(limits={"memory": "64Mi"}),
                ),
            ],
            ephemeral_containers=[
                client.V1EphemeralContainer(
                    name="debugger", image="busybox", target_container_name="queue"
                )
            ],
        ),
        status=client.V1PodStatus(
            phase="Running",
            container_statuses=[_status("queue", state=_running(at(14, 6)), ready=True)],
            init_container_statuses=[
                _status(
                    "migrate",
                    state=_terminated("Completed", 0, at(14, 5)),
                    last=_terminated("OOMKilled", 137, at(14, 4)),
                    restarts=1,
                ),
                _status("wait-db", state=_terminated("Completed", 0, at(14, 5))),
                _status("proxy", state=_running(at(14, 5)), ready=True),
            ],
            ephemeral_container_statuses=[_status("debugger", state=_running(at(14, 20)))],
        ),
    )


def populate(kube: FakeKubeServer) -> None:
    kube.add(
        "statefulsets",
        NS,
        statefulset("queue", labels={"app": "queue"}, update="queue-7f9", current="queue-5c4"),
        statefulset("db", labels={"app": "db"}, update="db-111", current="db-111"),
    )
    kube.add("daemonsets", NS, daemonset("agent", labels={"team": "infra"}))
    kube.add(
        "controllerrevisions",
        NS,
        revision(
            "queue-5c4", "StatefulSet", "queue", 1, "registry.example.com/queue:1.9",
            at(10, 0, day=20, month=10), labels={"app": "queue"},
        ),
        revision(
            "queue-7f9", "StatefulSet", "queue", 2, "registry.example.com/queue:2.0",
            at(14, 5), labels={"app": "queue"}, cause="kubectl apply queue 2.0",
        ),
        revision("db-111", "StatefulSet", "db", 1, "postgres:16", at(9, 0), labels={"app": "db"}),
        revision("agent-8d1", "DaemonSet", "agent", 1, "agent:1.0", at(9, 0, day=1)),
        revision("agent-3e2", "DaemonSet", "agent", 2, "agent:1.1", at(14, 10)),
    )  # fmt: skip
    kube.add(
        "pods",
        NS,
        queue_pod(),
        _agent_pod("agent-x7k2p"),
    )


def _agent_pod(name: str):
    from kubernetes import client

    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=_meta(
            name, labels={"app": "agent"}, owner_references=[_owner("DaemonSet", "agent")]
        ),
        spec=client.V1PodSpec(containers=[client.V1Container(name="agent", image="agent:1.1")]),
    )


@pytest.fixture
def kube():
    with FakeKubeServer() as server:
        populate(server)
        yield server


def _source(kube: FakeKubeServer, selector: str) -> KubernetesSource:
    return KubernetesSource(
        namespace=NS, selector=selector, api_client=kube.api_client(), request_timeout=(5, 10)
    )


# -- StatefulSets and DaemonSets ------------------------------------------------------------
def test_statefulset_revisions_are_rollouts(kube):
    result = _source(kube, "app=queue").rollouts()
    frame = result.frame

    validate(frame, "rollouts")
    assert result.notes == ()
    assert list(frame["deployment"]) == ["queue", "queue"]  # never the db StatefulSet
    assert list(frame["replicaset"]) == ["queue-7f9", "queue-5c4"]
    assert list(frame["revision"]) == [2, 1]
    assert list(frame["current"]) == [True, False]  # status.updateRevision
    assert list(frame["replicas"]) == [1, 2]  # updatedReplicas, currentReplicas
    assert list(frame["images"]) == [
        "registry.example.com/queue:2.0",
        "registry.example.com/queue:1.9",
    ]
    new = frame.iloc[0]
    assert new["created_at"] == new["deployed_at"] == pd.Timestamp("2026-11-03T14:05:00Z")
    assert new["change_cause"] == "kubectl apply queue 2.0"

    (sts,) = kube.paths("/statefulsets")
    assert sts.path == f"/apis/apps/v1/namespaces/{NS}/statefulsets"
    assert sts.query["labelSelector"] == "app=queue"
    (revs,) = kube.paths("/controllerrevisions")  # labelled like the pods: one filtered list
    assert revs.query["labelSelector"] == "app=queue"
    assert not kube.paths("/events")  # no Deployment: no ScalingReplicaSet events to read


def test_a_rolled_back_statefulset_revision_went_live_at_its_renumbering(kube):
    """A rollback re-uses the old ControllerRevision: its managed fields say when."""
    revs = kube.objects[("controllerrevisions", NS)]
    revs[0] = revision(
        "queue-5c4", "StatefulSet", "queue", 3, "registry.example.com/queue:1.9",
        at(10, 0, day=20, month=10), labels={"app": "queue"},
        managed=[at(10, 0, day=20, month=10), at(14, 31)],
    )  # fmt: skip
    sts = kube.objects[("statefulsets", NS)][0]
    sts.status.update_revision = sts.status.current_revision = "queue-5c4"

    frame = _source(kube, "app=queue").rollouts().frame

    assert list(frame["replicaset"]) == ["queue-5c4", "queue-7f9"]
    back = frame.iloc[0]
    assert back["current"] and back["revision"] == 3
    assert back["created_at"] == pd.Timestamp("2026-10-20T10:00:00Z")
    assert back["deployed_at"] == pd.Timestamp("2026-11-03T14:31:00Z")


def test_daemonset_found_by_its_pods_owner_references(kube):
    frame = _source(kube, "app=agent").rollouts().frame

    assert list(frame["deployment"]) == ["agent", "agent"]
    assert list(frame["replicaset"]) == ["agent-3e2", "agent-8d1"]
    assert list(frame["current"]) == [True, False]  # the highest revision: the controller's
    assert list(frame["replicas"]) == [4, 0]
    assert list(frame["images"]) == ["agent:1.1", "agent:1.0"]
    # not labelled like the pods: the namespace's DaemonSets, then all revisions
    daemonsets = kube.paths("/daemonsets")
    assert [r.query.get("labelSelector") for r in daemonsets] == ["app=agent", None]
    revisions = kube.paths("/controllerrevisions")
    assert [r.query.get("labelSelector") for r in revisions] == ["app=agent", None]


def test_refused_controller_revisions_are_a_note_not_an_empty_history(kube):
    kube.fail(r"/controllerrevisions$", 403)

    result = _source(kube, "app=queue").rollouts()

    assert result.frame.empty
    (note,) = result.notes
    assert note.startswith("controllerrevisions.apps not readable (forbidden (403)")
    assert "'list' on 'controllerrevisions.apps'" in note
    assert "the revisions of StatefulSet queue are unknown" in note


def test_refused_statefulsets_are_a_note_and_deployments_still_read(kube):
    from test_kubernetes import populate as populate_api

    populate_api(kube)
    kube.fail(r"/statefulsets$", 403)

    result = _source(kube, "app=api").rollouts()

    assert set(result.frame["deployment"]) == {"api"}
    (note,) = result.notes
    assert note.startswith("statefulsets.apps not readable (forbidden (403)")


def test_no_workload_at_all_reads_no_revisions(kube):
    result = _source(kube, "app=nothing").rollouts()

    assert result.frame.empty and result.notes == ()
    assert not kube.paths("/controllerrevisions")


# -- init and ephemeral containers --------------------------------------------------------
def test_init_and_ephemeral_containers_have_pod_rows():
    rows = {r["container"]: r for r in pod_rows(queue_pod())}

    assert list(rows) == ["queue", "migrate", "wait-db", "proxy", "debugger"]
    migrate = rows["migrate"]  # OOMKilled once, then completed: the OOMKill counts
    assert (migrate["restarts"], migrate["ready"]) == (1, True)
    assert migrate["last_termination_reason"] == "OOMKilled"
    assert migrate["last_termination_at"] == at(14, 4)
    clean = rows["wait-db"]  # completing is how an init container ends: no termination
    assert (clean["ready"], clean["restarts"], clean["last_termination_reason"]) == (True, 0, None)
    sidecar = rows["proxy"]
    assert sidecar["ready"] and sidecar["started_at"] == at(14, 5)
    assert sidecar["memory_limit"] == 64 * 2**20
    debugger = rows["debugger"]
    assert debugger["ready"] and debugger["last_termination_reason"] is None


def test_a_crashing_init_container_is_not_ready_and_reported(kube):
    pod = queue_pod()
    pod.status.phase = "Pending"
    pod.status.init_container_statuses[0] = _status(
        "migrate",
        state=_waiting("CrashLoopBackOff"),
        last=_terminated("Error", 1, at(14, 9)),
        restarts=4,
    )
    kube.objects[("pods", NS)][0] = pod

    frame = _source(kube, "app=queue").pods()

    validate(frame, "pods")
    row = frame.set_index("container").loc["migrate"]
    assert (row["ready"], row["restarts"], row["last_termination_reason"]) == (False, 4, "Error")
    assert row["phase"] == "Pending"


def test_logs_of_init_and_ephemeral_containers_are_read(kube):
    pod = queue_pod()
    pod.spec.init_containers.append(_container("later"))
    pod.status.init_container_statuses.append(_status("later", state=_waiting("PodInitializing")))

    keys = [t.key for t in log_targets(pod)]

    assert keys == [
        "queue-0/queue",
        "queue-0/migrate (previous)",
        "queue-0/migrate",
        "queue-0/wait-db",
        "queue-0/proxy",
        "queue-0/debugger",
    ]  # "later" has not run: it has no log yet

    kube.objects[("pods", NS)] = [pod]
    kube.add_log(NS, "queue-0", "queue", [(at(14, 10), "queue ready")])
    kube.add_log(
        NS,
        "queue-0",
        "migrate",
        [
            (
                at(
                    14,
                    4,
                ),
                "applying migration 42",
            )
        ],
        previous=True,
    )
    kube.add_log(NS, "queue-0", "migrate", [(at(14, 5), "migration 42 done")])
    kube.add_log(NS, "queue-0", "debugger", [(at(14, 21), "/ # ps")])

    fetched = _source(kube, "app=queue").logs(WINDOW, progress=False)

    assert set(fetched.frame["container"]) == {"queue", "migrate", "debugger"}
    asked = {(r.query["container"], r.query.get("previous", "-")) for r in kube.paths("/log")}
    assert ("migrate", "true") in asked and ("later", "-") not in asked


def _container(name: str):
    from kubernetes import client

    return client.V1Container(name=name, image="busybox")
