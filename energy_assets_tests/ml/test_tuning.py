import numpy as np
import pandas as pd
import pytest

from energy_assets.ml.training import _blend_weight, choose, origin_positions, train_forecasters


def _frame(days=600, seed=0):
    """Three meters with weekly and yearly cycles and noise, and one that repeats its week
    exactly (seasonal naive cannot be beaten there)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=days)
    t = np.arange(days)
    frames = []
    for i in range(3):
        y = (20 + 10 * i) * (1 + 0.3 * (dates.day_of_week >= 5)) * (
            1 + 0.3 * np.cos(2 * np.pi * t / 365.25)
        ) + rng.normal(0, 2 + i, days)
        frames.append(pd.DataFrame({"meter_id": f"m{i}", "date": dates, "usage": y}))
    week = np.array([5.0, 6, 7, 8, 9, 3, 2])
    frames.append(pd.DataFrame({"meter_id": "flat", "date": dates, "usage": week[t % 7]}))
    return pd.concat(frames, ignore_index=True)


def test_the_fallback_rule():
    assert choose({"seasonal_naive": 1.0, "gbm": 1.0}) == "seasonal_naive"  # a tie
    assert choose({"seasonal_naive": 1.0, "gbm": 1.2}) == "seasonal_naive"
    assert choose({"seasonal_naive": 1.0, "gbm": np.nan}) == "seasonal_naive"  # failed
    assert choose({"seasonal_naive": 1.0, "gbm": 0.9, "ets": 0.95}) == "gbm"
    assert choose({"seasonal_naive": 1.0, "gbm": 0.97}, margin=0.05) == "seasonal_naive"


def test_validation_origins_are_weekly_inside_the_window():
    assert origin_positions(100, 28, 14) == [71, 78, 85]
    assert origin_positions(100, 56, 14) == [43, 50, 57, 64, 71, 78, 85]


def test_training_tunes_the_global_model_and_chooses_per_meter():
    frame = _frame()
    good = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20}
    useless = {"max_iter": 1, "learning_rate": 0.01, "max_leaf_nodes": 2, "min_samples_leaf": 20}
    messages = []
    bundle = train_forecasters(
        frame, version="v", n_jobs=1, gbm_grid=(useless, good), log=messages.append
    )
    tuning = pd.DataFrame(bundle.extra["tuning"])
    assert len(tuning) == 2 and tuning["relative_mae"].iloc[1] < tuning["relative_mae"].iloc[0]
    assert bundle.extra["gbm_params"]["max_iter"] == 100  # the better grid point is kept
    assert any("validation relative MAE" in m for m in messages)
    selection = bundle.selection.set_index("meter_id")
    assert selection.loc["flat", "chosen"] == "seasonal_naive"  # nothing beats a perfect repeat
    assert selection.loc["flat", "mae_seasonal_naive"] == pytest.approx(0)
    noisy = selection.drop(index="flat")
    assert noisy["chosen"].isin(["gbm", "gbm_ses_blend"]).all()
    assert (noisy["mae_gbm"] < noisy["mae_seasonal_naive"]).all()
    # served models: one shared global model object, seasonal naive for the flat meter
    assert bundle.model_name("flat") == "seasonal_naive"
    assert bundle.forecast("flat", 7)["forecast"].tolist() == pytest.approx(
        bundle.history["flat"].iloc[-7:].tolist()
    )


def test_intervals_cover_about_80_percent_of_later_actuals():
    frame = _frame(days=700, seed=3)
    cut = pd.Timestamp("2023-01-01") + pd.Timedelta(days=560)
    train, later = frame[frame["date"] < cut], frame[frame["date"] >= cut]
    bundle = train_forecasters(train, version="v", n_jobs=1, recent=later)
    inside, total = 0, 0
    for meter in ["m0", "m1", "m2"]:
        actual = later[later["meter_id"] == meter].set_index("date")["usage"]
        widths = bundle.intervals[meter]
        assert 0 < widths["80"] < widths["95"]
        for start in pd.date_range(cut, periods=9, freq="14D"):
            predicted = bundle.forecast(meter, 14, start=start).set_index("date")
            truth = actual.reindex(predicted.index)
            inside += int(truth.between(predicted["lower_80"], predicted["upper_80"]).sum())
            total += len(truth)
    assert 0.68 <= inside / total <= 0.92


def test_the_blend_weight_is_chosen_for_the_fleet():
    rng = np.random.default_rng(4)

    def residuals(partner_scale):
        return {
            f"m{i}": {
                "seasonal_naive": rng.normal(0, 2, 56),
                "gbm": rng.normal(0, 1, 56),
                "ses": rng.normal(0, partner_scale, 56),
            }
            for i in range(20)
        }

    # independent errors of the same size: their mean halves the variance
    assert _blend_weight(residuals(1.0), "ses", lambda m: None) == 0.5
    # a partner far worse than the global model: no blend
    assert _blend_weight(residuals(5.0), "ses", lambda m: None) is None


def test_the_blend_is_served_where_it_wins_and_can_be_turned_off():
    frame = _frame()
    messages = []
    bundle = train_forecasters(frame, version="v", n_jobs=1, log=messages.append)
    assert bundle.extra["blend"]["partner"] == "ses"
    assert any("blend of the global model and ses" in m for m in messages)
    selection = bundle.selection.set_index("meter_id")
    for meter, row in selection.iterrows():
        assert bundle.model_name(meter) == row["chosen"]
    off = train_forecasters(frame, version="v", n_jobs=1, blend_partner=None)
    assert "mae_gbm_ses_blend" not in off.selection
    assert off.extra["blend"] == {"partner": None, "global_weight": None}
    assert set(off.selection["chosen"]) <= {"gbm", "seasonal_naive"}
