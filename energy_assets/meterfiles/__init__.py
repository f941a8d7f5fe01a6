"""Meter files in: NEM12 and Green Button (ESPI XML, CSV) summed to daily usage per meter.

``read_meter_file`` reads one file into whole days for the usage table and quarantined days
with reasons; ``load.import_meter_files`` writes them (table and S3 quarantine).
"""

from __future__ import annotations

from pathlib import Path

from energy_assets.meterfiles.daily import MeterFileError, MeterFileResult
from energy_assets.meterfiles.espi import read_espi
from energy_assets.meterfiles.gbcsv import read_greenbutton_csv
from energy_assets.meterfiles.nem12 import read_nem12

KINDS = ("nem12", "greenbutton")


def _looks_like_xml(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as error:
        raise MeterFileError(f"{path}: {error.strerror or error}") from None
    return head.startswith(b"<")


def read_meter_file(
    path: str | Path,
    kind: str,
    name: str | None = None,
    timezone: str | None = None,
    meter_id: str | None = None,
    fallback_timezone: str | None = None,
) -> MeterFileResult:
    """One NEM12 file (``kind="nem12"``) or Green Button file (``"greenbutton"``: XML or CSV,
    told apart by content). ``timezone`` and ``meter_id`` apply to Green Button only: NEM12
    days are NEM days and its meters are ``NMI-channel``. ``fallback_timezone`` (the platform's
    ``ENERGY_ASSETS_TIMEZONE``) applies when neither the caller nor an XML feed names a zone."""
    path = str(path)
    name = name or path
    if kind == "nem12":
        return read_nem12(path, name)
    if kind == "greenbutton":
        if _looks_like_xml(path):
            return read_espi(
                path, name, timezone=timezone, meter_id=meter_id, fallback=fallback_timezone
            )
        return read_greenbutton_csv(
            path, name, timezone=timezone or fallback_timezone, meter_id=meter_id
        )
    raise ValueError(f"unknown meter file kind {kind!r}; expected one of {KINDS}")


__all__ = ["KINDS", "MeterFileError", "MeterFileResult", "read_meter_file"]
