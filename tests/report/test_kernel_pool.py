"""Kernels forked from a warm process, and charts drawn once (issue 15, a bundle near its floor).

Each notebook used to start a fresh kernel that imported ipykernel, pandas and
matplotlib again, and every chart was rendered twice (saved, then again by the
inline backend). Now ``incident run`` forks each notebook's kernel from one
process that imported them once (:func:`~incident_lib.report.execute.forked_kernels`),
and ``Runbook.save_chart`` shows the very PNG it saved. What a notebook gets
must not change: the same outputs as a plain kernel, its own process, no
globals from the notebook before, interrupts and kills as before.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import pytest
from incident_records import sample_incident
from kernel_helpers import eventually_gone, gone, notebook

from incident_lib.report.execute import execute_notebook, forked_kernels

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork server needs Linux (pidfd)"
)


@pytest.fixture(scope="module")
def pool():
    kernels = forked_kernels()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        factory = kernels.__enter__()
    try:
        fallback = [w for w in caught if "normal way" in str(w.message)]
        assert not fallback, fallback[0].message  # the fork server must have started
        yield factory
    finally:
        kernels.__exit__(None, None, None)


def _comparable(path: Path) -> tuple[dict, list]:
    """Notebook metadata and cells without the times and paths that differ between runs."""
    nb = nbformat.read(path, as_version=4)
    meta = {k: v for k, v in nb.metadata.items() if k != "papermill"}
    meta["papermill"] = sorted(nb.metadata.get("papermill", {}))
    cells = []
    for cell in nb.cells:
        outputs = [
            {k: v for k, v in o.items() if k != "execution_count"} for o in cell.get("outputs", [])
        ]
        cells.append((cell.cell_type, cell.source, sorted(cell.metadata), outputs))
    return meta, cells


CELLS = (
    "x = 40 + 2\nx",
    "print('hello', x)",
    "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\nax.plot([1, 3, 2]);",
    "from IPython.display import Markdown, display\ndisplay(Markdown('**bold**'))",
)


def test_a_notebook_run_through_the_pool_equals_a_plain_run(tmp_path, pool):
    nb = notebook(tmp_path / "same.ipynb", *CELLS)
    plain = execute_notebook(nb, tmp_path / "plain.ipynb", {}, timeout=120)
    forked = execute_notebook(nb, tmp_path / "forked.ipynb", {}, timeout=120, kernel_manager=pool)
    assert plain.ok, plain.error
    assert forked.ok, forked.error
    assert _comparable(tmp_path / "forked.ipynb") == _comparable(tmp_path / "plain.ipynb")
    out = nbformat.read(tmp_path / "forked.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for o in out.cells[3].outputs)  # inline chart


def test_each_notebook_has_its_own_process_and_no_globals_of_the_one_before(tmp_path, pool):
    check = "import os\nprint(os.getpid(), 'secret' in globals(), 'pd' in globals())"
    first = notebook(tmp_path / "first.ipynb", "import pandas as pd\nsecret = 42", check)
    second = notebook(tmp_path / "second.ipynb", check)
    pids = []
    for nb in (first, second):
        result = execute_notebook(
            nb, tmp_path / f"out-{nb.name}", {}, timeout=120, kernel_manager=pool
        )
        assert result.ok, result.error
        out = nbformat.read(tmp_path / f"out-{nb.name}", as_version=4)
        text = out.cells[-1].outputs[0]["text"].split()
        pids.append(int(text[0]))
        assert text[1:] == (["True", "True"] if nb is first else ["False", "False"])
    assert pids[0] != pids[1]
    assert os.getpid() not in pids
    assert eventually_gone(pids[0], seconds=10), "a finished notebook's kernel still runs"


def test_a_stuck_cell_is_still_interrupted_and_its_kernel_killed(tmp_path, pool):
    pid_file = tmp_path / "kernel.pid"
    nb = notebook(
        tmp_path / "hangs.ipynb",
        f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nprint('started')",
        "import time\ntime.sleep(60)",
        "print('never printed')",
    )
    began = time.monotonic()
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=8, kernel_manager=pool)
    assert result.status == "timeout", result.error
    assert time.monotonic() - began < 20
    text = (tmp_path / "out.ipynb").read_text()
    assert "started" in text.replace("print('started')", "")
    assert "never printed" not in text.replace("print('never printed')", "")
    assert eventually_gone(int(pid_file.read_text()), seconds=10), "the timed-out kernel still runs"


def test_a_kernel_that_dies_is_reported(tmp_path, pool):
    nb = notebook(
        tmp_path / "dies.ipynb",
        "print('before')",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "print('after')",
    )
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=120, kernel_manager=pool)
    assert result.status == "kernel-died", (result.status, result.error)
    assert "did not finish (kernel-died)" in (tmp_path / "out.ipynb").read_text()


def test_the_chart_in_the_notebook_is_the_saved_png_drawn_once(tmp_path, pool):
    from incident_lib import create_workspace

    incident = sample_incident(title="connection pool exhausted")
    workspace = create_workspace(incident, tmp_path / "ws").path
    run_dir = tmp_path / "run"
    nb = notebook(
        tmp_path / "chart.ipynb",
        "from incident_lib import start_runbook\n"
        f"rb = start_runbook('02_assess', workspace={str(workspace)!r}, run_dir={str(run_dir)!r})",
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(4, 2))\n"
        "ax.plot([1, 3, 2], label='errors')\n"
        "ax.legend()\n"
        "chart = rb.save_chart(fig, 'errors')\n"
        "print(chart, plt.get_fignums())",
    )
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=120, kernel_manager=pool)
    assert result.ok, result.error
    cell = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[1]
    images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, "the chart was shown more than once (or not at all)"
    saved = (run_dir / "charts" / "02_assess-errors.png").read_bytes()
    assert base64.b64decode(images[0]["data"]["image/png"]) == saved
    # shown at the size the inline backend gives the figure (100 dpi of a 110 dpi PNG)
    width = int.from_bytes(saved[16:20], "big")
    assert images[0]["metadata"]["image/png"]["width"] == round(width * 100 / 110)
    printed = [o["text"] for o in cell.outputs if o.get("output_type") == "stream"]
    assert printed == ["charts/02_assess-errors.png []\n"]  # the figure is closed


def test_without_a_fork_server_kernels_start_the_normal_way_with_a_warning(tmp_path, monkeypatch):
    from incident_lib.report import _forkserver

    monkeypatch.setattr(_forkserver, "fork_server_supported", lambda: False)
    nb = notebook(tmp_path / "n.ipynb", "print('fine')")
    with pytest.warns(RuntimeWarning, match="normal way"), forked_kernels() as factory:
        result = execute_notebook(
            nb, tmp_path / "out.ipynb", {}, timeout=120, kernel_manager=factory
        )
    assert result.ok, result.error


RUNNER = """
import sys
from pathlib import Path
import nbformat
from incident_lib.report.execute import execute_notebook, forked_kernels

