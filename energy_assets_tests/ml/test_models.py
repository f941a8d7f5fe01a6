import numpy as np
import pandas as pd
import pytest

from energy_assets.ml.bundle import FORMAT_VERSION, ForecastBundle, UnknownMeterError
from energy_assets.ml.models import (
    Ensemble,
    HoltWinters,
    Sarima,
    Sarimax,
    SeasonalNaive,
    WeeklySES,
    make_model,
)
from energy_assets.ml.synthetic import generate_usage


def _seasonal(days=500, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    values = 100 + 15 * np.sin(2 * np.pi * t / 7) + 10 * np.sin(2 * np.pi * t / 365)
    index = pd.date_range("2024-01-01", periods=days)
    return pd.Series(values + rng.normal(0, 4, days), index=index)


def test_seasonal_naive_repeats_the_last_week():
    y = pd.Series(np.arange(14.0), index=pd.date_range("2025-01-01", periods=14))
    forecast = SeasonalNaive().fit(y).forward(y, 10)
    assert forecast.tolist() == [7, 8, 9, 10, 11, 12, 13, 7, 8, 9]
    with pytest.raises(ValueError, match="7 days"):
        SeasonalNaive().fit(y.iloc[:3])


@pytest.mark.parametrize("model", [Sarima(), Sarimax(), HoltWinters(), Ensemble(), WeeklySES()])
def test_models_beat_seasonal_naive_on_a_noisy_weekly_series(model):
    y = _seasonal()
    past, future = y.iloc[:-28], y.iloc[-28:].to_numpy()
    error = np.mean(np.abs(model.fit(past).forward(past, 28) - future))
    naive = np.mean(np.abs(SeasonalNaive().fit(past).forward(past, 28) - future))
    assert error < 0.95 * naive


def test_ses_follows_a_level_shift_and_keeps_the_weekly_profile():
    rng = np.random.default_rng(2)
    week = np.array([10.0, 12, 14, 12, 10, 4, 3])
    level = np.r_[np.full(300, 1.0), np.full(60, 1.5)]  # a 50% step 60 days before the end
    y = pd.Series(
        np.tile(week, 52)[:360] * level + rng.normal(0, 0.5, 360),
        index=pd.date_range("2024-01-01", periods=360),
    )
    model = WeeklySES().fit(y)
    assert 0.02 <= model.alpha_ <= 0.5
    forecast = model.forward(y, 14)
    expected = np.tile(week * 1.5, 3)[360 % 7 : 360 % 7 + 14]
    assert np.mean(np.abs(forecast - expected)) < 0.08 * expected.mean()
    # nothing positive to scale a profile by: the last week again
    zeros = pd.Series(np.zeros(60), index=pd.date_range("2024-01-01", periods=60))
    assert WeeklySES().fit(zeros).forward(zeros, 9).tolist() == [0.0] * 9


def test_fitted_models_forecast_from_any_history_without_refitting():
    y = _seasonal()
    model = Sarima().fit(y.iloc[:-60])
    params = model.params_.copy()
    a = model.forward(y.iloc[:-30], 7)
    b = model.forward(y, 7)
    assert not np.allclose(a, b)
    assert np.array_equal(model.params_, params)


def test_sarimax_chooses_its_order_and_uses_holidays_ahead():
    y = _seasonal(days=400, seed=1)
    model = make_model("sarimax")
    y[model.exog(pd.DatetimeIndex(y.index))[:, 0] == 1] -= 40.0  # usage drops on US holidays
    past = y.loc[:"2024-12-10"]
    model.fit(past)
    assert model.order_ in model.orders and np.isfinite(model.aic_)
    exog = model.exog(pd.DatetimeIndex(["2024-12-24", "2024-12-25"]))
    assert exog[:, 0].tolist() == [0.0, 1.0] and exog.shape[1] == 1 + 2 * model.fourier
    forecast = model.forward(past, 21)  # 2024-12-11 .. 2024-12-31
    christmas, same_weekday_before = forecast[14], forecast[7]
    assert christmas < same_weekday_before - 20  # the holiday effect reaches the forecast


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model"):
        make_model("prophecy")


def test_bundle_round_trip_and_forecast_origins(tmp_path):
    y = _seasonal(200)
    bundle = ForecastBundle("v7", {"m": SeasonalNaive().fit(y)}, {"m": y})
    loaded = ForecastBundle.load(bundle.save(tmp_path))
    assert loaded.version == "v7" and loaded.meters == ["m"]
    default = loaded.forecast("m", 3)
    assert default["date"].iloc[0] == y.index[-1] + pd.Timedelta(days=1)
    assert default["forecast"].tolist() == pytest.approx(y.iloc[-7:-4].tolist())
    inside = loaded.forecast("m", 2, start=y.index[100])
    assert inside["forecast"].tolist() == pytest.approx(y.iloc[93:95].tolist())
    later = loaded.forecast("m", 2, start=y.index[-1] + pd.Timedelta(days=3))
    assert later["forecast"].tolist() == pytest.approx(y.iloc[-5:-3].tolist())
    with pytest.raises(UnknownMeterError):
        loaded.forecast("nope", 3)
    with pytest.raises(ValueError, match="before the first"):
        loaded.forecast("m", 3, start="1999-01-01")


def test_bundle_refuses_another_format(tmp_path):
    folder = ForecastBundle("v", {"m": SeasonalNaive().fit(_seasonal(20))}, {"m": _seasonal(20)})
    folder = folder.save(tmp_path)
    manifest = (
        (folder / "manifest.json")
        .read_text()
        .replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99')
    )
    (folder / "manifest.json").write_text(manifest)
    with pytest.raises(ValueError, match="format 99"):
        ForecastBundle.load(folder)


def test_generator_is_deterministic_and_has_every_fault():
    a = generate_usage(n_meters=4, n_days=400, seed=3)
    b = generate_usage(n_meters=4, n_days=400, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a["meter_id"].nunique() == 4
    usage = a["usage"].astype(str)
    numeric = pd.to_numeric(usage, errors="coerce")
    assert (usage == "").any() and (usage == "n/a").any() and (numeric < 0).any()
    assert a["date"].str.contains("T00:00:00").any() and (a["date"] == "not-a-date").any()
    good = a[numeric > 0].assign(usage=numeric, date=pd.to_datetime(a["date"], errors="coerce"))
    weekly = good.groupby(good["date"].dt.day_of_week)["usage"].mean()
    assert weekly.max() / weekly.min() > 1.02  # a weekly pattern is there


def test_prophet_is_a_candidate_exactly_when_installed():
    from energy_assets.ml.models import CANDIDATES, prophet_installed

    assert ("prophet" in CANDIDATES) == prophet_installed()
    if not prophet_installed():
        with pytest.raises(ValueError, match="unknown model 'prophet'"):
            make_model("prophet")
        return
    y = _seasonal(400)
    forecast = make_model("prophet").fit(y.iloc[:-14]).predict(14, level=())["forecast"]
    assert forecast.shape == (14,) and np.isfinite(forecast).all()
