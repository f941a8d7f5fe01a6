"""Rolling-origin accuracy of our default pipeline beside seasonal naive and the peers a
forecaster would reach for (statsforecast AutoETS, AutoTheta, MSTL), all in one run on the same
backtest origins.

    .venv/bin/python benchmarks/accuracy.py     # generated data + ../shared/data/*.csv
    .venv/bin/python benchmarks/accuracy.py --data FILE.csv [FILE.csv ...] [--no-peers]
    .venv/bin/python benchmarks/accuracy.py --reuse-peers   # peers of an earlier run (dev only)
    .venv/bin/python benchmarks/accuracy.py --no-small      # the full datasets only

Scenarios: each dataset whole, and (unless ``--no-small``) the small-data cases users start
with: each dataset cut to its last 365 days; the households one at a time (every household its
own one-meter fleet); households three at a time with their last 365 days (16 fleets of
three); Victoria's last 365 days as a single ``date,usage`` series with no other column. Each
dataset is trained with the public holidays of where it was measured (``PLACES``), as a user
configures them (``ENERGY_ASSETS_COUNTRY``/``_SUBDIV``).

A CSV is ``meter_id,date,usage`` with optional covariates used when present: ``temperature_max``
(or ``temperature``) and ``holiday`` (0/1). Missing days are interpolated for every model alike;
scores count observed days only. Origins are weekly, the last one ``horizon`` days before the
end of the data; every model sees only the days up to the origin. The peers run in their own
environment (benchmarks/peers/.venv, created on first use: statsforecast needs pandas < 3) and
read the very same gap-filled series from disk.

Figures per dataset and model: pooled MAE and RMSE, mean MASE (scale: in-sample seasonal naive
MAE before the first origin), geometric mean over meters of MAE / seasonal naive MAE, share of
meters worse than seasonal naive (and more than 5% worse), 80% interval coverage, and CPU
seconds per series per origin (fit + forecast; ours also with tuning and model choice).
Writes benchmarks/results/accuracy.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # CPU seconds without OpenMP spinning

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from energy_assets.ml.cleaning import clean_usage  # noqa: E402
from energy_assets.ml.selection import geometric_mean  # noqa: E402
from energy_assets.ml.synthetic import generate_usage  # noqa: E402
from energy_assets.ml.training import train_forecasters  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SHARED = HERE.parent.parent / "shared" / "data"
PEERS_VENV = HERE / "peers" / ".venv"
PEER_NAMES = ("AutoETS", "AutoTheta", "MSTL")
MIN_DAYS = 120
TRAINING_OPTIONS: dict = {}  # overrides of train_forecasters' defaults
# where each dataset was measured (../shared/data/README.md): its public holidays
PLACES = {
    "vic_elec_daily.csv": ("AU", "VIC"),
    "households_daily.csv": ("AU", "NSW"),
    "generated": ("US", None),
}


@dataclass
class Scenario:
    name: str
    frame: pd.DataFrame  # gap-filled long frame with an ``observed`` column
    place: tuple[str | None, str | None]
    fleets: list[list[str]] | None = None  # meters trained together; None: all at once

    def parts(self) -> list[pd.DataFrame]:
        if self.fleets is None:
            return [self.frame]
        return [self.frame[self.frame["meter_id"].isin(f)] for f in self.fleets]


def last_days(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    return frame[frame["date"] > frame["date"].max() - pd.Timedelta(days=days)]


def scenarios_of(path: str | None, small: bool) -> list[Scenario]:
    """The dataset whole and, with ``small``, its small-data cases."""
    name, frame = load(path)
    place = PLACES.get(Path(path).name if path else "generated", (None, None))
    out = [Scenario(name, frame, place)]
    if not small:
        return out
    year = last_days(frame, 365)
    out.append(Scenario(f"{name}, last 365 days", year, place))
    meters = sorted(frame["meter_id"].unique())
    if len(meters) > 1 and path is not None:
        out.append(Scenario(f"{name}, each meter alone", frame, place, [[m] for m in meters]))
        triples = [meters[i : i + 3] for i in range(0, len(meters) - 2, 3)]
        out.append(
            Scenario(
                f"{name}, 3 meters with 365 days ({len(triples)} fleets)", year, place, triples
            )
        )
    if len(meters) == 1:
        plain = year[["meter_id", "date", "usage", "observed"]]
        out.append(Scenario(f"{name}, last 365 days, date and usage only", plain, place))
    return out


def load(path: str | None, meters: int = 20, days: int = 1100) -> tuple[str, pd.DataFrame]:
    """A long frame ``meter_id, date, usage[, temperature, holiday]`` with one row per meter and
    calendar day (``observed`` marks real rows; gaps are interpolated)."""
    if path is None:
        raw = generate_usage(n_meters=meters, n_days=days, seed=11, bad_rows=False)
        frame = clean_usage(raw, covariates=["temperature"]).clean.drop(columns=["imputed"])
        frame["observed"] = True
        name = f"generated ({meters} meters)"
    else:
        frame = pd.read_csv(path, dtype={"meter_id": str}, parse_dates=["date"])
        frame = frame.rename(columns={"temperature_max": "temperature"})
        name = Path(path).name
    keep = ["meter_id", "date", "usage"] + [c for c in ("temperature", "holiday") if c in frame]
    filled = []
    for meter, g in frame[keep + (["observed"] if "observed" in frame else [])].groupby(
        "meter_id", sort=True
    ):
        g = g.drop_duplicates("date").set_index("date").asfreq("D")
        g["observed"] = g["usage"].notna() & g.get("observed", True)
        numeric = [c for c in keep if c not in ("meter_id",) and c in g]
        g[numeric] = g[numeric].astype(float).interpolate(limit_direction="both")
        filled.append(g.assign(meter_id=meter).reset_index())
    return name, pd.concat(filled, ignore_index=True)


def origins_of(frame: pd.DataFrame, count: int, horizon: int) -> list[pd.Timestamp]:
    last = frame["date"].max()
    return [last - pd.Timedelta(days=horizon + 7 * k) for k in reversed(range(count))]


def run_ours(scenario: Scenario, origins, horizon, oracle: bool) -> tuple[pd.DataFrame, dict]:
    """Our default pipeline refit at each origin (tuning and per-meter choice included), each
    fleet of the scenario on its own."""
    rows, cpu, fit_cpu, meters_fitted = [], 0.0, 0.0, 0
    country, subdiv = scenario.place
    for frame in scenario.parts():
        found, (fleet_cpu, fleet_fit_cpu, fleet_meters) = _run_fleet(
            frame, origins, horizon, oracle, country, subdiv
        )
        rows.extend(found)
        cpu, fit_cpu, meters_fitted = (
            cpu + fleet_cpu,
            fit_cpu + fleet_fit_cpu,
            meters_fitted + fleet_meters,
        )
    per_series = {"cpu": cpu / meters_fitted, "cpu_final": fit_cpu / meters_fitted}
    return pd.concat(rows, ignore_index=True), per_series


def _run_fleet(frame, origins, horizon, oracle, country, subdiv):
    has_temp = "temperature" in frame
    rows, cpu, fit_cpu, meters_fitted = [], 0.0, 0.0, 0
    covariates = {m: g.set_index("date") for m, g in frame.groupby("meter_id")}
    for origin in origins:
        train = frame[frame["date"] <= origin]
        counts = train.groupby("meter_id").size()
        train = train[train["meter_id"].isin(counts[counts >= MIN_DAYS].index)]
        if train.empty:
            continue
        started = time.process_time()
        bundle = train_forecasters(
            train.drop(columns="observed"), version="bench", n_jobs=1, country=country,
            subdiv=subdiv, **TRAINING_OPTIONS,
            temperature="observed" if oracle else ("climatology" if has_temp else "none"),
        )  # fmt: skip
        forecast_started = time.process_time()
        for meter, history in bundle.history.items():
            dates = pd.date_range(origin + pd.Timedelta(days=1), periods=horizon)
            # the oracle: every model is given the observed days ahead (the global model, alone
            # or blended, reads their temperature; the others ignore them)
            ahead = covariates[meter].reindex(dates) if oracle else None
            forecast = bundle.forward(meter, history, horizon, X_future=ahead)
            half = bundle.halfwidths(meter, history, dates, level=(80,))["80"]
            rows.append(
                pd.DataFrame(
                    {
                        "meter_id": meter,
                        "origin": origin,
                        "date": dates,
                        "forecast": forecast,
                        "lo_80": forecast - half,
                        "hi_80": forecast + half,
                        "chosen": bundle.model_name(meter),
                    }
                )
            )
        cpu += time.process_time() - started
        fit_cpu += bundle.training.refit_cpu_seconds + time.process_time() - forecast_started
        meters_fitted += len(bundle.models)
    return rows, (cpu, fit_cpu, meters_fitted)


def run_naive(frame, origins, horizon) -> pd.DataFrame:
    rows = []
    for origin in origins:
        for meter, g in frame[frame["date"] <= origin].groupby("meter_id"):
            if len(g) < MIN_DAYS:
                continue
            last = g["usage"].to_numpy()[-7:]
            rows.append(
                pd.DataFrame(
                    {
                        "meter_id": meter,
                        "origin": origin,
                        "date": pd.date_range(origin + pd.Timedelta(days=1), periods=horizon),
                        "forecast": np.tile(last, horizon // 7 + 1)[:horizon],
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def uv_command() -> list[str]:
    """How to run uv here: ``scripts/bootstrap.sh`` installs it for the Python it was run with
    (python3.11 or python3), not into .venv; a uv in this interpreter or on PATH also does."""
    import importlib.util
    import shutil

    candidates = [[sys.executable, "-m", "uv"]] if importlib.util.find_spec("uv") else []
    if shutil.which("uv"):
        candidates.append([shutil.which("uv")])
    for python in (os.environ.get("PYTHON"), "python3.11", "python3"):
        if python and shutil.which(python):
            candidates.append([shutil.which(python), "-m", "uv"])
    for command in candidates:
        found = subprocess.run([*command, "--version"], capture_output=True, text=True)
        if found.returncode == 0:
            return command
    raise SystemExit(
        "uv not found (needed to create benchmarks/peers/.venv): run `make install`, which "
        "installs it for python3, or `pip install uv`"
    )


PEER_PACKAGES = ("statsforecast>=2.0", "pandas<3")


def ensure_peer_env(venv: Path = PEERS_VENV, packages: tuple[str, ...] = PEER_PACKAGES) -> Path:
    """The peers' interpreter, creating their environment with uv on first use."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating the peers' environment ({', '.join(packages)}) ...", file=sys.stderr)
        uv = uv_command()
        subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        if packages:
            subprocess.run(
                [*uv, "pip", "install", "-q", "--python", str(python), *packages], check=True
            )
    return python


