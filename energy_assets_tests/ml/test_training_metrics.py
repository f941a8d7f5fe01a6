import numpy as np
import pandas as pd
import pytest

from energy_assets.ml import models
from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.metrics import forecast_test, mae, mse, rmse, rolling_test_forecasts, score
from energy_assets.ml.plots import plot_predicted_vs_actual
from energy_assets.ml.training import train_forecasters


def _long(meters=3, days=300, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days)
    frames = []
    for i in range(meters):
        t = np.arange(days)
        y = 50 + 10 * i + 12 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 3, days)
        frames.append(pd.DataFrame({"meter_id": f"m{i}", "date": dates, "usage": y}))
    return pd.concat(frames, ignore_index=True)


def test_metrics_on_known_values():
    assert mae([1, 2, 3], [2, 2, 5]) == 1.0
    assert mse([1, 2, 3], [2, 2, 5]) == pytest.approx(5 / 3)
    assert rmse([0, 0], [3, 4]) == pytest.approx(np.sqrt(12.5))


def test_training_picks_per_meter_and_evaluation_scores_it():
    frame = _long()
    train, test = frame[frame["date"] < "2024-10-01"], frame[frame["date"] >= "2024-10-01"]
    bundle = train_forecasters(train, version="v1", candidates=("sarima",), n_jobs=2, recent=test)
    selection = bundle.selection.set_index("meter_id")
    assert list(selection.index) == ["m0", "m1", "m2"]
    assert (selection["chosen"] == "sarima").all()  # noise around a weekly cycle: SARIMA wins
    assert (selection["mae_sarima"] < selection["mae_seasonal_naive"]).all()
    # forecasts start after the latest actual, parameters come from train only
    assert bundle.history["m0"].index[-1] == test["date"].max()
    # interval widths from backtest errors: the 95% band is wider than the 80% band
    widths = bundle.intervals["m0"]
    assert 0 < widths["80"] < widths["95"]
    ahead = bundle.forecast("m0", 5)
    assert (ahead["lower_80"] <= ahead["forecast"]).all()
    # widths scale with the level of the 28 days before the origin (here: the test days)
    level = bundle.history["m0"].iloc[-28:].mean() / bundle.interval_reference["m0"]
    assert bundle.interval_reference["m0"] == pytest.approx(
        train[train["meter_id"] == "m0"]["usage"].iloc[-28:].mean()
    )
    assert (ahead["upper_95"] - ahead["forecast"]).to_numpy() == pytest.approx(widths["95"] * level)

    predictions = forecast_test(bundle, train, test)
    assert predictions["date"].min() == pd.Timestamp("2024-10-01")
    per_meter, overall = score(predictions)
    assert overall["n"] == len(test)
    assert overall["mae"] < overall["baseline_mae"]
    assert overall["rmse"] == pytest.approx(np.sqrt(overall["mse"]))
    assert overall["relative_mae"] == pytest.approx(np.exp(np.log(per_meter["mae_ratio"]).mean()))
    png = plot_predicted_vs_actual(predictions)
    assert png.startswith(b"\x89PNG") and len(png) < 400_000


def test_a_candidate_that_fails_falls_back_to_seasonal_naive(monkeypatch):
    class Broken:
        name = "broken"

        def fit(self, y, X=None):
            raise RuntimeError("cannot fit")

    monkeypatch.setitem(models.CANDIDATES, "broken", Broken)
    bundle = train_forecasters(_long(meters=2), version="v", candidates=("broken",), n_jobs=1)
    assert (bundle.selection["chosen"] == "seasonal_naive").all()
    assert bundle.selection["error"].str.contains("cannot fit").all()
    assert bundle.selection["mae_broken"].isna().all()


