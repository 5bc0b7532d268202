"""One Kubernetes Job per incident, against the fake API server: the exact Job, the polling,
failures, and the RunResult read back from the run folder the Job wrote.

The "Job" is played by the injected ``sleep``: while the runner waits, it puts a
run folder into the workspace, as ``incident run`` in the pod would. That folder
was written by a real offline run of ``01_triage`` over the connection-leak demo.
No timing: the clock advances only when the runner sleeps.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from k8s_server import FakeKubeServer

from incident_lib.core.errors import InvalidInput, RunError
from incident_lib.infra.workspace import open_workspace
from incident_lib.receiver.jobs import (
    DEFAULT_RESOURCES,
    JobRunner,
    JobSettings,
    job_name,
    load_run_result,
)
from incident_lib.report.bundle import RunResult

NS = "incident-runbooks"
IMAGE = "registry.example/incident-runbooks:0.1.0"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
COMPLETE = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
FAILED = {
    "failed": 1,
    "conditions": [
        {
            "type": "Failed",
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
        }
    ],
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, RunResult]:
    """The demo workspace and the result of a real offline run of 01_triage over it."""
    from incident_lib.demo import ensure_demo
    from incident_lib.report.bundle import run_bundle

    folder = ensure_demo("connection-leak", root=tmp_path_factory.mktemp("demo"))
    result = run_bundle(open_workspace(folder), notebooks=["01_triage"])
    assert result.ok, [r.error for r in result.results]
    return folder, result


@pytest.fixture
def kube() -> Iterator[FakeKubeServer]:
    with FakeKubeServer() as server:
        yield server


@pytest.fixture
def workspace(demo_run, tmp_path) -> Path:
    """A copy of the demo workspace without its runs, under ``<tmp>/workspaces``."""
    source, _ = demo_run
    target = tmp_path / "workspaces" / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("runs", ".live.lock"))
    return target


@dataclass
class Cluster:
    """The injected sleep and clock: each sleep is the cluster working for that long."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)
    on_sleep: Callable[[int], None] | None = None

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.slept))

    def clock(self) -> float:
        return self.now


def job_writes_run(
    demo_run: tuple[Path, RunResult], workspace: Path, *, status: str = "ok"
) -> Callable[[int], None]:
    """On the first sleep, put the demo run's folder into ``workspace/runs`` as a live run."""
    _, result = demo_run

    def write(count: int) -> None:
        if count != 1:
            return
        target = workspace / "runs" / result.run_id
        shutil.copytree(result.run_dir, target)
        record = json.loads((target / "run.json").read_text())
        record["mode"] = "live"
        record["workspace"] = str(workspace)
        for entry in record["notebooks"]:
            entry["status"] = status
        (target / "run.json").write_text(json.dumps(record))

    return write


def runner(
    kube: FakeKubeServer, root: Path, cluster: Cluster, *, suffixes=("a1b2c3",), **settings: Any
) -> JobRunner:
    names = iter(suffixes)
    return JobRunner(
        kube.api_client(),
        JobSettings(namespace=NS, image=IMAGE, workspaces=root, **settings),
        sleep=cluster.sleep,
        clock=cluster.clock,
        suffix=lambda: next(names),
    )


def posted(kube: FakeKubeServer) -> list[dict[str, Any]]:
    return [r.json() for r in kube.requests if r.method == "POST"]


