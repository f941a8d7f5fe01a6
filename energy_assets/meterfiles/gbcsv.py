"""The CSV US utilities export from Green Button "Download My Data".

The CSV has no standard beyond the common shape, so it is read with pandas: optional
``key,value`` lines about the account (``Name``, ``Address``, ``Account Number``, ``Service``),
then a table with ``DATE``, ``START TIME``, optional ``END TIME`` and either ``USAGE`` with
``UNITS`` (``USAGE (kWh)`` also works) or ``IMPORT (kWh)`` / ``EXPORT (kWh)`` for a meter with
generation. Column names are matched without regard to case.

Dates and times are local wall-clock time, so the day is the ``DATE`` column as written. A day
has 24 hours unless a time zone is given (then daylight-saving days have 23 or 25). The meter
is the ``Account Number`` (with the ``Service``), else the file name; ``-import`` and
``-export`` name the two directions.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from energy_assets.meterfiles.daily import (
    MeterFileError,
    MeterFileResult,
    daily_usage,
    energy_factor,
    quarantine_rows,
    safe_meter_id,
)
from energy_assets.meterfiles.localtime import zone_named

SOURCE = "greenbutton-csv"
_UNIT_IN_NAME = re.compile(r"\(([^)]+)\)")


def _header_row(rows: list[list[str]], name: str) -> int:
    for index, row in enumerate(rows):
        cells = {c.strip().upper() for c in row}
        if "DATE" in cells and "START TIME" in cells:
            return index
    raise MeterFileError(
        f"{name}: no header row with DATE and START TIME: not a Green Button CSV export"
    )


def _value_columns(columns: list[str], name: str) -> list[tuple[str, str, str | None]]:
    """(column, meter suffix, unit named in the header or None)."""
    found = []
    for column in columns:
        upper = column.strip().upper()
        unit = _UNIT_IN_NAME.search(column)
        stated = unit.group(1).strip() if unit else None
        if upper == "USAGE" or upper.startswith("USAGE ("):
            found.append((column, "", stated))
        elif upper.startswith("IMPORT"):
            found.append((column, "-import", stated))
        elif upper.startswith("EXPORT"):
            found.append((column, "-export", stated))
    if not found:
        raise MeterFileError(f"{name}: no USAGE, IMPORT or EXPORT column")
    return found


def _interval_minutes(table: pd.DataFrame, starts: pd.Series, ends: pd.Series | None) -> pd.Series:
    if ends is not None:
        minutes = (ends - starts).dt.total_seconds() / 60
        minutes = minutes.where(minutes > 0, minutes + 1440)
        inclusive = ((minutes + 1) % 5 == 0) & (minutes % 5 != 0)  # 00:00-00:14 is 15 minutes
        return minutes.where(~inclusive, minutes + 1)
    stamps = table["_date"] + (starts - starts.dt.normalize())
    steps = stamps.sort_values().diff().dt.total_seconds().div(60)
    step = steps[steps > 0].mode()
    return pd.Series(float(step.iloc[0]) if len(step) else 1440.0, index=table.index)


def _parse_times(text: pd.Series, name: str, lines: pd.Series, what: str) -> pd.Series:
    parsed = pd.to_datetime("2000-01-01 " + text.str.strip(), format="mixed", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        first = bad.idxmax()
        raise MeterFileError(f"{name}: line {lines[first]}: {what} {text[first]!r} is not a time")
    return parsed


def read_greenbutton_csv(
    path: str, name: str | None = None, timezone: str | None = None, meter_id: str | None = None
) -> MeterFileResult:
    """Daily kWh from a Green Button CSV export."""
    name = name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise MeterFileError(f"{name}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise MeterFileError(f"{name}: not a text file (UTF-8)") from None
    rows = list(csv.reader(io.StringIO(text)))
    at = _header_row(rows, name)
    account = {r[0].strip().lower(): r[1].strip() for r in rows[:at] if len(r) >= 2 and r[0]}
    header = [c.strip() for c in rows[at]]
    body = [r for r in rows[at + 1 :] if any(c.strip() for c in r)]
    lines = [at + 2 + i for i, r in enumerate(rows[at + 1 :]) if any(c.strip() for c in r)]
    if not body:
        raise MeterFileError(f"{name}: no interval rows under the header")
    width = len(header)
    ragged = [line for line, r in zip(lines, body, strict=True) if len(r) < width]
    if ragged:
        raise MeterFileError(f"{name}: line {ragged[0]}: fewer cells than the header's {width}")
    table = pd.DataFrame([r[:width] for r in body], columns=header, dtype=str)
    table.columns = [c.upper() for c in table.columns]
    line_of = pd.Series(lines, index=table.index)
    days = pd.to_datetime(table["DATE"].str.strip(), format="mixed", errors="coerce")
    if days.isna().any():
        first = days.isna().idxmax()
        raise MeterFileError(
            f"{name}: line {line_of[first]}: date {table['DATE'][first]!r} is not a date"
        )
    table["_date"] = days.dt.normalize()
    starts = _parse_times(table["START TIME"], name, line_of, "start time")
    ends = (
        _parse_times(table["END TIME"], name, line_of, "end time") if "END TIME" in table else None
    )
    minutes = _interval_minutes(table, starts, ends)

    if meter_id:
        base = meter_id
    elif account.get("account number"):
        base = "-".join(v for v in (account["account number"], account.get("service")) if v)
    else:
        base = Path(name).stem
    dates = table["_date"].dt.strftime("%Y-%m-%d")
    day_seconds = dates.map(_day_lengths(set(dates), timezone))
    frames, extra = [], []
    for column, suffix, stated in _value_columns(header, name):
        column = column.upper()
        unit = table["UNITS"].str.strip() if stated is None and "UNITS" in table else None
        unit = unit if unit is not None else pd.Series(stated or "kWh", index=table.index)
        value = pd.to_numeric(table[column].str.replace(",", "").str.strip(), errors="coerce")
        meter = safe_meter_id(base + suffix)
        factor = unit.map(energy_factor)
        frame = pd.DataFrame(
            {
                "meter_id": meter,
                "date": dates,
                "start": table.index,
                "seconds": minutes * 60,
                "kwh": value * factor,
                "quality": "A",
                "day_seconds": day_seconds,
            }
        )
        unsupported = factor.isna()
        if unsupported.any():
            grouped = pd.DataFrame({"date": dates, "unit": unit, "value": value})[unsupported]
            for (day, unit_name), part in grouped.groupby(["date", "unit"], sort=True):
                extra.append(
                    {
                        "meter_id": meter,
                        "date": day,
                        "usage": part["value"].sum(),
                        "unit": unit_name,
                        "intervals_read": len(part),
                        "reason": "unsupported_unit",
                        "detail": f"unit {unit_name}: only electric energy (Wh, kWh, MWh) "
                        "is imported",
                    }
                )
        frames.append(frame[~unsupported])
    result = daily_usage(
        pd.concat(frames, ignore_index=True), name, SOURCE, quarantine_rows(name, extra)
    )
    result.notes.append(
        f"days as dated in the file; day lengths in {timezone}"
        if timezone
        else "days as dated in the file, each 24 hours (pass a time zone for daylight saving)"
    )
    return result


def _day_lengths(days: set[str], timezone: str | None) -> dict[str, int]:
    if not timezone:
        return dict.fromkeys(days, 86_400)
    zone = zone_named(timezone)
    lengths = {}
    for day in days:
        midnight = datetime.fromisoformat(day)
        this = midnight.replace(tzinfo=zone).astimezone(UTC)
        following = (midnight + timedelta(days=1)).replace(tzinfo=zone).astimezone(UTC)
        lengths[day] = int((following - this).total_seconds())
    return lengths
