"""The container image and the manifests (Dockerfile, deploy/): schemas, hardening, RBAC.

1. Every manifest validates against the Kubernetes OpenAPI schemas of a pinned version
   (``kubernetes-validate``, strict: an unknown field is an error).
2. The hardening checkov would ask for, written here (checkov itself is not installed: it
   replaces our ``detect-secrets`` with its fork and calls a web service; docs/deploy.md).
3. The read-only RBAC is exactly what the sources use: every frame of the Kubernetes source is
   captured against the fake API server, each request becomes (verb, API group, resource)
   and must be granted, and nothing else may be. The same for the mitigate role and the
   actions' requests. A new API call without its permission fails here.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from incident_records import sample_incident

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
#: the Kubernetes version the manifests are validated for
K8S_VERSION = "1.33.0"
#: files under deploy/ that are not applied by a kustomization (templates)
TEMPLATES = {"job-capture.yaml"}

sys.path.insert(0, str(ROOT / "tests" / "sources"))
sys.path.insert(0, str(ROOT / "tests" / "actions"))


# -- loading ------------------------------------------------------------------------------
def manifests(root: Path = DEPLOY) -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under ``root`` (kustomization files excluded)."""
    found = []
    for path in sorted(root.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((path, doc))
    return found


def objects(kind: str, root: Path = DEPLOY) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests(root) if doc.get("kind") == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in objects(kind) if d["metadata"]["name"] == name]
    return found


# -- 1. schemas -----------------------------------------------------------------------------
def schema_errors(root: Path = DEPLOY) -> list[str]:
    """What the pinned Kubernetes schemas refuse in the manifests under ``root``."""
    import kubernetes_validate

    errors = []
    for path, doc in manifests(root):
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{path.relative_to(root)}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{path.relative_to(root)}: no schema ({exc})")
    return errors


def test_every_manifest_validates_against_the_kubernetes_schemas():
    assert len(manifests()) >= 10
    assert schema_errors() == []


def test_a_broken_manifest_is_caught(tmp_path):
    copied = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copied)
    path = copied / "deployment.yaml"
    text = path.read_text()
    path.write_text(text.replace("containerPort: 8080", 'containerPort: "eighty"', 1))
    service = copied / "service.yaml"
    service.write_text(service.read_text().replace("  type: ClusterIP", "  typo: ClusterIP"))

    errors = schema_errors(copied)

    assert any(e.startswith("deployment.yaml") and "eighty" in e for e in errors), errors
    assert any(e.startswith("service.yaml") and "typo" in e for e in errors), errors


