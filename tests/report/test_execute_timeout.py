"""``--timeout`` bounds a whole notebook, kernel start included (issue 10, Bounded time).

It used to start counting only once the kernel answered, with a floor of one
second: ``--timeout 0.5`` let ``01_triage`` finish "ok" in 1.4 s. Now the limit
runs from the moment the notebook is taken up; on expiry the notebook is marked
``timeout`` and its kernel killed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from kernel_helpers import eventually_gone, notebook

from incident_lib.report.execute import _kernel_manager, execute_notebook


def _write_pid(path: Path) -> str:
    return f"import os\nopen({str(path)!r}, 'w').write(str(os.getpid()))"


def _hung(tmp_path: Path, timeout: float) -> tuple[object, float, str, Path]:
    pid_file = tmp_path / "kernel.pid"
    nb = notebook(
        tmp_path / "hangs.ipynb",
        _write_pid(pid_file) + "\nprint('started')",
        "import time\ntime.sleep(30)",
        "print('never printed')",
    )
    began = time.monotonic()
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=timeout)
    elapsed = time.monotonic() - began
    return result, elapsed, (tmp_path / "out.ipynb").read_text(), pid_file


def test_a_hung_cell_is_stopped_at_the_notebook_limit_and_its_kernel_killed(tmp_path):
    result, elapsed, text, pid_file = _hung(tmp_path, 2)
    assert result.status == "timeout", result.error
    assert "2 s limit" in result.error
    assert elapsed < 8, f"a 2 s limit took {elapsed:.1f} s"
    assert "did not finish (timeout)" in text
    assert "never printed" not in text.replace("print('never printed')", "")
    if os.name == "posix" and pid_file.exists():  # absent when the start took the 2 s
        assert eventually_gone(int(pid_file.read_text())), "the timed-out kernel still runs"


def test_the_cells_run_before_the_limit_are_kept(tmp_path):
    """A limit long enough for the kernel to start even on a loaded machine."""
    result, elapsed, text, pid_file = _hung(tmp_path, 10)
    assert result.status == "timeout", result.error
    assert elapsed < 16, f"a 10 s limit took {elapsed:.1f} s"
    assert "started" in text.replace("print('started')", "")
    assert "did not finish (timeout)" in text
    if os.name == "posix":
        assert eventually_gone(int(pid_file.read_text())), "the timed-out kernel still runs"


def test_the_limit_counts_the_kernel_start(tmp_path):
    """A kernel that takes longer to start than the limit: timeout, no cell ran, kernel killed."""
    pid_file = tmp_path / "kernel.pid"
    slow = (
        _write_pid(pid_file).replace("\n", "; ") + "; import time; time.sleep(4); "
        "from incident_lib.report.kernel_guard import launch_kernel; launch_kernel()"
    )

    def slow_kernel(name: str, sockets: Path):
        km = _kernel_manager(name, sockets)
        km.kernel_spec.argv = [sys.executable, "-c", slow, "-f", "{connection_file}"]
        return km

    marker = tmp_path / "cell-ran"
    nb = notebook(tmp_path / "quick.ipynb", f"open({str(marker)!r}, 'w').close()")
    began = time.monotonic()
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=1, kernel_manager=slow_kernel)
    elapsed = time.monotonic() - began
    assert result.status == "timeout", (result.status, result.error)
    assert "still starting" in result.error
    assert elapsed < 4, f"a 1 s limit took {elapsed:.1f} s"
    assert not marker.exists()
    assert "did not finish (timeout)" in (tmp_path / "out.ipynb").read_text()
    if os.name == "posix":
        assert eventually_gone(int(pid_file.read_text())), "the starting kernel still runs"


def test_the_limit_is_for_the_notebook_not_each_cell(tmp_path):
    """Cells that each fit the limit but together do not: the notebook times out."""
    cells = [f"import time\ntime.sleep(1)\nprint('cell {i} done')" for i in range(8)]
    nb = notebook(tmp_path / "slow.ipynb", *cells)
    began = time.monotonic()
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=4)
    assert result.status == "timeout", result.error
    assert time.monotonic() - began < 8
    assert "cell 7 done" not in (tmp_path / "out.ipynb").read_text().replace(
        "print('cell 7 done')", ""
    )


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_a_limit_already_spent_runs_nothing(tmp_path, timeout):
    marker = tmp_path / "cell-ran"
    nb = notebook(tmp_path / "n.ipynb", f"open({str(marker)!r}, 'w').close()")
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=timeout)
    assert result.status == "timeout"
    assert not marker.exists()


def test_a_notebook_within_its_limit_is_untouched(tmp_path):
    nb = notebook(tmp_path / "n.ipynb", "print('fine')")
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=120)
    assert result.ok, result.error
    assert "did not finish" not in (tmp_path / "out.ipynb").read_text()
