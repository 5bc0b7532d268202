"""Kernels that end with their runner, and no capture from an orphaned kernel.

The runner (``incident run``, :func:`incident_lib.report.execute.execute_notebook`)
passes its pid to each kernel it starts in :data:`RUNNER_PID_ENV` and starts the
kernel through :func:`launch_kernel` (see :func:`kernel_argv`), which, before
ipykernel starts:

* on Linux, asks for a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``):
  the kernel is killed the moment its runner dies, even in the middle of C code;
* on POSIX, starts a watchdog thread that ends the kernel within
  :data:`WATCH_INTERVAL` seconds of its runner's death (macOS and other systems
  without ``prctl``).

Whatever still runs in a kernel whose runner is gone (between the death and the
watchdog's next look, or in a kernel started some other way with the variable
set) cannot capture: :func:`ensure_runner_alive` raises before any capture.
Elsewhere (Windows) the checks are skipped: a runner's death cannot be told
there without extra dependencies.

Only the standard library is imported here: this module runs first in every kernel.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from ..core.errors import RunError

__all__ = [
    "RUNNER_PID_ENV",
    "WATCH_INTERVAL",
    "ensure_runner_alive",
    "guard_kernel",
    "kernel_argv",
    "launch_kernel",
    "runner_alive",
]

#: environment variable holding the pid of the runner that started the kernel
RUNNER_PID_ENV = "INCIDENT_RUNNER_PID"
#: seconds between two looks of the kernel's watchdog at its runner
WATCH_INTERVAL = 0.5

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_POSIX = os.name == "posix"
#: set by :func:`launch_kernel` when the runner is this process's parent
_CHILD_OF_RUNNER = False


def kernel_argv(python: str) -> list[str]:
    """The kernelspec ``argv`` that starts an IPython kernel through :func:`launch_kernel`.

    Parameters
    ----------
    python
        The interpreter to run (normally ``sys.executable``).

    Returns
    -------
    list of str
        ``argv`` with the ``{connection_file}`` placeholder jupyter_client fills in.
    """
    # -c puts "" (the working directory) first on sys.path; drop it before
    # importing anything, as ipykernel_launcher does (IPython adds it back for cells).
    code = (
        "import sys; sys.path[:1] = [p for p in sys.path[:1] if p]; "
        "from incident_lib.report.kernel_guard import launch_kernel; launch_kernel()"
    )
    return [python, "-c", code, "-f", "{connection_file}"]


def _runner_pid() -> int | None:
    """The runner's pid from the environment; None when no runner started this process.

    Raises
    ------
    RunError
        The variable is set but is not a pid.
    """
    text = os.environ.get(RUNNER_PID_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) <= 1:
        raise RunError(
            f"{RUNNER_PID_ENV}={text!r} is not the pid of a runner; "
            "nothing captured (start notebooks with `incident run`, or unset the variable)"
        )
    return int(text)


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits to be reaped (Linux; False elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # "pid (comm) S ...": comm may hold spaces and parentheses, so look after the last ")"
            return stat.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def runner_alive(pid: int) -> bool:
    """Whether the runner ``pid`` still runs.

    The parent pid decides when the runner is this process's parent: once the
    runner dies this process is re-parented, so a recycled pid cannot fool it.
    Otherwise the pid must exist and not be a zombie. On systems other than
    POSIX the answer is always True (the check degrades to nothing).

    Parameters
    ----------
    pid
        The runner's process id.

    Returns
    -------
    bool
        False when the runner is known to be gone.
    """
    if not _POSIX:
        return True  # os.kill(pid, 0) would terminate the process on Windows
    if os.getppid() == pid:
        return True
    if _CHILD_OF_RUNNER:
        return False  # re-parented: the runner is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return not _is_zombie(pid)


def ensure_runner_alive() -> None:
    """Refuse to go on capturing in a kernel whose runner is gone.

    Does nothing outside a runner's kernel (:data:`RUNNER_PID_ENV` unset: a
    notebook opened in Jupyter, plain papermill, a script).

    Raises
    ------
    RunError
        The runner that started this kernel has died (or the variable is not a pid).
    """
    pid = _runner_pid()
    if pid is not None and not runner_alive(pid):
        raise RunError(
            f"the runner that started this kernel (pid {pid}) is gone, so this kernel is "
            "orphaned; nothing captured. Start a new run with `incident run`."
        )


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False when unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _exit_orphaned(pid: int) -> None:
    """End this kernel at once: its runner is gone."""
    try:
        sys.stderr.write(f"incident kernel: runner pid {pid} is gone; exiting\n")
        sys.stderr.flush()
    finally:
        os._exit(1)


def _watch(pid: int) -> None:
    """Watchdog loop: exit this process when the runner ``pid`` is gone."""
    stop = threading.Event()
    while not stop.wait(WATCH_INTERVAL):
        if not runner_alive(pid):
            _exit_orphaned(pid)


def guard_kernel() -> None:
    """Tie this process to its runner: parent-death signal and watchdog.

    Does nothing without :data:`RUNNER_PID_ENV` or outside POSIX. Exits at once
    when the runner is already gone (it may die between starting the process and
    this call).
    """
    global _CHILD_OF_RUNNER
    try:
        pid = _runner_pid()
    except RunError as exc:
        sys.stderr.write(f"incident kernel: {exc}\n")
        return
    if pid is None or not _POSIX:
        return
    if os.getppid() == pid:
        _set_parent_death_signal()
        _CHILD_OF_RUNNER = True  # from here on, a new parent pid means the runner died
    if not runner_alive(pid):
        _exit_orphaned(pid)
    threading.Thread(target=_watch, args=(pid,), name="incident-runner-watch", daemon=True).start()


def launch_kernel() -> None:
    """Entry point of a runner's kernel: :func:`guard_kernel`, then ipykernel as usual."""
    guard_kernel()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
