"""Kernels forked from one warm process: start-up and heavy imports paid once per run.

A fresh kernel spends most of its CPU importing ipykernel, pandas, matplotlib
and incident_lib. The fork server imports them once (no thread, no zmq context,
no event loop before a fork) and forks one child per notebook, which becomes an
ordinary IPython kernel on that notebook's connection file: one process per
notebook, nothing shared after the fork, the same messages and outputs as a
kernel started by jupyter_client.

* :class:`ForkServer` starts the server and asks it for children over a Unix
  socket; each answer carries the child's pid and a pidfd (race-free
  liveness and signals for a process that is not our child).
* :class:`ForkProvisioner` is jupyter_client's local provisioner with the
  ``Popen`` replaced by such a child (interrupt, kill and wait work as usual).

Linux only (pidfd, ``prctl``); :func:`fork_server_supported` says so. The server
dies with its runner (parent-death signal) and each child with the server, so
no kernel outlives the runner; each child also runs
:func:`~incident_lib.report.kernel_guard.guard_kernel`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, cast

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from .kernel_guard import RUNNER_PID_ENV, kernel_argv

__all__ = ["ForkProvisioner", "ForkServer", "fork_server_supported"]

#: modules the server imports before its first fork (what the notebooks import)
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.interactiveshell",
    "IPython.core.pylabtools",
    "IPython.core.debugger",
    "tornado.platform.asyncio",
    "sqlite3",
    "numpy",
    "pandas",
    "pandas.io.formats.html",
    "pandas.io.formats.string",
    "pyarrow",
    "pyarrow.dataset",
    "pyarrow.parquet",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",
    "requests",
    "yaml",
    "mistune",
    "bleach",
    "detect_secrets",
    "incident_lib",
    "incident_lib.runbook",
)
#: packages of ours whose modules are all imported too
PRELOAD_PACKAGES = (
    "incident_lib.analysis",
    "incident_lib.charts",
    "incident_lib.core",
    "incident_lib.infra",
    "incident_lib.report",
    "incident_lib.comms",
)

#: modules of ours only the runner uses, left out of the walk above (papermill and the
#: kernel client's imports are no notebook's, and would delay the first fork)
PRELOAD_SKIP = ("incident_lib.report._client", "incident_lib.report._engine")

_PR_SET_PDEATHSIG = 1
#: seconds a killed kernel gets to exit before the kernel manager's own polling takes over
KILL_WAIT = 5.0


def fork_server_supported() -> bool:
    """Whether this system can run the fork server (Linux with pidfd support)."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open")


# --- the server process ---------------------------------------------------------------------


def _die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux ``prctl``)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _warm() -> None:
    """Import :data:`PRELOAD` and draw one small figure off-screen (fonts, caches).

    ``MPLBACKEND`` is set as ipykernel sets it in a kernel, before matplotlib
    reads it, so pyplot in a child resolves the same backend as in a fresh kernel.
    """
    import importlib
    import pkgutil

    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    names = list(PRELOAD)
    for package in PRELOAD_PACKAGES:
        with contextlib.suppress(Exception):
            path = importlib.import_module(package).__path__
            modules = pkgutil.walk_packages(path, package + ".")
            names += [m.name for m in modules if m.name not in PRELOAD_SKIP]
    for name in names:
        with contextlib.suppress(Exception):  # a module that fails is imported by the kernel
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from ..infra.redact import redact

        redact("warm up: password=hunter2 token=abc")  # builds the detectors once
    with contextlib.suppress(Exception):
        import io

        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 1))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], label="warm")
        ax.set_title("warm", loc="left", fontweight="bold", y=1.0)  # the charts' titles
        ax.text(0.5, 0.5, "warm", family="monospace")  # the blocking tree's queries
        ax.legend()
        fig.savefig(io.BytesIO(), format="png")  # charts are saved as laid out: one draw


