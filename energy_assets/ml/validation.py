"""Validation on the end of the training window: weekly origins, the errors of forecasts made
from them the way the endpoint makes them, and interval widths calibrated on those errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

INTERVAL_LEVELS = (80, 95)
PROFILE_BOUNDS = (0.2, 5.0)


def origin_positions(n: int, validation_days: int, horizon: int, step: int = 7) -> list[int]:
    """Positions of the last actual before each validation forecast: weekly from the start of
    the validation window, the last one leaving ``horizon`` days to score."""
    cutoff = n - validation_days - 1
    return [o for o in range(cutoff, n - 1, step) if o + horizon <= n - 1] or [n - horizon - 1]


@dataclass(frozen=True)
class ValidationPlan:
    """Where each meter's training window is cut for validation.

    Origins are weekly over the last ``days`` of the window (less when the history is short:
    the first origin leaves ``min_fit`` days to fit on), each forecasting ``horizon`` days. The
    origins fall into ``refits`` consecutive blocks; every candidate is fitted on the days up to
    its block's first origin and forecasts from each origin of the block given the actuals up to
    it: the way the endpoint serves a model between two retrains. Positions count from each
    meter's first day, so meters ending together are cut on the same calendar days.
    """

    horizon: int = 14
    days: int = 182
    refits: int = 2
    min_fit: int = 42
    step: int = 7

    def window(self, n: int) -> int:
        return min(self.days, n - 1 - self.min_fit)

    def origins(self, n: int) -> list[int]:
        """The meter's origins; empty when its history is too short to validate on."""
        if self.window(n) < self.horizon:
            return []
        return origin_positions(n, self.window(n), self.horizon, self.step)

    def blocks(self, n: int) -> list[list[int]]:
        """The origins in ``refits`` consecutive groups (the first fit of each group ends at its
        first origin)."""
        origins = self.origins(n)
        groups = np.array_split(np.array(origins, dtype=int), min(self.refits, len(origins)))
        return [g.tolist() for g in groups if len(g)]


def target_positions(origins: Sequence[int], horizon: int, n: int) -> list[range]:
    """For each origin, the positions of the days its forecast is scored on."""
    return [range(o + 1, min(o + 1 + horizon, n)) for o in origins]


def validation_targets(index: pd.DatetimeIndex, origins: Sequence[int], horizon: int):
    """The forecast day of each of ``validation_residuals``' errors, in the same order."""
    return index[[p for days in target_positions(origins, horizon, len(index)) for p in days]]


def validation_residuals(
    model, y: pd.Series, origins: Sequence[int], horizon: int, X: pd.DataFrame | None = None
) -> np.ndarray:
    """Errors (actual - forecast) of ``horizon``-day forecasts from each origin, the fitted
    ``model`` given only the actuals up to the origin (``forward``) and the meter's exogenous
    frame ``X``."""
    out = []
    for o in origins:
        past = y.iloc[: o + 1]
        future = y.iloc[o + 1 : o + 1 + horizon].to_numpy()
        out.append(future - model.forward(past, len(future), X))
    return np.concatenate(out)


def relative_spread(
    y: pd.Series,
    residuals: np.ndarray,
    origins: Sequence[int],
    horizon: int,
    profile: np.ndarray | None = None,
) -> tuple[np.ndarray, float | None]:
    """Absolute errors rescaled to the meter's level at the end of training and to the
    season (``profile``, see ``seasonal_error_profile``), and that level.

    Energy use varies in proportion to its level (a cold month has larger errors than a mild
    one), so each validation error is divided by the mean of the 28 days before its origin; the
    served interval is rescaled to the level before the forecast origin. A meter whose level is
    zero somewhere keeps plain absolute errors (and no reference level). With a profile each
    error is also divided by the profile's factor on its day: widths in units of the season,
    served multiplied by the factor of each forecast day."""
    values = y.to_numpy(float)
    targets = target_positions(origins, horizon, len(values))
    seasonal = profile_at(profile, validation_targets(y.index, origins, horizon))
    levels = np.repeat(
        [values[max(0, t[0] - 28) : t[0]].mean() for t in targets], list(map(len, targets))
    )
    reference = float(values[-28:].mean())
    if len(levels) != len(residuals):
        return np.abs(residuals), None
    spread = np.abs(residuals) / seasonal
    if (levels <= 0).any() or reference <= 0:
        return spread, None
    return spread / levels * reference, reference


