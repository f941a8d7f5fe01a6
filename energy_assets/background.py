"""An ASGI app under uvicorn in a daemon thread, on a socket bound before the thread starts (the
demo's app, the local AWS's runtime, tests). The one implementation of it in the project.

Binding first means ``port=0`` yields a free port with no window in which another process can
take it (tests of several developers share one machine), and a busy port fails in the caller
with a clear message instead of inside the server thread. A port handed to another process is
bound by that process (``energy-assets app --port 0`` prints the port it got), never picked
here and released first.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (0 = any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    return sock


def client_host(host: str) -> str:
    """The address a client on this machine uses to reach a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def uvicorn_server(app) -> uvicorn.Server:
    """The project's uvicorn settings: warnings only, no access log, no lifespan events."""
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )


class ASGIThread:
    """Bind on construction (errors surface here), serve ``app`` from ``start(app)``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self._socket = bind_socket(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{client_host(self.host)}:{self.port}"

    def start(self, app, timeout: float = 20.0) -> ASGIThread:
        self._server = server = uvicorn_server(app)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()
