"""One API for every model: fit / predict / forward, hyperparameters as given, exogenous frames
by date, a global model through the same calls; the bundle answers intervals by level and
still serves artifacts of format 1."""

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.calendar import holiday_ordinals
from energy_assets.ml.forecaster import Forecaster, NotFittedError
from energy_assets.ml.gbm import GlobalBoosting, LocalBlend
from energy_assets.ml.holiday_effect import HolidayAdjusted
from energy_assets.ml.local import Combination, ProfileSES
from energy_assets.ml.models import CANDIDATES, Ensemble, SeasonalNaive, make_model
from energy_assets.ml.training import train_forecasters
from energy_assets.serving.artifact import load_bundle, pack_bundle

DATA = Path(__file__).parent / "data"
# fitted in milliseconds; the statsmodels ones (sarima, sarimax, holt_winters, ensemble) follow
# the same base class and are exercised in test_models.py
FAST = ("seasonal_naive", "ses", "ses_log", "theta", "ets", "ets_log", "weekly_ses")


def _series(days=420, seed=0, size=50.0):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=days)
    weekly = 1 + 0.3 * (index.day_of_week >= 5)
    yearly = 1 + 0.2 * np.cos(2 * np.pi * np.arange(days) / 365.25)
    return pd.Series(size * weekly * yearly * np.exp(rng.normal(0, 0.1, days)), index=index)


def _fleet(n=3, days=420):
    """Meters that heat below 16 degrees, and their temperature."""
    t = np.arange(days)
    rng = np.random.default_rng(9)
    temperature = 15 + 10 * np.cos(2 * np.pi * (t - 200) / 365.25) + rng.normal(0, 2, days)
    heat = 1 + 0.04 * np.clip(16 - temperature, 0, None)
    series = {f"m{i}": _series(days, seed=i, size=20.0 + 30 * i) * heat for i in range(n)}
    index = series["m0"].index
    exog = {m: pd.DataFrame({"temperature": temperature}, index=index) for m in series}
    return series, exog


def _models():
    holidays = holiday_ordinals("US", years=range(2023, 2027))
    yield from ((name, make_model(name)) for name in FAST)
    yield "holiday_adjusted", HolidayAdjusted(Combination([ProfileSES(log=True)]), holidays)