def _child(request: dict[str, Any], fds: list[int], server: socket.socket) -> None:
    """In the forked child: become the notebook's kernel; never returns."""
    code = 1
    try:
        server.close()
        os.setsid()  # as jupyter_client does: interrupts reach the kernel's whole group
        _die_with_parent()
        if os.getppid() != request["server_pid"]:
            os._exit(1)  # the server died before the parent-death signal was set
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (devnull, *fds):
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the server ignores it
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        with contextlib.suppress(ImportError):
            import numpy as np

            np.random.seed()  # fresh entropy, as a fresh process would have
        sys.argv = ["-c", "-f", request["connection_file"]]
        from ipykernel import kernelapp

        from .kernel_guard import guard_kernel

        guard_kernel()
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(fd: int) -> None:
    """Run the fork server on the connected socket ``fd`` until the runner closes it.

    A request is one JSON line (connection file, working directory, environment)
    with the kernel's stdout and stderr descriptors attached; the answer is a
    JSON line with the child's pid and a pidfd attached.
    """
    _die_with_parent()
    if str(os.getppid()) != os.environ.get(RUNNER_PID_ENV):
        return  # the runner died before the parent-death signal was set
    if sys.path[:1] == [""]:
        del sys.path[0]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner interrupts kernels, not us
    _warm()
    conn = socket.socket(fileno=fd)
    children: dict[int, int] = {}  # pidfd -> pid, reaped when the pidfd turns readable
    buffer = b""
    conn.sendall(b'{"ready": true}\n')
    while True:
        ready, _, _ = select.select([conn.fileno(), *children], [], [])
        for pidfd in [r for r in ready if r != conn.fileno()]:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(children[pidfd], 0)
            os.close(pidfd)
            del children[pidfd]
        if conn.fileno() not in ready:
            continue
        data, fds, _, _ = socket.recv_fds(conn, 65536, 2)
        if not data:
            return  # the runner closed the socket: no more kernels
        buffer += data
        if b"\n" not in buffer:
            for fd_ in fds:
                os.close(fd_)
            continue
        line, _, buffer = buffer.partition(b"\n")
        request = json.loads(line)
        request["server_pid"] = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, fds, conn)
        for fd_ in fds:
            os.close(fd_)
        pidfd = os.pidfd_open(pid)
        socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
        children[pidfd] = pid


# --- the runner side ------------------------------------------------------------------------


