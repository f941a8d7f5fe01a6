"""Realised error, drift statistics, anomalies and the drift rule on small made-up data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from energy_assets.ml import monitoring as mon
from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.models import SeasonalNaive

DAYS = pd.date_range("2025-01-01", periods=70, freq="D")


def _bundle(values: np.ndarray, history_days: int = 56) -> ForecastBundle:
    series = pd.Series(values[:history_days], index=DAYS[:history_days], name="m")
    return ForecastBundle(
        version="v1",
        models={"m": SeasonalNaive().fit(series)},
        history={"m": series},
        intervals={"m": {"80": 1.0, "95": 2.0}},
    )


def _clean(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"meter_id": "m", "date": DAYS, "usage": values, "imputed": False})


def test_realised_error_uses_only_actuals_known_the_day_before():
    weekly = np.tile([10.0, 11, 12, 13, 14, 20, 21], 10)
    values = weekly + np.r_[np.zeros(60), np.full(10, 5.0)]  # a step on day 60
    bundle = _bundle(values)
    ref = mon.reference(bundle, days=14)
    # a perfectly weekly history has no seasonal naive error: the scale falls back to lag 1
    assert ref.scale["m"] == pytest.approx(np.abs(np.diff(values[:42])).mean())
    rows = mon.realised(bundle, _clean(values), ref)
    assert rows["date"].min() == DAYS[56] and len(rows) == 14
    # seasonal naive from the actuals known the day before: last week's value, never today's
    expected = values[56 - 7 : 70 - 7]
    assert rows["forecast"].to_numpy() == pytest.approx(expected)
    assert rows["error"].to_numpy() == pytest.approx(values[56:] - expected)
    assert (rows["model_version"] == "v1").all()
    # only the requested days are scored
    some = mon.realised(bundle, _clean(values), ref, days=pd.DatetimeIndex(DAYS[60:62]))
    assert list(some["date"]) == list(DAYS[60:62])


def test_imputed_days_are_context_not_scored():
    values = np.tile([10.0, 11, 12, 13, 14, 20, 21], 10)
    clean = _clean(values)
    clean.loc[60, "imputed"] = True
    bundle = _bundle(values)
    rows = mon.realised(bundle, clean, mon.reference(bundle, days=14))
    assert DAYS[60] not in set(rows["date"]) and len(rows) == 13


def test_anomalies_flag_interval_breaches_and_the_start_of_a_level_shift():
    days = pd.date_range("2025-03-01", periods=30, freq="D")
    error = np.r_[np.tile([0.5, -0.5], 10), np.full(10, 6.0)]
    rows = pd.DataFrame(
        {
            "meter_id": "m",
            "date": days,
            "model_version": "v1",
            "actual": 10 + error,
            "forecast": 10.0,
            "error": error,
            "abs_error": np.abs(error),
            "scaled_error": np.abs(error),
            "lower_95": 8.0,
            "upper_95": 12.0,
        }
    )
    ref = mon.Reference("v1", 28, {"m": 1.0}, {"m": 1.0}, 0.5, 0.1, 0.5)
    found = mon.anomalies(rows, ref)
    assert found["outside_95"].sum() == 10
    # once, on the step's second day: its mean residual over 7 days is then 4.7 standard errors
    assert list(found.loc[found["level_shift"], "date"]) == [days[21]]


def test_drift_statistics_see_a_changed_distribution():
    rng = np.random.default_rng(0)
    train = rng.normal(10, 1, 365)
    assert mon.ks_statistic(train, train) == 0
    assert mon.ks_statistic(train, train + 3) > 0.8
    assert mon.psi(train, rng.normal(10, 1, 28)) < 0.25 < 1 < mon.psi(train, train[:28] + 3)
    history = pd.Series(train, index=pd.date_range("2024-01-01", periods=365))
    bundle = ForecastBundle("v1", {"m": SeasonalNaive()}, {"m": history})
    recent = pd.DataFrame(
        {"meter_id": "m", "date": pd.date_range("2025-01-01", periods=28), "usage": 15.0}
    )
    (row,) = mon.usage_drift(bundle, recent, pd.Timestamp("2025-01-28")).to_dict("records")
    assert row["mean_ratio"] == pytest.approx(1.5, rel=0.05) and row["ks"] == 1.0


def _daily(mase: list[float]) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "meter_id": "m",
            "date": pd.date_range("2025-01-01", periods=len(mase)),
            "model_version": "v1",
            "scaled_error": mase,
            "abs_error": mase,
        }
    )
    return mon.daily_summary(rows)


REF = mon.Reference("v1", 28, {"m": 1.0}, {"m": 1.0}, 0.8, 0.3, 0.8)


def test_drift_rule_needs_a_persistent_rise():
    steady = [0.8, 0.6, 1.0, 0.7, 0.9, 0.8, 0.7] * 3
    assert not mon.drift_verdict(_daily(steady), REF, mon.DriftRule())["drift"]
    # one bad day moves the 7-day mean once: not two consecutive checks
    assert not mon.drift_verdict(_daily(steady + [4.0]), REF, mon.DriftRule())["drift"]
    verdict = mon.drift_verdict(_daily(steady + [4.0, 3.0]), REF, mon.DriftRule())
    assert verdict["drift"] and "7-day scaled MAE" in verdict["reasons"][-1]
    assert verdict["weekly_limit"] == pytest.approx(0.8 + 3 * 0.3 / np.sqrt(7))


def test_drift_rule_rolling_mase_above_one():
    verdict = mon.drift_verdict(_daily([1.1, 1.2, 1.0, 1.3] * 4), REF, mon.DriftRule())
    assert verdict["drift"] and verdict["reasons"][0].startswith("rolling MASE 1.150 above 1")
    short = mon.drift_verdict(_daily([1.1, 1.2, 1.0, 1.3] * 3), REF, mon.DriftRule())
    assert short["rolling_mase"] is None  # fewer than 14 days: no rolling MASE yet
