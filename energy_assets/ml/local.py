"""Local models: one meter's own history, fitted in milliseconds.

Each follows the API of ``energy_assets.ml.forecaster``: ``fit(y)`` learns a few numbers from a
gap-free daily series, ``forward(y, h)`` forecasts after any later history with them.
Parameters are chosen by the error of the forecasts the endpoint makes, 1 to ``HORIZON`` days
ahead from every day of the history, not by one-step likelihood: a level that is best one day
ahead is often too nervous two weeks ahead.

The weekly pattern of energy use is a multiplicative weekday profile (classical decomposition:
each day over its centred 7-day mean, averaged by weekday over the history); the models differ
in how they follow the level.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

from energy_assets.ml.forecaster import Forecaster

HORIZON = 14
BURN_IN = 28  # origins before this day are not scored: the level must settle first
# Smoothing rates of the level. None below 0.1 (a half-life under a week): energy use follows
# the seasons, and a slower level chosen on a few mild months (it can be, on half a year of
# history) lags badly when the weather turns; on the households and Victoria the floor cost
# nothing with a year of history and removed most of the loss with half a year.
ALPHAS = np.array((0.1, 0.14, 0.18, 0.25, 0.35, 0.5, 0.7))


def weekday_profile(values: np.ndarray) -> np.ndarray:
    """Seven factors with mean 1, by position modulo 7 from the first value: each day's ratio to
    its centred 7-day mean, averaged by position. Flat with under two weeks or no positive
    level."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 14:
        return np.ones(7)
    trend = np.convolve(values, np.ones(7) / 7, mode="valid")  # centred on day i + 3
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values[3 : n - 3] / trend
    position = np.arange(3, n - 3) % 7
    ok = np.isfinite(ratio)
    sums = np.bincount(position[ok], weights=ratio[ok], minlength=7)
    counts = np.bincount(position[ok], minlength=7)
    profile = np.divide(sums, counts, out=np.ones(7), where=counts > 0)
    profile = np.where(np.isfinite(profile) & (profile > 0), profile, 1.0)
    return profile / profile.mean()


def smoothed_levels(z: np.ndarray, alpha: float) -> np.ndarray:
    """Simple exponential smoothing of ``z``: the level after each day (one linear filter)."""
    return lfilter([alpha], [1, alpha - 1], z, zi=[(1 - alpha) * z[0]])[0]


def multi_step_error(
    actual: np.ndarray, ahead: Callable[[int], np.ndarray], horizon: int = HORIZON
) -> float:
    """Mean absolute error over h = 1..horizon of ``ahead(h)``: the h-day-ahead forecasts from
    origins 0 .. n-1-h (so of days h .. n-1), scored from origin ``BURN_IN`` on."""
    n = len(actual)
    total, count = 0.0, 0
    for h in range(1, horizon + 1):
        if n - h <= BURN_IN:
            break
        error = np.abs(actual[BURN_IN + h :] - ahead(h)[BURN_IN:])
        total += float(error.sum())
        count += len(error)
    return total / count if count else np.inf


# fewer origins than this are forecast one by one: a batched pass costs a fixed few ms
BATCH_MIN_ORIGINS = 8


def batched_origins(
    model: Forecaster, y, origins: np.ndarray, h: int, X, window: int, batch
) -> np.ndarray:
    """``forward_origins`` of a model that forecasts from the last ``window`` days: the origins
    with a full window in one call of ``batch(windows, h)`` (one window per row), the others
    (and small batches) one by one through ``forward``."""
    out = np.empty((len(origins), h))
    full = origins + 1 >= window
    if full.sum() < BATCH_MIN_ORIGINS:
        full[:] = False
    if (~full).any():
        out[~full] = Forecaster._forward_origins(model, y, origins[~full], h, X)
    if full.any():
        values = np.asarray(y, dtype=float)
        out[full] = batch(sliding_window_view(values, window)[origins[full] - window + 1], h)
    return out


def _check_length(name: str, values: np.ndarray, needed: int) -> None:
    if len(values) < needed:
        raise ValueError(f"{name} needs at least {needed} days, got {len(values)}")


