"""Rows of the ``k8s_endpoints`` frame: each Service of the namespace and its endpoints.

A Service's endpoints are in its EndpointSlices (``discovery.k8s.io/v1``, label
``kubernetes.io/service-name``). Each endpoint (a pod, or an address) is counted
once per Service, also when a dual-stack Service lists it in an IPv4 and an IPv6
slice: ``terminating`` when its ``terminating`` condition is true, else ``ready``
when its ``ready`` condition is true or unset (the API's meaning of unset), else
``not_ready``. ``ports`` are the ports the endpoints serve (``8080/TCP (http)``),
or the Service's own when it has no slice. ExternalName Services have no endpoints
and give no row (a note names them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...core.schema import conform, empty_frame
from ..base import Fetched

if TYPE_CHECKING:
    from .source import KubernetesSource

__all__ = ["SERVICE_NAME_LABEL", "endpoint_rows", "read_endpoints"]

#: the label naming the Service an EndpointSlice belongs to
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _endpoint_key(endpoint: Any) -> str:
    """One endpoint across slices: its target (a pod) or, without one, its first address."""
    ref = endpoint.target_ref
    if ref is not None and ref.name:
        return f"{ref.kind or ''}/{ref.namespace or ''}/{ref.name}"
    addresses = endpoint.addresses or []
    return f"address/{addresses[0]}" if addresses else f"object/{id(endpoint)}"


def _state(endpoint: Any) -> str:
    """``terminating``, ``ready`` or ``not_ready`` (unset ``ready`` means ready)."""
    conditions = endpoint.conditions
    if conditions is not None and conditions.terminating:
        return "terminating"
    if conditions is None or conditions.ready is None or conditions.ready:
        return "ready"
    return "not_ready"


def _port_text(port: Any, *, service: bool = False) -> str:
    protocol = port.protocol or "TCP"
    number = port.port
    if service and port.target_port is not None and str(port.target_port) != str(port.port):
        number = f"{port.port}→{port.target_port}"
    name = f" ({port.name})" if port.name else ""
    return f"{number}/{protocol}{name}"


def endpoint_rows(
    services: Iterable[Any], slices: Iterable[Any], captured_at: datetime
) -> list[dict[str, Any]]:
    """The ``k8s_endpoints`` rows: one per Service (``V1Service``), from ``V1EndpointSlice``s.

    Parameters
    ----------
    services
        The namespace's Services.
    slices
        Its EndpointSlices (those of other Services are ignored).
    captured_at
        When they were read (UTC).

    Returns
    -------
    list[dict]
        Rows sorted by Service name; ExternalName Services give none.
    """
    by_service: dict[str, list[Any]] = {}
    for item in slices:
        labels = (item.metadata.labels if item.metadata is not None else None) or {}
        owner = labels.get(SERVICE_NAME_LABEL)
        if owner:
            by_service.setdefault(str(owner), []).append(item)
    rows: list[dict[str, Any]] = []
    for service in sorted(services, key=lambda s: str(s.metadata.name)):
        spec = service.spec
        if spec is not None and spec.type == "ExternalName":
            continue
        name = str(service.metadata.name)
        states: dict[str, str] = {}
        ports: list[str] = []
        for item in by_service.get(name, []):
            for port in item.ports or []:
                text = _port_text(port)
                if text not in ports:
                    ports.append(text)
            for endpoint in item.endpoints or []:
                key, state = _endpoint_key(endpoint), _state(endpoint)
                # the same endpoint in two slices: the better state counts
                order = ("ready", "not_ready", "terminating")
                if key not in states or order.index(state) < order.index(states[key]):
                    states[key] = state
        if not ports and spec is not None:
            ports = [_port_text(p, service=True) for p in spec.ports or []]
        counts = list(states.values())
        rows.append(
            {
                "service": name,
                "ready": counts.count("ready"),
                "not_ready": counts.count("not_ready"),
                "terminating": counts.count("terminating"),
                "ports": ", ".join(ports),
                "captured_at": captured_at,
            }
        )
    return rows


def read_endpoints(source: KubernetesSource) -> Fetched:
    """The ``k8s_endpoints`` frame of ``source``'s namespace (every Service, not only the
    service's: its dependencies in the namespace matter as much).

    Lists Services (core/v1) and EndpointSlices (discovery.k8s.io/v1) with the
    source's timeouts, paging and budget.

    Raises
    ------
    SourceUnavailable
        The API refuses either list (RBAC: ``list`` on ``services`` and on
        ``endpointslices.discovery.k8s.io``), or the cluster does not serve
        discovery.k8s.io/v1 (Kubernetes before 1.21).
    """
    import pandas as pd
    from kubernetes import client

    core = client.CoreV1Api(source.api_client)
    discovery = client.DiscoveryV1Api(source.api_client)
    services = source._list("list", "services", core.list_namespaced_service, source.namespace)
    slices = source._list(
        "list",
        "endpointslices.discovery.k8s.io",
        discovery.list_namespaced_endpoint_slice,
        source.namespace,
        not_found=(
            "discovery.k8s.io/v1 is not served by this cluster (Kubernetes before 1.21); "
            "Service endpoints unavailable"
        ),
    )
    captured_at = datetime.now(UTC)
    rows = endpoint_rows(services, slices, captured_at)
    external = sorted(
        str(s.metadata.name)
        for s in services
        if s.spec is not None and s.spec.type == "ExternalName"
    )
    notes: tuple[str, ...] = ()
    if external:
        notes = (f"ExternalName Services have no endpoints to count: {', '.join(external)}",)
    if not rows:
        return Fetched(empty_frame("k8s_endpoints"), notes)
    return Fetched(conform(pd.DataFrame(rows), "k8s_endpoints"), notes)
