"""Choose, tune and fit a forecaster per meter.

Everything is decided on the training window, in named phases (``train_forecasters`` runs them
in this order):

1. ``prepare``: the window as per-meter series, the public holidays, the temperature mode and
   the exogenous frames.
2. ``validate_local``: each meter's local models (and seasonal naive) forecast from weekly
   origins over up to half a year of its history, refitted at the start of each block of
   origins (``ValidationPlan``): many origins, so a choice made on a year of data holds. Each
   meter's local model (the default combination or a single model clearly better) is scored
   from the errors in hand (``selection``).
3. ``validate_global``: for a fleet, one gradient-boosting model over all meters, tuned on a
   small grid and scored on the same origins; its blend weight with the local models chosen
   once for the fleet.
4. ``choose``: per meter, the local model, the global model or their blend; seasonal naive
   unless the choice beats it.
5. ``fit_chosen``: the chosen models refitted on the whole training window.
6. ``calibrate``: interval widths from the chosen models' validation errors.
7. ``assemble``: the served history, seasonal naive for meters too short to validate, the
   selection table and the bundle with its training facts.

Local models see public holidays (``country``/``subdiv`` and any ``holiday`` column of the data)
through ``HolidayAdjusted``; the global model has them as features.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from energy_assets.ml.assembly import MIN_SERVED_DAYS, NO_MODEL_BEATS_BASELINE, assemble
from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.candidates import fit_chosen, fleet_local_residuals, tune_global
from energy_assets.ml.forecaster import Forecaster
from energy_assets.ml.intervals import calibrate
from energy_assets.ml.selection import (
    BASELINE,
    BLEND,
    BLEND_WEIGHTS,
    GLOBAL,
    GLOBAL_MARGIN,
    LOCAL,
    LOCAL_MARGIN,
    Choice,
    beats_baseline,
    blend_weight,
    combined_errors,
    local_recipe,
)
from energy_assets.ml.training_data import TrainingData, prepare
from energy_assets.ml.validation import ValidationPlan

Say = Callable[[str], None]
__all__ = ["MIN_SERVED_DAYS", "NO_MODEL_BEATS_BASELINE", "TrainingOptions", "train_forecasters"]

LOCAL_MODELS = ("ses", "ses_log", "theta", "ets")
DEFAULT_CANDIDATES = (BASELINE, *LOCAL_MODELS, GLOBAL)
# the local models served by default: their mean (see ``selection``)
DEFAULT_COMBINATION = ("ses_log", "ets")
# the global model learns across meters: with few meters and little history it has too little
# to learn from (one meter of a year validates ~20% worse than seasonal naive) and it costs more
# than every local model together
GLOBAL_MIN_METERS = 8
GLOBAL_MIN_DAYS = 730
# The tuning grid of the global model: the default first (it wins ties).
GBM_GRID: tuple[dict, ...] = (
    {"max_iter": 150, "learning_rate": 0.08, "max_leaf_nodes": 15, "min_samples_leaf": 40},
    {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 7, "min_samples_leaf": 80},
)
# A few meters with long histories: one lighter model, not tuned (a third of the cost of the
# first grid point; on Victoria's three years it scored as well)
GBM_SMALL_FLEET = {
    "max_iter": 50,
    "learning_rate": 0.2,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
}


@dataclass(frozen=True)
class TrainingOptions:
    candidates: Sequence[str] = DEFAULT_CANDIDATES
    plan: ValidationPlan = field(default_factory=ValidationPlan)
    country: str | None = None
    subdiv: str | None = None
    temperature: str = "auto"
    gbm_grid: Sequence[dict] = GBM_GRID
    gbm_small_fleet: dict = field(default_factory=lambda: dict(GBM_SMALL_FLEET))
    combination: Sequence[str] = DEFAULT_COMBINATION
    local_margin: float = LOCAL_MARGIN
    blend_weights: Sequence[float] = BLEND_WEIGHTS
    global_margin: float = GLOBAL_MARGIN
    global_min_meters: int = GLOBAL_MIN_METERS
    global_min_days: int = GLOBAL_MIN_DAYS
    margin: float = 0.0  # how much better than seasonal naive a model must validate
    history_days: int = 400
    n_jobs: int = -1

    @property
    def local(self) -> list[str]:
        return [n for n in dict.fromkeys(self.candidates) if n not in (BASELINE, GLOBAL)]


@dataclass(frozen=True)
class LocalValidation:
    """What the local candidates showed on the validation origins."""

    residuals: dict[str, dict[str, np.ndarray]]  # validation errors by meter and candidate
    errors: dict[str, list[str]]  # each meter's failures, as the selection table says them
    recipes: dict[str, tuple[str, ...]]  # each validated meter's local model (its members)
    combined: dict[str, np.ndarray]  # that local model's validation errors


def validate_local(data: TrainingData, options: TrainingOptions, say: Say) -> LocalValidation:
    """Every local candidate (and seasonal naive) scored on each meter's origins; each meter's
    local model chosen from those errors: the default combination, or a single model clearly
    better."""
    plan = options.plan
    say(
        f"validating {len(data.validated)} of {len(data.series)} meters on up to {plan.days} "
        f"days ({plan.refits} refits, horizon {plan.horizon}); candidates {data.names}; "
        f"{len(data.holidays)} holiday days"
    )
    residuals, errors = fleet_local_residuals(
        data.validated, data.names, plan, data.holidays, options.n_jobs, say
    )
    for m in data.series:
        residuals.setdefault(m, {})
        errors.setdefault(m, [])
    recipes = {
        m: local_recipe(residuals[m], options.combination, options.local, options.local_margin)
        for m in data.validated
    }
    combined = {m: combined_errors(residuals[m], r) for m, r in recipes.items() if r}
    return LocalValidation(residuals, errors, recipes, combined)


@dataclass(frozen=True)
class GlobalValidation:
    """What the global model showed, and its weight in the blend."""

    used: bool = False  # whether the fleet was large enough to try the global model
    errors: dict[str, np.ndarray] = field(default_factory=dict)  # on each meter's last block
    fixed: dict = field(default_factory=dict)  # its parameters set by the data, not tuned
    params: dict = field(default_factory=dict)  # all its parameters, tuned (empty: failed)
    tuning: list[dict] = field(default_factory=list)
    weight: float = 0.0  # its weight in the blend with the local models (0: not served)
    scores: dict[float, float] = field(default_factory=dict)  # of each weight tried

    @property
    def fit_params(self) -> dict:
        return {**self.fixed, **self.params}


def validate_global(
    data: TrainingData, local: LocalValidation, options: TrainingOptions, say: Say
) -> GlobalValidation:
    """The global model, for fleets (and long histories) only, and its one blend weight."""
    plan, validated = options.plan, data.validated
    fixed = dict(
        country=options.country,
        subdiv=options.subdiv,
        temperature=data.temperature,
        horizon=plan.horizon,
    )
    long_histories = bool(validated) and (
        np.median([len(y) for y in validated.values()]) >= options.global_min_days
    )
    used = GLOBAL in options.candidates and bool(
        len(validated) >= options.global_min_meters or long_histories
    )
    if not used:
        if GLOBAL in options.candidates:
            say(
                f"global model skipped: {len(validated)} meter(s), median history under "
                f"{options.global_min_days} days (needs {options.global_min_meters} meters or "
                "that)"
            )
        return GlobalValidation(fixed=fixed)
    fleet = len(validated) >= options.global_min_meters
    grid = options.gbm_grid if fleet else [options.gbm_small_fleet]
    errors, params, tuning = {}, {}, []
    try:
        errors, params, tuning = tune_global(validated, data.covariates, plan, fixed, grid, say)
    except Exception as error:
        say(f"global model failed: {error}")
        for m in validated:
            local.errors[m].append(f"{GLOBAL}: {error}")
    last = {m: len(plan.blocks(len(validated[m]))[-1]) * plan.horizon for m in errors}
    weight, scores = blend_weight(
        {m: e[-last[m] :] for m, e in local.combined.items() if m in last},
        errors,
        {m: local.residuals[m][BASELINE][-last[m] :] for m in errors},
        options.blend_weights,
        options.global_margin,
    )
    tried = ", ".join(f"{w:.2f}: {v:.3f}" for w, v in scores.items())
    say(f"global model weight in the blend with the local models: {weight:.2f} ({tried})")
    return GlobalValidation(True, errors, fixed, params, tuning, weight, scores)


def choose(
    data: TrainingData, local: LocalValidation, global_: GlobalValidation, margin: float
) -> tuple[dict[str, Choice], dict[str, np.ndarray]]:
    """What each meter serves, judged on its validation errors against seasonal naive, and
    the validation errors of what it serves."""
    choices: dict[str, Choice] = {}
    served_errors: dict[str, np.ndarray] = {}
    weight = global_.weight
    for m in data.series:
        if m not in data.validated:
            choices[m] = Choice(BASELINE)
            continue
        baseline = local.residuals[m][BASELINE]
        members = local.recipes[m]
        if weight > 0 and m in global_.errors:
            shared = global_.errors[m]
            n = len(shared)
            blended = weight * shared + (1 - weight) * local.combined[m][-n:] if members else shared
            kind = GLOBAL if weight >= 1 or not members else BLEND
            candidate, errors_m, base_m = Choice(kind, members), blended, baseline[-n:]
        elif members:
            candidate, errors_m, base_m = Choice(LOCAL, members), local.combined[m], baseline
        else:
            candidate, errors_m, base_m = None, None, None
        if candidate is not None and beats_baseline(errors_m, base_m, margin):
            choices[m], served_errors[m] = candidate, errors_m
        else:
            choices[m], served_errors[m] = Choice(BASELINE), baseline
    return choices, served_errors


@dataclass(frozen=True)
class Fitted:
    """What validation showed and what was fitted: the last phase (``assemble``) reads it."""

    local: LocalValidation
    global_: GlobalValidation
    models: dict[str, Forecaster]  # the chosen models of the validated meters, fitted
    served_errors: dict[str, np.ndarray]  # the validation errors of what each meter serves
    validation_cpu_seconds: float
    refit_cpu_seconds: float


def train_forecasters(
    train: pd.DataFrame,
    version: str,
    recent: pd.DataFrame | None = None,
    log: Say | None = None,
    options: TrainingOptions | None = None,
    **overrides,
) -> ForecastBundle:
    """One model per meter of a gap-free long frame (``meter_id, date, usage`` and optional
    ``temperature``/``holiday`` columns); ``overrides`` replace fields of ``options``.

    Parameters are learnt from ``train`` only. ``recent`` holds actuals after the training
    window (the test days): they join the bundle's history, so the served forecast starts after
    the latest known day, while evaluation still forecasts from the end of training. A meter
    too short to validate is served seasonal naive once it has a week of days (the reason in
    its selection row); one with less is not served.
    """
    options = replace(options or TrainingOptions(), **overrides)
    say = log or (lambda message: None)
    data = prepare(train, recent, options)
    started = time.process_time()
    local = validate_local(data, options, say)
    global_ = validate_global(data, local, options, say)
    choices, served_errors = choose(data, local, global_, options.margin)
    validation_cpu = time.process_time() - started

    refit_started = time.process_time()
    models, failures = fit_chosen(data, choices, global_, options.n_jobs, say)
    refit_cpu = time.process_time() - refit_started
    for m, failed in failures.items():
        local.errors[m].append(failed)
        served_errors[m] = local.residuals[m][BASELINE]
    say(f"fitted {len(models)} meters: " + str(
        pd.Series({m: models[m].name for m in models}).value_counts().to_dict()))  # fmt: skip

    calibration = calibrate(data.series, served_errors, local.residuals, options.plan, say)
    fitted = Fitted(local, global_, models, served_errors, validation_cpu, refit_cpu)
    return assemble(version, data, fitted, calibration, options, say)
