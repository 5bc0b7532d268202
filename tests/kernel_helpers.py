"""What the kernel tests share: a notebook written from cells, whether a process is gone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat

from incident_lib.report import kernel_guard

__all__ = ["eventually_gone", "gone", "notebook"]


def notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """Write a python3 notebook of ``cells`` (code) at ``path``.

    ``parameters``: the source of a first cell tagged ``parameters`` (papermill's).
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    if parameters is not None:
        params = nbformat.v4.new_code_cell(parameters)
        params.metadata["tags"] = ["parameters"]
        nb.cells.insert(0, params)
    nbformat.write(nb, path)
    return path


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return kernel_guard._is_zombie(pid)


def eventually_gone(pid: int, seconds: float = 5) -> bool:
    """Whether ``pid`` is gone within ``seconds``."""
    stop = time.monotonic() + seconds
    while time.monotonic() < stop and not gone(pid):
        time.sleep(0.1)
    return gone(pid)
