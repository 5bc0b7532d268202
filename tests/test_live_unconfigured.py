"""`incident run --mode live` on a new incident with nothing configured.

No KUBECONFIG, no DD_* keys, no PROMETHEUS_URL, HOME in a temporary folder: every
notebook still runs (exit 0: the bundle is valid), the terminal and ``run.json``
list each unavailable source once with its fix, the index shows them once in a
"sources" box (not as findings), and no page states a fact from absent evidence.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

#: what a page may only say when the evidence behind it was read
ABSENCE_CLAIMS = (
    "No error",
    "No request traffic",
    "No requests were recorded",
    "No log events",
    "No rollouts captured",
    "No rollout, config change",
    "No monitor fired",
    "No metrics to",
    "No warning events",
    "No usage samples",
    "Every container is running",
    "No sustained",
    "shows no sustained departure",
)


def _incident(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    if "INCIDENT_NOTEBOOKS" in os.environ:  # the notebook set under test, if not the default
        env["INCIDENT_NOTEBOOKS"] = os.environ["INCIDENT_NOTEBOOKS"]
    return subprocess.run(
        [sys.executable, "-m", "incident_lib.cli", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=env,
        cwd=home,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """A new incident, then a live run with an empty environment: (process, run dir, ws)."""
    home = tmp_path_factory.mktemp("home")
    ws = home / "INC"
    made = _incident(
        "new",
        "--id",
        "INC-2026-0077",
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
        home=home,
    )
    assert made.returncode == 0, made.stderr
    assert "--mode live" in made.stderr  # the next command to run
    proc = _incident("run", str(ws), "--mode", "live", home=home)
    index = Path(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else Path()
    return proc, index.parent, ws


def test_exit_0_and_every_unavailable_source_listed_once_with_its_fix(live):
    proc, run_dir, _ = live
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    for source in ("kubernetes", "datadog", "postgres"):
        assert len(re.findall(rf"^  {source}: ", err, flags=re.M)) == 1, err
    assert err.count("fix: ") == len(re.findall(r"^  \w+: ", err, flags=re.M))
    assert "KUBECONFIG" in err and "DD_API_KEY" in err and "INCIDENT_PG_DSN" in err
    run = json.loads((run_dir / "run.json").read_text())
    problems = run["sources"]["unavailable"]
    assert sorted(p["source"] for p in problems) == ["datadog", "kubernetes", "postgres"]
    assert all(p["fix"] and p["reason"] and not p["fallback"] for p in problems)
    assert all(n["status"] == "ok" for n in run["notebooks"])


def test_sources_are_a_box_in_the_index_not_findings(live):
    _, run_dir, _ = live
    findings = json.loads((run_dir / "findings.json").read_text())["findings"]
    assert not [f["title"] for f in findings if "unavailable" in f["title"]]
    page = (run_dir / "index.html").read_text()
    assert page.count("id='sources'") == 1
    assert page.count("<b>kubernetes</b>") == 1 and page.count("<b>datadog</b>") == 1


def test_no_page_states_a_fact_from_absent_evidence(live):
    _, run_dir, _ = live
    pages = sorted(run_dir.glob("*.html"))
    assert len(pages) >= 8
    said = {
        page.name: [claim for claim in ABSENCE_CLAIMS if claim in page.read_text()]
        for page in pages
    }
    assert not any(said.values()), said
    assert "Unknown" in (run_dir / "02_assess.html").read_text()


def test_require_fails_naming_the_source_that_did_not_answer(live, tmp_path):
    _, _, ws = live
    proc = _incident(
        "run",
        str(ws),
        "--mode",
        "live",
        "--notebooks",
        "02",
        "--require",
        "kubernetes",
        home=ws.parent,
    )
    assert proc.returncode == 1
    assert "REQUIRED source kubernetes did not answer: no kubeconfig found" in proc.stderr
    assert "Traceback" not in proc.stderr