def calibrated_quantiles(
    spreads: dict[str, np.ndarray], horizon: int, levels: Sequence[int] = INTERVAL_LEVELS
) -> dict[int, float]:
    """Which quantile of a meter's validation errors to serve for each nominal level.

    Errors drift (seasons change, meters change): the plain 80% quantile of past errors covers
    fewer than 80% of later ones. So the validation errors are replayed in time order: for
    each origin, the quantile of the errors of the origins before it is checked against its
    own errors, pooled over meters, and the lowest quantile whose replayed coverage reaches the
    level is kept (at least the nominal level itself, at most 0.99)."""
    out = {}
    for level in levels:
        target = level / 100
        grid = np.round(np.arange(target, 0.991, 0.01), 2)
        hits, count = np.zeros(len(grid)), 0
        for spread in spreads.values():
            if len(spread) % horizon or len(spread) < 3 * horizon:
                continue
            blocks = spread.reshape(-1, horizon)
            for k in range(2, len(blocks)):
                past = blocks[:k].ravel()
                bounds = np.quantile(past, grid)
                hits += (blocks[k][None, :] <= bounds[:, None]).sum(axis=1)
                count += horizon
        if count == 0:
            out[level] = target
            continue
        reached = np.flatnonzero(hits / count >= target)
        out[level] = float(grid[reached[0]] if len(reached) else grid[-1])
    return out


def seasonal_error_profile(
    y: pd.Series, halfwindow: int = 45, season: int = 7
) -> np.ndarray | None:
    """How a meter's forecast errors vary over the year: 366 factors by day of year, mean 1.

    Errors are not the same all year: a heatwave summer day is far harder to forecast than a
    mild spring one, so widths calibrated on the weeks before an origin under-cover when the
    season turns. The seasonal naive errors of the whole history (relative to the level of the
    weeks before each day, so a growing meter does not look seasonal) are averaged by day of
    year over a window of +/- ``halfwindow`` days. None without a full year of errors."""
    values = y.to_numpy(float)
    if len(values) < 365 + season + 28:
        return None
    errors = np.abs(values[season:] - values[:-season])
    level = pd.Series(values).rolling(28).mean().shift(season + 1).to_numpy()[season:]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = errors / level
    if not (level[28:] > 0).all():  # a level at or below zero somewhere: plain errors
        relative = errors
    days = pd.DatetimeIndex(y.index[season:])
    keep = np.isfinite(relative)
    doy = days.day_of_year.to_numpy()[keep] - 1
    sums = np.bincount(doy, weights=relative[keep], minlength=366)
    counts = np.bincount(doy, minlength=366).astype(float)
    kernel = np.ones(2 * halfwindow + 1)

    def around_the_year(a: np.ndarray) -> np.ndarray:  # window sums, December next to January
        return np.convolve(np.r_[a[-halfwindow:], a, a[:halfwindow]], kernel, "valid")

    smooth_sums, smooth_counts = around_the_year(sums), around_the_year(counts)
    if (smooth_counts == 0).any() or smooth_sums.sum() <= 0:
        return None
    profile = smooth_sums / smooth_counts
    # a season without errors (a vacant house) must not give zero widths, nor one freak
    # season unbounded ones
    return np.clip(profile / profile.mean(), *PROFILE_BOUNDS)


def profile_at(profile: np.ndarray | None, dates) -> np.ndarray:
    """The profile's factor on each date (1 without a profile)."""
    dates = pd.DatetimeIndex(dates)
    if profile is None:
        return np.ones(len(dates))
    return np.asarray(profile)[dates.day_of_year.to_numpy() - 1]
