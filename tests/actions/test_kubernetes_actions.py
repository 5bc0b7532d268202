"""Kubernetes actions against the fake API server: the exact writes, and none unless confirmed.

The fake cluster (namespace ``prod``): Deployment ``api`` at revision 42
(``api:v2.34``, 4 replicas, resourceVersion 7) with the ReplicaSets of revisions
40, 41 (``api:v2.33``) and 42, and a ReplicaSet of another Deployment; StatefulSet
``db`` at ControllerRevision 3 (``db:16.2``) with revision 2 (``db:16.1``); the
DaemonSet ``agent``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from k8s_server import MERGE_PATCH, STRATEGIC_MERGE_PATCH, FakeKubeServer

from incident_lib.actions import KubernetesActor
from incident_lib.core.actions import Action, action_event
from incident_lib.core.errors import ActionRefused

NS = "prod"
NOW = datetime(2026, 11, 3, 14, 40, tzinfo=UTC)
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQ0RFRkcxMjM0NTY3ODkwIn0.payloadXyZ123"


def _template(app: str, image: str, *, hash_: str | None = None, env: str = "", limits=None):
    from kubernetes import client

    labels = {"app": app} | ({"pod-template-hash": hash_} if hash_ else {})
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name=app,
                    image=image,
                    env=[client.V1EnvVar(name="API_TOKEN", value=env)] if env else None,
                    resources=client.V1ResourceRequirements(
                        requests={"cpu": "250m", "memory": "256Mi"}, limits=limits
                    ),
                )
            ]
        ),
    )


def _owner(kind: str, name: str):
    from kubernetes import client

    return client.V1OwnerReference(
        api_version="apps/v1", kind=kind, name=name, uid=f"uid-{name}", controller=True
    )


def deployment():
    from kubernetes import client

    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=client.V1ObjectMeta(
            name="api",
            namespace=NS,
            uid="uid-api",
            resource_version="7",
            generation=12,
            annotations={
                "deployment.kubernetes.io/revision": "42",
                "kubernetes.io/change-cause": "deploy v2.34",
            },
        ),
        spec=client.V1DeploymentSpec(
            replicas=4,
            selector=client.V1LabelSelector(match_labels={"app": "api"}),
            template=_template("api", "registry/api:v2.34", env=TOKEN, limits={"memory": "512Mi"}),
        ),
        status=client.V1DeploymentStatus(
            observed_generation=12, replicas=4, updated_replicas=4, ready_replicas=4
        ),
    )


def replicaset(
    name: str, revision: int, image: str, *, owner: str = "api", cause: str = "", env: str = TOKEN
):
    from kubernetes import client

    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return client.V1ReplicaSet(
        metadata=client.V1ObjectMeta(
            name=name,
            namespace=NS,
            labels={"app": "api", "pod-template-hash": name[-5:]},
            annotations=annotations,
            owner_references=[_owner("Deployment", owner)],
        ),
        spec=client.V1ReplicaSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": "api"}),
            template=_template("api", image, hash_=name[-5:], env=env, limits={"memory": "512Mi"}),
        ),
    )


def statefulset():
    from kubernetes import client

    return client.V1StatefulSet(
        metadata=client.V1ObjectMeta(
            name="db", namespace=NS, uid="uid-db", resource_version="30", generation=3
        ),
        spec=client.V1StatefulSetSpec(
            replicas=3,
            service_name="db",
            selector=client.V1LabelSelector(match_labels={"app": "db"}),
            template=_template("db", "db:16.2"),
        ),
    )


def revision(number: int, image: str):
    from kubernetes import client

    template = client.ApiClient().sanitize_for_serialization(_template("db", image))
    return client.V1ControllerRevision(
        metadata=client.V1ObjectMeta(
            name=f"db-{number}abc",
            namespace=NS,
            labels={"app": "db"},
            owner_references=[_owner("StatefulSet", "db")],
        ),
        revision=number,
        data={"spec": {"template": {**template, "$patch": "replace"}}},
    )


@contextlib.contextmanager
def fake_cluster() -> Iterator[FakeKubeServer]:
    """The fake cluster of the module docstring, served while the block runs."""
    from kubernetes import client

    with FakeKubeServer() as server:
        server.add("deployments", NS, deployment())
        server.add(
            "replicasets",
            NS,
            replicaset("api-aaaa1", 40, "registry/api:v2.32", env=TOKEN[::-1]),
            replicaset("api-bbbb2", 41, "registry/api:v2.33", cause="deploy v2.33"),
            replicaset("api-cccc3", 42, "registry/api:v2.34", cause="deploy v2.34"),
            replicaset("web-dddd4", 41, "registry/web:v9", owner="web"),
        )
        server.add("statefulsets", NS, statefulset())
        server.add("controllerrevisions", NS, revision(2, "db:16.1"), revision(3, "db:16.2"))
        server.add(
            "daemonsets",
            NS,
            client.V1DaemonSet(
                metadata=client.V1ObjectMeta(name="agent", namespace=NS),
                spec=client.V1DaemonSetSpec(
                    selector=client.V1LabelSelector(match_labels={"app": "agent"}),
                    template=_template("agent", "agent:1"),
                ),
            ),
        )
        yield server


@pytest.fixture
def kube():
    with fake_cluster() as server:
        yield server


def actor(kube: FakeKubeServer, **kw) -> KubernetesActor:
    return KubernetesActor(api_client=kube.api_client(), clock=lambda: NOW, **kw)


def act(kind: str, workload: str = "Deployment/api", **params: str) -> Action:
    return Action(kind=kind, workload=workload, namespace=NS, params=params)  # type: ignore[arg-type]


# -- plans: what would change, and no write ----------------------------------------------
def test_rollback_plan_is_kubectl_rollout_undo_as_a_merge_patch(kube):
    plan = actor(kube).plan(act("rollback"))
    assert kube.writes() == []
    assert plan.resource_version == "7"
    assert plan.content_type == MERGE_PATCH
    patch = json.loads(plan.patch)
    assert patch["metadata"] == {
        "resourceVersion": "7",
        "annotations": {"kubernetes.io/change-cause": "deploy v2.33"},
    }
    # only the image differs: the containers list is replaced whole (merge patch), and the
    # pod-template-hash label of the ReplicaSet is not patched onto the Deployment
    assert set(patch["spec"]["template"]) == {"spec"}
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry/api:v2.33"
    assert "pod-template-hash" not in plan.patch
    assert plan.command == "kubectl rollout undo deployment/api --to-revision=41 -n prod"
    assert plan.summary == "revision 42 -> 41: image registry/api:v2.34 -> registry/api:v2.33"
    assert "-      - image: registry/api:v2.34" in plan.diff
    assert "+      - image: registry/api:v2.33" in plan.diff
    assert "kubernetes.io/change-cause: deploy v2.33" in plan.diff
    assert TOKEN not in plan.diff  # env values of secret-looking names are hidden


def test_dry_run_asks_the_server_and_stores_nothing(kube):
    a = actor(kube)
    plan = a.plan(act("rollback", revision="40"))
    text = a.dry_run(plan)
    (write,) = kube.writes()
    assert write.method == "PATCH" and write.query == {"dryRun": "All"}
    assert write.path == "/apis/apps/v1/namespaces/prod/deployments/api"
    assert write.headers["content-type"] == MERGE_PATCH
    assert write.json() == json.loads(plan.patch)
    assert text.startswith("server-side dry run accepted") and "resourceVersion 8" in text
    stored = kube.get("deployments", NS, "api")
    assert stored["metadata"]["resourceVersion"] == "7"
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"].endswith("v2.34")


def test_the_diff_hides_secret_looking_env_values(kube):
    plan = actor(kube).plan(act("rollback", revision="40"))
    assert "name: API_TOKEN" in plan.diff and "value: '[redacted]'" in plan.diff
    assert TOKEN not in plan.diff and TOKEN[::-1] not in plan.diff
    assert TOKEN not in plan.summary + plan.command


def test_apply_without_confirm_or_with_another_target_writes_nothing(kube):
    a = actor(kube)
    plan = a.plan(act("rollback"))
    result = a.apply(plan)
    assert result.outcome == "planned" and result.dry_run
    assert "target='api'" in result.message
    with pytest.raises(ActionRefused, match="target='api', not 'web'; nothing was changed"):
        a.apply(plan, confirm=True, target="web")
    with pytest.raises(ActionRefused, match="exactly to apply it: target='api'; nothing"):
        a.apply(plan, confirm=True)
    assert kube.writes() == []
    assert action_event(result).kind == "dry_rollback"


def test_apply_rolls_back_exactly(kube):
    a = actor(kube)
    plan = a.plan(act("rollback"))
    result = a.apply(plan, confirm=True, target="api", by="alice")
    (write,) = kube.writes()
    assert write.query == {} and write.headers["content-type"] == MERGE_PATCH
    assert write.json() == json.loads(plan.patch)
    assert result.outcome == "applied" and not result.dry_run and result.by == "alice"
    assert "resourceVersion 8, generation 13" in result.message
    stored = kube.get("deployments", NS, "api")
    template = stored["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "registry/api:v2.33"
    assert template["metadata"]["labels"] == {"app": "api"}
    assert stored["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "42",
        "kubernetes.io/change-cause": "deploy v2.33",
    }
    assert action_event(result).kind == "rollback"


def test_statefulset_rollback_sends_the_controller_revision(kube):
    a = actor(kube)
    plan = a.plan(act("rollback", "StatefulSet/db"))
    assert plan.content_type == STRATEGIC_MERGE_PATCH
    patch = json.loads(plan.patch)
    assert patch["metadata"] == {"resourceVersion": "30"}
    assert patch["spec"]["template"]["$patch"] == "replace"
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "db:16.1"
    assert plan.command == "kubectl rollout undo statefulset/db --to-revision=2 -n prod"
    a.apply(plan, confirm=True, target="db")
    (write,) = kube.writes()
    assert write.path == "/apis/apps/v1/namespaces/prod/statefulsets/db"
    assert write.headers["content-type"] == STRATEGIC_MERGE_PATCH
    stored = kube.get("statefulsets", NS, "db")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "db:16.1"


def test_scale_patches_the_scale_subresource(kube):
    a = actor(kube)
    plan = a.plan(act("scale", replicas="8"))
    assert [r.path for r in kube.requests] == [
        "/apis/apps/v1/namespaces/prod/deployments/api",
        "/apis/apps/v1/namespaces/prod/deployments/api/scale",
    ]
    assert plan.summary == "replicas 4 -> 8"
    assert "-  replicas: 4\n+  replicas: 8" in plan.diff
    assert plan.command == (
        "kubectl scale deployment/api --replicas=8 --resource-version=7 -n prod"
    )
    a.apply(plan, confirm=True, target="api")
    (write,) = kube.writes()
    assert write.path.endswith("/deployments/api/scale")
    assert write.headers["content-type"] == MERGE_PATCH
    assert write.json() == {"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 8}}
    assert kube.get("deployments", NS, "api")["spec"]["replicas"] == 8


def test_restart_sets_the_restarted_at_annotation(kube):
    a = actor(kube)
    plan = a.plan(act("restart"))
    assert plan.command == "kubectl rollout restart deployment/api -n prod"
    a.apply(plan, confirm=True, target="api")
    (write,) = kube.writes()
    assert write.headers["content-type"] == STRATEGIC_MERGE_PATCH
    assert write.json() == {
        "metadata": {"resourceVersion": "7"},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-03T14:40:00Z"}
                }
            }
        },
    }


def test_set_limit_merges_into_the_named_container(kube):
    a = actor(kube)
    plan = a.plan(act("set_limit", container="api", memory="768Mi", cpu="1"))
    assert plan.summary == "container api limits: cpu none -> 1, memory 512Mi -> 768Mi"
    assert plan.command == (
        "kubectl set resources deployment/api -c api --limits=cpu=1,memory=768Mi -n prod"
    )
    a.apply(plan, confirm=True, target="api")
    (write,) = kube.writes()
    assert write.headers["content-type"] == STRATEGIC_MERGE_PATCH
    assert write.json()["spec"] == {
        "template": {
            "spec": {
                "containers": [
                    {"name": "api", "resources": {"limits": {"cpu": "1", "memory": "768Mi"}}}
                ]
            }
        }
    }
    container = kube.get("deployments", NS, "api")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry/api:v2.34"  # merged by name, nothing else lost
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "768Mi"}


# -- refusals before any write --------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "message"),
    [
        (act("rollback", "Deployment/nope"), "unknown workload: Deployment/nope not found"),
        (
            act("rollback", revision="39"),
            r"revision 39 of Deployment/api does not exist.*40, 41, 42",
        ),
        (act("rollback", revision="42"), "revision 42 is the current one"),
        (act("scale", replicas="0"), "refused unless allow_zero='true'"),
        (act("scale", replicas="4"), "already has 4 replicas"),
        (act("scale", replicas="-1"), "give a whole number"),
        (act("scale", "DaemonSet/agent", replicas="3"), "cannot be scaled"),
        (act("set_limit", container="web", memory="1Gi"), "name one of api"),
        (act("set_limit", container="api", memory="lots"), "not a Kubernetes quantity"),
        (act("set_limit", container="api", memory="128Mi"), "below its request 256Mi"),
        (act("rollback", "StatefulSet/db", revision="3"), "revision 3 is the current one"),
        (act("config_revert", "ConfigMap/api-config"), "ConfigMap/api-config not found"),
    ],
)
def test_refusals_come_before_any_write(kube, action, message):
    with pytest.raises(ActionRefused, match=message):
        actor(kube).plan(action)
    assert kube.writes() == []


def test_scale_to_zero_needs_allow_zero(kube):
    plan = actor(kube).plan(act("scale", replicas="0", allow_zero="true"))
    assert plan.summary == "replicas 4 -> 0"


def test_an_object_changed_since_the_plan_is_refused(kube):
    a = actor(kube)
    plan = a.plan(act("rollback"))
    a.apply(a.plan(act("restart")), confirm=True, target="api")  # someone else changed it
    before = kube.get("deployments", NS, "api")
    with pytest.raises(ActionRefused, match="changed since the plan"):
        a.apply(plan, confirm=True, target="api")
    assert kube.writes()[-1].json()["metadata"]["resourceVersion"] == "7"
    assert kube.get("deployments", NS, "api") == before
    assert "changed since the plan" in a.dry_run(plan)


def test_rbac_forbidden_names_the_verb_and_resource(kube):
    a = actor(kube)
    plan = a.plan(act("scale", replicas="6"))
    kube.fail(r"/deployments/api/scale$", 403)
    with pytest.raises(ActionRefused, match=r"RBAC must allow 'patch' on 'deployments/scale'"):
        a.apply(plan, confirm=True, target="api")
    assert kube.get("deployments", NS, "api")["spec"]["replicas"] == 4
    assert "forbidden (403)" in a.dry_run(plan)


def test_without_write_credentials_nothing_is_applied(kube):
    a = actor(kube, can_write=False)
    plan = a.plan(act("restart"))
    with pytest.raises(ActionRefused, match="set INCIDENT_KUBE_WRITE_CONTEXT"):
        a.apply(plan, confirm=True, target="api")
    assert kube.writes() == []


def test_from_environment_uses_the_write_context(tmp_path, kube):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": kube.url}}],
        "users": [
            {"name": "reader", "user": {"token": "r"}},
            {"name": "writer", "user": {"token": "w"}},
        ],
        "contexts": [
            {"name": "read", "context": {"cluster": "c", "user": "reader"}},
            {"name": "write", "context": {"cluster": "c", "user": "writer"}},
        ],
        "current-context": "read",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    with KubernetesActor.from_environment(environ={"KUBECONFIG": str(path)}) as reader:
        assert not reader.can_write
        reader.plan(act("restart"))
    assert kube.requests[-1].headers["authorization"] == "Bearer r"
    environ = {"KUBECONFIG": str(path), "INCIDENT_KUBE_WRITE_CONTEXT": "write"}
    with KubernetesActor.from_environment(environ=environ) as writer:
        assert writer.can_write
        writer.plan(act("restart"))
    assert kube.requests[-1].headers["authorization"] == "Bearer w"


# -- follow -------------------------------------------------------------------------------
def test_follow_until_the_rollout_completes(kube):
    a = actor(kube)
    plan = a.plan(act("rollback"))
    a.apply(plan, confirm=True, target="api")
    kube.script_status(
        "deployments",
        NS,
        "api",
        {"observedGeneration": 12, "replicas": 4, "updatedReplicas": 4, "readyReplicas": 4},
        {"observedGeneration": 13, "replicas": 5, "updatedReplicas": 1, "readyReplicas": 4},
        {"observedGeneration": 13, "replicas": 4, "updatedReplicas": 4, "readyReplicas": 4},
    )
    seen: list[str] = []
    rollout = a.follow(plan, timeout_s=5, poll_s=0.01, progress=seen.append)
    assert rollout.outcome == "applied"
    assert str(rollout).startswith("rollout of Deployment/api complete: 4/4 updated, 4 ready")
    assert seen == [
        "4/4 updated, 4 ready (change not yet seen by the controller)",
        "1/4 updated, 4 ready, 4 old",
        "4/4 updated, 4 ready",
    ]


def test_follow_times_out(kube):
    a = actor(kube)
    plan = a.plan(act("restart"))
    a.apply(plan, confirm=True, target="api")
    kube.script_status(
        "deployments",
        NS,
        "api",
        {"observedGeneration": 13, "replicas": 5, "updatedReplicas": 1, "readyReplicas": 3},
    )
    rollout = a.follow(plan, timeout_s=0.05, poll_s=0.01)
    assert rollout.outcome == "timed_out"
    assert "not complete after 0s: 1/4 updated, 3 ready, 4 old" in rollout.message
    assert "kubectl rollout status deployment/api -n prod" in rollout.message
