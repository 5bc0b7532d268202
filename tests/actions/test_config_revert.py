"""ConfigMap revert against the fake API server: back to the content of its last kubectl apply.

The fake cluster (namespace ``prod``): ConfigMap ``api-config`` last applied with
``pool_size: "20"``, ``timeout: "5s"``, ``db_password: "applied-Pa55"``, then patched
(``pool_size: "5"``, ``db_password: "patched-Pa55"``, a new key ``debug``);
``synced-config`` whose data is what was applied; ``bare-config`` with no
annotation; ``frozen-config`` immutable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from k8s_server import MERGE_PATCH, FakeKubeServer
from test_acting import INCIDENT

from incident_lib.acting import take_action
from incident_lib.actions import KubernetesActor
from incident_lib.core.actions import Action
from incident_lib.core.errors import ActionRefused
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import create_workspace

NS = "prod"
NOW = datetime(2026, 11, 3, 14, 40, tzinfo=UTC)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
APPLIED = {"pool_size": "20", "timeout": "5s", "db_password": "applied-Pa55"}
LIVE = {"pool_size": "5", "timeout": "5s", "db_password": "patched-Pa55", "debug": "true"}


def configmap(name: str, data: dict[str, str], applied: dict[str, str] | None, **kw):
    from kubernetes import client

    annotations = {"team": "payments"}
    if applied is not None:
        manifest = {"apiVersion": "v1", "kind": "ConfigMap", "data": applied}
        manifest["metadata"] = {"name": name, "namespace": NS}
        annotations[LAST_APPLIED] = json.dumps(manifest)
    return client.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=client.V1ObjectMeta(
            name=name, namespace=NS, resource_version="31", annotations=annotations
        ),
        data=data,
        **kw,
    )


@pytest.fixture
def kube() -> Iterator[FakeKubeServer]:
    with FakeKubeServer() as server:
        server.add(
            "configmaps",
            NS,
            configmap("api-config", LIVE, APPLIED),
            configmap("synced-config", {"a": "1"}, {"a": "1"}),
            configmap("bare-config", {"a": "1"}, None),
            configmap("frozen-config", {"a": "2"}, {"a": "1"}, immutable=True),
        )
        yield server


def actor(kube: FakeKubeServer) -> KubernetesActor:
    return KubernetesActor(api_client=kube.api_client(), clock=lambda: NOW)


def revert(name: str = "api-config") -> Action:
    return Action(kind="config_revert", workload=f"ConfigMap/{name}", namespace=NS)


def test_the_plan_is_a_merge_patch_back_to_the_applied_content(kube):
    plan = actor(kube).plan(revert())
    assert kube.writes() == []
    assert plan.content_type == MERGE_PATCH and plan.resource_version == "31"
    assert json.loads(plan.patch) == {
        "metadata": {"resourceVersion": "31"},
        "data": {"pool_size": "20", "db_password": "applied-Pa55", "debug": None},
    }
    assert plan.summary == (
        "ConfigMap/api-config back to the content of its last kubectl apply: "
        "db_password, debug, pool_size"
    )
    assert "-  pool_size: '5'" in plan.diff and "+  pool_size: '20'" in plan.diff
    assert "-  debug: 'true'" in plan.diff
    assert plan.command.startswith("kubectl patch configmap/api-config --type=merge -p ")


def test_secret_looking_values_are_hidden_in_what_is_shown(kube):
    plan = actor(kube).plan(revert())
    shown = plan.diff + plan.command + plan.summary
    assert "db_password: '[redacted]'" in plan.diff
    assert "Pa55" not in shown


def test_apply_sends_exactly_the_plan_and_the_data_is_the_applied_one(kube):
    a = actor(kube)
    plan = a.plan(revert())
    assert a.dry_run(plan).startswith("server-side dry run accepted")
    assert kube.get("configmaps", NS, "api-config")["data"] == LIVE  # the dry run stored nothing
    result = a.apply(plan, confirm=True, target="api-config", by="alice")
    dry, write = kube.writes()
    assert dry.query == {"dryRun": "All"} and write.query == {}
    assert write.method == "PATCH" and write.path == "/api/v1/namespaces/prod/configmaps/api-config"
    assert write.headers["content-type"] == MERGE_PATCH
    assert write.json() == json.loads(plan.patch)
    assert result.outcome == "applied" and result.by == "alice"
    stored = kube.get("configmaps", NS, "api-config")
    assert stored["data"] == APPLIED
    assert stored["metadata"]["annotations"]["team"] == "payments"  # nothing else touched
    followed = a.follow(plan)
    assert followed.outcome == "applied" and "environment variables" in followed.message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bare-config", "no readable kubectl.kubernetes.io/last-applied-configuration"),
        ("synced-config", "already holds the content of its last kubectl apply"),
        ("frozen-config", "is immutable"),
        ("missing-config", "not found"),
    ],
)
def test_refusals_say_why_and_write_nothing(kube, name, message):
    with pytest.raises(ActionRefused, match=message) as refused:
        actor(kube).plan(revert(name))
    assert kube.writes() == []
    if name != "missing-config":
        assert "nothing was changed" in str(refused.value)


def test_a_revert_of_what_is_not_a_configmap_is_refused(kube):
    wrong = Action(kind="config_revert", workload="Deployment/api", namespace=NS)
    with pytest.raises(ActionRefused, match="config_revert of a ConfigMap"):
        actor(kube).plan(wrong)
    scale = Action(kind="scale", workload="ConfigMap/api-config", namespace=NS, params={})
    with pytest.raises(ActionRefused, match="not a Kubernetes action"):
        actor(kube).plan(scale)


def test_a_configmap_changed_since_the_plan_is_refused(kube):
    a = actor(kube)
    plan = a.plan(revert())
    other = a.plan(revert())
    a.apply(other, confirm=True, target="api-config")  # someone else reverted it first
    with pytest.raises(ActionRefused, match="changed since the plan"):
        a.apply(plan, confirm=True, target="api-config")


def test_take_action_reverts_and_records_it_on_the_timeline(kube, tmp_path):
    workspace = create_workspace(INCIDENT, tmp_path / INCIDENT.id)
    taken = take_action(
        workspace,
        revert(),
        live=True,
        confirm=True,
        target="api-config",
        by="bob",
        actor=actor(kube),
        clock=lambda: NOW,
    )
    assert taken.result.outcome == "applied"
    assert kube.get("configmaps", NS, "api-config")["data"] == APPLIED
    assert taken.plan is not None and "Pa55" not in taken.plan.diff + taken.result.message
    (event,) = [e for e in TimelineStore(workspace).read() if e.source == "actions"]
    assert event.kind == "config_revert" and "by bob: applied" in event.summary
