"""The local AWS: moto in server mode plus the SageMaker runtime, on localhost ports."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import uvicorn
from moto.server import ThreadedMotoServer

from energy_assets.localaws import moto_patches
from energy_assets.localaws.runtime import create_runtime_app


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


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
        self.port = port or _free_port(host)
        self.runtime_port = runtime_port or _free_port(host)
        self.region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self._moto: ThreadedMotoServer | None = None
        self._runtime: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

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
            with socket.socket() as sock:
                if sock.connect_ex((self.host, port)) == 0:
                    raise RuntimeError(
                        f"port {port} on {self.host} is already in use (another local AWS or "
                        "demo running?); choose others with LOCAL_AWS_PORT / LOCAL_AWS_RUNTIME_PORT"
                    )
        moto_patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._moto.start()
        app = create_runtime_app(self.endpoint_url, self.region)
        config = uvicorn.Config(
            app, host=self.host, port=self.runtime_port, log_level="warning", access_log=False
        )
        self._runtime = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._runtime.run, daemon=True)
        self._thread.start()
        _wait_for_port(self.host, self.port)
        _wait_for_port(self.host, self.runtime_port)
        return self

    def stop(self) -> None:
        if self._runtime:
            self._runtime.should_exit = True
            if self._thread:
                self._thread.join(timeout=10)
        if self._moto:
            self._moto.stop()
        self._moto = self._runtime = self._thread = None

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
