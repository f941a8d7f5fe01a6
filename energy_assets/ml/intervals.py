"""Interval widths of a training run: calibrated on the validation errors of the model each
meter is served, the quantile replayed over the fleet (``validation.calibrated_quantiles``).

These are the bundle's, not a model's: the same model can serve many meters (the global model)
and the baseline bundle swaps the widths without touching a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy_assets.ml.selection import BASELINE
from energy_assets.ml.validation import (
    INTERVAL_LEVELS,
    ValidationPlan,
    calibrated_quantiles,
    relative_spread,
    seasonal_error_profile,
)

MIN_NAIVE_WIDTH_DAYS = 14  # two weeks give a week of seasonal-naive errors


@dataclass(frozen=True)
class IntervalCalibration:
    """Per meter: the validation errors in units of its level and season (``spreads``), the
    level they hold at (``reference``), the season of its errors (``season``); the quantile
    served for each level, and seasonal naive's own widths (what a baseline bundle serves)."""

    spreads: dict[str, np.ndarray]
    reference: dict[str, float | None]
    season: dict[str, np.ndarray | None]
    quantiles: dict[int, float]
    baseline: dict[str, dict[str, float]]

    def widths(self, meter: str, history: pd.Series) -> dict[str, float]:
        """The meter's half-width by level: its calibrated spread's quantile, else (a meter
        too short to validate) quantiles of its seasonal-naive errors in ``history``."""
        if meter in self.spreads:
            return {
                str(level): float(np.quantile(self.spreads[meter], self.quantiles[level]))
                for level in INTERVAL_LEVELS
            }
        return naive_widths(history, self.quantiles)


def calibrate(
    series: dict[str, pd.Series],
    served_errors: dict[str, np.ndarray],
    residuals: dict[str, dict[str, np.ndarray]],
    plan: ValidationPlan,
    say: Callable[[str], None],
) -> IntervalCalibration:
    """Widths from the served models' validation errors (``served_errors``; the global
    model's cover only the last block of origins), and seasonal naive's from its own."""
    spreads, reference, season = {}, {}, {}
    for m, y in series.items():
        season[m] = seasonal_error_profile(y)
        if m not in served_errors:
            continue
        origins = plan.origins(len(y))
        if len(served_errors[m]) < len(origins) * plan.horizon:  # the global model's last block
            origins = plan.blocks(len(y))[-1]
        spreads[m], reference[m] = relative_spread(
            y, served_errors[m], origins, plan.horizon, season[m]
        )
    quantiles = calibrated_quantiles(spreads, plan.horizon)
    say(f"interval quantiles of validation errors: {quantiles}")
    return IntervalCalibration(
        spreads, reference, season, quantiles, baseline_intervals(series, residuals, plan, season)
    )


def baseline_intervals(series, residuals, plan, season) -> dict[str, dict[str, float]]:
    """Seasonal naive's interval half-widths per meter, calibrated on its validation errors as
    the served models' are: the widths a baseline bundle serves."""
    spreads = {}
    for m, y in series.items():
        origins = plan.origins(len(y))
        if BASELINE in residuals.get(m, {}) and origins:
            spreads[m], _ = relative_spread(
                y, residuals[m][BASELINE], origins, plan.horizon, season.get(m)
            )
    quantiles = calibrated_quantiles(spreads, plan.horizon)
    return {
        m: {str(level): float(np.quantile(s, quantiles[level])) for level in INTERVAL_LEVELS}
        for m, s in spreads.items()
    }


def naive_widths(history: pd.Series, quantiles: dict[int, float]) -> dict[str, float]:
    """Interval half-widths for a meter that could not be validated: quantiles of its seasonal
    naive errors in the history it has (none with under two weeks)."""
    values = history.to_numpy(float)
    if len(values) < MIN_NAIVE_WIDTH_DAYS:
        return {}
    errors = np.abs(values[7:] - values[:-7])
    return {str(level): float(np.quantile(errors, quantiles[level])) for level in INTERVAL_LEVELS}
