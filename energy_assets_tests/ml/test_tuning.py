import numpy as np
import pandas as pd
import pytest

from energy_assets.ml.selection import (
    beats_baseline,
    blend_weight,
    local_recipe,
)
from energy_assets.ml.training import train_forecasters
from energy_assets.ml.validation import ValidationPlan, origin_positions


def _frame(days=600, seed=0, meters=3):
    """Meters with weekly and yearly cycles and noise, and one that repeats its week exactly
    (seasonal naive cannot be beaten there)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=days)
    t = np.arange(days)
    frames = []
    for i in range(meters):
        y = (20 + 10 * (i % 4)) * (1 + 0.3 * (dates.day_of_week >= 5)) * (
            1 + 0.3 * np.cos(2 * np.pi * t / 365.25)
        ) + rng.normal(0, 2 + i % 4, days)
        frames.append(pd.DataFrame({"meter_id": f"m{i}", "date": dates, "usage": y}))
    week = np.array([5.0, 6, 7, 8, 9, 3, 2])
    frames.append(pd.DataFrame({"meter_id": "flat", "date": dates, "usage": week[t % 7]}))
    return pd.concat(frames, ignore_index=True)


def test_validation_origins_are_weekly_inside_the_window():
    assert origin_positions(100, 28, 14) == [71, 78, 85]
    assert origin_positions(100, 56, 14) == [43, 50, 57, 64, 71, 78, 85]


def test_the_plan_uses_as_many_origins_as_the_history_allows():
    plan = ValidationPlan(horizon=14, days=182, refits=2, min_fit=42)
    assert len(plan.origins(365)) == 25  # half a year of weekly origins
    assert plan.origins(120)[0] == 120 - 1 - (120 - 1 - 42)  # the first fit keeps 42 days
    assert plan.origins(50) == []  # too short to validate
    blocks = plan.blocks(365)
    assert len(blocks) == 2 and blocks[0] + blocks[1] == plan.origins(365)
    assert blocks[0][-1] < blocks[1][0]


def test_the_default_combination_unless_a_single_model_is_clearly_better():
    rng = np.random.default_rng(0)
    e = {n: rng.normal(0, 1, 140) for n in ("ses", "ses_log", "ets", "theta")}
    default = ("ses_log", "ets")
    assert local_recipe(e, default, e) == default
    clearly = {**e, "theta": e["theta"] * 0.3}
    assert local_recipe(clearly, default, clearly) == ("theta",)
    failed = {k: v for k, v in e.items() if k != "ets"}
    assert local_recipe(failed, default, failed) == ("ses_log",)
    assert local_recipe({}, default, ()) == ()


def test_the_blend_weight_is_chosen_for_the_fleet():
    rng = np.random.default_rng(4)

    def errors(scale, meters=20):
        return {f"m{i}": rng.normal(0, scale, 98) for i in range(meters)}

    naive = errors(2.0)
    # independent errors of the same size: their mean halves the variance
    weight, scores = blend_weight(errors(1.0), errors(1.0), naive)
    assert weight == 0.5 and scores[0.5] < scores[0.0]
    # a global model far worse than the local models: no blend
    assert blend_weight(errors(1.0), errors(5.0), naive)[0] == 0.0
    # far better: the global model alone
    assert blend_weight(errors(5.0), errors(1.0), naive)[0] == 1.0


def test_a_model_serves_only_where_it_beats_the_baseline():
    assert beats_baseline(np.ones(10), np.full(10, 2.0))
    assert not beats_baseline(np.full(10, 2.0), np.full(10, 2.0))  # a tie is no win
    assert not beats_baseline(np.full(10, 1.9), np.full(10, 2.0), margin=0.1)
    assert not beats_baseline(None, np.ones(3))


def test_a_fleet_tunes_the_global_model_and_blends_it():
    frame = _frame(meters=9)
    good = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20}
    useless = {"max_iter": 1, "learning_rate": 0.01, "max_leaf_nodes": 2, "min_samples_leaf": 20}
    messages = []
    bundle = train_forecasters(
        frame, version="v", n_jobs=1, gbm_grid=(useless, good), log=messages.append
    )
    tuning = pd.DataFrame(list(bundle.training.tuning))
    assert len(tuning) == 2 and tuning["relative_mae"].iloc[1] < tuning["relative_mae"].iloc[0]
    assert bundle.training.gbm_params["max_iter"] == 100  # the better grid point is kept
    assert any("global model weight in the blend" in m for m in messages)
    selection = bundle.selection.set_index("meter_id")
    assert selection.loc["flat", "chosen"] == "seasonal_naive"  # nothing beats a perfect repeat
    assert selection.loc["flat", "mae_seasonal_naive"] == pytest.approx(0)
    noisy = selection.drop(index="flat")
    assert (noisy["mae_served"] < noisy["mae_seasonal_naive"]).all()
    assert (noisy["origins"] == 25).all()
    weight = bundle.training.blend_weight
    assert weight > 0
    expected = "gbm" if weight == 1 else "gbm_mean(ses_log,ets)_blend"
    assert set(noisy["chosen"]) <= {expected, "mean(ses_log,ets)"}
    for meter, row in selection.iterrows():
        assert bundle.model_name(meter) == row["chosen"]
    assert bundle.model_name("flat") == "seasonal_naive"
    assert bundle.forecast("flat", 7)["forecast"].tolist() == pytest.approx(
        bundle.history["flat"].iloc[-7:].tolist()
    )


def test_a_few_meters_with_a_year_are_served_local_models():
    frame = _frame(days=365)
    messages = []
    bundle = train_forecasters(frame, version="v", n_jobs=1, log=messages.append)
    assert any("global model skipped" in m for m in messages)
    assert bundle.training.validation.global_model is False
    chosen = bundle.selection.set_index("meter_id")["chosen"]
    assert chosen["flat"] == "seasonal_naive"
    assert set(chosen.drop(index="flat")) <= {"mean(ses_log,ets)", "ses", "theta", "ses_log"}


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
