"""The predicted-vs-actual figure of the evaluation report."""

from __future__ import annotations

import io
import math

import pandas as pd
from matplotlib.figure import Figure


def plot_predicted_vs_actual(
    frame: pd.DataFrame, max_meters: int = 24, title: str = "Predicted vs actual"
) -> bytes:
    """PNG: the total over all meters on top, then a small multiple of the largest meters, each
    with its 80% interval band when the frame has one."""
    meters = (
        frame.groupby("meter_id")["actual"].sum().sort_values(ascending=False).index[:max_meters]
    )
    cols = 1 if len(meters) == 1 else 2 if len(meters) <= 6 else 4
    rows = 1 + math.ceil(len(meters) / cols)
    figure = Figure(figsize=(11 if cols <= 2 else 14, 2.4 * rows), dpi=80, layout="constrained")
    grid = figure.add_gridspec(rows, cols)
    total = frame.groupby("date")[["actual", "forecast", "baseline"]].sum()  # no band: widths
    # of separate meters do not add up to an interval of the total
    axis = figure.add_subplot(grid[0, :])
    _draw(axis, total, f"{title} — all {frame['meter_id'].nunique()} meters", legend=True)
    for i, meter in enumerate(meters):
        axis = figure.add_subplot(grid[1 + i // cols, i % cols])
        _draw(axis, frame[frame["meter_id"] == meter].set_index("date"), str(meter))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw(axis, data: pd.DataFrame, title: str, legend: bool = False) -> None:
    if "lower_80" in data and data["lower_80"].notna().any():
        axis.fill_between(
            data.index, data["lower_80"], data["upper_80"], color="tab:blue", alpha=0.18,
            lw=0, label="80% interval",
        )  # fmt: skip
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
