"""Choose and fit one forecaster per meter, in parallel processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.models import SeasonalNaive, make_model

BASELINE = SeasonalNaive.name


def _series(values: np.ndarray, start: pd.Timestamp) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


INTERVAL_LEVELS = (80, 95)


def backtest_residuals(
    name: str, y: pd.Series, horizon: int, origins: int, step: int
) -> np.ndarray:
    """Errors (actual - forecast) of ``horizon``-day forecasts from ``origins`` origins ``step``
    days apart, the latest ending at the last day of ``y``; the model is refit at each origin."""
    residuals = []
    for k in range(origins):
        cut = len(y) - horizon - k * step
        past, future = y.iloc[:cut], y.iloc[cut : cut + horizon].to_numpy()
        residuals.append(future - make_model(name).fit(past).forecast(past, horizon))
    return np.concatenate(residuals)


def fit_meter(
    meter_id: str,
    values: np.ndarray,
    start: pd.Timestamp,
    candidates: Sequence[str],
    validation_days: int,
    origins: int = 3,
    step: int = 14,
) -> tuple[str, object, dict]:
    """Score each candidate by rolling-origin backtest on the training window, keep the lowest
    MAE — seasonal naive on ties and failures — and refit it on all ``values``."""
    y = _series(values, start)
    origins = max(1, min(origins, (len(y) - validation_days - 35) // step + 1))
    row: dict = {"meter_id": meter_id, "chosen": BASELINE, "error": ""}
    errors = []
    names = list(dict.fromkeys([BASELINE, *candidates]))
    residuals: dict[str, np.ndarray] = {}
    for name in names:
        try:
            residuals[name] = backtest_residuals(name, y, validation_days, origins, step)
            row[f"mae_{name}"] = float(np.mean(np.abs(residuals[name])))
        except Exception as error:  # a failed candidate must not fail the meter
            row[f"mae_{name}"] = np.nan
            errors.append(f"{name}: {error}")
    scores = {n: row[f"mae_{n}"] for n in names}
    best = min(
        (n for n, v in scores.items() if np.isfinite(v)),
        key=lambda n: (scores[n], n != BASELINE),
        default=BASELINE,
    )
    try:
        model = make_model(best).fit(y)
    except Exception as error:
        errors.append(f"{best} refit: {error}")
        best, model = BASELINE, SeasonalNaive().fit(y)
    row["chosen"] = best
    row["error"] = "; ".join(errors)
    # interval half-widths: quantiles of the chosen model's absolute backtest errors
    spread = np.abs(residuals.get(best, residuals.get(BASELINE, np.array([np.nan]))))
    for level in INTERVAL_LEVELS:
        row[f"halfwidth_{level}"] = float(np.quantile(spread, level / 100))
    return meter_id, model, row


def train_forecasters(
    train: pd.DataFrame,
    version: str,
    validation_days: int = 28,
    candidates: Sequence[str] = ("seasonal_naive", "ensemble"),
    n_jobs: int = -1,
    history_days: int = 400,
    log: Callable[[str], None] | None = None,
    recent: pd.DataFrame | None = None,
) -> ForecastBundle:
    """One model per meter of a gap-free long frame (``meter_id, date, usage``).

    Parameters are learnt from ``train`` only. ``recent`` holds actuals after the training
    window (the test days): they join the bundle's history, so the served forecast starts after
    the latest known day, while evaluation still forecasts from the end of training.
    """
    frame = train.sort_values(["meter_id", "date"])
    groups = [
        (str(m), g["usage"].to_numpy(float), pd.Timestamp(g["date"].iloc[0]))
        for m, g in frame.groupby("meter_id", sort=True)
    ]
    too_short = [m for m, v, _ in groups if len(v) < validation_days + 14]
    if too_short:
        raise ValueError(
            f"meters with fewer than {validation_days + 14} training days: {too_short[:10]}"
        )
    say = log or (lambda message: None)
    say(f"fitting {len(groups)} meters, candidates {list(candidates)}, n_jobs={n_jobs}")
    step = max(1, len(groups) // 10)
    results = []
    runner = Parallel(n_jobs=n_jobs, return_as="generator", batch_size="auto")
    jobs = (delayed(fit_meter)(m, v, s, candidates, validation_days) for m, v, s in groups)
    for i, result in enumerate(runner(jobs), start=1):
        results.append(result)
        if i % step == 0 or i == len(groups):
            say(f"fitted {i}/{len(groups)} meters")
    models = {m: model for m, model, _ in results}
    selection = pd.DataFrame([row for _, _, row in results])
    known = (
        frame if recent is None else pd.concat([frame, recent]).sort_values(["meter_id", "date"])
    )
    history = {
        str(m): pd.Series(
            g["usage"].to_numpy(float), index=pd.DatetimeIndex(g["date"]), name=str(m)
        )
        .asfreq("D")
        .interpolate(limit_direction="both")
        .iloc[-history_days:]
        for m, g in known.drop_duplicates(["meter_id", "date"]).groupby("meter_id", sort=True)
        if str(m) in models
    }
    intervals = {
        str(r["meter_id"]): {str(level): r[f"halfwidth_{level}"] for level in INTERVAL_LEVELS}
        for r in selection.to_dict("records")
    }
    return ForecastBundle(
        version=version,
        models=models,
        history=history,
        selection=selection,
        intervals=intervals,
    )
