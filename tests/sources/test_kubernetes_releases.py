"""The ``releases`` frame: Helm release history, Argo CD syncs and Flux applies, from the fake API.

The fake cluster (namespace ``prod``): Deployment ``api`` installed by Helm release
``api`` (revisions 11 and 12; revision 12 at 14:02) and synced by Argo CD
Application ``api`` (two syncs, then a failed one), applied by Flux Kustomization
``apps`` in ``flux-system`` (its inventory holds ``Deployment/api``). A ``worker``
Deployment with its own Helm release and an Argo CD Application ``billing`` are
other services: never in the frame, named in a note when they changed in the
window. Every Helm release Secret carries a payload that must never be read.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from types import SimpleNamespace

import k8s_server
import pytest
from k8s_server import FakeKubeServer

from incident_lib.core.errors import SourceUnavailable
from incident_lib.core.schema import validate
from incident_lib.core.time import Window
from incident_lib.sources.kubernetes import KubernetesSource
from incident_lib.sources.kubernetes.release_rows import (
    argocd_rows,
    helm_items,
    helm_rows,
    helmrelease_rows,
    kustomization_rows,
    service_names,
)
from incident_lib.sources.kubernetes.releases import METADATA_ONLY

NS = "prod"
WINDOW = Window(datetime(2026, 11, 3, 14, 0, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
PAYLOAD_SECRET = "postgres://app:hunter2-Pa55w0rd@db:5432/orders"
SHA_OLD = "9b1e0c47d2a3f5e6b7c8d9e0f1a2b3c4d5e6f7a8"
SHA_NEW = "3f2a9c1d5e7b9a0c2e4f6a8b0d1c3e5f7a9b1d3f"
SHA_BAD = "77aa0c1d5e7b9a0c2e4f6a8b0d1c3e5f7a9b1d3f"


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, 3, hh, mm, ss, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def _deployment(name: str, *, release: str | None = None):
    from kubernetes import client

    annotations = {"meta.helm.sh/release-name": release} if release else None
    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=client.V1ObjectMeta(
            name=f"{name}-server" if release else name,
            namespace=NS,
            uid=f"uid-{name}",
            labels={"app": name},
            annotations=annotations,
        ),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(containers=[client.V1Container(name=name)])
            ),
        ),
    )


def _pod(name: str, app: str):
    from kubernetes import client

    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(name=name, namespace=NS, labels={"app": app}),
        spec=client.V1PodSpec(containers=[client.V1Container(name=app)]),
    )


def helm_secret(release: str, revision: int, status: str, created: datetime, *, modified=None):
    """A Helm 3 release Secret, with a payload that must never be read."""
    from kubernetes import client

    labels = {"owner": "helm", "name": release, "status": status, "version": str(revision)}
    if modified is not None:
        labels["modifiedAt"] = str(int(modified.timestamp()))
    payload = base64.b64encode(f'{{"config":{{"db":"{PAYLOAD_SECRET}"}}}}'.encode()).decode()
    return client.V1Secret(
        api_version="v1",
        kind="Secret",
        type="helm.sh/release.v1",
        metadata=client.V1ObjectMeta(
            name=f"sh.helm.release.v1.{release}.v{revision}",
            namespace=NS,
            labels=labels,
            annotations={"leak": PAYLOAD_SECRET},
            creation_timestamp=created,
        ),
        data={"release": base64.b64encode(payload.encode()).decode()},
    )


def argo_app(name: str, destination: str, history, *, operation=None, resources=()):
    """An Argo CD Application as the CRD serves it (``argoproj.io/v1alpha1``)."""
    source = {
        "repoURL": "https://git.example.com/deploy.git",
        "path": name,
        "targetRevision": "main",
    }
    status: dict = {
        "history": [
            {
                "id": i,
                "revision": revision,
                "deployedAt": iso(moment),
                "deployStartedAt": iso(moment),
                "source": source,
                "initiatedBy": {"automated": True},
            }
            for i, (revision, moment) in enumerate(history, start=1)
        ],
        "resources": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": destination,
                "name": r,
                "status": "Synced",
            }
            for r in resources
        ],
        "sync": {"status": "Synced", "revision": history[-1][0] if history else ""},
    }
    if operation is not None:
        status["operationState"] = operation
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
        },
        "status": status,
    }


FAILED_SYNC = {
    "operation": {"sync": {"revision": SHA_BAD}, "initiatedBy": {"username": "alice"}},
    "phase": "Failed",
    "message": (
        'one or more objects failed to apply, reason: Deployment.apps "api-server" is invalid'
    ),
    "startedAt": iso(at(14, 20)),
    "finishedAt": iso(at(14, 21)),
    "syncResult": {
        "revision": SHA_BAD,
        "source": {"repoURL": "https://git.example.com/deploy.git", "targetRevision": "main"},
    },
}


def kustomization(
    name: str,
    namespace: str,
    *,
    inventory=(),
    ready=("True", datetime(2026, 11, 3, 14, 5, tzinfo=UTC)),
    applied="main@sha1:" + SHA_NEW,
    attempted=None,
    target=None,
):
    spec: dict = {
        "interval": "5m",
        "path": "./apps",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
    }
    if target:
        spec["targetNamespace"] = target
    status, moment = ready
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": {
            "lastAppliedRevision": applied,
            "lastAttemptedRevision": attempted or applied,
            "inventory": {"entries": [{"id": i, "v": "v1"} for i in inventory]},
            "conditions": [
                {
                    "type": "Ready",
                    "status": status,
                    "reason": "ReconciliationSucceeded"
                    if status == "True"
                    else "ReconciliationFailed",
                    "message": f"Applied revision: {applied}"
                    if status == "True"
                    else "Deployment/prod/api-server dry-run failed",
                    "lastTransitionTime": iso(moment),
                }
            ],
        },
    }


def helmrelease(name: str, namespace: str, history, *, ready=None):
    status, moment = ready or ("True", at(14, 2))
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "10m", "chart": {"spec": {"chart": name, "version": "1.4.x"}}},
        "status": {
            "lastAttemptedRevision": history[0]["chartVersion"] if history else "",
            "history": history,
            "conditions": [
                {
                    "type": "Ready",
                    "status": status,
                    "reason": "UpgradeSucceeded",
                    "message": "Helm upgrade succeeded",
                    "lastTransitionTime": iso(moment),
                }
            ],
        },
    }


def populate(kube: FakeKubeServer) -> None:
    kube.add("deployments", NS, _deployment("api", release="api"), _deployment("worker"))
    kube.add("pods", NS, _pod("api-server-5d8f7-aaaaa", "api"), _pod("worker-6c5d4-zz", "worker"))
    kube.add(
        "secrets",
        NS,
        helm_secret("api", 11, "superseded", at(9, 0), modified=at(14, 2)),
        helm_secret("api", 12, "deployed", at(14, 2), modified=at(14, 2, 30)),
        helm_secret("worker", 5, "deployed", at(14, 10)),
    )
    from kubernetes import client

    kube.add(  # an ordinary Secret: not a Helm release, never listed
        "secrets",
        NS,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="db-credentials", namespace=NS),
            data={"password": base64.b64encode(PAYLOAD_SECRET.encode()).decode()},
        ),
    )
    kube.add(
        "applications",
        "argocd",
        argo_app("api", NS, [(SHA_OLD, at(9, 1)), (SHA_NEW, at(14, 3))], operation=FAILED_SYNC),
        argo_app("billing", NS, [(SHA_NEW, at(14, 30))], resources=["billing"]),
        argo_app("api-staging", "staging", [(SHA_NEW, at(14, 4))]),
    )
    kube.add(
        "kustomizations",
        "flux-system",
        kustomization("apps", "flux-system", inventory=["prod_api-server_apps_Deployment"]),
        kustomization("infra", "flux-system", inventory=["kube-system_coredns_apps_Deployment"]),
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


def _rows(frame, tool: str) -> list[tuple]:
    part = frame[frame["tool"] == tool]
    return list(
        zip(part["name"], part["revision"], part["status"], part["deployed_at"], strict=True)
    )


def test_helm_secrets_are_listed_metadata_only(kube):
    fetched = _source(kube).releases(WINDOW)
    listed = [r for r in kube.requests if r.path == f"/api/v1/namespaces/{NS}/secrets"]
    assert len(listed) == 1
    assert listed[0].headers["accept"] == METADATA_ONLY
    assert listed[0].query["labelSelector"] == "owner=helm"
    frame = validate(fetched.frame, "releases")
    assert _rows(frame, "helm") == [
        ("api", "11", "superseded", at(9, 0)),
        ("api", "12", "deployed", at(14, 2)),
    ]
    detail = frame.loc[frame["revision"] == "12", "detail"].item()
    assert detail == "status deployed since 2026-11-03 14:02:30 UTC"
    assert PAYLOAD_SECRET not in fetched.frame.to_csv()
    assert not any("ignored the metadata-only" in n for n in fetched.notes)


def test_a_server_that_ignores_the_header_leaks_nothing(kube, monkeypatch):
    monkeypatch.setattr(k8s_server, "_metadata_only", lambda listed: listed)
    fetched = _source(kube).releases(WINDOW)
    text = fetched.frame.to_csv() + "\n".join(fetched.notes)
    encoded = base64.b64encode(PAYLOAD_SECRET.encode()).decode()
    assert PAYLOAD_SECRET not in text and encoded[:20] not in text
    assert "helm.sh/release" not in text
    assert any("ignored the metadata-only request" in n for n in fetched.notes)
    assert len(_rows(fetched.frame, "helm")) == 2


def test_helm_items_keep_only_name_time_and_helm_labels():
    listed = {
        "kind": "SecretList",
        "items": [
            {
                "metadata": {
                    "name": "sh.helm.release.v1.api.v3",
                    "creationTimestamp": "2026-11-03T14:02:00Z",
                    "labels": {
                        "owner": "helm",
                        "name": "api",
                        "status": "failed",
                        "version": "3",
                        "note": PAYLOAD_SECRET,
                    },
                    "annotations": {"x": PAYLOAD_SECRET},
                },
                "data": {"release": PAYLOAD_SECRET},
                "type": "helm.sh/release.v1",
            }
        ],
    }
    kept = helm_items(listed)
    assert PAYLOAD_SECRET not in repr(kept)
    assert helm_rows(kept)[0] | {"detail": ""} == {
        "tool": "helm",
        "name": "api",
        "revision": "3",
        "version": "",
        "status": "failed",
        "deployed_at": "2026-11-03T14:02:00Z",
        "target": "",
        "detail": "",
    }


def test_argo_cd_history_and_a_failed_sync(kube):
    frame = _source(kube).releases(WINDOW).frame
    assert _rows(frame, "argocd") == [
        ("api", SHA_OLD, "synced", at(9, 1)),
        ("api", SHA_NEW, "synced", at(14, 3)),
        ("api", SHA_BAD, "failed", at(14, 21)),
    ]
    failed = frame[(frame["tool"] == "argocd") & (frame["status"] == "failed")].iloc[0]
    assert "sync by alice" in failed["detail"]
    assert "failed to apply" in failed["detail"]
    assert set(frame.loc[frame["tool"] == "argocd", "target"]) == {"main"}


def test_argocd_rows_skip_a_succeeded_operation_already_in_history():
    app = argo_app(
        "api",
        NS,
        [(SHA_NEW, at(14, 3))],
        operation={
            "phase": "Succeeded",
            "startedAt": iso(at(14, 2)),
            "finishedAt": iso(at(14, 3)),
            "syncResult": {"revision": SHA_NEW},
            "message": "successfully synced",
        },
    )
    assert [r["status"] for r in argocd_rows(app)] == ["synced"]


def test_flux_kustomization_whose_inventory_holds_the_service(kube):
    frame = _source(kube).releases(WINDOW).frame
    assert _rows(frame, "flux") == [
        ("Kustomization/apps", f"main@sha1:{SHA_NEW}", "applied", at(14, 5))
    ]


def test_other_services_releases_are_a_note_not_rows(kube):
    fetched = _source(kube).releases(WINDOW)
    assert set(fetched.frame["name"]) == {"api", "Kustomization/apps"}
    other = [n for n in fetched.notes if n.startswith("other releases")]
    assert other == [
        "other releases in namespace 'prod' changed in the window (not this service's, not "
        "in the frame): argocd billing (14:30), helm worker (14:10)"
    ]
    assert not any("api-staging" in n or "infra" in n for n in fetched.notes)


def test_exact_requests(kube):
    _source(kube).releases(WINDOW)
    paths = [r.path for r in kube.requests]
    assert paths[paths.index(f"/api/v1/namespaces/{NS}/secrets") :] == [
        f"/api/v1/namespaces/{NS}/secrets",
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
        f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NS}/kustomizations",
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations",
        f"/apis/helm.toolkit.fluxcd.io/v2/namespaces/{NS}/helmreleases",
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases",
    ]
    assert all(r.query.get("limit") == "500" for r in kube.requests)


def test_namespaces_from_the_environment(kube):
    kube.add("applications", "gitops", argo_app("api", NS, [(SHA_NEW, at(14, 40))]))
    fetched = _source(kube).releases(
        WINDOW, environ={"INCIDENT_ARGOCD_NAMESPACE": "gitops", "INCIDENT_FLUX_NAMESPACE": "flux"}
    )
    assert _rows(fetched.frame, "argocd") == [("api", SHA_NEW, "synced", at(14, 40))]
    paths = {r.path for r in kube.requests}
    assert "/apis/argoproj.io/v1alpha1/namespaces/gitops/applications" in paths
    assert "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux/kustomizations" in paths


def test_tools_not_installed_are_notes(kube):
    kube.fail(r"^/apis/argoproj\.io/", 404)
    kube.fail(r"^/apis/(kustomize|helm)\.toolkit\.fluxcd\.io/", 404)
    fetched = _source(kube).releases(WINDOW)
    assert set(fetched.frame["tool"]) == {"helm"}
    assert "Argo CD not installed (applications.argoproj.io not served): no sync history" in (
        fetched.notes
    )
    flux = [n for n in fetched.notes if n.startswith("Flux ")]
    assert len(flux) == 2  # one per kind, not one per namespace
    assert "Kustomizations not served" in flux[0] and "HelmReleases not served" in flux[1]


def test_refused_reads_say_what_rbac_rule_allows_them(kube):
    kube.fail(r"/secrets$", 403)
    kube.fail(r"^/apis/argoproj\.io/", 403)
    fetched = _source(kube).releases(WINDOW)
    user = "user 'system:serviceaccount:prod:incident-bot'"
    assert (
        "Helm release history (release Secrets' metadata) not readable: forbidden (403): RBAC "
        f"must allow 'list' on 'secrets' in namespace 'prod' for {user}"
    ) in fetched.notes
    assert (
        "Argo CD Applications in namespace 'argocd' not readable: forbidden (403): RBAC must "
        f"allow 'list' on 'applications.argoproj.io' in namespace 'argocd' for {user}"
    ) in fetched.notes
    assert set(fetched.frame["tool"]) == {"flux"}  # the rest is still read


def test_rejected_credentials_raise(kube):
    kube.fail(r"/secrets$", 401)
    with pytest.raises(SourceUnavailable, match="401"):
        _source(kube).releases(WINDOW)


def test_nothing_at_all_is_an_empty_frame_with_its_contract():
    with FakeKubeServer() as kube:
        fetched = _source(kube).releases(WINDOW)
    assert fetched.frame.empty
    validate(fetched.frame, "releases")


def test_a_helmrelease_history_and_its_helm_secret_are_one_row(kube):
    history = [
        {
            "name": "api",
            "namespace": NS,
            "version": 12,
            "status": "deployed",
            "chartName": "api",
            "chartVersion": "1.4.2",
            "appVersion": "2.34.0",
            "firstDeployed": iso(at(9, 0)),
            "lastDeployed": iso(at(14, 2)),
            "digest": "sha256:1",
        },
        {
            "name": "api",
            "namespace": NS,
            "version": 11,
            "status": "superseded",
            "chartName": "api",
            "chartVersion": "1.4.1",
            "appVersion": "2.33.0",
            "firstDeployed": iso(at(9, 0)),
            "lastDeployed": iso(at(9, 0)),
            "digest": "sha256:0",
        },
    ]
    kube.add("helmreleases", NS, helmrelease("api", NS, history))
    frame = _source(kube).releases(WINDOW).frame
    assert _rows(frame, "helm") == []
    flux = frame[frame["name"] == "HelmRelease/api"]
    assert list(zip(flux["revision"], flux["version"], flux["status"], strict=True)) == [
        ("11", "api 1.4.1 (app 2.33.0)", "superseded"),
        ("12", "api 1.4.2 (app 2.34.0)", "deployed"),
    ]
    assert set(flux["target"]) == {"1.4.x"}


def test_failed_kustomization_is_a_failed_row():
    obj = kustomization(
        "apps", "flux-system", ready=("False", at(14, 12)), attempted="main@sha1:" + SHA_BAD
    )
    (row,) = kustomization_rows(obj)
    assert (row["revision"], row["status"], row["deployed_at"]) == (
        "main@sha1:" + SHA_BAD,
        "failed",
        iso(at(14, 12)),
    )
    assert row["detail"].startswith("ReconciliationFailed: Deployment/prod/api-server")


def test_helmrelease_without_history_uses_ready():
    (row,) = helmrelease_rows(helmrelease("api", NS, []))
    assert (row["status"], row["deployed_at"]) == ("applied", iso(at(14, 2)))


def test_service_names_from_labels_annotations_and_selector():
    from kubernetes import client

    dep = SimpleNamespace(
        metadata=client.V1ObjectMeta(
            name="api-server",
            labels={"app.kubernetes.io/instance": "api-prod"},
            annotations={
                "argocd.argoproj.io/tracking-id": "platform:apps/Deployment:prod/api-server",
                "meta.helm.sh/release-name": "api",
            },
        )
    )
    assert service_names("app=api,tier!=db", [dep], []) == {
        "api",
        "api-prod",
        "platform",
        "api-server",
    }


def test_lists_are_read_page_by_page(kube):
    source = KubernetesSource(
        namespace=NS, selector="app=api", api_client=kube.api_client(), page_size=1
    )
    frame = source.releases(WINDOW).frame
    assert len(_rows(frame, "helm")) == 2 and len(_rows(frame, "argocd")) == 3
    secrets = [r for r in kube.requests if r.path.endswith("/secrets")]
    assert len(secrets) == 3  # three release Secrets, one per page
    assert all(r.headers["accept"] == METADATA_ONLY for r in secrets)
