"""The last phase of training: what is served from which history, the selection table, and
the bundle with the facts of the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.candidates import holiday_effect
from energy_assets.ml.facts import HolidayFacts, TrainingFacts, ValidationFacts
from energy_assets.ml.forecaster import Forecaster
from energy_assets.ml.intervals import IntervalCalibration
from energy_assets.ml.models import SeasonalNaive
from energy_assets.ml.selection import BASELINE, mae
from energy_assets.ml.series import meter_series
from energy_assets.ml.training_data import TrainingData, covariate_frames
from energy_assets.ml.validation import ValidationPlan

Say = Callable[[str], None]

if TYPE_CHECKING:
    from energy_assets.ml.training import Fitted, TrainingOptions

MIN_SERVED_DAYS = 7  # seasonal naive needs a week
GATE_DAYS = 7  # the per-meter gate judges forecasts a week ahead (``week_ahead``)
NO_MODEL_BEATS_BASELINE = "no model beat seasonal naive in validation on any meter"


def served_history(known: pd.DataFrame, days: int) -> dict[str, pd.Series]:
    """Each meter's last ``days`` of actuals (gaps interpolated): what forecasts start from."""
    return {
        m: y.asfreq("D").interpolate(limit_direction="both").iloc[-days:]
        for m, y in meter_series(known).items()
    }


def serve_the_rest(
    models: dict[str, Forecaster], history: dict[str, pd.Series]
) -> dict[str, Forecaster]:
    """``models`` with seasonal naive for every meter with a week of history and no model yet:
    too short to validate, or first seen in the actuals after the training window."""
    rest = {
        m: SeasonalNaive()
        for m in sorted(history)
        if m not in models and len(history[m]) >= MIN_SERVED_DAYS
    }
    return {**models, **rest}


def week_ahead(served, naive, plan: ValidationPlan, days: int = GATE_DAYS) -> dict:
    """What the per-meter gate pools from validation: the served model's MAE over the first
    ``days`` of each validation forecast, seasonal naive's on the same origins and days, and
    how many errors. A week ahead, as the test window is judged: past a week seasonal naive
    repeats a fortnight-old week, which would tilt the pool towards the model. The served
    errors may cover the last block of origins only: seasonal naive's are cut to the same."""
    if served is None or naive is None or not len(served) or len(served) % plan.horizon:
        return {"mae_served_week": np.nan, "mae_served_baseline_week": np.nan, "n_served_week": 0}
    naive = np.asarray(naive)[-len(served) :]
    first = min(days, plan.horizon)
    served = np.asarray(served).reshape(-1, plan.horizon)[:, :first]
    naive = naive.reshape(-1, plan.horizon)[:, :first]
    return {
        "mae_served_week": mae(served.ravel()),
        "mae_served_baseline_week": mae(naive.ravel()),
        "n_served_week": int(served.size),
    }


def selection_table(
    data: TrainingData,
    fitted: Fitted,
    history: dict[str, pd.Series],
    intervals: dict[str, dict[str, float]],
    plan: ValidationPlan,
) -> pd.DataFrame:
    """One row per meter: what it serves and why, every candidate's validation MAE, the
    holiday effect it learnt, its failures and its interval half-widths."""
    local, global_, models = fitted.local, fitted.global_, fitted.models
    served_errors = fitted.served_errors
    rows = []
    for m in sorted(history):
        row = {"meter_id": m, "days": len(data.series[m]) if m in data.series else 0}
        served = m in models
        if m in data.validated:
            row["chosen"] = models[m].name
            row["origins"] = len(plan.origins(len(data.series[m])))
            row.update({f"mae_{n}": mae(local.residuals[m].get(n)) for n in data.names})
            row["local"] = "+".join(local.recipes[m])
            row["mae_local"] = mae(local.combined.get(m))
            row["mae_gbm_last_block"] = mae(global_.errors.get(m))
            row["mae_served"] = mae(served_errors.get(m))
            row.update(week_ahead(served_errors.get(m), local.residuals[m].get(BASELINE), plan))
            holiday_k = holiday_effect(models[m])
            row["holiday_effect"] = round(holiday_k, 3) if holiday_k is not None else np.nan
        else:
            row["chosen"] = models[m].name if served else ""
            row["origins"] = 0
            row["reason"] = f"{row['days']} training days: too few to validate any model; " + (
                "served seasonal naive" if served else f"not served (needs {MIN_SERVED_DAYS})"
            )
        row["error"] = "; ".join(local.errors.get(m, []))
        for level, width in intervals.get(m, {}).items():
            row[f"halfwidth_{level}"] = width
        rows.append(row)
    return pd.DataFrame(rows)


def assemble(
    version: str,
    data: TrainingData,
    fitted: Fitted,
    calibration: IntervalCalibration,
    options: TrainingOptions,
    say: Say,
) -> ForecastBundle:
    """The bundle: the served meters' models (with seasonal naive for the meters too short to
    validate), history, exogenous frames and interval widths, the selection table and the
    facts of this training run."""
    history = served_history(data.known, options.history_days)
    models = serve_the_rest(fitted.models, history)
    fitted, global_ = replace(fitted, models=models), fitted.global_
    intervals = {
        m: calibration.widths(m, history[m])
        for m in sorted(history)
        if m in calibration.spreads or m in models
    }
    selection = selection_table(data, fitted, history, intervals, options.plan)
    known_covariates = {
        m: c.iloc[-options.history_days :]
        for m, c in covariate_frames(data.known, data.temperature).items()
        if m in models
    }
    note = ""
    if models and all(m.name == BASELINE for m in models.values()):
        note = NO_MODEL_BEATS_BASELINE
        say(f"{note}: this model is the seasonal-naive baseline")
    plan = options.plan
    return ForecastBundle(
        version=version,
        models=models,
        history={m: h for m, h in history.items() if m in models},
        selection=selection,
        intervals=intervals,
        interval_reference={m: r for m, r in calibration.reference.items() if r is not None},
        interval_season={
            m: p for m, p in calibration.season.items() if p is not None and m in models
        },
        baseline_intervals={m: w for m, w in calibration.baseline.items() if m in models},
        covariates={m: c for m, c in known_covariates.items() if "temperature" in c},
        training=TrainingFacts(
            temperature=data.temperature,
            holidays=HolidayFacts(options.country, options.subdiv, int(len(data.holidays))),
            validation=ValidationFacts(
                plan.days, plan.refits, plan.horizon, tuple(data.names), global_.used
            ),
            combination=tuple(options.combination),
            gbm_params=global_.fit_params if global_.params else {},
            tuning=tuple(global_.tuning),
            blend_weight=global_.weight,
            blend_scores={str(k): v for k, v in global_.scores.items()},
            interval_quantiles={str(k): v for k, v in calibration.quantiles.items()},
            validation_cpu_seconds=fitted.validation_cpu_seconds,
            refit_cpu_seconds=fitted.refit_cpu_seconds,
        ),
        note=note,
    )
