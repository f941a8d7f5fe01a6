"""The gate against seasonal naive: a loss is told from noise, and the baseline can stand in."""

import numpy as np
import pandas as pd
import pytest

from energy_assets.assets.evaluation import baseline_reason, report_warning
from energy_assets.ml.metrics import baseline_verdict
from energy_assets.ml.training import train_forecasters
from energy_assets.serving.artifact import load_bundle, pack_bundle


def _rolling(model_noise: float, bias: float, days: int = 28, meters: int = 3, seed: int = 0):
    """Rolling forecasts a week ahead from every test day: the baseline's errors have scale 1,
    the model's ``model_noise`` plus a constant ``bias``."""
    rng = np.random.default_rng(seed)
    rows = []
    first = pd.Timestamp("2026-01-01")
    for m in range(meters):
        for o in range(days):
            origin = first + pd.Timedelta(days=o - 1)
            for h in range(1, min(7, days - o) + 1):
                actual = 100 + rng.normal(0, 5)
                rows.append(
                    {
                        "meter_id": f"m{m}",
                        "origin": origin,
                        "date": origin + pd.Timedelta(days=h),
                        "actual": actual,
                        "baseline": actual + rng.normal(0, 1),
                        "forecast": actual + rng.normal(0, model_noise) + bias,
                        "scale": 1.0,
                    }
                )
    return pd.DataFrame(rows)


def test_a_better_model_beats_the_baseline():
    verdict = baseline_verdict(_rolling(0.5, 0.0))
    assert verdict["verdict"] == "beats" and verdict["relative_mae"] < 1
    assert verdict["days"] == 28 and verdict["meters"] == 3


def test_a_model_a_little_worse_on_28_days_is_noise():
    verdict = baseline_verdict(_rolling(1.03, 0.0, seed=2))
    assert verdict["relative_mae"] >= 1
    assert verdict["verdict"] == "noise" and verdict["p_value"] >= 0.05


def test_a_model_far_worse_every_day_is_worse():
    verdict = baseline_verdict(_rolling(1.0, 3.0))
    assert verdict["verdict"] == "worse" and verdict["p_value"] < 0.01


def test_the_baseline_against_itself_is_a_tie():
    frame = _rolling(1.0, 0.0)
    verdict = baseline_verdict(frame.assign(forecast=frame["baseline"]))
    assert verdict["relative_mae"] == pytest.approx(1.0)
    assert verdict["verdict"] == "noise"


def _bundle():
    rng = np.random.default_rng(1)
    dates = pd.date_range("2025-01-01", periods=300)
    frame = pd.concat(
        pd.DataFrame(
            {
                "meter_id": f"m{i}",
                "date": dates,
                "usage": 20 + 5 * (dates.day_of_week >= 5) + rng.normal(0, 2, 300),
            }
        )
        for i in range(2)
    )
    return train_forecasters(frame, version="v1", n_jobs=1)


def test_the_baseline_bundle_serves_seasonal_naive_with_its_own_widths_and_says_why():
    bundle = _bundle()
    assert not bundle.is_baseline and set(bundle.baseline_intervals) == {"m0", "m1"}
    baseline = bundle.as_baseline("v1-baseline", "model v1 is worse than seasonal naive")
    assert baseline.is_baseline and baseline.version == "v1-baseline"
    assert baseline.intervals == bundle.baseline_intervals
    assert baseline.note == "model v1 is worse than seasonal naive"
    ahead = baseline.forecast("m0", 7)
    assert ahead["forecast"].tolist() == pytest.approx(bundle.history["m0"].iloc[-7:].tolist())
    loaded = load_bundle(pack_bundle(baseline))
    assert loaded.is_baseline and loaded.note == baseline.note
    assert loaded.baseline_intervals == bundle.baseline_intervals


def test_the_reason_and_the_warning_of_each_verdict():
    bundle = _bundle()
    worse = {"verdict": "worse", "relative_mae": 1.2, "p_value": 0.01, "days": 28}
    assert "worse than seasonal naive" in baseline_reason({"baseline_verdict": worse}, bundle)
    noise = {"verdict": "noise", "relative_mae": 1.02, "p_value": 0.4, "days": 28}
    assert baseline_reason({"baseline_verdict": noise}, bundle) is None
    assert "within noise" in report_warning({"baseline_verdict": noise})
    beats = {"verdict": "beats", "relative_mae": 0.8, "p_value": np.nan, "days": 28}
    assert report_warning({"baseline_verdict": beats}) is None
    served = {"baseline_verdict": noise, "baseline": {"note": "no model beat it"}}
    assert report_warning(served) == "serving the seasonal-naive baseline: no model beat it"
    everything_naive = bundle.as_baseline("v2", "no model beat it")
    assert baseline_reason({"baseline_verdict": beats}, everything_naive) == "no model beat it"
