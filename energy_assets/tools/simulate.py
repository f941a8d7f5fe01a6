"""A replay of the platform looking after itself: new days of usage arrive one by one, a level
shift is injected half way, the sensors pick the days up, monitoring sees the error grow, the
drift sensor retrains, and the champion/challenger gate decides what serves.

Sensors and jobs are the real ones, evaluated with Dagster's testing APIs and executed in process
against one instance, the way the daemon would tick them once per simulated day (the daemon also
drops a run request whose run key it has seen; so does the replay).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG as RANGE_END
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG as RANGE_START

from energy_assets import layout, meter_days
from energy_assets.ml import monitoring as mon
from energy_assets.monitoring.raw import recent_clean
from energy_assets.monitoring.store import serving_bundle, stored_reference

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class ReplayDay:
    number: int
    day: str
    phase: str  # "before" the shift, "shift" after it, "after": the final model serves
    runs: list[str]
    serving: str
    mase: float | None
    rolling_mase: float | None
    drift: str = ""
    deployed: str = ""


@dataclass
class ReplayResult:
    first_day: str
    shift_day: str
    days: list[ReplayDay]
    initial_version: str
    final_version: str
    run_keys: list[str]
    requested_days: list[str]
    drift_days: list[str] = field(default_factory=list)
    retrains: list[dict] = field(default_factory=list)
    phases: dict[str, dict] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def first_drift_day(self) -> str | None:
        return self.drift_days[0] if self.drift_days else None


def summer_shape(end: date) -> tuple[date, int]:
    """The last day of the most recent summer at least ``end`` - 7k days, and that offset:
    usage generated to end then and moved forward by whole weeks (weekdays stay aligned)."""
    summer = date(end.year if end >= date(end.year, 8, 31) else end.year - 1, 8, 31)
    weeks = -(-(end - summer).days // 7)
    return end - timedelta(weeks=weeks), 7 * weeks


def shifted_usage(
    meters: int, history_days: int, days: int, shift: float, seed: int, end: date
) -> tuple[pd.DataFrame, str, str]:
    """Generated usage ending ``end`` with ``shift`` × each meter's mean added from the middle
    of the replayed days on (a heat pump or charger installed); returns the frame, the first
    replayed day and the shift day.

    The usage is generated for a year that ends in summer and then dated forward by whole weeks,
    so the replayed days carry summer's flat weather whatever today's date: the only change the
    models meet is the injected one, not an autumn heating ramp."""
    from energy_assets.ml.synthetic import generate_usage

    generated_end, offset = summer_shape(end)
    frame = generate_usage(
        n_meters=meters, n_days=history_days + days, end=generated_end, seed=seed
    )
    moved = pd.to_datetime(frame["date"].str[:10], format="%Y-%m-%d", errors="coerce")
    moved = (moved + pd.Timedelta(days=offset)).dt.strftime("%Y-%m-%d")
    frame["date"] = moved.where(moved.notna(), frame["date"]) + frame["date"].str[10:]
    first = (pd.Timestamp(end) - pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
    shift_day = (pd.Timestamp(first) + pd.Timedelta(days=days // 2)).strftime("%Y-%m-%d")
    value = pd.to_numeric(frame["usage"], errors="coerce")
    mean = value.groupby(frame["meter_id"]).transform("mean")
    late = (frame["date"].str[:10] >= shift_day) & value.notna() & (value >= 0)
    frame.loc[late, "usage"] = np.round(value[late] + shift * mean[late], 3)
    return frame, first, shift_day


def _execute(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest, job: str
) -> dg.ExecuteInProcessResult:
    config = {**QUIET, **(request.run_config or {})}
    return defs.resolve_job_def(job).execute_in_process(
        run_config=config,
        instance=instance,
        tags=dict(request.tags),
        raise_on_error=False,
        partition_key=request.partition_key,  # a retrain names its meter shard
    )


def _report_failure(
    defs: dg.Definitions, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult
) -> None:
    """What the daemon does with a failed run: tick the run-failure sensor on it."""
    run_failure_alert_sensor = defs.resolve_sensor_def("run_failure_alert_sensor")
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"cloudwatch": defs.resources["cloudwatch"]},
    ).for_run_failure()
    run_failure_alert_sensor(context)


class ReplayError(RuntimeError):
    """The replay cannot start or go on; the message says why."""


def replay(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    meters: int = 3,
    history_days: int = 300,
    days: int = 90,
    shift: float = 0.5,
    seed: int = 3,
    say: Callable[[str], None] = print,
) -> ReplayResult:
    """Seed ``history_days``, train and deploy, then replay ``days`` days one by one."""
    from energy_assets.orchestration.pipeline import failure_summary, materialize_all
    from energy_assets.tools.seed import seed_table

    started = time.monotonic()
    table = defs.resources["usage_table"]
    storage = defs.resources["storage"]
    new_usage_sensor = defs.resolve_sensor_def("new_usage_sensor")
    drift_sensor = defs.resolve_sensor_def("drift_sensor")
    timezone = defs.resources["meters"].timezone
    yesterday = meter_days.last_complete_day(timezone)  # the sensor's last day
    frame, first_replay, shift_day = shifted_usage(
        meters, history_days, days, shift, seed, yesterday
    )
    day_text = frame["date"].astype(str).str[:10]
    history = frame[day_text < first_replay]
    seeded = seed_table(table, history)
    last_history = (pd.Timestamp(first_replay) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    say(f"seeded {seeded.rows} items, {meters} meters, {seeded.first_date} .. {last_history}")
    runs = materialize_all(defs, instance, seeded.first_date, last_history)
    for name, run in (("export", runs.ingestion), ("training", runs.training)):
        if not run.success:
            raise ReplayError(
                f"the initial {name} failed, so there is no model to replay against: "
                f"{failure_summary(run)}"
            )
    initial = storage.get_json(layout.DEPLOYMENT_CURRENT)["model_version"]
    say(
        f"initial model {initial} serves; replaying {days} days from {first_replay}, "
        f"level shift +{shift:.0%} of mean usage from {shift_day}"
    )

    usage_cursor: str | None = None
    drift_cursor: str | None = None
    seen_keys: list[str] = []
    requested: list[str] = []
    result = ReplayResult(first_replay, shift_day, [], initial, initial, seen_keys, requested)
    serving = initial
    replay_days = pd.date_range(first_replay, periods=days, freq="D").strftime("%Y-%m-%d")
    for number, day in enumerate(replay_days, start=1):
        table.put_usage(frame[day_text == day])
        ran: list[str] = []
        with dg.build_sensor_context(
            instance=instance, cursor=usage_cursor, resources=defs.resources
        ) as context:
            tick = new_usage_sensor(context)
        usage_cursor = tick.cursor
        for event in tick.asset_events:
            instance.report_runless_asset_event(event)
        for request in tick.run_requests:
            if request.run_key in seen_keys:
                continue
            seen_keys.append(request.run_key)
            start, end = _range(request)
            requested += pd.date_range(start, end, freq="D").strftime("%Y-%m-%d").tolist()
            if not _execute(defs, instance, request, request.job_name).success:
                raise RuntimeError(f"{request.job_name} failed for {start} .. {end}")
            ran.append(request.job_name)
        summary = storage.get_json(layout.MONITORING_LATEST)
        row = next((r for r in summary["daily"] if r["date"] == day), {})
        record = ReplayDay(
            number=number,
            day=day,
            phase="before" if day < shift_day else "shift",
            runs=ran,
            serving=serving,
            mase=row.get("mase"),
            rolling_mase=_finite(row.get("rolling_mase")),
        )
        with dg.build_sensor_context(
            instance=instance, cursor=drift_cursor, resources=defs.resources
        ) as context:
            tick = drift_sensor(context)
        drift_cursor = tick.cursor or drift_cursor
        for request in tick.run_requests:
            if request.run_key in seen_keys:
                continue
            seen_keys.append(request.run_key)
            record.drift = request.tags.get("energy-assets/reason", "")
            result.drift_days.append(day)
            run = _execute(defs, instance, request, "training_job")
            ran.append("training_job" + ("" if run.success else " (failed)"))
            if not run.success:
                _report_failure(defs, instance, run)
            now = storage.get_json(layout.DEPLOYMENT_CURRENT)["model_version"]
            decision = _decision(storage, run)
            result.retrains.append(
                {
                    "day": day,
                    "champion": serving,
                    "serving": now,
                    "success": run.success,
                    "decision": decision,
                }
            )
            if now != serving:
                record.deployed = now
                serving = now
        result.days.append(record)
        say(_line(record, days))
    result.final_version = serving
    for record in result.days:
        if record.phase == "shift" and record.serving == serving != initial:
            record.phase = "after"
    result.phases = phase_errors(storage, result, initial)
    result.wall_seconds = round(time.monotonic() - started, 1)
    return result


def _range(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START], request.tags[RANGE_END]


def _finite(value) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _decision(storage, run: dg.ExecuteInProcessResult) -> dict:
    """The gate's record of this run's challenger, or why the run stopped before the gate."""
    from energy_assets.orchestration.pipeline import asset_metadata

    made = asset_metadata(run, "evaluation_report") or asset_metadata(run, "trained_forecaster")
    version = (made or {}).get("version")
    decided = storage.get_json_or_none(layout.deploy_decision(version)) if version else None
    if decided and decided.get("run_id") == run.run_id:
        return decided
    failed = [e.check_name for e in run.get_asset_check_evaluations() if not e.passed]
    reason = f"blocked by {', '.join(failed)}" if failed else "the run failed before the gate"
    return {"version": version, "reason": reason}


def phase_errors(storage, result: ReplayResult, initial: str) -> dict[str, dict]:
    """Realised MASE and MAE per phase, and what the first model would have scored on the days
    after it was replaced (the counterfactual that shows what retraining bought)."""
    rows = storage.read_parquet(layout.MONITORING_REALISED)
    # one yardstick for every version: the first model's per-meter scale
    scale = stored_reference(storage, initial).scale
    rows = rows.assign(scaled_error=rows["abs_error"] / rows["meter_id"].map(scale))
    phase_of = {d.day: d.phase for d in result.days}
    rows = rows.assign(day=rows["date"].dt.strftime("%Y-%m-%d"))
    rows = rows[rows["day"].isin(phase_of)]
    serving_on = {d.day: d.serving for d in result.days}
    served = rows[rows["model_version"] == rows["day"].map(serving_on)]
    out = {}
    for phase, group in served.groupby(served["day"].map(phase_of)):
        out[phase] = {
            "days": int(group["day"].nunique()),
            "mase": round(float(group["scaled_error"].mean()), 3),
            "mae": round(float(group["abs_error"].mean()), 3),
            "versions": sorted(group["model_version"].unique()),
        }
    after_days = [d.day for d in result.days if d.phase == "after"]
    if after_days:
        out["after_if_not_retrained"] = counterfactual(storage, initial, after_days)
    return out


def counterfactual(storage, version: str, days: list[str]) -> dict:
    """The first model's realised error on ``days``, reconstructed as monitoring does."""
    bundle = serving_bundle(storage, {"model_version": version})
    ref = stored_reference(storage, version)
    clean = recent_clean(storage, bundle, days[-1])
    rows = mon.realised(bundle, clean, ref, days=pd.DatetimeIndex(pd.to_datetime(days)))
    return {
        "days": int(rows["date"].nunique()),
        "mase": round(float(rows["scaled_error"].mean()), 3),
        "mae": round(float(rows["abs_error"].mean()), 3),
        "versions": [version],
    }


