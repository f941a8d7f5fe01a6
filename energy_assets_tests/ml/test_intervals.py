"""Prediction intervals: the replayed quantile, the level and the season of the errors."""

import numpy as np
import pandas as pd
import pytest

from energy_assets.ml.training import train_forecasters
from energy_assets.ml.validation import (
    PROFILE_BOUNDS,
    calibrated_quantiles,
    profile_at,
    seasonal_error_profile,
    validation_targets,
)


def _stormy_winters(days: int, seed: int = 0, start: str = "2022-01-01") -> pd.Series:
    """A weekly cycle whose noise is three times larger from December to February."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days)
    winter = dates.month.isin([12, 1, 2])
    noise = rng.normal(0, np.where(winter, 9.0, 3.0))
    weekly = 10 * np.sin(2 * np.pi * np.arange(days) / 7)
    return pd.Series(100 + weekly + noise, index=dates)


def test_the_profile_finds_the_hard_season():
    profile = seasonal_error_profile(_stormy_winters(3 * 365))
    assert profile.shape == (366,)
    assert profile.mean() == pytest.approx(1, abs=0.05)
    january, july = profile_at(profile, pd.to_datetime(["2025-01-15", "2025-07-15"]))
    assert january > 2 * july


def test_no_profile_without_a_year_nor_for_a_meter_without_errors():
    assert seasonal_error_profile(_stormy_winters(300)) is None
    week = np.tile([5.0, 6, 7, 8, 9, 3, 2], 80)
    flat = pd.Series(week, index=pd.date_range("2022-01-01", periods=len(week)))
    assert seasonal_error_profile(flat) is None
    assert (profile_at(None, flat.index[:3]) == 1).all()


def test_a_vacant_season_keeps_bounded_widths():
    y = _stormy_winters(3 * 365)
    y[y.index.month.isin([6, 7, 8])] = 0.0  # nobody home in summer
    profile = seasonal_error_profile(y)
    assert np.isfinite(profile).all()
    assert profile.min() >= PROFILE_BOUNDS[0] and profile.max() <= PROFILE_BOUNDS[1]


def test_validation_targets_follow_the_origins():
    index = pd.date_range("2024-01-01", periods=100)
    targets = validation_targets(index, [71, 78, 85], 14)
    # 14 days after each origin
    assert len(targets) == 3 * 14
    assert targets[0] == index[72] and targets[-1] == index[99]


def test_the_replayed_quantile_widens_when_errors_grow():
    rng = np.random.default_rng(1)
    horizon = 14
    steady = {f"m{i}": np.abs(rng.normal(0, 1, 8 * horizon)) for i in range(5)}
    growing = {
        m: e * np.repeat(np.linspace(1, 2, 8), horizon) for m, e in steady.items()
    }  # each week's errors larger than the last
    assert calibrated_quantiles(steady, horizon)[80] <= 0.83
    assert calibrated_quantiles(growing, horizon)[80] > calibrated_quantiles(steady, horizon)[80]
    # too few weeks to replay: the nominal level
    assert calibrated_quantiles({"m": np.ones(2 * horizon)}, horizon) == {80: 0.8, 95: 0.95}


def test_served_intervals_widen_into_the_hard_season_and_cover_it():
    """Trained in October on two years of history: validation saw only mild weeks. The served
    widths for January are wider than for October, and cover the winter about as promised,
    where October's widths would not."""
    y = _stormy_winters(3 * 365 + 60, seed=3)
    frame = pd.DataFrame({"meter_id": "m", "date": y.index, "usage": y.to_numpy()})
    origin = pd.Timestamp("2024-10-15")
    train = frame[frame["date"] <= origin]
    bundle = train_forecasters(train, version="v", candidates=("seasonal_naive",), n_jobs=1)
    assert "m" in bundle.interval_season
    history = bundle.history["m"]

    covered, plain = [], []
    for start in pd.date_range("2024-12-01", "2025-02-14", freq="7D"):
        context = y[y.index < start]
        dates = pd.date_range(start, periods=14)
        forecast = bundle.forward("m", context, 14)
        error = np.abs(y[dates].to_numpy() - forecast)
        covered.extend(error <= bundle.halfwidths("m", context, dates)["80"])
        plain.extend(error <= bundle.intervals["m"]["80"] * bundle.interval_factor("m", context))
    october = bundle.halfwidths("m", history, pd.date_range(origin, periods=14))["80"]
    january = bundle.halfwidths("m", history, pd.date_range("2025-01-10", periods=14))["80"]
    assert january.mean() > 2 * october.mean()
    assert 0.75 <= np.mean(covered) <= 0.95
    assert np.mean(plain) < 0.7  # what the weeks before the origin alone would have served
