"""The ``k8s_endpoints`` frame: the namespace's Services and their EndpointSlices (fake API).

Namespace ``prod``: Service ``api`` with two ready pods and one not ready, listed in an
IPv4 and an IPv6 slice (dual stack: each pod counted once); ``payments`` whose only pod
is terminating; ``orders`` with no slice at all; ``legacy`` an ExternalName Service;
and a slice of another Service that no longer exists.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from k8s_server import FakeKubeServer

from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.schema import EVIDENCE_KINDS, validate
from incident_lib.sources.kubernetes import KubernetesSource
from incident_lib.sources.kubernetes.endpoints import endpoint_rows, read_endpoints

NS = "prod"
NOW = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def _service(name: str, *, kind: str = "ClusterIP", port: int = 80, target: int = 8080):
    from kubernetes import client

    return client.V1Service(
        api_version="v1",
        kind="Service",
        metadata=client.V1ObjectMeta(name=name, namespace=NS),
        spec=client.V1ServiceSpec(
            type=kind,
            external_name="legacy.example.com" if kind == "ExternalName" else None,
            ports=[client.V1ServicePort(name="http", port=port, target_port=target)],
        ),
    )


def _endpoint(pod: str, address: str, *, ready: bool | None, terminating: bool = False):
    from kubernetes import client

    return client.V1Endpoint(
        addresses=[address],
        conditions=client.V1EndpointConditions(ready=ready, serving=ready, terminating=terminating),
        target_ref=client.V1ObjectReference(kind="Pod", namespace=NS, name=pod),
    )


def _slice(name: str, service: str, family: str, *endpoints):
    from kubernetes import client

    return client.V1EndpointSlice(
        api_version="discovery.k8s.io/v1",
        kind="EndpointSlice",
        address_type=family,
        metadata=client.V1ObjectMeta(
            name=name, namespace=NS, labels={"kubernetes.io/service-name": service}
        ),
        endpoints=list(endpoints),
        ports=[client.DiscoveryV1EndpointPort(name="http", port=8080, protocol="TCP")],
    )


def _objects():
    services = [
        _service("api"),
        _service("payments"),
        _service("orders", port=5432, target=5432),
        _service("legacy", kind="ExternalName"),
    ]
    slices = [
        _slice(
            "api-v4",
            "api",
            "IPv4",
            _endpoint("api-1", "10.0.0.1", ready=True),
            _endpoint("api-2", "10.0.0.2", ready=None),  # unset: ready
            _endpoint("api-3", "10.0.0.3", ready=False),
        ),
        _slice(
            "api-v6",
            "api",
            "IPv6",
            _endpoint("api-1", "fd00::1", ready=True),
            _endpoint("api-3", "fd00::3", ready=False),
        ),
        _slice(
            "payments-x",
            "payments",
            "IPv4",
            _endpoint("payments-1", "10.0.1.1", ready=False, terminating=True),
        ),
        _slice("gone-x", "gone", "IPv4", _endpoint("gone-1", "10.0.2.1", ready=True)),
    ]
    return services, slices


def test_rows_count_each_endpoint_once_per_service():
    services, slices = _objects()
    rows = {r["service"]: r for r in endpoint_rows(services, slices, NOW)}
    assert sorted(rows) == ["api", "orders", "payments"]  # no ExternalName, no gone Service
    assert (rows["api"]["ready"], rows["api"]["not_ready"], rows["api"]["terminating"]) == (
        2,
        1,
        0,
    )
    assert rows["api"]["ports"] == "8080/TCP (http)"
    assert (rows["payments"]["ready"], rows["payments"]["terminating"]) == (0, 1)
    assert rows["orders"] == {
        "service": "orders",
        "ready": 0,
        "not_ready": 0,
        "terminating": 0,
        "ports": "5432/TCP (http)",
        "captured_at": NOW,
    }


@pytest.fixture
def kube():
    with FakeKubeServer() as server:
        services, slices = _objects()
        server.add("services", NS, *services)
        server.add("endpointslices", NS, *slices)
        server.add("services", "other", _service("elsewhere"))
        yield server


def _source(kube: FakeKubeServer) -> KubernetesSource:
    return KubernetesSource(namespace=NS, selector="app=api", api_client=kube.api_client())


def test_read_endpoints_from_the_api(kube):
    fetched = read_endpoints(_source(kube))
    assert EVIDENCE_KINDS[("kubernetes", "endpoints")] == "k8s_endpoints"
    frame = validate(fetched.frame, "k8s_endpoints")
    assert list(frame["service"]) == ["api", "orders", "payments"]
    assert list(frame["ready"]) == [2, 0, 0] and list(frame["terminating"]) == [0, 0, 1]
    assert fetched.notes == ("ExternalName Services have no endpoints to count: legacy",)
    paths = {r.path for r in kube.requests}
    assert paths == {
        f"/api/v1/namespaces/{NS}/services",
        f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices",
    }
    assert all(r.method == "GET" for r in kube.requests)


def test_refused_endpointslices_say_what_is_missing(kube):
    kube.fail("endpointslices", 403)
    with pytest.raises(SourceUnavailable) as caught:
        read_endpoints(_source(kube))
    assert "endpointslices" in caught.value.reason


def test_no_service_gives_an_empty_frame():
    with FakeKubeServer() as server:
        fetched = read_endpoints(_source(server))
    assert fetched.frame.empty and list(fetched.frame.columns) == [
        "service",
        "ready",
        "not_ready",
        "terminating",
        "ports",
        "captured_at",
    ]
