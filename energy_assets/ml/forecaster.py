"""The one API every forecaster follows, in the spirit of Nixtla statsforecast's models and
scikit-learn's estimators, so that training, validation, evaluation and serving call every
model the same way:

* ``fit(y, X=None) -> self`` learns from a gap-free daily series ``y`` (``pd.Series`` on a
  ``DatetimeIndex``); a global model (``energy_assets.ml.gbm``) takes a mapping of such series
  through the same call.
* ``predict(h, X_future=None)``: the ``h`` days after the series it was fitted on.
* ``forward(y, h, X=None, X_future=None)``: the ``h`` days after a new history ``y`` with the
  fitted parameters, without refitting (statsforecast's ``forward``). This is how the endpoint
  serves and how validation scores a fit from many origins; a mapping of histories gives a
  mapping of forecasts.

``X`` and ``X_future`` are exogenous frames indexed by date (``temperature``, ``holiday``): ``X``
for the days of ``y`` (it may run on past them), ``X_future`` for the days ahead. A model that
uses none ignores them.

Hyperparameters are the ``__init__`` arguments, stored as given: nothing is validated, converted
or built there, so ``get_params``/``clone`` give an unfitted copy. What ``fit`` learns lives in
attributes ending in ``_``. Prediction intervals are not a model's: they are calibrated on the
served model's validation errors over the whole fleet and answered by ``ForecastBundle``
(``level``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd

# kept in memory for ``predict``, never pickled: an artifact's ``ForecastBundle`` keeps the
# history its models forecast after, and a model pickled once per meter would carry it again
FITTED_SERIES = ("y_", "X_")


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

    def predict(self, h: int, X_future: pd.DataFrame | None = None):
        """The ``h`` days after the fitted series (a mapping of forecasts after a fit on many)."""
        if "y_" not in self.__dict__:
            raise NotFittedError(
                f"{self.name} has no fitted series to forecast after (not fitted, or loaded from "
                "an artifact, which keeps none): use forward(y, h)"
            )
        return self.forward(self.y_, h, self.X_, X_future)

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