def _line(d: ReplayDay, total: int) -> str:
    mase = f"{d.mase:5.2f}" if d.mase is not None else "  -  "
    rolling = f"{d.rolling_mase:5.2f}" if d.rolling_mase is not None else "  -  "
    text = (
        f"day {d.number:3d}/{total} {d.day} {d.phase:6s} MASE {mase} rolling {rolling} "
        f"serving {d.serving} runs {','.join(d.runs) or '-'}"
    )
    if d.drift:
        text += f"\n    drift: {d.drift}"
    if d.deployed:
        text += f"\n    deployed {d.deployed}"
    return text


def summary_lines(result: ReplayResult) -> list[str]:
    lines = [
        "",
        "energy_assets replay summary",
        f"  days replayed        {len(result.days)} ({result.first_day} .. {result.days[-1].day})",
        f"  level shift from     {result.shift_day}",
        f"  drift detected on    {', '.join(result.drift_days) or 'never'}",
        f"  initial model        {result.initial_version}",
        f"  serving at the end   {result.final_version}",
    ]
    for retrain in result.retrains:
        decision = retrain["decision"]
        lines.append(
            f"  retrain on {retrain['day']}: {decision.get('version')} "
            f"{'deployed' if retrain['serving'] != retrain['champion'] else 'not deployed'}: "
            f"{decision.get('reason', '')}"
        )
    for phase, figures in result.phases.items():
        lines.append(
            f"  {phase:24s} MASE {figures['mase']:.3f}  MAE {figures['mae']:.3f} over "
            f"{figures['days']} days ({', '.join(figures['versions'])})"
        )
    lines.append(f"  wall time            {result.wall_seconds} s")
    return lines


