"""``incident serve``: refused before anything starts when its configuration is unusable."""

from __future__ import annotations

import threading

import httpx
import pytest

from incident_lib.cli import main
from incident_lib.receiver.service import build_receiver, serve


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
    stop, urls = threading.Event(), []
    thread = threading.Thread(
        target=serve, args=(receiver,), kwargs={"ready": urls.append, "stop": stop}
    )
    thread.start()
    try:
        for _ in range(300):
            if urls:
                break
            threading.Event().wait(0.05)
        url = urls[0]
        body = b'{"version": "4"}'
        json = {"content-type": "application/json"}
        assert httpx.post(f"{url}/alertmanager", content=body, headers=json).status_code == 401
        wrong = json | {"authorization": "Bearer nope"}
        assert httpx.post(f"{url}/datadog", content=body, headers=wrong).status_code == 401
        assert httpx.post(f"{url}/pagerduty", content=body, headers=json).status_code == 404
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
