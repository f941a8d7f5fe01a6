"""The predicted-vs-actual figure of the evaluation report."""

from __future__ import annotations

import io
import math

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

BAND = {"color": "tab:blue", "alpha": 0.18, "lw": 0}


def predicted_vs_actual_figure(
    frame: pd.DataFrame,
    max_meters: int = 24,
    title: str = "Predicted vs actual",
    unit: str = "kWh",
) -> Figure:
    """The total over all meters on top, then a small multiple of the largest meters, each
    with its 80% interval band when the frame has one; one legend for all panels, so the band
    (drawn per meter: widths of separate meters do not add up to an interval of the total) has
    its entry too. Dates are few and concise per panel, so the small panels' labels stay apart."""
    meters = (
        frame.groupby("meter_id")["actual"].sum().sort_values(ascending=False).index[:max_meters]
    )
    cols = 1 if len(meters) == 1 else 2 if len(meters) <= 6 else 4
    rows = 1 + math.ceil(len(meters) / cols)
    figure = Figure(figsize=(11 if cols <= 2 else 14, 2.4 * rows), dpi=80, layout="constrained")
    grid = figure.add_gridspec(rows, cols)
    total = frame.groupby("date")[["actual", "forecast", "baseline"]].sum()
    axis = figure.add_subplot(grid[0, :])
    _draw(axis, total, f"{title} — all {frame['meter_id'].nunique()} meters", unit, 8, True)
    handles, _ = axis.get_legend_handles_labels()
    has_band = "lower_80" in frame and frame["lower_80"].notna().any()
    if has_band:
        handles.append(Patch(**BAND, label="80% interval (meter panels)"))
    axis.legend(handles=handles, fontsize=8, loc="upper left", ncols=len(handles))
    for i, meter in enumerate(meters):
        axis = figure.add_subplot(grid[1 + i // cols, i % cols])
        data = frame[frame["meter_id"] == meter].set_index("date")
        _draw(axis, data, str(meter), unit, 3 if cols == 4 else 5)
    return figure


def plot_predicted_vs_actual(
    frame: pd.DataFrame,
    max_meters: int = 24,
    title: str = "Predicted vs actual",
    unit: str = "kWh",
) -> bytes:
    """PNG of ``predicted_vs_actual_figure``; ``unit`` is that of the usage values."""
    buffer = io.BytesIO()
    predicted_vs_actual_figure(frame, max_meters, title, unit).savefig(buffer, format="png")
    return buffer.getvalue()


def _draw(axis, data: pd.DataFrame, title: str, unit: str, ticks: int, year: bool = False) -> None:
    if "lower_80" in data and data["lower_80"].notna().any():
        axis.fill_between(data.index, data["lower_80"], data["upper_80"], **BAND)
    axis.plot(data.index, data["actual"], color="black", lw=1.6, label="actual")
    axis.plot(data.index, data["forecast"], color="tab:blue", lw=1.4, label="forecast")
    axis.plot(
        data.index, data["baseline"], color="tab:orange", lw=1, ls="--", label="seasonal naive"
    )
    locator = mdates.AutoDateLocator(minticks=2, maxticks=ticks)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=year))
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    axis.set_ylabel(f"{unit} per day", fontsize=8)