def run_peers(frame, origins, horizon, reuse: bool) -> tuple[pd.DataFrame, dict]:
    """The peers' forecasts, computed in their own environment and kept in
    benchmarks/peers/.cache under a hash of their exact input; with ``reuse`` (while working on
    our side) an earlier run's are read back instead of refitting them."""
    python = ensure_peer_env()
    out = frame[["meter_id", "date", "usage"]].assign(date=frame["date"].dt.strftime("%Y-%m-%d"))
    series_csv = out.to_csv(index=False)
    spec = json.dumps(
        {"origins": [o.strftime("%Y-%m-%d") for o in origins], "horizon": horizon,
         "min_days": MIN_DAYS, "script": (HERE / "peers" / "run_peers.py").read_text()}
    )  # fmt: skip
    key = hashlib.sha256((series_csv + spec).encode()).hexdigest()[:16]
    folder = HERE / "peers" / ".cache" / key
    if not reuse or not (folder / "peers_cpu.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "series.csv").write_text(series_csv)
        (folder / "origins.json").write_text(spec)
        subprocess.run([str(python), str(HERE / "peers" / "run_peers.py"), str(folder)], check=True)
    peers = pd.read_csv(
        folder / "peers.csv", dtype={"meter_id": str}, parse_dates=["origin", "date"]
    )
    return peers, json.loads((folder / "peers_cpu.json").read_text())


def scores(frame, naive, predicted, origins) -> dict:
    """Figures of one model's forecasts against the observed days."""
    actual = frame.loc[frame["observed"], ["meter_id", "date", "usage"]]
    keys = ["meter_id", "origin", "date"]
    both = predicted.merge(
        naive[keys + ["forecast"]].rename(columns={"forecast": "naive"}), on=keys
    )
    both = both.merge(actual, on=["meter_id", "date"])
    first = origins[0]
    scale = {
        m: float(np.mean(np.abs(u[7:] - u[:-7]))) if len(u) > 7 else np.nan
        for m, g in frame.groupby("meter_id")
        for u in [g.loc[g["date"] <= first, "usage"].to_numpy()]
    }
    err = (both["usage"] - both["forecast"]).abs()
    per = both.assign(err=err, nerr=(both["usage"] - both["naive"]).abs()).groupby("meter_id")
    mae_m, naive_m = per["err"].mean(), per["nerr"].mean()
    ratio = (mae_m / naive_m).replace([np.inf, 0], np.nan).dropna()
    mase = pd.Series({m: mae_m[m] / scale[m] for m in mae_m.index if scale.get(m, 0) > 0})
    out = {
        "MAE": float(err.mean()),
        "RMSE": float(np.sqrt(((both["usage"] - both["forecast"]) ** 2).mean())),
        "MASE": float(mase.mean()),
        "rel MAE (geo)": geometric_mean(ratio),
        "worse than SN": float((ratio > 1).mean()),
        ">5% worse": float((ratio > 1.05).mean()),
        "worst meter": float(ratio.max()),
        "cov 80": np.nan,
    }
    if "lo_80" in both and both["lo_80"].notna().all():
        inside = (both["usage"] >= both["lo_80"]) & (both["usage"] <= both["hi_80"])
        out["cov 80"] = float(inside.mean())
    return out


def benchmark(scenario: Scenario, args) -> list[dict]:
    name, frame = scenario.name, scenario.frame
    origins = origins_of(frame, args.origins, args.horizon)
    meters = frame["meter_id"].nunique()
    print(
        f"{name}: {meters} meters, origins {origins[0].date()}..{origins[-1].date()}",
        file=sys.stderr,
    )
    naive = run_naive(frame, origins, args.horizon)
    rows = []
    started = time.process_time()
    run_naive(frame, origins, args.horizon)
    naive_cpu = (time.process_time() - started) / len(naive.groupby(["meter_id", "origin"]))
    naive_lo = naive.assign(lo_80=np.nan, hi_80=np.nan)
    rows.append(
        {
            "data": name,
            "model": "seasonal naive (7)",
            **scores(frame, naive, naive_lo, origins),
            "CPU s/series": naive_cpu,
        }
    )
    settings = [("ours (default)", False)]
    if "temperature" in frame:
        settings.append(("ours, observed future temperature (oracle)", True))
    for label, oracle in settings:
        predicted, cpu = run_ours(scenario, origins, args.horizon, oracle)
        chosen = predicted.drop_duplicates(["meter_id", "origin"])["chosen"].value_counts(
            normalize=True
        )
        rows.append(
            {
                "data": name,
                "model": label,
                **scores(frame, naive, predicted, origins),
                "CPU s/series": cpu["cpu_final"],
                "CPU s/series incl. tuning": cpu["cpu"],
                "served (share of meters and origins)": ", ".join(
                    f"{name} {share:.2f}" for name, share in chosen.items()
                ),
            }
        )
        print(rows[-1], file=sys.stderr)
    if not args.no_peers:
        peers, cpu = run_peers(frame, origins, args.horizon, args.reuse_peers)
        n_series = len(naive.groupby(["meter_id", "origin"]))
        for peer in PEER_NAMES:
            predicted = peers[peers["model"] == peer].drop(columns="model")
            rows.append(
                {
                    "data": name,
                    "model": f"statsforecast {peer}",
                    **scores(frame, naive, predicted, origins),
                    "CPU s/series": cpu.get(peer, np.nan) / n_series,
                }
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        nargs="*",
        help="CSV files or generated (default: generated and ../shared/data/*.csv)",
    )
    parser.add_argument("--origins", type=int, default=12)
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument("--no-small", action="store_true", help="only the whole datasets")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--reuse-peers", action="store_true", help="read the peers' forecasts of an earlier run"
    )
    parser.add_argument("--out", default=str(RESULTS / "accuracy.md"))
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    args = parser.parse_args(argv)
    paths = args.data or ["generated", *sorted(str(p) for p in SHARED.glob("*.csv"))]
    paths = [None if p == "generated" else p for p in paths]
    scenarios = [s for p in paths for s in scenarios_of(p, small=not args.no_small)]
    if args.only:
        scenarios = [s for s in scenarios if args.only in s.name]
    rows = [row for scenario in scenarios for row in benchmark(scenario, args)]
    table = pd.DataFrame(rows)
    text = render(table, args)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


