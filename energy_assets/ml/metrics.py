"""Test-window accuracy of a bundle beside seasonal naive, per meter and pooled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.models import SeasonalNaive
from energy_assets.ml.selection import geometric_mean
from energy_assets.ml.series import meter_series


def mae(actual, forecast) -> float:
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))))


def mse(actual, forecast) -> float:
    return float(np.mean((np.asarray(actual, float) - np.asarray(forecast, float)) ** 2))


def rmse(actual, forecast) -> float:
    return float(np.sqrt(mse(actual, forecast)))


def mape(actual, forecast, floor: float = 1e-9) -> float:
    """Mean absolute percentage error over the days with usage above ``floor`` (a zero reading
    has no percentage error); NaN when there are none."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    keep = np.abs(actual) > floor
    if not keep.any():
        return np.nan
    return float(np.mean(np.abs(actual[keep] - forecast[keep]) / np.abs(actual[keep])) * 100)


def naive_scale(history: pd.Series, season: int = 7) -> float:
    """In-sample MAE of seasonal naive on the training history: the MASE denominator."""
    values = np.asarray(history, float)
    if len(values) <= season:
        return np.nan
    return float(np.mean(np.abs(values[season:] - values[:-season])))


def forecast_test(bundle: ForecastBundle, train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Multi-step forecasts from the end of training over each meter's test days, with the
    bundle's 80% and 95% intervals and the meter's MASE scale.

    The baseline is seasonal naive from the same origin on the same history, so the two columns
    are comparable row by row.
    """
    naive = SeasonalNaive()
    history = meter_series(train)
    frames = []
    for meter, actual in test.sort_values("date").groupby("meter_id", sort=True):
        if meter not in history or meter not in bundle.models:
            continue
        past = history[meter]
        start = past.index[-1] + pd.Timedelta(days=1)
        horizon = (actual["date"].max() - start).days + 1
        dates = pd.date_range(start, periods=horizon, freq="D")
        model = bundle.forward(meter, past, horizon)
        baseline = naive.forward(past, horizon)
        predicted = pd.DataFrame({"date": dates, "forecast": model, "baseline": baseline})
        widths = bundle.halfwidths(meter, past, dates)
        for level in ("80", "95"):
            half = widths.get(level, np.nan)
            predicted[f"lower_{level}"] = np.clip(model - half, 0, None)
            predicted[f"upper_{level}"] = model + half
        merged = actual[["date", "usage"]].merge(predicted, on="date", how="inner")
        merged = merged.rename(columns={"usage": "actual"}).assign(
            meter_id=meter, scale=naive_scale(past)
        )
        frames.append(merged)
    if not frames:
        raise ValueError("no meter has both training history and test days")
    columns = ["meter_id", "date", "actual", "forecast", "baseline"]
    bands = ["lower_80", "upper_80", "lower_95", "upper_95", "scale"]
    return pd.concat(frames, ignore_index=True)[columns + bands]


def rolling_test_forecasts(
    bundle: ForecastBundle, train: pd.DataFrame, test: pd.DataFrame, horizon: int = 7
) -> pd.DataFrame:
    """Forecasts over the test window the way the endpoint is used day to day: from every
    test-window origin (the end of training, then each test day), the next ``horizon`` days
    given the actuals up to the origin, beside seasonal naive's from the same origin. Columns
    ``meter_id, origin, date, actual, forecast, baseline, scale`` (the meter's MASE scale).

    This is what monitoring judges (next-day forecasts from the latest actual) plus the week
    ahead, where ``forecast_test`` scores one long forecast from the end of training."""
    known = pd.concat([train, test]).drop_duplicates(["meter_id", "date"], keep="last")
    first_test_day = test.groupby("meter_id")["date"].min()
    naive = SeasonalNaive()
    frames = []
    for meter, series in meter_series(known).items():
        if meter not in bundle.models or meter not in first_test_day:
            continue
        series = series.asfreq("D").interpolate(limit_direction="both")
        first = series.index.get_loc(first_test_day[meter])
        if first < naive.season_length:
            continue  # no week before the test window: nothing to compare with
        scale = naive_scale(series.iloc[:first])
        for position in range(first - 1, len(series) - 1):
            context = series.iloc[: position + 1]
            steps = min(horizon, len(series) - 1 - position)
            frames.append(
                pd.DataFrame(
                    {
                        "meter_id": meter,
                        "origin": series.index[position],
                        "date": series.index[position + 1 : position + 1 + steps],
                        "actual": series.iloc[position + 1 : position + 1 + steps].to_numpy(),
                        "forecast": bundle.forward(meter, context, steps),
                        "baseline": naive.forward(context, steps),
                        "scale": scale,
                    }
                )
            )
    if not frames:
        raise ValueError("no meter has both training history and test days")
    out = pd.concat(frames, ignore_index=True)
    # only observed test days are scored (a gap filled for the context is not an actual)
    observed = test[["meter_id", "date"]].drop_duplicates()
    return out.merge(observed, on=["meter_id", "date"], how="inner")


def _ratio(error: float, baseline_error: float) -> float:
    """Model over baseline error; a tie when both are exact (a meter that repeats its week)."""
    if baseline_error > 0:
        return error / baseline_error
    return 1.0 if error == 0 else np.nan


def _scores(frame: pd.DataFrame) -> dict[str, float]:
    out = {"n": int(len(frame))}
    for prefix, column in (("", "forecast"), ("baseline_", "baseline")):
        out[f"{prefix}mae"] = mae(frame["actual"], frame[column])
        out[f"{prefix}mse"] = mse(frame["actual"], frame[column])
        out[f"{prefix}rmse"] = rmse(frame["actual"], frame[column])
    out["mae_ratio"] = _ratio(out["mae"], out["baseline_mae"])
    out["mape"] = mape(frame["actual"], frame["forecast"])
    out["baseline_mape"] = mape(frame["actual"], frame["baseline"])
    if "scale" in frame:
        scaled = (frame["actual"] - frame["forecast"]).abs() / frame["scale"]
        scaled_naive = (frame["actual"] - frame["baseline"]).abs() / frame["scale"]
        ok = np.isfinite(scaled) & (frame["scale"] > 0)
        out["mase"] = float(scaled[ok].mean()) if ok.any() else np.nan
        out["baseline_mase"] = float(scaled_naive[ok].mean()) if ok.any() else np.nan
    for level in ("80", "95"):
        if f"lower_{level}" in frame and frame[f"lower_{level}"].notna().any():
            inside = frame["actual"].between(frame[f"lower_{level}"], frame[f"upper_{level}"])
            out[f"coverage_{level}"] = float(inside.mean())
    return out


def score(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-meter and pooled MAE, MSE, RMSE, MAPE (days with zero usage left out), MASE (errors
    over each meter's in-sample seasonal naive MAE) of the model and the baseline, 80%/95%
    interval coverage, the pooled MAE ratio, and ``relative_mae``: the geometric mean over
    meters of model MAE / baseline MAE, which weighs a small household like a large building."""
    per_meter = pd.DataFrame(
        [{"meter_id": m, **_scores(g)} for m, g in frame.groupby("meter_id", sort=True)]
    )
    overall = _scores(frame)
    overall["relative_mae"] = geometric_mean(per_meter["mae_ratio"])
    return per_meter, overall


def baseline_verdict(rolling: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Whether the model beats seasonal naive over ``rolling_test_forecasts``, and whether a
    loss is real or noise.

    ``relative_mae`` is the geometric mean over meters of model MAE / baseline MAE. Below 1 the
    model ``beats`` the baseline. Otherwise a one-sided Diebold-Mariano test (with the
    Harvey-Leybourne-Newbold small-sample correction) asks whether the loss is real: the daily
    mean over meters of the difference in absolute error, each meter's scaled by its
    seasonal naive MAE in training so that every meter counts alike, with a Newey-West variance
    over the overlap of the week-long forecasts. ``worse`` when p < ``alpha``, else ``noise``:
    28 days cannot tell the two apart."""
    from scipy import stats

    per = rolling.assign(
        error=(rolling["actual"] - rolling["forecast"]).abs(),
        baseline_error=(rolling["actual"] - rolling["baseline"]).abs(),
    )
    by_meter = per.groupby("meter_id")[["error", "baseline_error"]].mean()
    ratios = pd.Series(
        [_ratio(e, b) for e, b in zip(by_meter["error"], by_meter["baseline_error"], strict=True)]
    )
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    relative = geometric_mean(ratios)
    scale = per["scale"].where(per["scale"] > 0)
    daily = (
        ((per["error"] - per["baseline_error"]) / scale)
        .groupby(per["date"])
        .mean()
        .dropna()
        .to_numpy()
    )
    horizon = int(per.groupby(["meter_id", "origin"]).size().max()) if len(per) else 1
    statistic, p_value = np.nan, np.nan
    if len(daily) >= 3 and np.any(daily != daily[0]):
        t = len(daily)
        centred = daily - daily.mean()
        lags = min(horizon - 1, t - 1)
        variance = centred @ centred / t
        for lag in range(1, lags + 1):
            variance += 2 * (1 - lag / (lags + 1)) * (centred[lag:] @ centred[:-lag]) / t
        if variance > 0:
            h = horizon
            correction = np.sqrt((t + 1 - 2 * h + h * (h - 1) / t) / t) if t > 2 * h else 1.0
            statistic = float(daily.mean() / np.sqrt(variance / t) * correction)
            p_value = float(stats.t.sf(statistic, df=t - 1))
    if not np.isfinite(relative):
        verdict = "unknown"
    elif relative < 1:
        verdict = "beats"
    elif np.isfinite(p_value) and p_value < alpha:
        verdict = "worse"
    elif np.isfinite(p_value) or relative == 1:
        verdict = "noise"
    else:
        verdict = "worse"  # a constant loss on every day: no variance, and no doubt
    return {
        "verdict": verdict,
        "relative_mae": relative,
        "days": int(len(daily)),
        "statistic": statistic,
        "p_value": p_value,
        "meters": int(len(ratios)),
        "meters_beating_baseline": int((ratios < 1).sum()),
    }
