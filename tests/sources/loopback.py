"""The lifecycle every fake API server of the tests shares: a threaded HTTP server on loopback."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["LoopbackServer"]


@dataclass
class LoopbackServer:
    """Base of the fakes: ``with Fake() as server:`` listens on 127.0.0.1 at a free port.

    Subclasses implement :meth:`handler_class`; the handler gets the fake as its
    ``fake`` attribute. ``_closing`` is set on exit so that requests made to hang
    (``self._closing.wait(...)``) are released.
    """

    _closing: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class (bound to this fake as ``fake``)."""
        raise NotImplementedError

    def start(self) -> Self:
        """Listen on 127.0.0.1 (a free port) in a background thread."""
        handler = type("Handler", (self.handler_class(),), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def close(self) -> None:
        """Release hanging requests and stop the server."""
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def paths(self, contains: str = "") -> list[Any]:
        """Recorded requests (the subclass's ``requests``) whose path contains ``contains``."""
        return [r for r in self.requests if contains in r.path]  # type: ignore[attr-defined]

    @staticmethod
    def request_parts(
        handler: BaseHTTPRequestHandler,
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """The path, the query parameters and the headers (lower-case names) of a request."""
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        return url.path, query, {k.lower(): v for k, v in handler.headers.items()}

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"
