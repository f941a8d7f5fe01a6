"""The trained forecaster as one object: a fitted model and recent history per meter, the
interval widths calibrated for each, and the facts of the training run.

Meters may share one model object (the global gradient-boosting model): pickled once. Every
model is called alike (``forward``, ``energy_assets.ml.forecaster``) with the meter's exogenous
frame: observed temperature, when training had it, travels in ``covariates.csv`` beside the
usage history, and a model that uses none ignores it.

Prediction intervals are the bundle's, not the models': the ``level``s asked of ``forecast``
are answered from half-widths calibrated on the served model's validation errors (pooled over
the fleet to choose the quantile), scaled to the level before the origin and to the season.

A bundle is what training produces, what evaluation scores and what the endpoint serves. It is
written to a plain directory (``manifest.json`` + ``models.pkl`` + ``history.csv``) that
``energy_assets.serving.artifact`` packs into ``model.tar.gz``. Format 2 keeps the training
facts typed (``TrainingFacts``) and the baseline's note in the manifest (with, since the
per-meter gate, ``notes``: why seasonal naive serves single meters; an artifact without them
has none); format 1 (an ``extra`` dict) still loads, so a rollback can name a version trained
before.
"""

from __future__ import annotations

import json
import pickle
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from energy_assets.ml.facts import TrainingFacts
from energy_assets.ml.forecaster import Forecaster
from energy_assets.ml.models import SeasonalNaive
from energy_assets.ml.series import meter_series
from energy_assets.ml.validation import profile_at

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
MANIFEST = "manifest.json"
MODELS = "models.pkl"
HISTORY = "history.csv"
COVARIATES = "covariates.csv"


class UnknownMeterError(KeyError):
    """The bundle has no model for the requested meter."""

    def __str__(self) -> str:
        return str(self.args[0])


def library_versions() -> dict[str, str]:
    import sklearn
    import statsmodels

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "statsmodels": statsmodels.__version__,
        "scikit-learn": sklearn.__version__,
    }


