"""From raw exported text to one value per meter and day, losing nothing.

Every raw row ends up either in the clean frame or in the quarantine with a reason, and the
counts prove it (``rows_in == rows_clean + rows_quarantined``); missing days (gaps and
quarantined days) are imputed and flagged, never left as holes. Columns besides
``meter_id, date, usage`` are used only when declared as covariates: one stray attribute on one
item must not become a column for the whole fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from energy_assets.ml.days import parse_days

REASONS = (
    "missing_meter",
    "invalid_date",
    "timezone",
    "future_date",
    "before_history_start",
    "missing_usage",
    "invalid_usage",
    "negative_usage",
    "missing_covariate",
    "invalid_covariate",
    "quality_flag",
    "duplicate",
    "outlier",
)
KEY_COLUMNS = ("meter_id", "date", "usage")
# Descriptive attributes meter-file imports write beside usage: kept, never used as numbers.
METADATA_COLUMNS = ("unit", "quality", "source")


@dataclass
class CleanResult:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    stats: dict


def _text(column: pd.Series) -> pd.Series:
    text = column.astype("string").str.strip()
    return text.mask(text.str.lower().isin(["", "nan", "none", "null"]))


def _number(text: pd.Series) -> pd.Series:
    value = pd.to_numeric(text, errors="coerce").astype(float)
    return value.where(np.isfinite(value))


def _flagged(raw: pd.DataFrame, quarantine_quality: str) -> pd.Series:
    """Rows whose ``quality`` (meter files: the day's quality letters, e.g. ``AS``) holds one of
    the letters to quarantine; rows without a quality column or value are not flagged."""
    if not quarantine_quality or "quality" not in raw.columns:
        return pd.Series(False, index=raw.index)
    letters = _text(raw["quality"]).fillna("").str.upper()
    pattern = "[" + "".join(sorted(set(quarantine_quality.upper()))) + "]"
    return letters.str.contains(pattern, regex=True)


def _reasons(
    raw: pd.DataFrame,
    covariates: Sequence[str],
    max_outlier_score: float,
    first_day: pd.Timestamp | None,
    last_day: pd.Timestamp | None,
    quarantine_quality: str = "",
    timezone: str = "UTC",
) -> tuple[pd.Series, pd.DataFrame, pd.Series]:
    """A reason per rejected row (NA for good rows), the parsed columns, and which accepted
    dates were not written as ``YYYY-MM-DD``."""
    meter = _text(raw["meter_id"])
    days = parse_days(_text(raw["date"]), timezone)
    day = days["day"]
    usage_text = _text(raw["usage"])
    value = _number(usage_text)

    checks = [
        ("missing_meter", meter.isna()),
        ("invalid_date", days["problem"].eq("invalid_date")),
        ("timezone", days["problem"].eq("timezone")),
        ("future_date", day > last_day if last_day is not None else None),
        ("before_history_start", day < first_day if first_day is not None else None),
        ("missing_usage", usage_text.isna()),
        ("invalid_usage", value.isna()),
        ("negative_usage", value < 0),
    ]
    parsed = pd.DataFrame({"meter_id": meter, "date": day, "usage": value})
    for column in covariates:
        text = _text(raw[column])
        parsed[column] = _number(text)
        checks += [
            ("missing_covariate", text.isna()),
            ("invalid_covariate", parsed[column].isna()),
        ]
    checks.append(("quality_flag", _flagged(raw, quarantine_quality)))
    reason = pd.Series(pd.NA, index=raw.index, dtype="object")
    for name, bad in checks:
        if bad is not None:
            reason = reason.mask(reason.isna() & bad.fillna(False).astype(bool), name)

    # Several rows for one meter and day: the one spelled YYYY-MM-DD wins, then the first.
    ok = reason.isna()
    ranked = parsed[ok].assign(_n=days["normalised"][ok], _p=np.flatnonzero(ok.to_numpy()))
    ranked = ranked.sort_values(["_n", "_p"])
    duplicate = ranked.duplicated(["meter_id", "date"], keep="first")
    reason.loc[duplicate[duplicate].index] = "duplicate"

    ok = reason.isna()
    good = parsed[ok]
    median = good.groupby("meter_id")["usage"].transform("median")
    deviation = (good["usage"] - median).abs()
    mad = deviation.groupby(good["meter_id"]).transform("median") * 1.4826
    fallback = deviation.groupby(good["meter_id"]).transform("mean") * 1.2533
    # A few days of near-identical readings give a scale near zero, and an ordinary day looks
    # like an outlier: the scale is at least a tenth of the meter's typical level.
    scale = np.maximum(mad.where(mad > 0, fallback), 0.1 * median.abs())
    score = (deviation / scale).where(scale > 0, 0.0)
    outlier = score > max_outlier_score
    reason.loc[outlier[outlier].index] = "outlier"
    return reason, parsed, days["normalised"]


def _full_calendar(observed: pd.DataFrame) -> pd.DataFrame:
    """Every day from each meter's first to last observed day (vectorised, no per-meter loop)."""
    span = observed.groupby("meter_id", sort=True)["date"].agg(["min", "max"])
    lengths = (span["max"] - span["min"]).dt.days.to_numpy() + 1
    starts = np.repeat(span["min"].to_numpy(), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return pd.DataFrame(
        {
            "meter_id": np.repeat(span.index.to_numpy(), lengths),
            "date": starts + offsets.astype("timedelta64[D]"),
        }
    )


def _impute(frame: pd.DataFrame, column: str) -> pd.Series:
    """Same weekday one week either side, then linear in time, then the meter's median."""
    groups = frame.groupby("meter_id", sort=False)[column]
    values = frame[column]
    seasonal = pd.concat([groups.shift(7), groups.shift(-7)], axis=1).mean(axis=1)
    filled = values.fillna(seasonal)
    if filled.isna().any():
        linear = filled.groupby(frame["meter_id"], sort=False).transform(
            lambda s: s.interpolate(limit_direction="both")
        )
        filled = filled.fillna(linear)
    return filled.fillna(groups.transform("median"))


def _ignored_attributes(raw: pd.DataFrame, covariates: Sequence[str]) -> dict[str, int]:
    """Undeclared columns and how many rows carry a value in each (reported, never used)."""
    known = (*KEY_COLUMNS, *METADATA_COLUMNS, *covariates)
    extras = [c for c in raw.columns if c not in known]
    counts = {c: int(_text(raw[c]).notna().sum()) for c in extras}
    return {c: n for c, n in sorted(counts.items()) if n}


def clean_usage(
    raw: pd.DataFrame,
    max_outlier_score: float = 12.0,
    covariates: Sequence[str] = (),
    first_day: str | pd.Timestamp | None = None,
    last_day: str | pd.Timestamp | None = None,
    quarantine_quality: str = "",
    timezone: str = "UTC",
) -> CleanResult:
    """Quarantine bad rows with a reason, then impute every missing meter-day and flag it.

    ``covariates`` are the declared numeric columns kept beside usage (each row must carry a
    finite number in each, or it is quarantined); other columns are ignored and counted.
    Rows dated after ``last_day`` (the last complete day) or before ``first_day`` (the history
    start) are quarantined as ``future_date`` / ``before_history_start``.
    ``quarantine_quality`` (e.g. ``"SEF"``) also quarantines rows whose quality letters include
    one of these: substituted or estimated reads from meter files, imputed here like gaps.
    ``timezone`` is where the meters are: a date with a zone must be midnight there
    (``energy_assets.ml.days``).
    """
    missing = {"meter_id", "date", "usage"} - set(raw.columns)
    if missing:
        raise ValueError(f"raw usage lacks column(s) {sorted(missing)}")
    covariates = list(dict.fromkeys(covariates))
    clash = sorted(set(covariates) & {*KEY_COLUMNS, *METADATA_COLUMNS})
    if clash:
        raise ValueError(f"covariates cannot be key or metadata columns: {clash}")
    absent = [c for c in covariates if c not in raw.columns or _text(raw[c]).isna().all()]
    if absent and len(raw):
        raise ValueError(
            f"declared covariate(s) {absent} absent from every raw row; declare only "
            "attributes the table carries (ENERGY_ASSETS_COVARIATES or the cleaning config)"
        )
    raw = raw.reset_index(drop=True)
    first = pd.Timestamp(first_day) if first_day is not None else None
    last = pd.Timestamp(last_day) if last_day is not None else None
    reason, parsed, normalised = _reasons(
        raw, covariates, max_outlier_score, first, last, quarantine_quality, timezone
    )
    bad = reason.notna()
    quarantine = raw[bad].astype("string").assign(reason=reason[bad].astype(str))

    observed = parsed[~bad].copy()
    if observed.empty:
        raise ValueError("no valid usage rows to clean")
    grid = _full_calendar(observed)
    clean = grid.merge(observed, on=["meter_id", "date"], how="left")
    clean["imputed"] = clean["usage"].isna()
    for column in ("usage", *covariates):
        clean[column] = _impute(clean, column).astype(float)
    clean["meter_id"] = clean["meter_id"].astype(str)

    counts = reason[bad].value_counts()
    ignored = _ignored_attributes(raw, covariates)
    stats = {
        "rows_in": len(raw),
        "rows_clean": int((~bad).sum()),
        "rows_quarantined": int(bad.sum()),
        "rows_imputed": int(clean["imputed"].sum()),
        "dates_normalised": int((normalised & ~bad).sum()),
        "covariates": ", ".join(covariates) or "none",
        "ignored_attributes": ", ".join(f"{c} ({n} rows)" for c, n in ignored.items()) or "none",
        "ignored_attribute_values": sum(ignored.values()),
        "meters": int(clean["meter_id"].nunique()),
        "days": int(clean["date"].nunique()),
        "first_date": str(clean["date"].min().date()),
        "last_date": str(clean["date"].max().date()),
        **{f"quarantined_{r}": int(counts.get(r, 0)) for r in REASONS},
    }
    return CleanResult(clean=clean, quarantine=quarantine.reset_index(drop=True), stats=stats)


def counted(stats: dict) -> bool:
    """Counted in, counted out: every row read is a clean row or a quarantined row with one of
    the known reasons."""
    by_reason = sum(stats[f"quarantined_{r}"] for r in REASONS)
    return (
        stats["rows_in"]
        == stats["rows_clean"] + stats["rows_quarantined"]
        == (stats["rows_clean"] + by_reason)
    )
