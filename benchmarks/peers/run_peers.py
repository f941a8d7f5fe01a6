"""statsforecast AutoETS, AutoTheta and MSTL on the benchmark's own backtest origins.

Runs in its own environment (statsforecast caps pandas below 3; the product runs pandas 3):

    benchmarks/peers/.venv/bin/python benchmarks/peers/run_peers.py IN_DIR

IN_DIR holds ``series.csv`` (meter_id,date,usage: gap-filled, exactly what our pipeline gets)
and ``origins.json`` ({"origins": [...], "horizon": 14}); this writes ``peers.csv``
(model,meter_id,origin,date,forecast,lo_80,hi_80) and ``peers_cpu.json`` (CPU seconds per model).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoETS, AutoTheta

warnings.filterwarnings("ignore")


def peers(n_days: int) -> dict:
    seasons = [7, 365] if n_days >= 2 * 365 + 14 else [7]
    return {
        "AutoETS": AutoETS(season_length=7),
        "AutoTheta": AutoTheta(season_length=7),
        "MSTL": MSTL(season_length=seasons),
    }


def main(folder: Path) -> None:
    series = pd.read_csv(folder / "series.csv", parse_dates=["date"], dtype={"meter_id": str})
    spec = json.loads((folder / "origins.json").read_text())
    horizon, min_days = spec["horizon"], spec["min_days"]
    frames, cpu = [], {}
    for origin in pd.to_datetime(spec["origins"]):
        train = series[series["date"] <= origin]
        counts = train.groupby("meter_id").size()
        train = train[train["meter_id"].isin(counts[counts >= min_days].index)]
        for name in ("AutoETS", "AutoTheta", "MSTL"):
            started = time.process_time()
            for meter, g in train.groupby("meter_id"):
                model = peers(len(g))[name]
                frame = g.rename(columns={"meter_id": "unique_id", "date": "ds", "usage": "y"})
                try:
                    out = StatsForecast(models=[model], freq="D", n_jobs=1).forecast(
                        df=frame, h=horizon, level=[80]
                    )
                except Exception as error:  # a failed peer forecast is reported, not hidden
                    print(f"{name} {meter} {origin.date()}: {error}", file=sys.stderr)
                    continue
                alias = str(model)
                frames.append(
                    pd.DataFrame(
                        {
                            "model": name,
                            "meter_id": meter,
                            "origin": origin.strftime("%Y-%m-%d"),
                            "date": pd.to_datetime(out["ds"]).dt.strftime("%Y-%m-%d"),
                            "forecast": out[alias].to_numpy(),
                            "lo_80": out[f"{alias}-lo-80"].to_numpy(),
                            "hi_80": out[f"{alias}-hi-80"].to_numpy(),
                        }
                    )
                )
            cpu[name] = cpu.get(name, 0.0) + time.process_time() - started
        print(f"peers: origin {origin.date()} done", file=sys.stderr, flush=True)
    pd.concat(frames, ignore_index=True).to_csv(folder / "peers.csv", index=False)
    (folder / "peers_cpu.json").write_text(json.dumps(cpu))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
