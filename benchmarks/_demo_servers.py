"""Serve a demo workspace's captured evidence through the local test servers.

:func:`serve_demo` starts ``tests/sources/k8s_server.py``'s ``FakeKubeServer``
(a real HTTP server answering the Kubernetes API paths the source reads) filled
from the demo's ``kubernetes/*`` frames, with every time shifted so that the
incident ended a minute ago: a live capture asks "now", as it would for a real
alert. It writes a kubeconfig pointing at it and returns the environment a
receiver needs (``KUBECONFIG``).

What it serves, built with the ``kubernetes`` client's model classes:

* the Deployment and its ReplicaSets (``kubernetes/rollouts``: revision,
  change-cause, image, replicas, creation time);
* the pods of ``kubernetes/pods`` (node, resources, a running container status)
  and their logs (the ``raw`` lines of ``kubernetes/logs``);
* the events of ``kubernetes/events``;
* the ConfigMaps and Secrets of ``kubernetes/config`` (keys, managed fields).

and a real Prometheus (``promtool tsdb create-blocks-from openmetrics``, then
``prometheus``) over the demo's metrics frame written as the series the
Prometheus source's conventional queries read (:func:`write_openmetrics`);
``PROMETHEUS_URL`` points at it.

What it does not serve is listed in :attr:`Served.not_served` (for the
benchmark's output): pods deleted before the capture (their logs), the p95
latency, Datadog, PostgreSQL, probes, HPA, endpoints.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _folder in ("tests/sources", "tests/receiver", "tests"):
    if str(ROOT / _folder) not in sys.path:
        sys.path.insert(0, str(ROOT / _folder))


@dataclass
class Served:
    """What :func:`serve_demo` started: the environment, the time shift, what is missing."""

    environ: dict[str, str]
    shift: timedelta
    onset: datetime
    start: datetime
    namespace: str
    service: str
    not_served: list[str] = field(default_factory=list)


def _ts(value: Any, shift: timedelta) -> datetime | None:
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    moment: datetime = pd.Timestamp(value).to_pydatetime(warn=False)
    return moment.astimezone(UTC) + shift


def _meta(name: str, namespace: str, **extra: Any) -> Any:
    from kubernetes import client

    return client.V1ObjectMeta(name=name, namespace=namespace, uid=f"uid-{name}", **extra)


def _template(image: str, app: str, configs: list[tuple[str, str]]) -> Any:
    from kubernetes import client

    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": app}),
        spec=_pod_spec(image, configs, node=None, resources=None),
    )


def _pod_spec(
    image: str, configs: list[tuple[str, str]], *, node: str | None, resources: Any
) -> Any:
    from kubernetes import client

    env_from = [
        client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name=name))
        if kind == "ConfigMap"
        else client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name=name))
        for kind, name in configs
    ]
    container = client.V1Container(name="api", image=image, env_from=env_from, resources=resources)
    return client.V1PodSpec(containers=[container], node_name=node)


def _quantity(value: float, unit: str) -> str:
    return f"{round(value * 1000)}m" if unit == "cpu" else str(round(value))


def fill_kube(kube: Any, ws: Any, shift: timedelta) -> list[str]:
    """Add the demo's Kubernetes objects and logs to ``kube``; return what was left out."""
    from kubernetes import client

    ns, app = ws.incident.namespace, ws.incident.service
    read = ws.evidence.read
    rollouts, pods, events = (
        read("kubernetes", "rollouts"),
        read("kubernetes", "pods"),
        read("kubernetes", "events"),
    )
    config, logs = read("kubernetes", "config"), read("kubernetes", "logs")
    configs = sorted({(str(r.kind), str(r.name)) for r in config.itertuples()})
    current = rollouts[rollouts["current"]].iloc[-1]
    image_of = {str(r.replicaset): str(r.images).split(",")[0] for r in rollouts.itertuples()}

    kube.add(
        "deployments",
        ns,
        client.V1Deployment(
            api_version="apps/v1",
            kind="Deployment",
            metadata=_meta(
                app,
                ns,
                labels={"app": app},
                annotations={"deployment.kubernetes.io/revision": str(current.revision)},
            ),
            spec=client.V1DeploymentSpec(
                replicas=int(current.replicas),
                selector=client.V1LabelSelector(match_labels={"app": app}),
                template=_template(image_of[str(current.replicaset)], app, configs),
            ),
        ),
    )
    for r in rollouts.itertuples():
        rs = str(r.replicaset)
        kube.add(
            "replicasets",
            ns,
            client.V1ReplicaSet(
                api_version="apps/v1",
                kind="ReplicaSet",
                metadata=_meta(
                    rs,
                    ns,
                    labels={"app": app, "pod-template-hash": rs.rsplit("-", 1)[-1]},
                    creation_timestamp=_ts(r.created_at, shift),
                    annotations={
                        "deployment.kubernetes.io/revision": str(r.revision),
                        "kubernetes.io/change-cause": str(r.change_cause),
                    },
                    owner_references=[
                        client.V1OwnerReference(
                            api_version="apps/v1",
                            kind="Deployment",
                            name=str(r.deployment),
                            uid=f"uid-{r.deployment}",
                            controller=True,
                        )
                    ],
                ),
                spec=client.V1ReplicaSetSpec(
                    replicas=int(r.replicas),
                    selector=client.V1LabelSelector(match_labels={"app": app}),
                    template=_template(image_of[rs], app, configs),
                ),
                status=client.V1ReplicaSetStatus(replicas=int(r.replicas)),
            ),
        )
    for p in pods.itertuples():
        name, rs = str(p.pod), str(p.pod).rsplit("-", 1)[0]
        started = _ts(p.started_at, shift)
        resources = client.V1ResourceRequirements(
            requests={
                "cpu": _quantity(p.cpu_request, "cpu"),
                "memory": _quantity(p.memory_request, ""),
            },
            limits={"cpu": _quantity(p.cpu_limit, "cpu"), "memory": _quantity(p.memory_limit, "")},
        )
        kube.add(
            "pods",
            ns,
            client.V1Pod(
                api_version="v1",
                kind="Pod",
                metadata=_meta(
                    name,
                    ns,
                    labels={"app": app, "pod-template-hash": rs.rsplit("-", 1)[-1]},
                    creation_timestamp=started,
                    owner_references=[
                        client.V1OwnerReference(
                            api_version="apps/v1", kind="ReplicaSet", name=rs, uid=f"uid-{rs}"
                        )
                    ],
                ),
                spec=_pod_spec(
                    image_of.get(rs, "unknown"), configs, node=str(p.node), resources=resources
                ),
                status=client.V1PodStatus(
                    phase=str(p.phase),
                    start_time=started,
                    container_statuses=[
                        client.V1ContainerStatus(
                            name=str(p.container),
                            image=image_of.get(rs, "unknown"),
                            image_id="",
                            ready=bool(p.ready),
                            restart_count=int(p.restarts),
                            state=client.V1ContainerState(
                                running=client.V1ContainerStateRunning(started_at=started)
                            ),
                        )
                    ],
                ),
            ),
        )
    served_pods = set(pods["pod"].astype(str))
    for (pod, container), lines in logs.groupby(["pod", "container"]):
        if str(pod) in served_pods:
            kube.add_log(
                ns,
                str(pod),
                str(container),
                [
                    (_ts(t, shift), _shift_line(str(raw), shift))
                    for t, raw in zip(lines["time"], lines["raw"], strict=True)
                ],
            )
    for i, e in enumerate(events.itertuples()):
        kind, _, obj = str(e.object).partition("/")
        kube.add(
            "events",
            ns,
            client.CoreV1Event(
                api_version="v1",
                kind="Event",
                metadata=_meta(f"{obj}.{i:04x}", ns),
                involved_object=client.V1ObjectReference(kind=kind, name=obj, namespace=ns),
                reason=str(e.reason),
                message=str(e.message),
                type=str(e.type),
                first_timestamp=_ts(e.first_seen, shift),
                last_timestamp=_ts(e.last_seen, shift),
                count=int(e.count),
            ),
        )
    for (kind, name), rows in config.groupby(["kind", "name"]):
        first = rows.iloc[0]
        keys = str(first["keys"]).split(",")
        managed = [
            client.V1ManagedFieldsEntry(
                manager=str(m.manager),
                operation=str(m.operation),
                api_version="v1",
                time=_ts(m.changed_at, shift),
            )
            for m in rows.itertuples()
        ]
        meta = _meta(
            str(name),
            ns,
            resource_version=str(first["resource_version"]),
            creation_timestamp=_ts(first["created_at"], shift),
            managed_fields=managed,
        )
        if kind == "ConfigMap":
            kube.add(
                "configmaps",
                ns,
                client.V1ConfigMap(
                    api_version="v1", kind="ConfigMap", metadata=meta, data=dict.fromkeys(keys, "x")
                ),
            )
        else:
            kube.add(
                "secrets",
                ns,
                client.V1Secret(
                    api_version="v1", kind="Secret", metadata=meta, data=dict.fromkeys(keys, "eA==")
                ),
            )
    deleted = sorted(set(logs["pod"].astype(str)) - served_pods)
    return [f"logs of the {len(deleted)} pods deleted before the capture (a live cluster has none)"]