def test_a_meter_too_short_to_validate_is_served_seasonal_naive_and_the_rest_train():
    frame = pd.concat(
        [
            _long(meters=2),
            _long(meters=1, days=30).assign(meter_id="new"),
            _long(meters=1, days=5).assign(meter_id="stray"),
        ]
    )
    bundle = train_forecasters(frame, version="v", n_jobs=1)
    selection = bundle.selection.set_index("meter_id")
    assert (selection.loc[["m0", "m1"], "chosen"] != "seasonal_naive").all()
    assert selection.loc["new", "chosen"] == "seasonal_naive"
    assert "30 training days: too few to validate" in selection.loc["new", "reason"]
    assert bundle.forecast("new", 7)["forecast"].tolist() == pytest.approx(
        bundle.history["new"].iloc[-7:].tolist()
    )
    assert "lower_80" in bundle.forecast("new", 7)  # widths from its own weekly differences
    assert "stray" not in bundle.models  # five days: nothing to repeat
    assert "not served (needs 7)" in selection.loc["stray", "reason"]


def test_nothing_to_train_on_is_an_error():
    with pytest.raises(ValueError, match="no training days"):
        train_forecasters(_long(meters=1).iloc[:0], version="v", n_jobs=1)


def test_mape_ignores_zero_days_and_mase_and_coverage_are_scored():
    from energy_assets.ml.metrics import mape, naive_scale

    assert mape([0, 10, 20], [5, 11, 18]) == pytest.approx(10.0)  # the zero day is left out
    assert np.isnan(mape([0, 0], [1, 2]))
    assert naive_scale(pd.Series([1.0] * 7 + [3.0] * 7)) == pytest.approx(2.0)
    frame = pd.DataFrame(
        {
            "meter_id": ["a"] * 4,
            "date": pd.date_range("2025-01-01", periods=4),
            "actual": [10.0, 10, 10, 0],
            "forecast": [11.0, 9, 14, 1],
            "baseline": [12.0, 12, 12, 2],
            "lower_80": [9.0, 9.5, 12, 0],
            "upper_80": [12.0, 10.5, 16, 2],
            "lower_95": [8.0, 8, 11, 0],
            "upper_95": [13.0, 11, 17, 3],
            "scale": [2.0] * 4,
        }
    )
    per_meter, overall = score(frame)
    assert overall["mape"] == pytest.approx(100 * (0.1 + 0.1 + 0.4) / 3)
    assert overall["mase"] == pytest.approx((1 + 1 + 4 + 1) / 4 / 2)
    assert overall["baseline_mase"] == pytest.approx((2 + 2 + 2 + 2) / 4 / 2)
    assert overall["coverage_80"] == pytest.approx(0.75)  # the third day is outside
    assert overall["coverage_95"] == pytest.approx(0.75)
    assert per_meter.loc[0, "coverage_80"] == pytest.approx(0.75)
    png = plot_predicted_vs_actual(frame)
    assert png.startswith(b"\x89PNG")


def test_rolling_test_forecasts_start_from_every_test_day_with_the_actuals_so_far():
    dates = pd.date_range("2024-01-01", periods=70)
    values = np.arange(70.0)
    frame = pd.DataFrame({"meter_id": "m", "date": dates, "usage": values})
    train, test = frame.iloc[:56], frame.iloc[56:].drop(index=60)  # day 60 never arrived
    history = {"m": pd.Series(values[:56], index=dates[:56])}
    bundle = ForecastBundle("v", {"m": models.SeasonalNaive().fit(history["m"])}, history)
    rolling = rolling_test_forecasts(bundle, train, test, horizon=3)
    assert rolling["origin"].min() == dates[55] and rolling["origin"].max() == dates[68]
    assert pd.Timestamp(dates[60]) not in set(rolling["date"])  # only observed days scored
    # seasonal naive from origin t forecasts day t+k as the value of day t+k-7
    positions = (rolling["date"] - dates[0]).dt.days
    assert (rolling["actual"] == positions).all()
    assert (rolling["forecast"] == positions - 7).all()
    assert rolling.groupby("origin").size().max() == 3
