"""Choose, tune and fit a forecaster per meter.

Everything is decided on the training window, in named phases:

1. ``validate_local``: each meter's local models (and seasonal naive) forecast from weekly
   origins over up to half a year of its history, refitted at the start of each block of
   origins (``ValidationPlan``): many origins, so a choice made on a year of data holds.
2. ``validate_global``: for a fleet, one gradient-boosting model over all meters, tuned on a
   small grid and scored on the same origins.
3. Combinations of each meter's best local models and the blend of the global model with them
   are scored from the errors already in hand (``selection``).
4. ``choose``: per meter, the best local model or combination; the global model only where it
   validates clearly better; seasonal naive unless the choice beats it.
5. ``fit_chosen``: the chosen models refitted on the whole training window.
6. Interval widths calibrated on the chosen models' validation errors.

Local models see public holidays (``country``/``subdiv`` and any ``holiday`` column of the data)
through ``HolidayAdjusted``; the global model has them as features.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.calendar import holiday_ordinals
from energy_assets.ml.gbm import GlobalBoosting, LocalBlend
from energy_assets.ml.holiday_effect import HolidayAdjusted
from energy_assets.ml.local import Combination
from energy_assets.ml.models import SeasonalNaive, make_model
from energy_assets.ml.selection import (
    BASELINE,
    BLEND_WEIGHTS,
    GLOBAL,
    GLOBAL_MARGIN,
    LOCAL_MARGIN,
    beats_baseline,
    blend_weight,
    combined_errors,
    geometric_mean_ratio,
    local_recipe,
    mae,
)
from energy_assets.ml.validation import (
    INTERVAL_LEVELS,
    ValidationPlan,
    calibrated_quantiles,
    relative_spread,
    seasonal_error_profile,
    validation_residuals,
)

LOCAL, BLEND = "local", "blend"  # kinds of choice besides BASELINE and GLOBAL
LOCAL_MODELS = ("ses", "ses_log", "theta", "ets")
DEFAULT_CANDIDATES = (BASELINE, *LOCAL_MODELS, GLOBAL)
# the local models served by default: their mean (see ``selection``)
DEFAULT_COMBINATION = ("ses_log", "ets")
# the global model learns across meters: with few meters and little history it has too little
# to learn from (one meter of a year validates ~20% worse than seasonal naive) and it costs more
# than every local model together
GLOBAL_MIN_METERS = 8
GLOBAL_MIN_DAYS = 730
MIN_SERVED_DAYS = 7  # seasonal naive needs a week
NO_MODEL_BEATS_BASELINE = "no model beat seasonal naive in validation on any meter"
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


def _series(values: np.ndarray, start: pd.Timestamp) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


def meter_series(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Each meter's usage as a daily series (``frame`` is gap-free per meter)."""
    return {
        str(m): _series(g["usage"].to_numpy(float), pd.Timestamp(g["date"].iloc[0]))
        for m, g in frame.sort_values(["meter_id", "date"]).groupby("meter_id", sort=True)
    }


def holiday_days(frame: pd.DataFrame, country: str | None, subdiv: str | None) -> np.ndarray:
    """Day numbers of public holidays: the calendar of ``country``/``subdiv`` over the data's
    years and three after, and the days a ``holiday`` column marks."""
    dates = pd.DatetimeIndex(frame["date"])
    marked = dates[frame["holiday"].to_numpy(float) > 0] if "holiday" in frame else None
    years = range(dates.min().year - 1, dates.max().year + 4)
    return holiday_ordinals(country, subdiv, years, marked)


def local_model(names: str | Sequence[str], holidays: np.ndarray):
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


def validate_local(series, names, plan, holidays, n_jobs, say):
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


def validate_global(series, covariates, plan, fixed, grid, say):
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
        model = GlobalBoosting(**fixed, **params).fit_many(cut, covariates)
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


def covariate_frames(frame: pd.DataFrame, temperature: str) -> dict[str, pd.DataFrame]:
    columns = [c for c in ("temperature", "holiday") if c in frame]
    if temperature == "none":
        columns = [c for c in columns if c != "temperature"]
    if not columns:
        return {}
    return {
        str(m): g.set_index("date")[columns].astype(float)
        for m, g in frame.drop_duplicates(["meter_id", "date"]).groupby("meter_id", sort=True)
    }


