"""One gradient-boosting model for many meters: the DeepAR-style "global model" answer.

Direct strategy: a training row is (meter, origin day ``t``, step ``h``) with the target usage on
day ``t + h``; every feature is computed from days up to ``t`` (and the calendar of the target
day), and every usage figure is divided by the meter's mean of the 28 days up to ``t``. So one
model learns from small households and large buildings alike, and forecasting 14 days is one
``predict`` call over 14 rows: cheap enough for an endpoint.

It follows the API of every model (``energy_assets.ml.forecaster``), fitted on many series
through the same ``fit``: ``y`` a mapping of meter id to daily series and ``X`` a mapping of meter
id to exogenous frame. A mapping rather than a long frame (``unique_id, ds, y``): each meter's
series is already what every local model takes (a gap-free ``pd.Series`` on its dates),
validation cuts each meter at its own origin, and the rows are built per meter anyway; a long
frame would be split into these series on the first line. One series alone is a fleet of one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from energy_assets.ml.calendar import climatology, day_numbers, holiday_ordinals, is_holiday
from energy_assets.ml.forecaster import Forecaster, NotFittedError, joined
from energy_assets.ml.models import SeasonalNaive
from energy_assets.ml.trees import CompiledTrees

MIN_HISTORY = 28
TEMPERATURE_MODES = ("none", "climatology", "observed")
FEATURES = (
    "step",
    "day_of_week",
    "day_of_year",
    "holiday",
    "reference_holiday",
    "seasonal_naive",
    "same_weekday_mean_4",
    "last_1",
    "last_7",
    "mean_91",
    "mean_364",
    "std_28",
    "last_year",
    "last_year_shape",
)
TEMPERATURE_FEATURES = ("temperature", "temperature_last_7", "temperature_reference")


def _window_mean(csum: np.ndarray, end: np.ndarray, length: int) -> np.ndarray:
    """Mean of ``y[end - length + 1 .. end]`` from the cumulative sum; NaN where it would start
    before the first day or end after the last known one (a year-ago window of a horizon past
    361 days)."""
    start = end - length + 1
    ok = (start >= 0) & (end >= 0) & (end < len(csum) - 1)
    safe_end = np.where(ok, end, 0)
    safe_start = np.where(ok, start, 0)
    return np.where(ok, (csum[safe_end + 1] - csum[safe_start]) / length, np.nan)


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]``, NaN before the first day and after the last known one."""
    ok = (index >= 0) & (index < len(values))
    return np.where(ok, values[np.where(ok, index, 0)], np.nan)