def _shift_line(raw: str, shift: timedelta) -> str:
    """The JSON log line with its ``ts`` shifted (other lines unchanged)."""
    import json

    if not raw.startswith("{"):
        return raw
    try:
        record = json.loads(raw)
        moment = datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return raw
    record["ts"] = (moment + shift).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(record)


@contextlib.contextmanager
def serve_demo(scenario: str, folder: Path) -> Iterator[Served]:
    """Serve the demo ``scenario`` through local servers; yield what the receiver needs."""
    from k8s_server import FakeKubeServer

    from incident_lib.demo import ensure_demo
    from incident_lib.infra.workspace import open_workspace

    ws = open_workspace(ensure_demo(scenario))
    incident = ws.incident
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert incident.end is not None
    shift = now - timedelta(minutes=1) - incident.end
    shift = timedelta(minutes=shift // timedelta(minutes=1))
    onset = incident.times.detected or incident.start
    with FakeKubeServer() as kube, serve_prometheus(ws, shift, folder / "prometheus") as prom:
        not_served = fill_kube(kube, ws, shift)
        config = kube.kubeconfig(folder / "kubeconfig", namespace=incident.namespace)
        url, missing = prom
        yield Served(
            environ={"KUBECONFIG": str(config), "PROMETHEUS_URL": url},
            shift=shift,
            onset=onset + shift,
            start=incident.start + shift,
            namespace=incident.namespace,
            service=incident.service,
            not_served=not_served
            + missing
            + [
                "datadog (metrics come from Prometheus instead: the Datadog source cannot be "
                "pointed at a local server from the environment)",
                "postgres",
                "probes",
                "kubernetes hpa, endpoints, pod_usage, jobs, releases",
                "git",
            ],
        )


PROMETHEUS_CONFIG = "global:\n  scrape_interval: 1m\n"


def write_openmetrics(ws: Any, shift: timedelta, path: Path) -> list[str]:
    """The demo's metrics frame as the series the Prometheus source's queries read.

    ``request_rate`` / ``error_rate`` become ``http_requests_total`` counters
    (``code="200"`` / ``"500"``), ``cpu`` a ``container_cpu_usage_seconds_total``
    counter and ``memory`` a ``container_memory_working_set_bytes`` gauge of one
    ``<service>-demo`` pod, ``db_connections`` a ``pg_stat_activity_count`` gauge.
    Returns what is not written (``latency_p95``: no histogram is made up).
    """
    frame = ws.evidence.read("datadog", "metrics")
    service, ns = ws.incident.service, ws.incident.namespace
    wide = frame.groupby(["time", "metric"])["value"].sum().unstack("metric").sort_index()
    seconds = [(_ts(t, shift) or datetime.now(UTC)).timestamp() for t in wide.index]
    step = seconds[1] - seconds[0] if len(seconds) > 1 else 15.0

    def column(name: str) -> list[float]:
        return [0.0 if v != v else float(v) for v in wide.get(name, [float("nan")] * len(wide))]

    requests, errors = column("request_rate"), column("error_rate")
    lines: list[str] = []

    def counter(sample: str, labels: str, rates: list[float]) -> None:
        total = 1000.0
        for at, rate in zip(seconds, rates, strict=True):
            total += rate * step
            lines.append(f"{sample}{{{labels}}} {total:.6f} {at:.3f}")

    def gauge(sample: str, labels: str, values: list[float]) -> None:
        lines.extend(
            f"{sample}{{{labels}}} {v:.6f} {at:.3f}" for at, v in zip(seconds, values, strict=True)
        )

    lines.append("# TYPE http_requests counter")
    counter(
        "http_requests_total",
        f'service="{service}",code="200"',
        [max(r - e, 0.0) for r, e in zip(requests, errors, strict=True)],
    )
    counter("http_requests_total", f'service="{service}",code="500"', errors)
    pod = f'namespace="{ns}",pod="{service}-demo",container="{service}"'
    lines.append("# TYPE container_cpu_usage_seconds counter")
    counter("container_cpu_usage_seconds_total", pod, column("cpu"))
    lines.append("# TYPE container_memory_working_set_bytes gauge")
    gauge("container_memory_working_set_bytes", pod, column("memory"))
    lines.append("# TYPE pg_stat_activity_count gauge")
    gauge("pg_stat_activity_count", f'datname="{service}",state="active"', column("db_connections"))
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["metrics latency_p95 (no histogram is made up from the demo's p95)"]


@contextlib.contextmanager
def serve_prometheus(ws: Any, shift: timedelta, folder: Path) -> Iterator[tuple[str, list[str]]]:
    """A real Prometheus over the demo's metrics (backfilled with promtool); yield its URL."""
    import socket
    import subprocess
    import time
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    missing = write_openmetrics(ws, shift, folder / "data.om")
    tsdb = folder / "tsdb"
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
            str(folder / "data.om"),
            str(tsdb),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (folder / "prometheus.yml").write_text(PROMETHEUS_CONFIG, encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with (folder / "prometheus.log").open("wb") as sink:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={tsdb}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"prometheus did not start; see {folder / 'prometheus.log'}")
            time.sleep(0.2)
        yield url, missing
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
