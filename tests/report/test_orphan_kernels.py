"""Kernels end with their runner, and an orphaned kernel captures nothing (issue 10, Crashes).

A runner killed with ``kill -9`` used to leave its kernels running, still
fetching and capturing evidence. Now each kernel is tied to its runner (a
parent-death signal on Linux, a watchdog thread on POSIX) and ``Runbook._live``
refuses to fetch or capture once the runner is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from incident_records import sample_incident
from kernel_helpers import gone

from incident_lib import EvidenceStore, RunError, create_workspace, start_runbook
from incident_lib.core.schema import conform
from incident_lib.report import kernel_guard
from incident_lib.report.kernel_guard import RUNNER_PID_ENV, ensure_runner_alive, runner_alive
from incident_lib.sources import Fetched, SourceRegistry

pytestmark = pytest.mark.skipif(os.name != "posix", reason="runner death is detected on POSIX")

INCIDENT = sample_incident(title="connection pool exhausted")


def _wait_for(predicate, seconds: float) -> bool:
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _kill_runner(runner: subprocess.Popen[str], pid_file: Path) -> int:
    """Wait until the runner's kernel wrote its pid, then ``kill -9`` the runner."""
    if not _wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 90):
        runner.kill()
        out, err = runner.communicate()
        pytest.fail(f"the kernel never started:\n{out}\n{err}")
    kernel = int(pid_file.read_text())
    assert not gone(kernel)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    return kernel


RUNNER = """
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from incident_lib.report.execute import execute_notebook

tmp, in_thread, busy = Path(sys.argv[1]), sys.argv[2] == "thread", sys.argv[3]
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell(
    "import os, time\\n"
    f"open({str(tmp / 'kernel.pid')!r}, 'w').write(str(os.getpid()))\\n"
    + busy
)]
nbformat.write(nb, tmp / "sleeps.ipynb")
run = lambda: execute_notebook(tmp / "sleeps.ipynb", tmp / "out.ipynb", {}, timeout=300)
if in_thread:  # as `incident run` does: one worker thread per notebook
    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()
else:
    run()
"""


#: a cell that holds the GIL for hours: no Python thread of the kernel runs meanwhile
HOLDS_THE_GIL = "sum(range(10**13))"


@pytest.mark.parametrize(
    ("where", "busy"),
    [
        ("main", "time.sleep(120)"),
        pytest.param(
            "thread",
            HOLDS_THE_GIL,
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux"), reason="needs the parent-death signal"
            ),
        ),
    ],
)
def test_kill_9_of_the_runner_leaves_no_kernel_alive(tmp_path, where, busy):
    """Even a kernel stuck in C code holding the GIL (ipykernel's own parent poller is a
    Python thread that cannot run then) ends with its runner."""
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp_path), where, busy],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kernel = _kill_runner(runner, tmp_path / "kernel.pid")
    try:
        assert _wait_for(lambda: gone(kernel), 10), f"kernel {kernel} outlived its runner"
    finally:
        if not gone(kernel):
            os.kill(kernel, signal.SIGKILL)


WATCHED = """
import os, subprocess, sys
from pathlib import Path

# the "kernel": the guard without the parent-death signal (as on macOS), then a long wait
code = (
    "import os, sys, time\\n"
    "import incident_lib.report.kernel_guard as guard\\n"
    "guard._set_parent_death_signal = lambda: False\\n"
    "guard.guard_kernel()\\n"
    f"open({str(Path(sys.argv[1]) / 'kernel.pid')!r}, 'w').write(str(os.getpid()))\\n"
    "time.sleep(120)\\n"
)
env = {**os.environ, "INCIDENT_RUNNER_PID": str(os.getpid())}
subprocess.Popen([sys.executable, "-c", code], env=env).wait()
"""


