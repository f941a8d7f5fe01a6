"""Fill the usage table from the generator or from a CSV in ``meter_id,date,usage`` form.

The seed is the table's front door, so it refuses what the table cannot hold faithfully: a file
without rows, columns it cannot name, and two different readings for one meter and day (the
table keeps one item per key, so one of them would vanish). Problems are ``SeedError``: one
line, said before anything is written.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from energy_assets import meter_days
from energy_assets.errors import CommandError
from energy_assets.ml.cleaning import METADATA_COLUMNS
from energy_assets.ml.days import day_keys, parse_days
from energy_assets.resources import UsageTableResource
from energy_assets.settings import Settings, holiday_calendar

KEYS = ("meter_id", "date", "usage")
# Header spellings taken as each key column (after lower-casing, non-alphanumerics -> "_").
ALIASES = {
    "meter_id": ("meter_id", "meter", "meterid", "meter_number", "nmi"),
    "date": ("date", "day", "reading_date", "datetime", "timestamp"),
    "usage": ("usage", "usage_kwh", "kwh", "consumption", "consumption_kwh", "energy_kwh"),
}
SEPARATORS = (",", ";", "\t", "|")


class SeedError(CommandError, ValueError):
    """Input the seed refuses, said in one line; nothing has been written."""


@dataclass
class SeedSummary:
    table: str
    rows: int
    meters: int
    first_date: str
    last_date: str
    single_series: bool
    created_table: bool
    covariates: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    repeated_rows: int = 0  # rows repeating another row exactly (one item written)
    unreadable_dates: int = 0  # items written as they are; cleaning quarantines them
    future_dates: int = 0
    place: str = ""  # whose public holidays the meters keep, as tagged on the table
    notes: list[str] = field(default_factory=list)


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lstrip("\ufeff").lower()).strip("_")


def _separator(path: Path) -> str:
    """The separator of the header line: the most frequent of , ; tab |."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next((line for line in handle if line.strip()), "")
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _rename(columns: list[str], path, chosen: dict[str, str | None]) -> dict[str, str]:
    """Original header -> canonical name, for key columns found by option or by alias."""
    snake = {c: _snake(c) for c in columns}
    mapping: dict[str, str] = {}
    for key, aliases in ALIASES.items():
        option = chosen.get(key)
        if option:
            found = [c for c in columns if c == option or snake[c] == _snake(option)]
            if not found:
                raise SeedError(
                    f"{path}: no column {option!r} (--{key.split('_')[0]}-column); "
                    f"columns: {', '.join(columns)}"
                )
        else:
            found = [c for c in columns if snake[c] in aliases]
        if len(found) > 1:
            raise SeedError(
                f"{path}: columns {', '.join(map(repr, found))} all look like {key}; "
                f"choose one with --{key.split('_')[0]}-column"
            )
        if found:
            mapping[found[0]] = key
    for column in columns:
        mapping.setdefault(column, snake[column])
    return mapping


