import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.calendar import climatology, day_numbers, holiday_ordinals, is_holiday
from energy_assets.ml.gbm import GlobalBoosting, LocalBlend, NaiveBlend
from energy_assets.ml.models import SeasonalNaive, WeeklySES
from energy_assets.ml.trees import CompiledTrees


def _meters(n=6, days=800, seed=0, holidays=()):
    """Weekly and yearly cycles, a temperature response and noise; sizes differ by 50x."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=days)
    t = np.arange(days)
    temperature = 15 + 10 * np.cos(2 * np.pi * (t - 200) / 365.25) + rng.normal(0, 2, days)
    series, covariates = {}, {}
    for i in range(n):
        size = 5 * (1 + 10 * i)
        weekly = 1 + 0.25 * (index.day_of_week >= 5)
        heat = 1 + 0.04 * np.clip(16 - temperature, 0, None)
        usage = size * weekly * heat * np.exp(rng.normal(0, 0.08, days))
        usage[np.isin(index, pd.DatetimeIndex(holidays))] *= 0.3
        series[f"m{i}"] = pd.Series(usage, index=index)
        covariates[f"m{i}"] = pd.DataFrame({"temperature": temperature}, index=index)
    return series, covariates


def _mae(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


def test_global_model_beats_seasonal_naive_across_meters_of_any_size():
    series, _ = _meters()
    train = {m: s.iloc[:-70] for m, s in series.items()}
    model = GlobalBoosting().fit(train)
    ratios = []
    for s in series.values():
        errors, naive = [], []
        for origin in range(len(s) - 70, len(s) - 14, 7):  # 8 weekly origins after training
            past, future = s.iloc[:origin], s.iloc[origin : origin + 14].to_numpy()
            forecast = model.forward(past, 14)
            assert forecast.shape == (14,) and (forecast >= 0).all()
            errors.append(_mae(forecast, future))
            naive.append(_mae(SeasonalNaive().forward(past, 14), future))
        ratios.append(np.mean(errors) / np.mean(naive))
    assert np.exp(np.mean(np.log(ratios))) < 0.85


def test_one_fitted_model_forecasts_from_any_origin():
    # (how fast: benchmarks/serving.py, not a timed test)
    series, _ = _meters(n=3, days=500)
    model = GlobalBoosting().fit(series)
    s = series["m1"]
    assert not np.allclose(model.forward(s.iloc[:-30], 7), model.forward(s, 7))
    with pytest.raises(ValueError, match="28 days"):
        model.forward(s.iloc[:10], 7)
    assert len(model.forward(s, 14)) == 14


def test_compiled_trees_predict_exactly_like_scikit_learn():
    rng = np.random.default_rng(1)
    x = rng.random((3000, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = np.nansum(x, axis=1) + rng.normal(0, 0.1, 3000)
    model = HistGradientBoostingRegressor(max_iter=40, loss="absolute_error").fit(x, y)
    probe = rng.random((50, 6))
    probe[rng.random(probe.shape) < 0.2] = np.nan
    np.testing.assert_allclose(CompiledTrees(model).predict(probe), model.predict(probe))


def test_holidays_come_from_the_library_and_from_the_data():
    us = holiday_ordinals("US", years=range(2024, 2026))
    days = day_numbers(pd.DatetimeIndex(["2025-07-04", "2025-07-05", "2025-12-25"]))
    assert is_holiday(days, us).tolist() == [1, 0, 1]
    own = holiday_ordinals(None, extra_days=pd.DatetimeIndex(["2025-07-05"]))
    assert is_holiday(days, own).tolist() == [0, 1, 0]


def test_the_model_learns_that_holidays_are_different():
    holidays = pd.date_range("2023-01-04", periods=140, freq="6D")  # many, on every weekday
    series, _ = _meters(n=4, days=800, holidays=holidays)
    marked = {m: pd.DataFrame({"holiday": s.index.isin(holidays).astype(float)}, index=s.index)
              for m, s in series.items()}  # fmt: skip
    model = GlobalBoosting().fit(series, marked)
    history = series["m2"].iloc[:-10]
    on_holiday = model.forward(history, 10)[np.isin(series["m2"].index[-10:], holidays)]
    ordinary = model.forward(history, 10)[~np.isin(series["m2"].index[-10:], holidays)]
    assert len(on_holiday) and on_holiday.mean() < 0.6 * ordinary.mean()


def test_temperature_modes():
    series, covariates = _meters(n=3, days=800)
    with pytest.raises(ValueError, match="temperature must be"):
        GlobalBoosting(temperature="psychic").fit(series)
    with pytest.raises(ValueError, match="temperature covariate"):
        GlobalBoosting(temperature="climatology").fit(series)
    history = series["m1"].iloc[:-14]
    cold = covariates["m1"].copy()
    cold.iloc[-14:] = -5.0
    oracle = GlobalBoosting(temperature="observed").fit(series, covariates)
    honest = GlobalBoosting(temperature="climatology").fit(series, covariates)
    # the oracle reads the future temperature: a cold fortnight raises the forecast
    assert (oracle.forward(history, 14, cold) > oracle.forward(history, 14, covariates["m1"])).all()
    # the honest model never looks at future days
    np.testing.assert_allclose(
        honest.forward(history, 14, cold), honest.forward(history, 14, covariates["m1"])
    )


def test_climatology_is_a_smooth_day_of_year_mean():
    index = pd.date_range("2020-01-01", periods=3 * 365)
    values = np.cos(2 * np.pi * index.day_of_year.to_numpy() / 365.25)
    clim = climatology(index, values)
    assert clim.shape == (367,) and np.isnan(clim[0])
    assert clim[1] > 0.9 and clim[183] < -0.9


def test_bundle_with_a_shared_model_round_trips(tmp_path):
    series, covariates = _meters(n=3, days=500)
    model = GlobalBoosting(temperature="climatology").fit(series, covariates)
    local = WeeklySES().fit(series["m1"])
    models = {"m0": model, "m1": LocalBlend(model, local, 2 / 3), "m2": NaiveBlend(model)}
    bundle = ForecastBundle("v1", models, series, covariates=covariates)
    loaded = ForecastBundle.load(bundle.save(tmp_path))
    assert loaded.models["m0"] is loaded.models["m1"].model  # pickled once
    assert loaded.model_name("m1") == "gbm_ses_blend"
    assert loaded.model_name("m2") == "gbm_naive_blend"  # artifacts trained before still load
    np.testing.assert_allclose(
        loaded.forecast("m1", 14)["forecast"].to_numpy(),
        2 / 3 * model.forward(series["m1"], 14, covariates["m1"])
        + 1 / 3 * local.forward(series["m1"], 14),
    )
    for meter in series:
        pd.testing.assert_frame_equal(bundle.forecast(meter, 14), loaded.forecast(meter, 14))
    naive = SeasonalNaive().forward(series["m2"], 14)
    blend = loaded.forecast("m2", 14)["forecast"].to_numpy()
    np.testing.assert_allclose(
        blend, 0.5 * (model.forward(series["m2"], 14, covariates["m2"]) + naive)
    )