def temperature_mode(frame: pd.DataFrame, options: TrainingOptions) -> str:
    """``auto``: recent observed temperature and climatology ahead when the data has a
    temperature column and a full year before the validation window (a climatology needs
    one); otherwise none."""
    if options.temperature != "auto":
        return options.temperature
    if "temperature" not in frame:
        return "none"
    days = frame.groupby("meter_id").size().median()
    return "climatology" if days >= 365 + options.plan.days + 28 else "none"


@dataclass(frozen=True)
class Choice:
    """One meter's choice as a recipe: what to refit on the whole window."""

    kind: str  # BASELINE, LOCAL, GLOBAL or BLEND
    members: tuple[str, ...] = ()  # the local models (their mean) served alone or blended


def fit_local(meter: str, y: pd.Series, choice: Choice, holidays: np.ndarray):
    """The chosen local model (or a blend's local partner) refitted on the whole window;
    seasonal naive, with the reason, when the refit fails."""
    try:
        return meter, local_model(choice.members, holidays).fit(y), ""
    except Exception as error:
        return meter, SeasonalNaive().fit(y), f"{'+'.join(choice.members)} refit: {error}"


def fit_chosen(series, choices, covariates, holidays, gbm_params, weight, n_jobs, say):
    """Refit every meter's choice on all its training days: the global model once, the local
    models per meter (in processes when there are many)."""
    models: dict[str, object] = {}
    failures: dict[str, str] = {}
    shared = None
    if any(c.kind in (GLOBAL, BLEND) for c in choices.values()):
        say(f"refitting the global model on all training days: {gbm_params}")
        shared = GlobalBoosting(**gbm_params).fit_many(series, covariates)
    local = {m: c for m, c in choices.items() if c.kind in (LOCAL, BLEND)}
    processes = n_jobs if len(local) >= 8 else 1
    runner = Parallel(n_jobs=processes, return_as="generator", batch_size="auto")
    work = (delayed(fit_local)(m, series[m], c, holidays) for m, c in local.items())
    for meter, model, failed in runner(work):
        if failed:
            failures[meter] = failed
            models[meter] = model
            choices[meter] = Choice(BASELINE)
        elif choices[meter].kind == BLEND:
            models[meter] = LocalBlend(shared, model, weight)
        else:
            models[meter] = model
    for meter, choice in choices.items():
        if choice.kind == GLOBAL:
            models[meter] = shared  # seasonal naive is added with the history: needs a week
    return models, failures


