"""Green Button ESPI XML (the Atom feed utilities serve), parsed by greenbutton-objects.

Each MeterReading of a UsagePoint is a meter: ``<customer>-<usage point>-<meter reading>``
from the ids in its Atom link (``RetailCustomer/cust9/UsagePoint/up1/MeterReading/mr1`` gives
``cust9-up1-mr1``), unless the caller names it. Values are in the ReadingType's unit times
10^powerOfTenMultiplier; Wh becomes kWh, other units are quarantined. Reads are stamped in UTC
and summed by local day (the feed's LocalTimeParameters, or a zone the caller names).

ReadingQuality codes become the letters NEM12 uses: valid, raw, validated, verified -> A;
estimated (reference day, linear interpolation), projected, normalized for weather -> E;
manually edited, derived, mixed, other -> S; questionable -> Q.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import tzinfo

import pandas as pd
from greenbutton_objects import enums
from greenbutton_objects.parse import parse_feed

from energy_assets.meterfiles.daily import (
    MeterFileError,
    MeterFileResult,
    daily_usage,
    quarantine_rows,
    safe_meter_id,
)
from energy_assets.meterfiles.localtime import espi_zone, local_days, zone_named

SOURCE = "greenbutton-xml"
_QUALITY = {0: "A", 14: "A", 17: "A", 18: "A", 19: "A", 8: "E", 9: "E", 12: "E", 15: "E"}
_QUALITY.update({7: "S", 11: "S", 13: "S", 16: "S", 10: "Q"})
_IDS = re.compile(r"/(RetailCustomer|UsagePoint|MeterReading)/([^/]+)")


def _meter_id(link: str | None, index: int) -> str:
    ids = dict(_IDS.findall(link or ""))
    parts = [ids[k] for k in ("RetailCustomer", "UsagePoint", "MeterReading") if k in ids]
    return safe_meter_id("-".join(parts) if parts else f"reading{index}")


def _quality(reading, default: str) -> str:
    codes = [q.quality.value for q in reading.readingQualities if q.quality is not None]
    letters = {_QUALITY.get(code, "S") for code in codes}
    for letter in "QSE":  # the worst of several qualities on one read
        if letter in letters:
            return letter
    return "A" if letters else default


def read_espi(
    path: str,
    name: str | None = None,
    timezone: str | None = None,
    meter_id: str | None = None,
    fallback: str | None = None,
) -> MeterFileResult:
    """Daily kWh per MeterReading of a Green Button XML feed; days in ``timezone``, else the
    feed's LocalTimeParameters, else ``fallback``, else UTC."""
    name = name or str(path)
    try:
        usage_points = parse_feed(path)
        declared = espi_zone(path)
    except ET.ParseError as error:
        raise MeterFileError(f"{name}: not well-formed XML ({error})") from None
    except OSError as error:
        raise MeterFileError(f"{name}: {error.strerror or error}") from None
    except (ValueError, TypeError, AttributeError) as error:
        raise MeterFileError(f"{name}: not a readable ESPI feed ({error})") from None
    readings = [mr for up in usage_points for mr in up.meterReadings]
    if not readings:
        raise MeterFileError(
            f"{name}: no UsagePoint with a MeterReading: not a Green Button (ESPI) feed"
        )
    if meter_id and len(readings) > 1:
        raise MeterFileError(
            f"{name}: {len(readings)} meter readings; one meter id cannot name them"
        )
    zone: tzinfo
    if timezone:
        zone, zone_note = zone_named(timezone), timezone
    elif declared:
        zone, zone_note = declared
    elif fallback:
        zone, zone_note = zone_named(fallback), f"{fallback} (ENERGY_ASSETS_TIMEZONE)"
    else:
        zone, zone_note = zone_named("UTC"), "UTC (the feed states no LocalTimeParameters)"

    frames, unsupported = [], []
    for index, reading in enumerate(sorted(readings, key=lambda r: r.link_self or ""), 1):
        kind = reading.readingType
        if kind is None:
            raise MeterFileError(f"{name}: MeterReading {reading.link_self} has no ReadingType")
        meter = safe_meter_id(meter_id) if meter_id else _meter_id(reading.link_self, index)
        default = _QUALITY.get(getattr(kind.defaultQuality, "value", 0), "S")
        rows = []
        for read in reading.intervalReadings:
            period = read.timePeriod
            if period is None or period.start is None or period.duration is None:
                raise MeterFileError(f"{name}: {meter}: an IntervalReading without a timePeriod")
            rows.append(
                {
                    "start": period.start,
                    "seconds": period.duration.total_seconds(),
                    "value": None if read._value is None else float(read.value),
                    "quality": _quality(read, default),
                }
            )
        if not rows:
            continue
        dates, lengths = local_days([row["start"] for row in rows], zone)
        frame = pd.DataFrame(rows)
        frame["meter_id"] = meter
        frame["date"] = dates
        frame["day_seconds"] = frame["date"].map(lengths)
        if kind.uom is not enums.UomType.wattHours:
            unit = enums.UOM_SYMBOLS.get(kind.uom, str(kind.uom))
            unsupported.append((frame, unit))
            continue
        frame["kwh"] = frame["value"] / 1000.0
        frames.append(frame)
    extra = [row for frame, unit in unsupported for row in _unsupported_days(frame, unit)]
    if not frames and not extra:
        raise MeterFileError(f"{name}: no IntervalReading in the feed")
    intervals = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            columns=["meter_id", "date", "start", "seconds", "kwh", "quality"]
        ).assign(day_seconds=[])
    )
    result = daily_usage(intervals, name, SOURCE, quarantine_rows(name, extra))
    result.notes.append(f"days in {zone_note}")
    return result


def _unsupported_days(frame: pd.DataFrame, unit: str) -> list[dict]:
    days = frame.groupby(["meter_id", "date"], sort=True)["value"].agg(["sum", "size"])
    return [
        {
            "meter_id": meter,
            "date": day,
            "usage": total,
            "unit": unit,
            "intervals_read": count,
            "reason": "unsupported_unit",
            "detail": f"unit {unit}: only electric energy (Wh) is imported",
        }
        for (meter, day), total, count in zip(days.index, days["sum"], days["size"], strict=True)
    ]
