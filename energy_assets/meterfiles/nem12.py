"""NEM12 interval files (AEMO's Meter Data File Format), parsed by nemreader.

nemreader tolerates much and says so only in its log: it skips a 300 record with too few
values, an unknown record type and a missing 900 record with a warning. Those warnings are
collected here and become errors (the file is not what it claims) or quarantined days, so
nothing is lost in a log line. Its line numbers count from the row after the 100 header; the
messages here count lines of the file.

Days are NEM days: interval dates in market time (AEST, UTC+10 all year, no daylight saving),
so every day has 1440 / interval-length intervals.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager

import pandas as pd
from nemreader import NEMFile
from nemreader.nem_objects import Reading

from energy_assets.meterfiles.daily import (
    MeterFileError,
    MeterFileResult,
    daily_usage,
    energy_factor,
    quarantine_rows,
    safe_meter_id,
)

SOURCE = "nem12"
NEM_DAY_SECONDS = 86_400
QUALITY_FLAGS = "AEFNSV"
_LINE = re.compile(r"\b(line|row) (\d+)")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _nemreader_warnings():
    """nemreader's warnings, kept from the console and handed to the caller."""
    logger = logging.getLogger("nemreader")
    handler = _Collect()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _file_lines(message: str) -> str:
    """nemreader's row numbers (from the row after the header) as lines of the file."""
    return _LINE.sub(lambda m: f"{m.group(1)} {int(m.group(2)) + 1}", message)


def _describe(error: BaseException) -> str:
    parts = [str(error)]
    cause = error.__cause__
    if cause is not None and str(cause):
        parts.append(f"{type(cause).__name__}: {cause}")
    return _file_lines(": ".join(parts))


def _parse(path: str, name: str):
    nem = NEMFile(path, strict=True)
    with _nemreader_warnings() as warnings:
        try:
            data = nem.nem_data()
        except OSError as error:
            raise MeterFileError(f"{name}: {error.strerror or error}") from None
        except AttributeError:  # nemreader reads a 300/400/500 record with no NMI block yet
            raise MeterFileError(
                f"{name}: an interval, event or B2B record before any 200 (NMI details) record"
            ) from None
        except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError) as error:
            version = getattr(getattr(nem, "header", None), "version_header", "NEM12")
            if version != "NEM12":
                raise MeterFileError(
                    f"{name}: a {version} file; daily usage needs interval data (NEM12)"
                ) from None
            raise MeterFileError(f"{name}: {_describe(error)}") from None
    if data.header.version_header != "NEM12":
        raise MeterFileError(
            f"{name}: a {data.header.version_header} file; daily usage needs interval data (NEM12)"
        )
    skipped = []
    for record in warnings:
        message = record.getMessage()
        if message.startswith("Missing end of data"):
            raise MeterFileError(f"{name}: no 900 (end of data) record: the file is incomplete")
        if "not supported and was skipped" in message:
            raise MeterFileError(f"{name}: {_file_lines(message)} (not a NEM12 record)")
        if message.startswith("Skipping 300 record"):
            nmi, suffix, day, row, expected = record.args
            skipped.append(
                {
                    "meter_id": safe_meter_id(f"{nmi}-{suffix}"),
                    "date": f"{day[:4]}-{day[4:6]}-{day[6:8]}",
                    "intervals_expected": expected,
                    "reason": "incomplete_record",
                    "detail": f"line {row + 1}: 300 record with fewer than {expected} values",
                }
            )
    return data, skipped


def read_nem12(path: str, name: str | None = None) -> MeterFileResult:
    """Daily kWh per ``NMI-channel`` (e.g. ``NMI0000001-E1``) from a NEM12 file (or a zip
    holding one); channels in other units than Wh/kWh/MWh are quarantined per day."""
    name = name or str(path)
    data, skipped = _parse(str(path), name)
    frames, unsupported = [], []
    for nmi, channels in data.readings.items():
        for suffix, reads in channels.items():
            if not reads:
                continue
            frame = pd.DataFrame(reads, columns=list(Reading._fields))
            bad_flags = set(frame["quality_method"].fillna("").str[:1]) - set(QUALITY_FLAGS)
            if bad_flags:
                raise MeterFileError(
                    f"{name}: NMI {nmi} channel {suffix}: quality method "
                    f"{sorted(bad_flags)[0]!r} is not a NEM12 quality flag (A, E, F, N, S, V); "
                    "do the 300 records hold more values than the interval length allows?"
                )
            frame["meter_id"] = safe_meter_id(f"{nmi}-{suffix}")
            frame["date"] = frame["t_start"].dt.strftime("%Y-%m-%d")
            factor = frame["uom"].map(energy_factor)
            if factor.isna().any():
                unsupported.append(frame[factor.isna()])
                frame, factor = frame[factor.notna()], factor[factor.notna()]
            frames.append(
                pd.DataFrame(
                    {
                        "meter_id": frame["meter_id"],
                        "date": frame["date"],
                        "start": frame["t_start"],
                        "seconds": (frame["t_end"] - frame["t_start"]).dt.total_seconds(),
                        "kwh": frame["read_value"].astype(float) * factor,
                        "quality": frame["quality_method"],
                        "day_seconds": NEM_DAY_SECONDS,
                    }
                )
            )
    extra = [*skipped, *_unsupported_days(unsupported)]
    if not frames and not extra:
        raise MeterFileError(f"{name}: no interval data (no 200/300 records)")
    intervals = pd.concat(frames, ignore_index=True) if frames else _empty_intervals()
    return daily_usage(intervals, name, SOURCE, quarantine_rows(name, extra))


def _unsupported_days(frames: list[pd.DataFrame]) -> list[dict]:
    if not frames:
        return []
    reads = pd.concat(frames, ignore_index=True)
    days = reads.groupby(["meter_id", "date", "uom"], sort=True).agg(
        usage=("read_value", "sum"), intervals=("read_value", "size")
    )
    return [
        {
            "meter_id": meter,
            "date": day,
            "usage": usage,
            "unit": uom,
            "intervals_read": count,
            "reason": "unsupported_unit",
            "detail": f"unit {uom}: only active energy (Wh, kWh, MWh) is imported",
        }
        for (meter, day, uom), usage, count in zip(
            days.index, days["usage"], days["intervals"], strict=True
        )
    ]


def _empty_intervals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "meter_id": pd.Series(dtype=str),
            "date": pd.Series(dtype=str),
            "start": pd.Series(dtype="datetime64[ns]"),
            "seconds": pd.Series(dtype=float),
            "kwh": pd.Series(dtype=float),
            "quality": pd.Series(dtype=str),
            "day_seconds": pd.Series(dtype=float),
        }
    )
