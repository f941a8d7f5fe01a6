"""The local AWS in a process of its own (``python -m energy_assets.localaws``), for callers
that must not share an interpreter lock with it: benchmarks, and tools run beside a demo."""

from __future__ import annotations

import re
import subprocess
import sys
import time


class LocalAWSProcess:
    """Start on free ports; ``env`` holds the ``AWS_*`` variables it printed."""

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self.env: dict[str, str] = {}
        self._process: subprocess.Popen | None = None

    def start(self) -> LocalAWSProcess:
        command = [sys.executable, "-m", "energy_assets.localaws", "--port", "0"]
        process = subprocess.Popen(
            [*command, "--runtime-port", "0"], stdout=subprocess.PIPE, text=True
        )
        self._process = process
        deadline = time.monotonic() + self.timeout
        while "AWS_DEFAULT_REGION" not in self.env:
            line = process.stdout.readline()
            if not line and (process.poll() is not None or time.monotonic() > deadline):
                self.stop()
                raise RuntimeError("the local AWS process did not start")
            match = re.match(r"export (\w+)=(.*)", line.strip())
            if match:
                self.env[match.group(1)] = match.group(2)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def __enter__(self) -> LocalAWSProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
