"""papermill's nbclient engine, saving the output notebook at most every few seconds.

papermill writes the whole output notebook (JSON, schema validation, every chart
as base64) when each cell starts and again when it ends: 30 to 70 writes per
notebook, seconds of the runner's CPU per bundle, while two kernels need the
cores. This engine saves when the run starts, at a cell boundary once
:data:`SAVE_EVERY` seconds have passed since the last save (a long notebook still
shows its progress on disk), and when the run ends, however it ends: papermill
saves then in a ``finally``, so the cells of a notebook whose kernel died are
kept. The executed notebook is the one papermill would write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

__all__ = ["ENGINE", "register"]

#: the name :func:`register` gives the engine (``engine_name`` of ``papermill.execute_notebook``)
ENGINE = "incident-lib"
#: seconds between two saves of a running notebook at cell boundaries
SAVE_EVERY = 5.0


class _FewerSaves(NotebookExecutionManager):  # type: ignore[misc]
    """Saves at the start, at the end, and at cell boundaries every :data:`SAVE_EVERY` s."""

    _forced = False

    def save(self, **kwargs: Any) -> None:
        waited = (self.now() - self.last_save_time).total_seconds()
        if self._forced or waited >= SAVE_EVERY:
            super().save(**kwargs)

    @contextmanager
    def _saving(self) -> Iterator[None]:
        self._forced = True
        try:
            yield
        finally:
            self._forced = False

    def notebook_start(self, **kwargs: Any) -> None:
        with self._saving():
            super().notebook_start(**kwargs)

    def notebook_complete(self, **kwargs: Any) -> None:
        with self._saving():
            super().notebook_complete(**kwargs)


class _Engine(NBClientEngine):  # type: ignore[misc]
    """:class:`papermill.engines.NBClientEngine` with :class:`_FewerSaves`."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        # papermill's Engine.execute_notebook with the execution manager swapped
        nb_man = _FewerSaves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


def register() -> str:
    """Register the engine with papermill (again is harmless); returns its name."""
    papermill_engines.register(ENGINE, _Engine)
    return ENGINE
