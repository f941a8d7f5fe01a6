"""The end-to-end demo: local AWS, sample data, the whole graph, the endpoint, the UI.

Every failure is one line and a non-zero exit (the whole traceback goes to a file); a failed or
interrupted job stops the demo there. SIGINT and SIGTERM stop it within seconds, also when it
was started in the background, where a shell makes it inherit SIGINT as ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from energy_assets import layout

APP_WAIT_SECONDS = 180.0  # the app's first answer can take a while on a busy machine
UI_STOP_SECONDS = 5.0  # then the UI's process group is killed


class DemoFailed(Exception):
    """A step of the demo failed; the message says which and why, in one line."""


def _say(message: str) -> None:
    print(f"[energy-assets] {message}", flush=True)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def install_stop_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt, even where SIGINT was inherited as ignored
    (a background job of a non-interactive shell). Dagster maps both to its own handler while
    a run executes and restores these after."""
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)


def dagster_home(root: Path) -> Path:
    """The user's ``DAGSTER_HOME`` when set (created if missing), else the checkout, whose
    ``dagster.yaml`` keeps the instance in ``.dagster/``."""
    home = Path(os.environ.get("DAGSTER_HOME") or root).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_to_main_thread():
    """Threads started inside block SIGINT and SIGTERM, so the kernel delivers them to the main
    thread: Python runs handlers only there, and a main thread blocked in a system call (a
    socket read, waitpid) wakes only for a signal delivered to it."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class DemoServers:
    """The demo's servers: the local AWS and the app (threads here), the Dagster UI (a process
    group). ``stop`` frees every port within seconds."""

    def __init__(self) -> None:
        self.aws = None
        self.app = None
        self.ui: subprocess.Popen | None = None

    def start_aws(self, port: int, runtime_port: int):
        from energy_assets.localaws import LocalAWS

        with _signals_to_main_thread():
            self.aws = LocalAWS(port=port, runtime_port=runtime_port).start()
        os.environ.update(self.aws.env())
        return self.aws

    def start_app(self, port: int):
        from energy_assets.app.api import app_from_env
        from energy_assets.background import ASGIThread

        with _signals_to_main_thread():
            self.app = ASGIThread(port=port).start(app_from_env())
        return self.app

    def start_ui(
        self, command: list[str], cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        # Its own session: stopping the demo stops the webserver, daemon and code server too.
        env = os.environ.copy() if env is None else env
        self.ui = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True)
        return self.ui

    def stop(self) -> None:
        """Signal the UI's group first (its webserver lets go of its port at once), stop the
        app and the local AWS meanwhile; SIGKILL what is left of the UI ``UI_STOP_SECONDS``
        after the signal (``dagster dev`` takes 12-20 s to exit on its own here)."""
        ui, app, aws = self.ui, self.app, self.aws
        self.ui = self.app = self.aws = None
        deadline = time.monotonic() + UI_STOP_SECONDS
        if ui is not None:
            _signal_group(ui, signal.SIGTERM)
        for server in (app, aws):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        if ui is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                ui.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(ui, signal.SIGKILL)  # the daemon's or code server's stragglers
            with contextlib.suppress(subprocess.TimeoutExpired):
                ui.wait(timeout=5)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _traceback_file(error: BaseException) -> Path:
    path = Path(tempfile.gettempdir()) / f"energy-assets-demo-{os.getpid()}.traceback.txt"
    path.write_text("".join(traceback.format_exception(error)))
    return path


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
    covariates: tuple[str, ...] | None = None,
    country: str | None = None,
    subdiv: str | None = None,
) -> int:
    """The demo; 0 when it went through, 1 when a step failed, 130 when interrupted. A CSV is
    read before anything starts, so that a bad file is one line (``SeedError``) and no wait."""
    from energy_assets.settings import METERS_PER_SHARD, Settings, shards_for
    from energy_assets.tools.seed import read_usage_csv

    frame = read_usage_csv(csv) if csv else None
    started = time.monotonic()
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")  # beta notice
    os.chdir(root)  # workspace.yaml and dagster.yaml name paths relative to the checkout
    home = dagster_home(root)
    if covariates is None and frame is None:  # generated data carries temperature
        covariates = ("temperature",)
    if country is None and frame is None:  # generated data keeps US-style holidays
        country = "US"
    settings = Settings()
    if covariates is not None:
        settings = replace(settings, covariates=tuple(covariates))
    if frame is None:
        fleet = meters
    else:  # a one-series CSV (date,usage) has no meter column
        fleet = int(frame["meter_id"].nunique()) if "meter_id" in frame.columns else 1
    if not os.environ.get("ENERGY_ASSETS_SHARDS") and shards_for(fleet) > 1:
        # a fleet past one shard's size is sharded unless ENERGY_ASSETS_SHARDS says otherwise;
        # the app, the UI and the runs read the count from the environment
        settings = replace(settings, shards=shards_for(fleet))
        os.environ["ENERGY_ASSETS_SHARDS"] = str(settings.shards)
        _say(
            f"{fleet:,} meters: {settings.shards} meter shards of up to {METERS_PER_SHARD:,} "
            "(set ENERGY_ASSETS_SHARDS to choose)"
        )

    def demo(servers: DemoServers) -> int:
        aws = servers.start_aws(aws_port, runtime_port)
        _say(f"local AWS on {aws.endpoint_url}, SageMaker runtime on {aws.runtime_url}")
        if frame is None:
            from energy_assets.ml.synthetic import generate_usage

            data = generate_usage(n_meters=meters, n_days=days, seed=0)
        else:
            data = frame
        summary = _seed_and_materialize(home, settings, data, country, subdiv)
        app = servers.start_app(app_port)
        _ask_app(app.url, settings, summary["report"]["smoke_meter"], summary.get("last_day"))
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        _print_summary(summary)
        if ui:
            _say(f"the app: open {app.url} (actual beside predicted usage)")
            # the UI's code location builds the same deployment from these variables
            env = {**os.environ, **summary["settings"].as_env()}
            return serve_ui(ui_port, servers, ui_command(root, ui_port), cwd=root, env=env)
        return 0

    return guarded(demo)


def guarded(body) -> int:
    """Run ``body(servers)`` with the demo's servers, and say any failure in one line:
    130 when interrupted (SIGINT, SIGTERM), 1 when a step failed. The servers are stopped in
    every case, within seconds. ``CommandError`` (bad input) goes to the command, which says it
    and exits 2."""
    from energy_assets.errors import CommandError

    install_stop_signals()
    servers = DemoServers()
    try:
        return body(servers)
    except KeyboardInterrupt:
        _say("interrupted: stopping the servers")
        return 130
    except DemoFailed as error:
        _say(f"demo stopped: {error}")
        return 1
    except CommandError:
        raise
    except Exception as error:
        where = _traceback_file(error)
        first = (str(error).strip().splitlines() or [""])[0]
        _say(f"demo failed: {type(error).__name__}: {first} (traceback in {where})")
        return 1
    finally:
        # A second Ctrl-C or SIGTERM must not cut the stopping short (it takes seconds).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        servers.stop()


def _ask_app(url: str, settings, meter: str, last_day: str | None = None) -> None:
    """Ask the app, over HTTP, for one meter's last four weeks and forecast, as a user would;
    a slow first answer is waited for (``APP_WAIT_SECONDS``), a failure is one line."""
    import httpx

    from energy_assets import meter_days

    end = meter_days.last_complete_day(settings.timezone)
    if last_day:  # data of past years: its own last four weeks
        end = min(end, date.fromisoformat(last_day))
    start = end - timedelta(days=27)
    path = f"/api/meters/{meter}/predictions"
    params = {"start": start.isoformat(), "end": end.isoformat(), "ahead": 7}
    token = settings.app_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + APP_WAIT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(
                url + path,
                params=params,
                headers=headers,
                timeout=max(1.0, deadline - time.monotonic()),
            )
        except httpx.HTTPError as error:
            last = f"{type(error).__name__} {error}".strip()
            continue
        if response.status_code in (503, 504):  # the endpoint warming up or busy: ask again
            last = f"HTTP {response.status_code} {response.text[:200]}"
            time.sleep(2)
            continue
        if response.is_error:
            raise DemoFailed(f"the app answered {path} with HTTP {response.status_code}: "
                             f"{response.text[:200]}")  # fmt: skip
        body = response.json()
        _say(
            f"app on {url}: {meter} {start}..{end} MAE {body['mae']:.3f} over "
            f"{body['mae_days']} days, model {body['model']} {body['model_version']}"
        )
        return
    raise DemoFailed(f"the app did not answer {path} within {APP_WAIT_SECONDS:.0f} s ({last})")


def _seed_and_materialize(home: Path, settings, frame, country=None, subdiv=None) -> dict:
    from energy_assets import meter_days
    from energy_assets.resources import UsageTableResource
    from energy_assets.tools.seed import seed_table

    table = UsageTableResource(table_name=settings.table, region_name=settings.region)
    seeded = seed_table(
        table, frame, covariates=settings.covariates, country=country, subdiv=subdiv
    )
    _say(
        f"seeded {seeded.rows} items, {seeded.meters} meter(s), "
        f"{seeded.first_date} .. {seeded.last_date} into table {seeded.table} "
        f"(covariates: {', '.join(seeded.covariates) or 'none'}; "
        f"public holidays: {seeded.place or 'none'})"
    )
    for note in seeded.notes:
        _say(f"note: {note}")
    settings = replace(settings, history_start=seeded.first_date)  # the partitions start there
    yesterday = meter_days.last_complete_day(settings.timezone).isoformat()  # a partition
    last_day = min(seeded.last_date, yesterday)

    import dagster as dg

    from energy_assets.orchestration.definitions import build_defs
    from energy_assets.orchestration.pipeline import (
        asset_metadata,
        failure_summary,
        interrupted,
        materialize_all,
    )

    defs = build_defs(settings)
    instance = dg.DagsterInstance.get()
    _say(f"materializing every asset (Dagster instance in {home})")
    runs = materialize_all(
        defs, instance, seeded.first_date, last_day, explore=True, say=_say, one_line_logs=True
    )
    failed = runs.failed()
    if failed:
        name, run = failed
        if interrupted(run):
            raise KeyboardInterrupt
        raise DemoFailed(
            f"{name} failed: {failure_summary(run)} (run {run.run_id}; nothing after it ran)"
        )

    storage = defs.resources["storage"]
    sagemaker = defs.resources["sagemaker"]
    # the report of the model this run evaluated (and, in a fresh demo, deployed); with meter
    # shards, each shard's, the summary's figures those of shard 00
    reports = {
        key: storage.get_json(
            storage.key_of(asset_metadata(run, "evaluation_report")["report_uri"])
        )
        for key, run in runs.training_runs.items()
    }
    report = next(iter(reports.values()))
    if sagemaker.multi_model:
        stats = _shard_stats(storage, list(reports))
        shards = _check_routes(storage, sagemaker, reports)
        deployment = storage.get_json(layout.route(next(iter(reports))))
    else:
        stats, shards = storage.get_json(layout.CLEAN_STATS), []
        deployment = storage.get_json(layout.DEPLOYMENT_CURRENT)
    meter = report["smoke_meter"]
    answer = sagemaker.invoke({"meter_id": meter, "horizon": 7})
    return {
        "shards": shards,
        "seeded": seeded,
        "stats": stats,
        "report": report,
        "deployment": deployment,
        "endpoint": sagemaker.describe_endpoint(),
        "package": sagemaker.find_package(deployment["model_version"]) or {},
        "exploration": asset_metadata(runs.exploration, "exploration_report")["report_uri"],
        "answer": answer,
        "last_day": last_day,
        "settings": settings,
    }


def _shard_stats(storage, keys: list[str]) -> dict:
    """Cleaning's counts summed over the shards (each shard's run cleaned its own meters)."""
    each = [storage.get_json(layout.clean_stats(k)) for k in keys]
    counts = ("rows_clean", "rows_imputed", "rows_quarantined")
    return {
        **{c: sum(int(e[c]) for e in each) for c in counts},
        "quarantine_uri": f"{each[0]['quarantine_uri']} and {len(each) - 1} more, one per shard"
        if len(each) > 1
        else each[0]["quarantine_uri"],
    }


def _check_routes(storage, sagemaker, reports: dict[str, dict]) -> list[dict]:
    """Each shard's route, checked as a client meets it: a meter of the shard, invoked the
    way the app invokes (``SageMakerResource.invoke`` passes the shard's TargetModel), must be
    answered by the version the route names. A shard answered by another model fails the demo."""
    shards = []
    for key, report in reports.items():
        route = storage.get_json(layout.route(key))
        meter = report["smoke_meter"]
        answer = sagemaker.invoke({"meter_id": meter, "horizon": 1})
        if answer.get("model_version") != route["model_version"]:
            raise DemoFailed(
                f"shard {key}: meter {meter} was answered by {answer.get('model_version')}, "
                f"its route names {route['model_version']} ({route['target_model']})"
            )
        shards.append(
            {
                "shard": key,
                "meters": report["meters"],
                "version": route["model_version"],
                "target_model": route["target_model"],
                "relative_mae": report["overall"]["relative_mae"],
                "meter": meter,
            }
        )
    return shards


def _shard_lines(shards: list[dict]) -> list[str]:
    if not shards:
        return []
    lines = [f"  meter shards         {len(shards)}: each meter answered by its shard's model"]
    lines += [
        f"    shard {s['shard']}  {s['meters']:>5} meters  relative MAE "
        f"{s['relative_mae']:.3f}  TargetModel {s['target_model']}"
        for s in shards
    ]
    return lines


def _verdict(report: dict) -> str:
    """The gate's word in a line: what serves against the baseline, and why."""
    from energy_assets.assets.evaluation import report_warning

    verdict = report["baseline_verdict"]
    said = report_warning(report)
    if said:
        return said
    return (
        f"beats it a week ahead from every test day (relative MAE "
        f"{verdict['relative_mae']:.3f} over {verdict['days']} days)"
    )


def _gate_line(report: dict) -> list[str]:
    """The per-meter gate in a line: how many meters serve seasonal naive, and the served
    mix's figures (chosen on the window they are scored on)."""
    gate = report.get("gate")
    if not gate:
        return []
    served = gate["served"]
    lines = [
        f"  per-meter gate       {gate['meters_gated']} of {gate['meters_judged']} meters served "
        f"seasonal naive (their model did not beat it on their rolling-origin backtest; "
        f"on the test window alone: {gate['meters_losing_on_test_window_alone']})",
    ]
    if gate["meters_gated"]:
        lines.append(
            f"  served mix           relative MAE {served['relative_mae']:.3f}, week-ahead "
            f"{served['rolling_relative_mae']:.3f} (the gate chose on this test window: "
            "optimistic)"
        )
    return lines


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
        f"  vs seasonal naive    {_verdict(s['report'])}",
        *_gate_line(s["report"]),
        *_shard_lines(s.get("shards", [])),
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


def ui_command(root: Path, port: int) -> list[str]:
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(root / "workspace.yaml")]
    return command + ["-h", "127.0.0.1", "-p", str(port)]


def serve_ui(
    port: int, servers: DemoServers, command: list[str], cwd: Path, env: dict | None = None
) -> int:
    """Serve the Dagster UI until it exits or the demo is asked to stop (``guarded`` then stops
    every server)."""
    _say(
        f"Dagster UI: open http://127.0.0.1:{port} (Ctrl-C stops the UI, the app and the local AWS)"
    )
    ui = servers.start_ui(command, cwd=cwd, env=env)
    while True:  # in short slices, in case a signal is taken by a thread of a library
        try:
            code = ui.wait(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            continue
    _say(f"the Dagster UI exited ({code})")
    return 1 if code else 0
