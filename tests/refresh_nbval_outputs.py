"""Refresh the stored outputs that nbval compares (cells starting `# NBVAL_CHECK_OUTPUT`).

Run after changing a notebook or the demo data, review the diff, commit:

    .venv/bin/python tests/refresh_nbval_outputs.py [notebooks/01_triage.ipynb ...]

Each notebook is executed with its defaults (the connection-leak demo, in a
private demo folder); only the checked cells keep their outputs, every other
cell is stored empty so the repository holds no charts or bulky tables.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parents[1]
MARK = "# NBVAL_CHECK_OUTPUT"


def refresh(path: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / path.name
        papermill.execute_notebook(
            str(path), str(executed), kernel_name="python3", progress_bar=False
        )
        ran = nbformat.read(executed, as_version=4)
    nb = nbformat.read(path, as_version=4)
    checked = 0
    for cell, done in zip(nb.cells, ran.cells, strict=True):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if cell.source.startswith(MARK):
            checked += 1
            cell.outputs, cell.execution_count = done.outputs, checked
    nbformat.write(nb, path)
    return checked


def main() -> None:
    os.environ.setdefault("INCIDENT_DEMO_DIR", tempfile.mkdtemp(prefix="incident-demo-"))
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    for path in paths:
        print(f"{path.name}: {refresh(path)} checked cell(s) stored")


if __name__ == "__main__":
    main()
