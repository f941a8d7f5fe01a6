"""Validation on the end of the training window: weekly origins, the errors of forecasts made
from them the way the endpoint makes them, and interval widths calibrated on those errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

INTERVAL_LEVELS = (80, 95)


def origin_positions(n: int, validation_days: int, horizon: int, step: int = 7) -> list[int]:
    """Positions of the last actual before each validation forecast: weekly from the start of
    the validation window, the last one leaving ``horizon`` days to score."""
    cutoff = n - validation_days - 1
    return [o for o in range(cutoff, n - 1, step) if o + horizon <= n - 1] or [n - horizon - 1]


def validation_residuals(
    model, y: pd.Series, origins: Sequence[int], horizon: int, covariates=None
) -> np.ndarray:
    """Errors (actual - forecast) of ``horizon``-day forecasts from each origin, the fitted
    ``model`` given only the actuals up to the origin."""
    out = []
    for o in origins:
        past = y.iloc[: o + 1]
        future = y.iloc[o + 1 : o + 1 + horizon].to_numpy()
        if covariates is None:
            predicted = model.forecast(past, len(future))
        else:
            predicted = model.forecast(past, len(future), covariates)
        out.append(future - predicted)
    return np.concatenate(out)


def relative_spread(
    y: pd.Series, residuals: np.ndarray, validation_days: int, horizon: int
) -> tuple[np.ndarray, float | None]:
    """Absolute errors rescaled to the meter's level at the end of training, and that level.

    Energy use varies in proportion to its level (a cold month has larger errors than a mild
    one), so each validation error is divided by the mean of the 28 days before its origin; the
    served interval is rescaled to the level before the forecast origin. A meter whose level is
    zero somewhere keeps plain absolute errors (and no reference level)."""
    values = y.to_numpy(float)
    origins = origin_positions(len(values), validation_days, horizon)
    lengths = [min(horizon, len(values) - 1 - o) for o in origins]
    levels = np.repeat([values[max(0, o - 27) : o + 1].mean() for o in origins], lengths)
    reference = float(values[-28:].mean())
    if len(levels) != len(residuals) or (levels <= 0).any() or reference <= 0:
        return np.abs(residuals), None
    return np.abs(residuals) / levels * reference, reference


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
