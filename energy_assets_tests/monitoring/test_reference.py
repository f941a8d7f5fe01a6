"""The reference error and realised forecasts from ``forward_origins`` are what the endpoint
answers from each origin: compared with the computation they replaced (a ``forecast`` call per
meter and day, kept here as the oracle) on an artifact that holds every model class."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_backend

from energy_assets.ml import monitoring as mon
from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.models import SeasonalNaive
from energy_assets.ml.synthetic import generate_usage
from energy_assets.serving.artifact import load_bundle

DATA = Path(__file__).parents[1] / "ml" / "data"


@pytest.fixture(scope="module")
def fleet():
    """Six meters: the global model alone, blended with a holiday-adjusted local mean, with
    seasonal naive, an ensemble with SARIMA, WeeklySES and Theta (ml/data/README.md)."""
    return load_bundle((DATA / "format1_fleet.tar.gz").read_bytes())


def _served(bundle, meter, series, days, lead):
    """The old computation: the endpoint's forecast of each day from the actuals before it."""
    known = replace(bundle, history={**bundle.history, meter: series})
    rows = [
        known.forecast(meter, lead, start=day - pd.Timedelta(days=lead - 1)).iloc[-1]
        for day in days
    ]
    return pd.DataFrame(rows).reset_index(drop=True)


def _old_reference(bundle, days, lead):
    scale, sigma, frames = {}, {}, []
    for meter in bundle.meters:
        series = bundle.history[meter]
        scale[meter] = mon.mase_scale(series.to_numpy()[:-days])
        target = series.index[-days:]
        forecast = _served(bundle, meter, series, target, lead)["forecast"].to_numpy(float)
        residual = series.loc[target].to_numpy() - forecast
        sigma[meter] = float(np.std(residual, ddof=1))
        frames.append(pd.DataFrame({"date": target, "scaled": np.abs(residual) / scale[meter]}))
    daily = pd.concat(frames).groupby("date")["scaled"].mean()
    return scale, sigma, float(daily.mean()), float(daily.std(ddof=1))


def _long_series(meter_index: int, days: int = 460) -> pd.Series:
    frame = generate_usage(n_meters=1, n_days=days, seed=meter_index, bad_rows=False)
    usage = pd.to_numeric(frame["usage"], errors="coerce").to_numpy(float)
    index = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
    return pd.Series(usage, index=index).asfreq("D").interpolate().bfill()


@pytest.mark.parametrize("h", [1, 3])
def test_forward_origins_is_forward_from_each_origin(fleet, h):
    """Every model class, origins with short histories, windows just under, at and over a
    year (the local models keep 365 days, the global model 400), batched and not."""
    origins = np.r_[30, 200, 362:367, 398:402, 430:450]
    for i, meter in enumerate(fleet.meters):
        model, covariates = fleet.models[meter], fleet.covariates.get(meter)
        series = _long_series(i)
        expected = np.array([model.forward(series.iloc[: o + 1], h, covariates) for o in origins])
        found = model.forward_origins(series, origins, h, covariates)
        assert found.shape == (len(origins), h)
        assert found == pytest.approx(expected, rel=1e-9, abs=1e-9), (meter, model.name)


def test_forward_origins_refuses_origins_outside_the_series(fleet):
    model = fleet.models[fleet.meters[0]]
    series = fleet.history[fleet.meters[0]]
    with pytest.raises(ValueError, match="origins must lie in the"):
        model.forward_origins(series, [len(series)], 1)


@pytest.mark.parametrize("lead", [1, 2])
def test_reference_is_the_endpoints_error_from_each_day_before(fleet, lead, monkeypatch):
    scale, sigma, daily_mean, daily_std = _old_reference(fleet, 28, lead)
    ref = mon.reference(fleet, days=28, lead=lead)
    assert ref.scale == pytest.approx(scale) and ref.sigma == pytest.approx(sigma, rel=1e-9)
    assert ref.daily_mean == pytest.approx(daily_mean, rel=1e-9) and ref.mase == ref.daily_mean
    assert ref.daily_std == pytest.approx(daily_std, rel=1e-9)
    assert ref.days == 28 and ref.lead == lead and ref.measures(28, lead)
    # the same figures from meters scored in chunks by workers (threads here: processes
    # would cost the test seconds to start)
    monkeypatch.setattr(mon, "PARALLEL_MIN_METERS", 1)
    with parallel_backend("threading", n_jobs=2):
        assert mon.reference(fleet, days=28, lead=lead, n_jobs=2) == ref


def test_realised_rows_are_the_endpoints_forecasts_and_bands(fleet):
    """Realised rows after the history: the forecast and 95% band the endpoint gives from the
    actuals known the day before, for every model class."""
    frames = []
    for meter in fleet.meters:
        history = fleet.history[meter]
        days = pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=5, freq="D")
        usage = history.to_numpy()[-5:] * 1.1
        frames.append(pd.DataFrame({"meter_id": meter, "date": days, "usage": usage}))
    clean = pd.concat(frames, ignore_index=True).assign(imputed=False)
    ref = mon.reference(fleet, days=28)
    rows = mon.realised(fleet, clean, ref, lead=1)
    assert len(rows) == 5 * len(fleet.meters)
    for meter, got in rows.groupby("meter_id"):
        new = clean[clean["meter_id"] == meter]
        series = pd.concat(
            [fleet.history[meter], pd.Series(new["usage"].to_numpy(), index=new["date"])]
        )
        expected = _served(fleet, meter, series, pd.DatetimeIndex(new["date"]), 1)
        for column in ("forecast", "lower_95", "upper_95"):
            assert got[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-9)


def test_a_meter_that_joined_late_is_scored_on_the_days_its_model_can_forecast():
    """A meter with ten days of history (served seasonal naive, which needs a week) beside one
    with a long history: the reference scores the new meter's last three days, not none, and
    the other meter's last 56 as ever."""
    weekly = np.tile([10.0, 11, 12, 13, 14, 20, 21], 20) + np.arange(140) * 0.1
    old = pd.Series(weekly, index=pd.date_range("2025-01-01", periods=140, freq="D"))
    new = old.iloc[-10:] * 2
    bundle = ForecastBundle(
        version="v",
        models={"old": SeasonalNaive().fit(old), "new": SeasonalNaive().fit(new)},
        history={"old": old, "new": new},
    )
    ref = mon.reference(bundle, days=56)
    # seasonal naive misses the trend by a week's rise: 0.7 on the old meter (its scale, so a
    # scaled error of 1), 1.4 on the new one (no days before the window: scale 1)
    assert ref.scale["old"] == pytest.approx(0.7) and ref.scale["new"] == 1.0
    assert ref.sigma["old"] == pytest.approx(0.0, abs=1e-9)
    assert ref.sigma["new"] == pytest.approx(0.0, abs=1e-9)
    # 53 days of the old meter alone, then three days of both: (1 + 1.4) / 2
    assert ref.daily_mean == pytest.approx((53 * 1.0 + 3 * 1.2) / 56)
