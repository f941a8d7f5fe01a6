"""Public holidays in local models: a holiday behaves like a Sunday, as much as the meter's own
past holidays say.

Most buildings, and whole regions, use energy on a public holiday the way they do on a Sunday;
some households do the opposite of a business. The effect is a factor on a holiday's usage,
``1 + k * (Sunday / that weekday - 1)`` from the meter's weekday profile, with ``k`` estimated
from the holidays in the history (each against the same weekday one and two weeks around it),
shrunk towards 1 when there are few of them. Holidays in the history are divided by the factor
before the model sees them, so they neither drag the level down nor teach the weekly pattern a
false Monday; forecasts of holidays are multiplied by it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_assets.ml.calendar import day_numbers, is_holiday
from energy_assets.ml.forecaster import Forecaster
from energy_assets.ml.local import weekday_profile

PRIOR_WEIGHT = 3  # holidays' worth of belief that a holiday is like a Sunday
K_BOUNDS = (0.0, 1.5)


def _days(index) -> np.ndarray:
    """Day numbers of a DatetimeIndex, without pandas' per-call field machinery."""
    return np.asarray(index.values.astype("datetime64[D]").astype(np.int64))


def _weekday(days: np.ndarray) -> np.ndarray:
    return (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0


class HolidayAdjusted(Forecaster):
    """``model`` fitted and forecasting on the series with its holidays made ordinary.

    ``model``: an unfitted model (``fit`` fits a clone, ``model_``). ``holidays``: sorted day
    numbers (days since 1970-01-01) of the meter's public holidays, past and future
    (``calendar.holiday_ordinals``)."""

    def __init__(self, model, holidays: np.ndarray):
        self.model = model
        self.holidays = holidays

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def _holidays(self) -> np.ndarray:
        return np.asarray(self.holidays, dtype=np.int64)

    def _effect(self, values: np.ndarray, days: np.ndarray) -> float:
        marked = is_holiday(days, self._holidays).astype(bool)
        weekday = _weekday(days)
        estimates = []
        for i in np.flatnonzero(marked):
            around = [i + d for d in (-14, -7, 7, 14) if 0 <= i + d < len(values)]
            around = [j for j in around if not marked[j]]
            reference = values[around].mean() if around else np.nan
            target = self.sunday_[weekday[i]]
            if reference > 0 and abs(target - 1) > 0.05:
                estimates.append((values[i] / reference - 1) / (target - 1))
        if not estimates:
            return 1.0
        weight = len(estimates) / (len(estimates) + PRIOR_WEIGHT)
        return float(np.clip(1 + (np.median(estimates) - 1) * weight, *K_BOUNDS))

    def _factors(self, days: np.ndarray) -> np.ndarray:
        marked = is_holiday(days, self._holidays).astype(bool)
        like_sunday = 1 + self.k_ * (self.sunday_[_weekday(days)] - 1)
        return np.where(marked, np.maximum(like_sunday, 0.05), 1.0)

    def factors(self, dates) -> np.ndarray:
        """The multiplier of each day's usage: 1 on ordinary days."""
        return self._factors(day_numbers(pd.DatetimeIndex(dates)))

    def _fit(self, y: pd.Series, X=None) -> None:
        values, days = np.asarray(y, dtype=float), _days(y.index)
        profile = weekday_profile(values)  # by position from the first day
        by_weekday = profile[(np.arange(7) - _weekday(days[0])) % 7]
        self.sunday_ = by_weekday[6] / np.where(by_weekday > 0, by_weekday, 1.0)
        self.k_ = self._effect(values, days)
        ordinary = pd.Series(values / self._factors(days), index=y.index)
        self.model_ = self.model.clone().fit(ordinary, X)

    def _forward(self, y: pd.Series, h: int, X=None, X_future=None) -> np.ndarray:
        days = _days(y.index)
        ordinary = np.asarray(y, dtype=float) / self._factors(days)
        future = days[-1] + np.arange(1, h + 1)
        ordinary = pd.Series(ordinary, index=y.index)
        return self.model_.forward(ordinary, h, X, X_future) * self._factors(future)

    def _forward_origins(self, y: pd.Series, origins, h: int, X=None) -> np.ndarray:
        days = _days(y.index)
        ordinary = pd.Series(np.asarray(y, dtype=float) / self._factors(days), index=y.index)
        future = (days[origins][:, None] + np.arange(1, h + 1)).ravel()
        ahead = self.model_.forward_origins(ordinary, origins, h, X)
        return ahead * self._factors(future).reshape(len(origins), h)

    def __setstate__(self, state: dict) -> None:
        # artifacts of format 1 kept the fitted model in ``model``
        state.setdefault("model_", state["model"])
        self.__dict__.update(state)
