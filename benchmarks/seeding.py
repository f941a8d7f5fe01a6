"""Seeding the usage table in bulk, and listing its meters, each beside its baseline, in one run.

    .venv/bin/python benchmarks/seeding.py [--meters 1000] [--days 1095] [--baseline-meters 100]

Against the local AWS in its own process (moto, server-side work on the same 2 cores):

- seeding ``--baseline-meters`` x ``--days`` (about 107k items): ``put_usage`` (the baseline:
  boto3's batch_writer, 4 threads), ``write_usage`` (BatchWriteItem, 8 threads, items built
  column by column) and ``import_usage`` (ImportTable from gzipped DynamoDB JSON in S3);
- seeding ``--meters`` x ``--days`` (about 1.1 M items) with ``import_usage``: the time the
  baseline would take is its measured rate applied to this size (``--full-baseline`` measures
  it instead: several minutes);
- the crossover of ImportTable and BatchWriteItem on new tables of 1k-40k items, which sets
  ``UsageTableResource.bulk_load_min_items``;
- ``meters()`` at both sizes, and ``latest_day()`` at the baseline's, from the meter registry
  beside the Scan they did before (the same table read without its registry);
- reading the whole table at the baseline's size: a full export read with ``read_export``
  beside the parallel Scan.

Writes benchmarks/results/seeding.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import boto3

from energy_assets.localaws.process import LocalAWSProcess
from energy_assets.ml.synthetic import generate_usage
from energy_assets.resources import UsageTableResource

RESULTS = Path(__file__).parent / "results"
CROSSOVER_ITEMS = (1_000, 5_000, 10_000, 20_000, 40_000)


def timed(call: Callable):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fresh(prefix: str, **options) -> UsageTableResource:
    return UsageTableResource(table_name=f"{prefix}-{uuid.uuid4().hex[:6]}", **options)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--baseline-meters", type=int, default=100)
    parser.add_argument("--full-baseline", action="store_true")
    args = parser.parse_args()
    big, generated = timed(lambda: generate_usage(n_meters=args.meters, n_days=args.days, seed=5))
    small_ids = sorted(big["meter_id"].unique())[: args.baseline_meters]
    small = big[big["meter_id"].isin(small_ids)].reset_index(drop=True)
    print(f"generated {len(big)} rows in {generated:.1f}s", flush=True)
    seeding, crossover, listing, reading = [], [], [], []

    with LocalAWSProcess(timeout=120) as aws:
        os.environ.update(aws.env)
        bucket = f"seeding-{uuid.uuid4().hex[:6]}"
        boto3.client("s3").create_bucket(Bucket=bucket)

        # 1. the three ways at the baseline's size
        put = fresh("put")
        put.create()
        items, put_s = timed(lambda: put.put_usage(small))
        seeding.append(("put_usage (baseline)", items, put_s, put_s))
        batch = fresh("batch")
        batch.create()
        n, batch_s = timed(lambda: batch.write_usage(small))
        seeding.append(("write_usage, 8 threads", n, batch_s, put_s))
        imported = fresh("import")
        n, import_s = timed(lambda: imported.import_usage(small, bucket))
        seeding.append(("import_usage (ImportTable)", n, import_s, put_s))
        print(f"seeded {items} items: put {put_s:.1f}s batch {batch_s:.1f}s import {import_s:.1f}s")

        # 2. the fleet's size
        whole = fresh("fleet")
        result, big_s = timed(lambda: whole.load_usage(big, staging_bucket=bucket))
        assert result.method == "import", result
        if args.full_baseline:
            baseline = fresh("fleet-put")
            baseline.create()
            _, big_put_s = timed(lambda: baseline.put_usage(big))
            label = "measured"
        else:
            big_put_s = result.items * put_s / items
            label = "projected from its rate at the baseline's size"
        seeding.append(
            (f"load_usage -> ImportTable, {args.meters} meters", result.items, big_s, big_put_s)
        )
        print(f"seeded {result.items} items by ImportTable in {big_s:.1f}s", flush=True)

        # 3. where ImportTable starts to pay
        for size in CROSSOVER_ITEMS:
            part = big.head(size)
            writer = fresh("x-batch")
            writer.create()
            _, b = timed(lambda w=writer, p=part: w.write_usage(p))
            importer = fresh("x-import")
            _, i = timed(lambda m=importer, p=part: m.import_usage(p, bucket))
            crossover.append((size, b, i))
            print(f"crossover {size}: batch {b:.2f}s import {i:.2f}s", flush=True)

        # 4. meters() and latest_day(): the registry beside the Scan (the same table, its
        # registry out of sight)
        for meters, table in ((args.baseline_meters, imported), (args.meters, whole)):
            scans = UsageTableResource(table_name=table.table_name, registry_table="no-registry")
            # latest_day's Scan reads the same items as meters()'s: measured at one size
            calls = ("meters", "latest_day") if meters == args.baseline_meters else ("meters",)
            for what in calls:
                registry_value, registry_s = timed(getattr(table, what))
                scan_value, scan_s = timed(getattr(scans, what))
                assert registry_value == scan_value, (what, registry_value, scan_value)
                listing.append((f"{what}()", meters, registry_s, scan_s))
                print(
                    f"{what} at {meters}: registry {registry_s:.3f}s scan {scan_s:.1f}s", flush=True
                )

        # 5. the whole table: full export + read_export beside the parallel Scan
        for meters, table in ((args.baseline_meters, imported),):
            exported, export_s = timed(lambda t=table: t.read_export(t.export(bucket, "bench")))
            scanned, scan_s = timed(table.scan)
            assert len(exported.items) == len(scanned)
            reading.append((meters, len(scanned), export_s, scan_s))
            print(f"read {len(scanned)}: export {export_s:.1f}s scan {scan_s:.1f}s", flush=True)
        peak = peak_rss_mb(aws._process.pid)

    lines = [
        f"# Seeding benchmark ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f})",
        "",
        f"Generated meters x {args.days} days, against the local AWS (moto with the project's "
        f"patches, in its own process on the same cores as the client; its peak memory "
        f"{peak:,.0f} MB). One run; ratios are baseline time / our time.",
        "",
        "## Seeding a new table",
        "",
        "| method | items | seconds | items/s | baseline (put_usage) seconds | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for name, n, seconds, baseline in seeding:
        lines.append(
            f"| {name} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {baseline:.1f} | "
            f"{baseline / seconds:.1f}x |"
        )
    lines += [
        "",
        f"The put_usage time at {args.meters} meters is {label}.",
        "",
        "## ImportTable against BatchWriteItem on small new tables",
        "",
        "| items | write_usage s | import_usage s | import / write |",
        "|---|---|---|---|",
    ]
    for size, b, i in crossover:
        lines.append(f"| {size:,} | {b:.2f} | {i:.2f} | {i / b:.2f} |")
    lines += [
        "",
        "## Meters and the latest day: the registry beside the Scan",
        "",
        "| call | meters | registry seconds | Scan seconds (before) | speed-up |",
        "|---|---|---|---|---|",
    ]
    for name, meters, registry_s, scan_s in listing:
        ratio = scan_s / registry_s
        lines.append(f"| {name} | {meters:,} | {registry_s:.3f} | {scan_s:.2f} | {ratio:,.0f}x |")
    lines += [
        "",
        "## Reading the whole table: full export + read_export beside the parallel Scan",
        "",
        "| meters | items | export + read seconds | Scan seconds | speed-up |",
        "|---|---|---|---|---|",
    ]
    for meters, n, export_s, scan_s in reading:
        lines.append(
            f"| {meters:,} | {n:,} | {export_s:.1f} | {scan_s:.1f} | {scan_s / export_s:.1f}x |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "seeding.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