# -- the Job ----------------------------------------------------------------------------
def test_the_job_created_and_polled_until_complete(kube, demo_run, workspace):
    ws = open_workspace(workspace)
    name = job_name(ws.incident.id, "a1b2c3")
    kube.script_status("jobs", NS, name, {"active": 1}, {"active": 1}, COMPLETE)
    cluster = Cluster(on_sleep=job_writes_run(demo_run, workspace))
    run = runner(kube, workspace.parent, cluster, env={"PROMETHEUS_URL": "http://prom:9090"})

    result = run(ws, notebooks=["01"], notebook_dir=None, parallel=2, timeout=600, mode="live")

    labels = {
        "app.kubernetes.io/name": "incident-runbooks",
        "app.kubernetes.io/component": "capture",
        "incident-runbooks/incident": ws.incident.id,
    }
    hardened = {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert posted(kube) == [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": labels,
                "annotations": {"incident-runbooks/incident": ws.incident.id},
            },
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": 900,  # one wave of 600 s, and 300 s to start
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": "incident-runbooks",
                        "automountServiceAccountToken": True,
                        "securityContext": {**hardened, "fsGroup": 10001},
                        "containers": [
                            {
                                "name": "capture",
                                "image": IMAGE,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["incident"],
                                "args": [
                                    "run",
                                    str(workspace),
                                    "--mode",
                                    "live",
                                    "--parallel",
                                    "2",
                                    "--timeout",
                                    "600",
                                    "--notebooks",
                                    "01_triage",
                                ],
                                "securityContext": {
                                    **hardened,
                                    "readOnlyRootFilesystem": True,
                                    "allowPrivilegeEscalation": False,
                                    "privileged": False,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "resources": {k: dict(v) for k, v in DEFAULT_RESOURCES.items()},
                                "volumeMounts": [
                                    {"name": "workspaces", "mountPath": str(workspace.parent)},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                                "env": [{"name": "PROMETHEUS_URL", "value": "http://prom:9090"}],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "workspaces",
                                "persistentVolumeClaim": {
                                    "claimName": "incident-runbooks-workspaces"
                                },
                            },
                            {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
                        ],
                    },
                },
            },
        }
    ]
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", name)
    # polled until Complete: three reads, two waits of the poll interval
    reads = [r for r in kube.requests if r.method == "GET" and r.path == f"{JOBS}/{name}"]
    assert len(reads) == 3
    assert cluster.slept == [2.0, 2.0]
    # the fake stored it as the API server would
    stored = kube.get("jobs", NS, name)
    assert stored is not None and stored["metadata"]["uid"]
    assert stored["metadata"]["creationTimestamp"]
    # the run the Job wrote
    _, made = demo_run
    assert result.run_id == made.run_id
    assert result.run_dir == workspace / "runs" / made.run_id
    assert [(r.name, r.status) for r in result.results] == [("01_triage", "ok")]
    assert result.ok and result.story is not None


