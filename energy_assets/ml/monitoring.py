"""Realised error, usage drift and anomalies of a served forecaster against new actuals.

Pure pandas/numpy (no Dagster, no boto3), so the asset, the drift sensor and the replay share it.
The endpoint serves forecasts from the model version it was deployed with; what it would have
answered for a day is reconstructed from that version's artifact: the fitted model forecasts the
day from every actual known before it (``lead`` days before), exactly as the model forecasts
from the recent actuals it is given. Errors are also scaled by the meter's in-sample seasonal
naive error (MASE), so that a household weighs as much as a large building.

Those forecasts come from each meter's model through ``forward_origins``: every origin of a
meter in one call (batched where the model can), the forecasts the endpoint would have made
from each, without building a frame per day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs

from energy_assets.ml.bundle import ForecastBundle

SEASON = 7
# fleets smaller than this compute the reference in this process: starting workers costs more
PARALLEL_MIN_METERS = 50
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
    lead: int = 1  # days ahead of the forecasts scored (references stored before: 1)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> Reference:
        return cls(**payload)

    def measures(self, days: int, lead: int) -> bool:
        """Whether this is the reference over ``days`` days of ``lead``-day forecasts."""
        return self.days == days and self.lead == lead


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


def ahead(
    bundle: ForecastBundle, meter: str, series: pd.Series, targets: np.ndarray, lead: int
) -> np.ndarray:
    """The ``lead``-day-ahead forecasts of the days at positions ``targets`` of ``series`` (a
    gap-free daily history of ``meter``), each from the actuals before it: what the endpoint
    answers given those actuals (``ForecastBundle.forecast`` from that origin)."""
    model = bundle.models[meter]
    origins = np.asarray(targets, dtype=int) - lead
    return model.forward_origins(series, origins, lead, bundle.covariates.get(meter))[:, -1]


def _residuals(jobs: list, days: int, lead: int) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    """Per meter of ``jobs`` (meter, model, history, covariates): the MASE scale, and the
    positions and one-step residuals of the last ``days`` days of its history that its model
    can forecast (a meter that joined late has fewer days before them than the model needs)."""
    out = []
    for meter, model, series, covariates in jobs:
        values = series.to_numpy(float)
        targets = np.arange(max(len(values) - days, lead), len(values))
        try:
            forecast = model.forward_origins(series, targets - lead, lead, covariates)[:, -1]
        except ValueError:  # some origins too short for the model: those days are left out
            kept, found = [], []
            for t in targets:
                try:
                    found.append(model.forward(series.iloc[: t - lead + 1], lead, covariates)[-1])
                    kept.append(t)
                except ValueError:
                    continue
            targets, forecast = np.array(kept, dtype=int), np.array(found, dtype=float)
        residual = values[targets] - forecast
        out.append((meter, mase_scale(values[:-days]), targets, residual))
    return out


def reference(bundle: ForecastBundle, days: int = 56, lead: int = 1, n_jobs: int = 1) -> Reference:
    """One-step errors of ``bundle`` over the last ``days`` of its history. With ``n_jobs`` (as
    training's) and a fleet, meters are scored in worker processes, in chunks."""
    jobs = [
        (m, bundle.models[m], bundle.history[m], bundle.covariates.get(m)) for m in bundle.meters
    ]
    workers = effective_n_jobs(n_jobs) if len(jobs) >= PARALLEL_MIN_METERS else 1
    if workers > 1:
        chunks = [c for c in np.array_split(np.arange(len(jobs)), 4 * workers) if len(c)]
        parts = Parallel(n_jobs=workers)(
            delayed(_residuals)([jobs[i] for i in c], days, lead) for c in chunks
        )
        found = [row for part in parts for row in part]
    else:
        found = _residuals(jobs, days, lead)
    scale, sigma, frames = {}, {}, []
    for meter, meter_scale, targets, residual in found:
        scale[meter] = meter_scale
        sigma[meter] = float(np.std(residual, ddof=1)) if len(residual) > 1 else 0.0
        target = bundle.history[meter].index[targets]
        frames.append(pd.DataFrame({"date": target, "scaled": np.abs(residual) / meter_scale}))
    daily = pd.concat(frames).groupby("date")["scaled"].mean() if frames else pd.Series()
    return Reference(
        version=bundle.version,
        days=days,
        scale=scale,
        sigma=sigma,
        daily_mean=float(daily.mean()),
        daily_std=float(daily.std(ddof=1)) if len(daily) > 1 else 0.0,
        mase=float(daily.mean()),
        lead=lead,
    )


def _band95(
    bundle: ForecastBundle, meter: str, series: pd.Series, origins: np.ndarray, forecast, lead
) -> tuple[np.ndarray, np.ndarray]:
    """The 95% interval the endpoint gives each forecast (NaN without calibrated widths)."""
    lower, upper = np.full(len(origins), np.nan), np.full(len(origins), np.nan)
    for i, o in enumerate(origins):
        dates = pd.date_range(series.index[o] + pd.Timedelta(days=1), periods=lead, freq="D")
        half = bundle.halfwidths(meter, series.iloc[: o + 1], dates).get("95")
        if half is not None:
            lower[i] = max(forecast[i] - half[-1], 0.0)
            upper[i] = forecast[i] + half[-1]
    return lower, upper


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
        positions = series.index.get_indexer(target)
        forecast = ahead(bundle, meter, series, positions, lead)
        lower, upper = _band95(bundle, meter, series, positions - lead, forecast, lead)
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
                    "lower_95": lower,
                    "upper_95": upper,
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
