"""The training window as the phases of training read it: per-meter series, public holidays,
the temperature mode and the exogenous frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from energy_assets.ml.calendar import holiday_ordinals
from energy_assets.ml.selection import BASELINE
from energy_assets.ml.series import meter_series

if TYPE_CHECKING:
    from energy_assets.ml.training import TrainingOptions


def holiday_days(frame: pd.DataFrame, country: str | None, subdiv: str | None) -> np.ndarray:
    """Day numbers of public holidays: the calendar of ``country``/``subdiv`` over the data's
    years and three after, and the days a ``holiday`` column marks."""
    dates = pd.DatetimeIndex(frame["date"])
    marked = dates[frame["holiday"].to_numpy(float) > 0] if "holiday" in frame else None
    years = range(dates.min().year - 1, dates.max().year + 4)
    return holiday_ordinals(country, subdiv, years, marked)


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
class TrainingData:
    """The training window as every phase reads it."""

    frame: pd.DataFrame  # the long frame, sorted by meter and date
    known: pd.DataFrame  # with the actuals after the window (``recent``): the served history
    series: dict[str, pd.Series]  # each meter's training days
    validated: dict[str, pd.Series]  # the meters long enough to validate on
    names: list[str]  # the candidates validated per meter: seasonal naive, then local models
    holidays: np.ndarray  # day numbers of public holidays
    temperature: str  # the global model's temperature mode
    covariates: dict[str, pd.DataFrame]  # each meter's exogenous frame by date


def prepare(
    train: pd.DataFrame, recent: pd.DataFrame | None, options: TrainingOptions
) -> TrainingData:
    frame = train.sort_values(["meter_id", "date"])
    if frame.empty:
        raise ValueError("no training days: nothing to train on")
    series = meter_series(frame)
    every = frame if recent is None else pd.concat([frame, recent])
    known = every.drop_duplicates(["meter_id", "date"]).sort_values(["meter_id", "date"])
    temperature = temperature_mode(frame, options)
    return TrainingData(
        frame=frame,
        known=known,
        series=series,
        validated={m: y for m, y in series.items() if options.plan.origins(len(y))},
        names=[BASELINE, *options.local],
        holidays=holiday_days(every, options.country, options.subdiv),
        temperature=temperature,
        covariates=covariate_frames(frame, temperature),
    )
