"""A kernel client whose readiness check ends when the kernel says so, not after a silence.

jupyter_client's ``wait_for_ready`` asks for ``kernel_info``, then drains the
IOPub channel until it has been silent for 0.2 s: every client pays that 0.2 s,
and a notebook run makes two (the runner's start check, then nbclient's). This
client waits instead for the kernel's ``idle`` status *of its own request* on
IOPub. That message proves the IOPub subscription is live (the point of the
check) and, as a kernel publishes on one socket in order, that everything
published before it has been read: what the drain was for. Nothing is skipped
that nbclient would read afterwards (it ignores messages of other requests).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from queue import Empty
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient

__all__ = ["ReadyClient"]

#: seconds to wait for the IOPub answer to one request before asking again (as jupyter_client)
IOPUB_WAIT = 0.2
#: seconds to wait for the shell reply to one request before asking again (as jupyter_client)
SHELL_WAIT = 1.0


class ReadyClient(AsyncKernelClient):
    """An :class:`~jupyter_client.asynchronous.AsyncKernelClient` with a prompt readiness check."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        """Wait until the kernel answers on shell and publishes on IOPub to this client.

        Parameters
        ----------
        timeout
            Seconds before giving up (None: no limit).

        Raises
        ------
        RuntimeError
            The kernel died, or did not answer within ``timeout`` (as
            jupyter_client's own check raises).
        """
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            msg_id = self.kernel_info()
            reply = await self._reply_to(msg_id, SHELL_WAIT)
            if reply is not None and await self._idle_after(msg_id, IOPUB_WAIT):
                self._handle_kernel_info_reply(reply)
                return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _reply_to(self, msg_id: str, wait: float) -> dict[str, Any] | None:
        """The shell reply to ``msg_id`` (older replies are dropped); None after ``wait`` s."""
        return await _first(self.get_shell_msg, wait, lambda m: _parent(m) == msg_id)

    async def _idle_after(self, msg_id: str, wait: float) -> bool:
        """Read IOPub up to the ``idle`` status of ``msg_id``; False if none came in ``wait`` s."""

        def idle(msg: dict[str, Any]) -> bool:
            state = msg["content"].get("execution_state")
            return msg["msg_type"] == "status" and state == "idle" and _parent(msg) == msg_id

        return await _first(self.get_iopub_msg, wait, idle) is not None


def _parent(msg: dict[str, Any]) -> object:
    """The id of the request ``msg`` answers."""
    return msg["parent_header"].get("msg_id")


async def _first(
    get: Callable[..., Awaitable[dict[str, Any]]],
    wait: float,
    wanted: Callable[[dict[str, Any]], bool],
) -> dict[str, Any] | None:
    """The first message from ``get`` that is ``wanted`` (others are dropped); None when
    none came within ``wait`` seconds."""
    stop = time.monotonic() + wait
    while (left := stop - time.monotonic()) > 0:
        try:
            msg = await get(timeout=left)
        except Empty:
            return None
        if wanted(msg):
            return msg
    return None