tmp = Path(sys.argv[1])
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell(
    "import os, time\\n"
    f"open({str(tmp / 'kernel.pid')!r}, 'w').write(str(os.getpid()))\\n"
    "sum(range(10**13))"  # holds the GIL: no Python thread of the kernel runs
)]
nbformat.write(nb, tmp / "busy.ipynb")
with forked_kernels() as kernels:
    execute_notebook(tmp / "busy.ipynb", tmp / "out.ipynb", {}, timeout=300, kernel_manager=kernels)
"""


def test_kill_9_of_the_runner_ends_the_fork_server_and_its_kernels(tmp_path):
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = tmp_path / "kernel.pid"
    stop = time.monotonic() + 120
    while time.monotonic() < stop and not (pid_file.exists() and pid_file.read_text().strip()):
        time.sleep(0.1)
    if not (pid_file.exists() and pid_file.read_text().strip()):
        runner.kill()
        pytest.fail("the kernel never started:\n" + "\n".join(runner.communicate()))
    kernel = int(pid_file.read_text())
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    try:
        assert eventually_gone(kernel, seconds=10), f"kernel {kernel} outlived its runner"
    finally:
        if not gone(kernel):
            os.kill(kernel, signal.SIGKILL)


def test_a_server_started_without_waiting_forks_once_ready_and_fails_cleanly(tmp_path):
    """``incident run`` starts the server first and checks its input while it imports."""
    from incident_lib.report._forkserver import ForkServer

    late = ForkServer(start_timeout=0.001, wait=False)  # returns before the imports end
    try:
        with pytest.raises(OSError, match="did not answer"):
            late.wait_ready()
        assert eventually_gone(late._process.pid, seconds=10)  # stopped, not left importing
        with pytest.raises(OSError, match="did not answer"):  # and it says so again
            late.fork("unused.json", cwd=str(tmp_path), env={}, stdout=1, stderr=2)
    finally:
        late.close()

    nb = notebook(tmp_path / "n.ipynb", "import os\nprint(os.getpid())")
    with forked_kernels(wait=False) as factory:
        result = execute_notebook(
            nb, tmp_path / "out.ipynb", {}, timeout=120, kernel_manager=factory
        )
    assert result.ok, result.error


def test_input_refused_stops_the_server_started_for_the_run(demo_copy, tmp_path):
    import psutil

    from incident_lib.core.errors import InvalidInput
    from incident_lib.infra.workspace import open_workspace
    from incident_lib.report.bundle import run_bundle

    folder = tmp_path / "nbs"
    folder.mkdir()
    notebook(folder / "01_x.ipynb", "print(1)", parameters='workspace: str = ""')
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(InvalidInput, match="no_such_parameter"):
        run_bundle(
            open_workspace(demo_copy("traffic-surge")),
            notebook_dir=folder,
            parameters={"no_such_parameter": 1},
        )
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert not left, [p.cmdline() for p in left]


def test_a_kernel_starts_before_its_slot_and_the_wait_is_not_its_time(pool, tmp_path):
    """incident run starts the next notebook's kernel while the others run (one spare)."""
    import threading

    nb = notebook(
        tmp_path / "n.ipynb", "import psutil\nprint(repr(psutil.Process().create_time()))"
    )
    slot = threading.Lock()
    slot.acquire()  # every slot taken
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            execute_notebook(
                nb, tmp_path / "out.ipynb", {}, timeout=4, kernel_manager=pool, gate=slot
            )
        )
    )
    worker.start()
    time.sleep(5)  # longer than its limit: waiting for a slot is not running
    released = time.time()
    slot.release()
    worker.join(60)
    (result,) = results
    assert result.ok, result.error
    assert result.seconds < 5
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    started = float(out.cells[0].outputs[0]["text"])
    assert started < released - 3  # the kernel was up while the notebook waited