def read_usage_csv(
    path: str | Path,
    date_column: str | None = None,
    usage_column: str | None = None,
    meter_column: str | None = None,
    sep: str | None = None,
) -> pd.DataFrame:
    """Read a usage CSV as text (bad values stay as they are).

    Needs a date and a usage column: ``date``/``usage`` in any case, or the usual other
    spellings (``Day``, ``kWh``, ``consumption``, ``meter``, ``NMI``; see ``ALIASES``), or the
    names given; separated by comma, semicolon, tab or ``|`` (found from the header line).
    """
    path = Path(path)
    if not path.is_file():
        raise SeedError(f"{path}: no such file")
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            sep=sep or _separator(path),
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise SeedError(
            f"{path}: the file is empty; expected a header meter_id,date,usage"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as error:
        message = str(error).strip().splitlines()[0]
        raise SeedError(f"{path}: not a readable CSV ({message})") from None
    chosen = {"date": date_column, "usage": usage_column, "meter_id": meter_column}
    mapping = _rename(list(frame.columns), path, chosen)
    frame = frame.rename(columns=mapping)
    missing = [k for k in ("date", "usage") if k not in frame.columns]
    if missing:
        raise SeedError(
            f"{path}: no {' or '.join(missing)} column (columns: {', '.join(mapping)}); "
            f"expected meter_id,date,usage, or name them with "
            + " ".join(f"--{k}-column" for k in missing)
        )
    if frame.columns.duplicated().any():
        twice = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise SeedError(f"{path}: column(s) {twice} appear twice")
    if frame.empty:
        raise SeedError(f"{path}: no rows under the header; nothing to seed")
    frame.attrs["source"] = str(path)
    frame.attrs["first_line"] = 2  # data rows start on the line after the header
    return frame


def _where(frame: pd.DataFrame, index) -> str:
    first = frame.attrs.get("first_line")
    return f"line {index + first}" if first is not None else f"row {index + 1}"


def _drop_repeats(frame: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int]:
    """Rows repeating another row exactly become one; a key with differing rows is refused."""
    frame = frame.reset_index(drop=True)
    stripped = frame.astype(str).apply(lambda c: c.str.strip())
    repeats = stripped.duplicated(keep="first")
    unique = stripped[~repeats]
    clash = unique.duplicated(keys, keep=False)
    if clash.any():
        groups = unique[clash].groupby(keys, sort=False)
        n = groups.ngroups
        key, rows = next(iter(groups))
        key = key if isinstance(key, tuple) else (key,)
        shown = "; ".join(
            f"usage {r.usage!r} on {_where(frame, i)}" for i, r in rows.head(3).iterrows()
        )
        source = frame.attrs.get("source", "input")
        raise SeedError(
            f"{source}: {n} meter-day key(s) given more than once with different values, "
            f"e.g. {' '.join(key)}: {shown}; the table keeps one item per key, so nothing was "
            "seeded: remove the wrong reading(s) and seed again"
        )
    return frame[~repeats.to_numpy()], int(repeats.sum())


def seed_table(
    table: UsageTableResource,
    frame: pd.DataFrame,
    single_series: bool | None = None,
    covariates: Sequence[str] | None = None,
    country: str | None = None,
    subdiv: str | None = None,
) -> SeedSummary:
    """Create the table when absent (one series when the frame has no ``meter_id``) and write
    the key columns, the declared ``covariates`` (default ``ENERGY_ASSETS_COVARIATES``) and the
    meter files' descriptive columns (``unit``, ``quality``, ``source``); other columns are not
    written, and are named in the summary."""
    if frame.empty:
        raise SeedError(f"{frame.attrs.get('source', 'input')}: no rows; nothing to seed")
    declared = tuple(Settings().covariates if covariates is None else covariates)
    absent = [c for c in declared if c not in frame.columns]
    if absent:
        raise SeedError(
            f"{frame.attrs.get('source', 'input')}: declared covariate(s) {absent} are not "
            f"columns (columns: {', '.join(frame.columns)})"
        )
    single = ("meter_id" not in frame.columns) if single_series is None else single_series
    if single and "meter_id" in frame.columns:
        if frame["meter_id"].nunique() > 1:
            raise SeedError("a table keyed by date alone holds one series; got several meters")
        frame = frame.drop(columns="meter_id")
    written = (*KEYS, *declared, *METADATA_COLUMNS)
    ignored = tuple(c for c in frame.columns if c not in written)
    frame = frame[[c for c in frame.columns if c in written]]
    keys = ["date"] if single else ["meter_id", "date"]
    frame, repeated = _drop_repeats(frame, keys)
    settings = Settings()
    days = parse_days(frame["date"].astype("string").str.strip(), settings.timezone)["day"]
    today = pd.Timestamp(meter_days.today(settings.timezone))
    future = days > today
    readable = days[days.notna() & ~future]
    if readable.empty:
        raise SeedError(
            f"{frame.attrs.get('source', 'input')}: no row names a readable past day "
            "(YYYY-MM-DD); nothing seeded"
        )
    if country:  # an unknown place is an error before anything is written
        try:
            holiday_calendar(country, subdiv)
        except ValueError as error:
            raise SeedError(str(error)) from None
    created = not table.exists()
    staging = None
    if created and 0 < table.bulk_load_min_items <= len(frame):
        staging = _staging_bucket(settings)  # a large new table is loaded by ImportTable
    rows = table.load_usage(frame, single_series=single, staging_bucket=staging).items
    if country:
        table.set_place(country, subdiv)
    summary = SeedSummary(
        table=table.table_name,
        rows=rows,
        meters=1 if single else int(frame["meter_id"].nunique()),
        first_date=str(day_keys(readable).min()),
        last_date=str(day_keys(readable).max()),
        single_series=single,
        created_table=created,
        covariates=declared,
        ignored_columns=ignored,
        repeated_rows=repeated,
        unreadable_dates=int(days.isna().sum()),
        future_dates=int(future.sum()),
        place=(country + (f"/{subdiv}" if subdiv else "")) if country else "",
    )
    summary.notes = _notes(summary)
    return summary


def _staging_bucket(settings: Settings) -> str:
    """The data bucket (created private and encrypted when absent, as the pipeline would),
    where ImportTable reads a large seed from."""
    from dagster_aws.s3 import S3Resource

    from energy_assets.resources import S3Storage

    S3Storage(bucket=settings.bucket, s3=S3Resource(region_name=settings.region)).ensure_bucket()
    return settings.bucket


def _notes(s: SeedSummary) -> list[str]:
    notes = []
    if s.repeated_rows:
        notes.append(f"{s.repeated_rows} row(s) repeated another row exactly: written once")
    if s.ignored_columns:
        names = ",".join(s.ignored_columns)
        notes.append(
            f"column(s) {names} not written: not declared covariates (--covariates {names} "
            "or ENERGY_ASSETS_COVARIATES)"
        )
    if s.unreadable_dates:
        notes.append(
            f"{s.unreadable_dates} item(s) name no readable day; cleaning will quarantine them"
        )
    if s.future_dates:
        notes.append(
            f"{s.future_dates} item(s) are dated after today; cleaning will quarantine them "
            "as future_date"
        )
    return notes
