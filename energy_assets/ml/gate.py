"""The per-meter gate: a meter whose model does not beat seasonal naive on its rolling-origin
backtest is served seasonal naive.

The fleet's verdict (``metrics.baseline_verdict``) can pass a model that loses on many single
meters; the project's standard is per meter. So each meter's served model is judged against
seasonal naive on every out-of-sample forecast there is for it, each error counted alike:

- the test window, the way the endpoint is used: from the end of training and from every test
  day, the next week given the actuals up to the origin (``rolling_test_forecasts``; only
  observed test days are scored);
- training's validation backtest: the served recipe's errors on the weekly validation origins
  (fitted at the start of each block) over the first week of each forecast, beside seasonal
  naive's on the same origins and days, as the selection table keeps them
  (``mae_served_week``, ``mae_served_baseline_week``, ``n_served_week``; a week ahead like the
  test window: further ahead seasonal naive repeats a fortnight-old week, which would tilt the
  pool towards the model). Those errors also chose the model over seasonal naive in training
  (on 14 days ahead), so for a served model they lean its way; the test window is the
  evidence training did not see.

The rule, per meter:

- a meter already served seasonal naive (training found no model beating it, or it was too
  short to validate) is not judged: there is nothing to gate;
- the pooled MAE of the model (total absolute error over every scored day, test and
  validation together) against seasonal naive's on the same origins and days: the meter is
  gated, served seasonal naive, unless the model's is strictly lower. A tie is not a win (the
  simpler forecast serves), nor is a non-finite error;
- there is no minimum count: a meter is judged on whatever out-of-sample days it has (a meter
  first seen in the test window's last days, or a bundle that kept no validation errors, is
  judged on fewer). A meter with none at all (no test day scored, no validation errors kept)
  keeps what training chose: nothing says it loses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_assets.ml.metrics import baseline_verdict, forecast_test, score
from energy_assets.ml.models import SeasonalNaive

VALIDATION_COLUMNS = ("mae_served_week", "mae_served_baseline_week", "n_served_week")
COLUMNS = [
    "meter_id",
    "model",
    "test_days",
    "test_mae",
    "test_baseline_mae",
    "validation_days",
    "validation_mae",
    "validation_baseline_mae",
    "mae",
    "baseline_mae",
    "gated",
    "reason",
]


def _validation(selection: pd.DataFrame) -> pd.DataFrame:
    """Each meter's validation MAE of the served recipe and of seasonal naive on the same
    origins, and how many errors they pool (none for a bundle that did not keep them)."""
    if selection.empty or not set(VALIDATION_COLUMNS) <= set(selection.columns):
        return pd.DataFrame(columns=list(VALIDATION_COLUMNS)).rename_axis("meter_id")
    kept = selection.set_index(selection["meter_id"].astype(str))[list(VALIDATION_COLUMNS)]
    kept = kept.apply(pd.to_numeric, errors="coerce")
    return kept[(kept["n_served_week"] > 0) & kept["mae_served_week"].notna()]


def meter_gate(bundle, rolling: pd.DataFrame) -> pd.DataFrame:
    """The gate's decision for every meter ``bundle`` serves a model other than seasonal naive,
    from ``rolling`` (``rolling_test_forecasts`` of this bundle) and the validation errors in
    its selection table: the test and validation counts and MAEs, the pooled MAEs, whether the
    meter is ``gated`` (served seasonal naive) and the one-line ``reason`` a reader of its
    forecasts is shown (empty when the model serves). Rule: the module docstring."""
    per = rolling.assign(
        error=(rolling["actual"] - rolling["forecast"]).abs(),
        baseline_error=(rolling["actual"] - rolling["baseline"]).abs(),
    )
    test = per.groupby("meter_id")[["error", "baseline_error"]].agg(["sum", "count"])
    validation = _validation(bundle.selection)
    rows = []
    for meter in bundle.meters:
        name = bundle.model_name(meter)
        if name == SeasonalNaive.name:
            continue
        n_test = int(test.loc[meter, ("error", "count")]) if meter in test.index else 0
        test_sum = float(test.loc[meter, ("error", "sum")]) if n_test else 0.0
        test_base = float(test.loc[meter, ("baseline_error", "sum")]) if n_test else 0.0
        n_val, val_mae, val_base = 0, np.nan, np.nan
        if meter in validation.index:
            n_val = int(validation.loc[meter, "n_served_week"])
            val_mae = float(validation.loc[meter, "mae_served_week"])
            val_base = float(validation.loc[meter, "mae_served_baseline_week"])
        n = n_test + n_val
        if n == 0:
            model_mae = baseline_mae = np.nan
        else:
            model_mae = (test_sum + (n_val * val_mae if n_val else 0.0)) / n
            baseline_mae = (test_base + (n_val * val_base if n_val else 0.0)) / n
        gated = n > 0 and not (np.isfinite(model_mae) and model_mae < baseline_mae)
        reason = ""
        if gated:
            reason = (
                f"seasonal naive serves meter {meter}: model {name} did not beat it on the "
                f"rolling-origin backtest (MAE {model_mae:.4g} vs {baseline_mae:.4g} over "
                f"{n} forecast days: {n_test} in the test window, {n_val} in validation)"
            )
        rows.append(
            {
                "meter_id": meter,
                "model": name,
                "test_days": n_test,
                "test_mae": test_sum / n_test if n_test else np.nan,
                "test_baseline_mae": test_base / n_test if n_test else np.nan,
                "validation_days": n_val,
                "validation_mae": val_mae,
                "validation_baseline_mae": val_base,
                "mae": model_mae,
                "baseline_mae": baseline_mae,
                "gated": bool(gated),
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def served_rolling(rolling: pd.DataFrame, gated) -> pd.DataFrame:
    """``rolling`` as the gated bundle forecasts it: seasonal naive's forecast for the gated
    meters (the same origins and history give the same numbers), the model's for the rest."""
    gated_rows = rolling["meter_id"].isin(set(gated))
    return rolling.assign(forecast=rolling["forecast"].where(~gated_rows, rolling["baseline"]))


def gate_bundle(bundle, rolling: pd.DataFrame, version: str):
    """The decisions of ``meter_gate`` and the bundle to serve: ``bundle`` itself when no
    meter is gated, else ``bundle`` with seasonal naive for the gated meters (each with its
    reason as its note), named ``version``."""
    decisions = meter_gate(bundle, rolling)
    gated = decisions[decisions["gated"]]
    if gated.empty:
        return bundle, decisions
    return bundle.as_baseline(
        version, dict(zip(gated["meter_id"], gated["reason"], strict=True))
    ), decisions


def served_scores(served, train: pd.DataFrame, test: pd.DataFrame, rolling, gated) -> dict:
    """The gated bundle's test-window metrics, as ``score`` gives the model's (forecasts from
    the end of training) plus ``rolling_relative_mae`` (a week ahead from every test day).
    The gate chose on this very window, so these figures flatter the served mix: they are
    reported beside the model's, never in their place."""
    _, overall = score(forecast_test(served, train, test))
    mixed = served_rolling(rolling, gated)
    overall["rolling_relative_mae"] = baseline_verdict(mixed)["relative_mae"]
    return overall