@dataclass
class ForecastBundle:
    """Fitted per-meter models plus the recent actuals they forecast from."""

    version: str
    models: dict[str, Forecaster]
    history: dict[str, pd.Series]
    selection: pd.DataFrame = field(default_factory=pd.DataFrame)
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    training: TrainingFacts = field(default_factory=TrainingFacts)
    # why this model serves when it is not obvious (the seasonal-naive baseline: the reason),
    # shown to whoever reads the forecasts; and the version a baseline stands in for
    note: str = ""
    instead_of: str | None = None
    covariates: dict[str, pd.DataFrame] = field(default_factory=dict)
    # the level (mean of the last 28 training days) at which a meter's interval widths hold;
    # forecasts from another level scale the widths in proportion
    interval_reference: dict[str, float] = field(default_factory=dict)
    # how a meter's errors vary over the year (366 factors by day of year, mean 1): widths are
    # multiplied by the factor of each forecast day
    interval_season: dict[str, np.ndarray] = field(default_factory=dict)
    # seasonal naive's own widths per meter, calibrated the same way: what the baseline would
    # serve in this bundle's place (``as_baseline``)
    baseline_intervals: dict[str, dict[str, float]] = field(default_factory=dict)
    # why seasonal naive serves a single meter (the per-meter gate): shown with that meter's
    # forecasts in place of ``note``
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def meters(self) -> list[str]:
        return sorted(self.models)

    def model_name(self, meter_id: str) -> str:
        return self._model(meter_id).name

    def meter_note(self, meter_id: str) -> str:
        """Why this meter's model serves when it is not obvious: its own note (seasonal naive
        serving it alone), else the bundle's."""
        return self.notes.get(meter_id) or self.note

    def _model(self, meter_id: str):
        try:
            return self.models[meter_id]
        except KeyError:
            raise UnknownMeterError(
                f"unknown meter {meter_id!r}; this model serves {len(self.models)} meters"
            ) from None

    def forecast(
        self,
        meter_id: str,
        horizon: int,
        start: str | pd.Timestamp | None = None,
        level: Iterable[int] | None = None,
    ) -> pd.DataFrame:
        """Forecast ``horizon`` days from ``start`` (default: the day after the last actual).

        Columns ``lower_80``/``upper_80`` (and 95) come with the forecast for each ``level``
        (default: every level the meter has interval widths for; quantiles of validation
        errors; lower bounds stop at 0). With ``start`` inside the known history the forecast
        is made from that origin, using only actuals before ``start``; past the end of history
        the model forecasts through the gap and returns the requested days.
        """
        dates, values, bands = self.forecast_values(meter_id, horizon, start, level)
        columns = {"date": dates, "forecast": values}
        for level, (lower, upper) in bands.items():
            columns[f"lower_{level}"] = lower
            columns[f"upper_{level}"] = upper
        return pd.DataFrame(columns)  # one construction: inserting columns costs a ms

    def forecast_values(
        self,
        meter_id: str,
        horizon: int,
        start: str | pd.Timestamp | None = None,
        level: Iterable[int] | None = None,
    ) -> tuple[pd.DatetimeIndex, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """``forecast`` as arrays: (days, values, {level: (lower, upper)}), for serving,
        where building a DataFrame per request would cost about as much as the model."""
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        self._model(meter_id)  # an unknown meter fails here, before any history lookup
        history = self.history[meter_id]
        last = history.index[-1]
        start_ts = last + pd.Timedelta(days=1) if start is None else pd.Timestamp(start).normalize()
        context = history if start_ts > last else history[history.index < start_ts]
        if context.empty:
            raise ValueError(
                f"start {start_ts.date()} is before the first known day {history.index[0].date()}"
            )
        origin = context.index[-1]
        skip = (start_ts - origin).days - 1
        values = self.forward(meter_id, context, skip + horizon)[skip:]
        dates = pd.date_range(start_ts, periods=horizon, freq="D")
        bands = {
            name: (np.clip(values - half, 0, None), values + half)
            for name, half in self.halfwidths(meter_id, context, dates, level).items()
        }
        return dates, values, bands

    def halfwidths(
        self,
        meter_id: str,
        history: pd.Series,
        dates: pd.DatetimeIndex,
        level: Iterable[int] | None = None,
    ) -> dict[str, np.ndarray]:
        """Interval half-widths by level (default: every calibrated one) for forecasts of
        ``dates`` made after ``history``: the calibrated width, scaled to the level before the
        origin and to the season of each day."""
        widths = self.intervals.get(meter_id, {})
        if level is not None:
            wanted = [str(v) for v in level]
            missing = [v for v in wanted if v not in widths]
            if missing:
                known = ", ".join(widths) or "none"
                raise ValueError(
                    f"no {'/'.join(missing)}% interval for meter {meter_id!r} (levels: {known})"
                )
            widths = {v: widths[v] for v in wanted}
        scale = self.interval_factor(meter_id, history) * profile_at(
            self.interval_season.get(meter_id), dates
        )
        return {str(name): halfwidth * scale for name, halfwidth in widths.items()}

    def interval_factor(self, meter_id: str, history: pd.Series) -> float:
        """How much wider than at the end of training the intervals are after ``history``."""
        reference = self.interval_reference.get(meter_id)
        if not reference:
            return 1.0
        level = float(np.mean(np.asarray(history, dtype=float)[-28:]))
        return level / reference if np.isfinite(level) and level > 0 else 1.0

    def forward(
        self,
        meter_id: str,
        y: pd.Series,
        h: int,
        X_future: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """The meter's model forecast of the ``h`` days after ``y``, given the meter's stored
        exogenous frame (observed temperature; only days up to the origin matter in the honest
        setting) and any ``X_future`` for the days ahead."""
        model = self._model(meter_id)
        return model.forward(y, h, self.covariates.get(meter_id), X_future)

    @property
    def is_baseline(self) -> bool:
        """Every meter served by seasonal naive."""
        return bool(self.models) and all(m.name == SeasonalNaive.name for m in self.models.values())

    @property
    def baseline_meters(self) -> list[str]:
        """The meters served by seasonal naive."""
        return [m for m in self.meters if self.models[m].name == SeasonalNaive.name]

    def as_baseline(self, version: str, reason: str | Mapping[str, str]) -> ForecastBundle:
        """The same meters and history served by seasonal naive with its own interval widths:
        what deploys when no model beats the baseline. ``reason`` says why, in one line, to
        whoever reads the forecasts (``note``).

        ``reason`` as a mapping (meter -> why) gates only those meters: the per-meter gate.
        Each becomes that meter's note (``meter_note``); the bundle's note stays, and the other
        meters keep their models and widths."""
        fleet = isinstance(reason, str)
        gated = dict.fromkeys(self.models, reason) if fleet else dict(reason)
        unknown = sorted(set(gated) - set(self.models))
        if unknown:
            raise UnknownMeterError(f"cannot serve seasonal naive for unknown meters {unknown}")
        if fleet:
            intervals = self.baseline_intervals or self.intervals
        else:
            intervals = {
                **self.intervals,
                **{m: self.baseline_intervals[m] for m in gated if m in self.baseline_intervals},
            }
        selection = self.selection
        if len(selection):
            names = {
                m: SeasonalNaive.name if m in gated else f.name for m, f in self.models.items()
            }
            selection = selection.assign(served=selection["meter_id"].astype(str).map(names))
        return ForecastBundle(
            version=version,
            models={m: SeasonalNaive() if m in gated else f for m, f in self.models.items()},
            history=self.history,
            selection=selection,
            intervals=intervals,
            interval_reference=self.interval_reference,
            interval_season=self.interval_season,
            baseline_intervals=self.baseline_intervals,
            training=self.training,
            covariates=self.covariates,
            note=reason if fleet else self.note,
            notes={} if fleet else {**self.notes, **gated},
            instead_of=self.version,
        )

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "created_at": self.created_at,
            "libraries": library_versions(),
            "meters": {m: self.models[m].name for m in self.meters},
            "training": self.training.to_dict(),
            "note": self.note,
            "instead_of": self.instead_of,
            "notes": self.notes,
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        with open(directory / MODELS, "wb") as fh:
            payload = {
                "models": self.models,
                "selection": self.selection,
                "intervals": self.intervals,
                "interval_reference": self.interval_reference,
                "interval_season": self.interval_season,
                "baseline_intervals": self.baseline_intervals,
            }
            pickle.dump(payload, fh, protocol=5)
        frames = [
            pd.DataFrame({"meter_id": m, "date": s.index.strftime("%Y-%m-%d"), "usage": s.values})
            for m, s in self.history.items()
        ]
        pd.concat(frames, ignore_index=True).to_csv(directory / HISTORY, index=False)
        if self.covariates:
            frames = [
                c.rename_axis("date").reset_index().assign(meter_id=m)
                for m, c in self.covariates.items()
            ]
            pd.concat(frames, ignore_index=True).to_csv(directory / COVARIATES, index=False)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> ForecastBundle:
        directory = Path(directory)
        manifest = json.loads((directory / MANIFEST).read_text())
        found = manifest.get("format_version")
        if found not in READABLE_FORMATS:
            raise ValueError(
                f"model artifact format {found} is not supported "
                f"(this code reads formats {', '.join(map(str, READABLE_FORMATS))})"
            )
        with open(directory / MODELS, "rb") as fh:
            payload = pickle.load(fh)
        hist = pd.read_csv(directory / HISTORY, dtype={"meter_id": str}, parse_dates=["date"])
        history = meter_series(hist)
        covariates = {}
        if (directory / COVARIATES).exists():
            frame = pd.read_csv(
                directory / COVARIATES, dtype={"meter_id": str}, parse_dates=["date"]
            )
            covariates = {
                m: g.drop(columns="meter_id").set_index("date")
                for m, g in frame.groupby("meter_id", sort=False)
            }
        return cls(
            version=manifest["version"],
            models=payload["models"],
            history=history,
            selection=payload["selection"],
            intervals=payload.get("intervals", {}),
            interval_reference=payload.get("interval_reference", {}),
            interval_season=payload.get("interval_season", {}),
            baseline_intervals=payload.get("baseline_intervals", {}),
            created_at=manifest["created_at"],
            covariates=covariates,
            **_facts(manifest),
        )


def _facts(manifest: dict) -> dict:
    """The training facts and the note of a manifest of either format."""
    if manifest["format_version"] == 1:
        extra = manifest.get("extra") or {}
        return {
            "training": TrainingFacts.from_extra(extra),
            "note": str(extra.get("note", "")),
            "instead_of": extra.get("instead_of"),
        }
    return {
        "training": TrainingFacts.from_dict(manifest["training"]),
        "note": manifest.get("note", ""),
        "instead_of": manifest.get("instead_of"),
        "notes": dict(manifest.get("notes") or {}),
    }
