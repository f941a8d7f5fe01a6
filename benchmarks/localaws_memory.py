"""The local AWS's memory and speed with DynamoDB items held compactly, beside moto's own storage,
in one run.

    .venv/bin/python benchmarks/localaws_memory.py [--meters 1000] [--days 1095]
                                                   [--fleet-meters 10000] [--skip-fleet]

For each storage (moto's ``Item`` objects, ``LOCAL_AWS_COMPACT_ITEMS=0``; the compact store,
``energy_assets/localaws/dynamodb_store.py``), a local AWS in its own process is loaded with
``--meters`` x ``--days`` generated daily usage by ImportTable (``import_usage``, as ``seed``
loads a new table), then: its RSS, a one-meter Query of the whole history (five meters, mean),
a full export (ExportTableToPointInTime until COMPLETED) and a full parallel Scan
(``UsageTableResource.scan``, 4 segments). Both use the same Scan and Query code (the lazy
paged Scan and key-found Queries of ``dynamodb_query.py``), so the ratios are the storage's.
Imports and exports are waited for with DescribeImport/DescribeExport every 0.1 s.
Then ``--fleet-meters`` x ``--days`` is seeded into a compact local AWS the way the project
seeds (``tools/seed.seed_table``: checks, ImportTable, the meter registry): the seed time and
the RSS after it. Writes benchmarks/results/localaws_memory.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3

from energy_assets.localaws.process import LocalAWSProcess
from energy_assets.ml.synthetic import generate_usage
from energy_assets.resources import UsageTableResource
from energy_assets.resources import dynamodb as dynamodb_resource

RESULTS = Path(__file__).parent / "results"
STORAGES = {"moto Items": "0", "compact": "1"}


def status_mb(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(call):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


@dataclass
class Measured:
    storage: str
    items: int = 0
    rss_empty_mb: float = 0.0
    rss_loaded_mb: float = 0.0
    peak_mb: float = 0.0
    peak_before_scan_mb: float = 0.0
    import_s: float = 0.0
    query_s: float = 0.0
    export_s: float = 0.0
    scan_s: float = 0.0
    scanned: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def table_mb(self) -> float:
        return self.rss_loaded_mb - self.rss_empty_mb


def one_meter_query(table: UsageTableResource, meter: str) -> int:
    client, count = table.client(), 0
    for page in client.get_paginator("query").paginate(
        TableName=table.table_name,
        KeyConditionExpression="meter_id = :m",
        ExpressionAttributeValues={":m": {"S": meter}},
    ):
        count += len(page["Items"])
    return count


def warm_up(bucket: str) -> None:
    """Every call the measurement makes, once, on a small table: the local AWS's code paths and
    service models are loaded before its "empty" RSS is read."""
    table = UsageTableResource(table_name=f"warm-{uuid.uuid4().hex[:6]}")
    table.import_usage(generate_usage(n_meters=3, n_days=30, seed=1), bucket)
    one_meter_query(table, "meter-0001")
    table.export(bucket, prefix="exports/warm")
    table.scan()
    time.sleep(1.0)


def measure(storage: str, flag: str, frame, meters: list[str]) -> Measured:
    os.environ["LOCAL_AWS_COMPACT_ITEMS"] = flag
    result = Measured(storage)
    with LocalAWSProcess(timeout=120) as aws:
        os.environ.update(aws.env)
        pid = aws._process.pid
        bucket = f"memory-{uuid.uuid4().hex[:6]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        warm_up(bucket)
        table = UsageTableResource(table_name=f"usage-{uuid.uuid4().hex[:6]}")
        result.rss_empty_mb = status_mb(pid, "VmRSS")
        result.items, result.import_s = timed(lambda: table.import_usage(frame, bucket))
        result.rss_loaded_mb = status_mb(pid, "VmRSS")
        print(f"{storage}: imported {result.items:,} items in {result.import_s:.1f} s, "
              f"RSS {result.rss_loaded_mb:,.0f} MB", flush=True)  # fmt: skip
        times = []
        for meter in meters:
            count, seconds = timed(lambda m=meter: one_meter_query(table, m))
            assert count > 0, meter
            times.append(seconds)
        result.query_s = sum(times) / len(times)
        exports, result.export_s = timed(lambda: table.export(bucket, prefix="exports/memory"))
        result.extra["exported"] = exports[0].item_count
        result.peak_before_scan_mb = status_mb(pid, "VmHWM")
        print(f"{storage}: query {result.query_s:.3f} s, export {result.export_s:.1f} s",
              flush=True)  # fmt: skip
        scanned, result.scan_s = timed(table.scan)
        result.scanned = len(scanned)
        del scanned
        result.peak_mb = status_mb(pid, "VmHWM")
        print(f"{storage}: scan {result.scan_s:.1f} s, peak {result.peak_mb:,.0f} MB", flush=True)
    return result


def fleet_seed(meters: int, days: int) -> dict:
    """Seed ``meters`` x ``days`` into a compact local AWS as ``energy-assets seed`` does."""
    from energy_assets.settings import Settings
    from energy_assets.tools.seed import seed_table

    end = date.today() - timedelta(days=1)
    frame, generated = timed(lambda: generate_usage(n_meters=meters, n_days=days, end=end, seed=7))
    print(f"fleet: generated {len(frame):,} rows in {generated:.1f} s", flush=True)
    os.environ["LOCAL_AWS_COMPACT_ITEMS"] = "1"
    name = f"fleet-{meters}-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        table=name,
        bucket=name,
        endpoint_name=name,
        history_start=(end - timedelta(days=days - 1)).isoformat(),
        covariates=("temperature",),
        timezone="UTC",
    )
    with LocalAWSProcess(timeout=120) as aws:
        os.environ.update(aws.env)
        os.environ.update(settings.as_env())
        pid = aws._process.pid
        boto3.client("s3").create_bucket(Bucket=f"{name}-warm")
        warm_up(f"{name}-warm")
        empty = status_mb(pid, "VmRSS")
        table = UsageTableResource(table_name=name)
        summary, seconds = timed(
            lambda: seed_table(table, frame, covariates=settings.covariates, country="US")
        )
        loaded = status_mb(pid, "VmRSS")
        peak = status_mb(pid, "VmHWM")
        print(f"fleet: seeded {summary.rows:,} items in {seconds:.1f} s, RSS {loaded:,.0f} MB",
              flush=True)  # fmt: skip
        one, query_s = timed(lambda: one_meter_query(table, "meter-0001"))
        exports, export_s = timed(lambda: table.export(name, prefix="exports/fleet"))
        print(f"fleet: query {query_s:.3f} s, export {export_s:.1f} s", flush=True)
        return {
            "meters": meters,
            "rows": len(frame),
            "items": summary.rows,
            "generate_s": generated,
            "seed_s": seconds,
            "rss_empty_mb": empty,
            "rss_loaded_mb": loaded,
            "peak_mb": status_mb(pid, "VmHWM"),
            "peak_after_seed_mb": peak,
            "query_s": query_s,
            "query_items": one,
            "export_s": export_s,
            "exported": exports[0].item_count,
        }


def report(args, sizes: list[Measured], fleet: dict | None, load_start, load_end) -> str:
    old, new = sizes
    ratio = old.table_mb / new.table_mb
    lines = [
        f"# The local AWS's memory: compact DynamoDB items beside moto's ({date.today()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()})",
        "",
        f"One run of `benchmarks/localaws_memory.py` ({datetime.now(UTC):%H:%M} UTC); machine "
        f"load average at start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, "
        f"at end {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} (1 / 5 / 15 min; the "
        "2 cores are shared with other developers' work). Each local AWS runs in its own "
        "process; RSS is its `VmRSS` after the load, the table's share is that minus the RSS "
        "of the same process before it (after one small table was imported, queried, exported "
        "and scanned, so that code and service models were loaded); peak is `VmHWM` at the "
        "end.",
        "",
        f"## {args.meters:,} meters x {args.days:,} days ({new.items:,} items), loaded by "
        "ImportTable",
        "",
        "| | moto Items | compact | moto / compact |",
        "|---|---|---|---|",
        f"| RSS after the load, MB | {old.rss_loaded_mb:,.0f} | {new.rss_loaded_mb:,.0f} | "
        f"{old.rss_loaded_mb / new.rss_loaded_mb:.1f}x |",
        f"| the table's share (RSS - empty RSS), MB | {old.table_mb:,.0f} | {new.table_mb:,.0f} | "
        f"{ratio:.1f}x |",
        f"| bytes per item | {old.table_mb * 2**20 / old.items:,.0f} | "
        f"{new.table_mb * 2**20 / new.items:,.0f} | {ratio:.1f}x |",
        f"| peak RSS after the load, Query and export (VmHWM), MB | "
        f"{old.peak_before_scan_mb:,.0f} | {new.peak_before_scan_mb:,.0f} | "
        f"{old.peak_before_scan_mb / new.peak_before_scan_mb:.1f}x |",
        f"| peak RSS after the Scan too (VmHWM), MB | {old.peak_mb:,.0f} | {new.peak_mb:,.0f} | "
        f"{old.peak_mb / new.peak_mb:.1f}x |",
        f"| ImportTable (staging in S3 included), s | {old.import_s:.1f} | {new.import_s:.1f} | "
        f"{old.import_s / new.import_s:.2f}x |",
        f"| one-meter Query, whole history ({args.days:,} items; mean of 5 meters), s | "
        f"{old.query_s:.3f} | {new.query_s:.3f} | {old.query_s / new.query_s:.2f}x |",
        f"| full export (ExportTableToPointInTime to COMPLETED), s | {old.export_s:.1f} | "
        f"{new.export_s:.1f} | {old.export_s / new.export_s:.2f}x |",
        f"| full parallel Scan (4 segments, {new.scanned:,} items), s | {old.scan_s:.1f} | "
        f"{new.scan_s:.1f} | {old.scan_s / new.scan_s:.2f}x |",
        "",
        "Both storages answered through the same lazy paged Scan and key-found Queries "
        "(`dynamodb_query.py`); moto 5.2's own Scan, which sorts the whole table for each "
        "1 MB page, took 1,578 s for this table's meters list (README, Loading). The Scan's "
        "peak is its pages' (four segments at once, each page's items decoded, copied and "
        "written by moto), not the table's.",
    ]
    if fleet:
        lines += [
            "",
            f"## {fleet['meters']:,} meters x {args.days:,} days, seeded as `energy-assets seed` "
            "seeds (compact store)",
            "",
            "| rows | items | seed s | items/s | RSS empty MB | RSS after seed MB | "
            "peak RSS MB | bytes per item | one-meter Query s | full export s |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {fleet['rows']:,} | {fleet['items']:,} | {fleet['seed_s']:.1f} | "
            f"{fleet['items'] / fleet['seed_s']:,.0f} | {fleet['rss_empty_mb']:,.0f} | "
            f"{fleet['rss_loaded_mb']:,.0f} | {fleet['peak_mb']:,.0f} | "
            f"{(fleet['rss_loaded_mb'] - fleet['rss_empty_mb']) * 2**20 / fleet['items']:,.0f} | "
            f"{fleet['query_s']:.3f} | {fleet['export_s']:.1f} |",
            "",
            f"Seeding is `tools/seed.seed_table` (the checks of the rows, ImportTable from gzipped "
            f"DynamoDB JSON staged in S3, the meter registry), timed from the generated frame "
            f"(generating it took {fleet['generate_s']:.1f} s, not counted). Peak RSS is after "
            f"the export ({fleet['peak_after_seed_mb']:,.0f} MB after the seed). moto's storage "
            f"at its measured bytes per item would hold these items in about "
            f"{old.table_mb / old.items * fleet['items'] / 1024:,.1f} GB.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--fleet-meters", type=int, default=10_000)
    parser.add_argument("--skip-fleet", action="store_true")
    args = parser.parse_args()
    # imports and exports are timed to within 0.1 s (the resource's waits grow to 2 s)
    dynamodb_resource.POLL_MAX_PAUSE = 0.1
    load_start = os.getloadavg()
    frame = generate_usage(n_meters=args.meters, n_days=args.days, seed=5)
    meters = sorted(frame["meter_id"].unique())[:: max(1, args.meters // 5)][:5]
    sizes = [measure(storage, flag, frame, meters) for storage, flag in STORAGES.items()]
    del frame
    fleet = None if args.skip_fleet else fleet_seed(args.fleet_meters, args.days)
    text = report(args, sizes, fleet, load_start, os.getloadavg())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "localaws_memory.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
