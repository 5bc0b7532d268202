"""``incident serve``'s loop in a thread, for tests and benchmarks: ``with serving(r) as url:``.

:func:`serving` runs :func:`~incident_lib.receiver.service.serve` (signals left alone: it
is not the main thread) until the block ends, then stops it and waits for the drain.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from incident_lib.receiver.service import serve

__all__ = ["serving"]


@contextmanager
def serving(receiver: Any, *, grace: float = 60.0, ready_within: float = 30.0) -> Iterator[str]:
    """Serve ``receiver`` in a thread; yield its URL once it listens; stop and join on exit."""
    stop, ready = threading.Event(), threading.Event()
    urls: list[str] = []

    def listening(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(
        target=serve,
        args=(receiver,),
        kwargs={"ready": listening, "stop": stop, "grace": grace},
        name="test-receiver",
    )
    thread.start()
    try:
        if not ready.wait(ready_within):
            raise RuntimeError(f"the receiver did not listen within {ready_within:g} s")
        yield urls[0]
    finally:
        stop.set()
        thread.join(grace + 30)
    if thread.is_alive():
        raise RuntimeError("the receiver did not stop")