class GlobalBoosting(Forecaster):
    """Histogram gradient boosting over all meters (scikit-learn), absolute-error loss.

    ``temperature``: ``"none"``; ``"climatology"`` (recent observed temperature when the history
    carries it, the day-of-year mean for future days: the honest setting); ``"observed"`` (the
    actual temperature of future days, from ``X_future`` or ``X``: an oracle for benchmarks, or a
    supplied weather forecast). ``X`` may also carry a ``holiday`` column (0/1): days it marks
    join the public holidays at ``fit``.
    """

    name = "gbm"

    def __init__(
        self,
        horizon: int = 14,
        max_iter: int = 200,
        learning_rate: float = 0.06,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        max_rows: int = 60_000,
        max_rows_per_meter: int = 4_000,
        country: str | None = None,
        subdiv: str | None = None,
        temperature: str = "none",
        random_state: int = 0,
    ):
        self.horizon = horizon
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_rows = max_rows
        self.max_rows_per_meter = max_rows_per_meter
        self.country = country
        self.subdiv = subdiv
        self.temperature = temperature
        self.random_state = random_state

    # -- features ---------------------------------------------------------------------------
    def _design(
        self,
        y: np.ndarray,
        day0: int,
        origins: np.ndarray,
        steps: np.ndarray,
        temp: np.ndarray | None,
        temp_target: np.ndarray | None,
    ) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._columns(y, day0, origins, steps, temp, temp_target)

    def _columns(self, y, day0, origins, steps, temp, temp_target) -> np.ndarray:
        csum = np.r_[0.0, np.cumsum(y)]
        csq = np.r_[0.0, np.cumsum(y * y)]
        t, h = origins, steps
        d = t + h
        level = _window_mean(csum, t, 28)
        fallback = float(np.mean(y)) if np.mean(y) > 0 else 1.0
        scale = np.where(level > 1e-9, level, fallback)
        ref = d - 7 * np.ceil(h / 7).astype(int)
        target_days = day0 + d
        days = target_days.astype("datetime64[D]")
        day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64) + 1
        columns = [
            np.minimum(h, self.horizon),
            (target_days + 3) % 7,
            day_of_year,
            is_holiday(target_days, self.holidays_),
            is_holiday(day0 + ref, self.holidays_),
            _take(y, ref) / scale,
            np.mean([_take(y, ref - 7 * j) for j in range(4)], axis=0) / scale,
            y[t] / scale,
            _window_mean(csum, t, 7) / scale,
            _window_mean(csum, t, 91) / scale,
            _window_mean(csum, t, 364) / scale,
            np.sqrt(np.maximum(_window_mean(csq, t, 28) - level**2, 0)) / scale,
            _take(y, d - 364) / scale,
            _window_mean(csum, d - 361, 7) / _window_mean(csum, t - 364, 28),
        ]
        if self.temperature != "none":
            tsum = np.r_[0.0, np.cumsum(temp)]
            columns += [temp_target, _window_mean(tsum, t, 7), _take(temp, ref)]
        return np.column_stack(columns).astype(float)

    def _temperatures(self, dates: pd.DatetimeIndex, observed) -> np.ndarray:
        clim = self.climatology_[np.asarray(dates.day_of_year)]
        if observed is None:
            return clim
        values = np.asarray(observed, dtype=float)
        return np.where(np.isfinite(values), values, clim)

    # -- fitting ----------------------------------------------------------------------------
    def fit(
        self,
        y: pd.Series | Mapping[str, pd.Series],
        X: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    ) -> GlobalBoosting:
        """Fit on gap-free daily series (a mapping of meter id to series, or one series);
        ``X``, per meter alike, may hold ``temperature`` and ``holiday`` (0/1) columns indexed
        by date."""
        if self.temperature not in TEMPERATURE_MODES:
            raise ValueError(
                f"temperature must be one of {TEMPERATURE_MODES}, got {self.temperature!r}"
            )
        if isinstance(y, Mapping):
            self._fit_many(y, {} if X is None else X)
        else:
            self._fit_many({"_": y}, {} if X is None else {"_": X})
        self.y_, self.X_ = y, X
        return self

    def _fit_many(
        self, series: Mapping[str, pd.Series], covariates: Mapping[str, pd.DataFrame]
    ) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        marked = [
            c.index[c["holiday"].to_numpy(float) > 0] for c in covariates.values() if "holiday" in c
        ]
        extra = pd.DatetimeIndex(np.concatenate([m.values for m in marked])) if marked else None
        first = min(pd.Timestamp(s.index[0]).year for s in series.values())
        last = max(pd.Timestamp(s.index[-1]).year for s in series.values())
        years = range(first - 1, last + 4)
        self.holidays_ = holiday_ordinals(self.country, self.subdiv, years, extra)
        if self.temperature != "none":
            temps = [c["temperature"] for c in covariates.values() if "temperature" in c]
            if not temps:
                raise ValueError("temperature features need a temperature covariate")
            allt = pd.concat(temps)
            self.climatology_ = climatology(pd.DatetimeIndex(allt.index), allt.to_numpy(float))
        usable = {m: s for m, s in series.items() if len(s) >= MIN_HISTORY + 1}
        if not usable:
            raise ValueError(f"the global model needs a meter with {MIN_HISTORY + 1}+ days")
        pairs = sum((len(s) - MIN_HISTORY) * self.horizon for s in usable.values())
        keep = min(1.0, self.max_rows / max(pairs, 1))
        rng = np.random.default_rng(self.random_state)
        blocks, targets = [], []
        for meter, s in usable.items():
            y = s.to_numpy(float)
            n = len(y)
            t = np.repeat(np.arange(MIN_HISTORY - 1, n - 1), self.horizon)
            h = np.tile(np.arange(1, self.horizon + 1), len(t) // self.horizon)
            ok = t + h < n
            share = min(keep, self.max_rows_per_meter / max(int(ok.sum()), 1))
            if share < 1:
                ok &= rng.random(len(t)) < share
            t, h = t[ok], h[ok]
            dates = pd.DatetimeIndex(s.index)
            temp = temp_target = None
            if self.temperature != "none":
                cov = covariates.get(meter)
                observed = None if cov is None else cov["temperature"].reindex(dates)
                temp = self._temperatures(dates, observed)
                temp_target = (
                    temp[t + h]
                    if self.temperature == "observed"
                    else self.climatology_[np.asarray(dates.day_of_year)][t + h]
                )
            x = self._design(y, int(day_numbers(dates[:1])[0]), t, h, temp, temp_target)
            level = _window_mean(np.r_[0.0, np.cumsum(y)], t, 28)
            scale = np.where(level > 1e-9, level, float(np.mean(y)) or 1.0)
            blocks.append(x)
            targets.append(y[t + h] / scale)
        x_all = np.vstack(blocks)
        x_all[:, np.isnan(x_all).all(axis=0)] = 0.0  # e.g. no year of history yet: never split
        model = HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        with threadpool_limits(limits=1, user_api="openmp"):
            # one thread: OpenMP barriers spin badly when other processes hold the cores
            model.fit(x_all, np.concatenate(targets))
        self.trees_ = CompiledTrees(model)  # plain arrays: small, fast, no pickled sklearn
        self.n_rows_ = int(sum(len(b) for b in blocks))

    # -- forecasting ------------------------------------------------------------------------
    def _forward(
        self,
        y: pd.Series,
        h: int,
        X: pd.DataFrame | None = None,
        X_future: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """``h`` days after the last day of ``y`` (one predict call). With the temperature
        features, ``X`` may carry observed temperature for the days of ``y`` (and, in
        ``"observed"`` mode, ``X_future`` or ``X`` for the days ahead)."""
        covariates = joined(X, X_future)
        values = np.asarray(y, dtype=float)
        if len(values) < MIN_HISTORY:
            raise ValueError(
                f"the global model needs {MIN_HISTORY} days of history, got {len(values)}"
            )
        values = values[-400:]
        index = pd.DatetimeIndex(y.index[-len(values) :])
        steps = np.arange(1, h + 1)
        t = np.full(h, len(values) - 1)
        temp = temp_target = None
        if self.temperature != "none":
            future = pd.date_range(index[-1] + pd.Timedelta(days=1), periods=h, freq="D")
            observed = None
            if covariates is not None and "temperature" in covariates:
                observed = covariates["temperature"]
            temp = self._temperatures(
                index, None if observed is None else observed.reindex(index).to_numpy(float)
            )
            use = self.temperature == "observed" and observed is not None
            temp_target = self._temperatures(
                future, observed.reindex(future).to_numpy(float) if use else None
            )
        x = self._design(values, int(day_numbers(index[:1])[0]), t, steps, temp, temp_target)
        level = float(np.mean(values[-28:]))
        scale = level if level > 1e-9 else (float(np.mean(values)) or 1.0)
        return np.clip(self.trees_.predict(x) * scale, 0, None)

    def _forward_origins(self, y: pd.Series, origins, h: int, X=None) -> np.ndarray:
        """``_forward`` from every origin in one design and one predict call. Its features look
        back at most 391 days from the origin, inside the 400 that ``_forward`` keeps, so the
        whole series gives the same rows; an origin without 28 days or with a zero level
        (whose scale falls back to the mean of the window) goes through ``_forward``."""
        values = np.asarray(y, dtype=float)
        level = np.array([np.mean(values[max(0, o - 27) : o + 1]) for o in origins])
        batch = (origins + 1 >= MIN_HISTORY) & (level > 1e-9)
        out = np.empty((len(origins), h))
        if (~batch).any():
            out[~batch] = Forecaster._forward_origins(self, y, origins[~batch], h, X)
        if not batch.any():
            return out
        chosen, steps = origins[batch], np.arange(1, h + 1)
        t, step = np.repeat(chosen, h), np.tile(steps, len(chosen))
        index = pd.DatetimeIndex(y.index)
        temp = temp_target = None
        if self.temperature != "none":
            observed = X["temperature"] if X is not None and "temperature" in X else None
            temp = self._temperatures(
                index, None if observed is None else observed.reindex(index).to_numpy(float)
            )
            future = index[t] + pd.to_timedelta(step, unit="D")
            use = self.temperature == "observed" and observed is not None
            temp_target = self._temperatures(
                future, observed.reindex(future).to_numpy(float) if use else None
            )
        x = self._design(values, int(day_numbers(index[:1])[0]), t, step, temp, temp_target)
        scale = np.repeat(level[batch], h)
        out[batch] = np.clip(self.trees_.predict(x) * scale, 0, None).reshape(len(chosen), h)
        return out


def _check_fitted(blend: str, parts) -> None:
    for part in parts:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(part)):
            raise NotFittedError(f"{blend} blends fitted models: fit {part.name} first")


class NaiveBlend(Forecaster):
    """The mean of the global model and seasonal naive. Training now blends the global model
    with a fitted local model (``LocalBlend``); this class stays so that artifacts trained
    before still load and serve (a rollback may name one)."""

    name = "gbm_naive_blend"

    def __init__(self, model: GlobalBoosting, season_length: int = 7):
        self.model = model
        self.season_length = season_length

    def _fit(self, y, X=None) -> None:
        _check_fitted(self.name, [self.model])  # the global model comes fitted on the fleet

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        last = np.asarray(y, dtype=float)[-self.season_length :]
        naive = np.tile(last, h // self.season_length + 1)[:h]
        return 0.5 * (self.model.forward(y, h, X, X_future) + naive)

    def _forward_origins(self, y, origins, h: int, X=None) -> np.ndarray:
        naive = SeasonalNaive(self.season_length).forward_origins(y, origins, h)
        return 0.5 * (self.model.forward_origins(y, origins, h, X) + naive)


class LocalBlend(Forecaster):
    """The global model blended with a meter's own fitted local model (``weight`` on the global
    one): one model that learnt from every meter, one that follows only this meter's recent
    level. Their errors differ, so the blend's are smaller than either's on most meters.

    Both parts come fitted (the global model on the whole fleet, once; the local model on the
    meter), as scikit-learn's frozen estimators do, and ``weight`` was chosen on validation:
    ``fit`` learns nothing more and refits neither. So meters blended with one global model
    share it, and an artifact pickles it once."""

    def __init__(self, model: GlobalBoosting, local, weight: float):
        self.model = model
        self.local = local
        self.weight = weight

    @property
    def name(self) -> str:
        return self.name_with(self.local.name)

    @staticmethod
    def name_with(partner: str) -> str:
        return f"gbm_{partner}_blend"

    def _fit(self, y, X=None) -> None:
        _check_fitted(self.name, [self.model, self.local])

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        shared = self.model.forward(y, h, X, X_future)
        return self.weight * shared + (1 - self.weight) * self.local.forward(y, h, X, X_future)

    def _forward_origins(self, y, origins, h: int, X=None) -> np.ndarray:
        shared = self.model.forward_origins(y, origins, h, X)
        return self.weight * shared + (1 - self.weight) * self.local.forward_origins(
            y, origins, h, X
        )
