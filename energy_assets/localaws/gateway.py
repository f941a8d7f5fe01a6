"""moto's server, with the SageMaker runtime API answered by the project's runtime on its port.

With only ``AWS_ENDPOINT_URL`` set, botocore sends ``sagemaker-runtime`` calls to the same URL
as every other service. moto's dispatcher (``moto/moto_server/werkzeug_app.py``) tells services
apart by the SigV4 signing name and the path: a request signed for ``sagemaker`` whose path ends
in ``invocations`` goes to moto's own SageMaker runtime, which answers InvokeEndpoint with canned
output (HTTP 200, body ``b'body'``) and InvokeEndpointWithResponseStream with a 404. This WSGI
front sends every request that is a runtime operation (``runtime_protocol.runtime_operation``:
method and path, as botocore's service model defines them) and is signed for ``sagemaker`` (or
not signed) to ``Runtime.handle`` instead; all else reaches moto unchanged. No control-plane
call can match: SageMaker's control plane posts every action to ``/``.

The server is moto's own (werkzeug, threaded, moto's request handler that keeps S3 metadata
headers), bound when constructed so that a busy port fails in the caller and ``port=0`` yields a
free port before anything starts.
"""

from __future__ import annotations

import threading
from http import HTTPStatus

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request

from energy_assets.background import bind_socket, client_host
from energy_assets.localaws import runtime_protocol as wire
from energy_assets.localaws.faults import FaultInjector
from energy_assets.localaws.runtime import Runtime


def is_runtime_request(environ: dict) -> bool:
    """A SageMaker runtime call, as opposed to any other service's (see the module doc)."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/endpoints/"):
        return False
    scope = wire.credential_scope(environ.get("HTTP_AUTHORIZATION"))
    if scope is not None and scope[1] != wire.SIGNING_NAME:
        return False
    return wire.runtime_operation(environ.get("REQUEST_METHOD", ""), path) is not None


class RuntimeRouting:
    """WSGI: runtime calls to ``runtime`` (set before the first request), the rest to moto."""

    def __init__(self, moto_app):
        self.moto_app = moto_app
        self.runtime: Runtime | None = None

    def __call__(self, environ, start_response):
        if self.runtime is None or not is_runtime_request(environ):
            return self.moto_app(environ, start_response)
        request = Request(environ)
        answer = self.runtime.handle(
            request.method, request.path, request.headers, request.get_data()
        )
        headers = [*answer.headers.items(), ("Content-Length", str(len(answer.body)))]
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        return [answer.body]


class MotoGateway:
    """moto in server mode with ``RuntimeRouting`` in front, in a daemon thread; with
    ``fault_injection``, ``faults.FaultInjector`` in front of both (tests only)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fault_injection: bool = False):
        self.host = host
        self.routing = RuntimeRouting(DomainDispatcherApplication(create_backend_app))
        self.app = FaultInjector(self.routing) if fault_injection else self.routing
        sock = bind_socket(host, port)  # werkzeug would sys.exit on a busy port
        try:
            sock.listen(128)
            self.port: int = sock.getsockname()[1]
            self._server: BaseWSGIServer = make_server(
                host,
                self.port,
                self.app,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=sock.fileno(),  # werkzeug serves a duplicate of it
            )
        finally:
            sock.close()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{client_host(self.host)}:{self.port}"

    def start(self, runtime: Runtime) -> MotoGateway:
        self.routing.runtime = runtime
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-aws", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