def test_without_a_parent_death_signal_the_watchdog_ends_the_kernel(tmp_path):
    runner = subprocess.Popen(
        [sys.executable, "-c", WATCHED, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kernel = _kill_runner(runner, tmp_path / "kernel.pid")
    try:
        assert _wait_for(lambda: gone(kernel), 10), f"kernel {kernel} outlived its runner"
    finally:
        if not gone(kernel):
            os.kill(kernel, signal.SIGKILL)


# --- the capture guard ---------------------------------------------------------------------


class FakePostgres:
    """A live source that records its fetches."""

    name = "postgres"
    frames = ("activity", "settings")

    def __init__(self, during_fetch=None) -> None:
        self.calls = 0
        self.during_fetch = during_fetch

    def query(self, frame, incident, window):
        return {"frame": frame}

    def fetch(self, frame, incident, window, *, progress=False):
        self.calls += 1
        if self.during_fetch is not None:
            self.during_fetch()
        rows = pd.DataFrame(
            [("default", "max_connections", "100", "")],
            columns=["target", "name", "setting", "unit"],
        )
        return Fetched(conform(rows, "pg_settings"), ())


def _runbook(tmp_path: Path, source: FakePostgres):
    workspace = create_workspace(INCIDENT, tmp_path / "ws").path
    registry = SourceRegistry({"postgres": lambda environ: source}, environ={})
    rb = start_runbook(
        "02_assess",
        workspace=str(workspace),
        mode="live",
        run_dir=str(tmp_path / "run"),
        sources=registry,
    )
    return rb, EvidenceStore(workspace)


def test_an_orphaned_kernel_neither_fetches_nor_captures(tmp_path, monkeypatch):
    source = FakePostgres()
    rb, store = _runbook(tmp_path, source)
    monkeypatch.setenv(RUNNER_PID_ENV, str(_dead_pid()))
    with pytest.raises(RunError, match="orphaned; nothing captured"):
        rb.evidence("postgres", "settings")
    assert source.calls == 0
    assert not store.entries()


def test_a_runner_that_dies_during_the_fetch_gets_no_capture(tmp_path, monkeypatch):
    dead = str(_dead_pid())
    source = FakePostgres(during_fetch=lambda: monkeypatch.setenv(RUNNER_PID_ENV, dead))
    rb, store = _runbook(tmp_path, source)
    monkeypatch.setenv(RUNNER_PID_ENV, str(os.getpid()))
    with pytest.raises(RunError, match=f"pid {dead}"):
        rb.evidence("postgres", "settings")
    assert source.calls == 1
    assert not store.entries()


def test_a_live_runner_and_no_runner_at_all_capture(tmp_path, monkeypatch):
    source = FakePostgres()
    rb, store = _runbook(tmp_path, source)
    monkeypatch.setenv(RUNNER_PID_ENV, str(os.getpid()))
    assert len(rb.evidence("postgres", "settings")) == 1
    monkeypatch.delenv(RUNNER_PID_ENV)  # a notebook opened in Jupyter: no runner to check
    assert len(rb.evidence("postgres", "settings")) == 1
    assert len(store.entries()) == 2


def test_a_malformed_runner_pid_refuses_rather_than_guesses(monkeypatch):
    monkeypatch.setenv(RUNNER_PID_ENV, "1; rm -rf /")
    with pytest.raises(RunError, match="is not the pid of a runner"):
        ensure_runner_alive()


def test_runner_alive_tells_a_zombie_from_a_running_process():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert _wait_for(lambda: kernel_guard._is_zombie(proc.pid), 10)  # exited, not reaped
    try:
        assert not runner_alive(proc.pid)
        assert runner_alive(os.getpid())
    finally:
        proc.wait()
    assert not runner_alive(proc.pid)


def test_a_runners_kernel_knows_its_runner_and_still_imports_from_the_working_dir(
    tmp_path, monkeypatch
):
    """The guard is on in the kernel; cells import local modules as with ipykernel_launcher."""
    import nbformat

    from incident_lib.report.execute import execute_notebook

    (tmp_path / "local_helper.py").write_text("VALUE = 42\n")
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\n"
            "import incident_lib.report.kernel_guard as guard\n"
            "import local_helper\n"
            "print(os.environ['INCIDENT_RUNNER_PID'], guard._CHILD_OF_RUNNER, local_helper.VALUE)"
        )
    ]
    nbformat.write(nb, tmp_path / "n.ipynb")
    result = execute_notebook(tmp_path / "n.ipynb", tmp_path / "out.ipynb", {}, timeout=120)
    assert result.ok, result.error
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[0].outputs[0]["text"].split() == [str(os.getpid()), "True", "42"]
