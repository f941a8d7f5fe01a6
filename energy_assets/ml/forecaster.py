"""The one API every forecaster follows, in the spirit of Nixtla statsforecast's models and
scikit-learn's estimators, so that training, validation, evaluation and serving call every
model the same way:

* ``fit(y, X=None) -> self`` learns from a gap-free daily series ``y`` (``pd.Series`` on a
  ``DatetimeIndex``); a global model (``energy_assets.ml.gbm``) takes a mapping of such series
  through the same call.
* ``predict(h, X_future=None, level=(80, 95))``: the ``h`` days after the series it was fitted
  on, as a frame (``date``, ``forecast``, ``lower_80``/``upper_80``...: the columns of
  ``ForecastBundle.forecast``); ``level=()`` gives the point forecast alone.
* ``forward(y, h, X=None, X_future=None)``: the ``h`` days after a new history ``y`` with the
  fitted parameters, without refitting (statsforecast's ``forward``). This is how the endpoint
  serves and how validation scores a fit from many origins; a mapping of histories gives a
  mapping of forecasts.

``X`` and ``X_future`` are exogenous frames indexed by date (``temperature``, ``holiday``): ``X``
for the days of ``y`` (it may run on past them), ``X_future`` for the days ahead. A model that
uses none ignores them.

Hyperparameters are the ``__init__`` arguments, stored as given: nothing is validated, converted
or built there, so ``get_params``/``clone`` give an unfitted copy. What ``fit`` learns lives in
attributes ending in ``_``.

A model's own intervals (``predict``'s ``level``) come from its errors on the series it was
fitted on: ``forward`` from weekly origins over its last half year, the quantile of the absolute
errors at each step ahead. The parameters were fitted on those days, so these are a quick look
at one model. What the endpoint serves is ``ForecastBundle``'s: calibrated on validation errors
the model did not fit, pooled over the fleet, scaled to the level and the season.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

# kept in memory for ``predict``, never pickled: an artifact's ``ForecastBundle`` keeps the
# history its models forecast after, and a model pickled once per meter would carry it again
FITTED_SERIES = ("y_", "X_")
INTERVAL_LEVELS = (80, 95)
# a model's own intervals: errors from weekly origins over the last half year of the fitted
# series, each origin with at least four weeks of history before it (every model forecasts
# from that)
INTERVAL_DAYS = 182
INTERVAL_MIN_CONTEXT = 28


class NotFittedError(ValueError):
    """A model asked to forecast before ``fit``."""


class Forecaster:
    """Base of every model: the shared calls around ``_fit`` and ``_forward``."""

    name = "forecaster"

    def fit(self, y: pd.Series, X: pd.DataFrame | None = None) -> Self:
        if isinstance(y, Mapping):
            raise TypeError(
                f"{self.name} is a local model: fit it on one series, not {len(y)} at once"
            )
        self._fit(y, X)
        self.y_, self.X_ = y, X
        return self

    def predict(
        self,
        h: int,
        X_future: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
        level: Sequence[int] = INTERVAL_LEVELS,
    ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """The ``h`` days after the fitted series: ``date``, ``forecast`` and, for each
        ``level``, ``lower_<level>``/``upper_<level>`` (lower bounds stop at 0). After a fit on
        many series, a mapping of such frames."""
        if "y_" not in self.__dict__:
            raise NotFittedError(
                f"{self.name} has no fitted series to forecast after (not fitted, or loaded from "
                "an artifact, which keeps none): use forward(y, h)"
            )
        if h < 1:
            raise ValueError(f"h must be at least 1, got {h}")
        if isinstance(self.y_, Mapping):
            return {
                key: self._predict_one(y, h, _entry(self.X_, key), _entry(X_future, key), level)
                for key, y in self.y_.items()
            }
        return self._predict_one(self.y_, h, self.X_, X_future, level)

    def _predict_one(self, y, h, X, X_future, level: Sequence[int]) -> pd.DataFrame:
        values = np.asarray(self.forward(y, h, X, X_future), dtype=float)
        start = pd.DatetimeIndex(y.index)[-1] + pd.Timedelta(days=1)
        columns = {"date": pd.date_range(start, periods=h, freq="D"), "forecast": values}
        for lev, half in self.halfwidths(y, h, X, level).items():
            columns[f"lower_{lev}"] = np.clip(values - half, 0, None)
            columns[f"upper_{lev}"] = values + half
        return pd.DataFrame(columns)

    def halfwidths(
        self, y: pd.Series, h: int, X: pd.DataFrame | None, level: Sequence[int]
    ) -> dict[int, np.ndarray]:
        """Interval half-widths by level for each of ``h`` steps ahead: quantiles of the
        absolute errors of ``forward`` from weekly origins over the last ``INTERVAL_DAYS`` of
        ``y`` (the fitted parameters, no refit)."""
        levels = [int(v) for v in level]
        bad = [v for v in levels if not 0 < v < 100]
        if bad:
            raise ValueError(f"interval levels are percentages between 0 and 100, got {bad}")
        if not levels:
            return {}
        n = len(y)
        first = max(INTERVAL_MIN_CONTEXT - 1, n - 1 - h - INTERVAL_DAYS)
        origins = range(n - 1 - h, first - 1, -7)
        if not origins:
            raise ValueError(
                f"{self.name}: intervals {h} days ahead need {INTERVAL_MIN_CONTEXT + h} days of "
                f"fitted history, got {n} (ask level=() for the forecast alone)"
            )
        actual = np.asarray(y, dtype=float)
        errors = np.array(
            [actual[o + 1 : o + 1 + h] - self.forward(y.iloc[: o + 1], h, X) for o in origins]
        )
        return {v: np.quantile(np.abs(errors), v / 100, axis=0) for v in levels}

    def forward(
        self,
        y: pd.Series | Mapping[str, pd.Series],
        h: int,
        X: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
        X_future: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    ):
        """The ``h`` days after ``y`` with the fitted parameters (no refit)."""
        if isinstance(y, Mapping):
            return {
                key: self._forward(series, h, _entry(X, key), _entry(X_future, key))
                for key, series in y.items()
            }
        return self._forward(y, h, X, X_future)

    def forward_origins(
        self,
        y: pd.Series,
        origins: Sequence[int] | np.ndarray,
        h: int,
        X: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """``forward`` from many origins of one series: row ``i`` holds the ``h`` days after
        ``y.iloc[: origins[i] + 1]`` (shape ``(len(origins), h)``). Monitoring's reference error
        forecasts every one of a version's last weeks this way: models that can batch the
        origins do (one pass instead of a call each), the rest loop over ``forward``."""
        origins = np.asarray(origins, dtype=int)
        if not len(origins):
            return np.empty((0, h))
        if h < 1 or origins.min() < 0 or origins.max() >= len(y):
            raise ValueError(f"origins must lie in the {len(y)} days of y and h >= 1")
        return np.asarray(self._forward_origins(y, origins, h, X), dtype=float)

    def _forward_origins(
        self, y: pd.Series, origins: np.ndarray, h: int, X: pd.DataFrame | None
    ) -> np.ndarray:
        out = np.empty((len(origins), h))
        for i, o in enumerate(origins):
            out[i] = self.forward(y.iloc[: o + 1], h, X)
        return out

    def _fit(self, y: pd.Series, X: pd.DataFrame | None) -> None:
        raise NotImplementedError

    def _forward(
        self, y: pd.Series, h: int, X: pd.DataFrame | None, X_future: pd.DataFrame | None
    ) -> np.ndarray:
        raise NotImplementedError

    # -- hyperparameters, as scikit-learn keeps them ------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def clone(self) -> Self:
        """An unfitted model with the same hyperparameters (nested models cloned at fit)."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in FITTED_SERIES}


def _entry(frames, key):
    """One series' exogenous frame from a mapping (or the one frame given for all)."""
    if frames is None or isinstance(frames, pd.DataFrame):
        return frames
    return frames.get(key)


def joined(X: pd.DataFrame | None, X_future: pd.DataFrame | None) -> pd.DataFrame | None:
    """``X`` and ``X_future`` as one frame by date; a day in both takes ``X_future``'s row."""
    if X_future is None:
        return X
    if X is None:
        return X_future
    both = pd.concat([X, X_future])
    return both[~both.index.duplicated(keep="last")]
