"""What a notebook run costs besides its cells (issue 15, a bundle near its floor).

Three fixed costs per notebook, each now bounded by an event instead of a wait:

* the readiness check ends on the kernel's ``idle`` status for its own request
  (:class:`~incident_lib.report._client.ReadyClient`), not after 0.2 s of IOPub
  silence; it still asks again while IOPub is not yet subscribed;
* a killed forked kernel is waited for on its pidfd, not by 0.1 s polling;
* papermill's output notebook is saved at the start, at the end and every few
  seconds (:mod:`incident_lib.report._engine`), not twice per cell; nothing of a
  notebook whose kernel dies is lost.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import warnings
from datetime import timedelta
from pathlib import Path
from queue import Empty

import nbformat
import pytest
import zmq
from jupyter_client.session import Session
from jupyter_core.utils import run_sync
from kernel_helpers import gone, notebook

from incident_lib.report._client import ReadyClient
from incident_lib.report._engine import SAVE_EVERY, _FewerSaves
from incident_lib.report.execute import _kernel_manager, execute_notebook, forked_kernels

KEY = b"test-key"


# --- the readiness check against a fake kernel (a ZMQ peer speaking the protocol) -----------


class FakeKernel:
    """Answers kernel_info on shell; publishes busy/idle on IOPub from request ``publish_from``.

    Models a kernel whose IOPub messages are lost until the client's
    subscription arrives (ZeroMQ's "slow joiner"), or that never publishes.
    """

    def __init__(self, publish_from: int | None) -> None:
        self.publish_from = publish_from
        self.requests = 0
        self.session = Session(key=KEY)
        self.context = zmq.Context()
        self.shell = self.context.socket(zmq.ROUTER)
        self.iopub = self.context.socket(zmq.PUB)
        self.shell_port = self.shell.bind_to_random_port("tcp://127.0.0.1")
        self.iopub_port = self.iopub.bind_to_random_port("tcp://127.0.0.1")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.shell, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(50):
                continue
            idents, msg = self.session.feed_identities(self.shell.recv_multipart())
            request = self.session.deserialize(msg)
            self.requests += 1
            publish = self.publish_from is not None and self.requests >= self.publish_from
            if publish:
                self.session.send(self.iopub, "status", {"execution_state": "busy"}, request)
            content = {"protocol_version": "5.3", "status": "ok"}
            self.session.send(self.shell, "kernel_info_reply", content, request, ident=idents)
            if publish:
                self.session.send(self.iopub, "status", {"execution_state": "idle"}, request)

    def client(self) -> ReadyClient:
        return ReadyClient(
            session=Session(key=KEY),
            transport="tcp",
            ip="127.0.0.1",
            shell_port=self.shell_port,
            iopub_port=self.iopub_port,
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.context.destroy(linger=0)


@pytest.fixture
def fake_kernel():
    kernels: list[FakeKernel] = []

    def make(publish_from: int | None) -> FakeKernel:
        kernels.append(FakeKernel(publish_from))
        return kernels[-1]

    yield make
    for kernel in kernels:
        kernel.close()


def _wait_ready(client: ReadyClient, timeout: float) -> None:
    client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
    try:
        asyncio.run(client.wait_for_ready(timeout=timeout))
    finally:
        client.stop_channels()


def test_readiness_asks_again_until_iopub_delivers_the_idle_of_its_own_request(fake_kernel):
    kernel = fake_kernel(publish_from=3)  # IOPub says nothing to the first two requests
    _wait_ready(kernel.client(), timeout=20)
    assert kernel.requests == 3


def test_readiness_is_the_first_answer_when_iopub_is_live(fake_kernel):
    kernel = fake_kernel(publish_from=1)
    _wait_ready(kernel.client(), timeout=20)
    assert kernel.requests == 1


def test_a_kernel_that_never_publishes_is_not_ready_and_says_so_after_the_timeout(fake_kernel):
    kernel = fake_kernel(publish_from=None)
    with pytest.raises(RuntimeError, match=r"didn't respond in 1\.5 seconds"):
        _wait_ready(kernel.client(), timeout=1.5)
    assert kernel.requests >= 2  # it asked again meanwhile


# --- a real kernel --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool():
    kernels = forked_kernels()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        factory = kernels.__enter__()
    try:
        yield factory
    finally:
        kernels.__exit__(None, None, None)


def test_a_ready_kernel_leaves_nothing_of_the_check_on_iopub_and_runs_code(tmp_path):
    km = _kernel_manager("python3", tmp_path)
    run_sync(km.start_kernel)()
    try:
        client = km.client()
        assert isinstance(client, ReadyClient)
        client.start_channels()
        try:

            async def check() -> list[str]:
                await client.wait_for_ready(timeout=60)
                with pytest.raises(Empty):  # the check read up to its own idle
                    await client.get_iopub_msg(timeout=0.5)
                printed: list[str] = []
                await client.execute_interactive(
                    "print('hello from the kernel')",
                    output_hook=lambda m: printed.append(m["content"].get("text", "")),
                    timeout=60,
                )
                return printed

            assert "hello from the kernel\n" in asyncio.run(check())
        finally:
            client.stop_channels()
    finally:
        run_sync(km.shutdown_kernel)(now=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server needs Linux")
def test_a_killed_forked_kernel_is_gone_when_kill_returns(tmp_path, pool):
    km = pool("python3", tmp_path)
    run_sync(km.start_kernel)()
    pid = km.provisioner.pid
    try:
        run_sync(km.provisioner.kill)()
        assert gone(pid)
        assert run_sync(km.provisioner.poll)() is not None
    finally:
        run_sync(km.shutdown_kernel)(now=True)


# --- the output notebook's saves ------------------------------------------------------------


def _statuses(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return [c["metadata"]["papermill"]["status"] for c in nb["cells"]]


def test_the_output_is_saved_at_the_start_at_the_end_and_every_few_seconds(tmp_path):
    nb = nbformat.read(notebook(tmp_path / "in.ipynb", "1", "2", "3"), as_version=4)
    nb.metadata["papermill"] = {}
    out = tmp_path / "out.ipynb"
    manager = _FewerSaves(nb, output_path=str(out), progress_bar=False)
    manager.notebook_start()
    assert _statuses(out) == ["pending"] * 3  # saved at the start
    for cell in nb.cells[:2]:
        manager.cell_start(cell)
        manager.cell_complete(cell)
    assert _statuses(out) == ["pending"] * 3  # not twice per cell
    manager.last_save_time -= timedelta(seconds=SAVE_EVERY)  # a long cell
    manager.cell_start(nb.cells[2])
    assert _statuses(out) == ["completed", "completed", "running"]  # progress shows on disk
    manager.cell_complete(nb.cells[2])
    manager.notebook_complete()
    assert _statuses(out) == ["completed"] * 3


def test_the_cells_before_a_kernel_death_are_kept(tmp_path, pool):
    nb = notebook(
        tmp_path / "dies.ipynb",
        "print('first cell ran')",
        "print('second cell ran')",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "print('after')",
    )
    result = execute_notebook(nb, tmp_path / "out.ipynb", {}, timeout=120, kernel_manager=pool)
    assert result.status == "kernel-died", (result.status, result.error)
    outputs = [
        o.get("text", "")
        for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
        for o in c.get("outputs", [])
    ]
    assert "first cell ran\n" in outputs and "second cell ran\n" in outputs
