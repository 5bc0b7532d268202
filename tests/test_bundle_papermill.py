"""Every notebook runs with plain papermill (no incident runner) on a demo workspace.

Apart from tests/test_bundle.py so that pytest-xdist (``--dist loadfile``) runs the two
slowest groups of the suite on different workers.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import NOTEBOOKS


def test_plain_papermill_runs_the_notebooks(demo_root, tmp_path):
    for notebook in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        out = tmp_path / notebook.name
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "papermill",
                str(notebook),
                str(out),
                "-k",
                "python3",
                "-p",
                "workspace",
                str(demo_root / "traffic-surge"),
                "--no-progress-bar",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
