"""Headless runs: the demo bundle end to end, failure isolation, plain papermill, redaction."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import NOTEBOOKS
from kernel_helpers import notebook

from incident_lib.cli import main
from incident_lib.report.execute import _kernel_manager, execute_notebook

pytestmark = pytest.mark.integration
PARAMS = 'workspace: str = ""\nmode: str = "offline"\nrun_dir: str = ""'


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """`incident demo` for every scenario, run once for the module: scenario -> run folder."""
    from incident_lib.demo import SCENARIOS

    out = {}
    for scenario in SCENARIOS:
        ws = tmp_path_factory.mktemp("bundle") / scenario
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "incident_lib.cli",
                "demo",
                "--scenario",
                scenario,
                "--workspace",
                str(ws),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        index = Path(proc.stdout.strip().splitlines()[-1])
        assert index.name == "index.html" and index.exists()
        out[scenario] = index.parent
    return out


def _findings(run_dir: Path) -> list[dict]:
    """Every finding of a run, as findings.json lists them."""
    return json.loads((run_dir / "findings.json").read_text())["findings"]


def test_every_notebook_ran_on_every_scenario(bundles):
    expected = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for run_dir in bundles.values():
        run = json.loads((run_dir / "run.json").read_text())
        assert sorted(n["name"] for n in run["notebooks"]) == expected
        assert all(n["status"] == "ok" for n in run["notebooks"]), run
        for name in expected:
            assert (run_dir / f"{name}.ipynb").exists() and (run_dir / f"{name}.html").exists()


def test_index_shows_header_statuses_and_findings(bundles):
    page = (bundles["connection-leak"] / "index.html").read_text()
    for text in ("DEMO-LEAK-0001", "SEV-2", "resolved", "01_triage.html", "02_assess.html", "ok"):
        assert text in page
    facts = json.loads((bundles["connection-leak"] / "findings.json").read_text())["facts"]
    roles = ["trigger", "mechanism", "symptom", "impact", "response", "context"]
    order = [roles.index(f["role"]) for f in facts]
    assert facts and order == sorted(order), "causes first, then symptoms"
    # the index lists the facts in the same order, after the story
    positions = [page.index(f["title"].replace("&", "&amp;")[:30]) for f in facts[:3]]
    assert positions == sorted(positions)
    assert page.index("What happened") < page.index("Findings, causes first") < positions[0]


def test_html_is_self_contained_and_has_no_code(bundles):
    for run_dir in bundles.values():
        for page in run_dir.glob("*.html"):
            text = page.read_text()
            assert not re.search(r"<script[^>]+src=", text), page
            assert not re.search(r"<link[^>]+href=[\"']https?:", text), page
            assert not re.search(r"url\(\s*[\"']?https?:", text), page
            assert "@import" not in text
            assert "import incident_lib" not in text, f"code input leaked into {page}"


def test_connection_leak_points_at_the_deploy_and_the_pool_exhaustion(bundles):
    findings = _findings(bundles["connection-leak"])
    titles = " | ".join(f["title"] for f in findings)
    assert re.search(r"Likely trigger: deploy v2\.34 .* before the error rate onset", titles)
    assert re.search(
        r"New error signature after deploy v2\.34: [^|]*QueuePool limit of size", titles
    )
    assert re.search(r"5xx share of requests peaked", titles)
    top = findings[0]
    assert top["severity"] in ("critical", "high")


def test_no_deploy_scenario_blames_no_deploy(bundles):
    findings = _findings(bundles["traffic-surge"])
    assert not any("deploy" in f["title"].lower() for f in findings), findings
    titles = [f["title"] for f in findings]
    # the campaign that drove the traffic is what lines up with the onset, not a deploy
    assert (
        "Possible trigger: Black Friday early-access email campaign sent to 2.1M customers "
        "3 min before the error rate onset" in titles
    )
    assert any("OOMKilled" in t for t in titles) and any("cpu limit" in t for t in titles)


def test_no_planted_secret_survives_anywhere(bundles):
    from incident_lib.demo import PLANTED_SECRETS

    assert PLANTED_SECRETS
    for run_dir in bundles.values():
        workspace = run_dir.parents[1]
        for path in workspace.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for secret in PLANTED_SECRETS:
                    assert secret.encode() not in data, f"{secret[:6]}… found in {path}"


def test_charts_are_written_and_referenced(bundles):
    run_dir = bundles["connection-leak"]
    charts = list((run_dir / "charts").glob("*.png"))
    assert charts
    refs = {f["ref"] for f in _findings(run_dir) if f["ref"]}
    assert refs and all((run_dir / r).exists() for r in refs)


def _notebook(path: Path, *cells: str) -> Path:
    return notebook(path, *cells, parameters=PARAMS)


def test_one_bad_notebook_never_loses_the_others(demo_copy, tmp_path, capsys):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(
        folder / "01_good.ipynb",
        "import incident_lib as il\n"
        "rb = il.start_runbook('01_good', workspace=workspace, mode=mode, run_dir=run_dir)\n"
        "rb.finding('good notebook ran', severity='low', summary='yes')",
    )
    _notebook(
        folder / "02_fails.ipynb",
        "print('before')",
        "raise RuntimeError('deliberate failure at postgresql://app:hunter2@db/orders')",
    )
    _notebook(folder / "03_hangs.ipynb", "print('started')", "import time\ntime.sleep(600)")
    _notebook(folder / "04_dies.ipynb", "import os\nos._exit(1)")
    ws = demo_copy("traffic-surge")
    code = main(
        ["run", str(ws), "--notebook-dir", str(folder), "--parallel", "2", "--timeout", "10"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    run_dir = Path(out.strip()).parent
    statuses = {
        n["name"]: n["status"] for n in json.loads((run_dir / "run.json").read_text())["notebooks"]
    }
    assert statuses == {
        "01_good": "ok",
        "02_fails": "failed",
        "03_hangs": "timeout",
        "04_dies": "kernel-died",
    }
    index = (run_dir / "index.html").read_text()
    assert "deliberate failure" in index and "timeout" in index and "good notebook ran" in index
    hung = (run_dir / "03_hangs.html").read_text()
    assert "started" in hung and "did not finish (timeout)" in hung
    failed = nbformat.read(run_dir / "02_fails.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in failed.cells for o in c.get("outputs", []))
    assert "FAILED" in err
    for where in (
        err,
        index,
        (run_dir / "run.json").read_text(),
        (run_dir / "02_fails.html").read_text(),
        (run_dir / "02_fails.ipynb").read_text(),
    ):
        assert "hunter2" not in where


def test_kernel_start_is_retried(demo_copy, tmp_path):
    """The first kernel dies at start (as on a port collision); the retry runs the notebook."""
    attempts = []

    def flaky(name, sockets):
        km = _kernel_manager(name, sockets)
        if not attempts:
            km.kernel_spec.argv = [sys.executable, "-c", "raise SystemExit(1)"]  # dies at start
        attempts.append(km)
        return km

    nb = _notebook(tmp_path / "01_x.ipynb", "print('ran')")
    result = execute_notebook(
        nb, tmp_path / "out.ipynb", {"workspace": ""}, timeout=60, kernel_manager=flaky
    )
    assert result.ok, result.error
    assert len(attempts) == 2


def test_a_workspace_without_evidence_degrades_each_section(tmp_path, capsys, monkeypatch):
    """Offline over nothing is refused; live with nothing configured degrades each section.

    A section whose source did not answer says "unknown", never its empty message, and
    the run lists the source (not a finding). The whole set is in test_live_unconfigured.
    """
    for name in ("KUBECONFIG", "DD_API_KEY", "DD_APP_KEY", "PROMETHEUS_URL", "INCIDENT_GIT_REPO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    ws = tmp_path / "INC"
    assert (
        main(
            [
                "new",
                "--id",
                "INC-2026-0007",
                "--title",
                "Search slow",
                "--service",
                "search",
                "--namespace",
                "prod",
                "--start",
                "2026-11-03T14:00:00Z",
                "--end",
                "2026-11-03T15:00:00Z",
                "--workspace",
                str(ws),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["run", str(ws)]) == 2  # offline over no evidence: refused, says --mode live
    assert "--mode live" in capsys.readouterr().err
    assert main(["run", str(ws), "--mode", "live", "--notebooks", "02"]) == 0
    run_dir = Path(capsys.readouterr().out.strip()).parent
    page = (run_dir / "02_assess.html").read_text()
    for source in (
        "datadog/metrics",
        "kubernetes/rollouts",
        "kubernetes/logs",
        "datadog/monitor_events",
    ):
        assert f"{source} unavailable" in page
    assert "No rollouts captured." not in page and "No monitor fired in the window." not in page
    assert page.count("does not mean there was nothing") == 4  # metrics, rollouts, logs, alerts
    titles = [f["title"] for f in _findings(run_dir)]
    assert not [t for t in titles if "unavailable" in t]
    sources = json.loads((run_dir / "run.json").read_text())["sources"]["unavailable"]
    assert any("kubernetes/logs" in s["evidence"] for s in sources)


def test_live_mode_with_a_source_down_falls_back_to_captured_evidence(demo_copy, capsys):
    ws = demo_copy("connection-leak")
    assert main(["run", str(ws), "--mode", "live", "--notebooks", "02_assess"]) == 0
    run_dir = Path(capsys.readouterr().out.strip()).parent
    page = (run_dir / "02_assess.html").read_text()
    assert "kubernetes/rollouts unavailable" in page and "showing the evidence captured at" in page
    assert "rollback" in page  # the captured rollouts are still shown
    sources = json.loads((run_dir / "run.json").read_text())["sources"]["unavailable"]
    assert any(s["source"] == "kubernetes" and s["fallback"] for s in sources)
    assert "earlier captures shown instead" in (run_dir / "index.html").read_text()


def test_changes_notebook_captures_git_history_when_given_a_repository(demo_copy, tmp_path, capsys):
    """Live 03 with `repo`: commits are fetched, captured, and ranked with the rollouts."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "Ann",
        "GIT_AUTHOR_EMAIL": "ann@example.com",
        "GIT_COMMITTER_NAME": "Ann",
        "GIT_COMMITTER_EMAIL": "ann@example.com",
        "GIT_AUTHOR_DATE": "2026-11-03T14:05:00Z",
        "GIT_COMMITTER_DATE": "2026-11-03T14:05:00Z",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    (repo / "pool.py").write_text("POOL_SIZE = 20\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
    subprocess.run(
        ["git", "commit", "-qm", "Batch order writes in one transaction"],
        cwd=repo,
        check=True,
        env=env,
    )
    ws = demo_copy("connection-leak")
    code = main(["run", str(ws), "--mode", "live", "--notebooks", "03", "-p", f"repo={repo}"])
    run_dir = Path(capsys.readouterr().out.strip()).parent
    assert code == 0
    page = (run_dir / "03_changes.html").read_text()
    assert "Batch order writes in one transaction" in page and "ann@example.com" not in page
    from incident_lib import EvidenceStore

    commits = EvidenceStore(ws).read("git", "commits")
    assert list(commits["subject"]) == ["Batch order writes in one transaction"]


@pytest.mark.parametrize(
    ("verify_at", "expected"),
    [
        ("", "Recovery verified at 15:00 UTC"),  # the window end: long after the rollback
        ("2026-11-03T14:30:00Z", "Not resolved yet at 14:30 UTC"),  # still inside the incident
        ("2026-11-03T14:38:00Z", "Not resolved yet at 14:38 UTC"),  # 5 min after the rollback
    ],
)
def test_verify_says_resolved_only_after_the_rollback_has_held(
    demo_copy, capsys, verify_at, expected
):
    ws = demo_copy("connection-leak")
    argv = ["run", str(ws), "--notebooks", "10"] + (
        ["-p", f"verify_at={verify_at}"] if verify_at else []
    )
    assert main(argv) == 0
    run_dir = Path(capsys.readouterr().out.strip()).parent
    titles = [f["title"] for f in _findings(run_dir)]
    assert any(t.startswith(expected) for t in titles), titles


def test_offline_replay_of_an_ongoing_incident_stops_where_the_evidence_stops(demo_copy):
    """A record without an end: the replay is as of the last capture, not today."""
    import yaml

    from incident_lib import start_runbook

    ws = demo_copy("connection-leak")
    record = yaml.safe_load((ws / "incident.yaml").read_text())
    record["window"]["end"] = None
    record["status"] = "investigating"
    record["times"] = {"detected": record["times"]["detected"]}
    (ws / "incident.yaml").write_text(yaml.safe_dump(record))
    rb = start_runbook("02_assess", workspace=str(ws))
    last_capture = max(e.fetched_at for e in rb.workspace.evidence.entries())
    assert rb.as_of.isoformat().replace("+00:00", "Z") == last_capture
    assert rb.window.duration.total_seconds() < 2 * 3600


def _top(run_dir: Path) -> list[dict]:
    """The findings a responder reads first: every one above low severity, in index order."""
    findings = _findings(run_dir)
    return [f for f in findings if f["severity"] in ("critical", "high", "medium")]


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_each_scenarios_truth_is_among_the_top_findings(bundles, scenario):
    """Culprit signatures, trigger, saturation moment and the OOMKilled pod: findings, not rows."""
    from datetime import timedelta

    import pandas as pd

    from incident_lib import open_workspace
    from incident_lib.demo import SCENARIOS

    truth = SCENARIOS[scenario].truth
    run_dir = bundles[scenario]
    top = _top(run_dir)
    said = " | ".join(f"{f['title']} {f['summary']}" for f in top)
    from incident_lib.analysis.signatures import mask

    logs = [f"{f['title']} {f['summary']}" for f in top if f["notebook"] == "04_logs"]
    for signature in truth.new_signatures:
        assert any(mask(signature) in text for text in logs), signature
    assert truth.trigger_event is not None
    trigger = next(f for f in top if "trigger" in f["title"].lower())
    assert (truth.bad_version or truth.trigger_event) in trigger["title"]
    pods = open_workspace(run_dir.parents[1]).evidence.read("kubernetes", "pods")
    for pod in pods.loc[pods["last_termination_reason"] == "OOMKilled", "pod"]:
        assert any("OOMKilled" in f["title"] and pod in f["summary"] for f in top), pod
    if scenario == "traffic-surge":  # pods reached their CPU limit: when is stated
        limit = next(f for f in top if "at their cpu limit" in f["title"])
        stated = pd.Timestamp(limit["title"].split("from ")[1].split(" UTC")[0] + ":00+00:00")
        day = pd.Timestamp(truth.saturated_at).normalize()
        at = day + pd.Timedelta(hours=stated.hour, minutes=stated.minute)
        assert abs(at - pd.Timestamp(truth.saturated_at)) <= timedelta(minutes=2), said


def test_pages_show_findings_once_never_as_a_python_repr(bundles):
    for run_dir in bundles.values():
        for page in run_dir.glob("*.html"):
            assert "Finding(title=" not in page.read_text(), page.name


# -- the story: diagnosis, summary, timeline, post-mortem --------------------------------------


def _diagnosis(run_dir: Path) -> dict:
    return json.loads((run_dir / "findings.json").read_text())["diagnosis"]


def _said(diagnosis: dict) -> str:
    """Every clause of the diagnosis as one text."""
    parts = [diagnosis["headline"]]
    for value in diagnosis.values():
        clauses = value if isinstance(value, list) else [value]
        parts += [c["text"] for c in clauses if isinstance(c, dict)]
    return " | ".join(parts)


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_the_diagnosis_names_the_true_trigger_first_and_no_unrelated_change(bundles, scenario):
    from incident_lib.demo import SCENARIOS

    truth = SCENARIOS[scenario].truth
    diagnosis = _diagnosis(bundles[scenario])
    trigger = diagnosis["trigger"]["text"]
    expected = truth.bad_version or truth.trigger_event
    assert expected and expected in trigger
    assert trigger.startswith("Most likely trigger")
    assert not diagnosis["alternatives"], "one trigger stands out in both demos"
    said = _said(diagnosis)
    for unrelated in truth.unrelated_changes:
        assert unrelated not in said, f"{unrelated} is unrelated but the diagnosis names it"
    # the first fact of the index is the trigger too
    facts = json.loads((bundles[scenario] / "findings.json").read_text())["facts"]
    assert facts[0]["role"] == "trigger" and expected in facts[0]["title"]


def test_the_leak_diagnosis_tells_the_mechanism_the_rollback_and_the_verdict(bundles):
    from incident_lib.demo import SCENARIOS

    truth = SCENARIOS["connection-leak"].truth
    diagnosis = _diagnosis(bundles["connection-leak"])
    mechanism = " ".join(c["text"] for c in diagnosis["mechanism"])
    assert "DB connections" in mechanism and "max_connections" in mechanism
    assert "flush aborted" in mechanism  # the first new signature, a warning
    assert f"{truth.saturated_at:%H:%M}" in mechanism  # when the pool hit its limit
    done = " ".join(c["text"] for c in diagnosis["actions"])
    assert f"{truth.rollback_at:%H:%M} UTC: rollback to {truth.good_version}" in done
    assert diagnosis["verdict"]["text"].startswith("Recovered")
    assert "post-mortem" in diagnosis["next_step"]["text"]
    # every clause names where to check it
    for key in ("trigger", "symptoms", "impact", "verdict"):
        assert diagnosis[key]["refs"], key


def test_the_surge_diagnosis_says_traffic_rose_first_and_capacity_saturated(bundles):
    diagnosis = _diagnosis(bundles["traffic-surge"])
    assert "Request rate left its baseline" in diagnosis["trigger"]["text"]
    mechanism = " ".join(c["text"] for c in diagnosis["mechanism"])
    assert "CPU limit" in mechanism and "OOMKilled" in mechanism
    assert "deploy" not in _said(diagnosis).lower()


@pytest.mark.parametrize("scenario", ["connection-leak", "traffic-surge"])
def test_summary_md_fits_a_chat_message_and_says_the_same(bundles, scenario):
    run_dir = bundles[scenario]
    summary = (run_dir / "summary.md").read_text()
    assert 200 < len(summary) <= 1500
    data = json.loads((run_dir / "findings.json").read_text())
    assert data["summary"] == summary
    assert "Trigger" in summary and "Verdict" in summary and "Next step" in summary


def test_index_opens_with_the_story_linked_to_its_evidence(bundles):
    run_dir = bundles["connection-leak"]
    page = (run_dir / "index.html").read_text()
    story = page[page.index("id='what-happened'") : page.index("id='sources'")]
    links = re.findall(r"href='([^']+)'", story)
    evidence = [link for link in links if link.startswith("../../evidence/")]
    assert evidence, "clauses link to the captured evidence"
    assert all((run_dir / link.split("#")[0]).exists() for link in evidence)
    assert "03_changes.html" in links and "charts/timeline.png" in story
    assert (run_dir / "charts" / "timeline.png").stat().st_size > 10_000


def test_the_timeline_is_persisted_in_order_without_duplicates(bundles):
    from incident_lib.demo import SCENARIOS

    truth = SCENARIOS["connection-leak"].truth
    workspace = bundles["connection-leak"].parents[1]
    lines = (workspace / "timeline.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    first = {}
    for e in sorted(events, key=lambda e: e["time"]):
        first.setdefault((e["source"], e["kind"]), e["time"])
    assert first[("changes", "deploy")] < first[("logs", "new_signature")]
    assert first[("logs", "new_signature")] < first[("monitors", "alert")]
    assert first[("people", "detected")].startswith(f"{truth.detected_at:%Y-%m-%dT%H:%M}")
    assert first[("changes", "rollback")] < first[("people", "resolved")]


def test_the_postmortem_names_the_deploy_the_exhaustion_and_the_rollback(bundles):
    from incident_lib.demo import SCENARIOS

    truth = SCENARIOS["connection-leak"].truth
    run_dir = bundles["connection-leak"]
    workspace = run_dir.parents[1]
    document = (workspace / "postmortem.md").read_text()
    assert (run_dir / "postmortem.html").exists()
    plain = document.replace("\\", "")
    assert "deploy v2.34" in plain and "max_connections" in plain
    assert f"rollback to {truth.good_version}" in plain
    for section in (
        "## Summary",
        "## Impact",
        "## Timeline",
        "## Root cause",
        "## What went well",
        "## What could have gone better",
        "## Action items",
        "## Lessons learned",
        "## Response times",
    ):
        assert section in document
    minutes = {
        "time to acknowledge (TTA)": truth.acknowledged_at - truth.detected_at,
        "time to mitigate (TTM)": truth.mitigated_at - truth.detected_at,
        "time to resolve (TTR)": truth.resolved_at - truth.detected_at,
    }
    for measure, delta in minutes.items():
        row = next(line for line in document.splitlines() if line.startswith(f"| {measure}"))
        assert f"| {int(delta.total_seconds() // 60)} min |" in row, row


def test_the_postmortem_rerun_offline_is_the_same_document(bundles, tmp_path):
    from incident_lib.cli import main

    workspace = bundles["connection-leak"].parents[1]
    before = (workspace / "postmortem.md").read_text().splitlines()
    assert main(["postmortem", str(workspace), "--issues", str(tmp_path / "issues")]) == 0
    after = (workspace / "postmortem.md").read_text().splitlines()

    def stable(lines: list[str]) -> list[str]:
        return [line for line in lines if not line.startswith("Generated ")]

    assert stable(after) == stable(before)
    issues = sorted((tmp_path / "issues").glob("*.md"))
    assert issues and all("incident-followup" in p.read_text() for p in issues)
    items = json.loads((workspace / "action_items.json").read_text())["action_items"]
    assert len(items) == len(issues)
