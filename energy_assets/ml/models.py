"""Forecasting models over one daily series: the baseline and the statsmodels candidates.

Every model follows the API of ``energy_assets.ml.forecaster``: ``fit(y, X=None)``,
``predict(h, X_future=None)`` after the fitted series, ``forward(y, h, X=None, X_future=None)``
after any later history with the fitted parameters (how the endpoint serves: one fitted model
forecasts from any origin).

Models are plain picklable objects holding numbers, never fitted statsmodels result objects, so an
artifact stays small and loads across library patch versions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from energy_assets.ml.forecaster import Forecaster


class SeasonalNaive(Forecaster):
    """Repeat the last observed season: the baseline every other model must beat. It learns
    nothing, so ``forward`` needs no ``fit``."""

    name = "seasonal_naive"

    def __init__(self, season_length: int = 7):
        self.season_length = season_length

    def _fit(self, y, X=None) -> None:
        if len(y) < self.season_length:
            raise ValueError(
                f"seasonal naive needs at least {self.season_length} days, got {len(y)}"
            )
        self.n_obs_ = len(y)

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        values = np.asarray(y, dtype=float)
        if len(values) < self.season_length:
            raise ValueError(
                f"seasonal naive needs {self.season_length} days of history, got {len(values)}"
            )
        last_season = values[-self.season_length :]
        reps = int(np.ceil(h / self.season_length))
        return np.tile(last_season, reps)[:h]

    def _forward_origins(self, y, origins, h: int, X=None) -> np.ndarray:
        m = self.season_length
        if origins.min() + 1 < m:
            return super()._forward_origins(y, origins, h, X)
        values = np.asarray(y, dtype=float)
        return values[origins[:, None] - m + 1 + np.arange(h)[None, :] % m]


class WeeklySES(Forecaster):
    """Simple exponential smoothing of the series with its weekly profile divided out.

    The level adapts to recent days at a rate (``alpha``) fitted to one-step errors; the
    weekly profile is the mean of each weekday over the last ``weeks`` weeks. A cheap local
    model (about 0.05 ms a forecast) whose errors differ from the global model's: the two are
    blended.
    """

    name = "ses"
    ALPHAS = np.round(np.linspace(0.02, 0.5, 13), 3)

    def __init__(self, weeks: int = 8, window: int = 365):
        self.weeks = weeks
        self.window = window

    def _profile(self, values: np.ndarray) -> np.ndarray | None:
        recent = values[-7 * self.weeks :]
        mean = recent.mean()
        if not np.isfinite(mean) or mean <= 0 or len(recent) < 14:
            return None
        weekday = (np.arange(len(values) - len(recent), len(values))) % 7
        profile = np.array([recent[weekday == d].mean() for d in range(7)]) / mean
        return np.where(profile > 0, profile, 1.0)

    def _levels(self, z: np.ndarray, alpha: float) -> np.ndarray:
        from scipy.signal import lfilter

        return lfilter([alpha], [1, alpha - 1], z, zi=[(1 - alpha) * z[0]])[0]

    def _fit(self, y, X=None) -> None:
        values = np.asarray(y, dtype=float)
        if len(values) < 28:
            raise ValueError(f"ses needs at least 28 days, got {len(values)}")
        profile = self._profile(values)
        self.alpha_ = 0.1
        if profile is not None:
            z = self._deseasonalised(values, profile)
            errors = [np.mean(np.abs(z[1:] - self._levels(z, a)[:-1])) for a in self.ALPHAS]
            self.alpha_ = float(self.ALPHAS[int(np.argmin(errors))])

    def _deseasonalised(self, values: np.ndarray, profile: np.ndarray) -> np.ndarray:
        tail = values[-self.window :]
        weekday = np.arange(len(values) - len(tail), len(values)) % 7
        return tail / profile[weekday]

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        values = np.asarray(y, dtype=float)
        profile = self._profile(values)
        if profile is None:  # no positive level to scale a profile by: repeat the last week
            return SeasonalNaive().forward(values, h)
        level = self._levels(self._deseasonalised(values, profile), self.alpha_)[-1]
        return level * profile[np.arange(len(values), len(values) + h) % 7]


class Sarima(Forecaster):
    """Seasonal ARIMA with weekly seasonality (statsmodels state space).

    The parameters are estimated once in ``fit`` on the last ``fit_days`` (a year holds every
    weekly pattern and keeps estimation near a second); ``forecast`` runs the Kalman filter with
    those parameters over the last ``context_days`` of history, which is enough for the state to
    settle and keeps serving fast.
    """

    name = "sarima"

    def __init__(
        self,
        order: tuple[int, int, int] = (1, 0, 1),
        seasonal_order: tuple[int, int, int, int] = (0, 1, 1, 7),
        context_days: int = 180,
        fit_days: int = 365,
        maxiter: int = 50,
    ):
        self.order = order
        self.seasonal_order = seasonal_order
        self.context_days = context_days
        self.fit_days = fit_days
        self.maxiter = maxiter

    def _model(self, values: np.ndarray):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        return SARIMAX(
            values,
            order=tuple(self.order),
            seasonal_order=tuple(self.seasonal_order),
            enforce_stationarity=False,
            enforce_invertibility=False,
        )

    def _fit(self, y, X=None) -> None:
        values = np.asarray(y, dtype=float)[-self.fit_days :]
        min_len = 3 * self.seasonal_order[3] + sum(self.order) + 1
        if len(values) < min_len:
            raise ValueError(f"SARIMA needs at least {min_len} days, got {len(values)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._model(values).fit(disp=False, maxiter=self.maxiter)
        params = np.asarray(result.params, dtype=float)
        if not np.all(np.isfinite(params)):
            raise ValueError("SARIMA estimation produced non-finite parameters")
        self.params_ = params
        self.aic_ = float(result.aic)

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        values = np.asarray(y, dtype=float)[-self.context_days :]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._model(values).filter(self.params_)
            return np.asarray(result.forecast(h), dtype=float)


class Sarimax(Forecaster):
    """SARIMAX with exogenous calendar terms and the order chosen automatically.

    Exogenous regressors are known for any future day: public holidays (the ``holidays``
    library, ``country``/``subdiv``) and ``fourier`` sine/cosine pairs of the day of year for the
    yearly cycle; the weekly cycle is the seasonal part (period 7). ``fit`` estimates each
    non-seasonal order of ``orders`` on the last ``fit_days`` and keeps the lowest AIC; the
    chosen order and parameters are stored as numbers, and ``forward`` filters the last
    ``context_days`` with them, like ``Sarima``. Several fits per meter: a candidate by name
    (``sarimax``), not in the default.
    """

    name = "sarimax"

    def __init__(
        self,
        orders: tuple[tuple[int, int, int], ...] = ((1, 0, 0), (1, 0, 1), (2, 0, 1)),
        seasonal_order: tuple[int, int, int, int] = (0, 1, 1, 7),
        fourier: int = 2,
        country: str | None = "US",
        subdiv: str | None = None,
        context_days: int = 180,
        fit_days: int = 365,
        maxiter: int = 50,
    ):
        self.orders = orders
        self.seasonal_order = seasonal_order
        self.fourier = fourier
        self.country = country
        self.subdiv = subdiv
        self.context_days = context_days
        self.fit_days = fit_days
        self.maxiter = maxiter

    def exog(self, dates: pd.DatetimeIndex) -> np.ndarray:
        from energy_assets.ml.calendar import day_numbers, holiday_ordinals, is_holiday

        angle = 2 * np.pi * np.asarray(dates.day_of_year, dtype=float) / 365.25
        columns = [is_holiday(day_numbers(dates), holiday_ordinals(self.country, self.subdiv))]
        for k in range(1, self.fourier + 1):
            columns += [np.sin(k * angle), np.cos(k * angle)]
        return np.column_stack(columns)

    def _model(self, values: np.ndarray, exog: np.ndarray, order):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        return SARIMAX(
            values,
            exog=exog,
            order=order,
            seasonal_order=tuple(self.seasonal_order),
            enforce_stationarity=False,
            enforce_invertibility=False,
        )

    def _fit(self, y, X=None) -> None:
        y = y.iloc[-self.fit_days :]
        values = np.asarray(y, dtype=float)
        min_len = 3 * self.seasonal_order[3] + 10
        if len(values) < min_len:
            raise ValueError(f"SARIMAX needs at least {min_len} days, got {len(values)}")
        exog = self.exog(pd.DatetimeIndex(y.index))
        best = None
        for order in map(tuple, self.orders):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    result = self._model(values, exog, order).fit(disp=False, maxiter=self.maxiter)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            params = np.asarray(result.params, dtype=float)
            usable = np.all(np.isfinite(params)) and np.isfinite(result.aic)
            if usable and (best is None or result.aic < best[0]):
                best = (float(result.aic), order, params)
        if best is None:
            raise ValueError("no SARIMAX order could be estimated")
        self.aic_, self.order_, self.params_ = best

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        history = y.iloc[-self.context_days :]
        index = pd.DatetimeIndex(history.index)
        future = pd.date_range(index[-1] + pd.Timedelta(days=1), periods=h, freq="D")
        values = np.asarray(history, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._model(values, self.exog(index), self.order_).filter(self.params_)
            return np.asarray(result.forecast(h, exog=self.exog(future)), dtype=float)


class HoltWinters(Forecaster):
    """Additive Holt-Winters exponential smoothing with a damped trend and weekly seasonality.

    Smoothing parameters are estimated in ``fit``; ``forward`` re-initialises the states
    heuristically on the last ``context_days`` of history and smooths with those parameters, so
    the level follows recent history (it adapts faster than SARIMA in seasonal ramps).
    """

    name = "ets"
    _PARAMS = ("smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend")

    def __init__(self, season_length: int = 7, fit_days: int = 365, context_days: int = 120):
        self.season_length = season_length
        self.fit_days = fit_days
        self.context_days = context_days

    def _model(self, values: np.ndarray, initialization: str):
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        return ExponentialSmoothing(
            values,
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=self.season_length,
            initialization_method=initialization,
        )

    def _fit(self, y, X=None) -> None:
        values = np.asarray(y, dtype=float)[-self.fit_days :]
        if len(values) < 4 * self.season_length:
            raise ValueError(f"ETS needs at least {4 * self.season_length} days, got {len(values)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._model(values, "estimated").fit()
        params = {k: float(result.params[k]) for k in self._PARAMS}
        if not all(np.isfinite(v) for v in params.values()):
            raise ValueError("ETS estimation produced non-finite parameters")
        self.params_ = params

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        values = np.asarray(y, dtype=float)[-self.context_days :]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._model(values, "heuristic").fit(optimized=False, **self.params_)
            return np.asarray(result.forecast(h), dtype=float)


class Ensemble(Forecaster):
    """Mean of seasonal naive, SARIMA and Holt-Winters forecasts.

    Each member lags a seasonal ramp or overreacts to noise in its own way; their mean is more
    robust than any one of them (it beat seasonal naive on every one of eight test windows
    spread over a year of generated data, where each member alone lost on some).
    """

    name = "ensemble"

    def _fit(self, y, X=None) -> None:
        self.members_ = tuple(m.fit(y) for m in (SeasonalNaive(), Sarima(), HoltWinters()))

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        return np.mean([m.forward(y, h) for m in self.members_], axis=0)


class ProphetModel(Forecaster):
    """Prophet (weekly and yearly seasonality) when the optional extra is installed:
    ``pip install '.[prophet]'``. Its forecast is a function of the date, so ``forward``
    predicts the days after ``y`` without refitting (recent actuals do not move it).
    A candidate by name only: its predict call takes tens of milliseconds, beyond the
    endpoint's latency budget for the default."""

    name = "prophet"

    def _fit(self, y, X=None) -> None:
        import logging

        from prophet import Prophet

        logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
        frame = pd.DataFrame({"ds": pd.DatetimeIndex(y.index), "y": np.asarray(y, dtype=float)})
        self.model_ = Prophet(weekly_seasonality=True, yearly_seasonality=len(y) >= 730,
                              daily_seasonality=False).fit(frame)  # fmt: skip

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        start = pd.DatetimeIndex(y.index)[-1] + pd.Timedelta(days=1)
        future = pd.DataFrame({"ds": pd.date_range(start, periods=h, freq="D")})
        return np.clip(self.model_.predict(future)["yhat"].to_numpy(float), 0, None)


