"""Realised error, usage drift and anomalies of a served forecaster against new actuals.

Pure pandas/numpy (no Dagster, no boto3), so the asset, the drift sensor and the replay share it.
The endpoint serves forecasts from the model version it was deployed with; what it would have
answered for a day is reconstructed from that version's artifact: the fitted model forecasts the
day from every actual known before it (``lead`` days before), exactly as the model forecasts
from the recent actuals it is given. Errors are also scaled by the meter's in-sample seasonal
naive error (MASE), so that a household weighs as much as a large building.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from energy_assets.ml.bundle import ForecastBundle

SEASON = 7
REALISED_COLUMNS = [
    "meter_id",
    "date",
    "model_version",
    "actual",
    "forecast",
    "error",
    "abs_error",
    "scaled_error",
    "lower_95",
    "upper_95",
]


@dataclass
class Reference:
    """The serving version's own one-step error on the last days of its history (the test
    window, which its parameters never saw, and the weeks before it): the yardstick for
    realised error. Four weeks alone give a mean and spread too noisy to set a limit with."""

    version: str
    days: int
    scale: dict[str, float]  # in-sample seasonal naive MAE per meter (the MASE denominator)
    sigma: dict[str, float]  # std of one-step residuals per meter
    daily_mean: float  # mean over days of the fleet's daily scaled MAE
    daily_std: float
    mase: float

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> Reference:
        return cls(**payload)


def mase_scale(values: np.ndarray, season: int = SEASON) -> float:
    """Mean absolute seasonal difference (the in-sample seasonal naive MAE); never zero."""
    values = np.asarray(values, float)
    for lag in (season, 1):
        if len(values) > lag:
            diffs = np.abs(values[lag:] - values[:-lag])
            diffs = diffs[np.isfinite(diffs)]
            if len(diffs) and diffs.mean() > 0:
                return float(diffs.mean())
    return 1.0


def _forecasts(
    bundle: ForecastBundle, meter: str, series: pd.Series, days: pd.DatetimeIndex, lead: int
) -> pd.DataFrame:
    """The ``lead``-day-ahead forecast of each day in ``days`` (with its 95% interval) from the
    actuals in ``series`` before it, through the bundle's own ``forecast`` (as the endpoint)."""
    known = replace(bundle, history={**bundle.history, meter: series})
    rows = []
    for day in days:
        frame = known.forecast(meter, lead, start=day - pd.Timedelta(days=lead - 1))
        rows.append(frame.iloc[-1])
    out = pd.DataFrame(rows).reset_index(drop=True)
    for column in ("lower_95", "upper_95"):
        if column not in out:
            out[column] = np.nan
    return out


def reference(bundle: ForecastBundle, days: int = 56, lead: int = 1) -> Reference:
    """One-step errors of ``bundle`` over the last ``days`` of its history."""
    scale, sigma, frames = {}, {}, []
    for meter in bundle.meters:
        series = bundle.history[meter]
        scale[meter] = mase_scale(series.to_numpy()[:-days])
        target = series.index[-days:]
        predicted = _forecasts(bundle, meter, series, target, lead)["forecast"].to_numpy(float)
        residual = series.loc[target].to_numpy() - predicted
        sigma[meter] = float(np.std(residual, ddof=1)) if len(residual) > 1 else 0.0
        frames.append(pd.DataFrame({"date": target, "scaled": np.abs(residual) / scale[meter]}))
    daily = pd.concat(frames).groupby("date")["scaled"].mean()
    return Reference(
        version=bundle.version,
        days=days,
        scale=scale,
        sigma=sigma,
        daily_mean=float(daily.mean()),
        daily_std=float(daily.std(ddof=1)) if len(daily) > 1 else 0.0,
        mase=float(daily.mean()),
    )