def render(table: pd.DataFrame, args) -> str:
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            digits = 4 if column.startswith("CPU") else 3
            shown[column] = shown[column].map(
                lambda v, d=digits: "" if pd.isna(v) else f"{v:.{d}f}"
            )
        else:
            shown[column] = shown[column].fillna("")
    import sklearn
    import statsmodels

    header = (
        f"# Forecast accuracy: rolling-origin backtest\n\n"
        f"One run of `benchmarks/accuracy.py`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{args.origins} weekly origins, horizon {args.horizon} days, holidays of each "
        f"dataset's place ({', '.join(f'{k} {c}/{d}' for k, (c, d) in PLACES.items())}); "
        f"Python {platform.python_version()}, pandas {pd.__version__}, scikit-learn "
        f"{sklearn.__version__}, statsmodels {statsmodels.__version__}; peers: statsforecast "
        f"in benchmarks/peers/.venv, "
        f"{'reused from an earlier run' if args.reuse_peers else 'fitted in this run'}; "
        f"{os.cpu_count()} CPUs, one thread per model.\n\n"
        "`rel MAE (geo)`: geometric mean over meters of MAE / seasonal naive MAE (lower is "
        "better). `CPU s/series`: fit + forecast CPU seconds per series and origin (ours: the "
        "final fit of the chosen models and the forecast); ours also `incl. tuning` (grid "
        "search, validation and per-meter choice on the training window). The oracle "
        "row uses the observed temperature of the forecast days and is not a forecast anyone "
        "could make; the default uses recent observed temperature and climatology ahead. "
        "`served`: the share of meters and origins each model served.\n\n"
    )
    return header + shown.to_markdown(index=False) + "\n"


if __name__ == "__main__":
    sys.exit(main())
