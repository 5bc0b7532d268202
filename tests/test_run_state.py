"""Runs that say what they are: run.json first and last, the runs listed, one live run, --output.

A killed run leaves a folder whose ``run.json`` says ``running`` and the next run
lists it as interrupted; the workspace's ``index.html`` lists every run with its
state; a second live run of a workspace is refused at once (exit 2) naming the
holder; ``--output DIR`` writes the bundle elsewhere and leaves the workspace
untouched; every bundle pins the evidence head it was made from; killed demo
generations leave no hidden folders behind for good.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from incident_lib.cli import main
from incident_lib.core.errors import WorkspaceError
from incident_lib.infra.evidence import EvidenceStore
from incident_lib.infra.workspace import open_workspace
from incident_lib.report import bundle
from incident_lib.report.execute import NotebookResult
from incident_lib.report.runs import (
    LIVE_LOCK,
    RUN_FILE,
    last_seconds,
    list_runs,
    live_lock,
    read_run,
    write_run_file,
)
from incident_lib.report.story import build_story

ROOT = Path(__file__).resolve().parents[1]
#: the parameters cell of the notebooks these tests write
PARAMS = 'workspace: str = ""\nmode: str = "offline"\nrun_dir: str = ""'


def _env(home: Path) -> dict[str, str]:
    """An environment with no source configured (no KUBECONFIG, no DD_*, no PROMETHEUS_URL)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    for name in ("INCIDENT_NOTEBOOKS", "INCIDENT_DEMO_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _incident(home: Path, *argv: str, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "incident_lib.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(home),
        cwd=home,
        **kwargs,
    )