def as_json(result: ReplayResult) -> str:
    return json.dumps(
        {
            "days": len(result.days),
            "shift_day": result.shift_day,
            "drift_days": result.drift_days,
            "initial_version": result.initial_version,
            "final_version": result.final_version,
            "phases": result.phases,
            "wall_seconds": result.wall_seconds,
        }
    )


def replay_definitions(settings) -> dg.Definitions:
    """The project's definitions for the deployment ``settings`` names (its own table, bucket
    and endpoint), so a replay leaves other data alone."""
    from energy_assets.orchestration.definitions import build_defs

    return build_defs(settings)


def run_simulation(
    meters: int, days: int, history_days: int, shift: float, seed: int, aws_port: int = 0
) -> int:
    """``energy-assets simulate``: the replay against the local AWS (started here unless
    ``AWS_ENDPOINT_URL`` points at one), with a line per day and a summary."""
    import os
    import warnings

    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    aws = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        from energy_assets.localaws import LocalAWS

        aws = LocalAWS(port=aws_port, runtime_port=0).start()
        os.environ.update(aws.env())
        print(f"[energy-assets] local AWS on {aws.endpoint_url}", flush=True)
    start = datetime.now(UTC).date() - timedelta(days=history_days + days)
    # Names of its own, new on every run: a second replay against the same AWS starts afresh.
    run = datetime.now(UTC).strftime("%H%M%S")
    try:
        from energy_assets.settings import Settings

        settings = Settings(
            table=f"energy-usage-replay-{run}",
            bucket=f"energy-assets-replay-{run}",
            endpoint_name=f"energy-usage-forecaster-replay-{run}",
            history_start=start.isoformat(),  # the partitions start where the data does
            # one shard: the replay follows one fleet's model through drift and retraining (its
            # summary reads the one-shard monitoring outputs); ENERGY_ASSETS_SHARDS is not used
            shards=1,
        )
        if os.environ.get("ENERGY_ASSETS_SHARDS", "1").strip() not in ("", "1"):
            print(
                "[energy-assets] simulate replays one meter shard (ENERGY_ASSETS_SHARDS is "
                "not used here)",
                flush=True,
            )
        instance = dg.DagsterInstance.ephemeral()
        result = replay(
            replay_definitions(settings),
            instance,
            meters=meters,
            history_days=history_days,
            days=days,
            shift=shift,
            seed=seed,
            say=lambda line: print(line, flush=True),
        )
        print("\n".join(summary_lines(result)), flush=True)
        print(as_json(result), flush=True)
        return 0
    except ReplayError as error:
        print(f"[energy-assets] simulate: {error}", flush=True)
        return 1
    finally:
        if aws:
            aws.stop()
