"""The ``hpa`` frame: the service's HorizontalPodAutoscalers (autoscaling/v2), from the fake API.

The fake cluster (namespace ``prod``): Deployment ``api`` (pods ``app=api``) scaled by
HPA ``api`` at its maximum (10 of 10, ScalingLimited TooManyReplicas), a ``worker``
Deployment with its own HPA that must never show up, and a StatefulSet ``queue``
whose pods carry ``app=queue``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from k8s_server import FakeKubeServer

from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.incident import Incident
from incident_lib.core.schema import EVIDENCE_KINDS, validate
from incident_lib.core.time import Window
from incident_lib.sources.kubernetes import KubernetesConnector, KubernetesSource
from incident_lib.sources.kubernetes.connector import FETCH_NAMES, RESOURCES

NS = "prod"
T0 = datetime(2026, 11, 3, 13, 36, tzinfo=UTC)


def _meta(name: str, **kw):
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=NS, **kw)


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


def _pod(name: str, app: str, owner_kind: str, owner: str):
    from kubernetes import client

    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=_meta(
            name,
            labels={"app": app},
            owner_references=[
                client.V1OwnerReference(
                    api_version="apps/v1", kind=owner_kind, name=owner, uid=f"uid-{owner}"
                )
            ],
        ),
        spec=client.V1PodSpec(containers=[client.V1Container(name=app)]),
    )


def _resource_metric(name: str, utilization: int):
    from kubernetes import client

    return client.V2MetricSpec(
        type="Resource",
        resource=client.V2ResourceMetricSource(
            name=name,
            target=client.V2MetricTarget(type="Utilization", average_utilization=utilization),
        ),
    )


def _hpa(name: str, kind: str, target: str, *, current: int, desired: int, maximum: int):
    from kubernetes import client

    cond = client.V2HorizontalPodAutoscalerCondition
    limited = current >= maximum
    return client.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2",
        kind="HorizontalPodAutoscaler",
        metadata=_meta(name),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(
                api_version="apps/v1", kind=kind, name=target
            ),
            min_replicas=4,
            max_replicas=maximum,
            metrics=[
                _resource_metric("cpu", 70),
                client.V2MetricSpec(
                    type="Pods",
                    pods=client.V2PodsMetricSource(
                        metric=client.V2MetricIdentifier(name="http_requests_per_second"),
                        target=client.V2MetricTarget(type="AverageValue", average_value="50"),
                    ),
                ),
            ],
        ),
        status=client.V2HorizontalPodAutoscalerStatus(
            current_replicas=current,
            desired_replicas=desired,
            current_metrics=[
                client.V2MetricStatus(
                    type="Resource",
                    resource=client.V2ResourceMetricStatus(
                        name="cpu", current=client.V2MetricValueStatus(average_utilization=92)
                    ),
                )
            ],
            conditions=[
                cond(
                    type="AbleToScale",
                    status="True",
                    reason="ReadyForNewScale",
                    message="recommended size matches current size",
                    last_transition_time=T0,
                ),
                cond(
                    type="ScalingActive",
                    status="True",
                    reason="ValidMetricFound",
                    message="the HPA was able to successfully calculate a replica count",
                    last_transition_time=T0,
                ),
                cond(
                    type="ScalingLimited",
                    status="True" if limited else "False",
                    reason="TooManyReplicas" if limited else "DesiredWithinRange",
                    message="the desired replica count is more than the maximum replica count"
                    if limited
                    else "the desired count is within the acceptable range",
                    last_transition_time=T0,
                ),
            ],
        ),
    )


def populate(kube: FakeKubeServer) -> None:
    kube.add("deployments", NS, _deployment("api"), _deployment("worker"))
    kube.add(
        "pods",
        NS,
        _pod("api-5d8f7-aaaaa", "api", "ReplicaSet", "api-5d8f7"),
        _pod("worker-6c5d4-zzzzz", "worker", "ReplicaSet", "worker-6c5d4"),
        _pod("queue-0", "queue", "StatefulSet", "queue"),
    )
    kube.add(
        "hpas",
        NS,
        _hpa("api", "Deployment", "api", current=10, desired=10, maximum=10),
        _hpa("worker", "Deployment", "worker", current=2, desired=2, maximum=6),
        _hpa("queue", "StatefulSet", "queue", current=3, desired=3, maximum=8),
    )


@pytest.fixture
def kube():
    with FakeKubeServer() as server:
        populate(server)
        yield server


def _source(kube: FakeKubeServer, selector: str = "app=api") -> KubernetesSource:
    return KubernetesSource(
        namespace=NS, selector=selector, api_client=kube.api_client(), request_timeout=(5, 10)
    )


def test_hpa_rows_of_the_service_only_one_per_condition(kube):
    before = datetime.now(UTC)
    frame = _source(kube).hpas()

    validate(frame, "hpa")
    assert set(frame["hpa"]) == {"api"}  # the worker's HPA is another service's
    assert list(frame["condition"]) == ["AbleToScale", "ScalingActive", "ScalingLimited"]
    row = frame.iloc[-1]
    assert (row.target, row.min_replicas, row.max_replicas) == ("Deployment/api", 4, 10)
    assert (row.current_replicas, row.desired_replicas) == (10, 10)
    assert (row.status, row.reason) == ("True", "TooManyReplicas")
    assert row.message == "the desired replica count is more than the maximum replica count"
    assert row.transitioned_at == T0
    # metrics as text, current against target; a metric not read yet shows "?"
    assert row.metrics == "cpu 92%/70%, http_requests_per_second ?/50"
    assert row.captured_at >= before


def test_hpa_of_a_statefulset_owning_the_pods(kube):
    frame = _source(kube, "app=queue").hpas()

    assert set(frame["hpa"]) == {"queue"}
    assert set(frame["target"]) == {"StatefulSet/queue"}
    assert (frame["status"][frame["condition"] == "ScalingLimited"] == "False").all()


def test_no_autoscaler_is_an_empty_frame(kube):
    kube.objects[("hpas", NS)].clear()

    frame = _source(kube).hpas()

    validate(frame, "hpa")
    assert frame.empty


def test_an_autoscaler_without_conditions_gives_one_row(kube):
    hpa = _hpa("api", "Deployment", "api", current=4, desired=4, maximum=10)
    hpa.status.conditions = None
    hpa.status.current_metrics = None
    kube.objects[("hpas", NS)][:] = [hpa]

    frame = _source(kube).hpas()

    assert len(frame) == 1
    assert frame["metrics"].iloc[0] == "cpu ?/70%, http_requests_per_second ?/50"
    assert frame["condition"].isna().all()


def test_a_cluster_without_autoscaling_v2_is_unavailable_with_a_clear_reason(kube):
    kube.fail(r"^/apis/autoscaling/", 404)

    with pytest.raises(SourceUnavailable) as caught:
        _source(kube).hpas()

    assert "autoscaling/v2 is not served by this cluster" in caught.value.reason


def test_forbidden_autoscalers_name_the_rbac_rule(kube):
    kube.fail(r"^/apis/autoscaling/", 403)

    with pytest.raises(SourceUnavailable) as caught:
        _source(kube).hpas()

    assert "horizontalpodautoscalers" in caught.value.reason


def test_the_connector_provides_the_hpa_frame():
    assert "hpa" in FETCH_NAMES and EVIDENCE_KINDS[("kubernetes", "hpa")] == "hpa"
    incident = Incident.create(
        id="INC-1", title="t", service="api", namespace=NS, severity="SEV2", start=T0
    )
    window = Window(T0, datetime(2026, 11, 3, 14, 36, tzinfo=UTC))
    query = KubernetesConnector(environ={}).query("hpa", incident, window)
    assert query["resource"] == RESOURCES["hpa"]
    assert "horizontalpodautoscalers" in query["resource"]
