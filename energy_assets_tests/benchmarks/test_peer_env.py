"""benchmarks/accuracy.py creates the peers' environment on a fresh clone, where uv is
installed for the system Python by scripts/bootstrap.sh and not into .venv."""

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy.py"


def _accuracy():
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_uv_is_found_where_bootstrap_put_it():
    command = _accuracy().uv_command()
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("uv ")
    if importlib.util.find_spec("uv") is None:  # as installed by make: not in .venv
        assert command[0] != sys.executable


def test_the_peers_environment_is_created_with_that_uv(tmp_path):
    python = _accuracy().ensure_peer_env(tmp_path / "peers-venv", packages=())
    done = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == str(tuple(sys.version_info[:2]))