def test_all_notebooks_no_list_and_a_deadline_per_wave(kube, demo_run, workspace, tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for stem in ("01_triage", "02_assess", "03_changes"):
        (notebooks / f"{stem}.ipynb").write_text("{}")
    ws = open_workspace(workspace)
    cluster = Cluster(on_sleep=job_writes_run(demo_run, workspace))
    kube.script_status("jobs", NS, job_name(ws.incident.id, "a1b2c3"), {"active": 1}, COMPLETE)

    run = runner(kube, workspace.parent, cluster, startup=60)
    run(ws, notebooks=None, notebook_dir=notebooks, parallel=2, timeout=100, mode="live")

    (job,) = posted(kube)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--notebooks" not in args  # the whole set, as the image has it
    assert args[-2:] == ["--notebook-dir", str(notebooks)]
    assert job["spec"]["activeDeadlineSeconds"] == 2 * 100 + 60  # 3 notebooks, 2 at once


def test_a_taken_name_gets_another_suffix(kube, demo_run, workspace):
    ws = open_workspace(workspace)
    taken = job_name(ws.incident.id, "aaaaaa")
    kube.add("jobs", NS, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": taken}})
    second = job_name(ws.incident.id, "bbbbbb")
    kube.script_status("jobs", NS, second, {"active": 1}, COMPLETE)
    cluster = Cluster(on_sleep=job_writes_run(demo_run, workspace))

    run = runner(kube, workspace.parent, cluster, suffixes=("aaaaaa", "bbbbbb"))
    result = run(ws, notebooks=["01_triage"], mode="live")

    assert [j["metadata"]["name"] for j in posted(kube)] == [taken, second]
    assert result.ok


# -- failures ---------------------------------------------------------------------------
def test_a_failed_job_raises_naming_it_and_its_logs(kube, workspace):
    ws = open_workspace(workspace)
    name = job_name(ws.incident.id, "a1b2c3")
    kube.script_status("jobs", NS, name, {"active": 1}, FAILED)

    with pytest.raises(RunError) as caught:
        runner(kube, workspace.parent, Cluster())(ws, notebooks=["01_triage"], mode="live")

    text = str(caught.value)
    assert f"capture Job {name} failed" in text
    assert "BackoffLimitExceeded" in text
    assert f"kubectl logs job/{name} -n {NS}" in text


def test_a_failed_job_with_a_whole_bundle_returns_it(kube, demo_run, workspace):
    """``incident run`` exits 1 when a notebook fails; the bundle is still whole."""
    ws = open_workspace(workspace)
    kube.script_status("jobs", NS, job_name(ws.incident.id, "a1b2c3"), {"active": 1}, FAILED)
    cluster = Cluster(on_sleep=job_writes_run(demo_run, workspace, status="failed"))

    result = runner(kube, workspace.parent, cluster)(ws, notebooks=["01_triage"], mode="live")

    assert not result.ok
    assert [(r.name, r.status) for r in result.results] == [("01_triage", "failed")]


def test_a_complete_job_without_a_run_raises(kube, workspace):
    ws = open_workspace(workspace)
    name = job_name(ws.incident.id, "a1b2c3")
    kube.script_status("jobs", NS, name, COMPLETE)

    with pytest.raises(RunError, match="wrote no complete run") as caught:
        runner(kube, workspace.parent, Cluster())(ws, notebooks=["01_triage"], mode="live")
    assert f"kubectl logs job/{name} -n {NS}" in str(caught.value)


def test_a_job_that_never_finishes_times_out(kube, workspace):
    ws = open_workspace(workspace)
    name = job_name(ws.incident.id, "a1b2c3")
    kube.script_status("jobs", NS, name, {"active": 1})
    cluster = Cluster()

    with pytest.raises(RunError) as caught:
        runner(kube, workspace.parent, cluster, startup=0)(
            ws, notebooks=["01_triage"], timeout=10, mode="live"
        )

    text = str(caught.value)
    assert f"capture Job {name} did not finish within" in text
    assert f"kubectl logs job/{name} -n {NS}" in text
    assert cluster.now >= 10  # waited past the Job's deadline, never forever
    assert (
        len(cluster.slept)
        == len([r for r in kube.requests if r.method == "GET" and r.path == f"{JOBS}/{name}"]) - 1
    )


def test_forbidden_create_names_the_verb_and_resource(kube, workspace):
    ws = open_workspace(workspace)
    kube.fail(f"^{JOBS}$", 403)

    with pytest.raises(RunError) as caught:
        runner(kube, workspace.parent, Cluster())(ws, notebooks=["01_triage"], mode="live")

    text = str(caught.value)
    assert 'cannot create resource "jobs" in API group "batch"' in text
    assert "HTTP 403" in text
    assert [r.method for r in kube.requests] == ["POST"]  # no polling of a Job never made


def test_refused_before_any_job(kube, workspace, tmp_path):
    ws = open_workspace(workspace)
    with pytest.raises(InvalidInput, match="not under"):
        runner(kube, tmp_path / "elsewhere", Cluster())(ws, notebooks=["01_triage"])
    with pytest.raises(InvalidInput):
        runner(kube, workspace.parent, Cluster())(ws, notebooks=["99_nothing"])
    with pytest.raises(InvalidInput):
        runner(kube, workspace.parent, Cluster())(ws, notebooks=["01_triage"], parallel=0)
    assert kube.requests == []


def test_from_environment_uses_the_kubeconfig(kube, demo_run, workspace, tmp_path):
    config = kube.kubeconfig(tmp_path / "kubeconfig")
    ws = open_workspace(workspace)
    settings = JobSettings(namespace=NS, image=IMAGE, workspaces=workspace.parent)
    run = JobRunner.from_environment(settings, environ={"KUBECONFIG": str(config)})
    kube.script_status("jobs", NS, "ignored", COMPLETE)
    kube.fail(f"^{JOBS}$", 403)
    with pytest.raises(RunError, match="cannot create"):
        run(ws, notebooks=["01_triage"])
    assert kube.requests[0].headers["authorization"] == "Bearer t0ken"


# -- names and settings -----------------------------------------------------------------
def test_job_names_are_dns_labels():
    assert job_name("ALERT-0A1B2C3D4E5F", "a1b2c3") == "capture-alert-0a1b2c3d4e5f-a1b2c3"
    assert job_name("INC 2026/0042_x", "ff00aa") == "capture-inc-2026-0042-x-ff00aa"
    long = job_name("X" * 100, "a1b2c3")
    assert len(long) <= 63 and long.endswith("-a1b2c3")
    for name in (long, job_name("--", "a1b2c3"), job_name("a-" * 40, "a1b2c3")):
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", name), name


def test_settings_from_the_configuration():
    settings = JobSettings.from_mapping(
        {
            "mode": "job",
            "namespace": NS,
            "image": IMAGE,
            "env_from_secrets": ["incident-runbooks-sources"],
        },
        workspaces=Path("/var/lib/incident-runbooks"),
    )
    assert settings.workspaces == Path("/var/lib/incident-runbooks")
    assert settings.env_from_secrets == ("incident-runbooks-sources",)
    with pytest.raises(InvalidInput, match="unknown key"):
        JobSettings.from_mapping({"namespace": NS, "image": IMAGE, "imgae": "x"})
    with pytest.raises(InvalidInput, match="image required"):
        JobSettings.from_mapping({"namespace": NS})
    with pytest.raises(InvalidInput, match="Kubernetes name"):
        JobSettings(namespace="Not_A_Name", image=IMAGE)
    with pytest.raises(InvalidInput, match="absolute"):
        JobSettings(namespace=NS, image=IMAGE, workspaces=Path("relative"))


def test_secrets_are_referenced_never_copied(kube, demo_run, workspace):
    ws = open_workspace(workspace)
    cluster = Cluster(on_sleep=job_writes_run(demo_run, workspace))
    kube.script_status("jobs", NS, job_name(ws.incident.id, "a1b2c3"), {"active": 1}, COMPLETE)
    run = runner(
        kube,
        workspace.parent,
        cluster,
        env_from_secrets=("incident-runbooks-sources",),
        env_from_config_maps=("incident-runbooks-env",),
    )
    run(ws, notebooks=["01_triage"], mode="live")
    (container,) = posted(kube)[0]["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "incident-runbooks-env"}},
        {"secretRef": {"name": "incident-runbooks-sources"}},
    ]
    assert "env" not in container


# -- the RunResult of a finished run folder ----------------------------------------------
def test_load_run_result_matches_the_run(demo_run):
    folder, made = demo_run
    ws = open_workspace(folder)
    timeline = (folder / "timeline.jsonl").read_bytes()

    loaded = load_run_result(ws, made.run_dir)

    assert (loaded.run_id, loaded.run_dir, loaded.index) == (made.run_id, made.run_dir, made.index)
    # run.json keeps each notebook's seconds to two decimals
    assert loaded.results == tuple(replace(r, seconds=round(r.seconds, 2)) for r in made.results)
    assert loaded.findings == made.findings
    assert loaded.availability == made.availability
    assert loaded.evidence_head == made.evidence_head
    assert abs(loaded.seconds - made.seconds) < 0.01
    assert loaded.story is not None and made.story is not None
    assert loaded.story.diagnosis == made.story.diagnosis
    assert (folder / "timeline.jsonl").read_bytes() == timeline  # nothing recorded


def test_load_run_result_refuses_a_run_that_is_not_whole(demo_run, tmp_path):
    folder, made = demo_run
    ws = open_workspace(folder)
    running = tmp_path / made.run_id
    shutil.copytree(made.run_dir, running)
    record = json.loads((running / "run.json").read_text())
    (running / "run.json").write_text(json.dumps({**record, "state": "failed", "error": "boom"}))
    with pytest.raises(RunError, match="not a complete run"):
        load_run_result(ws, running)
    (running / "run.json").write_text(json.dumps(record))
    (running / "index.html").unlink()
    with pytest.raises(RunError, match=r"no index\.html"):
        load_run_result(ws, running)


# -- as the pipeline's run --------------------------------------------------------------
def test_the_pipeline_runs_its_notebooks_as_a_job(kube, demo_run, tmp_path):
    from datetime import UTC, datetime

    from incident_lib.receiver.alerts import Notice
    from incident_lib.receiver.pipeline import Pipeline
    from incident_lib.receiver.routing import ReceiverConfig, incident_for

    notice = Notice(
        source="alertmanager",
        key='alertmanager:{}:{alertname="HighErrorRate"}',
        delivery="d1",
        status="firing",
        name="HighErrorRate",
        labels={"service": "api", "namespace": "prod"},
        severity="critical",
        starts_at=datetime(2026, 11, 3, 14, 18, tzinfo=UTC),
        ends_at=None,
        summary="5xx share above 5 %",
        url="",
        alerts=1,
    )
    config = ReceiverConfig(default_notebooks=("01_triage",))
    root = tmp_path / "incidents"
    plan = incident_for(notice, config)
    name = job_name(plan.incident_id, "a1b2c3")
    kube.script_status("jobs", NS, name, {"active": 1}, COMPLETE)
    cluster = Cluster(on_sleep=job_writes_run(demo_run, root / plan.incident_id))
    pipeline = Pipeline(config, root, run=runner(kube, root, cluster), timeout=120)

    handled = pipeline.handle(notice)

    assert handled.ok and handled.run is not None, handled.problem
    assert handled.run.run_dir.parent == root / plan.incident_id / "runs"
    (job,) = posted(kube)
    assert job["metadata"]["labels"]["incident-runbooks/incident"] == plan.incident_id
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["run", str(root / plan.incident_id), "--mode", "live"]
    assert args[-2:] == ["--notebooks", "01_triage"]
