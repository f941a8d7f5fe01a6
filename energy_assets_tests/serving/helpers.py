"""Small hand-made bundles for the serving and local AWS tests (not a conftest: importable)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.forecaster import Forecaster
from energy_assets.ml.models import SeasonalNaive

FIRST_DAY = "2025-01-01"
DAYS = 60  # so the last actual is 2025-03-01


def series(offset: float = 0.0, days: int = DAYS) -> pd.Series:
    index = pd.date_range(FIRST_DAY, periods=days, freq="D")
    return pd.Series(np.arange(float(days)) + offset, index=index)


def make_bundle(version: str = "v1", meters=("m1", "m2"), offset: float = 0.0) -> ForecastBundle:
    """Seasonal naive per meter on ``day number + 100 * i + offset``; m1 has 80/95 intervals."""
    history = {m: series(100 * i + offset).rename(m) for i, m in enumerate(meters)}
    models = {m: SeasonalNaive().fit(s) for m, s in history.items()}
    intervals = {meters[0]: {"80": 2.0, "95": 5.0}}
    return ForecastBundle(version=version, models=models, history=history, intervals=intervals)


class ExplodingModel(Forecaster):
    """A model that fails at forecast time, as a numerical library bug would."""

    name = "exploding"

    def _fit(self, y, X=None) -> None:
        pass

    def _forward(self, y, h, X=None, X_future=None):
        raise RuntimeError("kaboom")


class NanModel(ExplodingModel):
    name = "nan"

    def _forward(self, y, h, X=None, X_future=None):
        return np.full(h, np.nan)


def broken_bundle(version: str = "broken") -> ForecastBundle:
    history = {"boom": series().rename("boom"), "nan-model": series().rename("nan-model")}
    return ForecastBundle(
        version=version,
        models={"boom": ExplodingModel(), "nan-model": NanModel()},
        history=history,
    )
