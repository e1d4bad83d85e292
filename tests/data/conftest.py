"""A local HTTP server for the download tests: real sockets, no internet."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Route:
    """What the server sends for one path.

    ``status`` other than 200 sends an error (with ``reason`` as its status line's
    text). ``truncate`` announces the full length but sends only that many bytes.
    ``delay`` waits before answering. ``headers`` are sent as given, and with them a
    ``status`` other than 200 is sent with them and the body (a redirect, say) instead of
    as an error; a ``Content-Length`` among them replaces the body's own.
    ``pace`` sends the body ``chunk`` bytes at a time with that many seconds
    between (a slow server). ``endless`` announces no length and follows the
    body with zeros until the client hangs up. Whatever it is sending, a
    handler stops after :data:`MAX_ANSWER` seconds or when the server closes.
    """

    body: bytes
    status: int = 200
    truncate: int | None = None
    delay: float = 0.0
    pace: float = 0.0
    chunk: int = 1 << 16
    endless: bool = False
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


#: The longest any handler goes on sending, so every server stops by itself.
MAX_ANSWER = 10.0


class FileServer:
    """A threaded HTTP server on 127.0.0.1 that serves :class:`Route` s and logs requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def mirror(self, name: str) -> str:
        """The base URL of a mirror called ``name`` (a path prefix on this server)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/{name}/"

    def serve(self, mirror: str, filename: str, body: bytes, **kwargs: Any) -> None:
        """Serve ``body`` as ``mirror + filename``; ``kwargs`` as for :class:`Route`."""
        path = "/" + mirror.split("/", 3)[3] + filename
        self.routes[path] = Route(body, **kwargs)

    def close(self) -> None:
        self.stopping.set()  # ends the handlers still sending
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                route = server.routes.get(self.path, Route(b"not found", status=404))
                if server.stopping.wait(route.delay):
                    return
                if route.status != 200 and not route.headers:
                    self.send_error(route.status, route.reason)
                    return
                self.send_response(route.status, route.reason)
                names = {name.lower() for name, _ in route.headers}
                if not route.endless and "content-length" not in names:
                    self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.send_body(route)

            def send_body(self, route: Route) -> None:
                """Send ``route``'s body as it says; stop when the client or the server goes."""
                deadline = time.monotonic() + MAX_ANSWER
                body = route.body[: route.truncate]
                sent = 0
                try:
                    while sent < len(body) or route.endless:
                        chunk = body[sent : sent + route.chunk] or bytes(route.chunk)
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if server.stopping.wait(route.pace) or time.monotonic() > deadline:
                            return
                except OSError:  # the client hung up
                    return

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """A running :class:`FileServer`, shut down after the test."""
    server = FileServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def closed_port_mirror() -> str:
    """The base URL of a mirror that refuses connections (a port nobody listens on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture
def raw_reply() -> Iterator[Callable[[bytes], str]]:
    """Start a TCP server on 127.0.0.1 that answers one connection with the given bytes, then
    closes it (not HTTP: an SSH server, say); returns its base URL. Each server stops after
    one connection or :data:`MAX_ANSWER` seconds."""
    threads: list[threading.Thread] = []

    def start(reply: bytes) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(MAX_ANSWER)

        def answer() -> None:
            with listener:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(reply)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        threads.append(thread)
        return f"http://127.0.0.1:{listener.getsockname()[1]}/mnist/"

    yield start
    for thread in threads:
        thread.join(timeout=MAX_ANSWER + 1)
