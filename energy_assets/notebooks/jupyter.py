"""A local Jupyter (the classic notebook UI, nbclassic, on jupyter-server) in a process of its
own: a home folder, an environment for its kernels, a free port and a token.

nbclassic is the lightest Jupyter with a UI that works offline (its assets are in the package;
Notebook 7 would add JupyterLab), and a SageMaker notebook instance opens the same classic
"Jupyter" view. Kernels inherit the server's environment, so the ``AWS_*`` variables given here
point the notebook's boto3 calls at the local AWS (or at nothing but the real account).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from energy_assets.background import bind_socket, client_host


class JupyterFailed(RuntimeError):
    """The local Jupyter did not start (the message ends with its last log lines)."""


class LocalJupyter:
    """``start()`` returns once Jupyter answers; ``url`` opens its file list, logged in."""

    def __init__(
        self,
        root: str | Path,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ):
        self.root = Path(root).resolve()
        self.env = dict(env or {})
        self.host = host
        self.port = port
        self.token = token or secrets.token_hex(16)
        self._process: subprocess.Popen | None = None
        self._state: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{client_host(self.host)}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/tree?token={self.token}"

    def notebook_url(self, name: str) -> str:
        return f"{self.base_url}/notebooks/{name}?token={self.token}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 90.0) -> LocalJupyter:
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            sock = bind_socket(self.host, 0)
            self.port = sock.getsockname()[1]
            sock.close()
        else:
            bind_socket(self.host, self.port).close()  # a busy port fails here, in one line
        self._state = Path(tempfile.mkdtemp(prefix="energy-assets-jupyter-"))
        env = {
            **os.environ,
            **self.env,
            "JUPYTER_RUNTIME_DIR": str(self._state / "runtime"),
            "JUPYTER_CONFIG_DIR": str(self._state / "config"),
        }
        command = [
            sys.executable,
            "-m",
            "nbclassic",
            "--no-browser",
            f"--ServerApp.ip={self.host}",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        log = open(self._state / "jupyter.log", "wb")  # noqa: SIM115 (kept open for the child)
        self._process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise JupyterFailed(f"Jupyter did not start on {self.base_url}: {tail}")
            try:
                status = httpx.get(f"{self.base_url}/api/status?token={self.token}", timeout=2)
                if status.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def log_tail(self, lines: int = 3) -> str:
        path = self._state / "jupyter.log" if self._state else None
        if not path or not path.exists():
            return "no log"
        text = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "empty log"

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if self._state is not None:
            shutil.rmtree(self._state, ignore_errors=True)
            self._state = None

    def __enter__(self) -> LocalJupyter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
