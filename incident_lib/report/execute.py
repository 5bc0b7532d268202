"""Execute one notebook with papermill: kernel start retries, a wall-clock limit, no loss.

Whatever happens (a failing cell, a hang past the limit, a kernel that dies),
the executed notebook is kept with the error visible in it and a
:class:`NotebookResult` says what happened; nothing is raised for notebook failures.

The limit bounds the whole notebook, kernel start included. Each kernel gets
this process's pid and ends when this process dies, even by ``kill -9``
(:mod:`incident_lib.report.kernel_guard`): no kernel outlives its runner to go on
capturing evidence.
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jupyter_core.utils import run_sync

from ..infra.redact import redact, redact_notebook
from .kernel_guard import RUNNER_PID_ENV, kernel_argv

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

#: builds a kernel manager from a kernel name and a private folder for its sockets
KernelFactory = Callable[[str, Path], "AsyncKernelManager"]

__all__ = ["NotebookResult", "execute_notebook", "forked_kernels"]

Status = Literal["ok", "failed", "timeout", "kernel-died"]
logger = logging.getLogger(__name__)

#: seconds an interrupted kernel gets to stop its cell before it is killed
INTERRUPT_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class NotebookResult:
    """What happened to one notebook of a run."""

    name: str
    status: Status
    seconds: float
    output: Path
    error: str = ""
    html: Path | None = None

    @property
    def ok(self) -> bool:
        """True when every cell ran without error."""
        return self.status == "ok"


def _kernel_manager(kernel_name: str, sockets: Path) -> AsyncKernelManager:
    """An async kernel manager for a local kernel over IPC sockets, in this environment.

    Async, as nbclient expects: with a blocking client, a kernel that dies
    mid-cell leaves nbclient waiting for output forever.

    * ``python3`` is this environment's Python: a user-level ``python3``
      kernelspec may point at another interpreter without incident_lib. It starts
      through :func:`incident_lib.report.kernel_guard.launch_kernel`, so that it
      exits when this process dies.
    * IPC (Unix sockets in the private folder ``sockets``) instead of TCP: no
      ports to collide on, nothing reachable from the network, no plain-text warning.
    * Its clients check readiness without jupyter_client's 0.2 s of silence
      (:class:`~incident_lib.report._client.ReadyClient`).
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class CurrentEnvKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, name: str) -> KernelSpec:
            if name == "python3":
                from ipykernel.kernelspec import RESOURCES, get_kernel_dict

                spec = get_kernel_dict()
                spec["argv"] = kernel_argv(sys.executable)
                return KernelSpec(resource_dir=RESOURCES, **spec)
            return super().get_kernel_spec(name)

    return AsyncKernelManager(
        kernel_name=kernel_name,
        kernel_spec_manager=CurrentEnvKernelSpecs(),
        transport="ipc",
        ip=str(sockets / "kernel"),
        client_class="incident_lib.report._client.ReadyClient",
    )


@contextlib.contextmanager
def forked_kernels(*, wait: bool = True) -> Iterator[KernelFactory]:
    """Kernel managers whose kernels are forked from one warm process, for a whole run.

    The fork server (:mod:`incident_lib.report._forkserver`) imports ipykernel,
    pandas, matplotlib, pyarrow and incident_lib once; each notebook still gets
    its own kernel process, started on its own connection file, and its outputs
    are those of an ordinary kernel. Pass the factory as ``kernel_manager`` to
    :func:`execute_notebook`. The server stops when the ``with`` block ends.

    When the server cannot start (not Linux, no pidfd, an import failing), a
    warning says so and the factory starts kernels the normal way.

    Parameters
    ----------
    wait
        Wait here for the server's imports (the default). False returns at once
        (the caller checks its input meanwhile); the first kernel waits, and a
        server that failed then is warned about there, once.

    Yields
    ------
    KernelFactory
        Builds a kernel manager from a kernel name and a socket folder.
    """
    from ._forkserver import ForkProvisioner, ForkServer, fork_server_supported

    server: ForkServer | None = None
    if fork_server_supported():
        try:
            server = ForkServer(wait=wait)
        except Exception as exc:  # OSError, a failed import in the server
            warnings.warn(
                f"kernels start the normal way (the fork server did not start: {exc})",
                RuntimeWarning,
                stacklevel=3,
            )
    else:
        warnings.warn(
            "kernels start the normal way (no fork server on this system)",
            RuntimeWarning,
            stacklevel=3,
        )

    failed: list[str] = []  # the server that failed after all (said once)
    said = threading.Lock()

    def usable() -> bool:
        if server is None:
            return False
        try:
            server.wait_ready()
        except OSError as exc:
            with said:
                if not failed:
                    failed.append(str(exc))
                    warnings.warn(
                        f"kernels start the normal way (the fork server did not start: {exc})",
                        RuntimeWarning,
                        stacklevel=2,
                    )
            return False
        return True

    def factory(kernel_name: str, sockets: Path) -> AsyncKernelManager:
        km = _kernel_manager(kernel_name, sockets)
        if kernel_name == "python3" and usable():
            import uuid

            km.kernel_id = str(uuid.uuid4())
            provisioner = ForkProvisioner(
                kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km
            )
            provisioner.server = server
            km.provisioner = provisioner
        return km

    try:
        yield factory
    finally:
        if server is not None:
            server.close()


