"""The whole graph, table to deployed endpoint, at several fleet sizes, and the daily refresh
beside it, in one run.

    .venv/bin/python benchmarks/pipeline.py [--meters 10 100 1000] [--try-meters 10000]
                                            [--days 1095] [--scan-meters 10] [--max-seconds 900]

For each size, against a local AWS of its own (``LocalAWSProcess``: moto and the SageMaker
runtime in one child process, on the same cores as this one):

- seeding generated meters x days (``seed_table``, as the demo seeds: ImportTable), timed apart;
- the full refresh: ``materialize_all`` (ingestion_job over every day, then training_job: clean,
  split, train, evaluate, register, deploy; no exploration notebook). Each step's wall time is
  Dagster's (``instance.get_run_step_stats``); its peak memory is the largest RSS a sampling
  thread saw during the step's window, of this process and of the local AWS process apart;
- the one-day refresh, twice: one new day for every meter written through
  ``UsageTableResource``, then the run ``daily_usage_schedule`` asks for at 01:00 the day after
  (usage_job: raw_usage_export and forecast_monitoring for that day's partition; with meter
  shards the export, then the monitoring run per shard ``monitoring_after_export_sensor`` asks
  for, timed together: ``day_refresh``); first the day after the deploy, then the next (a
  steady-state day);
- at ``--scan-meters`` sizes, the peer: raw_usage_export by one Scan (``scan_max_items`` above
  the table) into a bucket of its own, for the backfill and for the new day.

A ``--try-meters`` size runs only when the least-squares fit over the sizes measured says its
table-to-endpoint time ends within ``--max-seconds`` and the local AWS's memory at the largest
size, scaled by meters, fits in the memory available; otherwise it is reported as not run, with
the projection. Writes
benchmarks/results/pipeline.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
SCAN_ALWAYS = 10**12  # a scan_max_items no table reaches
PAGE = os.sysconf("SC_PAGE_SIZE")
# the daily refreshes after the full one: the first day after the deploy, then the next day
DAYS = ("day", "day2")


def rss(pid: int) -> int:
    """Resident bytes of a process now (0 once it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError):
        return 0


def meminfo_gb(name: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def process_tree() -> dict[int, list[int]]:
    """Children of every running process, by parent pid (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_rss(root: int, children: dict[int, list[int]], skip: int) -> int:
    """Resident bytes of ``root`` and its descendants, without ``skip``'s subtree (a sum: pages
    shared between a parent and its forked workers count in each, so this is an upper bound)."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid == skip:
            continue
        total += rss(pid)
        stack.extend(children.get(pid, []))
    return total