def train_forecasters(
    train: pd.DataFrame,
    version: str,
    recent: pd.DataFrame | None = None,
    log: Callable[[str], None] | None = None,
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
    plan = options.plan
    frame = train.sort_values(["meter_id", "date"])
    if frame.empty:
        raise ValueError("no training days: nothing to train on")
    series = meter_series(frame)
    holidays = holiday_days(
        frame if recent is None else pd.concat([frame, recent]), options.country, options.subdiv
    )
    temperature = temperature_mode(frame, options)
    covariates = covariate_frames(frame, temperature)
    names = [BASELINE, *options.local]
    validated = {m: y for m, y in series.items() if plan.origins(len(y))}
    say(
        f"validating {len(validated)} of {len(series)} meters on up to {plan.days} days "
        f"({plan.refits} refits, horizon {plan.horizon}); candidates {names}; "
        f"{len(holidays)} holiday days"
    )
    started = time.process_time()
    residuals, errors = validate_local(validated, names, plan, holidays, options.n_jobs, say)
    for m in series:
        residuals.setdefault(m, {})
        errors.setdefault(m, [])

    # each meter's local model: the default combination, or a single model clearly better
    recipes = {
        m: local_recipe(residuals[m], options.combination, options.local, options.local_margin)
        for m in validated
    }
    local_errors = {m: combined_errors(residuals[m], r) for m, r in recipes.items() if r}

    # the global model, for fleets (and long histories) only, blended with the local models
    fixed = dict(
        country=options.country,
        subdiv=options.subdiv,
        temperature=temperature,
        horizon=plan.horizon,
    )
    use_global = GLOBAL in options.candidates and bool(
        len(validated) >= options.global_min_meters
        or (
            validated and np.median([len(y) for y in validated.values()]) >= options.global_min_days
        )
    )
    gbm_params, tuning, weight, weights = {}, [], 0.0, {}
    global_errors: dict[str, np.ndarray] = {}
    if use_global:
        fleet = len(validated) >= options.global_min_meters
        grid = options.gbm_grid if fleet else [options.gbm_small_fleet]
        try:
            global_errors, gbm_params, tuning = validate_global(
                validated, covariates, plan, fixed, grid, say
            )
        except Exception as error:
            say(f"global model failed: {error}")
            for m in validated:
                errors[m].append(f"{GLOBAL}: {error}")
        last = {m: len(plan.blocks(len(validated[m]))[-1]) * plan.horizon for m in global_errors}
        weight, weights = blend_weight(
            {m: e[-last[m] :] for m, e in local_errors.items() if m in last},
            global_errors,
            {m: residuals[m][BASELINE][-last[m] :] for m in global_errors},
            options.blend_weights,
            options.global_margin,
        )
        tried = ", ".join(f"{w:.2f}: {v:.3f}" for w, v in weights.items())
        say(f"global model weight in the blend with the local models: {weight:.2f} ({tried})")
    elif GLOBAL in options.candidates:
        say(
            f"global model skipped: {len(validated)} meter(s), median history under "
            f"{options.global_min_days} days (needs {options.global_min_meters} meters or that)"
        )

    # what each meter serves, judged on its validation errors against seasonal naive
    choices: dict[str, Choice] = {}
    served_errors: dict[str, np.ndarray] = {}
    for m in series:
        if m not in validated:
            choices[m] = Choice(BASELINE)
            continue
        baseline = residuals[m][BASELINE]
        members = recipes[m]
        if weight > 0 and m in global_errors:
            n = len(global_errors[m])
            if members:
                blended = weight * global_errors[m] + (1 - weight) * local_errors[m][-n:]
            else:
                blended = global_errors[m]
            kind = GLOBAL if weight >= 1 or not members else BLEND
            candidate, errors_m, base_m = Choice(kind, members), blended, baseline[-n:]
        elif members:
            candidate, errors_m, base_m = Choice(LOCAL, members), local_errors[m], baseline
        else:
            candidate, errors_m, base_m = None, None, None
        if candidate is not None and beats_baseline(errors_m, base_m, options.margin):
            choices[m], served_errors[m] = candidate, errors_m
        else:
            choices[m], served_errors[m] = Choice(BASELINE), baseline
    validation_cpu = time.process_time() - started

    refit_started = time.process_time()
    models, failures = fit_chosen(
        series, choices, covariates, holidays, {**fixed, **gbm_params}, weight, options.n_jobs, say
    )
    refit_cpu = time.process_time() - refit_started
    for m, failed in failures.items():
        errors[m].append(failed)
        served_errors[m] = residuals[m][BASELINE]
    say(f"fitted {len(models)} meters: " + str(
        pd.Series({m: models[m].name for m in models}).value_counts().to_dict()))  # fmt: skip

    spreads, reference, season = {}, {}, {}
    for m, y in series.items():
        season[m] = seasonal_error_profile(y)
        if m not in served_errors:
            continue
        origins = plan.origins(len(y))
        if len(served_errors[m]) < len(origins) * plan.horizon:  # the global model's last block
            origins = plan.blocks(len(y))[-1]
        spreads[m], reference[m] = relative_spread(
            y, served_errors[m], origins, plan.horizon, season[m]
        )
    quantiles = calibrated_quantiles(spreads, plan.horizon)
    say(f"interval quantiles of validation errors: {quantiles}")
    baseline_widths = baseline_intervals(series, residuals, plan, season)

    known = frame if recent is None else pd.concat([frame, recent])
    known = known.drop_duplicates(["meter_id", "date"]).sort_values(["meter_id", "date"])
    history = {
        str(m): pd.Series(
            g["usage"].to_numpy(float), index=pd.DatetimeIndex(g["date"]), name=str(m)
        )
        .asfreq("D")
        .interpolate(limit_direction="both")
        .iloc[-options.history_days :]
        for m, g in known.groupby("meter_id", sort=True)
    }
    rows, intervals = [], {}
    for m in sorted(history):
        row = {"meter_id": m, "days": len(series[m]) if m in series else 0}
        served = m in models or len(history[m]) >= MIN_SERVED_DAYS
        if m not in models and served:
            models[m] = SeasonalNaive()  # chosen, joined in the test window, or too short
        if m in validated:
            row["chosen"] = models[m].name
            row["origins"] = len(plan.origins(len(series[m])))
            row.update({f"mae_{n}": mae(residuals[m].get(n)) for n in names})
            row["local"] = "+".join(recipes[m])
            row["mae_local"] = mae(local_errors.get(m))
            row["mae_gbm_last_block"] = mae(global_errors.get(m))
            row["mae_served"] = mae(served_errors.get(m))
            holiday_k = holiday_effect(models[m])
            row["holiday_effect"] = round(holiday_k, 3) if holiday_k is not None else np.nan
        else:
            row["chosen"] = models[m].name if served else ""
            row["origins"] = 0
            row["reason"] = f"{row['days']} training days: too few to validate any model; " + (
                "served seasonal naive" if served else f"not served (needs {MIN_SERVED_DAYS})"
            )
        row["error"] = "; ".join(errors.get(m, []))
        if m in spreads:
            intervals[m] = {
                str(level): float(np.quantile(spreads[m], quantiles[level]))
                for level in INTERVAL_LEVELS
            }
        elif served:
            intervals[m] = _naive_widths(history[m], quantiles)
        for level, width in intervals.get(m, {}).items():
            row[f"halfwidth_{level}"] = width
        rows.append(row)
    history = {m: h for m, h in history.items() if m in models}
    known_covariates = {
        m: c.iloc[-options.history_days :]
        for m, c in covariate_frames(known, temperature).items()
        if m in models
    }
    note = ""
    if models and all(m.name == BASELINE for m in models.values()):
        note = NO_MODEL_BEATS_BASELINE
        say(f"{note}: this model is the seasonal-naive baseline")
    return ForecastBundle(
        version=version,
        models=models,
        history=history,
        selection=pd.DataFrame(rows),
        intervals=intervals,
        interval_reference={m: r for m, r in reference.items() if r is not None},
        interval_season={m: p for m, p in season.items() if p is not None and m in models},
        baseline_intervals={m: w for m, w in baseline_widths.items() if m in models},
        covariates={m: c for m, c in known_covariates.items() if "temperature" in c},
        extra={
            "gbm_params": gbm_params,
            "blend": {"global_weight": weight, "scores": {str(k): v for k, v in weights.items()}},
            "combination": list(options.combination),
            "tuning": tuning,
            "temperature": temperature,
            "holidays": {
                "country": options.country,
                "subdiv": options.subdiv,
                "days": int(len(holidays)),
            },
            "validation": {
                "days": plan.days,
                "refits": plan.refits,
                "horizon": plan.horizon,
                "candidates": names,
                "global_model": use_global,
            },
            "interval_quantiles": {str(k): v for k, v in quantiles.items()},
            "validation_cpu_seconds": validation_cpu,
            "refit_cpu_seconds": refit_cpu,
            **({"baseline": True, "note": note} if note else {}),
        },
    )


def baseline_intervals(series, residuals, plan, season) -> dict[str, dict[str, float]]:
    """Seasonal naive's interval half-widths per meter, calibrated on its validation errors as
    the served models' are: the widths a baseline bundle serves."""
    spreads = {}
    for m, y in series.items():
        origins = plan.origins(len(y))
        if BASELINE in residuals.get(m, {}) and origins:
            spreads[m], _ = relative_spread(
                y, residuals[m][BASELINE], origins, plan.horizon, season.get(m)
            )
    quantiles = calibrated_quantiles(spreads, plan.horizon)
    return {
        m: {str(level): float(np.quantile(s, quantiles[level])) for level in INTERVAL_LEVELS}
        for m, s in spreads.items()
    }


def _naive_widths(history: pd.Series, quantiles: dict[int, float]) -> dict[str, float]:
    """Interval half-widths for a meter that could not be validated: quantiles of its seasonal
    naive errors in the history it has (none with under two weeks)."""
    values = history.to_numpy(float)
    if len(values) < 2 * MIN_SERVED_DAYS:
        return {}
    errors = np.abs(values[7:] - values[:-7])
    return {str(level): float(np.quantile(errors, quantiles[level])) for level in INTERVAL_LEVELS}