def _mark_error(output: Path, status: Status, message: str) -> None:
    """Put a visible error cell at the top of the output notebook.

    ``message`` (an exception's text, which may quote a log line or an object
    name) is escaped and kept on one line, so it stays text inside the HTML block.
    """
    import nbformat

    nb = (
        nbformat.read(output, as_version=4)  # type: ignore[no-untyped-call]
        if output.exists()
        else nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    )
    banner = nbformat.v4.new_markdown_cell(  # type: ignore[no-untyped-call]
        f'<div class="incident-run-error"><b>This notebook did not finish ({status}).</b> '
        f"{html.escape(' '.join(message.split()))}</div>"
    )
    banner.metadata["tags"] = ["incident-run-error"]
    nb.cells.insert(0, banner)
    nbformat.write(nb, output)  # type: ignore[no-untyped-call]


def _start_kernel(
    factory: KernelFactory,
    kernel_name: str,
    sockets: Path,
    log: Path,
    attempts: int,
    deadline: float,
) -> AsyncKernelManager:
    """Start a kernel and wait until it answers, retrying failed starts, until ``deadline``.

    A start can fail for reasons a second try fixes: over TCP, kernels started
    together collide on ports (each picks free ports, then binds); a loaded
    machine misses the ready deadline. The kernel's own stdout/stderr (not cell
    output) go to ``log``. Its environment names this process as its runner
    (:data:`~incident_lib.report.kernel_guard.RUNNER_PID_ENV`). ``deadline`` is a
    :func:`time.monotonic` time: past it, the kernel is killed and
    :class:`KernelStartTimeout` raised.
    """
    env = {**os.environ, RUNNER_PID_ENV: str(os.getpid())}
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        if time.monotonic() >= deadline:
            raise KernelStartTimeout("no kernel was started")
        km = factory(kernel_name, sockets)
        try:
            with log.open("ab") as sink:
                run_sync(km.start_kernel)(stdout=sink, stderr=sink, env=env)
            kc = km.client()
            kc.start_channels()
            try:
                run_sync(kc.wait_for_ready)(timeout=min(60.0, deadline - time.monotonic()))
            finally:
                kc.stop_channels()
            return km
        except Exception as exc:  # RuntimeError "kernel died", TimeoutError, ...
            last = exc
            logger.info("kernel start attempt %d of %d failed: %s", attempt, attempts, exc)
            _shutdown(km)
        if time.monotonic() >= deadline:
            raise KernelStartTimeout("the kernel was still starting")
    raise KernelStartError(f"the kernel did not start after {attempts} attempts: {last}")


class KernelStartError(RuntimeError):
    """No kernel could be started for a notebook."""


class KernelStartTimeout(KernelStartError):
    """The notebook's time limit ran out while its kernel was starting."""


def execute_notebook(
    source: Path,
    output: Path,
    parameters: dict[str, Any],
    *,
    timeout: float,
    kernel_name: str = "python3",
    start_attempts: int = 3,
    kernel_manager: KernelFactory | None = None,
    log_dir: Path | None = None,
    gate: contextlib.AbstractContextManager[object] | None = None,
) -> NotebookResult:
    """Run ``source`` into ``output`` with ``parameters`` injected.

    Parameters
    ----------
    source, output
        The notebook to run and where to write the executed copy.
    parameters
        Values for the notebook's ``parameters`` cell (already validated).
    timeout
        Wall-clock limit for the whole notebook, kernel start included, in
        seconds. Past it the kernel is interrupted (the stuck cell shows where it
        was), killed at most :data:`INTERRUPT_GRACE` seconds later, and the
        notebook marked ``timeout``; the cells run so far are kept.
    kernel_name
        Jupyter kernel to use.
    start_attempts
        How often to try starting a kernel (see :func:`_start_kernel`).
    kernel_manager
        Builds the kernel manager from a kernel name and a private folder for
        its sockets (default: this environment's Python over IPC).
    log_dir
        Where the kernel's own stdout/stderr go (default: ``logs/`` beside
        ``output``); redacted afterwards, removed when empty.
    gate
        Held while the notebook runs, entered once its kernel is ready (e.g. a
        semaphore of the runner's parallel slots: a kernel starts while the
        notebooks before it still run). Time spent waiting at the gate does not
        count against ``timeout``; the kernel's start does.
    """
    name = source.stem
    began = time.monotonic()
    deadline = began + timeout
    log = (log_dir or output.parent / "logs") / f"{name}.kernel.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="incident-kernel-") as sockets:
        try:
            km = _start_kernel(
                kernel_manager or _kernel_manager,
                kernel_name,
                Path(sockets),
                log,
                start_attempts,
                deadline,
            )
        except KernelStartError as exc:
            status: Status = "kernel-died"
            error = str(exc)
            if isinstance(exc, KernelStartTimeout):
                status, error = "timeout", f"stopped after the {timeout:g} s limit ({exc})"
            _mark_error(output, status, error)
            _tidy_log(log)
            return NotebookResult(
                name=name,
                status=status,
                output=output,
                error=error,
                seconds=time.monotonic() - began,
            )
        started = time.monotonic() - began
        with gate if gate is not None else contextlib.nullcontext():
            # the notebook's clock: its kernel's start, then its run (not the wait)
            began = time.monotonic() - started
            deadline = began + timeout
            status, error = _run_in_kernel(
                km,
                source,
                output,
                parameters,
                kernel_name=kernel_name,
                timeout=timeout,
                deadline=deadline,
            )
    error = redact(error)  # an exception message may quote a DSN or a token
    if status in ("timeout", "kernel-died") or (status == "failed" and not _has_error_cell(output)):
        _mark_error(output, status, error)
    _redact_output(output)  # at once: the rendering step may never come (Ctrl-C)
    _tidy_log(log)
    return NotebookResult(
        name=name, status=status, seconds=time.monotonic() - began, output=output, error=error
    )