class RssSampler(threading.Thread):
    """RSS of this process with its workers (joblib's fitting processes) and of the local AWS
    process with its children, every ``every`` seconds."""

    def __init__(self, aws_pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.me, self.aws, self.every = os.getpid(), aws_pid, every
        self.samples: list[tuple[float, int, int]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            tree = process_tree()
            self.samples.append(
                (time.time(), tree_rss(self.me, tree, self.aws), tree_rss(self.aws, tree, -1))
            )
            self.stopped.wait(self.every)

    def peak_mb(self, start: float, end: float) -> tuple[float, float]:
        """Largest sampled RSS (this process, local AWS) within [start, end], in MB."""
        window = [s for s in self.samples if start - self.every <= s[0] <= end + self.every]
        if not window:
            return float("nan"), float("nan")
        return max(s[1] for s in window) / 2**20, max(s[2] for s in window) / 2**20

    def peak_total_mb(self, start: float, end: float) -> float:
        """Largest sampled sum of the two within [start, end] (epoch seconds), in MB."""
        window = [s for s in self.samples if start - self.every <= s[0] <= end + self.every]
        return max((s[1] + s[2] for s in window), default=float("nan")) / 2**20


@dataclass
class Step:
    run: str  # which refresh: full, day, scan-full, scan-day
    key: str
    seconds: float
    me_mb: float
    aws_mb: float


@dataclass
class Size:
    meters: int
    items: int = 0
    seed_s: float = 0.0
    full_s: float = 0.0  # wall time of the full refresh's runs
    day_s: float = 0.0  # the first day after the deploy
    day2_s: float = 0.0  # the day after it: a steady-state day
    day2_items_read: int = 0
    day_items_read: int = 0
    day_source: str = ""
    full_items_read: int = 0
    full_read_s: float = 0.0  # the full export and reading it, inside raw_usage_export
    full_mb: float = 0.0  # gzipped DynamoDB JSON the full export wrote
    day_read_s: float = 0.0
    day_mb: float = 0.0
    steps: list[Step] = field(default_factory=list)
    # forecast_monitoring's own seconds per part, by day (its ``seconds`` metadata)
    monitoring: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: str = ""
    # the full refresh's wall time by part (``refresh_parts``)
    parts: dict[str, float] = field(default_factory=dict)
    peak_total_mb: float = 0.0  # the largest sampled sum (benchmark + local AWS), full refresh

    def seconds(self, run: str, key: str) -> float:
        return sum(s.seconds for s in self.steps if s.run == run and s.key == key)


def step_stats(instance, sampler: RssSampler, runs, label: str) -> list[Step]:
    """Dagster's step times of ``runs``, summed per step key, with each step's peak RSS."""
    merged: dict[str, Step] = {}
    for result in runs:
        for stat in instance.get_run_step_stats(result.run_id):
            if stat.start_time is None or stat.end_time is None:
                continue
            me, aws = sampler.peak_mb(stat.start_time, stat.end_time)
            step = merged.setdefault(stat.step_key, Step(label, stat.step_key, 0.0, 0.0, 0.0))
            step.seconds += stat.end_time - stat.start_time
            step.me_mb, step.aws_mb = max(step.me_mb, me), max(step.aws_mb, aws)
    return list(merged.values())


# the parts of the full refresh's wall time, in the order the report shows them
PARTS = {
    "run_creation": "runs created (execution plan; planned events, one per partition)",
    "export_read": "raw_usage_export: the export requested, waited for, read",
    "export_rest": "raw_usage_export: the rest of the step (routing, parquet writes, one "
    "materialization event per partition)",
    "training_steps": "training_job's steps (clean … deploy)",
    "in_runs": "inside runs, outside steps (run start, resources, run end)",
    "between_runs": "between runs (materialize_all: jobs resolved, progress lines)",
}


def refresh_parts(instance, runs, wall: float, export_read: float) -> dict[str, float]:
    """The full refresh's ``wall`` seconds by part (``PARTS``): each run's creation (from its
    record's creation to its start), its steps, the rest of it, and what is between runs."""
    parts = dict.fromkeys(PARTS, 0.0)
    in_runs = 0.0
    for result in runs:
        created = instance.get_run_record_by_id(result.run_id).create_timestamp
        if created.tzinfo is None:  # the SQLite run storage keeps UTC without a zone
            created = created.replace(tzinfo=UTC)
        stats = instance.get_run_stats(result.run_id)
        parts["run_creation"] += stats.start_time - created.timestamp()
        in_runs += stats.end_time - created.timestamp()
        steps = 0.0
        for step in instance.get_run_step_stats(result.run_id):
            if step.start_time is None or step.end_time is None:
                continue
            seconds = step.end_time - step.start_time
            steps += seconds
            if step.step_key == "raw_usage_export":
                parts["export_rest"] += seconds
            else:
                parts["training_steps"] += seconds
        parts["in_runs"] += stats.end_time - stats.start_time - steps
    parts["export_read"] = export_read
    parts["export_rest"] -= export_read
    parts["between_runs"] = wall - in_runs
    return parts


def metadata(result, asset: str) -> dict:
    from energy_assets.orchestration.pipeline import asset_metadata

    return asset_metadata(result, asset) or {}


@dataclass
class Refreshed:
    """A fleet seeded and run through the whole graph (``seed_and_refresh``)."""

    settings: object  # Settings
    frame: object  # each meter's last generated row
    table: object  # UsageTableResource
    defs: object  # dg.Definitions
    runs: object  # PipelineRuns
    items: int
    seed_s: float
    full_s: float
    started: float  # epoch seconds the full refresh started


# meters per shard (ENERGY_ASSETS_SHARDS = ceil(meters / this), as the demo chooses): a global
# model learns within a shard, and a shard's runs hold one shard in memory; --meters-per-shard
METERS_PER_SHARD = [1000]


def shards_for(meters: int) -> int:
    from energy_assets.settings import shards_for as chosen

    return chosen(meters, METERS_PER_SHARD[0])


def fleet_settings(meters: int, days: int, end):
    """Generated ``meters`` x ``days`` ending on ``end`` and Settings naming a table, bucket
    and endpoint of their own (``bench-<meters>-<random>``), in ``shards_for(meters)``
    shards."""
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.settings import Settings

    frame = generate_usage(n_meters=meters, n_days=days, end=end, seed=7)
    first = (end - timedelta(days=days - 1)).isoformat()
    name = f"bench-{meters}-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        table=name,
        bucket=name,
        endpoint_name=name,
        history_start=first,
        covariates=("temperature",),
        timezone="UTC",
        shards=shards_for(meters),
    )
    return frame, settings


def seed_and_refresh(instance, meters: int, days: int, end) -> Refreshed:
    """Seed a fleet (``fleet_settings``) into the local AWS the environment names, as the demo
    seeds (ImportTable), timed apart; then the full refresh (``materialize_all``: every day's
    ingestion, then training_job up to the deployed endpoint), timed. Exits on a failed run."""
    from energy_assets.orchestration.definitions import build_defs
    from energy_assets.orchestration.pipeline import failure_summary, materialize_all
    from energy_assets.resources import UsageTableResource
    from energy_assets.tools.seed import seed_table

    frame, settings = fleet_settings(meters, days, end)
    os.environ.update(settings.as_env())
    table = UsageTableResource(table_name=settings.table)

    started = time.perf_counter()
    items = seed_table(table, frame, covariates=settings.covariates, country="US").rows
    seed_s = time.perf_counter() - started
    print(f"{meters} meters: seeded {items:,} items in {seed_s:.1f} s", flush=True)
    # only each meter's last row is needed after seeding (the new days repeat it): the
    # generated frame (~1 GB at 10,000 meters) is not the pipeline's memory
    frame = frame.groupby("meter_id").tail(1).reset_index(drop=True)
    gc.collect()

    defs = build_defs(settings)
    wall = time.time()
    started = time.perf_counter()
    runs = materialize_all(defs, instance, settings.history_start, end.isoformat(), say=print)
    full_s = time.perf_counter() - started
    if runs.failed():
        raise SystemExit(f"{meters} meters: {runs.failed()[0]} {failure_summary(runs.failed()[1])}")
    return Refreshed(settings, frame, table, defs, runs, items, seed_s, full_s, wall)


def one_size(instance, meters: int, days: int, scan: bool, today) -> Size:

    from energy_assets.localaws.process import LocalAWSProcess
    from energy_assets.orchestration.definitions import build_defs
    from energy_assets.orchestration.pipeline import day_chunks
    from energy_assets.settings import Settings

    size = Size(meters)
    end = today - timedelta(days=1 + len(DAYS))
    new_days = [end + timedelta(days=i) for i in range(1, len(DAYS) + 1)]
    with LocalAWSProcess(timeout=180) as aws:
        os.environ.update(aws.env)
        sampler = RssSampler(aws._process.pid)
        sampler.start()
        done = seed_and_refresh(instance, meters, days, end)
        settings, frame, table, defs, runs = (
            done.settings, done.frame, done.table, done.defs, done.runs
        )  # fmt: skip
        name, first = settings.table, settings.history_start
        size.items, size.seed_s, size.full_s = done.items, done.seed_s, done.full_s
        backfill = metadata(runs.ingestion_runs[0], "raw_usage_export")
        size.full_items_read = int(backfill["items_read"])
        size.full_read_s, size.full_mb = backfill["read_seconds"], backfill["export_bytes"] / 1e6
        # one training run per meter shard
        full_runs = [*runs.ingestion_runs, *(runs.training_runs.values() or [runs.training])]
        size.steps += step_stats(instance, sampler, full_runs, "full")
        size.peak_total_mb = sampler.peak_total_mb(done.started, done.started + done.full_s)
        reads = sum(metadata(r, "raw_usage_export")["read_seconds"] for r in runs.ingestion_runs)
        size.parts = refresh_parts(instance, full_runs, size.full_s, reads)
        print(f"{meters} meters: table to endpoint in {size.full_s:.1f} s", flush=True)

        if scan:  # the peer: the same days by one Scan, into a bucket of its own
            scan_defs = build_defs(Settings(**{**vars(settings), "bucket": f"{name}-scan",
                                               "scan_max_items": SCAN_ALWAYS}))  # fmt: skip
            scan_runs = [
                run_job(scan_defs, instance, "ingestion_job", tags=range_tags(a, b))
                for a, b in day_chunks(first, end.isoformat(), 1000)
            ]
            size.steps += step_stats(instance, sampler, scan_runs, "scan-full")

        # the next day arrives for every meter, then the daily schedule's run for it; then the
        # day after (the first day after a deploy, then a steady-state day)
        # (each meter's last row again, dated the new day: generate_usage over one day gives
        # only the meters whose history starts by then, 30 of 1,000)
        for label, new_day in zip(DAYS, new_days, strict=True):
            day = frame.groupby("meter_id").tail(1).assign(date=new_day.isoformat())
            assert len(day) == meters, len(day)
            table.write_usage(day[["meter_id", "date", "usage", "temperature"]])
            size.items += len(day)
            request = scheduled_request(defs, instance, new_day + timedelta(days=1))
            assert request.partition_key == new_day.isoformat(), request.partition_key
            daily, seconds = day_refresh(defs, instance, request)
            exported = metadata(daily[0], "raw_usage_export")
            size.monitoring[label] = monitoring_seconds(daily)
            size.steps += step_stats(instance, sampler, daily, label)
            print(f"{meters} meters: {label} refresh in {seconds:.1f} s", flush=True)
            if label == "day2":
                size.day2_s, size.day2_items_read = seconds, int(exported["items_read"])
                continue
            size.day_s = seconds
            size.day_items_read, size.day_source = int(exported["items_read"]), exported["source"]
            size.day_read_s, size.day_mb = exported["read_seconds"], exported["export_bytes"] / 1e6
            if scan:
                scan_day = run_job(
                    scan_defs, instance, "ingestion_job", partition=new_day.isoformat()
                )
                size.steps += step_stats(instance, sampler, [scan_day], "scan-day")
        sampler.stopped.set()
    return size


def range_tags(first: str, last: str) -> dict:
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def run_job(defs, instance, name: str, partition: str | None = None, tags: dict | None = None):
    result = defs.resolve_job_def(name).execute_in_process(
        instance=instance, partition_key=partition, tags=tags, raise_on_error=False
    )
    if not result.success:
        from energy_assets.orchestration.pipeline import failure_summary

        raise SystemExit(f"{name}: {failure_summary(result)}")
    return result


def day_refresh(defs, instance, request) -> tuple[list, float]:
    """A day's refresh as the daemon runs it, timed together: ``usage_job`` for the day (the
    daily schedule's ``request``), then with meter shards the monitoring run per shard that
    ``monitoring_after_export_sensor`` asks for once the export succeeded (one shard: usage_job
    monitors the day itself). Returns the runs, the export's first."""
    import dagster as dg

    started = time.perf_counter()
    export = run_job(defs, instance, "usage_job", partition=request.partition_key,
                     tags=request.tags)  # fmt: skip
    runs = [export]
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    sensor = sensors.get("monitoring_after_export_sensor")
    if sensor is not None:
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=export.dagster_run,
            dagster_event=export.get_run_success_event(),
        )
        runs += [run_job(defs, instance, "monitoring_job", tags=r.tags) for r in sensor(context)]
    return runs, time.perf_counter() - started