class ProfileSES(Forecaster):
    """Exponential smoothing of the series divided by its weekday profile (``ses``).

    With ``log`` the series is smoothed on a log scale (``ses_log``): the forecast is then a
    typical day rather than a mean day, which is what absolute error rewards on skewed use (a
    household's few very high days and its days away). The profile comes from the last
    ``window`` days: a year of weeks averages the noise out, the last few weeks do not.
    """

    def __init__(self, log: bool = False, window: int = 365):
        self.log = log
        self.window = window

    @property
    def name(self) -> str:
        return "ses_log" if self.log else "ses"

    def _scaled(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The deseasonalised series on the model's scale, and the profile on that scale."""
        if self.log:
            logged = np.log(np.maximum(values, 0) + self.offset_)
            profile = np.log(weekday_profile(np.exp(logged)))
            return logged - profile[np.arange(len(values)) % 7], profile
        profile = weekday_profile(values)
        return values / profile[np.arange(len(values)) % 7], profile

    def _reseason(self, level, profile: np.ndarray, positions: np.ndarray) -> np.ndarray:
        if self.log:
            return np.maximum(np.exp(level + profile[positions % 7]) - self.offset_, 0.0)
        return level * profile[positions % 7]

    def _fit(self, y, X=None) -> None:
        values = np.asarray(y, dtype=float)[-self.window :]
        _check_length(self.name, values, BURN_IN + 14)
        mean = float(np.mean(values))
        self.offset_ = 0.1 * mean if mean > 0 else 1.0
        z, profile = self._scaled(values)
        positions = np.arange(len(values))

        def error(alpha: float) -> float:
            level = smoothed_levels(z, alpha)
            return multi_step_error(
                values, lambda h: self._reseason(level[:-h], profile, positions[h:])
            )

        self.alpha_ = float(ALPHAS[int(np.argmin([error(a) for a in ALPHAS]))])

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        values = np.asarray(y, dtype=float)[-self.window :]
        z, profile = self._scaled(values)
        level = smoothed_levels(z, self.alpha_)[-1]
        n = len(values)
        return self._reseason(level, profile, np.arange(n, n + h))

    def _forward_origins(self, y, origins, h: int, X=None) -> np.ndarray:
        return batched_origins(self, y, origins, h, X, self.window, self._windows_ahead)

    def _windows_ahead(self, windows: np.ndarray, h: int) -> np.ndarray:
        """``_forward`` of each row of ``windows`` (full windows): one filter over all rows."""
        k, n = windows.shape
        z, profiles = np.empty((k, n)), np.empty((k, 7))
        for i, values in enumerate(windows):
            z[i], profiles[i] = self._scaled(values)
        a = self.alpha_
        level = lfilter([a], [1, a - 1], z, axis=1, zi=(1 - a) * z[:, :1])[0][:, -1]
        season = profiles[:, np.arange(n, n + h) % 7]
        if self.log:
            return np.maximum(np.exp(level[:, None] + season) - self.offset_, 0.0)
        return level[:, None] * season


class Theta(Forecaster):
    """The Theta method on the weekly-deseasonalised series (``theta``): exponential smoothing
    plus half the slope of the linear trend, the M3 competition's winner (Assimakopoulos and
    Nikolopoulos, 2000; as simple exponential smoothing with drift, Hyndman and Billah, 2003)."""

    name = "theta"

    def __init__(self, window: int = 365):
        self.window = window

    def _deseasonalised(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        profile = weekday_profile(values)
        return values / profile[np.arange(len(values)) % 7], profile

    @staticmethod
    def _drift(z: np.ndarray) -> float:
        return float(np.polyfit(np.arange(len(z)), z, 1)[0]) / 2

    def _ahead(self, levels, drift: float, alpha: float, n: int, steps) -> np.ndarray:
        return levels + drift * (steps - 1 + (1 - (1 - alpha) ** n) / alpha)

    def _fit(self, y, X=None) -> None:
        values = np.asarray(y, dtype=float)[-self.window :]
        _check_length(self.name, values, BURN_IN + 14)
        z, profile = self._deseasonalised(values)
        drift = self._drift(z)
        n = len(values)
        positions = np.arange(n)

        def error(alpha: float) -> float:
            level = smoothed_levels(z, alpha)
            return multi_step_error(
                values,
                lambda h: self._ahead(level[:-h], drift, alpha, n, h) * profile[positions[h:] % 7],
            )

        self.alpha_ = float(ALPHAS[int(np.argmin([error(a) for a in ALPHAS]))])

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        values = np.asarray(y, dtype=float)[-self.window :]
        z, profile = self._deseasonalised(values)
        n = len(values)
        level = smoothed_levels(z, self.alpha_)[-1]
        steps = np.arange(1, h + 1)
        ahead = self._ahead(level, self._drift(z), self.alpha_, n, steps)
        return np.maximum(ahead * profile[(n - 1 + steps) % 7], 0.0)


# Exponential smoothing forms, as the ETS taxonomy names them (error, trend, season), all with
# additive errors: no trend or a damped trend; no season, an additive or a multiplicative one.
SEASONS = {"none": 0, "additive": 1, "multiplicative": 2}


def _ets_grid() -> np.ndarray:
    rows = []
    for season, code in SEASONS.items():
        gammas = (0.0,) if season == "none" else (0.0, 0.05, 0.15, 0.3)
        for alpha in (0.03, 0.07, 0.15, 0.3, 0.5):
            for gamma in gammas:
                for beta, phi in ((0.0, 0.0), (0.02, 0.8), (0.02, 0.95), (0.1, 0.8), (0.1, 0.95)):
                    rows.append((alpha, beta, gamma, phi, code))
    return np.array(rows)


ETS_GRID = _ets_grid()


def _ets_states(values: np.ndarray, grid: np.ndarray):
    """Run every parameter set of ``grid`` over ``values`` at once: level, trend and the seven
    seasonal states after each day, shape (n, g), (n, g) and (n, 7, g)."""
    n, g = len(values), len(grid)
    alpha, beta, gamma, phi, season = grid.T
    multiplicative = season == SEASONS["multiplicative"]
    weeks = max(1, min(4, n // 7))
    first = values[: 7 * weeks].reshape(weeks, 7).mean(axis=0)
    level0 = first.mean()
    ratio = first / level0 if level0 > 0 else np.ones(7)
    initial = np.where(
        multiplicative[None, :],
        np.where(ratio > 0, ratio, 1.0)[:, None],
        np.where(season[None, :] == SEASONS["none"], 0.0, (first - level0)[:, None]),
    )
    seasonal = initial.copy()
    level, trend = np.full(g, level0), np.zeros(g)
    levels, trends, seasonals = np.empty((n, g)), np.empty((n, g)), np.empty((n, 7, g))
    for t in range(n):
        s = seasonal[t % 7]
        safe_s = np.where(np.abs(s) > 1e-9, s, 1e-9)
        base = level + phi * trend
        new_level = (
            alpha * np.where(multiplicative, values[t] / safe_s, values[t] - s) + (1 - alpha) * base
        )
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        safe_level = np.where(np.abs(new_level) > 1e-9, new_level, 1e-9)
        update = np.where(multiplicative, values[t] / safe_level, values[t] - new_level)
        seasonal[t % 7] = np.where(
            multiplicative,
            np.clip(gamma * update + (1 - gamma) * s, 0.05, 20.0),
            gamma * update + (1 - gamma) * s,
        )
        level = new_level
        levels[t], trends[t], seasonals[t] = level, trend, seasonal
    return levels, trends, seasonals


def _ets_ahead(levels, trends, seasonals, grid, origins: np.ndarray, h: int) -> np.ndarray:
    """Forecasts ``h`` days ahead from each of ``origins`` for every parameter set: (o, g)."""
    alpha, beta, gamma, phi, season = grid.T
    damped = np.sum(phi[None, :] ** np.arange(1, h + 1)[:, None], axis=0)
    base = levels[origins] + damped * trends[origins]
    s = seasonals[origins, (origins + h) % 7]
    return np.where(season == SEASONS["multiplicative"], base * s, base + s)


class ExpSmoothing(Forecaster):
    """Exponential smoothing with weekly seasonality, form and parameters chosen together
    (``ets``): no trend or a damped one; no season, an additive or a multiplicative one; the
    smoothing rates on a grid. All 160 combinations run over the history in one vectorised pass
    and the one with the lowest 1..14-day-ahead error is kept: the forms of AutoETS at a
    hundredth of the cost of estimating each by likelihood."""

    def __init__(self, window: int = 365, log: bool = False):
        self.window = window
        self.log = log

    @property
    def name(self) -> str:
        return "ets_log" if self.log else "ets"

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(values, 0) + self.offset_) if self.log else values

    def _unscaled(self, values: np.ndarray) -> np.ndarray:
        return np.exp(values) - self.offset_ if self.log else values

    def _fit(self, y, X=None) -> None:
        values = np.asarray(y, dtype=float)[-self.window :]
        _check_length(self.name, values, BURN_IN + 14)
        mean = float(np.mean(values))
        self.offset_ = 0.1 * mean if mean > 0 else 1.0
        actual, values = values, self._scaled(values)
        grid = ETS_GRID
        if self.log or (values <= 0).any():  # multiplicative seasons need positive values
            grid = grid[grid[:, 4] != SEASONS["multiplicative"]]
        states = _ets_states(values, grid)
        n = len(values)
        total, count = np.zeros(len(grid)), 0
        for h in range(1, HORIZON + 1):
            origins = np.arange(BURN_IN, n - h, 2)  # every other origin: half the cost
            if not len(origins):
                break
            ahead = _ets_ahead(*states, grid, origins, h)
            total += np.abs(actual[origins + h, None] - self._unscaled(ahead)).sum(axis=0)
            count += len(origins)
        best = int(np.argmin(total)) if count else 0
        self.params_ = grid[best]
        alpha, beta, gamma, phi, season = self.params_
        self.form_ = {
            "alpha": float(alpha),
            "trend": "damped" if beta > 0 else "none",
            "season": next(k for k, v in SEASONS.items() if v == season),
        }

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        values = self._scaled(np.asarray(y, dtype=float)[-self.window :])
        level, trend, seasonal = _ets_final_state(values, self.params_)
        _, _, _, phi, season = self.params_
        steps = np.arange(1, h + 1)
        base = level + np.cumsum(phi**steps) * trend
        s = seasonal[(len(values) - 1 + steps) % 7]
        ahead = base * s if season == SEASONS["multiplicative"] else base + s
        return np.maximum(self._unscaled(ahead), 0.0)

    def _forward_origins(self, y, origins, h: int, X=None) -> np.ndarray:
        """Full windows run together (``_windows_ahead``); origins with a shorter history
        forecast from prefixes of the series, whose states one run records."""
        prefix = (origins + 1 < self.window) & (origins + 1 >= 28)
        out = np.empty((len(origins), h))
        if (~prefix).any():
            rest = origins[~prefix]
            out[~prefix] = batched_origins(self, y, rest, h, X, self.window, self._windows_ahead)
        if prefix.any():
            values = self._scaled(np.asarray(y, dtype=float))
            _, _, _, phi, season = self.params_
            steps = np.arange(1, h + 1)
            found = _ets_states_at(values, self.params_, origins[prefix])
            rows = []
            for o, (level, trend, seasonal) in zip(origins[prefix], found, strict=True):
                base = level + np.cumsum(phi**steps) * trend
                s = seasonal[(o + steps) % 7]
                rows.append(base * s if season == SEASONS["multiplicative"] else base + s)
            out[prefix] = np.maximum(self._unscaled(np.array(rows)), 0.0)
        return out

    def _windows_ahead(self, windows: np.ndarray, h: int) -> np.ndarray:
        """``_forward`` of each row of ``windows`` (full windows), the rows run together."""
        values = self._scaled(windows)
        level, trend, seasonal = _ets_final_states(values, self.params_)
        _, _, _, phi, season = self.params_
        steps = np.arange(1, h + 1)
        base = level[:, None] + np.cumsum(phi**steps)[None, :] * trend[:, None]
        s = seasonal[:, (values.shape[1] - 1 + steps) % 7]
        ahead = base * s if season == SEASONS["multiplicative"] else base + s
        return np.maximum(self._unscaled(ahead), 0.0)


def _ets_final_state(values: np.ndarray, params: np.ndarray) -> tuple[float, float, np.ndarray]:
    """``_ets_states`` for one parameter set, in plain floats (serving: ~10x faster than the
    vectorised pass over a one-row grid), returning only the state after the last day."""
    return _ets_states_at(values, params, (len(values) - 1,))[0]


def _ets_states_at(
    values: np.ndarray, params: np.ndarray, stops
) -> list[tuple[float, float, np.ndarray]]:
    """``_ets_final_state`` of each prefix ``values[: stop + 1]`` (``stops`` ascending, each
    prefix of four weeks or more, or the whole series): one run records them all, because a
    prefix's run starts where the whole series' does."""
    alpha, beta, gamma, phi, season = (float(p) for p in params)
    multiplicative = season == SEASONS["multiplicative"]
    weeks = max(1, min(4, len(values) // 7))
    first = values[: 7 * weeks].reshape(weeks, 7).mean(axis=0)
    level = float(first.mean())
    if multiplicative:
        ratio = first / level if level > 0 else np.ones(7)
        seasonal = [float(r) if r > 0 else 1.0 for r in ratio]
    elif season == SEASONS["none"]:
        seasonal = [0.0] * 7
    else:
        seasonal = [float(v - level) for v in first]
    trend = 0.0
    states, pending = [], list(stops)[::-1]
    for t, value in enumerate(values[: pending[0] + 1].tolist()):
        s = seasonal[t % 7]
        base = level + phi * trend
        if multiplicative:
            new_level = alpha * value / (s if abs(s) > 1e-9 else 1e-9) + (1 - alpha) * base
        else:
            new_level = alpha * (value - s) + (1 - alpha) * base
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        if multiplicative:
            update = value / (new_level if abs(new_level) > 1e-9 else 1e-9)
            seasonal[t % 7] = min(max(gamma * update + (1 - gamma) * s, 0.05), 20.0)
        else:
            seasonal[t % 7] = gamma * (value - new_level) + (1 - gamma) * s
        level = new_level
        if t == pending[-1]:
            states.append((level, trend, np.array(seasonal)))
            pending.pop()
            if not pending:
                break
    return states


def _ets_final_states(
    windows: np.ndarray, params: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_ets_final_state`` of every row of ``windows`` at once (one parameter set): the
    same recursion on vectors, for forecasts from many origins of one meter."""
    alpha, beta, gamma, phi, season = (float(p) for p in params)
    multiplicative = season == SEASONS["multiplicative"]
    k, n = windows.shape
    weeks = max(1, min(4, n // 7))
    first = windows[:, : 7 * weeks].reshape(k, weeks, 7).mean(axis=1)
    level = first.mean(axis=1)
    if multiplicative:
        ratio = np.where(level[:, None] > 0, first / np.where(level > 0, level, 1.0)[:, None], 1)
        seasonal = np.where(ratio > 0, ratio, 1.0)
    elif season == SEASONS["none"]:
        seasonal = np.zeros((k, 7))
    else:
        seasonal = first - level[:, None]
    trend = np.zeros(k)
    for t in range(n):
        value = windows[:, t]
        s = seasonal[:, t % 7]
        base = level + phi * trend
        if multiplicative:
            new_level = alpha * value / np.where(np.abs(s) > 1e-9, s, 1e-9) + (1 - alpha) * base
        else:
            new_level = alpha * (value - s) + (1 - alpha) * base
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        if multiplicative:
            update = value / np.where(np.abs(new_level) > 1e-9, new_level, 1e-9)
            seasonal[:, t % 7] = np.minimum(np.maximum(gamma * update + (1 - gamma) * s, 0.05), 20)
        else:
            seasonal[:, t % 7] = gamma * (value - new_level) + (1 - gamma) * s
        level = new_level
    return level, trend, seasonal


class Combination(Forecaster):
    """The mean of several models' forecasts. Combinations of simple models are the robust
    winners on short series (the M3 and M4 competitions): each member misses a turn of the
    level in its own way, and their mean misses less than the typical member.

    ``members``: unfitted models; ``fit`` fits a clone of each (``members_``)."""

    def __init__(self, members):
        self.members = members

    @property
    def name(self) -> str:
        return "mean(" + ",".join(m.name for m in self.members) + ")"

    def _fit(self, y, X=None) -> None:
        self.members_ = tuple(m.clone().fit(y, X) for m in self.members)

    def _forward(self, y, h: int, X=None, X_future=None) -> np.ndarray:
        return np.mean([m.forward(y, h, X, X_future) for m in self.members_], axis=0)

    def _forward_origins(self, y, origins, h: int, X=None) -> np.ndarray:
        return np.mean([m.forward_origins(y, origins, h, X) for m in self.members_], axis=0)

    def __setstate__(self, state: dict) -> None:
        # artifacts of format 1 kept the fitted members in ``members``
        state.setdefault("members_", tuple(state["members"]))
        self.__dict__.update(state)
