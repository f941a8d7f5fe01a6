"""The local AWS: moto in server mode plus the SageMaker runtime, on two localhost ports.

Port ``endpoint_url`` serves DynamoDB, S3, the SageMaker control plane, CloudWatch and
Application Auto Scaling (one moto server answers every service; botocore routes by the request,
not the port). Port ``runtime_url`` serves SageMaker InvokeEndpoint with real models
(``runtime.py``). Clients need only ``env()``: botocore reads ``AWS_ENDPOINT_URL`` for all
services and ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` for the runtime.

moto keeps its state in process-wide backends: two ``LocalAWS`` in one process share it (use
distinct resource names), and nothing survives ``stop()`` or a restart.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from energy_assets.localaws import moto_patches
from energy_assets.localaws.asgi_thread import ASGIThread, check_port_free, client_host
from energy_assets.localaws.faults import FaultInjector
from energy_assets.localaws.resolver import EndpointResolver
from energy_assets.localaws.runtime import create_runtime_app

DEFAULT_REGION = "us-east-1"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class _FaultableMotoServer(ThreadedMotoServer):
    """moto's threaded server with the fault-injection middleware in front of its app (the
    same server otherwise: ``ThreadedMotoServer._server_entry`` with the app wrapped)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.faults = FaultInjector(DomainDispatcherApplication(create_backend_app))

    def _server_entry(self) -> None:
        self._server = make_server(
            self._ip_address, self._port, self.faults, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class LocalAWS:
    """DynamoDB, S3, SageMaker, CloudWatch, Application Auto Scaling and the SageMaker runtime.

    ``port``/``runtime_port`` 0 pick free ports; the chosen ones are known after ``start()``.
    ``fault_injection`` serves the control path of ``faults.py`` on the moto port (tests only).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        runtime_port: int = 0,
        region: str | None = None,
        telemetry_seconds: float = 10.0,
        fault_injection: bool = False,
    ):
        self.host = host
        self.port = port
        self.runtime_port = runtime_port
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self._moto: ThreadedMotoServer | None = None
        self._runtime: ASGIThread | None = None
        self._resolver: EndpointResolver | None = None
        self._telemetry = None
        self.telemetry_seconds = telemetry_seconds
        self.fault_injection = fault_injection

    @property
    def endpoint_url(self) -> str:
        return f"http://{client_host(self.host)}:{self._started('port')}"

    @property
    def runtime_url(self) -> str:
        return f"http://{client_host(self.host)}:{self._started('runtime_port')}"

    def _started(self, name: str) -> int:
        port = getattr(self, name)
        if not port:
            raise RuntimeError("LocalAWS picks its free ports in start(); start it first")
        return port

    def env(self) -> dict[str, str]:
        """The environment that points boto3/botocore clients (and the AWS CLI) at this AWS."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.runtime_url,
            **TEST_CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
        }

    @property
    def resolver(self) -> EndpointResolver:
        """The runtime's endpoint resolver (its caches and AWS clients), for diagnostics."""
        if self._runtime is None:
            raise RuntimeError("LocalAWS is not running")
        return self._resolver

    @property
    def running(self) -> bool:
        return self._moto is not None

    def flush_telemetry(self) -> None:
        """Send the runtime's pending endpoint metrics and data capture now."""
        if self._telemetry is not None:
            self._telemetry.flush()

    def start(self) -> LocalAWS:
        if self.running:
            return self
        try:
            check_port_free(self.host, self.port)
            runtime = ASGIThread(self.host, self.runtime_port)  # binds now: a busy port fails here
        except RuntimeError as error:
            raise RuntimeError(
                f"{error} (another local AWS or demo running? choose other ports, e.g. with "
                "LOCAL_AWS_PORT / LOCAL_AWS_RUNTIME_PORT)"
            ) from None
        moto_patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per AWS call
        server = _FaultableMotoServer if self.fault_injection else ThreadedMotoServer
        moto = server(ip_address=self.host, port=self.port, verbose=False)
        moto.start()
        self._moto = moto
        self.port = moto.get_host_and_port()[1]
        try:
            app = create_runtime_app(
                self.endpoint_url, self.region, telemetry_seconds=self.telemetry_seconds
            )
            self._resolver = app.state.resolver
            self._telemetry = app.state.telemetry.start()
            self._runtime = runtime.start(app)
        except BaseException:
            runtime.stop()
            self.stop()
            raise
        self.runtime_port = runtime.port
        return self

    def stop(self) -> None:
        runtime, moto, telemetry = self._runtime, self._moto, self._telemetry
        self._runtime = self._moto = self._telemetry = None
        if runtime:
            runtime.stop()
        if telemetry and moto:
            try:
                telemetry.stop()  # last metrics and captures, while moto still answers
            except Exception as error:
                logging.getLogger(__name__).warning("runtime telemetry: %s", error)
        if moto:
            moto.stop()

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_forever(
    host: str = "127.0.0.1", port: int = 4566, runtime_port: int = 4567, region: str | None = None
) -> int:
    """Serve in the foreground, print the env lines, stop cleanly on Ctrl-C or SIGTERM."""
    aws = LocalAWS(host=host, port=port, runtime_port=runtime_port, region=region)
    try:
        aws.start()
    except RuntimeError as error:
        print(f"local AWS cannot start: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("local AWS is serving (DynamoDB, S3, SageMaker, CloudWatch, Application Auto Scaling")
    print(f"on {aws.endpoint_url}, SageMaker runtime on {aws.runtime_url}); use it with:")
    for key, value in aws.env().items():
        print(f"export {key}={value}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        aws.stop()
    return 0
