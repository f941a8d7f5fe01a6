"""The local AWS: moto in server mode plus the SageMaker runtime, on localhost.

Port ``endpoint_url`` serves DynamoDB, S3, the SageMaker control plane, CloudWatch, Application
Auto Scaling (one moto server answers every service; botocore routes by the request, not the
port) and the SageMaker runtime API with real models (``gateway.py`` routes the runtime's calls
to ``runtime.py``): ``AWS_ENDPOINT_URL`` alone points every client at it. Port ``runtime_url``
serves the runtime API alone, for ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` (a keep-alive server
beside moto's, which closes the connection after each call). ``env()`` gives both.

moto keeps its state in process-wide backends: two ``LocalAWS`` in one process share it (use
distinct resource names), and nothing survives ``stop()`` or a restart.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from energy_assets.background import ASGIThread, client_host
from energy_assets.localaws import moto_patches, notebook_instances
from energy_assets.localaws.gateway import MotoGateway
from energy_assets.localaws.resolver import EndpointResolver
from energy_assets.localaws.runtime import Runtime, create_runtime_app

DEFAULT_REGION = "us-east-1"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


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
        self._moto: MotoGateway | None = None
        self._runtime: Runtime | None = None
        self._runtime_thread: ASGIThread | None = None
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
        return self._runtime.resolver

    @property
    def running(self) -> bool:
        return self._moto is not None

    def flush_telemetry(self) -> None:
        """Send the runtime's pending endpoint metrics and data capture now."""
        if self._runtime is not None:
            self._runtime.telemetry.flush()

    def start(self) -> LocalAWS:
        if self.running:
            return self
        try:
            runtime_thread = ASGIThread(self.host, self.runtime_port)  # both bind: a busy port
            try:
                gateway = MotoGateway(  # fails here, not in a thread
                    self.host, self.port, fault_injection=self.fault_injection
                )
            except RuntimeError:
                runtime_thread.stop()
                raise
        except RuntimeError as error:
            raise RuntimeError(
                f"{error} (another local AWS or demo running? choose other ports, e.g. with "
                "LOCAL_AWS_PORT / LOCAL_AWS_RUNTIME_PORT)"
            ) from None
        moto_patches.apply()
        notebook_instances.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per AWS call
        self.port = gateway.port
        runtime = Runtime(gateway.url, self.region, telemetry_seconds=self.telemetry_seconds)
        self._moto, self._runtime = gateway.start(runtime), runtime.start()
        try:
            self._runtime_thread = runtime_thread.start(create_runtime_app(runtime))
        except BaseException:
            runtime_thread.stop()
            self.stop()
            raise
        self.runtime_port = runtime_thread.port
        notebook_instances.configure(self.endpoint_url, self.env())
        return self

    def stop(self) -> None:
        thread, runtime, moto = self._runtime_thread, self._runtime, self._moto
        self._runtime_thread = self._runtime = self._moto = None
        if thread:
            thread.stop()
        if runtime:
            try:
                runtime.stop()  # queued async calls, last metrics and captures, while moto answers
            except Exception as error:
                logging.getLogger(__name__).warning("runtime telemetry: %s", error)
        if moto:
            notebook_instances.shutdown()
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
    print("local AWS is serving DynamoDB, S3, SageMaker (control plane and runtime), CloudWatch")
    print(f"and Application Auto Scaling on {aws.endpoint_url} (AWS_ENDPOINT_URL is enough),")
    print(f"and the SageMaker runtime alone on {aws.runtime_url}; use it with:")
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
