"""``incident serve``: refused before anything starts when its configuration is unusable."""

from __future__ import annotations

import threading

import httpx
import pytest
from serving import serving

from incident_lib.cli import main
from incident_lib.receiver.service import build_receiver


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "receiver.yaml"
    path.write_text("default_notebooks: [01_triage]\n", encoding="utf-8")
    return path


def test_without_a_token_nothing_starts(config, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("INCIDENT_RECEIVER_TOKEN", raising=False)
    code = main(["serve", "--config", str(config), "--workspaces", str(tmp_path / "w")])
    assert code == 2
    assert "set INCIDENT_RECEIVER_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "--port 70000"),
        (["--grace", "0"], "--grace 0"),
        (["--config", "/nonexistent/receiver.yaml"], "cannot read it"),
    ],
)
def test_bad_options_are_refused_with_what_to_fix(
    argv, message, config, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("INCIDENT_RECEIVER_TOKEN", "t0ken-123456")
    base = ["serve", "--config", str(config), "--workspaces", str(tmp_path / "w")]
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_key_in_the_configuration_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INCIDENT_RECEIVER_TOKEN", "t0ken-123456")
    bad = tmp_path / "receiver.yaml"
    bad.write_text("default_notebook: [01_triage]\n", encoding="utf-8")
    assert main(["serve", "--config", str(bad), "--workspaces", str(tmp_path / "w")]) == 2
    assert "default_notebook" in capsys.readouterr().err


def test_routes_need_the_token_and_pagerduty_only_with_its_secret(config, tmp_path):
    environ = {"INCIDENT_RECEIVER_TOKEN": "t0ken-123456"}
    receiver = build_receiver(config, tmp_path / "w", port=0, environ=environ)
    with serving(receiver) as url:
        body = b'{"version": "4"}'
        json = {"content-type": "application/json"}
        assert httpx.post(f"{url}/alertmanager", content=body, headers=json).status_code == 401
        wrong = json | {"authorization": "Bearer nope"}
        assert httpx.post(f"{url}/datadog", content=body, headers=wrong).status_code == 401
        assert httpx.post(f"{url}/pagerduty", content=body, headers=json).status_code == 404
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_capture_section_makes_each_bundle_a_kubernetes_job(tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
    from k8s_server import FakeKubeServer

    example = Path(__file__).parents[1] / "data" / "receiver" / "alertmanager_v4.json"
    document = json.loads(example.read_text(encoding="utf-8"))
    for labels in (document["commonLabels"], *(a["labels"] for a in document["alerts"])):
        labels["service"] = "api"
    payload = json.dumps(document).encode()
    config = tmp_path / "receiver.yaml"
    config.write_text(
        "default_notebooks: [01_triage]\ndefault_namespace: prod\n"
        "parameters: {metrics_source: prometheus}\n"
        "capture: {namespace: incident-runbooks, image: registry.example/ir:0.1.0, poll: 0.1}\n",
        encoding="utf-8",
    )
    with FakeKubeServer() as kube:
        kube.fail(r"/jobs/[^/]+$", 404)  # the Job vanishes: the runner stops polling at once
        kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
        environ = {"INCIDENT_RECEIVER_TOKEN": "t0ken-123456", "KUBECONFIG": str(kubeconfig)}
        receiver = build_receiver(config, tmp_path / "w", port=0, environ=environ)
        with serving(receiver, grace=1.0) as url:
            answer = httpx.post(
                f"{url}/alertmanager",
                content=payload,
                headers={
                    "content-type": "application/json",
                    "authorization": "Bearer t0ken-123456",
                },
            )
            assert answer.status_code == 202, answer.text
            jobs = "/apis/batch/v1/namespaces/incident-runbooks/jobs"
            for _ in range(300):
                if any(r.method == "POST" and r.path == jobs for r in kube.requests):
                    break
                threading.Event().wait(0.05)
            (created,) = [r.json() for r in kube.requests if r.method == "POST"]
    container = created["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/ir:0.1.0"
    (folder,) = (tmp_path / "w").iterdir()
    assert folder.name.startswith("ALERT-")
    args = container.get("args", []) + container.get("command", [])
    assert str(folder.absolute()) in args and "live" in args and "01_triage" in args
    assert args[args.index("-p") + 1] == "metrics_source=prometheus"
