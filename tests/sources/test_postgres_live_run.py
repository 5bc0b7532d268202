"""``incident run --mode live --notebooks 06_database`` against a real PostgreSQL server.

A new incident (``incident new``), then a live run of 06 in a subprocess with a clean
environment: only ``INCIDENT_PG_DSN`` (the ``reader`` role, with a password) and a short
sampling. A client starts leaking connections idle in transaction the moment the
run's sampling session (``application_name`` ``incident-runbooks``) appears, so the
samples see the leak grow. The run must capture ``postgres/activity``, record the
leak finding naming the application, and write a 06 page that names it without any
value from the scenario's queries and without the password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from pg_server import (  # the fixture is imported so that pytest finds it
    PASSWORD,
    SECRET_LITERAL,
    PgServer,
    idle_in_transaction_leak,
    postgres,  # noqa: F401
)

from incident_lib.infra.evidence import EvidenceStore
from incident_lib.sources.postgres import APPLICATION_NAME

pytestmark = pytest.mark.integration

APP = "leaky-orders"
SECRETS = (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), SECRET_LITERAL)
#: seconds the run may take (a kernel start, 5 s of sampling, the other frames)
RUN_TIMEOUT = 300


def _env(home: Path, **more: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **more}
    if "INCIDENT_NOTEBOOKS" in os.environ:  # the notebook set under test, if not the default
        env["INCIDENT_NOTEBOOKS"] = os.environ["INCIDENT_NOTEBOOKS"]
    return env


def _command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "incident_lib.cli", *argv]


@dataclass
class LiveRun:
    """The finished run and what the scenario did."""

    proc: subprocess.CompletedProcess[str]
    run_dir: Path
    ws: Path
    leaked: list[int]


def _wait_for_sampling(server: PgServer, proc: subprocess.Popen[str]) -> None:
    """Until the run's own session is on the server (its sampling has begun)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while not server.backends(APPLICATION_NAME):
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended before it sampled (exit {proc.returncode}):\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never opened a session to the database")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def live(postgres: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:  # noqa: F811
    home = tmp_path_factory.mktemp("home")
    ws = home / "INC"
    start = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    made = subprocess.run(
        _command(
            "new",
            "--id",
            "INC-2026-0111",
            "--title",
            "Orders API refuses connections",
            "--service",
            "orders",
            "--namespace",
            "prod",
            "--start",
            start,
            "--workspace",
            str(ws),
        ),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=_env(home),
        cwd=home,
    )
    assert made.returncode == 0, made.stderr
    env = _env(
        home,
        INCIDENT_PG_DSN=postgres.dsn("reader", password=PASSWORD),
        INCIDENT_PG_SAMPLE_EVERY="0.5",
        INCIDENT_PG_SAMPLE_FOR="5",
    )
    with subprocess.Popen(
        _command("run", str(ws), "--mode", "live", "--notebooks", "06_database"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=home,
    ) as proc:
        try:
            _wait_for_sampling(postgres, proc)
            with idle_in_transaction_leak(
                postgres, steps=5, every=0.5, application_name=APP
            ) as leak:
                leak.wait_done()
                out, err = proc.communicate(timeout=RUN_TIMEOUT)
                leaked = list(leak.pids)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    index = Path(out.strip().splitlines()[-1]) if out.strip() else Path()
    yield LiveRun(done, index.parent, ws, leaked)


def test_the_run_completes_and_captures_the_activity(live: LiveRun) -> None:
    assert live.proc.returncode == 0, live.proc.stderr
    run = json.loads((live.run_dir / "run.json").read_text())
    assert [n["status"] for n in run["notebooks"]] == ["ok"], run["notebooks"]
    assert not [p for p in run["sources"]["unavailable"] if p["source"] == "postgres"], run
    store = EvidenceStore(live.ws)
    activity = store.read("postgres", "activity")
    mine = activity[activity["application_name"] == APP]
    assert set(mine["pid"]) <= set(live.leaked) and len(mine)
    counts = mine.groupby("sampled_at").size()
    assert counts.iloc[-1] == len(live.leaked) == 15
    assert counts.iloc[0] < counts.iloc[-1]  # sampled while it grew
    assert APPLICATION_NAME not in set(activity["application_name"].dropna())
    assert not activity["query"].fillna("").str.contains(SECRET_LITERAL, regex=False).any()
    assert isinstance(activity["sampled_at"].iloc[0], pd.Timestamp)


def test_the_leak_finding_names_the_application(live: LiveRun) -> None:
    findings = json.loads((live.run_dir / "findings.json").read_text())["findings"]
    by_fact = {f.get("fact"): f for f in findings}
    leak = by_fact.get(f"db:leak:default:{APP}")
    assert leak is not None, [f.get("fact") for f in findings]
    assert APP in leak["title"] and leak["role"] == "mechanism"
    assert "db:not-bottleneck:default" not in by_fact


def test_the_06_page_names_the_leak_without_literals_or_password(live: LiveRun) -> None:
    page = (live.run_dir / "06_database.html").read_text()
    assert APP in page
    assert "Connection leak" in page
    for secret in SECRETS:
        assert secret not in page, secret


def test_no_file_of_the_run_or_the_workspace_holds_the_password(live: LiveRun) -> None:
    for path in [*live.run_dir.rglob("*"), *(live.ws / "evidence").rglob("*")]:
        if path.is_file() and path.suffix in {".html", ".json", ".jsonl", ".md", ".txt", ".ipynb"}:
            text = path.read_text(errors="replace")
            for secret in SECRETS[:3]:
                assert secret not in text, path
    assert PASSWORD not in live.proc.stdout + live.proc.stderr
