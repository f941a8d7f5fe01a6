"""What every request to the app passes before a route sees it (pure ASGI, no per-request task):

- a bound on requests in flight: past it the app answers 503 with ``Retry-After`` at once, so
  a surge gets a clear "busy, retry" instead of queueing until clients time out or the process
  runs out of threads. 64 by default: 300 requests/s at up to 200 ms each (a busy machine)
  are 60 in flight; past that the app is behind, and a queue only makes it later
  (``benchmarks/load.py`` shows where that starts);
- a bound on the request line and body: the API takes no bodies, and a 20 MB meter id in a URL
  gets 414 before any route, and an error message that quotes it, sees it.
"""

from __future__ import annotations

import json

MAX_PATH_BYTES = 4096
MAX_BODY_BYTES = 64 * 1024


class Guard:
    def __init__(self, app, max_in_flight: int = 64, max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0  # one event loop: no lock needed between await points

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if size > MAX_PATH_BYTES:
            await _refuse(send, 414, f"the request's path and query exceed {MAX_PATH_BYTES} bytes")
            return
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await _refuse(send, 413, f"request bodies are limited to {self.max_body_bytes} bytes")
            return
        if self.in_flight >= self.max_in_flight:
            await _refuse(
                send,
                503,
                f"the app is busy ({self.in_flight} requests in flight): retry shortly",
                {b"retry-after": b"1"},
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, _bounded(receive, self.max_body_bytes), send)
        finally:
            self.in_flight -= 1


def _bounded(receive, limit: int):
    """``receive`` that ends a body (sent without a length) once it passes ``limit``."""
    seen = 0

    async def bounded():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
        return message

    return bounded


async def _refuse(send, status: int, detail: str, headers: dict | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or {}).items(),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
