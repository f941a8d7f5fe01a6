"""The local AWS: moto in server mode plus the SageMaker runtime, on localhost ports."""

from __future__ import annotations

import logging
import os
import time

from moto.server import ThreadedMotoServer

from energy_assets.background import BackgroundServer, free_port, port_in_use
from energy_assets.localaws import moto_patches
from energy_assets.localaws.runtime import create_runtime_app


class LocalAWS:
    """DynamoDB, S3, SageMaker, CloudWatch, Application Auto Scaling and the SageMaker runtime."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        runtime_port: int = 0,
        region: str | None = None,
    ):
        self.host = host
        self.port = port or free_port(host)
        self.runtime_port = runtime_port or free_port(host)
        self.region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self._moto: ThreadedMotoServer | None = None
        self._runtime: BackgroundServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def runtime_url(self) -> str:
        return f"http://{self.host}:{self.runtime_port}"

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.runtime_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
        }

    def start(self) -> LocalAWS:
        for port in (self.port, self.runtime_port):
            if port_in_use(self.host, port):
                raise RuntimeError(
                    f"port {port} on {self.host} is already in use (another local AWS or "
                    "demo running?); choose others with LOCAL_AWS_PORT / LOCAL_AWS_RUNTIME_PORT"
                )
        moto_patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._moto.start()
        app = create_runtime_app(self.endpoint_url, self.region)
        self._runtime = BackgroundServer(app, self.host, self.runtime_port).start()
        deadline = time.monotonic() + 20
        while not port_in_use(self.host, self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the AWS emulator did not start on {self.endpoint_url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._runtime:
            self._runtime.stop()
        if self._moto:
            self._moto.stop()
        self._moto = self._runtime = None

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
