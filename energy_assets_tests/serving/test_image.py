"""What the inference image relies on, checked without a docker engine."""

import re
import tomllib
from pathlib import Path

import httpx

from energy_assets.background import ASGIThread
from energy_assets.serving import server

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "energy_assets" / "serving" / "Dockerfile"


def test_model_dir_comes_from_sm_model_dir(monkeypatch, model_dir):
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    running = ASGIThread().start(server.create_app())
    try:
        assert httpx.get(f"{running.url}/ping").json()["model_version"] == "v1"
    finally:
        running.stop()


def test_dockerfile_builds_what_sagemaker_runs():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert 'ENTRYPOINT ["serve"]' in text and "python -m energy_assets.serving.server" in text
    assert "SM_MODEL_DIR=/opt/ml/model" in text and "EXPOSE 8080" in text
    for copied in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for name in copied.split():
            assert (ROOT / name).exists(), f"Dockerfile copies missing {name}"
    assert callable(server.main) and server.PORT == 8080


def test_image_python_matches_the_project():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "3.11" in project["requires-python"]
    assert "<3.12" in project["requires-python"]