def _new_incident(home: Path) -> Path:
    ws = home / "INC"
    proc = _incident(
        home,
        "new",
        "--id",
        "INC-2026-0101",
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
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return ws


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (its kernels), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _wait_for(predicate, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and folder under ``folder``: content and mtime (folders: b'' and mtime)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[str(path.relative_to(folder))] = (data, stat.st_mtime_ns)
    out["."] = (b"", folder.stat().st_mtime_ns)
    return out


# -- run states ----------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run_folder(runs: Path, run_id: str, **data) -> Path:
    folder = runs / run_id
    folder.mkdir(parents=True)
    write_run_file(folder, {"run_id": run_id, **data})
    return folder


def test_states_of_run_folders_newest_first(tmp_path):
    runs = tmp_path / "runs"
    notebooks = [{"name": "01_triage", "status": "ok"}, {"name": "02_assess", "status": "pending"}]
    _run_folder(
        runs, "20261103T140000Z-aaaa", state="complete", started="2026-11-03T14:00:00+00:00"
    )
    _run_folder(
        runs,
        "20261103T140100Z-bbbb",
        state="running",
        started="2026-11-03T14:01:00+00:00",
        pid=_dead_pid(),
        notebooks=notebooks,
    )
    _run_folder(
        runs,
        "20261103T140200Z-cccc",
        state="running",
        started="2026-11-03T14:02:00+00:00",
        pid=os.getpid(),
    )
    _run_folder(
        runs,
        "20261103T140300Z-dddd",
        state="failed",
        started="2026-11-03T14:03:00+00:00",
        error="RuntimeError: boom",
    )
    (runs / "20261103T140400Z-eeee").mkdir()  # killed before run.json: not a bundle
    (runs / "notes").mkdir()  # not a run folder
    (runs / "20261103T140500Z-ffff").symlink_to(tmp_path)
    listed = list_runs(runs)
    assert [(r.run_id, r.state) for r in listed] == [
        ("20261103T140300Z-dddd", "failed"),
        ("20261103T140200Z-cccc", "running"),
        ("20261103T140100Z-bbbb", "interrupted"),
        ("20261103T140000Z-aaaa", "complete"),
        ("20261103T140400Z-eeee", "unknown"),
    ]
    interrupted = listed[2]
    assert interrupted.incomplete and interrupted.finished == 1
    assert interrupted.describe().startswith("run 20261103T140100Z-bbbb was interrupted")
    assert "1 of 2 notebooks finished" in interrupted.describe()
    assert "RuntimeError: boom" in listed[0].describe()
    assert not listed[1].incomplete and not listed[3].incomplete


def test_a_reused_pid_does_not_keep_a_run_alive(tmp_path):
    folder = _run_folder(
        tmp_path,
        "20261103T140000Z-aaaa",
        state="running",
        pid=os.getpid(),
        pid_started="1",  # this pid, but another process's start time
    )
    assert read_run(folder).state == "interrupted"


def _fake_execute(seen: list[dict]):
    """A stand-in for execute_notebook that records run.json as each notebook starts."""

    def execute(source: Path, output: Path, parameters: dict, *, timeout: float, **kernels):
        # as execute_notebook: the notebook runs holding its turn (the runner's parallel slots)
        with kernels.get("gate") or contextlib.nullcontext():
            seen.append(json.loads((output.parent / RUN_FILE).read_text()))
            return NotebookResult(name=source.stem, status="ok", seconds=0.01, output=output)

    return execute


def test_run_json_is_written_first_and_completed_last(demo_copy, monkeypatch):
    ws = open_workspace(demo_copy("connection-leak"))
    seen: list[dict] = []
    monkeypatch.setattr(bundle, "execute_notebook", _fake_execute(seen))
    progress: list[dict] = []

    def on_result(result: NotebookResult) -> None:
        progress.append(json.loads((result.output.parent / RUN_FILE).read_text()))
        progress[-1]["reported"] = result.name

    result = bundle.run_bundle(ws, notebooks=["01", "02"], parallel=1, on_result=on_result)
    first = seen[0]
    assert first["state"] == "running" and first["pid"] == os.getpid()
    assert first["run_id"] == result.run_id and first["started"]
    assert [n["name"] for n in first["notebooks"]] == ["01_triage", "02_assess"]
    assert {n["status"] for n in first["notebooks"]} == {"pending"}
    # each notebook's end is recorded as it comes (which runs first is the runner's choice:
    # the longest on record first)
    statuses = {n["name"]: n["status"] for n in progress[0]["notebooks"]}
    assert statuses[progress[0]["reported"]] == "ok"
    assert sorted(statuses.values()) == ["ok", "pending"]
    assert progress[0]["state"] == "running"
    final = json.loads((result.run_dir / RUN_FILE).read_text())
    assert final["state"] == "complete" and final["seconds"] >= 0
    assert read_run(result.run_dir).state == "complete"


@pytest.mark.parametrize(
    ("error", "state"), [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")]
)
def test_a_run_that_stops_says_so(demo_copy, monkeypatch, capsys, error, state):
    ws = open_workspace(demo_copy("connection-leak"))
    monkeypatch.setattr(bundle, "execute_notebook", _fake_execute([]))

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(bundle, "collect_findings", broken)
    with pytest.raises(type(error)):
        bundle.run_bundle(ws, notebooks=["01"])
    (run,) = list_runs(ws.runs_dir)
    assert run.state == state and run.incomplete
    if state == "failed":
        assert "RuntimeError: boom" in run.why
    page = (ws.path / "index.html").read_text()
    assert run.run_id in page and state in page
    assert "not whole bundles" in page


# -- the live lock -------------------------------------------------------------------------
def test_live_lock_is_exclusive_and_names_its_holder(tmp_path):
    with live_lock(tmp_path):
        with pytest.raises(WorkspaceError) as err, live_lock(tmp_path):
            pass
        message = str(err.value)
        assert f"pid {os.getpid()}" in message and "started 20" in message
        assert "one live run per workspace" in message
    with live_lock(tmp_path):  # released: taken again
        pass


def test_a_killed_holder_never_blocks_the_next_live_run(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from incident_lib.report.runs import live_lock\n"
            "with live_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceError, match=f"pid {holder.pid}"), live_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with live_lock(tmp_path):  # the stale file is no lock
        pass


@pytest.mark.integration
def test_a_second_live_run_is_refused_at_once(tmp_path):
    home = tmp_path
    ws = _new_incident(home)
    first = _incident(home, "run", str(ws), "--mode", "live", "--notebooks", "01")
    try:
        lock = ws / LIVE_LOCK
        _wait_for(
            lambda: lock.exists() and f'"pid": {first.pid}' in lock.read_text(),
            what="the first live run to take the lock",
        )
        began = time.monotonic()
        second = _incident(home, "run", str(ws), "--mode", "live", "--notebooks", "01")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert time.monotonic() - began < 30
        assert f"another live run of {ws} is in progress (pid {first.pid}, started 20" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    runs = list_runs(ws / "runs")
    assert [r.state for r in runs] == ["complete"]  # the refused run wrote nothing


@pytest.mark.integration
def test_offline_runs_go_on_while_a_live_run_holds_the_lock_and_pin_the_head(demo_copy, capsys):
    ws = demo_copy("connection-leak")
    with live_lock(ws):
        code = main(["run", str(ws), "--notebooks", "01", "02"])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1]).parent
    head = EvidenceStore(ws).head()
    assert head.count > 0
    run = json.loads((run_dir / RUN_FILE).read_text())
    assert run["state"] == "complete"
    assert run["evidence_head"] == head.to_dict() == {"count": head.count, "hash": head.hash}
    findings = json.loads((run_dir / "findings.json").read_text())
    assert findings["evidence_head"] == head.to_dict()
    page = (run_dir / "index.html").read_text()
    assert f"Evidence: {head.count} captures, head {head.hash[:12]}…" in page
    assert f"incident evidence verify {ws} --bundle {run_dir}" in page
    listing = (ws / "index.html").read_text()
    assert run_dir.name in listing and "complete" in listing
    assert f"{head.count} captures, head {head.hash[:12]}…" in listing
    assert f"href='runs/{run_dir.name}/index.html'" in listing


# -- a killed run --------------------------------------------------------------------------
@pytest.mark.integration
def test_a_killed_run_is_listed_as_interrupted_by_the_next(demo_copy, capsys):
    ws = demo_copy("connection-leak")
    proc = _incident(ws.parent, "run", str(ws), "--notebooks", "01", "02", "--parallel", "1")
    kernels: list[int] = []
    try:
        _wait_for(lambda: list((ws / "runs").glob("*/run.json")), what="run.json")
        time.sleep(1.0)  # mid-run: the first notebook is executing
        kernels = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        for pid in kernels:  # the kernels of a killed runner: never leave them behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (killed,) = (ws / "runs").iterdir()
    assert json.loads((killed / RUN_FILE).read_text())["state"] == "running"
    assert read_run(killed).state == "interrupted"

    code = main(["run", str(ws), "--notebooks", "01"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"note: run {killed.name} was interrupted" in err
    assert err.index("was interrupted") < err.index("running 1 notebooks")
    states = {r.run_id: r.state for r in list_runs(ws / "runs")}
    fresh = Path(out.strip().splitlines()[-1]).parent.name
    assert states == {killed.name: "interrupted", fresh: "complete"}
    listing = (ws / "index.html").read_text()
    assert listing.index(fresh) < listing.index(killed.name)  # newest first
    row = listing[listing.index(killed.name) :].split("</tr>", 1)[0]
    assert "interrupted" in row and "href" not in row  # no link: not a bundle


# -- --output ------------------------------------------------------------------------------
@pytest.mark.integration
def test_output_writes_the_bundle_elsewhere_and_leaves_the_workspace_untouched(
    demo_copy, tmp_path, capsys
):
    ws = demo_copy("connection-leak")
    out_dir = tmp_path / "elsewhere"
    before = _tree(ws)
    code = main(["run", str(ws), "--notebooks", "01", "02", "--output", str(out_dir)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert _tree(ws) == before
    index = Path(out.strip().splitlines()[-1])
    assert index.parent.parent == out_dir.absolute()
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", index.parent.name)
    run = json.loads((index.parent / RUN_FILE).read_text())
    assert run["state"] == "complete" and run["workspace"] == str(ws.resolve())
    assert run["evidence_head"] == EvidenceStore(ws).head().to_dict()
    assert "What happened" in index.read_text()
    summary = (index.parent / "summary.md").read_text().replace("\\", "")  # Markdown escapes
    assert str(index) in summary  # the bundle's own path: it is not inside the workspace
    assert index.parent.name in (out_dir / "index.html").read_text()


def test_live_with_output_is_refused_on_a_workspace_that_is_not_writable(
    demo_copy, tmp_path, capsys, monkeypatch
):
    ws = demo_copy("connection-leak")
    monkeypatch.setattr(bundle, "workspace_writable", lambda path: False)
    out_dir = tmp_path / "elsewhere"
    code = main(["run", str(ws), "--mode", "live", "--output", str(out_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert "is not writable, and a live run captures evidence into it" in err
    assert "--output moves only the bundle" in err and "run offline" in err
    assert not out_dir.exists() and not (ws / LIVE_LOCK).exists()


def test_output_does_not_overwrite_a_page_it_did_not_write(demo_copy, tmp_path, monkeypatch):
    ws = open_workspace(demo_copy("connection-leak"))
    monkeypatch.setattr(bundle, "execute_notebook", _fake_execute([]))
    out_dir = tmp_path / "site"
    out_dir.mkdir()
    (out_dir / "index.html").write_text("<p>mine</p>")
    (out_dir / "assets").mkdir()
    result = bundle.run_bundle(ws, notebooks=["01"], output=out_dir)
    assert result.run_dir.parent == out_dir
    assert (out_dir / "index.html").read_text() == "<p>mine</p>"
    assert [r.run_id for r in list_runs(out_dir)] == [result.run_id]  # assets/ is no run


# -- demo leftovers ------------------------------------------------------------------------
def test_leftovers_of_killed_demo_generations_are_cleaned(tmp_path):
    from incident_lib.demo import generate

    old = time.time() - 3600
    stale = [tmp_path / ".demo.new-0123abcd", tmp_path / ".demo.old-89abcdef"]
    for folder in stale:
        (folder / "evidence").mkdir(parents=True)
        (folder / "evidence" / "0001-x.parquet").write_bytes(b"x")
        for path in (folder / "evidence", folder):
            os.utime(path, (old, old))
    fresh = tmp_path / ".demo.new-fedcba98"  # another generation may still be writing it
    fresh.mkdir()
    others = [tmp_path / ".other.new-0123abcd", tmp_path / ".demo.new-notours"]
    for folder in others:
        folder.mkdir()
        os.utime(folder, (old, old))
    generate("connection-leak", tmp_path / "demo")
    assert not any(folder.exists() for folder in stale)
    assert fresh.exists() and all(folder.exists() for folder in others)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".demo.new-fedcba98", ".demo.new-notours", ".other.new-0123abcd", "demo"]
    )


def test_last_seconds_are_those_of_the_newest_complete_run_and_its_ok_notebooks(tmp_path):
    runs = tmp_path / "runs"
    assert last_seconds(runs) == {}  # no run yet
    _run_folder(
        runs,
        "20261103T140000Z-aaaa",
        state="complete",
        started="2026-11-03T14:00:00+00:00",
        notebooks=[{"name": "01_triage", "status": "ok", "seconds": 9.0}],
    )
    _run_folder(
        runs,
        "20261103T140100Z-bbbb",
        state="complete",
        started="2026-11-03T14:01:00+00:00",
        notebooks=[
            {"name": "01_triage", "status": "ok", "seconds": 1.5},
            {"name": "02_assess", "status": "ok", "seconds": 4},
            {"name": "03_changes", "status": "timeout", "seconds": 600.0},  # not its usual time
            {"name": "04_logs", "status": "ok", "seconds": "soon"},  # not a number
            {"name": "05_metrics", "status": "ok", "seconds": True},
        ],
    )
    _run_folder(  # newer, but not a whole run
        runs,
        "20261103T140200Z-cccc",
        state="failed",
        started="2026-11-03T14:02:00+00:00",
        notebooks=[{"name": "01_triage", "status": "ok", "seconds": 99.0}],
    )
    assert last_seconds(runs) == {"01_triage": 1.5, "02_assess": 4.0}


def test_notebooks_start_longest_first_after_a_run_on_record(demo_copy, tmp_path):
    """With one notebook at a time, a notebook that took long last time starts first."""
    from kernel_helpers import notebook

    folder = tmp_path / "nbs"
    folder.mkdir()
    for name in ("01_short", "02_long", "03_new"):
        notebook(folder / f"{name}.ipynb", "print('ran')", parameters=PARAMS)
    ws = demo_copy("traffic-surge")
    shutil.rmtree(ws / "runs", ignore_errors=True)  # only the run below is on record
    _run_folder(
        ws / "runs",
        "20261103T140000Z-aaaa",
        state="complete",
        started="2026-11-03T14:00:00+00:00",
        notebooks=[
            {"name": "01_short", "status": "ok", "seconds": 1.0},
            {"name": "02_long", "status": "ok", "seconds": 30.0},
        ],
    )
    order: list[str] = []
    result = bundle.run_bundle(
        open_workspace(ws),
        notebook_dir=folder,
        parallel=1,
        on_result=lambda r: order.append(r.name),
    )
    assert result.ok
    # a notebook never timed may be long: it goes first; then the longest on record
    assert order == ["03_new", "02_long", "01_short"]
    # and the run it wrote says how long each took, for the next run
    assert set(last_seconds(ws / "runs")) == {"01_short", "02_long", "03_new"}


@pytest.mark.parametrize("limit, ahead", [(None, True), (0, False)])
def test_the_story_reads_its_evidence_ahead_unless_the_logs_are_big(
    demo_copy, tmp_path, monkeypatch, limit, ahead
):
    """Offline, the story's evidence is read while the notebooks run; a log capture above
    the limit is read after them (a third copy of big logs would not fit in memory)."""
    import threading

    from kernel_helpers import notebook

    folder = tmp_path / "nbs"
    folder.mkdir()
    notebook(folder / "01_x.ipynb", "print('ran')", parameters=PARAMS)
    if limit is not None:
        monkeypatch.setattr(bundle, "AHEAD_MAX_LOG_LINES", limit)
    calls: list[str] = []
    read = bundle.read_story_evidence

    def spy(workspace, **kwargs):
        calls.append(threading.current_thread().name)
        return read(workspace, **kwargs)

    monkeypatch.setattr(bundle, "read_story_evidence", spy)
    ws = demo_copy("connection-leak")
    result = bundle.run_bundle(open_workspace(ws), notebook_dir=folder)
    assert result.ok and result.story is not None
    # (read after the notebooks: by the runner's own thread)
    assert calls == (["runner-ahead"] if ahead else ["MainThread"])
    assert not (result.run_dir / ".memo").exists()  # the run's memo is not the bundle's
    # either way, the story of the whole workspace as it is after the run
    assert result.story.diagnosis == build_story(open_workspace(ws), record=False).diagnosis


def test_notebooks_take_their_turns_in_order_and_one_that_never_started_skips_its_own():
    """The spare kernel's notebook waits for its turn; a kernel that never started
    (its notebook ends without a turn) must not hold up those after it."""
    import threading

    slots = bundle._Slots(1)
    order: list[int] = []

    def notebook(number: int, started: bool) -> None:
        if started:
            with slots.turn(number):
                order.append(number)
                time.sleep(0.05)
        slots.done(number)

    threads = [
        threading.Thread(target=notebook, args=(n, n != 1), daemon=True) for n in (3, 2, 1, 0)
    ]
    for thread in threads:  # the last turns ask first
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads), "a turn was never given"
    assert order == [0, 2, 3]


def test_the_timeline_chart_drawn_ahead_is_used_only_while_the_story_shows_the_same(
    demo_copy, tmp_path
):
    """The index's chart is drawn while the last notebooks run; a notebook that adds to the
    timeline after that gets the chart drawn again, with its event; a draft that failed too."""
    from concurrent.futures import Future

    ws = open_workspace(demo_copy("connection-leak"))
    evidence: Future = Future()
    evidence.set_result(bundle.read_story_evidence(ws))
    drafted = bundle._draft_chart(ws, evidence, lambda: True)
    assert drafted is not None
    assert drafted.png == bundle._timeline_png(build_story(ws, record=False))  # the same chart
    run_dir = tmp_path / "run"
    chart = run_dir / "charts" / "timeline.png"

    def tell(draft: Future) -> bytes:
        story, _ = bundle._tell_story(
            ws, run_dir, [], record_timeline=False, evidence=evidence, draft=draft
        )
        assert story is not None
        return chart.read_bytes()

    marked: Future = Future()  # stand-in bytes show which chart was written
    marked.set_result(drafted._replace(png=b"drawn ahead"))
    assert tell(marked) == b"drawn ahead"
    at = (ws.incident.start + timedelta(minutes=20)).isoformat()  # inside the window
    assert main(["note", str(ws.path), "restarted the api pods by hand", "--at", at]) == 0
    redrawn = tell(marked)
    assert redrawn != b"drawn ahead"
    assert redrawn == bundle._timeline_png(build_story(ws, record=False))
    failed: Future = Future()
    failed.set_exception(RuntimeError("the draft failed"))
    assert tell(failed) == redrawn


def test_a_run_that_stops_leaves_no_chart_being_drawn_behind_it():
    """The chart drawn ahead waits for the last turns; a run that stops before them
    releases it at once, and nothing is drawn (no thread drawing while the process ends)."""
    import threading
    from concurrent.futures import Future

    slots = bundle._Slots(2)
    evidence: Future = Future()
    evidence.set_result(object())  # read ahead; never used: the run stops first
    drafts: list = []
    waiter = threading.Thread(
        target=lambda: drafts.append(
            bundle._draft_chart(None, evidence, lambda: slots.wait_taken(3))  # type: ignore[arg-type]
        ),
        daemon=True,
    )
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # waiting for turns 0-2
    slots.cancel()
    waiter.join(10)
    assert not waiter.is_alive() and drafts == [None]
