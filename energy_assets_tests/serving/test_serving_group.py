"""The inference image installs the ``serving`` dependency group only, then the project without
its dependencies: a model the pipeline trained loads and answers in an environment built that way
(no Dagster, moto, nbconvert), and the installed package carries its package data (the
exploration notebook, which the exploration asset runs from an installed package)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from energy_assets import layout
from energy_assets.serving.artifact import unpack
from energy_assets.serving.handler import Predictor

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "energy_assets" / "serving" / "requirements.lock"

SCRIPT = """
import importlib.util, json, sys
import energy_assets
from energy_assets.notebooks import EXPLORATION
from energy_assets.serving import server
from energy_assets.serving.handler import Predictor
absent = [m for m in ("dagster", "moto", "nbconvert", "sklearn", "boto3")
          if importlib.util.find_spec(m)]
predictor = Predictor.from_model_dir(sys.argv[1])
body, _ = predictor.invoke(json.dumps({"meter_id": sys.argv[2], "horizon": 7}).encode())
print(json.dumps({"installed": absent, "answer": json.loads(body), "app": callable(server.main),
                  "package": energy_assets.__file__, "notebook": EXPLORATION.is_file()}))
"""


def uv_command() -> list[str]:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.accuracy import uv_command as found
    finally:
        sys.path.remove(str(ROOT))
    return found()


def test_the_lock_pins_the_group_at_the_projects_versions():
    group = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["serving"]
    pinned = dict(line.split("==") for line in LOCK.read_text().splitlines() if "==" in line[:60])
    project = dict(
        line.split("==")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line[:60]
    )
    names = {r.split(">")[0].split("<")[0].split("=")[0].strip().lower() for r in group}
    assert names <= set(pinned), f"make lock: {sorted(names - set(pinned))} not pinned"
    assert {k: v for k, v in pinned.items() if project.get(k) != v} == {}
    assert "dagster" not in pinned and "moto" not in pinned and "nbconvert" not in pinned


def test_a_trained_model_serves_from_the_serving_group_alone(deployed, tmp_path):
    storage = deployed["defs"].resources["storage"]
    current = storage.get_json(layout.DEPLOYMENT_CURRENT)
    model_dir = unpack(storage.get_bytes(storage.key_of(current["model_uri"])), tmp_path / "m")
    meter = current["smoke_meter"]
    uv = uv_command()
    venv = tmp_path / "serving"
    subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [*uv, "pip", "install", "-q", "--offline", "--python", python, "-r", str(LOCK)],
        check=True,
    )
    # then the project as the Dockerfile installs it: its build context, no dependencies
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, context / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "energy_assets", context / "energy_assets", ignore=ignore)
    subprocess.run(
        [*uv, "pip", "install", "-q", "--offline", "--python", python, "--no-deps", str(context)],
        check=True,
    )
    done = subprocess.run(
        [python, "-c", SCRIPT, str(model_dir), meter],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["installed"] == [] and out["app"]
    assert out["package"].startswith(str(venv)) and out["notebook"]  # installed, with its data
    expected, _ = Predictor.from_model_dir(model_dir).invoke(
        json.dumps({"meter_id": meter, "horizon": 7}).encode()
    )
    assert out["answer"] == json.loads(expected)
    assert out["answer"]["model_version"] == current["model_version"]
