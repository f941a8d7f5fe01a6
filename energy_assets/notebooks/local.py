"""``energy-assets notebook``: exploration.ipynb in a local Jupyter wired to the local AWS.

The home folder plays the part of a notebook instance's ``/home/ec2-user/SageMaker``: the
notebook is copied there once and then is the user's to edit. Kernels reach the AWS the
environment names (``AWS_ENDPOINT_URL``), else the local AWS on its usual port (the one
``make demo`` and ``energy-assets local-aws`` start), else nothing: one line says what to start.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import httpx

from energy_assets.notebooks import EXPLORATION
from energy_assets.notebooks.jupyter import JupyterFailed, LocalJupyter

NOTEBOOK = "exploration.ipynb"


def local_aws_env() -> tuple[dict[str, str], str] | None:
    """The local AWS on its default ports, if one answers: its client env and a description."""
    port = int(os.environ.get("LOCAL_AWS_PORT", 4566))
    runtime = int(os.environ.get("LOCAL_AWS_RUNTIME_PORT", 4567))
    url = f"http://127.0.0.1:{port}"
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": f"http://127.0.0.1:{runtime}",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    return env, f"the local AWS on {url}"


def kernel_env(real_aws: bool) -> tuple[dict[str, str], list[str], str]:
    """(variables to set, variables to remove, where the kernels' AWS calls go)."""
    endpoints = [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]
    if real_aws:
        return {}, endpoints, "the AWS account of the environment"
    if os.environ.get("AWS_ENDPOINT_URL"):
        return {}, [], os.environ["AWS_ENDPOINT_URL"]
    found = local_aws_env()
    if found is None:
        raise LookupError(
            "no local AWS on 127.0.0.1:"
            + os.environ.get("LOCAL_AWS_PORT", "4566")
            + ": start one (energy-assets local-aws, or make demo), set AWS_ENDPOINT_URL, "
            "or pass --real-aws"
        )
    return found[0], [], found[1]


def place_notebook(home: Path) -> Path:
    """Copy the exploration notebook into ``home`` unless one is there (edits are kept)."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / NOTEBOOK
    if not target.exists():
        shutil.copyfile(EXPLORATION, target)
    return target


def run_local_notebook(home: Path, host: str, port: int, real_aws: bool) -> int:
    try:
        env, remove, where = kernel_env(real_aws)
    except LookupError as error:
        print(f"notebook: {error}", file=sys.stderr)
        return 1
    for name in remove:
        os.environ.pop(name, None)
    place_notebook(home)
    jupyter = LocalJupyter(home, env=env, host=host, port=port)
    try:
        jupyter.start()
    except (JupyterFailed, RuntimeError) as error:
        print(f"notebook: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"Jupyter serves {home} (kernels reach {where}); Ctrl-C stops it")
    print(f"open {jupyter.notebook_url(NOTEBOOK)}", flush=True)
    try:
        while not stop.wait(1.0):
            if not jupyter.running:
                print(f"notebook: Jupyter stopped: {jupyter.log_tail()}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        jupyter.stop()
    return 0