def prophet_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("prophet") is not None


def _local_models() -> dict[str, Callable[[], Forecaster]]:
    from energy_assets.ml.local import ExpSmoothing, ProfileSES, Theta

    return {
        "ses": ProfileSES,
        "ses_log": partial(ProfileSES, log=True),
        "theta": Theta,
        "ets": ExpSmoothing,
        "ets_log": partial(ExpSmoothing, log=True),
    }


# Candidates by name. "ses", "ses_log", "theta" and "ets" are the fast local models of
# ``energy_assets.ml.local``; the statsmodels ones (SARIMA, SARIMAX, Holt-Winters by likelihood)
# cost about a second a fit and are candidates by name only. ``WeeklySES`` ("weekly_ses") and
# ``HoltWinters`` ("holt_winters") were the defaults of earlier versions and stay so that their
# artifacts load and serve.
CANDIDATES: dict[str, Callable[[], Forecaster]] = {
    Ensemble.name: Ensemble,
    SeasonalNaive.name: SeasonalNaive,
    Sarima.name: Sarima,
    Sarimax.name: Sarimax,
    "holt_winters": HoltWinters,
    "weekly_ses": WeeklySES,
    **_local_models(),
}
if prophet_installed():
    CANDIDATES[ProphetModel.name] = ProphetModel


def make_model(name: str, **params) -> Forecaster:
    try:
        return CANDIDATES[name](**params)
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {sorted(CANDIDATES)}") from None