def _shutdown(km: AsyncKernelManager) -> None:
    with contextlib.suppress(Exception):
        run_sync(km.shutdown_kernel)(now=True)


def _signal(km: AsyncKernelManager, signum: int) -> bool:
    """Send ``signum`` to the kernel process; False when it is gone already."""
    pid = getattr(km.provisioner, "pid", None)
    if not pid:
        return False
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _run_in_kernel(
    km: AsyncKernelManager,
    source: Path,
    output: Path,
    parameters: dict[str, Any],
    *,
    kernel_name: str,
    timeout: float,
    deadline: float,
) -> tuple[Status, str]:
    """Execute with papermill in the started kernel ``km`` until ``deadline``; always kills it.

    ``deadline`` is a :func:`time.monotonic` time.
    """
    import papermill

    from ._engine import register

    timed_out = threading.Event()
    finished = threading.Event()
    lock = threading.Lock()

    def on_timeout() -> None:
        # Runs in the timer thread: signal the process directly rather than
        # touch the kernel manager that nbclient drives from its own event loop.
        with lock:
            if finished.is_set():
                return
            timed_out.set()
        if _signal(km, signal.SIGINT) and not finished.wait(INTERRUPT_GRACE):
            _signal(km, signal.SIGKILL)

    remaining = deadline - time.monotonic()
    status: Status = "ok"
    error = ""
    if remaining <= 0:  # the kernel took the whole limit to start
        _shutdown(km)
        return "timeout", f"stopped after the {timeout:g} s limit (no cell ran)"
    watchdog = threading.Timer(remaining, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=parameters,
            kernel_name=kernel_name,
            engine_name=register(),  # papermill's engine, saving less often
            progress_bar=False,
            log_output=False,
            start_timeout=60,
            # a backstop only: the watchdog stops the kernel at the deadline
            execution_timeout=math.ceil(remaining + INTERRUPT_GRACE) + 10,
            km=km,
        )
    except papermill.PapermillExecutionError as exc:
        status = "failed"
        error = f"{exc.ename}: {exc.evalue}".strip()
        error = f"cell {exc.exec_count}: {error}" if exc.exec_count else error
    except Exception as exc:  # a dead kernel, nbclient's own cell timeout
        status = "failed" if run_sync(km.is_alive)() else "kernel-died"
        error = f"{type(exc).__name__}: {exc}"
        if status == "kernel-died":
            error = f"the kernel died: {error}"
    finally:
        with lock:
            finished.set()
        watchdog.cancel()
        _shutdown(km)
    if timed_out.is_set():  # the interrupt shows up as KeyboardInterrupt or a dead kernel
        status, error = "timeout", f"stopped after the {timeout:g} s limit"
    return status, error


def _redact_output(output: Path) -> None:
    """Redact the executed notebook in place."""
    import nbformat

    if output.exists():
        nb = nbformat.read(output, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.write(redact_notebook(nb), output)  # type: ignore[no-untyped-call]


def _tidy_log(log: Path) -> None:
    """Redact the kernel log, or remove it when the kernel said nothing."""
    if not log.exists():
        return
    text = log.read_text(errors="replace")
    if text.strip():
        log.write_text(redact(text))
    else:
        log.unlink()
        with contextlib.suppress(OSError):
            log.parent.rmdir()


def _has_error_cell(output: Path) -> bool:
    """Whether papermill already put its own error marker into the output."""
    import nbformat

    if not output.exists():
        return False
    nb = nbformat.read(output, as_version=4)  # type: ignore[no-untyped-call]
    return any(
        o.get("output_type") == "error"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