@pytest.mark.parametrize(
    "name,model", list(_models()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_model_answers_the_same_calls(name, model):
    y = _series()
    past, later = y.iloc[:-60], y.iloc[:-10]
    assert model.fit(past) is model
    state = pickle.dumps(model)  # the learnt parameters (the fitted series is not pickled)
    ahead = model.predict(14, level=())["forecast"].to_numpy()
    assert ahead.shape == (14,) and np.isfinite(ahead).all()
    np.testing.assert_array_equal(ahead, model.forward(past, 14))  # predict: after the fit
    moved = model.forward(later, 14)  # a later history, the same parameters
    assert not np.allclose(moved, ahead)
    assert pickle.dumps(model) == state  # forecasting refits nothing
    # exogenous frames are by date; a model that uses none ignores them
    exog = pd.DataFrame({"temperature": np.linspace(-5, 30, len(y))}, index=y.index)
    np.testing.assert_array_equal(model.forward(later, 14, exog, exog.iloc[-10:]), moved)


@pytest.mark.parametrize("name", ["seasonal_naive", "ses_log", "ets"])
def test_predict_gives_the_forecast_with_intervals_by_level(name):
    """``predict`` answers what a user of the bundle sees: dates after the fitted series, the
    forecast and, per level, bounds that widen with the level and hold on later days."""
    y = _series(days=500, seed=4)
    model = make_model(name).fit(y.iloc[:-70])
    frame = model.predict(14)
    assert list(frame.columns) == [
        "date",
        "forecast",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
    ]
    assert frame["date"].iloc[0] == y.index[-70]  # the day after the fitted series
    assert (frame["lower_95"] <= frame["lower_80"]).all()
    assert (frame["lower_80"] <= frame["forecast"]).all()
    assert (frame["forecast"] <= frame["upper_80"]).all()
    assert (frame["upper_80"] < frame["upper_95"]).all()
    # the 95% bounds hold on most of the days the model never saw (from 5 origins)
    inside = []
    for cut in range(70, 0, -14):
        fitted = make_model(name).fit(y.iloc[:-cut])
        ahead = fitted.predict(14, level=(95,))
        actual = y.iloc[len(y) - cut : len(y) - cut + 14].to_numpy()
        inside.append((ahead["lower_95"] <= actual) & (actual <= ahead["upper_95"]))
    assert np.mean(np.concatenate(inside)) >= 0.8
    assert list(model.predict(3, level=(50,)).columns) == [
        "date",
        "forecast",
        "lower_50",
        "upper_50",
    ]
    with pytest.raises(ValueError, match="between 0 and 100"):
        model.predict(3, level=(80, 120))
    with pytest.raises(ValueError, match="need 42 days of fitted history, got 30"):
        make_model("seasonal_naive").fit(y.iloc[:30]).predict(14)
    assert len(make_model("seasonal_naive").fit(y.iloc[:30]).predict(14, level=())) == 14


def test_hyperparameters_are_stored_as_given_and_a_clone_is_unfitted():
    for name, factory in CANDIDATES.items():
        model = factory()
        assert isinstance(model, Forecaster), name
        params = model.get_params()
        assert not [k for k in vars(model) if k.endswith("_")], name  # nothing learnt yet
        assert vars(model) == params, name  # nothing built or derived in __init__
        assert model.clone().get_params() == params
    # nothing is validated or built at construction: fit says what is wrong
    odd = GlobalBoosting(temperature="psychic")
    assert odd.temperature == "psychic"
    with pytest.raises(ValueError, match="temperature must be one of"):
        odd.fit(_series())
    assert vars(Ensemble()) == {}  # its members are built by fit
    members = [ProfileSES(log=True), make_model("ets")]
    combination = Combination(members)
    assert combination.members is members and combination.name == "mean(ses_log,ets)"
    combination.fit(_series())
    assert combination.members is members and "alpha_" not in vars(members[0])  # as given
    assert [m.name for m in combination.members_] == ["ses_log", "ets"]


def test_a_global_model_fits_many_series_through_the_same_call():
    series, exog = _fleet()
    model = GlobalBoosting(temperature="climatology", max_iter=30).fit(series, exog)
    ahead = model.predict(7)  # one forecast per fitted series
    assert sorted(ahead) == sorted(series)
    for meter, y in series.items():
        np.testing.assert_array_equal(ahead[meter]["forecast"], model.forward(y, 7, exog[meter]))
        assert (ahead[meter]["upper_95"] >= ahead[meter]["upper_80"]).all()
    many = model.forward({m: y.iloc[:-30] for m, y in series.items()}, 7, exog)
    np.testing.assert_array_equal(many["m1"], model.forward(series["m1"].iloc[:-30], 7, exog["m1"]))
    # one series alone is a fleet of one, through the same call
    alone = GlobalBoosting(max_iter=30).fit(series["m0"])
    assert len(alone.predict(7, level=())) == 7
    with pytest.raises(TypeError, match="local model: fit it on one series"):
        make_model("ses").fit(series)


def test_the_oracle_reads_the_days_ahead_from_X_future():
    series, exog = _fleet()
    y = series["m2"]
    oracle = GlobalBoosting(temperature="observed", max_iter=30).fit(series, exog)
    history, past = y.iloc[:-14], exog["m2"].iloc[:-14]
    cold = exog["m2"].iloc[-14:].assign(temperature=-5.0)
    chilled = oracle.forward(history, 14, past, cold)
    assert (chilled > oracle.forward(history, 14, past, exog["m2"].iloc[-14:])).all()
    # X may also run on past the history: X_future's rows win
    np.testing.assert_array_equal(oracle.forward(history, 14, exog["m2"], cold), chilled)


def test_a_blend_takes_its_parts_fitted():
    series, _ = _fleet()
    shared = GlobalBoosting(max_iter=30).fit(series)
    with pytest.raises(NotFittedError, match="fit ses first"):
        LocalBlend(shared, make_model("ses"), 0.5).fit(series["m0"])
    local = make_model("ses").fit(series["m0"])
    blend = LocalBlend(shared, local, 0.5).fit(series["m0"])
    assert blend.name == "gbm_ses_blend"
    np.testing.assert_allclose(
        blend.predict(7, level=())["forecast"],
        0.5 * shared.forward(series["m0"], 7) + 0.5 * local.predict(7, level=())["forecast"],
    )


def test_an_artifact_keeps_the_parameters_not_the_fitted_series():
    y = _series()
    model = make_model("ets").fit(y)
    loaded = pickle.loads(pickle.dumps(model))
    assert "y_" not in vars(loaded)
    np.testing.assert_array_equal(loaded.forward(y, 14), model.predict(14)["forecast"])
    with pytest.raises(NotFittedError, match="use forward"):
        loaded.predict(14)
    with pytest.raises(NotFittedError, match="not fitted"):
        make_model("ses").predict(3)


class LastTemperature(Forecaster):
    """A model whose forecast is the last observed temperature: it shows what X it is given."""

    name = "last_temperature"

    def _fit(self, y, X=None) -> None:
        self.n_ = len(y)

    def _forward(self, y, h, X=None, X_future=None):
        return np.full(h, float(X["temperature"].reindex(y.index).iloc[-1]))


def test_the_bundle_gives_every_model_its_exogenous_frame_and_answers_levels():
    y = _series(60)
    exog = pd.DataFrame({"temperature": np.arange(60.0)}, index=y.index)
    bundle = ForecastBundle(
        "v",
        {"warm": LastTemperature().fit(y, exog), "plain": SeasonalNaive().fit(y)},
        {"warm": y, "plain": y},
        intervals={"warm": {"80": 1.0, "95": 3.0}, "plain": {"80": 2.0, "95": 4.0}},
        covariates={"warm": exog, "plain": exog},
    )
    assert bundle.forecast("warm", 3)["forecast"].tolist() == [59.0] * 3
    inside = bundle.forecast("warm", 2, start=y.index[30])  # X only up to that origin matters
    assert inside["forecast"].tolist() == [29.0, 29.0]
    assert bundle.forecast("plain", 7)["forecast"].tolist() == y.iloc[-7:].tolist()
    both = bundle.forecast("warm", 3)
    assert [c for c in both if c.startswith(("lower", "upper"))] == [
        "lower_80", "upper_80", "lower_95", "upper_95"
    ]  # fmt: skip
    only = bundle.forecast("warm", 3, level=(95,))
    assert [c for c in only if c.startswith(("lower", "upper"))] == ["lower_95", "upper_95"]
    assert (only["upper_95"] - only["forecast"]).tolist() == pytest.approx(
        (both["upper_95"] - both["forecast"]).tolist()
    )
    with pytest.raises(ValueError, match="no 90% interval for meter 'warm' \\(levels: 80, 95\\)"):
        bundle.forecast("warm", 3, level=(90,))


def test_training_facts_are_typed_and_travel_with_the_artifact():
    frame = pd.concat(
        pd.DataFrame({"meter_id": m, "date": y.index, "usage": y.to_numpy()})
        for m, y in _fleet(n=2, days=200)[0].items()
    )
    bundle = train_forecasters(frame, version="v2", n_jobs=1, country="US")
    facts = bundle.training
    assert facts.holidays.country == "US" and facts.holidays.days > 0
    assert facts.validation.candidates[0] == "seasonal_naive"
    assert facts.validation.global_model is False and facts.blend_weight == 0.0
    assert facts.interval_quantiles.keys() == {"80", "95"}
    loaded = load_bundle(pack_bundle(bundle))
    assert loaded.training == facts and loaded.note == "" and loaded.instead_of is None
    baseline = load_bundle(pack_bundle(bundle.as_baseline("v2-baseline", "worse than naive")))
    assert baseline.is_baseline and baseline.note == "worse than naive"
    assert baseline.instead_of == "v2" and baseline.training == facts


@pytest.mark.parametrize("name", ["format1_fleet", "format1_baseline"])
def test_artifacts_of_format_1_load_and_forecast_as_they_did(name, tmp_path):
    """Artifacts written by the code before this API (main bc9774c: models with ``forecast``,
    the global model with ``fit_many``, the training facts in ``extra``), beside the forecasts
    that code served from them: the new code serves the very same numbers."""
    bundle = load_bundle((DATA / f"{name}.tar.gz").read_bytes())
    expected = json.loads((DATA / f"{name}.json").read_text())
    assert bundle.note == expected["note"]
    assert bundle.instead_of == expected["extra"].get("instead_of")
    extra = expected["extra"]
    assert bundle.training.blend_weight == extra["blend"]["global_weight"]
    assert bundle.training.gbm_params == extra["gbm_params"]
    assert bundle.training.validation.candidates == tuple(extra["validation"]["candidates"])
    resaved = ForecastBundle.load(bundle.save(tmp_path))  # and as format 2
    for meter, served in expected["meters"].items():
        assert bundle.model_name(meter) == resaved.model_name(meter) == served["model"]
        for forecast in served["forecasts"].values():
            for loaded in (bundle, resaved):
                got = loaded.forecast(meter, 7, start=forecast["start"])
                assert got["date"].dt.strftime("%Y-%m-%d").tolist() == forecast["date"]
                for column in set(forecast) - {"start", "date"}:
                    assert got[column].tolist() == forecast[column], (meter, column)
    assert resaved.training == bundle.training and resaved.note == bundle.note
