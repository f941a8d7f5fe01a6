import numpy as np
import pandas as pd
import pytest

from energy_assets.ml import models
from energy_assets.ml.metrics import forecast_test, mae, mse, rmse, score
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
    assert (ahead["upper_95"] - ahead["forecast"]).round(9).eq(round(widths["95"], 9)).all()

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

        def fit(self, y):
            raise RuntimeError("cannot fit")

    monkeypatch.setitem(models.CANDIDATES, "broken", Broken)
    bundle = train_forecasters(_long(meters=2), version="v", candidates=("broken",), n_jobs=1)
    assert (bundle.selection["chosen"] == "seasonal_naive").all()
    assert bundle.selection["error"].str.contains("cannot fit").all()
    assert bundle.selection["mae_broken"].isna().all()


def test_too_short_meters_are_named():
    with pytest.raises(ValueError, match="m0"):
        train_forecasters(_long(meters=1, days=30), version="v", n_jobs=1)
