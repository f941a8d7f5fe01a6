"""Choose, tune and fit a forecaster per meter: local models in parallel processes, one global
gradient-boosting model shared by all meters.

Everything is decided on the training window only. The last ``validation_days`` of it are the
validation window: every candidate is fitted on the days before it and forecasts ``horizon``
days from weekly origins inside it, the way the endpoint does (recent actuals in, no refit).
Those forecasts tune the global model (a small grid), pick each meter's model (lowest MAE;
seasonal naive on ties, failures, or when nothing beats it) and calibrate the prediction
intervals (quantiles of the chosen model's absolute errors, rescaled by the meter's level and
by the season of each error, see ``validation.seasonal_error_profile``). The chosen models are
then refit on the whole training window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.gbm import GlobalBoosting, LocalBlend
from energy_assets.ml.models import SeasonalNaive, WeeklySES, make_model
from energy_assets.ml.validation import (
    INTERVAL_LEVELS,
    calibrated_quantiles,
    origin_positions,
    relative_spread,
    seasonal_error_profile,
    validation_residuals,
)

BASELINE = SeasonalNaive.name
GLOBAL = GlobalBoosting.name
PARTNER = WeeklySES.name
# weights of the global model in its blend with the partner, tried on validation for the
# whole fleet (one weight: chosen per meter it would follow each meter's validation noise)
BLEND_WEIGHTS = (2 / 3, 1 / 2)
CHEAP = {BASELINE, PARTNER}  # local models not worth starting processes for
HORIZON = 14
MIN_FIT_DAYS = 28
DEFAULT_CANDIDATES = (BASELINE, GLOBAL)
MARGIN = 0.0
# The tuning grid of the global model: the default first (it wins ties).
GBM_GRID: tuple[dict, ...] = (
    {"max_iter": 150, "learning_rate": 0.08, "max_leaf_nodes": 15, "min_samples_leaf": 40},
    {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 7, "min_samples_leaf": 80},
)


def _series(values: np.ndarray, start: pd.Timestamp) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


def local_residuals(
    meter_id: str,
    values: np.ndarray,
    start: pd.Timestamp,
    candidates: Sequence[str],
    validation_days: int,
    horizon: int = HORIZON,
) -> tuple[str, dict[str, np.ndarray], list[str]]:
    """Validation errors of each per-meter candidate, fitted on the days before the window."""
    y = _series(values, start)
    origins = origin_positions(len(y), validation_days, horizon)
    residuals, errors = {}, []
    for name in candidates:
        try:
            model = make_model(name).fit(y.iloc[: origins[0] + 1])
            residuals[name] = validation_residuals(model, y, origins, horizon)
        except Exception as error:  # a failed candidate must not fail the meter
            errors.append(f"{name}: {error}")
    return meter_id, residuals, errors


def refit_local(meter_id: str, name: str, values: np.ndarray, start: pd.Timestamp):
    try:
        return meter_id, name, make_model(name).fit(_series(values, start)), ""
    except Exception as error:
        return (
            meter_id,
            BASELINE,
            SeasonalNaive().fit(_series(values, start)),
            f"{name} refit: {error}",
        )


def choose(scores: dict[str, float], margin: float = MARGIN) -> str:
    """Lowest validation MAE; seasonal naive unless another model beats it by ``margin``
    (a model that only ties the baseline on a few weeks of validation is not worth the risk)."""
    finite = {n: v for n, v in scores.items() if np.isfinite(v)}
    if BASELINE not in finite:
        return min(finite, key=finite.get) if finite else BASELINE
    best = min(finite, key=lambda n: (finite[n], n != BASELINE))
    return best if finite[best] < (1 - margin) * finite[BASELINE] else BASELINE


def geometric_mean_ratio(numerator: dict[str, float], denominator: dict[str, float]) -> float:
    ratios = [
        numerator[m] / denominator[m]
        for m in numerator
        if m in denominator and denominator[m] > 0 and np.isfinite(numerator[m])
    ]
    ratios = [r for r in ratios if r > 0]
    return float(np.exp(np.mean(np.log(ratios)))) if ratios else np.nan


def _covariate_frames(frame: pd.DataFrame, temperature: str) -> dict[str, pd.DataFrame]:
    columns = [c for c in ("temperature", "holiday") if c in frame]
    if temperature == "none":
        columns = [c for c in columns if c != "temperature"]
    if not columns:
        return {}
    return {
        str(m): g.set_index("date")[columns].astype(float)
        for m, g in frame.drop_duplicates(["meter_id", "date"]).groupby("meter_id", sort=True)
    }


def train_forecasters(
    train: pd.DataFrame,
    version: str,
    validation_days: int = 56,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    n_jobs: int = -1,
    history_days: int = 400,
    log: Callable[[str], None] | None = None,
    recent: pd.DataFrame | None = None,
    country: str | None = None,
    subdiv: str | None = None,
    temperature: str = "auto",
    horizon: int = HORIZON,
    gbm_grid: Sequence[dict] = GBM_GRID,
    blend_partner: str | None = PARTNER,
) -> ForecastBundle:
    """One model per meter of a gap-free long frame (``meter_id, date, usage`` and optional
    ``temperature``/``holiday`` columns).

    Parameters are learnt from ``train`` only. ``recent`` holds actuals after the training
    window (the test days): they join the bundle's history, so the served forecast starts after
    the latest known day, while evaluation still forecasts from the end of training.
    ``temperature="auto"`` uses recent observed temperature and climatology for future days
    when the frame has a ``temperature`` column and about 15 months of days or more.
    """
    say = log or (lambda message: None)
    frame = train.sort_values(["meter_id", "date"])
    if temperature == "auto":
        temperature = "none"
        if "temperature" in frame:
            days = frame.groupby("meter_id").size().median()
            # a climatology needs a full year before the validation window
            temperature = "climatology" if days >= 365 + validation_days + 28 else "none"
    groups = [
        (str(m), g["usage"].to_numpy(float), pd.Timestamp(g["date"].iloc[0]))
        for m, g in frame.groupby("meter_id", sort=True)
    ]
    minimum = validation_days + MIN_FIT_DAYS
    too_short = [m for m, v, _ in groups if len(v) < minimum]
    if too_short:
        raise ValueError(f"meters with fewer than {minimum} training days: {too_short[:10]}")
    names = list(dict.fromkeys([BASELINE, *candidates]))
    partner = blend_partner if GLOBAL in names else None
    local = list(dict.fromkeys([n for n in names if n != GLOBAL] + ([partner] if partner else [])))
    say(f"validating {len(groups)} meters, candidates {names}, n_jobs={n_jobs}")

    residuals: dict[str, dict[str, np.ndarray]] = {m: {} for m, _, _ in groups}
    errors: dict[str, list[str]] = {m: [] for m, _, _ in groups}
    cheap = set(local) <= CHEAP
    runner = Parallel(n_jobs=1 if cheap else n_jobs, return_as="generator", batch_size="auto")
    jobs = (
        delayed(local_residuals)(m, v, s, local, validation_days, horizon) for m, v, s in groups
    )
    every = max(1, len(groups) // 10)
    for i, (meter, found, failed) in enumerate(runner(jobs), start=1):
        residuals[meter].update(found)
        errors[meter].extend(failed)
        if i % every == 0 or i == len(groups):
            say(f"validated local candidates on {i}/{len(groups)} meters")

    series = {m: _series(v, s) for m, v, s in groups}
    covariates = _covariate_frames(frame, temperature)
    gbm_params: dict = {}
    tuning: list[dict] = []
    weight: float | None = None
    blend: str | None = None
    if GLOBAL in names:
        gbm_params, tuning = _tune_global(
            series, covariates, residuals, errors, validation_days, horizon,
            dict(country=country, subdiv=subdiv, temperature=temperature, horizon=horizon),
            gbm_grid, say,
        )  # fmt: skip
        weight = _blend_weight(residuals, partner, say) if partner else None
        if weight is not None:
            blend = LocalBlend.name_with(partner)
            names.append(blend)
            for r in residuals.values():
                if GLOBAL in r and partner in r:
                    r[blend] = weight * r[GLOBAL] + (1 - weight) * r[partner]

    rows, chosen = [], {}
    for meter, _, _ in groups:
        scores = {
            n: float(np.mean(np.abs(residuals[meter][n]))) if n in residuals[meter] else np.nan
            for n in names
        }
        chosen[meter] = choose(scores)
        rows.append(
            {"meter_id": meter, "chosen": chosen[meter], **{f"mae_{n}": scores[n] for n in names}}
        )

    models: dict[str, object] = {}
    refit_started = time.process_time()  # CPU of this process (local refits run here too
    # with n_jobs=1; with processes it counts only the global model)
    blended = {m for m, name in chosen.items() if blend and name == blend}
    if GLOBAL in chosen.values() or blended:
        say(f"refitting the global model on all training days: {gbm_params}")
        shared = GlobalBoosting(**gbm_params).fit_many(series, covariates)
        models.update({m: shared for m, name in chosen.items() if name == GLOBAL})
    jobs = (
        delayed(refit_local)(m, partner if m in blended else chosen[m], v, s)
        for m, v, s in groups
        if chosen[m] != GLOBAL
    )
    for meter, name, model, failed in runner(jobs):
        if meter in blended and name == partner:
            models[meter] = LocalBlend(shared, model, weight)
        else:  # a failed refit serves seasonal naive
            models[meter] = model
            chosen[meter] = name
        if failed:
            errors[meter].append(failed)
    refit_cpu = time.process_time() - refit_started
    say(f"fitted {len(models)} meters: " + str(pd.Series(chosen).value_counts().to_dict()))

    reference: dict[str, float | None] = {}
    spreads: dict[str, np.ndarray] = {}
    season: dict[str, np.ndarray | None] = {}
    for row in rows:
        meter = row["meter_id"]
        row["chosen"] = chosen[meter]
        row["error"] = "; ".join(errors[meter])
        errors_m = residuals[meter].get(chosen[meter], residuals[meter].get(BASELINE))
        season[meter] = seasonal_error_profile(series[meter])
        spreads[meter], reference[meter] = relative_spread(
            series[meter], errors_m, validation_days, horizon, season[meter]
        )
    quantiles = calibrated_quantiles(spreads, horizon)
    say(f"interval quantiles of validation errors: {quantiles}")
    for row in rows:
        for level in INTERVAL_LEVELS:
            row[f"halfwidth_{level}"] = float(
                np.quantile(spreads[row["meter_id"]], quantiles[level])
            )
    selection = pd.DataFrame(rows)
    known = frame if recent is None else pd.concat([frame, recent])
    known = known.drop_duplicates(["meter_id", "date"]).sort_values(["meter_id", "date"])
    history = {
        str(m): pd.Series(
            g["usage"].to_numpy(float), index=pd.DatetimeIndex(g["date"]), name=str(m)
        )
        .asfreq("D")
        .interpolate(limit_direction="both")
        .iloc[-history_days:]
        for m, g in known.groupby("meter_id", sort=True)
        if str(m) in models
    }
    known_covariates = {
        m: c.iloc[-history_days:] for m, c in _covariate_frames(known, temperature).items()
    }
    intervals = {
        str(r["meter_id"]): {str(level): r[f"halfwidth_{level}"] for level in INTERVAL_LEVELS}
        for r in rows
    }
    return ForecastBundle(
        version=version,
        models=models,
        history=history,
        selection=selection,
        intervals=intervals,
        interval_reference={m: r for m, r in reference.items() if r is not None},
        interval_season={m: p for m, p in season.items() if p is not None},
        covariates={m: c for m, c in known_covariates.items() if "temperature" in c},
        extra={
            "gbm_params": gbm_params,
            "blend": {"partner": partner, "global_weight": weight},
            "tuning": tuning,
            "temperature": temperature,
            "interval_quantiles": {str(k): v for k, v in quantiles.items()},
            "refit_cpu_seconds": refit_cpu,
        },
    )


def _blend_weight(residuals: dict[str, dict[str, np.ndarray]], partner: str, say) -> float | None:
    """The weight of the global model in its blend with the local ``partner``: the one with the
    lowest geometric-mean MAE ratio to seasonal naive over the meters; None when the global
    model alone is better than every blend."""
    meters = [m for m, r in residuals.items() if {GLOBAL, partner, BASELINE} <= set(r)]
    if not meters:
        return None
    baseline = {m: float(np.mean(np.abs(residuals[m][BASELINE]))) for m in meters}

    def score(weight: float) -> float:
        return geometric_mean_ratio(
            {
                m: float(
                    np.mean(
                        np.abs(weight * residuals[m][GLOBAL] + (1 - weight) * residuals[m][partner])
                    )
                )
                for m in meters
            },
            baseline,
        )

    scores = {w: score(w) for w in (1.0, *BLEND_WEIGHTS)}
    best = min(scores, key=scores.get)
    say(f"blend of the global model and {partner}, validation relative MAE by weight: "
        + ", ".join(f"{w:.2f}: {v:.3f}" for w, v in scores.items()))  # fmt: skip
    return None if best == 1.0 else best


def _tune_global(
    series, covariates, residuals, errors, validation_days, horizon, fixed, grid, say
) -> tuple[dict, list[dict]]:
    """Fit each grid point on the days before the validation window; keep the one with the
    lowest geometric-mean MAE ratio to seasonal naive (the first on ties)."""
    baseline = {
        m: float(np.mean(np.abs(r[BASELINE]))) for m, r in residuals.items() if BASELINE in r
    }
    best, best_score, best_residuals, tuning = {}, np.inf, {}, []
    for params in grid:
        found = {}
        try:
            cut = {}
            for m, y in series.items():
                first = origin_positions(len(y), validation_days, horizon)[0]
                cut[m] = y.iloc[: first + 1]
            model = GlobalBoosting(**fixed, **params).fit_many(cut, covariates)
            for m, y in series.items():
                origins = origin_positions(len(y), validation_days, horizon)
                found[m] = validation_residuals(model, y, origins, horizon, covariates.get(m))
        except Exception as error:
            for m in series:
                errors[m].append(f"{GLOBAL} {params}: {error}")
            continue
        score = geometric_mean_ratio(
            {m: float(np.mean(np.abs(r))) for m, r in found.items()}, baseline
        )
        tuning.append({**params, "relative_mae": score})
        say(f"global model {params}: validation relative MAE {score:.3f}")
        if score < best_score:
            best, best_score, best_residuals = params, score, found
    for m, r in best_residuals.items():
        residuals[m][GLOBAL] = r
    return {**fixed, **best}, tuning
