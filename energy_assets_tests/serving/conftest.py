import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest
import uvicorn

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.models import SeasonalNaive


def make_bundle(version="v1", meters=("m1", "m2")) -> ForecastBundle:
    index = pd.date_range("2025-01-01", periods=60)
    history = {
        m: pd.Series(np.arange(60.0) + 100 * i, index=index, name=m) for i, m in enumerate(meters)
    }
    models = {m: SeasonalNaive().fit(s) for m, s in history.items()}
    intervals = {meters[0]: {"80": 2.0, "95": 5.0}}
    return ForecastBundle(version=version, models=models, history=history, intervals=intervals)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return make_bundle().save(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def container_url(model_dir):
    """The container's inference server, really listening on a local port."""
    from energy_assets.serving.server import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(str(model_dir)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
