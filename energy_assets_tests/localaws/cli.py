"""The AWS CLI (v1, the ``awscli`` dev dependency in this virtualenv), run as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

AWS_CLI = Path(sys.executable).with_name("aws")


def aws(*args: str) -> str:
    """Run ``aws ARGS --output json`` in this process's environment; its standard output."""
    done = subprocess.run(
        [str(AWS_CLI), *args, "--output", "json"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def aws_json(*args: str):
    return json.loads(aws(*args))
