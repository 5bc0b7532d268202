"""The ``config`` frame: ConfigMaps and Secrets the service uses, with who changed them when.

The fake cluster (namespace ``prod``): Deployment ``api`` whose template mounts
ConfigMap ``api-config`` (volume), reads Secret ``db-credentials`` (``envFrom``)
and key ``level`` of ConfigMap ``log-config`` (``env.valueFrom``); its pod also
has a projected volume with ConfigMap ``ca-bundle`` and Secret ``api-tls``. A
``worker`` Deployment uses ConfigMap ``worker-config`` and Secret ``worker-key``,
which must never show up.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest
from k8s_server import FakeKubeServer

from incident_lib.core.incident import Incident
from incident_lib.core.schema import validate
from incident_lib.core.time import Window
from incident_lib.sources.base import Fetched, default_registry
from incident_lib.sources.kubernetes import KubernetesSource
from incident_lib.sources.kubernetes.configs import (
    config_refs,
    config_rows,
    data_hash,
    last_applied,
)

NS = "prod"
WINDOW = Window(datetime(2026, 11, 3, 14, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
SECRET_VALUE = "hunter2-Pa55w0rd-7f3c"
TLS_VALUE = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0B"


def at(hh: int, mm: int, day: int = 3) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _managed(*entries: tuple[str, str, datetime]):
    from kubernetes import client

    return [client.V1ManagedFieldsEntry(manager=m, operation=o, time=t) for m, o, t in entries]


def _meta(name: str, *, created: datetime, managed=(), labels=None, owners=None):
    from kubernetes import client

    return client.V1ObjectMeta(
        name=name,
        namespace=NS,
        uid=f"uid-{name}",
        labels=labels,
        creation_timestamp=created,
        resource_version=str(1000 + len(name)),
        managed_fields=_managed(*managed) or None,
        owner_references=owners,
    )


def configmap(name: str, data: dict[str, str], *, created=None, managed=()):
    from kubernetes import client

    return client.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=_meta(name, created=created or at(9, 0, day=1), managed=managed),
        data=data,
    )


def secret(name: str, data: dict[str, str], *, managed=()):
    from kubernetes import client

    return client.V1Secret(
        api_version="v1",
        kind="Secret",
        type="Opaque",
        metadata=_meta(name, created=at(9, 0, day=1), managed=managed),
        data={k: b64(v) for k, v in data.items()},
    )


def _app_container(config: str, secret_name: str, log_config: str | None = None):
    from kubernetes import client

    env = []
    if log_config:
        env.append(
            client.V1EnvVar(
                name="LOG_LEVEL",
                value_from=client.V1EnvVarSource(
                    config_map_key_ref=client.V1ConfigMapKeySelector(name=log_config, key="level")
                ),
            )
        )
    return client.V1Container(
        name="app",
        image="registry.example.com/app:1.0",
        env=env or None,
        env_from=[client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name=secret_name))],
        volume_mounts=[client.V1VolumeMount(name="config", mount_path="/etc/app")],
    )


def _pod_spec(config: str, secret_name: str, *, log_config=None, projected=False):
    from kubernetes import client

    volumes = [
        client.V1Volume(name="config", config_map=client.V1ConfigMapVolumeSource(name=config))
    ]
    if projected:
        volumes.append(
            client.V1Volume(
                name="bundle",
                projected=client.V1ProjectedVolumeSource(
                    sources=[
                        client.V1VolumeProjection(
                            config_map=client.V1ConfigMapProjection(name="ca-bundle")
                        ),
                        client.V1VolumeProjection(secret=client.V1SecretProjection(name="api-tls")),
                    ]
                ),
            )
        )
    return client.V1PodSpec(
        containers=[_app_container(config, secret_name, log_config)], volumes=volumes
    )


def deployment(app: str, config: str, secret_name: str, *, log_config=None):
    from kubernetes import client

    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=_meta(app, created=at(9, 0, day=1), labels={"app": app}),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": app}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": app}),
                spec=_pod_spec(config, secret_name, log_config=log_config),
            ),
        ),
    )


def replicaset(app: str, config: str, secret_name: str, *, log_config=None):
    from kubernetes import client

    owner = client.V1OwnerReference(
        api_version="apps/v1", kind="Deployment", name=app, uid=f"uid-{app}", controller=True
    )
    return client.V1ReplicaSet(
        api_version="apps/v1",
        kind="ReplicaSet",
        metadata=_meta(
            f"{app}-5d8f7", created=at(9, 0, day=1), labels={"app": app}, owners=[owner]
        ),
        spec=client.V1ReplicaSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": app}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": app}),
                spec=_pod_spec(config, secret_name, log_config=log_config),
            ),
        ),
    )


def pod(app: str, config: str, secret_name: str, *, projected=False):
    from kubernetes import client

    owner = client.V1OwnerReference(
        api_version="apps/v1", kind="ReplicaSet", name=f"{app}-5d8f7", uid=f"uid-{app}-5d8f7"
    )
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=_meta(
            f"{app}-5d8f7-aaaaa", created=at(9, 0, day=1), labels={"app": app}, owners=[owner]
        ),
        spec=_pod_spec(config, secret_name, projected=projected),
    )


API_CONFIG = {"pool_size": "20", "timeout": "5s"}


def populate(kube: FakeKubeServer) -> None:
    kube.add(
        "deployments",
        NS,
        deployment("api", "api-config", "db-credentials", log_config="log-config"),
    )
    kube.add("deployments", NS, deployment("worker", "worker-config", "worker-key"))
    kube.add(
        "replicasets",
        NS,
        replicaset("api", "api-config", "db-credentials", log_config="log-config"),
        replicaset("worker", "worker-config", "worker-key"),
    )
    kube.add(
        "pods",
        NS,
        pod("api", "api-config", "db-credentials", projected=True),
        pod("worker", "worker-config", "worker-key"),
    )
    kube.add(
        "configmaps",
        NS,
        configmap(
            "api-config",
            API_CONFIG,
            managed=[("helm", "Update", at(9, 0, day=1)), ("kubectl-edit", "Update", at(14, 3))],
        ),
        configmap(
            "log-config", {"level": "info"}, managed=[("argocd-controller", "Apply", at(8, 0))]
        ),
        configmap("ca-bundle", {"ca.crt": "-----BEGIN CERTIFICATE-----"}),
        configmap("worker-config", {"x": "1"}, managed=[("kubectl-edit", "Update", at(14, 10))]),
    )
    kube.add(
        "secrets",
        NS,
        secret(
            "db-credentials",
            {"password": SECRET_VALUE, "username": "api"},
            managed=[("kubectl-client-side-apply", "Update", at(12, 0))],
        ),
        secret("api-tls", {"tls.key": TLS_VALUE}),
        secret("worker-key", {"key": SECRET_VALUE}),
    )


@pytest.fixture
def kube():
    with FakeKubeServer() as server:
        populate(server)
        yield server


@pytest.fixture
def source(kube):
    client = kube.api_client(token="t0ken-abc")
    yield KubernetesSource(namespace=NS, selector="app=api", api_client=client)
    client.close()


def test_config_rows_per_field_manager_for_what_the_service_uses(source):
    result = source.config()
    frame = validate(result.frame, "k8s_config")

    assert sorted(set(zip(frame["kind"], frame["name"], strict=True))) == [
        ("ConfigMap", "api-config"),
        ("ConfigMap", "ca-bundle"),
        ("ConfigMap", "log-config"),
        ("Secret", "api-tls"),
        ("Secret", "db-credentials"),
    ]
    api = frame[frame["name"] == "api-config"]
    assert api["manager"].tolist() == ["helm", "kubectl-edit"]
    assert api["operation"].tolist() == ["Update", "Update"]
    assert api["changed_at"].tolist() == [
        datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 14, 3, tzinfo=UTC),
    ]
    assert set(api["used_by"]) == {"Deployment/api"}
    assert set(api["keys"]) == {"pool_size,timeout"}
    expected = hashlib.sha256(
        json.dumps(sorted(API_CONFIG.items()), separators=(",", ":")).encode()
    ).hexdigest()
    assert set(api["data_hash"]) == {expected}
    assert set(api["resource_version"]) == {"1010"}
    # no managedFields: one row, no manager
    ca = frame[frame["name"] == "ca-bundle"]
    assert len(ca) == 1 and ca["manager"].isna().all() and ca["changed_at"].isna().all()
    assert result.notes == ()


def test_a_secret_value_never_appears_in_the_frame(source):
    frame = source.config().frame
    secrets = frame[frame["kind"] == "Secret"]
    assert set(secrets.loc[secrets["name"] == "db-credentials", "keys"]) == {"password,username"}
    assert secrets["data_hash"].str.fullmatch(r"[0-9a-f]{64}").all()
    text = frame.to_csv() + frame.to_json(date_format="iso")
    for value in (SECRET_VALUE, b64(SECRET_VALUE), TLS_VALUE, b64(TLS_VALUE), "hunter2"):
        assert value not in text
    # the hash is keyed with the uid (in no frame): hashing guesses does not find the value
    guess = data_hash({"password": b64(SECRET_VALUE), "username": b64("api")}, None)
    assert guess not in set(secrets["data_hash"])
    assert "uid-db-credentials" not in text


def test_secrets_are_read_by_name_only(kube, source):
    source.config()
    asked = [r.query.get("fieldSelector") for r in kube.requests if r.path.endswith("/secrets")]
    assert sorted(asked) == ["metadata.name=api-tls", "metadata.name=db-credentials"]


def test_a_changed_configmap_changes_its_hash():
    before = data_hash({"pool_size": "20"}, None)
    assert data_hash({"pool_size": "21"}, None) != before
    assert data_hash({"pool_size": "20"}, {}) == before
    assert data_hash(None, None) is None


def test_references_from_every_place_a_pod_spec_can_name_them():
    used = config_refs([pod("api", "a", "s", projected=True)], [], [])
    assert set(used) == {
        ("ConfigMap", "a"),
        ("Secret", "s"),
        ("ConfigMap", "ca-bundle"),
        ("Secret", "api-tls"),
    }
    assert used[("ConfigMap", "a")] == {"ReplicaSet/api-5d8f7"}
    from_template = config_refs([], [deployment("api", "a", "s", log_config="lc")], [])
    assert ("ConfigMap", "lc") in from_template


def test_refused_secrets_are_a_note_and_configmaps_still_listed(kube, source):
    kube.fail(r"/secrets$", 403)
    result = source.config()
    assert set(result.frame["kind"]) == {"ConfigMap"}
    assert len(result.notes) == 1
    assert "secrets not readable" in result.notes[0] and "forbidden" in result.notes[0].lower()
    assert SECRET_VALUE not in " ".join(result.notes)


def test_a_missing_object_is_a_note():
    with FakeKubeServer() as empty:
        empty.add("pods", NS, pod("api", "gone-config", "gone-secret"))
        client = empty.api_client()
        try:
            result = KubernetesSource(namespace=NS, selector="app=api", api_client=client).config()
        finally:
            client.close()
    assert result.frame.empty
    assert any("ConfigMap gone-config" in n and "does not exist" in n for n in result.notes)


def test_fetch_through_the_registry(kube, tmp_path, monkeypatch):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": kube.url}}],
        "users": [{"name": "u", "user": {"token": "t0ken-abc"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": NS}}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    incident = Incident.create(
        id="INC-1",
        title="t",
        service="api",
        namespace=NS,
        severity="SEV-2",
        start="2026-11-03T14:00:00Z",
        end="2026-11-03T15:00:00Z",
    )
    connector = default_registry().resolve("kubernetes", "config")
    result = connector.fetch("config", incident, WINDOW)
    assert isinstance(result, Fetched)
    validate(result.frame, "k8s_config")
    assert "api-config" in set(result.frame["name"])
    assert "configmaps" in connector.query("config", incident, WINDOW)["resource"]


def test_a_manager_owning_only_metadata_is_marked_metadata_only():
    """An annotation stamped by a controller is not a config change (its fieldsV1 say so)."""
    from kubernetes import client

    from incident_lib.sources.kubernetes.configs import config_rows

    entries = [
        client.V1ManagedFieldsEntry(
            manager="kubectl-edit",
            operation="Update",
            time=at(14, 3),
            fields_v1={"f:data": {"f:pool_size": {}}},
        ),
        client.V1ManagedFieldsEntry(
            manager="argocd-controller",
            operation="Apply",
            time=at(14, 10),
            fields_v1={"f:metadata": {"f:annotations": {"f:argocd.argoproj.io/tracking-id": {}}}},
        ),
        client.V1ManagedFieldsEntry(manager="old-client", operation="Update", time=at(9, 0)),
    ]
    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="api-config", uid="u", managed_fields=entries),
        data={"pool_size": "50"},
    )
    operations = {r["manager"]: r["operation"] for r in config_rows(cm, "ConfigMap", ["api"])}
    assert operations == {
        "kubectl-edit": "Update",
        "argocd-controller": "Apply (metadata only)",
        "old-client": "Update",  # no fieldsV1: what it touched is unknown, so it counts
    }


def _with_last_applied(obj, applied: dict):
    obj.metadata.annotations = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)
    }
    return obj


def test_applied_hash_tells_a_configmap_changed_since_its_last_apply():
    patched = _with_last_applied(
        configmap("api-config", {"pool_size": "5", "timeout": "5s"}),
        {"apiVersion": "v1", "kind": "ConfigMap", "data": API_CONFIG},
    )
    unchanged = _with_last_applied(
        configmap("log-config", {"level": "info"}),
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"level": "info"}},
    )
    bare = configmap("ca-bundle", {"ca.crt": "x"})
    rows = {
        obj.metadata.name: config_rows(obj, "ConfigMap", ["Deployment/api"])[0]
        for obj in (patched, unchanged, bare)
    }
    assert rows["api-config"]["applied_hash"] == data_hash(API_CONFIG, None)
    assert rows["api-config"]["applied_hash"] != rows["api-config"]["data_hash"]
    assert rows["log-config"]["applied_hash"] == rows["log-config"]["data_hash"]
    assert rows["ca-bundle"]["applied_hash"] is None


def test_a_secrets_last_applied_annotation_is_never_read():
    obj = _with_last_applied(
        secret("db-credentials", {"password": SECRET_VALUE}),
        {"kind": "Secret", "data": {"password": b64(SECRET_VALUE)}},
    )
    row = config_rows(obj, "Secret", ["Deployment/api"])[0]
    assert row["applied_hash"] is None
    assert SECRET_VALUE not in json.dumps(row, default=str)


def test_last_applied_refuses_what_is_not_a_configmaps_content():
    key = "kubectl.kubernetes.io/last-applied-configuration"
    assert last_applied(None) is None
    assert last_applied({key: "{not json"}) is None
    assert last_applied({key: json.dumps({"kind": "Secret", "data": {}})}) is None
    assert last_applied({key: json.dumps({"kind": "ConfigMap", "data": ["a"]})}) is None
    assert last_applied({key: json.dumps({"kind": "ConfigMap", "data": {"a": "1"}})}) == {
        "data": {"a": "1"},
        "binaryData": {},
    }


def test_an_older_capture_without_applied_hash_still_replays(tmp_path):
    import pandas as pd

    from incident_lib.infra.evidence import EvidenceStore

    store = EvidenceStore(tmp_path, create=True)
    frame = config_frame_without_applied_hash()
    store.capture(frame, source="kubernetes", name="config")
    read = store.read("kubernetes", "config")
    validate(read, "k8s_config")
    assert read["applied_hash"].isna().all()
    assert read["name"].tolist() == frame["name"].tolist()
    assert isinstance(read, pd.DataFrame)


def config_frame_without_applied_hash():
    import pandas as pd

    from incident_lib.core.schema import conform

    rows = config_rows(configmap("api-config", API_CONFIG), "ConfigMap", ["Deployment/api"])
    return conform(pd.DataFrame(rows), "k8s_config").drop(columns=["applied_hash"])
