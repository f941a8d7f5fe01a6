"""Throughput of the table I/O the pipeline does, beside the naive way, in one run.

    .venv/bin/python benchmarks/ingestion.py [--meters 200] [--days 730]

- write: ``UsageTableResource.put_usage`` (BatchWriteItem, 25 items a call, 4 threads) vs one
  PutItem per row (on a sample);
- export: the parallel Scan (4 segments) vs a single-segment Scan of the same table.

The local AWS runs in its own process. Writes benchmarks/results/ingestion.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3

from energy_assets.localaws.process import LocalAWSProcess
from energy_assets.ml.cleaning import clean_usage
from energy_assets.ml.synthetic import generate_usage
from energy_assets.resources import UsageTableResource

RESULTS = Path(__file__).parent / "results"


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else math.inf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--sample", type=int, default=3000, help="rows for the naive baselines")
    args = parser.parse_args()
    frame = generate_usage(n_meters=args.meters, n_days=args.days, seed=5)
    rows = []

    with LocalAWSProcess() as aws:
        os.environ.update(aws.env)
        table = UsageTableResource(table_name="bench-usage")
        table.create()
        started = time.perf_counter()
        written = table.put_usage(frame)
        batched = rate(written, time.perf_counter() - started)

        naive_table = UsageTableResource(table_name="bench-usage-naive")
        naive_table.create()
        client = boto3.client("dynamodb")
        sample = frame.head(args.sample)
        items = [
            {
                "meter_id": {"S": str(r["meter_id"])},
                "date": {"S": str(r["date"])},
                "usage": {"S": str(r["usage"])},
            }
            for r in sample.to_dict(orient="records")
        ]
        started = time.perf_counter()
        for item in items:
            client.put_item(TableName="bench-usage-naive", Item=item)
        one_by_one = rate(len(items), time.perf_counter() - started)
        rows.append(("write to DynamoDB", written, batched, "PutItem per row", one_by_one))

        started = time.perf_counter()
        exported = table.scan()
        parallel = rate(len(exported), time.perf_counter() - started)
        single = UsageTableResource(table_name="bench-usage", scan_segments=1)
        started = time.perf_counter()
        again = single.scan()
        sequential = rate(len(again), time.perf_counter() - started)
        assert len(again) == len(exported), (len(again), len(exported), written)
        rows.append(("export (Scan)", len(exported), parallel, "1-segment Scan", sequential))

    quarantined = clean_usage(exported).stats["rows_quarantined"]

    lines = [
        f"# Ingestion benchmark ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()})",
        "",
        f"{args.meters} generated meters x {args.days} days ({written} items, "
        f"{quarantined} quarantined by cleaning), against the local AWS "
        "(moto, one process, on the same cores as the client). The PutItem baseline runs on the "
        f"first {args.sample} rows.",
        "",
        "| step | rows | rows/s | baseline | baseline rows/s | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for step, n, ours, baseline, theirs in rows:
        lines.append(
            f"| {step} | {n} | {ours:,.0f} | {baseline} | {theirs:,.0f} | {ours / theirs:.1f}x |"
        )
    table_md = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingestion.md").write_text(table_md)
    print(table_md)


if __name__ == "__main__":
    main()
