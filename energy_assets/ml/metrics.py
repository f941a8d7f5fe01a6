"""Test-window accuracy of a bundle beside seasonal naive, per meter and pooled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.models import SeasonalNaive


def mae(actual, forecast) -> float:
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))))


def mse(actual, forecast) -> float:
    return float(np.mean((np.asarray(actual, float) - np.asarray(forecast, float)) ** 2))


def rmse(actual, forecast) -> float:
    return float(np.sqrt(mse(actual, forecast)))


def forecast_test(bundle: ForecastBundle, train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Multi-step forecasts from the end of training over each meter's test days.

    The baseline is seasonal naive from the same origin on the same history, so the two columns
    are comparable row by row.
    """
    naive = SeasonalNaive()
    history = {
        m: pd.Series(g["usage"].to_numpy(float), index=pd.DatetimeIndex(g["date"]))
        for m, g in train.sort_values("date").groupby("meter_id", sort=False)
    }
    frames = []
    for meter, actual in test.sort_values("date").groupby("meter_id", sort=True):
        if meter not in history or meter not in bundle.models:
            continue
        past = history[meter]
        start = past.index[-1] + pd.Timedelta(days=1)
        horizon = (actual["date"].max() - start).days + 1
        dates = pd.date_range(start, periods=horizon, freq="D")
        model = bundle.models[meter].forecast(past, horizon)
        baseline = naive.forecast(past, horizon)
        predicted = pd.DataFrame({"date": dates, "forecast": model, "baseline": baseline})
        merged = actual[["date", "usage"]].merge(predicted, on="date", how="inner")
        frames.append(merged.rename(columns={"usage": "actual"}).assign(meter_id=meter))
    if not frames:
        raise ValueError("no meter has both training history and test days")
    columns = ["meter_id", "date", "actual", "forecast", "baseline"]
    return pd.concat(frames, ignore_index=True)[columns]


def _scores(frame: pd.DataFrame) -> dict[str, float]:
    out = {"n": int(len(frame))}
    for prefix, column in (("", "forecast"), ("baseline_", "baseline")):
        out[f"{prefix}mae"] = mae(frame["actual"], frame[column])
        out[f"{prefix}mse"] = mse(frame["actual"], frame[column])
        out[f"{prefix}rmse"] = rmse(frame["actual"], frame[column])
    out["mae_ratio"] = out["mae"] / out["baseline_mae"] if out["baseline_mae"] > 0 else np.nan
    return out


def score(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-meter and pooled MAE, MSE, RMSE of the model and the baseline, the pooled MAE ratio,
    and ``relative_mae``: the geometric mean over meters of model MAE / baseline MAE, which
    weighs a small household like a large building."""
    per_meter = pd.DataFrame(
        [{"meter_id": m, **_scores(g)} for m, g in frame.groupby("meter_id", sort=True)]
    )
    overall = _scores(frame)
    ratios = per_meter["mae_ratio"].to_numpy(float)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    overall["relative_mae"] = float(np.exp(np.log(ratios).mean())) if len(ratios) else np.nan
    return per_meter, overall
