"""Peak memory of the full export step (``raw_usage_export`` over every day of a table that a
full DynamoDB export reads), this checkout beside a baseline checkout, in one run.

    .venv/bin/python benchmarks/export_memory.py --baseline PATH [--meters 10000] [--days 1095]

One local AWS (``LocalAWSProcess``) is seeded once (``seed_table``: ImportTable); then each
checkout, in a process of its own (``PYTHONPATH`` = the checkout), materializes
``ingestion_job`` over every day into a bucket of its own, while this process samples that
process's RSS every 0.2 s. ``--baseline``: a worktree of the commit to compare with (e.g.
``git worktree add /tmp/before f3fe709~1``). Writes benchmarks/results/export_memory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
HERE = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")

# what each checkout's process runs: the export job over every day, its step's figures printed
CHILD = """
import json, os, sys, tempfile, time
import dagster as dg
from energy_assets.orchestration.definitions import build_defs
from energy_assets.instance_storage import storage_settings
from energy_assets.settings import Settings

settings = Settings()
defs = build_defs(settings)
job = defs.resolve_job_def("ingestion_job")
home = tempfile.mkdtemp()
overrides = {"telemetry": {"enabled": False}, **storage_settings(os.path.join(home, "storage"))}
with dg.DagsterInstance.local_temp(home, overrides=overrides) as instance:
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG)
    tags = {ASSET_PARTITION_RANGE_START_TAG: sys.argv[1],
            ASSET_PARTITION_RANGE_END_TAG: sys.argv[2]}
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    seconds = time.perf_counter() - started
    meta = {}
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
    import energy_assets
    print(json.dumps({"code": os.path.dirname(energy_assets.__file__),
                      "success": result.success, "seconds": seconds,
                      "items_read": meta.get("items_read"), "rows": meta.get("rows"),
                      "source": meta.get("source")}))
"""


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError):
        return 0


def run_checkout(checkout: Path, env: dict, first: str, last: str) -> dict:
    """The export in ``checkout``'s code, in a process of its own; its peak sampled RSS."""
    # ``-c`` puts the working folder first on sys.path, ahead of PYTHONPATH: the child runs in
    # the checkout, or it would import whatever checkout the benchmark was started from
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, first, last],
        cwd=checkout,
        env={**env, "PYTHONPATH": str(checkout)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, rss(proc.pid))
        time.sleep(0.2)
    out = proc.stdout.read().strip().splitlines()
    answer = json.loads(out[-1]) if out else {"success": False}
    return {**answer, "peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True, type=Path)
    parser.add_argument("--meters", type=int, default=10000)
    parser.add_argument("--days", type=int, default=1095)
    args = parser.parse_args()

    from energy_assets.localaws.process import LocalAWSProcess
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.resources import UsageTableResource
    from energy_assets.settings import Settings, shards_for
    from energy_assets.tools.seed import seed_table

    load_start = os.getloadavg()
    end = datetime.now(UTC).date() - timedelta(days=1)
    first = (end - timedelta(days=args.days - 1)).isoformat()
    name = f"expmem-{args.meters}-{uuid.uuid4().hex[:6]}"
    shards = shards_for(args.meters)  # as the pipeline benchmark and the demo shard a fleet
    with LocalAWSProcess(timeout=180) as aws:
        os.environ.update(aws.env)
        frame = generate_usage(n_meters=args.meters, n_days=args.days, end=end, seed=7)
        table = UsageTableResource(table_name=name)
        started = time.perf_counter()
        items = seed_table(table, frame, covariates=("temperature",), country="US").rows
        seed_s = time.perf_counter() - started
        del frame
        print(f"seeded {items:,} items in {seed_s:.1f} s", flush=True)
        results = {}
        for label, checkout in (("baseline", args.baseline.resolve()), ("this checkout", HERE)):
            settings = Settings(
                table=name,
                bucket=f"{name}-{len(results)}",
                endpoint_name=name,
                history_start=first,
                covariates=("temperature",),
                timezone="UTC",
                shards=shards,
            )
            env = {**os.environ, **aws.env, **settings.as_env()}
            results[label] = run_checkout(checkout, env, first, end.isoformat())
            if results[label].get("code") != str(checkout / "energy_assets"):
                raise SystemExit(f"{label} ran {results[label].get('code')}, not {checkout}")
            print(label, results[label], flush=True)
    base, new = results["baseline"], results["this checkout"]
    commit = subprocess.run(
        ["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    load_end = os.getloadavg()
    text = "\n".join(
        [
            f"# Export step memory ({datetime.now(UTC):%Y-%m-%d})",
            "",
            f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; load average "
            f"(1 min) {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end. One run "
            f"(`benchmarks/export_memory.py`): {args.meters:,} generated meters x {args.days} "
            f"days ({items:,} items, seeded in {seed_s:.1f} s by ImportTable) in one local AWS, "
            f"{shards} meter shard(s) as the pipeline benchmark shards; "
            "`ingestion_job` over every day (the table read as the step chooses: a Scan for a "
            "small table, a full DynamoDB export above `scan_max_items`; routed and written as "
            "parquet per month and shard) in a process of its own per checkout, its RSS "
            f"sampled every 0.2 s. Baseline: commit {commit or args.baseline}.",
            "",
            "| checkout | read by | items read | seconds | peak RSS MB |",
            "|---|---|---|---|---|",
            *(
                f"| {label} | {r.get('source')} | {r.get('items_read') or 0:,} | "
                f"{r.get('seconds', 0):.1f} | "
                f"{r['peak_mb']:,.0f} |"
                for label, r in results.items()
            ),
            "",
            f"Peak RSS, baseline / this checkout: {base['peak_mb'] / new['peak_mb']:.2f}x; "
            f"seconds {base.get('seconds', 0) / max(new.get('seconds', 1), 1e-9):.2f}x.",
            "",
        ]
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "export_memory.md").write_text(text)
    print(text)
    if not (base.get("success") and new.get("success")):
        raise SystemExit("an export run failed")


if __name__ == "__main__":
    main()