def monitoring_seconds(runs) -> dict[str, float]:
    """forecast_monitoring's own seconds per part, summed over the day's runs (one per shard)."""
    total: dict[str, float] = {}
    for run in runs:
        parts = metadata(run, "forecast_monitoring").get("seconds", {})
        for part, seconds in parts.items():
            total[part] = round(total.get(part, 0.0) + seconds, 3)
    return total


def scheduled_request(defs, instance, on):
    """The run request ``daily_usage_schedule`` makes at 01:00 UTC on ``on``."""
    import dagster as dg

    schedule = defs.resolve_schedule_def("daily_usage_schedule")
    when = datetime.combine(on, clock(1, 0), tzinfo=UTC)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    (request,) = schedule.evaluate_tick(context).run_requests
    return request


def fit(sizes: list[Size], attr: str) -> tuple[float, float]:
    """Least squares seconds = a + b x meters over the sizes measured."""
    x = np.array([s.meters for s in sizes], dtype=float)
    y = np.array([getattr(s, attr) for s in sizes], dtype=float)
    if len(x) < 2:
        return float("nan"), float("nan")
    b, a = np.polyfit(x, y, 1)
    return a, b


def report(sizes: list[Size], args, load_start, load_end) -> str:
    done = [s for s in sizes if not s.skipped]
    memory = meminfo_gb("MemTotal")
    lines = [
        f"# Pipeline benchmark ({datetime.now(UTC):%Y-%m-%d}): the whole graph, table to "
        "deployed endpoint",
        "",
        f"Machine: {os.cpu_count()} cores, {memory:.0f} GB memory, Python "
        f"{platform.python_version()}; **shared with other developers' work**: load average "
        f"(1/5/15 min) {'/'.join(f'{v:.1f}' for v in load_start)} at the start, "
        f"{'/'.join(f'{v:.1f}' for v in load_end)} at the end. One run "
        "(`benchmarks/pipeline.py`), generated meters x "
        f"{args.days} days against the local AWS (moto and the SageMaker runtime in one child "
        "process on the same cores). Seconds are Dagster's step times "
        "(`get_run_step_stats`); the Dagster instance: "
        + (
            "Dagster's plain SQLite storage (`--plain-instance`)"
            if args.plain_instance
            else "the project's (`dagster.yaml`: SQLite, event batches written as batches)"
        )
        + f"; meter shards: one per {args.meters_per_shard:,} meters (ENERGY_ASSETS_SHARDS), "
        "each shard's cleaning → deploy one run; memory is the peak *sampled* RSS (every 0.2 s) "
        "during each step's window, of the benchmark process with its fitting workers (Dagster, "
        "in-process runs; summed over processes, an upper bound) and of the local AWS process "
        "apart; peak total is the largest sampled sum of the two over the whole refresh.",
        "",
        "## Summary",
        "",
        "| meters | shards | items | seed s (apart) | table → endpoint s | s per meter | peak "
        "RSS MB (benchmark / local AWS; total) | first day after deploy s | / full | second day "
        "s | / full | items a day's refresh read / table items |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sizes:
        if s.skipped:
            lines.append(f"| {s.meters:,} | not run: {s.skipped} | | | | | | | | | | |")
            continue
        full = [x for x in s.steps if x.run == "full"]
        me, aws = max(x.me_mb for x in full), max(x.aws_mb for x in full)
        lines.append(
            f"| {s.meters:,} | {shards_for(s.meters)} | {s.items:,} | {s.seed_s:.1f} | "
            f"{s.full_s:.1f} | {s.full_s / s.meters:.3f} | {me:,.0f} / {aws:,.0f}; "
            f"{s.peak_total_mb:,.0f} | {s.day_s:.1f} | "
            f"{s.day_s / s.full_s:.3f} | {s.day2_s:.1f} | {s.day2_s / s.full_s:.3f} | "
            f"{s.day_items_read:,}, {s.day2_items_read:,} / {s.items:,} ({s.day_source}) |"
        )
    a, b = fit(done, "full_s")
    da, db = fit(done, "day_s")
    d2a, d2b = fit(done, "day2_s")
    lines += [
        "",
        f"Fitted over {', '.join(f'{s.meters:,}' for s in done)} meters (least squares): "
        f"table → endpoint seconds = {a:.1f} + {b:.4f} × meters; first day after the deploy "
        f"seconds = {da:.1f} + {db:.5f} × meters; second day seconds = {d2a:.1f} + "
        f"{d2b:.5f} × meters. A day's refresh (the daily schedule's usage_job: "
        "raw_usage_export and forecast_monitoring for the new day; with meter shards the "
        "export, then the monitoring run per shard the sensor asks for, timed together) "
        "reads the items written since the previous export (the new day, plus items of days "
        "not yet over carried from the previous refresh), not the table. The serving "
        "version's reference error is computed at registration (registered_model, in the full "
        "refresh), so neither day computes it.",
        "",
        "## Where the full refresh's time goes",
        "",
        "Seconds of the table → endpoint wall time by part, from Dagster's run records (each "
        "run's creation, start and end), its step times and raw_usage_export's `read_seconds`: "
        + "; ".join(f"**{k}**: {v}" for k, v in PARTS.items())
        + ". What grows with meters is in the steps; the rest is the fixed part of a run.",
        "",
        "| meters | " + " | ".join(PARTS) + " | total |",
        "|---|" + "---|" * (len(PARTS) + 1),
        *(
            f"| {s.meters:,} | "
            + " | ".join(f"{s.parts.get(k, float('nan')):.1f}" for k in PARTS)
            + f" | {s.full_s:.1f} |"
            for s in done
        ),
        "",
        "## Per step: seconds and peak sampled RSS (MB, benchmark / local AWS)",
        "",
        "`full`: the full refresh (ingestion_job in runs of up to 3,660 days: one run for 3 "
        "years, then training_job, one run per meter shard); `day`: the daily schedule's usage_job "
        "for the first new day after the deploy (with shards, and each shard's monitoring run); "
        "`day2`: the same for the day after it. A step over several runs (raw_usage_export over "
        "a longer history, each shard's steps) is summed.",
        "",
        "| meters | refresh | step | seconds | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for s in done:
        for x in s.steps:
            if x.run in ("full", *DAYS):
                lines.append(
                    f"| {s.meters:,} | {x.run} | {x.key} | {x.seconds:.1f} | "
                    f"{x.me_mb:,.0f} / {x.aws_mb:,.0f} |"
                )
    parts = sorted({k for s in done for d in s.monitoring.values() for k in d})
    if parts:
        lines += [
            "",
            "## Where forecast_monitoring's time goes",
            "",
            "Its `seconds` metadata: wall seconds of each part of the pass (artifact: the serving "
            "version's model.tar.gz read and loaded; reference: read back, or computed when "
            "absent; clean: the raw days read and cleaned; realised: the new day scored; store: "
            "the realised rows merged into S3; summary: anomalies, daily summary and verdict; "
            "usage_drift; cloudwatch: metrics and alarms).",
            "",
            "| meters | day | " + " | ".join(parts) + " |",
            "|---|---|" + "---|" * len(parts),
        ]
        for s in done:
            for label, found in s.monitoring.items():
                cells = " | ".join(f"{found.get(k, float('nan')):.2f}" for k in parts)
                lines.append(f"| {s.meters:,} | {label} | {cells} |")
    lines += [
        "",
        "## The exports raw_usage_export read",
        "",
        "Inside raw_usage_export (its `read_seconds` and `export_bytes` metadata): the export "
        "requested, waited for and read into frames; MB of gzipped DynamoDB JSON read.",
        "",
        "| meters | full export: items | MB | seconds | one-day incremental: items | MB "
        "| seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in done:
        lines.append(
            f"| {s.meters:,} | {s.full_items_read:,} | {s.full_mb:.1f} | {s.full_read_s:.1f} | "
            f"{s.day_items_read:,} | {s.day_mb:.3f} | {s.day_read_s:.1f} |"
        )
    peers = [s for s in done if any(x.run.startswith("scan") for x in s.steps)]
    if peers:
        lines += [
            "",
            "## Peer: raw_usage_export by one Scan beside the DynamoDB-export path",
            "",
            "Same table, same days, the Scan path forced (`scan_max_items` above the table) "
            "into a bucket of its own. Ratio: Scan seconds / export seconds.",
            "",
            "| meters | refresh | export path s | Scan s | Scan / export |",
            "|---|---|---|---|---|",
        ]
        for s in peers:
            for ours, theirs in (("full", "scan-full"), ("day", "scan-day")):
                e = s.seconds(ours, "raw_usage_export")
                c = s.seconds(theirs, "raw_usage_export")
                lines.append(f"| {s.meters:,} | {ours} | {e:.1f} | {c:.1f} | {c / e:.1f}x |")
    return "\n".join(lines) + "\n"


def instance_settings(home: str) -> dict:
    """The settings of the project's instance (dagster.yaml: the SQLite storage that writes
    Dagster's event batches as batches), for an instance in ``home``."""
    from energy_assets.instance_storage import storage_settings

    return storage_settings(os.path.join(home, "storage"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, nargs="+", default=[10, 100, 1000])
    # run after those when the fit over them says it ends within --max-seconds and memory
    parser.add_argument("--try-meters", type=int, nargs="*", default=[10000])
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--scan-meters", type=int, nargs="*", default=[10])
    parser.add_argument("--max-seconds", type=float, default=900.0)
    # Dagster's plain SQLite storage instead of the project's (dagster.yaml): the before of
    # docs/scaling.md's "The fixed part of a run"
    parser.add_argument("--plain-instance", action="store_true")
    parser.add_argument("--meters-per-shard", type=int, default=METERS_PER_SHARD[0])
    args = parser.parse_args()
    METERS_PER_SHARD[0] = args.meters_per_shard
    import dagster as dg

    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    load_start = os.getloadavg()
    today = datetime.now(UTC).date()
    sizes: list[Size] = []
    # one Dagster instance for the whole run: Dagster keeps the first one it loads
    # definitions with (DefinitionsLoadContext), so one per size would outlive its directory
    home = tempfile.TemporaryDirectory()
    settings = {} if args.plain_instance else instance_settings(home.name)
    instance = dg.DagsterInstance.local_temp(
        home.name, overrides={"telemetry": {"enabled": False}, **settings}
    )
    # a small run first, not reported: the process's one-time costs (imports, Dagster's first
    # load of the definitions, the instance's tables) would otherwise be charged to the first
    # size (179 s at 10 meters without it, 81 s at 100 meters after it)
    one_size(instance, 10, args.days, False, today)
    for meters in [*sorted(args.meters), *sorted(args.try_meters)]:
        done = [s for s in sizes if not s.skipped]
        if (
            meters in args.try_meters and len(done) >= 2
        ):  # project this size from the fit over the sizes measured
            a, b = fit(done, "full_s")
            seconds = a + b * meters
            aws_mb = max(x.aws_mb for x in done[-1].steps) * meters / done[-1].meters
            free_mb = meminfo_gb("MemAvailable") * 1024
            if seconds > args.max_seconds or aws_mb > 0.8 * free_mb:
                sizes.append(
                    Size(
                        meters,
                        skipped=f"projected: table → endpoint {seconds:,.0f} s (limit "
                        f"{args.max_seconds:,.0f}), local AWS {aws_mb / 1024:,.1f} GB "
                        f"(available {free_mb / 1024:,.1f} GB)",
                    )
                )
                print(f"{meters} meters skipped: {sizes[-1].skipped}", flush=True)
                continue
        sizes.append(one_size(instance, meters, args.days, meters in args.scan_meters, today))
    text = report(sizes, args, load_start, os.getloadavg())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
