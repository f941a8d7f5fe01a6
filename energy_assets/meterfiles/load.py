"""Write read meter files: whole days to the usage table, quarantined days to S3.

Files are read completely before anything is written, so a malformed file among several
leaves the table as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from energy_assets.meterfiles.daily import MeterFileError, MeterFileResult
from energy_assets.resources import S3Storage, UsageTableResource
from energy_assets.tools.seed import seed_table

RAW_PREFIXES = {"nem12": "raw/nem12/", "greenbutton": "raw/greenbutton/"}


def quarantine_key(label: str) -> str:
    """Where the quarantined meter-days of one import go (a run id or a time stamp)."""
    return f"quarantine/meterfiles/{label}/rows.csv"


@dataclass
class ImportSummary:
    table: str
    files: int
    rows: int
    meters: int
    first_date: str | None
    last_date: str | None
    quarantined: int
    quarantined_by_reason: dict[str, int]
    quarantine_uri: str | None
    repeated_days: int
    notes: list[str]

    def lines(self) -> list[str]:
        """What a person reads after an import."""
        span = f"{self.first_date} .. {self.last_date}" if self.rows else "no whole day"
        out = [
            f"seeded {self.rows} items into {self.table} ({self.meters} meter(s), {span}) "
            f"from {self.files} file(s)"
        ]
        if self.quarantined:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined_by_reason.items()))
            out.append(
                f"quarantined {self.quarantined} meter-day(s) ({reasons}): {self.quarantine_uri}"
            )
        if self.repeated_days:
            out.append(
                f"note: {self.repeated_days} meter-day(s) appear in more than one file; "
                "the last file's value is kept"
            )
        out += [f"note: {note}" for note in self.notes]
        return out


def import_meter_files(
    table: UsageTableResource,
    results: list[MeterFileResult],
    storage: S3Storage | None,
    label: str | None = None,
) -> ImportSummary:
    """Whole days into ``table`` (batched writes; created when absent), quarantined days as one
    CSV in S3 with their reasons."""
    if table.exists() and table.is_single_series():
        raise MeterFileError(
            f"table {table.table_name} is keyed by date alone (one series); meter files hold "
            "meters: use a table keyed by meter_id and date"
        )
    daily = pd.concat([r.daily for r in results], ignore_index=True)
    quarantine = pd.concat([r.quarantine for r in results], ignore_index=True)
    repeated = int(daily.duplicated(["meter_id", "date"]).sum())
    rows = 0
    kept = daily.drop_duplicates(["meter_id", "date"], keep="last")  # a later file revises
    if len(kept):
        # meter files carry no covariates; seed_table refuses conflicting keys within one frame
        rows = seed_table(table, kept, single_series=False, covariates=()).rows
    uri = None
    if len(quarantine):
        if storage is None:
            raise MeterFileError("quarantined days need a bucket to go to")
        storage.ensure_bucket()
        stamp = label or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        uri = storage.put_csv(quarantine_key(stamp), quarantine)
    return ImportSummary(
        table=table.table_name,
        files=len(results),
        rows=rows,
        meters=int(kept["meter_id"].nunique()),
        first_date=str(kept["date"].min()) if len(kept) else None,
        last_date=str(kept["date"].max()) if len(kept) else None,
        quarantined=len(quarantine),
        quarantined_by_reason={
            str(k): int(v) for k, v in quarantine["reason"].value_counts().items()
        }
        if len(quarantine)
        else {},
        quarantine_uri=uri,
        repeated_days=repeated,
        notes=sorted({note for r in results for note in r.notes}),
    )
