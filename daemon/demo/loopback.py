"""A fake HTTP API on ``127.0.0.1``: the lifecycle the fake Messages API and fake GitHub share.

A subclass answers requests in :meth:`Loopback.serve`; this class binds an ephemeral
loopback port, serves in a background thread, and on close joins every thread, so no
handler outlives the fake.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Self, cast


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the fake; one response per connection."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # a stuck client cannot keep a handler thread (and close()) waiting

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Stay quiet: pytest shows stderr of failing tests."""

    def _dispatch(self) -> None:
        server = cast(_Server, self.server)  # this handler only ever serves a _Server
        server.fake.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815 - http.server's names


class _Server(ThreadingHTTPServer):
    """The HTTP server, joined on close so no handler thread outlives the fake."""

    daemon_threads = False  # server_close() then joins the handler threads
    fake: Loopback

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name, which may query DNS.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hung up (a timeout in a test) is not the fake's failure.
        # Anything else is a bug in the fake: keep the default traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Loopback:
    """Serves :meth:`serve` on an ephemeral loopback port; use it as a context manager."""

    def __init__(self) -> None:
        """Not serving yet: :meth:`start` (or ``with``) binds the port."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def serve(self, handler: Handler) -> None:
        """Answer one request (the subclass's API)."""
        raise NotImplementedError

    def _stopping(self) -> None:
        """Called before the server stops: release anything a handler waits on."""

    def start(self) -> None:
        """Bind an ephemeral loopback port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        server = _Server(("127.0.0.1", 0), Handler)
        server.fake = self
        self._server = server
        # A short poll interval keeps close() fast: shutdown() waits for one poll.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=type(self).__name__
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping()
        server.shutdown()
        thread.join()
        server.server_close()  # joins handler threads, closes the listening socket
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"
