"""The candidate models of training: built by name, scored from the validation origins, and the
chosen ones refitted on the whole training window.

Every candidate is called the same way (``fit``, then ``forward`` from each origin:
``energy_assets.ml.forecaster``); the global model is fitted on the whole fleet by the same
``fit``, given a mapping of series. Local models see public holidays through
``HolidayAdjusted``; the global model has them as features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from energy_assets.ml.forecaster import Forecaster
from energy_assets.ml.gbm import GlobalBoosting, LocalBlend
from energy_assets.ml.holiday_effect import HolidayAdjusted
from energy_assets.ml.local import Combination
from energy_assets.ml.models import SeasonalNaive, make_model
from energy_assets.ml.selection import (
    BASELINE,
    BLEND,
    GLOBAL,
    LOCAL,
    Choice,
    geometric_mean_ratio,
    mae,
)
from energy_assets.ml.validation import ValidationPlan, validation_residuals

if TYPE_CHECKING:
    from energy_assets.ml.training import GlobalValidation
    from energy_assets.ml.training_data import TrainingData

Say = Callable[[str], None]


def local_model(names: str | Sequence[str], holidays: np.ndarray) -> Forecaster:
    """A local candidate by name (several names: their combination), holiday-adjusted when
    there are holidays to adjust for. Seasonal naive stays the plain baseline."""
    names = [names] if isinstance(names, str) else list(names)
    members = [make_model(n) for n in names]
    model = members[0] if len(members) == 1 else Combination(members)
    return HolidayAdjusted(model, holidays) if len(holidays) and names != [BASELINE] else model


def holiday_effect(model) -> float | None:
    """The holiday factor ``k`` a served model learnt, wherever it sits in the model."""
    for candidate in (model, getattr(model, "local", None)):
        if isinstance(candidate, HolidayAdjusted):
            return candidate.k_
    return None


def local_residuals(
    meter_id: str,
    y: pd.Series,
    names: Sequence[str],
    plan: ValidationPlan,
    holidays: np.ndarray,
) -> tuple[str, dict[str, np.ndarray], list[str]]:
    """Validation errors of each local candidate, refitted at the start of each block."""
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    errors = []
    for block in plan.blocks(len(y)):
        fit_on = y.iloc[: block[0] + 1]
        for name in list(parts):
            try:
                model = local_model(name, holidays).fit(fit_on)
                parts[name].append(validation_residuals(model, y, block, plan.horizon))
            except Exception as error:  # a failed candidate must not fail the meter
                errors.append(f"{name}: {error}")
                del parts[name]
    return meter_id, {n: np.concatenate(p) for n, p in parts.items() if p}, errors


def fleet_local_residuals(series, names, plan, holidays, n_jobs, say: Say):
    """``local_residuals`` of every meter (in processes when there are many): the errors by
    meter and candidate, and each meter's failures."""
    residuals: dict[str, dict[str, np.ndarray]] = {m: {} for m in series}
    errors: dict[str, list[str]] = {m: [] for m in series}
    jobs = [(m, y) for m, y in series.items() if plan.origins(len(y))]
    processes = n_jobs if len(jobs) >= 8 and len(names) > 1 else 1
    runner = Parallel(n_jobs=processes, return_as="generator", batch_size="auto")
    every = max(1, len(jobs) // 10)
    work = (delayed(local_residuals)(m, y, names, plan, holidays) for m, y in jobs)
    for i, (meter, found, failed) in enumerate(runner(work), start=1):
        residuals[meter].update(found)
        errors[meter].extend(failed)
        if i % every == 0 or i == len(jobs):
            say(f"validated {len(names)} local candidates on {i}/{len(jobs)} meters")
    return residuals, errors


def tune_global(series, covariates, plan, fixed, grid, say: Say):
    """The global model on each meter's last block of origins, fitted on the days before it:
    each point of ``grid`` scored, the best kept. Returns the best's errors per meter, its
    parameters and the tuning table (failures are raised: the caller decides)."""
    blocks = {m: plan.blocks(len(y))[-1] for m, y in series.items() if plan.origins(len(y))}
    naive = SeasonalNaive()
    baseline = {
        m: mae(validation_residuals(naive, series[m], origins, plan.horizon))
        for m, origins in blocks.items()
    }
    cut = {m: series[m].iloc[: origins[0] + 1] for m, origins in blocks.items()}
    best, tuning = None, []
    for params in grid:
        model = GlobalBoosting(**fixed, **params).fit(cut, covariates)
        found = {
            m: validation_residuals(model, series[m], origins, plan.horizon, covariates.get(m))
            for m, origins in blocks.items()
        }
        score = geometric_mean_ratio({m: mae(r) for m, r in found.items()}, baseline)
        tuning.append({**params, "relative_mae": score})
        say(f"global model {params}: validation relative MAE {score:.3f}")
        if best is None or score < best[0]:
            best = (score, params, found)
    return best[2], {**fixed, **best[1]}, tuning


def fit_local(meter: str, y: pd.Series, choice: Choice, holidays: np.ndarray):
    """The chosen local model (or a blend's local partner) refitted on the whole window;
    seasonal naive, with the reason, when the refit fails."""
    try:
        return meter, local_model(choice.members, holidays).fit(y), ""
    except Exception as error:
        return meter, SeasonalNaive().fit(y), f"{'+'.join(choice.members)} refit: {error}"


def fit_chosen(
    data: TrainingData,
    choices: dict[str, Choice],
    global_: GlobalValidation,
    n_jobs: int,
    say: Say,
) -> tuple[dict[str, Forecaster], dict[str, str]]:
    """Refit every meter's choice on all its training days: the global model once, the local
    models per meter (in processes when there are many). A meter whose refit fails is served
    seasonal naive (its choice replaced, the reason in ``failures``)."""
    models: dict[str, Forecaster] = {}
    failures: dict[str, str] = {}
    shared = None
    if any(c.kind in (GLOBAL, BLEND) for c in choices.values()):
        say(f"refitting the global model on all training days: {global_.fit_params}")
        shared = GlobalBoosting(**global_.fit_params).fit(data.series, data.covariates)
    local = {m: c for m, c in choices.items() if c.kind in (LOCAL, BLEND)}
    processes = n_jobs if len(local) >= 8 else 1
    runner = Parallel(n_jobs=processes, return_as="generator", batch_size="auto")
    work = (delayed(fit_local)(m, data.series[m], c, data.holidays) for m, c in local.items())
    for meter, model, failed in runner(work):
        if failed:
            failures[meter] = failed
            models[meter] = model
            choices[meter] = Choice(BASELINE)
        elif choices[meter].kind == BLEND:
            models[meter] = LocalBlend(shared, model, global_.weight)
        else:
            models[meter] = model
    for meter, choice in choices.items():
        if choice.kind == GLOBAL:
            models[meter] = shared  # seasonal naive is added with the history: needs a week
    return models, failures
