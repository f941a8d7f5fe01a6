"""The end-to-end demo: local AWS, sample data, the whole graph, the endpoint, the UI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _say(message: str) -> None:
    print(f"[energy-assets] {message}", flush=True)


def run_demo(
    root: Path,
    meters: int,
    days: int,
    csv: str | None,
    ui: bool,
    ui_port: int,
    app_port: int,
    aws_port: int,
    runtime_port: int,
) -> int:
    from energy_assets.localaws import LocalAWS

    started = time.monotonic()
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")  # beta notice
    os.environ.setdefault("DAGSTER_HOME", str(root))
    aws = LocalAWS(port=aws_port, runtime_port=runtime_port)
    aws.start()
    os.environ.update(aws.env())
    _say(f"local AWS on {aws.endpoint_url}, SageMaker runtime on {aws.runtime_url}")
    app = None
    try:
        summary = _seed_and_materialize(root, meters, days, csv)
        app = _start_app(app_port, summary["report"]["smoke_meter"])
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        _print_summary(summary)
        if ui:
            _say(f"the app: open {app.url} (actual beside predicted usage)")
            return _serve_ui(root, ui_port)
        return 0
    finally:
        if app:
            app.stop()
        aws.stop()


def _start_app(port: int, meter: str):
    """Serve the app and ask it, over HTTP, for one meter's last four weeks and forecast."""
    import httpx

    from energy_assets.app.api import app_from_env
    from energy_assets.background import BackgroundServer
    from energy_assets.settings import Settings

    app = BackgroundServer(app_from_env(), port=port).start()
    end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=27)
    token = Settings().app_token
    response = httpx.get(
        f"{app.url}/api/meters/{meter}/predictions",
        params={"start": start.isoformat(), "end": end.isoformat(), "ahead": 7},
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    _say(
        f"app on {app.url}: {meter} {start}..{end} MAE {body['mae']:.3f} over "
        f"{body['mae_days']} days, model {body['model']} {body['model_version']}"
    )
    return app


def _seed_and_materialize(root: Path, meters: int, days: int, csv: str | None) -> dict:
    from energy_assets import meter_days
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.resources import UsageTableResource
    from energy_assets.seed import read_usage_csv, seed_table
    from energy_assets.settings import Settings

    settings = Settings()
    table = UsageTableResource(table_name=settings.table, region_name=settings.region)
    frame = read_usage_csv(csv) if csv else generate_usage(n_meters=meters, n_days=days, seed=0)
    seeded = seed_table(table, frame)
    _say(
        f"seeded {seeded.rows} items, {seeded.meters} meter(s), "
        f"{seeded.first_date} .. {seeded.last_date} into table {seeded.table}"
    )
    # The partitions start where the data does; set before the definitions are imported.
    os.environ["ENERGY_ASSETS_HISTORY_START"] = seeded.first_date
    yesterday = meter_days.last_complete_day(settings.timezone).isoformat()  # a partition
    last_day = min(seeded.last_date, yesterday)

    import dagster as dg

    from energy_assets.definitions import defs
    from energy_assets.pipeline import failure_summary, materialize_all

    instance = dg.DagsterInstance.get()
    _say(f"materializing every asset (Dagster instance in {root / '.dagster'})")
    runs = materialize_all(defs, instance, seeded.first_date, last_day, explore=True)
    for name, result in (
        ("ingestion_job", runs.ingestion),
        ("training_job", runs.training),
        ("exploration_job", runs.exploration),
    ):
        if not result.success:
            raise SystemExit(f"{name} failed: {failure_summary(result)}")

    storage = defs.resources["storage"]
    sagemaker = defs.resources["sagemaker"]
    stats = storage.get_json("clean/stats.json")
    report = storage.get_json("evaluation/latest.json")
    deployment = storage.get_json("deployments/current.json")
    meter = report["smoke_meter"]
    answer = sagemaker.invoke({"meter_id": meter, "horizon": 7})
    return {
        "seeded": seeded,
        "stats": stats,
        "report": report,
        "deployment": deployment,
        "endpoint": sagemaker.describe_endpoint(),
        "package": sagemaker.find_package(deployment["model_version"]) or {},
        "exploration": storage.get_json("exploration/latest.json")["report_uri"],
        "answer": answer,
    }


def _print_summary(s: dict) -> None:
    stats, overall, dep = s["stats"], s["report"]["overall"], s["deployment"]
    endpoint = s["endpoint"]
    answer = s["answer"]
    lines = [
        "",
        "energy_assets demo summary",
        f"  table rows           {s['seeded'].rows} ({s['seeded'].meters} meters)",
        f"  clean rows           {stats['rows_clean']} observed + {stats['rows_imputed']} imputed; "
        f"{stats['rows_quarantined']} quarantined ({stats['quarantine_uri']})",
        f"  model version        {s['report']['version']}",
        f"  test MAE / RMSE      {overall['mae']:.3f} / {overall['rmse']:.3f} "
        f"(seasonal naive {overall['baseline_mae']:.3f} / {overall['baseline_rmse']:.3f})",
        f"  relative MAE         {overall['relative_mae']:.3f} (geometric mean over meters of "
        f"MAE / seasonal naive MAE; {s['report']['meters_beating_baseline']} of "
        f"{s['report']['meters']} meters beat it)",
        f"  endpoint             {endpoint['EndpointName']} {endpoint['EndpointStatus']} "
        f"({dep['instance_type']} x{dep['initial_instance_count']}, "
        f"autoscaling {dep['autoscaling']['min']}-{dep['autoscaling']['max']})",
        f"  registry             {s['package'].get('ModelPackageArn', 'not registered')} "
        f"({s['package'].get('ModelApprovalStatus', '-')})",
        f"  data capture         {(dep.get('data_capture') or {}).get('DestinationS3Uri', 'off')}",
        f"  exploration notebook {s['exploration']}",
        f"  forecast for {answer['meter_id']} ({answer['model']}):",
    ]
    lines += [
        f"    {d}  {v:10.3f}" for d, v in zip(answer["dates"], answer["forecast"], strict=True)
    ]
    lines.append(f"  wall time            {s['wall_seconds']} s")
    print("\n".join(lines), flush=True)
    print(json.dumps({"demo_wall_seconds": s["wall_seconds"]}), flush=True)


def _serve_ui(root: Path, port: int) -> int:
    _say(f"Dagster UI: open http://127.0.0.1:{port} (Ctrl-C stops the UI and the local AWS)")
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(root / "workspace.yaml")]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    # Its own process group, so that stopping the demo stops the webserver and daemon too.
    ui = subprocess.Popen(command, cwd=root, env=os.environ.copy(), start_new_session=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        return ui.wait()
    except KeyboardInterrupt:
        _stop_group(ui)
        return 0


def _stop_group(process: subprocess.Popen) -> None:
    """Ask politely (SIGINT, as Ctrl-C), then firmly; never leave the UI's children behind."""
    for signum, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, signum)
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