def realised(
    bundle: ForecastBundle,
    clean: pd.DataFrame,
    ref: Reference,
    days: pd.DatetimeIndex | None = None,
    lead: int = 1,
) -> pd.DataFrame:
    """Realised error of ``bundle`` on the observed (not imputed) days after its history.

    ``clean`` is the cleaned long frame (``meter_id, date, usage[, imputed]``); imputed days are
    context only. ``days`` limits which days are scored (default: all new ones).
    """
    frames = []
    imputed = clean["imputed"] if "imputed" in clean else pd.Series(False, index=clean.index)
    observed = clean.assign(_imputed=imputed.astype(bool))
    for meter, group in observed.groupby("meter_id", sort=True):
        meter = str(meter)
        if meter not in bundle.models:
            continue
        history = bundle.history[meter]
        new = group[group["date"] > history.index[-1]].sort_values("date")
        if new.empty:
            continue
        extra = pd.Series(new["usage"].to_numpy(float), index=pd.DatetimeIndex(new["date"]))
        series = pd.concat([history, extra]).asfreq("D").ffill()
        scored = new[~new["_imputed"]]
        if days is not None:
            scored = scored[scored["date"].isin(days)]
        if scored.empty:
            continue
        target = pd.DatetimeIndex(scored["date"])
        predicted = _forecasts(bundle, meter, series, target, lead)
        forecast = predicted["forecast"].to_numpy(float)
        actual = scored["usage"].to_numpy(float)
        frames.append(
            pd.DataFrame(
                {
                    "meter_id": meter,
                    "date": target,
                    "model_version": bundle.version,
                    "actual": actual,
                    "forecast": forecast,
                    "error": actual - forecast,
                    "abs_error": np.abs(actual - forecast),
                    "scaled_error": np.abs(actual - forecast) / ref.scale.get(meter, 1.0),
                    "lower_95": predicted["lower_95"].to_numpy(float),
                    "upper_95": predicted["upper_95"].to_numpy(float),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=REALISED_COLUMNS)
    return pd.concat(frames, ignore_index=True)[REALISED_COLUMNS]


def anomalies(
    rows: pd.DataFrame, ref: Reference, window: int = SEASON, sigmas: float = 3.0
) -> pd.DataFrame:
    """Per meter and day: ``outside_95`` (the actual left the 95% interval) and ``level_shift``
    (the mean residual of the last ``window`` days moved beyond ``sigmas`` standard errors of the
    reference residuals; flagged on the first day of each such run)."""
    if rows.empty:
        return rows.assign(outside_95=[], level_shift=[], shift_score=[])
    out = rows.sort_values(["meter_id", "date"]).copy()
    out["outside_95"] = (out["actual"] < out["lower_95"]) | (out["actual"] > out["upper_95"])
    sigma = out["meter_id"].map(ref.sigma).astype(float)
    mean_residual = out.groupby("meter_id")["error"].transform(
        lambda e: e.rolling(window, min_periods=window).mean()
    )
    score = mean_residual / (sigma / np.sqrt(window)).where(sigma > 0)
    out["shift_score"] = score
    beyond = score.abs() > sigmas
    before = beyond.groupby(out["meter_id"]).shift(1, fill_value=False).astype(bool)
    out["level_shift"] = beyond & ~before
    return out


def daily_summary(
    rows: pd.DataFrame, window: int = 28, min_days: int = 14, week: int = SEASON
) -> pd.DataFrame:
    """Per model version and day: the fleet's scaled MAE (``mase``: mean over meters of
    |error| / scale), pooled MAE, its ``week``-day mean (``weekly_mase``) and the rolling
    ``window``-day MASE (from ``min_days`` days on)."""
    columns = ["model_version", "date", "mase", "mae", "weekly_mase", "rolling_mase"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    daily = (
        rows.groupby(["model_version", "date"])
        .agg(mase=("scaled_error", "mean"), mae=("abs_error", "mean"))
        .reset_index()
        .sort_values(["model_version", "date"])
    )
    by_version = daily.groupby("model_version")["mase"]
    daily["weekly_mase"] = by_version.transform(lambda s: s.rolling(week).mean())
    daily["rolling_mase"] = by_version.transform(
        lambda s: s.rolling(window, min_periods=min_days).mean()
    )
    return daily.reset_index(drop=True)[columns]


def usage_drift(
    bundle: ForecastBundle, clean: pd.DataFrame, as_of: pd.Timestamp, recent_days: int = 28
) -> pd.DataFrame:
    """Per meter: recent usage (the ``recent_days`` up to ``as_of``) against the training
    window (the bundle's history): mean ratio, shift in training standard deviations, the
    Kolmogorov-Smirnov statistic and the population stability index."""
    rows = []
    start = as_of - pd.Timedelta(days=recent_days - 1)
    for meter, group in clean.groupby("meter_id", sort=True):
        meter = str(meter)
        if meter not in bundle.history:
            continue
        recent = group[(group["date"] >= start) & (group["date"] <= as_of)]["usage"]
        recent = recent.to_numpy(float)
        train = bundle.history[meter].to_numpy(float)
        if len(recent) < SEASON or len(train) < 2 * SEASON:
            continue
        std = float(np.std(train, ddof=1)) or 1.0
        rows.append(
            {
                "meter_id": meter,
                "recent_mean": float(recent.mean()),
                "train_mean": float(train.mean()),
                "mean_ratio": float(recent.mean() / train.mean()) if train.mean() else np.nan,
                "mean_shift_sd": float((recent.mean() - train.mean()) / std),
                "ks": ks_statistic(train, recent),
                "psi": psi(train, recent),
            }
        )
    return pd.DataFrame(rows)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the two empirical distribution functions."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 5) -> float:
    """Population stability index over quantile bins of the training window (five: four weeks
    of recent days are too few for deciles, whose PSI is ~0.3 from sampling alone)."""
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        return 0.0
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(expected, edges)[0] / len(expected)
    a = np.histogram(actual, edges)[0] / len(actual)
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class DriftRule:
    """When realised error is persistently worse than the model's own reference error: the
    28-day rolling MASE above ``max_rolling_mase`` (after 14 days), or the 7-day mean of the
    daily scaled MAE beyond the reference mean + ``sigmas`` standard errors of a 7-day mean on
    ``consecutive`` consecutive checks (days)."""

    max_rolling_mase: float = 1.0
    sigmas: float = 3.0
    consecutive: int = 2
    week: int = SEASON

    def weekly_limit(self, ref: Reference) -> float:
        return ref.daily_mean + self.sigmas * ref.daily_std / np.sqrt(self.week)


def drift_verdict(daily: pd.DataFrame, ref: Reference, rule: DriftRule) -> dict:
    """``{"drift": bool, "reasons": [...], ...}`` for one version's daily summary."""
    daily = daily.sort_values("date")
    limit = rule.weekly_limit(ref)
    reasons = []
    rolling = daily["rolling_mase"].dropna()
    last_rolling = float(rolling.iloc[-1]) if len(rolling) else None
    if last_rolling is not None and last_rolling > rule.max_rolling_mase:
        reasons.append(
            f"rolling MASE {last_rolling:.3f} above {rule.max_rolling_mase:g} over the last "
            f"{min(len(daily), 28)} days"
        )
    tail = daily["weekly_mase"].dropna().tail(rule.consecutive)
    if len(tail) == rule.consecutive and bool((tail > limit).all()):
        reasons.append(
            f"7-day scaled MAE above reference {ref.daily_mean:.3f} + {rule.sigmas:g} sd "
            f"({limit:.3f}) on {rule.consecutive} consecutive days: "
            + ", ".join(f"{v:.3f}" for v in tail)
        )
    weekly = daily["weekly_mase"].dropna()
    return {
        "drift": bool(reasons),
        "reasons": reasons,
        "days": int(len(daily)),
        "rolling_mase": last_rolling,
        "weekly_mase": float(weekly.iloc[-1]) if len(weekly) else None,
        "last_mase": float(daily["mase"].iloc[-1]) if len(daily) else None,
        "weekly_limit": float(limit),
        "last_day": str(pd.Timestamp(daily["date"].iloc[-1]).date()) if len(daily) else None,
    }
