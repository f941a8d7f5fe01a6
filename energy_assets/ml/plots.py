"""The predicted-vs-actual figure of the evaluation report."""

from __future__ import annotations

import io
import math

import pandas as pd
from matplotlib.figure import Figure


def plot_predicted_vs_actual(
    frame: pd.DataFrame, max_meters: int = 6, title: str = "Predicted vs actual"
) -> bytes:
    """PNG: the total over all meters on top, then one small panel per largest meter."""
    meters = (
        frame.groupby("meter_id")["actual"].sum().sort_values(ascending=False).index[:max_meters]
    )
    cols = 2 if len(meters) > 1 else 1
    rows = 1 + math.ceil(len(meters) / cols)
    figure = Figure(figsize=(11, 2.6 * rows), dpi=90, layout="constrained")
    grid = figure.add_gridspec(rows, cols)
    total = frame.groupby("date")[["actual", "forecast", "baseline"]].sum()
    axis = figure.add_subplot(grid[0, :])
    _draw(axis, total, f"{title} — all {frame['meter_id'].nunique()} meters", legend=True)
    for i, meter in enumerate(meters):
        axis = figure.add_subplot(grid[1 + i // cols, i % cols])
        _draw(axis, frame[frame["meter_id"] == meter].set_index("date"), str(meter))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw(axis, data: pd.DataFrame, title: str, legend: bool = False) -> None:
    axis.plot(data.index, data["actual"], color="black", lw=1.6, label="actual")
    axis.plot(data.index, data["forecast"], color="tab:blue", lw=1.4, label="forecast")
    axis.plot(
        data.index, data["baseline"], color="tab:orange", lw=1, ls="--", label="seasonal naive"
    )
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    axis.set_ylabel("usage", fontsize=8)
    if legend:
        axis.legend(fontsize=8, loc="upper left")
