import numpy as np
import pandas as pd
import pytest

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
    from energy_assets.background import BackgroundServer
    from energy_assets.serving.server import create_app

    server = BackgroundServer(create_app(str(model_dir))).start()
    yield server.url
    server.stop()
