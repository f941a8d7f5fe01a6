"""raw_usage_export's ways of reading the table, side by side, in one run: which is cheaper at
which size sets ``ENERGY_ASSETS_SCAN_MAX_ITEMS`` (``energy_assets.table_reads``).

    .venv/bin/python benchmarks/exports.py [--meters 10 30 100 300] [--days 365] [--out exports.md]

For each fleet size, against the local AWS in its own process (its work on the same cores):

- the backfill: ``raw_usage_export`` over every day, by one parallel Scan and by a full
  DynamoDB export (each into its own bucket);
- a daily refresh after one new day for every meter is written: the Scan path (the whole table
  read again, the day's month objects written) beside the incremental path (an incremental
  export of what was written since the previous export, merged into the month objects it
  touches).

Times are the whole asset run (``dg.materialize``: Dagster's own overhead included, the same for
both). Writes benchmarks/results/exports.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, nargs="+", default=[10, 30, 100, 300])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--out", default="exports.md", help="file under benchmarks/results")
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    start = today - timedelta(days=args.days + 1)

    from energy_assets.localaws.process import LocalAWSProcess

    rows = []
    with LocalAWSProcess(timeout=120) as aws:
        os.environ.update(aws.env)
        import dagster as dg
        from dagster._core.storage.tags import (
            ASSET_PARTITION_RANGE_END_TAG,
            ASSET_PARTITION_RANGE_START_TAG,
        )
        from dagster_aws.s3 import S3Resource

        from energy_assets.assets.ingestion import raw_usage_export_asset
        from energy_assets.ml.synthetic import generate_usage
        from energy_assets.orchestration.partitions import daily_partitions
        from energy_assets.resources import S3Storage, UsageTableResource
        from energy_assets.settings import Settings

        asset = raw_usage_export_asset(daily_partitions(Settings(history_start=start.isoformat())))

        def run(table, bucket: str, first: str, last: str, scan_max: int) -> tuple[float, dict]:
            table = UsageTableResource(table_name=table.table_name, scan_max_items=scan_max)
            storage = S3Storage(bucket=bucket, s3=S3Resource())
            started = time.perf_counter()
            result = dg.materialize(
                [asset],
                resources={"usage_table": table, "storage": storage},
                tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
            )
            seconds = time.perf_counter() - started
            assert result.success
            event = result.get_asset_materialization_events()[-1]
            return seconds, {k: v.value for k, v in event.materialization.metadata.items()}

        for meters in args.meters:
            end = today - timedelta(days=2)
            frame = generate_usage(n_meters=meters, n_days=args.days, end=end, seed=3)
            name = f"bench-{uuid.uuid4().hex[:6]}"
            table = UsageTableResource(table_name=name)
            staging = f"{name}-staging"
            boto3.client("s3").create_bucket(Bucket=staging)
            table.load_usage(frame, staging_bucket=staging)
            items = len(frame)
            first, last = (end - timedelta(days=args.days - 1)).isoformat(), end.isoformat()
            scan_s, _ = run(table, f"{name}-scan", first, last, 10**12)
            export_s, meta = run(table, f"{name}-export", first, last, 0)
            assert meta["source"] == "full export"
            new_day = (today - timedelta(days=1)).isoformat()
            ids = sorted(frame["meter_id"].unique())
            table.put_usage(pd.DataFrame({"meter_id": ids, "date": new_day, "usage": 10.0}))
            day_scan_s, scanned = run(table, f"{name}-scan", new_day, new_day, 10**12)
            day_inc_s, inc = run(table, f"{name}-export", new_day, new_day, 0)
            assert inc["source"] == "incremental export" and inc["rows"] == meters
            rows.append(
                (
                    meters,
                    items,
                    scan_s,
                    export_s,
                    day_scan_s,
                    scanned["items_read"],
                    day_inc_s,
                    inc["items_read"],
                )
            )
            print(rows[-1], flush=True)

    lines = [
        f"# raw_usage_export: Scan beside DynamoDB exports ({datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f})",
        "",
        f"Generated meters x {args.days} days against the local AWS (in its own process on the "
        "same cores). Seconds are whole asset runs (dg.materialize). One run.",
        "",
        "| meters | items | backfill: Scan s | backfill: full export s | one new day: Scan s "
        "(items read) | one new day: incremental export s (items read) | incremental / Scan |",
        "|---|---|---|---|---|---|---|",
    ]
    for meters, items, scan_s, export_s, day_scan_s, scan_read, day_inc_s, inc_read in rows:
        lines.append(
            f"| {meters:,} | {items:,} | {scan_s:.1f} | {export_s:.1f} | {day_scan_s:.1f} "
            f"({scan_read:,}) | {day_inc_s:.1f} ({inc_read:,}) | {day_inc_s / day_scan_s:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