class ForkServer:
    """One fork server for this process: start it, ask it for kernels, close it.

    The server gets a parent-death signal, which Linux ties to the creating
    *thread*: create it in a thread that outlives it (``incident run`` uses its
    main thread).

    Parameters
    ----------
    start_timeout
        Seconds to wait for the server to finish its imports.
    wait
        Wait for them here (the default); False returns at once, and the first
        :meth:`fork` (or :meth:`wait_ready`) waits: the caller does other work
        while the server imports.

    Raises
    ------
    OSError
        The server could not be started or did not answer in time.
    """

    def __init__(self, start_timeout: float = 60.0, *, wait: bool = True) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # ipykernel reads JPY_PARENT_PID when imported (the server imports it), so it
        # is set here as jupyter_client's launcher sets it for each kernel
        env = {**os.environ, RUNNER_PID_ENV: str(os.getpid()), "JPY_PARENT_PID": str(os.getpid())}
        # os._exit: the interpreter's finalisation of all it imported took half a second
        # (it writes nothing: its output goes nowhere, its kernels are gone or die with it)
        code = (
            "import os, sys; sys.path[:1] = [p for p in sys.path[:1] if p]; "
            "from incident_lib.report._forkserver import serve; serve(int(sys.argv[1])); "
            "os._exit(0)"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-c", code, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # import-time chatter (debugpy) is no kernel's log
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal goes to the runner only
        )
        theirs.close()
        self._sock = ours
        self._lock = threading.Lock()
        self._buffer = b""
        self._deadline = time.monotonic() + start_timeout
        self._ready: bool | None = None  # None: still importing, as far as we know
        self._failure = ""
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the server has finished its imports (once; then at once).

        Raises
        ------
        OSError
            The server did not start, or did not answer before its start timeout;
            it is stopped.
        """
        with self._lock:
            if self._ready is None:
                try:
                    answer, _ = self._read(max(self._deadline - time.monotonic(), 0.001))
                    self._ready = bool(answer.get("ready"))
                    self._failure = "" if self._ready else "the fork server did not start"
                except OSError as exc:
                    self._ready, self._failure = False, str(exc)
                if not self._ready:
                    self.close()
            if not self._ready:
                raise OSError(self._failure)

    def _read(self, timeout: float) -> tuple[dict[str, Any], list[int]]:
        """One JSON line from the server and any descriptors sent with it."""
        stop = time.monotonic() + timeout
        fds: list[int] = []
        while b"\n" not in self._buffer:
            left = stop - time.monotonic()
            if left <= 0 or not select.select([self._sock], [], [], left)[0]:
                raise OSError("the fork server did not answer")
            data, more, _, _ = socket.recv_fds(self._sock, 65536, 2)
            fds += more
            if not data:
                raise OSError("the fork server is gone")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line), fds

    def alive(self) -> bool:
        """Whether the server still runs."""
        return self._process.poll() is None

    def fork(
        self, connection_file: str, *, cwd: str, env: dict[str, str], stdout: int, stderr: int
    ) -> tuple[int, int]:
        """Fork a kernel on ``connection_file``; returns its pid and a pidfd (ours to close).

        Raises
        ------
        OSError
            The server is gone or did not answer.
        """
        request = {"connection_file": connection_file, "cwd": cwd, "env": env}
        self.wait_ready()
        with self._lock:
            socket.send_fds(self._sock, [json.dumps(request).encode() + b"\n"], [stdout, stderr])
            answer, fds = self._read(30.0)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise OSError("the fork server sent no process handle")
        return int(answer["pid"]), fds[0]

    def close(self) -> None:
        """Stop the server (kernels it forked die with it)."""
        with contextlib.suppress(OSError):
            self._sock.close()
        if self._ready is not True:  # still importing: it reads its socket only when done
            self._process.kill()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class _ForkedProcess:
    """The part of :class:`subprocess.Popen` the local provisioner uses, for a forked kernel.

    The kernel is the fork server's child, not ours: liveness and signals go
    through its pidfd (no pid reuse), and the exit code is not known (reported as -1).
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self.returncode = -1
            os.close(self._pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("kernel", timeout or 0)
            self.poll()
        return -1 if self.returncode is None else self.returncode

    async def exited(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the kernel to exit, without polling."""
        if self.returncode is not None:
            return
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()

        def exited() -> None:
            if not gone.done():
                gone.set_result(None)

        loop.add_reader(self._pidfd, exited)
        try:
            await asyncio.wait_for(gone, timeout)
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(self._pidfd)
        self.poll()

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """Local provisioner whose kernel is forked by a :class:`ForkServer`.

    Only the standard command (:func:`~incident_lib.report.kernel_guard.kernel_argv`
    of this interpreter) is forked; any other command is launched as usual.
    """

    server: ForkServer | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Fork the kernel (see the class docstring) and return its connection info."""
        server = self.server
        expected = kernel_argv(sys.executable)[:-1]
        if server is None or cmd[:-1] != expected or not server.alive():
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher sets it
        cwd = str(kwargs.get("cwd") or os.getcwd())
        out, err = kwargs.get("stdout"), kwargs.get("stderr")
        with contextlib.ExitStack() as stack:
            if out is None or err is None:
                null = stack.enter_context(open(os.devnull, "wb"))
            out_fd = out.fileno() if out is not None else null.fileno()
            err_fd = err.fileno() if err is not None else null.fileno()
            pid, pidfd = server.fork(cmd[-1], cwd=cwd, env=env, stdout=out_fd, stderr=err_fd)
        # duck-typed: the provisioner calls poll/wait/send_signal/kill/terminate only
        self.process = cast("subprocess.Popen[bytes]", _ForkedProcess(pid, pidfd))
        self.pid = pid
        self.pgid = pid  # the child called setsid()
        self.cwd = cwd
        return self.connection_info

    async def kill(self, restart: bool = False) -> None:
        """Kill the kernel and return once it is gone.

        The kernel manager then finds it dead at once, instead of after its
        0.1 s polling interval.
        """
        await super().kill(restart=restart)
        process: object = self.process  # typed as Popen: ours only duck-types it
        if isinstance(process, _ForkedProcess):
            await process.exited(KILL_WAIT)