def test_the_kustomizations_name_every_manifest_and_only_existing_files():
    listed: set[Path] = set()
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        data = yaml.safe_load(kustomization.read_text())
        for resource in data["resources"]:
            target = kustomization.parent / resource
            assert target.is_file(), f"{kustomization}: {resource} does not exist"
            listed.add(target)
    files = {p for p in DEPLOY.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert {p for p in files if p.name not in TEMPLATES} == listed


# -- 2. hardening ---------------------------------------------------------------------------
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|APP_?KEY|DSN|WEBHOOK", re.I)


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc.get("kind") in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def hardening_problems(docs: list[dict[str, Any]]) -> list[str]:
    """The insecure settings of the workloads in ``docs`` (empty: all hardened)."""
    problems = []
    for where, spec in pod_specs(docs):
        pod = spec.get("securityContext") or {}
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                problems.append(f"{where}: {flag}")
        if any("hostPath" in v for v in spec.get("volumes") or []):
            problems.append(f"{where}: hostPath volume")
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            at = f"{where} {c['name']}"
            sc = {**pod, **(c.get("securityContext") or {})}
            if sc.get("runAsNonRoot") is not True:
                problems.append(f"{at}: runAsNonRoot is not true")
            if not isinstance(sc.get("runAsUser"), int) or sc["runAsUser"] < 1000:
                problems.append(f"{at}: runAsUser is not a numeric non-root UID")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{at}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{at}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                problems.append(f"{at}: privileged")
            if (sc.get("capabilities") or {}).get("drop") != ["ALL"] or (
                sc.get("capabilities") or {}
            ).get("add"):
                problems.append(f"{at}: capabilities not dropped (ALL) or some added")
            if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{at}: seccompProfile is not RuntimeDefault")
            resources = c.get("resources") or {}
            for part in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    if what not in (resources.get(part) or {}):
                        problems.append(f"{at}: no {what} {part}")
            image = c.get("image", "")
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{at}: image {image!r} has no fixed tag")
            for env in c.get("env") or []:
                if _SECRET_NAME.search(env["name"]) and "value" in env:
                    problems.append(f"{at}: {env['name']} has a value (use a secretKeyRef)")
        if where.startswith("Deployment/"):
            for c in spec["containers"]:
                for probe in ("livenessProbe", "readinessProbe"):
                    if ((c.get(probe) or {}).get("httpGet") or {}).get("path") != "/healthz":
                        problems.append(f"{where} {c['name']}: no {probe} on /healthz")
    for doc in docs:
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            problems.append(f"Secret/{doc['metadata']['name']}: a value in a manifest")
    return problems


def test_the_workloads_are_hardened():
    docs = [doc for _, doc in manifests()]
    assert {w for w, _ in pod_specs(docs)} == {
        "Deployment/incident-runbooks",
        "Job/incident-capture-inc-2026-0042",
    }
    assert hardening_problems(docs) == []


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = doc["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (lambda d: _container(d)["securityContext"].pop("readOnlyRootFilesystem"), "readOnly"),
        (lambda d: _container(d)["securityContext"].update(runAsUser=0), "runAsUser"),
        (
            lambda d: _container(d)["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (lambda d: _container(d)["securityContext"]["capabilities"].update(drop=[]), "capab"),
        (lambda d: _container(d)["resources"].pop("limits"), "no cpu limits"),
        (lambda d: _container(d).update(image="incident-runbooks:latest"), "fixed tag"),
        (lambda d: _container(d).update(image="incident-runbooks"), "fixed tag"),
        (lambda d: _container(d).pop("livenessProbe"), "livenessProbe"),
        (
            lambda d: _container(d)["env"].append({"name": "DD_API_KEY", "value": "x"}),
            "secretKeyRef",
        ),
        (lambda d: d["spec"]["template"]["spec"].update(hostNetwork=True), "hostNetwork"),
        (
            lambda d: _container(d)["securityContext"].update(seccompProfile={"type": "x"}),
            "seccomp",
        ),
    ],
)
def test_an_insecure_setting_is_caught(plant, expected):
    deployment = copy.deepcopy(named("Deployment", "incident-runbooks"))
    plant(deployment)
    assert any(expected in p for p in hardening_problems([deployment]))


def test_tokens_come_from_a_secret_reference_never_a_value():
    assert objects("Secret") == []
    env = _container(named("Deployment", "incident-runbooks"))["env"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
    assert refs == {"incident-runbooks-tokens"}


# -- the Dockerfile, statically (no docker daemon, no hadolint) -----------------------------
def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def dockerfile_problems(text: str) -> list[str]:
    """What the image definition gets wrong (empty: nothing)."""
    steps = dockerfile_instructions(text)
    problems = []
    for word, rest in steps:
        if word == "FROM":
            image = rest.split()[0]
            if ":" not in image or image.endswith(":latest"):
                problems.append(f"FROM {image}: no fixed tag")
        if word in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or rest.split()[:1]
            problems += [
                f"{word} {n}: a secret in the image" for n in names if _SECRET_NAME.search(n)
            ]
        if word == "RUN" and re.search(r"pip install[^&]*\.\[", rest):
            problems.append("pip install with extras (the image takes the package only)")
    users = [rest for word, rest in steps if word == "USER"]
    if not users or not re.fullmatch(r"[1-9][0-9]{3,}(:[0-9]+)?", users[-1]):
        problems.append("the last USER is not a numeric non-root UID")
    if not any(word == "HEALTHCHECK" and "/healthz" in rest for word, rest in steps):
        problems.append("no HEALTHCHECK on /healthz")
    entry = [rest for word, rest in steps if word == "ENTRYPOINT"]
    if not entry or entry[-1] != '["incident", "serve"]':
        problems.append("the entrypoint is not `incident serve`")
    env = " ".join(rest for word, rest in steps if word == "ENV")
    for name in ("HOME", "TMPDIR", "MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR"):
        if not re.search(rf"\b{name}=/tmp\b", env):
            problems.append(f"{name} is not under /tmp (read-only root file system)")
    return problems


def test_the_dockerfile_is_non_root_pinned_and_read_only_friendly():
    text = DOCKERFILE.read_text()
    assert dockerfile_problems(text) == []
    froms = [rest for word, rest in dockerfile_instructions(text) if word == "FROM"]
    assert all(f.startswith("python:3.11-slim") for f in froms)
    # the manifests run the image as the Dockerfile's user
    uid = int(re.findall(r"^USER (\d+)", text, re.M)[-1])
    for _, spec in pod_specs([doc for _, doc in manifests()]):
        assert spec["securityContext"]["runAsUser"] == uid


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001", "USER incident", "numeric"),
        ("USER 10001:10001", "USER 0", "numeric"),
        ("FROM python:3.11-slim-bookworm AS build", "FROM python:latest AS build", "fixed tag"),
        ("FROM python:3.11-slim-bookworm\n", "FROM python\n", "fixed tag"),
        ("    PIP_NO_CACHE_DIR=1 \\", "    PIP_NO_CACHE_DIR=1 API_TOKEN=abc \\", "secret"),
        ("HEALTHCHECK", "# HEALTHCHECK", "HEALTHCHECK"),
        ('ENTRYPOINT ["incident", "serve"]', 'ENTRYPOINT ["bash"]', "entrypoint"),
        ("MPLCONFIGDIR=/tmp/matplotlib", "MPLCONFIGDIR=/root/.mpl", "MPLCONFIGDIR"),
        ("--prefix=/install .", "--prefix=/install .[dev]", "extras"),
    ],
)
def test_a_bad_dockerfile_is_caught(old, new, expected):
    text = DOCKERFILE.read_text()
    assert old in text
    assert any(expected in p for p in dockerfile_problems(text.replace(old, new, 1)))


def test_the_build_context_leaves_out_credentials_and_workspaces():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore.index("**") < ignore.index("!pyproject.toml")  # all out, then what is needed
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    assert allowed == ["pyproject.toml", "README.md", "incident_lib/", "notebooks/*.ipynb"]


# -- 3. RBAC against the API calls ------------------------------------------------------------
Grant = tuple[str, str, str]  # (verb, API group, resource[/subresource])

_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?"
    r"/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[a-z]+))?)?$"
)
_WRITE_VERBS = {"PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}


def rbac_request(method: str, path: str) -> tuple[str | None, Grant]:
    """(namespace or None at cluster scope, (verb, group, resource)) of one API request."""
    match = _PATH.match(path)
    assert match, f"not an API path: {path}"
    resource = match["resource"] + (f"/{match['sub']}" if match["sub"] else "")
    reads = "get" if match["name"] else "list"
    verb = reads if method == "GET" else _WRITE_VERBS[method]
    return match["ns"], (verb, match["group"] or "", resource)


def rule_grants(role: dict[str, Any]) -> set[Grant]:
    grants = set()
    for rule in role["rules"]:
        for part in ("verbs", "apiGroups", "resources"):
            assert "*" not in rule[part], f"{role['metadata']['name']}: wildcard {part}"
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        grants |= {
            (v, g, r) for v in rule["verbs"] for g in rule["apiGroups"] for r in rule["resources"]
        }
    return grants


def bound(kind: str, root: Path = DEPLOY) -> dict[str | None, set[Grant]]:
    """What the bindings of ``kind`` grant, by namespace (None: the kustomization's)."""
    roles = {r["metadata"]["name"]: r for r in objects("ClusterRole") + objects("Role")}
    by_ns: dict[str | None, set[Grant]] = {}
    for binding in objects(kind, root):
        if any(w in binding["roleRef"]["name"] for w in ("mitigate", "capture-jobs")):
            continue  # the optional write roles: their own tests
        ns = binding["metadata"].get("namespace")
        by_ns.setdefault(ns, set()).update(rule_grants(roles[binding["roleRef"]["name"]]))
    return by_ns


def read_subjects() -> set[str]:
    docs = objects("RoleBinding", DEPLOY) + objects("ClusterRoleBinding", DEPLOY)
    return {
        s["name"]
        for d in docs
        if not any(w in d["metadata"]["name"] for w in ("mitigate", "capture-jobs"))
        for s in d["subjects"]
    }


@pytest.fixture(scope="module")
def source_requests(tmp_path_factory) -> list[tuple[str | None, Grant]]:
    """Every request of every frame of the Kubernetes connector, on a cluster that has it all."""
    import test_kubernetes as tk
    from k8s_server import FakeKubeServer
    from kubernetes import client

    from incident_lib.sources.kubernetes import KubernetesConnector

    meta = client.V1ObjectMeta
    with FakeKubeServer() as kube:
        tk.populate(kube)
        # a pod that uses a ConfigMap and a Secret (config frame)
        pod = tk.make_pod("api-5d8f7-ddddd", "node-1")
        pod.spec.containers[0].env_from = [
            client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name="api-config")),
            client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name="api-secrets")),
        ]
        kube.add("pods", tk.NS, pod)
        kube.add("configmaps", tk.NS, client.V1ConfigMap(metadata=meta(name="api-config")))
        kube.add("secrets", tk.NS, client.V1Secret(metadata=meta(name="api-secrets")))
        selector = client.V1LabelSelector(match_labels={"app": "api"})
        kube.add(
            "statefulsets",
            tk.NS,
            client.V1StatefulSet(
                metadata=meta(name="api-cache", namespace=tk.NS, labels={"app": "api"}),
                spec=client.V1StatefulSetSpec(
                    selector=selector, service_name="api-cache", template=tk._template("x:1")
                ),
            ),
        )
        kube.add(
            "jobs",
            tk.NS,
            client.V1Job(
                metadata=meta(name="migrate", namespace=tk.NS, creation_timestamp=tk.at(14, 10)),
                spec=client.V1JobSpec(template=tk._template("x:1")),
                status=client.V1JobStatus(start_time=tk.at(14, 10), failed=1),
            ),
        )
        kube.add(
            "hpas",
            tk.NS,
            client.V2HorizontalPodAutoscaler(
                metadata=meta(name="api", namespace=tk.NS),
                spec=client.V2HorizontalPodAutoscalerSpec(
                    max_replicas=5,
                    scale_target_ref=client.V2CrossVersionObjectReference(
                        api_version="apps/v1", kind="Deployment", name="api"
                    ),
                ),
            ),
        )
        kubeconfig = tmp_path_factory.mktemp("kube") / "kubeconfig"
        kubeconfig.write_text(tk.KUBECONFIG.format(url=kube.url, token=tk.TOKEN))
        environ = {"KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
        connector = KubernetesConnector(environ=environ)
        incident = sample_incident(title="Checkout 500s", namespace=tk.NS)
        for frame in connector.frames:
            connector.fetch(frame, incident, tk.WINDOW)
        return [rbac_request(r.method, r.path) for r in kube.requests]


def test_every_frame_was_captured(source_requests):
    used = {grant for _, grant in source_requests}
    # the conditional reads happened too (previous logs, referenced Secrets, Job pods...)
    assert ("get", "", "pods/log") in used
    assert ("list", "", "secrets") in used and ("list", "", "configmaps") in used
    assert ("list", "apps", "controllerrevisions") in used
    assert (None, ("list", "", "events")) in source_requests


def test_the_read_roles_grant_exactly_what_the_sources_use(source_requests):
    from test_kubernetes import NS

    used: dict[str | None, set[Grant]] = {}
    for ns, grant in source_requests:
        used.setdefault(ns, set()).add(grant)
    # the service's namespace: the RoleBindings of deploy/ (bound per namespace, docs/deploy.md)
    namespaced = bound("RoleBinding", DEPLOY)
    service_ns = namespaced.pop(None)
    assert used.pop(NS) == service_ns
    # the GitOps tools' namespaces (deploy/gitops/): one role for both, exact over the two
    assert set(namespaced) == {"argocd", "flux-system"}
    assert set().union(*(used.pop(ns) for ns in ("argocd", "flux-system"))) == set().union(
        *namespaced.values()
    )
    # the cluster scope
    cluster = bound("ClusterRoleBinding", DEPLOY)
    assert used.pop(None) == cluster[None]
    assert used == {}, f"requests in namespaces no binding covers: {used}"
    # read-only, and bound to the receiver's ServiceAccount only
    for grants in (service_ns, cluster[None], *namespaced.values()):
        assert {verb for verb, _, _ in grants} <= {"get", "list"}
    assert read_subjects() == {"incident-runbooks"}


def test_a_call_without_its_permission_is_caught(source_requests):
    """What the exactness check reports when a source gains a call (or the role loses one)."""
    service_ns = bound("RoleBinding", DEPLOY)[None]
    new_call = ("list", "networking.k8s.io", "ingresses")
    used = {g for ns, g in source_requests if ns == "prod"} | {new_call}
    assert used - service_ns == {new_call}


#: the Kubernetes actions and the workloads each is tried on; feature_flag is HTTP, not RBAC
_ACTION_TARGETS = {
    "rollback": ("Deployment/api", "StatefulSet/db", "DaemonSet/agent"),
    "scale": ("Deployment/api", "StatefulSet/db", "DaemonSet/agent"),
    "restart": ("Deployment/api", "StatefulSet/db", "DaemonSet/agent"),
    "set_limit": ("Deployment/api", "StatefulSet/db", "DaemonSet/agent"),
    "config_revert": ("ConfigMap/api-config",),
}
_ACTION_PARAMS = {"scale": {"replicas": "5"}, "set_limit": {"memory": "768Mi"}}


def test_every_kubernetes_action_kind_is_exercised_below():
    from incident_lib.core.actions import ACTION_KINDS

    assert set(ACTION_KINDS) - {"feature_flag"} == set(_ACTION_TARGETS)


@pytest.fixture(scope="module")
def action_requests() -> list[tuple[str | None, Grant]]:
    """Every request of every action kind on every workload kind, planned, dry run, applied."""
    import test_config_revert as tc
    import test_kubernetes_actions as ta

    from incident_lib.core.errors import ActionRefused

    recorded = []
    for kind, workloads in _ACTION_TARGETS.items():
        for workload in workloads:
            with ta.fake_cluster() as kube:
                kube.add("configmaps", ta.NS, tc.configmap("api-config", tc.LIVE, tc.APPLIED))
                actor = ta.actor(kube)
                name = workload.split("/")[1]
                params = _ACTION_PARAMS.get(kind, {})
                if kind == "set_limit":
                    params = params | {"container": name}
                try:
                    plan = actor.plan(ta.act(kind, workload, **params))
                    actor.dry_run(plan)
                    actor.apply(plan, confirm=True, target=name)
                    actor.follow(plan, timeout_s=0.05, poll_s=0.01)
                except ActionRefused:
                    pass  # a kind that does not apply (scale of a DaemonSet)
                recorded += [rbac_request(r.method, r.path) for r in kube.requests]
    return recorded


def test_the_mitigate_role_grants_exactly_what_the_actions_use(action_requests):
    used = {grant for _, grant in action_requests}
    assert ("patch", "apps", "deployments/scale") in used
    assert ("patch", "apps", "statefulsets") in used and ("patch", "apps", "daemonsets") in used
    assert ("patch", "", "configmaps") in used
    assert {ns for ns, _ in action_requests} == {"prod"}
    (role,) = objects("ClusterRole", DEPLOY / "mitigate")
    assert rule_grants(role) == used
    (binding,) = objects("RoleBinding", DEPLOY / "mitigate")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert [s["name"] for s in binding["subjects"]] == ["incident-runbooks-mitigate"]


def test_the_receiver_never_holds_a_write_verb():
    for path, doc in manifests():
        optional_writer = "mitigate" in path.parts or "jobs" in path.parts
        if doc["kind"] in ("Role", "ClusterRole") and not optional_writer:
            assert {v for v, _, _ in rule_grants(doc)} <= {"get", "list"}, path


def job_runner_requests(tmp_path: Path) -> list[tuple[str | None, Grant]]:
    """Every request of a capture Job's life as JobRunner makes it: create, then read."""
    from datetime import UTC, datetime

    from k8s_server import FakeKubeServer

    from incident_lib.core.errors import RunError
    from incident_lib.core.incident import Incident
    from incident_lib.infra.workspace import create_workspace
    from incident_lib.receiver.jobs import JobRunner, JobSettings

    incident = Incident.create(
        id="ALERT-0123456789AB",
        title="api 5xx",
        service="api",
        namespace="prod",
        severity="SEV-2",
        start=datetime(2026, 11, 3, 14, 0, tzinfo=UTC),
    )
    workspace = create_workspace(incident, tmp_path / "w" / incident.id)
    settings = JobSettings(
        namespace="incident-runbooks", image="ir:0.1.0", workspaces=tmp_path / "w"
    )
    with FakeKubeServer() as kube:
        kube.fail(r"/jobs/[^/]+$", 404)  # read once, then gone: the runner stops
        runner = JobRunner(kube.api_client(), settings)
        with pytest.raises(RunError):
            runner(workspace, notebooks=["01_triage"])
        return [rbac_request(r.method, r.path) for r in kube.requests]


def test_the_capture_jobs_role_grants_exactly_what_the_job_runner_uses(tmp_path):
    requests = job_runner_requests(tmp_path)
    used = {grant for _, grant in requests}
    assert used == {("create", "batch", "jobs"), ("get", "batch", "jobs")}
    assert {ns for ns, _ in requests} == {"incident-runbooks"}
    (role,) = objects("Role", DEPLOY / "jobs")
    assert rule_grants(role) == used
    (binding,) = objects("RoleBinding", DEPLOY / "jobs")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert [s["name"] for s in binding["subjects"]] == ["incident-runbooks"]


def test_the_documentation_lists_every_granted_resource():
    text = (ROOT / "docs" / "deploy.md").read_text()
    for path, doc in manifests():
        if doc["kind"] in ("Role", "ClusterRole"):
            for _verb, group, resource in rule_grants(doc):
                qualified = f"{resource}.{group}" if group else resource
                assert f"`{qualified}`" in text, f"{qualified} ({path.name}) not in docs/deploy.md"


def test_the_capture_job_runs_one_workspace_live_as_the_read_identity():
    (job,) = objects("Job")
    spec = job["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "incident-runbooks"
    container = spec["containers"][0]
    assert container["command"] == ["incident"]
    assert container["args"][0] == "run" and "--mode" in container["args"]
    assert container["args"][container["args"].index("--mode") + 1] == "live"
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {
        named("PersistentVolumeClaim", "incident-runbooks-workspaces")["metadata"]["name"]
    }
    assert (
        os.path.basename(container["args"][1])
        == job["metadata"]["labels"]["incident-runbooks/incident"]
    )
